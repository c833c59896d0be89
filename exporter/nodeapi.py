"""The node role's Kubernetes API client: its own small transport (exporter/kubelite.py, no
kubernetes package and no aiohttp on every node), the same shape as the cluster role's Kube
(`get`, `list_all` through the one pager, one error mapping), and this node's labels, shared
for a minute by every check that needs them, so a DaemonSet on thousands of nodes costs the
API server one small GET per node and minute."""

from __future__ import annotations

import functools
import json
import os
import ssl
import threading
from concurrent.futures import Executor
from typing import Any
from urllib.parse import quote, urlencode

from exporter import inflight, kubelite
from exporter.bounded import TooLarge
from exporter.inflight import InFlight
from exporter.model import CheckError, KubeError, NotConfigured, Reason
from exporter.pager import Pager
from exporter.sharedreads import SharedReads

LABELS_TTL = 60.0
# How long the installation's reads (ConfigMap gitpod) are shared by the node role's checks.
INSTALLATION_TTL = 600.0
PAGE_SIZE = 100
API = "the API server"
_STATUS_REASON = {401: Reason.AUTH, 403: Reason.FORBIDDEN, 404: Reason.NOT_FOUND}


def status_error(status: int, resource: str, method: str = "GET") -> KubeError:
    """The error an HTTP status other than 2xx stands for, for every request of this client."""
    reason = _STATUS_REASON.get(status, Reason.PROTOCOL)
    detail = f"{method} {resource.split('?')[0]}: HTTP {status} ({reason.value})"
    return KubeError(status, reason, detail, {})


class NodeApi:
    """One per running node role (runtime.build): the endpoint and its TLS context resolved
    once (again only when a kubeconfig file changes; a service-account token is read at each
    request, as it rotates), requests run in the role's pool."""

    def __init__(
        self,
        pool: Executor,
        kubeconfig: str | None,
        context: str = "",
        cache_ttl: float = INSTALLATION_TTL,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.pool, self.kubeconfig, self.context = pool, kubeconfig, context
        self.cache_ttl = cache_ttl
        self.page_size = page_size
        self._reads = SharedReads((CheckError, NotConfigured))
        # Every request is accounted like a check's blocking call: one its caller's timeout
        # abandoned (it ends at its own deadline, exporter/watchdog.py) holds back the next.
        self._inflight = InFlight()
        self._lock = threading.Lock()
        self._resolved: tuple[tuple[Any, ...], kubelite.Endpoint | None] | None = None

    def _files_state(self) -> tuple[Any, ...]:
        if not self.kubeconfig:
            return ()
        state: list[tuple[Any, ...]] = []
        for path in self.kubeconfig.split(os.pathsep):
            try:
                st = os.stat(path)
                state.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                state.append((path, None))
        return tuple(state)

    def endpoint(self) -> kubelite.Endpoint:
        """The API endpoint (blocking). NotConfigured without any; CheckError when the
        credentials are unusable."""
        key = self._files_state()
        with self._lock:
            if self._resolved is None or self._resolved[0] != key:
                try:
                    found = kubelite.resolve(self.kubeconfig, self.context)
                except (kubelite.KubeConfigError, OSError, ssl.SSLError) as exc:
                    raise CheckError(
                        Reason.AUTH, f"Kubernetes credentials unusable: {exc}"
                    ) from None
                self._resolved = (key, found)
            endpoint = self._resolved[1]
        if endpoint is None:
            raise NotConfigured("no kubeconfig and not running in a pod")
        return endpoint

    def request(
        self, resource: str, timeout: float, method: str = "GET", body: Any = None,
        content_type: str = "application/json",
    ) -> Any:  # fmt: skip
        """Blocking request of `resource` (path and query), `body` sent as JSON: the answer's
        JSON. KubeError for an HTTP status other than 2xx, CheckError for the transport."""
        endpoint = self.endpoint()
        data = json.dumps(body).encode() if body is not None else None
        try:
            status, answer = kubelite.request_json(
                endpoint, method, resource, data, content_type if data else "", timeout
            )
        except kubelite.KubeConfigError as exc:
            raise CheckError(Reason.AUTH, f"Kubernetes credentials unusable: {exc}") from None
        except ssl.SSLError as exc:
            raise CheckError(Reason.TLS, f"API server TLS: {exc}") from None
        except TimeoutError:
            raise CheckError(
                Reason.TIMEOUT, f"API server: no complete answer within {timeout:g}s"
            ) from None
        except OSError as exc:
            raise CheckError(Reason.CONNECT, f"API server unreachable: {exc}") from None
        except TooLarge as exc:
            raise CheckError(Reason.PROTOCOL, f"API server: {exc}") from None
        except ValueError as exc:
            raise CheckError(Reason.PROTOCOL, f"API server answered non-JSON: {exc}") from None
        if not 200 <= status < 300:
            raise status_error(status, resource, method)
        return answer

    async def get(self, resource: str, timeout: float = 10.0, **query: str) -> dict[str, Any]:
        if query:
            resource += "?" + urlencode(query)
        answer = await inflight.call(
            self.pool, self._inflight, API, self.request, resource, timeout
        )
        return answer if isinstance(answer, dict) else {}

    async def write(
        self, method: str, resource: str, body: Any, content_type: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """A PATCH or POST of `body`: the answer's JSON (the node condition, its Events)."""
        call = functools.partial(self.request, resource, timeout, method, body, content_type)
        answer = await inflight.call(self.pool, self._inflight, API, call)
        return answer if isinstance(answer, dict) else {}

    async def list_all(
        self, resource: str, timeout: float = 10.0, limit: int | None = None, **query: str
    ) -> list[Any]:
        """Every item of a list, `limit` (else page_size) at a time; an expired continue
        token (410 Gone) restarts it once from the beginning (exporter/pager.py)."""
        pager = Pager(limit or self.page_size, query)
        return await pager.collect(lambda q: self.get(resource, timeout, **q))

    def credentials(self) -> set[str]:
        """What this client sends as credentials, for the scrubber: never in a detail. From
        the endpoint already resolved (nothing is resolved here: this runs on the event loop)
        and the token file as last read by a request."""
        with self._lock:
            endpoint = self._resolved[1] if self._resolved is not None else None
        if endpoint is None:
            return set()
        found = set()
        for value in endpoint.headers.values():
            found |= {value, value.split(" ", 1)[-1]}
        token = endpoint.last_token
        if token:
            found |= {token, *token.split()}
        return {s for s in found if len(s) >= 8}

    async def labels(self, node_name: str, timeout: float) -> dict[str, str]:
        """This node's labels, one GET shared for LABELS_TTL. NotConfigured without a node
        name or API access; CheckError with the reason when the API cannot tell."""
        if not node_name:
            raise NotConfigured("NODE_NAME is not set")

        async def read() -> dict[str, str]:
            node = await self.get(f"/api/v1/nodes/{quote(node_name, safe='')}", timeout)
            found = (node.get("metadata") or {}).get("labels")
            return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

        labels: dict[str, str] = await self._reads.get(f"labels {node_name}", LABELS_TTL, read)
        return labels
