"""containerd's effective CRI configuration, as the workspace checks need it: where it keeps its
data and tasks, and how it trusts registries. Asked of containerd itself (its CRI `Status` with
`verbose: true` returns the config it runs with), else read from its config file with tomllib,
which may differ from what runs (containerd not restarted since an edit) and says so.

containerd 1.x reports the whole CRI config, registry and snapshotter included. containerd 2.x
split the CRI plugin: its Status reports the runtime plugin's config only (internal/cri/server/
status.go marshals criconfig.Config: root, state, runtimes), so the registry's config_path and
the snapshotter come from the file, where a version 3 config keeps them under
plugins.'io.containerd.cri.v1.images' (a version 2 file's io.containerd.grpc.v1.cri tables are
migrated there by containerd 2.x). containerd 2.x also dropped registry.configs.<host>.tls:
only containerd 1.x trusts a registry through it."""

from __future__ import annotations

import asyncio
import json
import posixpath
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from exporter import hostfs, safetoml
from exporter.grpc_unix import GrpcError, protobuf_fields, protobuf_strings, unary_call
from exporter.model import CheckError, Reason
from exporter.parse import ParseError

if TYPE_CHECKING:
    from exporter.context import CheckContext

# runtime.v1 since containerd 1.6; 1.5 serves only v1alpha2.
API_VERSIONS = ("v1", "v1alpha2")
UNIMPLEMENTED = "grpc-status 12"
CRI_PLUGIN = "io.containerd.grpc.v1.cri"
# containerd 2.x's CRI plugins (a version 3 config names them; disabling either stops pods).
CRI_IMAGES_PLUGIN = "io.containerd.cri.v1.images"
CRI_RUNTIME_PLUGIN = "io.containerd.cri.v1.runtime"
CRI_PLUGINS = (CRI_PLUGIN, CRI_IMAGES_PLUGIN, CRI_RUNTIME_PLUGIN, "cri")
DEFAULT_SNAPSHOTTER = "overlayfs"
# Where containerd's config is on a plain node and on K3s (its agent writes one of its own).
CONFIG_FILES = (
    "/etc/containerd/config.toml",
    "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
)
# A containerd config is a few KiB; a TOML file of 1 MiB bounds what tomllib is given.
MAX_CONFIG_BYTES = 1 << 20
# The namespace the kubelet's containers run in, and the runtime v2 plugin's directory name.
K8S_TASKS = "io.containerd.runtime.v2.task/k8s.io"


class NoCri(Exception):
    """containerd answers on the socket but serves no CRI (Docker's, or the plugin disabled)."""


@dataclass(frozen=True)
class CriConfig:
    source: str  # "containerd via <socket>" or "<config file> (containerd not asked)"
    snapshotter: str = ""
    config_path: str = ""  # registry hosts directories, ':'-separated
    root: str = "/var/lib/containerd"
    state: str = "/run/containerd"
    # registry.configs: host -> its tls table (ca_file / insecure_skip_verify), legacy trust
    tls: dict[str, dict[str, Any]] = field(default_factory=dict)
    disabled: tuple[str, ...] = ()  # disabled_plugins, from a file only
    major: int = 0  # containerd's major version (1, 2), 0 when it was not asked
    file_version: int = 0  # the `version` of the config file read, 0 when none was
    # False when nothing could tell the registry config (containerd 2.x, no readable file).
    registry_known: bool = True

    @property
    def config_paths(self) -> list[str]:
        """The hosts directories as containerd uses them: ':'-separated, each cleaned (a
        trailing slash or a doubled one names the same directory)."""
        return [posixpath.normpath(p.strip()) for p in self.config_path.split(":") if p.strip()]

    @property
    def strict_hosts_toml(self) -> bool:
        """containerd 1.x cannot decode a hosts.toml without a [host] table ("invalid `host`
        tree") and reads the directory's loose *.crt files instead; 2.x reads its top level."""
        if self.major:
            return self.major < 2
        return self.file_version < 3

    @property
    def legacy_tls(self) -> bool:
        """Whether registry.configs.<host>.tls is honoured: by containerd 1.x only."""
        if self.major:
            return self.major < 2
        return self.file_version < 3

    @property
    def task_dirs(self) -> tuple[str, str]:
        """Where containerd keeps the kubelet's tasks: under its root, then its state."""
        return posixpath.join(self.root, K8S_TASKS), posixpath.join(self.state, K8S_TASKS)


def major_of(runtime_version: str) -> int:
    """containerd's major version from its CRI runtime_version ("v1.6.20", "2.0.0-k3s1")."""
    head = runtime_version.strip().lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() and len(head) < 4 else 0


async def version(socket: str, timeout: float) -> tuple[str, dict[int, str]]:
    """(the CRI API version answering, the VersionResponse's strings). NoCri when containerd
    serves neither; GrpcError, OSError or TimeoutError when it cannot be asked."""
    for api in API_VERSIONS:
        try:
            answer = await asyncio.wait_for(
                unary_call(socket, f"/runtime.{api}.RuntimeService/Version"), timeout
            )
            return api, protobuf_strings(answer)
        except GrpcError as exc:
            if UNIMPLEMENTED not in str(exc):
                raise
    raise NoCri


async def from_containerd(
    socket: str, api: str, timeout: float, shown: str, runtime_version: str = ""
) -> CriConfig:
    status = await asyncio.wait_for(
        unary_call(socket, f"/runtime.{api}.RuntimeService/Status", b"\x08\x01"), timeout
    )  # verbose: true
    shown_version = f" {runtime_version[:40]}" if runtime_version else ""
    return of_status(status, f"containerd{shown_version} via {shown}", major_of(runtime_version))


def status_config(status: bytes) -> dict[str, Any]:
    """The effective CRI config from a verbose StatusResponse: its info map (field 2, entries
    of key 1 and value 2) holds it as JSON under "config"."""
    for number, entry in protobuf_fields(status):
        if number != 2:
            continue
        kv = protobuf_strings(entry)
        if kv.get(1) == "config":
            try:
                config = json.loads(kv.get(2, ""))
            except (ValueError, RecursionError):
                raise GrpcError("the CRI status' config is not JSON") from None
            return config if isinstance(config, dict) else {}
    return {}


def of_status(status: bytes, source: str, major: int = 0) -> CriConfig:
    config = status_config(status)
    # containerd 1.x reports its registry (config_path "" included); 2.x has no such key.
    reported = "registry" in config
    registry = table(config.get("registry"))
    containerd = table(config.get("containerd"))
    snapshotter = _text(containerd.get("snapshotter"), 64)
    if not snapshotter:  # 2.x: a runtime may name its own; else the images plugin's (file)
        runtimes = table(containerd.get("runtimes"))
        default = table(runtimes.get(_text(containerd.get("defaultRuntimeName"), 64)))
        snapshotter = _text(default.get("snapshotter"), 64)
    state_dir = _text(config.get("stateDir"))  # the CRI plugin's own: <state>/<plugin>
    return CriConfig(
        source=source,
        snapshotter=snapshotter,
        config_path=_text(registry.get("configPath")),
        root=_text(config.get("containerdRootDir")) or "/var/lib/containerd",
        state=posixpath.dirname(state_dir) if state_dir else "/run/containerd",
        tls=_tls(registry.get("configs"), ("caFile", "insecure_skip_verify")),
        major=major or (1 if reported else 2 if config else 0),
        registry_known=reported,
    )


def read_file(root: Any, path: str) -> CriConfig:
    """A containerd config file under --host-root, version 1, 2 or 3 (blocking: run in the
    pool). CheckError for what is not a bounded regular file, ParseError for what is not TOML."""
    doc = parse_toml(hostfs.read_text(root, path, MAX_CONFIG_BYTES), path)
    plugins = table(doc.get("plugins"))
    number = doc.get("version", 1)
    number = number if isinstance(number, int) and 0 < number < 100 else 1
    images = table(plugins.get(CRI_IMAGES_PLUGIN))
    if number >= 3:
        # containerd 2.x's own layout: the images plugin holds registry and snapshotter.
        registry, snapshotter = table(images.get("registry")), images.get("snapshotter")
    else:
        # Version 2 names the plugin by its full id; version 1 (no `version` key) by "cri".
        # containerd 2.x migrates these tables into the images plugin, over its own.
        cri = table(plugins.get(CRI_PLUGIN if number >= 2 else "cri"))
        registry = table(cri.get("registry")) or table(images.get("registry"))
        snapshotter = table(cri.get("containerd")).get("snapshotter") or images.get("snapshotter")
    disabled = doc.get("disabled_plugins")
    return CriConfig(
        source=f"{path} (containerd not asked: its file, which a running containerd may not "
        "have loaded)",
        snapshotter=_text(snapshotter, 64) or DEFAULT_SNAPSHOTTER,
        config_path=_text(registry.get("config_path")),
        root=_text(doc.get("root")) or "/var/lib/containerd",
        state=_text(doc.get("state")) or "/run/containerd",
        tls=_tls(registry.get("configs"), ("ca_file", "insecure_skip_verify")),
        disabled=tuple(_text(d, 64) for d in disabled[:64]) if isinstance(disabled, list) else (),
        file_version=number,
    )


async def effective(
    ctx: CheckContext[Any],
    sockets: list[str],
    timeout: float,
    files: list[str] | tuple[str, ...] = CONFIG_FILES,
) -> CriConfig:
    """What containerd runs with: asked through the first socket that exists, else read from
    the first config file there is. CheckError when neither can tell."""
    socket = next((p for p in sockets if ctx.host_kind(p) == "socket"), None)
    asked = ""
    if socket is not None:
        path = str(ctx.host_path(socket))
        try:
            api, strings = await version(path, timeout)
            running = await from_containerd(path, api, timeout, socket, strings.get(3, ""))
        except NoCri:
            asked = f"{socket} serves no CRI"
        except (GrpcError, OSError, TimeoutError) as exc:
            asked = f"{socket}: {_why(exc)}"
        else:
            if running.registry_known:
                return running
            return await with_file_registry(ctx, running, files)
    else:
        asked = f"no containerd socket at {', '.join(sockets)}"
    config = await _first_file(ctx, files, asked)
    if config is None:
        raise CheckError(Reason.NO_SOCKET, f"{asked}, and no {' or '.join(files)}")
    return config


async def _first_file(
    ctx: CheckContext[Any], files: list[str] | tuple[str, ...], asked: str
) -> CriConfig | None:
    for path in files:
        kind = ctx.host_kind(path)
        if kind == "absent":
            continue
        if kind != "file":
            raise CheckError(Reason.IO, f"{path} is a {kind}: refused ({asked})")
        config: CriConfig = await ctx.blocking(read_file, ctx.host_root, path)
        return config
    return None


async def with_file_registry(
    ctx: CheckContext[Any], running: CriConfig, files: list[str] | tuple[str, ...]
) -> CriConfig:
    """containerd 2.x's answer completed with the registry and snapshotter of its file."""
    try:
        found = await _first_file(ctx, files, running.source)
    except (CheckError, ParseError) as exc:
        found, why = None, str(exc)
    else:
        why = f"no {' or '.join(files)}"
    if found is None:
        return replace(
            running,
            source=f"{running.source}; containerd 2.x does not report its registry config and "
            f"its file cannot be read ({why})",
            registry_known=False,
        )
    path = found.source.split(" ", 1)[0]
    return replace(
        running,
        source=f"{running.source}; registry config_path and snapshotter from {path} (containerd "
        "2.x does not report them)",
        config_path=found.config_path,
        snapshotter=running.snapshotter or found.snapshotter,
        tls=found.tls,
        file_version=found.file_version,
        registry_known=True,
    )


def parse_toml(text: str, path: str) -> dict[str, Any]:
    """A containerd TOML file (config.toml, hosts.toml); ParseError for what is not TOML or is
    over safetoml's budgets."""
    return safetoml.load(text, path)


def table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no CRI answer in time"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)[:200]


def _text(value: Any, limit: int = 256) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _tls(configs: Any, keys: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """registry.configs' tls tables by host, as (ca_file, insecure_skip_verify), at most 64."""
    out: dict[str, dict[str, Any]] = {}
    for host, entry in list(table(configs).items())[:64]:
        tls = table(table(entry).get("tls"))
        if tls:
            out[str(host)[:256]] = {
                "ca_file": _text(tls.get(keys[0])),
                "insecure_skip_verify": tls.get(keys[1]) is True,
            }
    return out
