"""The cluster role's Kubernetes access: the official client for credentials and transport,
raw JSON for bodies (typed models cost memory and time on 20,000-node lists), one shared and
briefly cached paginated node list so node-derived checks cost one LIST per round."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from exporter.model import CheckError, NotConfigured, Reason
from exporter.parse import ParseError, quantity
from exporter.sharedreads import SharedReads

_STATUS_REASON = {
    401: Reason.AUTH,
    403: Reason.FORBIDDEN,
    404: Reason.NOT_FOUND,
}


class KubeError(CheckError):
    def __init__(self, status: int, reason: Reason, detail: str, body: Mapping[str, Any]) -> None:
        super().__init__(reason, detail)
        self.status = status
        self.body = body


def path(template: str, **params: str) -> str:
    return template.format(**{k: quote(v, safe="") for k, v in params.items()})


class Kube:
    def __init__(
        self,
        pool: Executor,
        kubeconfig: str | None,
        context: str = "",
        page_size: int = 500,
        cache_ttl: float = 15.0,
    ) -> None:
        self.pool = pool
        self.kubeconfig = kubeconfig
        self.context = context
        self.page_size = page_size
        self.cache_ttl = cache_ttl
        self._api: Any = None
        self._api_lock = threading.Lock()  # checks start together, in several pool threads
        self._reads = SharedReads()  # API failures are each caller's own, never kept

    # --- blocking side, run in the pool -------------------------------------------------
    def _client(self) -> Any:
        with self._api_lock:
            if self._api is None:
                self._api = self._new_client()
            return self._api

    def _new_client(self) -> Any:
        import kubernetes  # lazily: the node role never loads it

        cfg = kubernetes.client.Configuration()
        if self.kubeconfig:
            files = self.kubeconfig.split(os.pathsep)
            if not any(os.path.exists(f) for f in files):
                raise CheckError(Reason.NOT_FOUND, f"kubeconfig {self.kubeconfig} does not exist")
            try:
                kubernetes.config.load_kube_config(
                    config_file=self.kubeconfig,
                    context=self.context or None,
                    client_configuration=cfg,
                )
            except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
                raise CheckError(Reason.CONFIG, f"kubeconfig unusable: {exc}") from None
        else:
            try:
                kubernetes.config.load_incluster_config(client_configuration=cfg)
            except kubernetes.config.ConfigException:
                raise NotConfigured("no kubeconfig and not running in a pod") from None
        # No hidden retries: a check's timeout is the whole budget, and the next run retries.
        cfg.retries = False
        return kubernetes.client.ApiClient(cfg)

    def request(
        self,
        method: str,
        resource: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        api = self._client()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        _, url, headers, body, _ = api.param_serialize(
            method=method,
            resource_path=resource,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            resp = api.call_api(method, url, header_params=headers, body=body,
                                _request_timeout=timeout)  # fmt: skip
            resp.read()
        except urllib3.exceptions.MaxRetryError as exc:
            cause = exc.reason
            # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
            if isinstance(cause, urllib3.exceptions.NewConnectionError):
                raise CheckError(Reason.CONNECT, f"API server unreachable: {cause}") from None
            if isinstance(cause, urllib3.exceptions.SSLError):
                raise CheckError(Reason.TLS, f"API server TLS: {cause}") from None
            if isinstance(cause, urllib3.exceptions.TimeoutError):
                raise CheckError(Reason.TIMEOUT, f"API server timed out: {cause}") from None
            raise CheckError(Reason.CONNECT, f"API server unreachable: {cause}") from None
        except urllib3.exceptions.NewConnectionError as exc:
            raise CheckError(Reason.CONNECT, f"API server unreachable: {exc}") from None
        except urllib3.exceptions.SSLError as exc:
            raise CheckError(Reason.TLS, f"API server TLS: {exc}") from None
        except urllib3.exceptions.TimeoutError as exc:
            raise CheckError(Reason.TIMEOUT, f"API server timed out: {exc}") from None
        except urllib3.exceptions.ProtocolError as exc:
            # ("Connection aborted.", cause): a reset is the network, a bad status line or a
            # truncated body is the server speaking something other than HTTP/JSON.
            cause = exc.args[1] if len(exc.args) > 1 else None
            if isinstance(cause, OSError):
                raise CheckError(Reason.CONNECT, f"API server connection lost: {cause}") from None
            raise CheckError(Reason.PROTOCOL, f"API server answered garbage: {exc}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise CheckError(Reason.CONNECT, f"API server connection failed: {exc}") from None
        except ApiException as exc:
            # The client re-raises urllib3's SSLError as ApiException(status=0).
            if exc.status == 0 and "SSLError" in str(exc.reason):
                detail = " ".join(str(exc).split())[:300]
                raise CheckError(Reason.TLS, f"API server TLS: {detail}") from None
            raise
        try:
            data = json.loads(resp.data) if resp.data else {}
        except ValueError:
            data = None
        if not 200 <= resp.status < 300:
            status_body = data if isinstance(data, dict) else {}
            message = status_body.get("message") or f"HTTP {resp.status}"
            reason = _STATUS_REASON.get(resp.status, Reason.PROTOCOL)
            raise KubeError(resp.status, reason, f"{method} {resource}: {message}", status_body)
        if not isinstance(data, dict):
            raise CheckError(
                Reason.PROTOCOL, f"{method} {resource}: the answer is not a JSON object"
            )
        return data

    # --- async side -----------------------------------------------------------------------
    async def get(self, resource: str, timeout: float = 10.0, **query: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool, lambda: self.request("GET", resource, query, None, timeout)
        )

    async def post(
        self, resource: str, body: Any, timeout: float = 10.0, **query: str
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool, lambda: self.request("POST", resource, query, body, timeout)
        )

    async def list_all(
        self, resource: str, timeout: float = 10.0, convert: Any = None, **query: str
    ) -> list[Any]:
        """Every item of a list, `page_size` at a time, each through `convert` if given. An
        expired continue token (410 Gone) restarts the list once from the beginning, as
        client-go's pager does."""
        for attempt in (1, 2):
            items: list[Any] = []
            token = ""
            try:
                while True:
                    params = {**query, "limit": str(self.page_size)}
                    if token:
                        params["continue"] = token
                    page = await self.get(resource, timeout, **params)
                    page_items = page.get("items") or []
                    items.extend(map(convert, page_items) if convert else page_items)
                    token = (page.get("metadata") or {}).get("continue") or ""
                    if not token:
                        return items
            except KubeError as exc:
                if exc.status != 410 or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def shared_list(self, resource: str, timeout: float = 10.0) -> list[Any]:
        """A list that several checks read in the same round (cert-manager's Deployments):
        one LIST per cache_ttl for all of them."""
        return await self._reads.get(
            f"list {resource}", self.cache_ttl, lambda: self.list_all(resource, timeout)
        )

    async def version(self, timeout: float = 10.0) -> dict[str, Any]:
        """GET /version, shared like the node list by the checks that need it."""
        return await self._reads.get(
            "version", self.cache_ttl, lambda: self.get("/version", timeout)
        )

    async def nodes(self, timeout: float = 10.0) -> list[NodeFacts]:
        """All Nodes, shared by the node-derived checks: one paginated LIST per cache_ttl,
        and concurrent callers wait for the same LIST rather than starting their own."""
        return await self._reads.get(
            "nodes",
            self.cache_ttl,
            lambda: self.list_all("/api/v1/nodes", timeout, NodeFacts.from_json),
        )


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the checks use of a Node; the rest of its JSON is dropped page by page, so a
    20,000-node list costs a few MB, not the full objects."""

    name: str
    labels: Mapping[str, str]
    provider_id: str
    ready: bool
    schedulable: bool
    kubelet_version: str
    runtime: str
    os_image: str
    kernel: str
    cpu: float | None
    memory: float | None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> NodeFacts:
        meta = item.get("metadata") or {}
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        info = status.get("nodeInfo") or {}
        capacity = status.get("capacity") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
            if isinstance(c, Mapping)
        )

        def amount(key: str) -> float | None:
            try:
                return quantity(str(capacity[key]))
            except (KeyError, ParseError):
                return None

        return cls(
            name=str(meta.get("name", "")),
            labels=dict(meta.get("labels") or {}),
            provider_id=str(spec.get("providerID", "")),
            ready=ready,
            schedulable=not spec.get("unschedulable", False),
            kubelet_version=str(info.get("kubeletVersion", "")),
            runtime=str(info.get("containerRuntimeVersion", "")),
            os_image=str(info.get("osImage", "")),
            kernel=str(info.get("kernelVersion", "")),
            cpu=amount("cpu"),
            memory=amount("memory"),
        )
