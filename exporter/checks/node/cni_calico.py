"""node_cni_calico: the node's active CNI network is Calico, the overlay Gitpod documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from exporter import families, hostfs
from exporter.config import CheckSettings, Interval, NonEmpty
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError, cni_plugin_types

REQUIREMENT = Requirement(
    id="node_cni_calico",
    title="Calico for the networking overlay",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Install Calico as the cluster's CNI (or accept the risk: Gitpod's network policies "
    "are tested with Calico).",
)
HOST_PATHS = ("/etc/cni/net.d",)
# libcni's ConfFiles: the runtime uses the lexically first valid file with these extensions.
CNI_EXTENSIONS = (".conf", ".conflist", ".json")


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    directory: str = "/etc/cni/net.d"
    plugin_types: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: ["calico"])


def host_paths(settings: Settings) -> tuple[str, ...]:
    return (settings.directory,)


def _active_network(directory: str, ctx: CheckContext[Settings]) -> tuple[str, str, list[str]]:
    """(file, network name, plugin types) of the first valid config; invalid ones are skipped
    as the runtime skips them."""
    for filename in hostfs.listdir(ctx.host_root, directory):
        if not filename.endswith(CNI_EXTENSIONS):
            continue
        path = f"{directory.rstrip('/')}/{filename}"
        try:
            name, types = cni_plugin_types(hostfs.read_text(ctx.host_root, path))
        except (ParseError, CheckError, OSError, RecursionError):
            continue  # not a (valid, readable, sane) config: the runtime skips it too
        return filename, name, types
    raise FileNotFoundError


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if ctx.host_kind(s.directory) != "directory":
        return Result.failed(Reason.MISSING, "none", f"no CNI config directory {s.directory}")
    try:
        filename, network, types = await ctx.blocking(_active_network, s.directory, ctx)
    except FileNotFoundError:
        return Result.failed(Reason.MISSING, "none", f"no valid CNI config in {s.directory}")
    main_type = types[0] if types else ""
    sample = families.NODE_CNI_INFO.sample(1.0, network, main_type)
    observed = f"{network or filename} ({', '.join(types)})"
    if not set(types) & set(s.plugin_types):
        return Result.failed(
            Reason.UNSUPPORTED,
            observed,
            f"active CNI config {filename} uses {', '.join(types)}; expected "
            f"{', '.join(s.plugin_types)}",
            sample,
        )
    return Result.passed(observed, sample, detail=f"from {filename}")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
)
