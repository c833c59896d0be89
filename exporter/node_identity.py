"""The node role's view of its own Node: one GET by name, shared for a minute by the checks
that need its labels (node_labels; node_cpu and node_memory, which size a node by its role),
so a DaemonSet on thousands of nodes costs the API server one small GET per node and minute."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import quote

from exporter import kubelite
from exporter.bounded import TooLarge
from exporter.model import CheckError, NotConfigured, Reason
from exporter.sharedreads import SharedReads

TTL = 60.0
_STATUS_REASON = {401: Reason.AUTH, 403: Reason.FORBIDDEN, 404: Reason.NOT_FOUND}


class NodeIdentity:
    """One per running role (runtime.make_jobs): this node's labels, read once a minute."""

    def __init__(self) -> None:
        self._reads = SharedReads((CheckError, NotConfigured))

    async def labels(self, ctx: Any, timeout: float) -> dict[str, str]:
        return await self._reads.get("labels", TTL, lambda: _get(ctx, timeout))


async def labels(ctx: Any, timeout: float) -> dict[str, str]:
    """This node's labels, shared through ctx.identity when the role has one. NotConfigured
    without NODE_NAME or API access; CheckError with the reason when the API cannot tell."""
    if not ctx.node_name:
        raise NotConfigured("NODE_NAME is not set")
    if ctx.identity is None:
        return await _get(ctx, timeout)
    return await ctx.identity.labels(ctx, timeout)


async def _get(ctx: Any, timeout: float) -> dict[str, str]:
    node = await api_get(ctx, f"/api/v1/nodes/{quote(ctx.node_name, safe='')}", timeout)
    found = node.get("metadata", {}).get("labels") if isinstance(node, dict) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


async def api_get(ctx: Any, path: str, timeout: float) -> Any:
    """The node role's GET of `path`, its JSON; NotConfigured without API access, CheckError
    with the reason when the API cannot tell."""
    try:
        endpoint = await ctx.blocking(kubelite.resolve, ctx.kubeconfig, ctx.kube_context)
    except (kubelite.KubeConfigError, OSError, ssl.SSLError) as exc:
        raise CheckError(Reason.AUTH, f"Kubernetes credentials unusable: {exc}") from None
    if endpoint is None:
        raise NotConfigured("no kubeconfig and not running in a pod")
    try:
        status, answer = await ctx.blocking(kubelite.get_json, endpoint, path, timeout)
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
    if status != 200:
        reason = _STATUS_REASON.get(status, Reason.PROTOCOL)
        raise CheckError(reason, f"GET {path.split('?')[0]}: HTTP {status}")
    return answer
