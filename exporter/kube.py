"""The cluster role's Kubernetes access, transport only: the official client for credentials
and transport, raw JSON for bodies (typed models cost memory and time on 20,000-node lists),
every answer bounded while it arrives. The nodes are exporter/nodecache.py's business."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from exporter import urllib3deadline, watchdog
from exporter.bounded import TooLarge, read_bounded
from exporter.model import CheckError, NotConfigured, Reason
from exporter.model import KubeError as KubeError  # re-exported: the checks catch it from here
from exporter.pager import Pager
from exporter.sharedreads import SharedReads

if TYPE_CHECKING:
    pass

_STATUS_REASON = {
    401: Reason.AUTH,
    403: Reason.FORBIDDEN,
    404: Reason.NOT_FOUND,
}


def _json_or_none(raw: bytes | None) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return None


# The largest answer read: a page of 100 nodes is ~2 MB, a Secret or ConfigMap at most the
# 1.5 MiB etcd allows; an answer past this is not a Kubernetes API's (a LIST ignoring `limit`
# sent 12,000 nodes in one page, 1 GiB of memory).
MAX_ANSWER_BYTES = 16 << 20
# A list page may be larger, by what it asked for: a realistic Node is about 16 KiB (its image
# list the most of it), so a page of kubernetes.page_size Nodes gets twice that per item.
MAX_ITEM_BYTES = 32 << 10
MAX_ERROR_BYTES = 1 << 20  # a Status; what a person reads of it is cut shorter still


def _transport_error(exc: Exception) -> Exception:
    """The CheckError a client exception stands for (others are returned as they are)."""
    if isinstance(exc, TooLarge):
        return CheckError(Reason.PROTOCOL, str(exc))
    if isinstance(exc, TimeoutError):
        return CheckError(Reason.TIMEOUT, str(exc))
    import urllib3
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        cause = exc.reason
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return CheckError(Reason.CONNECT, f"API server unreachable: {cause}")
        if isinstance(cause, urllib3.exceptions.SSLError):
            return CheckError(Reason.TLS, f"API server TLS: {cause}")
        if isinstance(cause, urllib3.exceptions.TimeoutError):
            return CheckError(Reason.TIMEOUT, f"API server timed out: {cause}")
        return CheckError(Reason.CONNECT, f"API server unreachable: {cause}")
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return CheckError(Reason.CONNECT, f"API server unreachable: {exc}")
    if isinstance(exc, urllib3.exceptions.SSLError):
        return CheckError(Reason.TLS, f"API server TLS: {exc}")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return CheckError(Reason.TIMEOUT, f"API server timed out: {exc}")
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        # ("Connection aborted.", cause): a reset is the network, a bad status line or a
        # truncated body is the server speaking something other than HTTP/JSON.
        cause = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(cause, OSError):
            return CheckError(Reason.CONNECT, f"API server connection lost: {cause}")
        return CheckError(Reason.PROTOCOL, f"API server answered garbage: {exc}")
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return CheckError(Reason.CONNECT, f"API server connection failed: {exc}")
    # The client re-raises urllib3's SSLError as ApiException(status=0).
    if isinstance(exc, ApiException) and exc.status == 0 and "SSLError" in str(exc.reason):
        detail = " ".join(str(exc).split())[:300]
        return CheckError(Reason.TLS, f"API server TLS: {detail}")
    return exc


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

    def credentials(self) -> set[str]:
        """The credentials this client sends (bearer token, basic auth), for the scrubber: an
        API server may echo them in an error body."""
        cfg = getattr(self._api, "configuration", None)
        if cfg is None:
            return set()
        found = {str(v).removeprefix("Bearer ").strip() for v in (cfg.api_key or {}).values()}
        if cfg.password:
            found.add(str(cfg.password))
        return {v for v in found if len(v) >= 4}

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
        api = kubernetes.client.ApiClient(cfg)
        urllib3deadline.install(api.rest_client.pool_manager)
        return api

    def _send(
        self,
        method: str,
        resource: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | tuple[float, float] = 10.0,
    ) -> Any:
        """The answer's status line and headers (the body still unread: a watch streams it),
        every transport failure mapped to a Reason; a non-2xx answer raises KubeError."""
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
        total = sum(timeout) if isinstance(timeout, tuple) else timeout
        cut = watchdog.Cut()
        late = CheckError(Reason.TIMEOUT, f"API server: no answer within {total:g}s")
        try:
            # Connect to the answer's head within the timeout (a watch's body streams later).
            with urllib3deadline.deadline(cut, total):
                resp = api.call_api(method, url, header_params=headers, body=body,
                                    _request_timeout=timeout)  # fmt: skip
            if not 200 <= resp.status < 300:
                error_body = self._read(resp, MAX_ERROR_BYTES, timeout, f"{method} {resource}")
        except Exception as exc:
            raise (late if cut.fired else _transport_error(exc)) from None
        if cut.fired:  # the shutdown ended the head as a closed connection would
            raise late
        if not 200 <= resp.status < 300:
            data = _json_or_none(error_body)
            status_body = data if isinstance(data, dict) else {}
            message = status_body.get("message") or f"HTTP {resp.status}"
            reason = _STATUS_REASON.get(resp.status, Reason.PROTOCOL)
            raise KubeError(resp.status, reason, f"{method} {resource}: {message}", status_body)
        return resp

    def request(
        self,
        method: str,
        resource: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        resp = self._send(method, resource, query, body, timeout)
        items = int((query or {}).get("limit", "0") or 0)
        limit = max(MAX_ANSWER_BYTES, items * MAX_ITEM_BYTES)
        try:
            raw = self._read(resp, limit, timeout, f"{method} {resource}")
        except Exception as exc:
            raise _transport_error(exc) from None
        data = _json_or_none(raw)
        if not isinstance(data, dict):
            raise CheckError(
                Reason.PROTOCOL, f"{method} {resource}: the answer is not a JSON object"
            )
        return data

    @staticmethod
    def _read(resp: Any, limit: int, timeout: float | tuple[float, float], what: str) -> bytes:
        """The body, bounded in size and in time while it arrives (not after)."""
        total = sum(timeout) if isinstance(timeout, tuple) else timeout
        raw = resp.response  # urllib3's: read1 returns what has arrived
        try:
            return read_bounded(raw.read1, limit, time.monotonic() + total, what)
        finally:
            raw.release_conn()

    def stream(self, resource: str, query: Mapping[str, str], timeout: tuple[float, float]) -> Any:
        """A GET whose body is read as it arrives (a watch): the urllib3 response."""
        return self._send("GET", resource, query, None, timeout).response

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
        pager = Pager(self.page_size, query)
        return await pager.collect(lambda q: self.get(resource, timeout, **q), convert)

    async def shared_list(self, resource: str, timeout: float = 10.0) -> list[Any]:
        """A list that several checks read in the same round (cert-manager's Deployments):
        one LIST per cache_ttl for all of them."""
        return await self._reads.get(
            f"list {resource}", self.cache_ttl, lambda: self.list_all(resource, timeout)
        )

    async def version(self, timeout: float = 10.0) -> dict[str, Any]:
        """GET /version, shared for cache_ttl by the checks that need it."""
        return await self._reads.get(
            "version", self.cache_ttl, lambda: self.get("/version", timeout)
        )
