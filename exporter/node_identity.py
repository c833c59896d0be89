"""The node role's view of its own Node: one GET by name, shared for a minute by the checks
that need its labels (node_labels; node_cpu and node_memory, which size a node by its role),
so a DaemonSet on thousands of nodes costs the API server one small GET per node and minute."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from exporter import kubelite
from exporter.bounded import TooLarge
from exporter.model import CheckError, KubeError, NotConfigured, Reason
from exporter.sharedreads import SharedReads

if TYPE_CHECKING:
    from exporter.context import CheckContext

TTL = 60.0
_STATUS_REASON = {401: Reason.AUTH, 403: Reason.FORBIDDEN, 404: Reason.NOT_FOUND}


class NodeIdentity:
    """One per running role (runtime.make_jobs): this node's labels, read once a minute."""

    def __init__(self) -> None:
        self._reads = SharedReads((CheckError, NotConfigured))

    async def labels(self, ctx: CheckContext[Any], timeout: float) -> dict[str, str]:
        return await self._reads.get("labels", TTL, lambda: _get(ctx, timeout))


async def labels(ctx: CheckContext[Any], timeout: float) -> dict[str, str]:
    """This node's labels, shared through ctx.identity when the role has one. NotConfigured
    without NODE_NAME or API access; CheckError with the reason when the API cannot tell."""
    if not ctx.node_name:
        raise NotConfigured("NODE_NAME is not set")
    if ctx.identity is None:
        return await _get(ctx, timeout)
    found: dict[str, str] = await ctx.identity.labels(ctx, timeout)
    return found


async def _get(ctx: CheckContext[Any], timeout: float) -> dict[str, str]:
    node = await api_get(ctx, f"/api/v1/nodes/{quote(ctx.node_name, safe='')}", timeout)
    found = node.get("metadata", {}).get("labels") if isinstance(node, dict) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


async def api_get(ctx: CheckContext[Any], path: str, timeout: float) -> Any:
    """The node role's GET of `path`, its JSON; NotConfigured without API access, CheckError
    with the reason when the API cannot tell."""
    status, answer = await _api_get(ctx.blocking, ctx.kubeconfig, ctx.kube_context, path, timeout)
    if status != 200:
        reason = _STATUS_REASON.get(status, Reason.PROTOCOL)
        raise CheckError(reason, f"GET {path.split('?')[0]}: HTTP {status}")
    return answer


class NodeApi:
    """The node role's API access for reading the Gitpod installation (its ConfigMap): the
    shape of Kube.get, through the node role's small client rather than the cluster role's."""

    def __init__(self, pool: Executor, kubeconfig: str | None, context: str, ttl: float) -> None:
        self.pool, self.kubeconfig, self.context = pool, kubeconfig, context
        self.cache_ttl = ttl  # how long the installation's reads are shared

    async def get(self, path: str, timeout: float) -> Any:
        async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

        status, answer = await _api_get(blocking, self.kubeconfig, self.context, path, timeout)
        if status != 200:
            reason = _STATUS_REASON.get(status, Reason.PROTOCOL)
            detail = f"GET {path.split('?')[0]}: HTTP {status} ({reason.value})"
            raise KubeError(status, reason, detail, {})
        return answer


async def _api_get(
    blocking: Callable[..., Awaitable[Any]],
    kubeconfig: str | None,
    context: str,
    path: str,
    timeout: float,
) -> tuple[int, Any]:
    try:
        endpoint = await blocking(kubelite.resolve, kubeconfig, context)
    except (kubelite.KubeConfigError, OSError, ssl.SSLError) as exc:
        raise CheckError(Reason.AUTH, f"Kubernetes credentials unusable: {exc}") from None
    if endpoint is None:
        raise NotConfigured("no kubeconfig and not running in a pod")
    try:
        answer: tuple[int, Any] = await blocking(kubelite.get_json, endpoint, path, timeout)
        return answer
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
