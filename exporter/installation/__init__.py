"""The Gitpod installation the exporter guards: its installer config (ConfigMap or file), the
Secrets that config references, and the check settings they imply. Checks never know where
their settings came from: the scheduler asks `Installation.settings_for` before each run."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from exporter import safeyaml
from exporter.compat import Matrix, Release
from exporter.config import CheckSettings, GitpodSettings, SecretValue, with_derived
from exporter.installation.gitpod_config import GitpodConfig, parse
from exporter.model import CheckError, NotConfigured, Reason, Unreadable
from exporter.parse import ParseError
from exporter.sharedreads import SharedReads

if TYPE_CHECKING:
    from exporter.kube import Kube
    from exporter.nodeapi import NodeApi

S = TypeVar("S", bound=CheckSettings)
# What a check's `from_installation(inst, settings, timeout)` returns: (settings fields, the
# origin to note) or None when the installation states nothing for it.
Derived = tuple[dict[str, Any], str] | None
Deriver = Callable[["Installation", Any, float], Awaitable[Derived]]

# RBAC for reading the installation: the chart's Role gitpod-requirements-installation
# (templates/rbac-installation.yaml), in the plain manifests deploy/gitpod-rbac.
RBAC_HINT = (
    "grant it with the Role gitpod-requirements-installation: Helm value "
    "gitpod.readInstallation (and gitpod.extraSecretNames), or kubectl apply -k deploy/gitpod-rbac"
)
# Secrets of one round are shared by the checks that need them, then read afresh.
SECRET_TTL = 10.0
MAX_SECRET_VALUE_BYTES = 1 << 20


@dataclass(frozen=True)
class Loaded:
    config: GitpodConfig
    origin: str  # "ConfigMap gitpod/gitpod" or "file PATH"
    version: str = ""  # the installed release, from the ConfigMap's versions.json


class Installation:
    def __init__(
        self,
        settings: GitpodSettings,
        kube: Kube | NodeApi | None,
        namespace: str,
        pool: Executor,
        file: str | None = None,
        matrix: Matrix | None = None,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.namespace = namespace
        self.pool = pool
        self.file = file or settings.file
        self.source = settings.source
        self.matrix = matrix
        # Failures are shared too: every check sees the same reason until the next read.
        self._reads = SharedReads((CheckError, NotConfigured, ParseError))

    # --- the config ----------------------------------------------------------------------
    async def config(self, timeout: float, fresh: bool = False) -> Loaded:
        """The parsed installer config. NotConfigured when there is none to read (source
        none, or auto with neither a file nor the ConfigMap); CheckError/ParseError when it
        cannot be read or parsed. `fresh` re-reads; others share the last read for as long as
        the kubernetes node cache would (the cluster_gitpod_config check re-reads each run)."""
        ttl = 0.0 if fresh else self._ttl
        return await self._reads.get("config", ttl, lambda: self._read(timeout))

    @property
    def _ttl(self) -> float:
        return self.kube.cache_ttl if self.kube is not None else 20.0

    async def _read(self, timeout: float) -> Loaded:
        text, origin, versions = await self.raw(timeout)
        return await self._parse(text, origin, versions)

    async def raw(self, timeout: float) -> tuple[str, str, Any]:
        """The installer config's text as stored, where it was read, and versions.json (for
        the support bundle, which redacts it; checks read `config`)."""
        if self.source == "none":
            raise NotConfigured("gitpod.source is none: the installation is not read")
        if self.source == "file" or (self.source == "auto" and self.file):
            if not self.file:
                raise CheckError(Reason.CONFIG, "gitpod.source is file but no file is given "
                                 "(--gitpod-config, GRE_GITPOD_CONFIG or gitpod.file)")  # fmt: skip
            text = await asyncio.get_running_loop().run_in_executor(
                self.pool, _read_file, self.file
            )
            return text, f"file {self.file}", None
        if self.kube is None:
            raise NotConfigured("no Kubernetes API access to read ConfigMap "
                                f"{self.settings.configmap}")  # fmt: skip
        from exporter.kube import KubeError, path

        name = self.settings.configmap
        where = f"ConfigMap {self.namespace}/{name}"
        try:
            cm = await self.kube.get(
                path("/api/v1/namespaces/{ns}/configmaps/{name}", ns=self.namespace, name=name),
                timeout,
            )
        except KubeError as exc:
            if exc.status == 404 and self.source == "auto":
                raise NotConfigured(
                    f"no {where} (Gitpod not installed yet? give --gitpod-config FILE)"
                ) from None
            if exc.status == 404:
                raise CheckError(Reason.NOT_FOUND, f"{where} not found") from None
            if exc.status == 403:
                raise CheckError(Reason.FORBIDDEN, f"{exc.detail}; {RBAC_HINT}") from None
            raise
        data = cm.get("data") or {}
        config_yaml: Any = data.get("config.yaml")
        if not isinstance(config_yaml, str):
            raise CheckError(Reason.NOT_FOUND, f"{where} has no key config.yaml")
        return config_yaml, f"{where} key config.yaml", data.get("versions.json")

    async def _parse(self, text: str, origin: str, versions: Any = None) -> Loaded:
        # Parsed in the pool: a large document must not hold the event loop.
        config = await asyncio.get_running_loop().run_in_executor(self.pool, parse, text, origin)
        return Loaded(config, origin, _installed_version(versions))

    async def release(self, timeout: float) -> tuple[Release, str]:
        """The compatibility matrix entry to judge against, and why that one: gitpod.release,
        else the installed version from versions.json, else the newest entry."""
        if self.matrix is None:
            raise NotConfigured("no compatibility matrix in this role")
        wanted = self.settings.release
        if wanted:
            found = self.matrix.pick(wanted)
            if found is None:
                names = ", ".join(r.name for r in self.matrix.releases)
                raise CheckError(Reason.CONFIG, f"gitpod.release {wanted!r} is not in "
                                 f"{self.matrix.origin} ({names})")  # fmt: skip
            return found, f"release {found.name} (gitpod.release)"
        loaded = await self.optional_config(timeout)
        if loaded is not None and loaded.version:
            found = self.matrix.pick(loaded.version)
            if found is not None:
                return found, f"release {found.name} (installed {loaded.version})"
        newest = self.matrix.newest
        return newest, f"release {newest.name} (the newest in {self.matrix.origin})"

    async def optional_config(self, timeout: float) -> Loaded | None:
        """The config, or None when there is none or it cannot be read: checks that merely
        take their settings from it fall back to the config file (cluster_gitpod_config is
        the one that reports why)."""
        try:
            return await self.config(timeout)
        except (NotConfigured, CheckError, ParseError):
            return None

    # --- Secrets -------------------------------------------------------------------------
    async def secret(self, name: str, timeout: float) -> dict[str, bytes]:
        """The Secret's data, decoded. CheckError not_found / forbidden (with the RBAC rule to
        add) when it cannot be read."""
        return await self._reads.get(
            f"secret/{name}", SECRET_TTL, lambda: self._read_secret(name, timeout)
        )

    async def _read_secret(self, name: str, timeout: float) -> dict[str, bytes]:
        if self.kube is None:
            raise NotConfigured(f"no Kubernetes API access to read Secret {name}")
        from exporter.kube import KubeError, path

        try:
            obj = await self.kube.get(
                path("/api/v1/namespaces/{ns}/secrets/{name}", ns=self.namespace, name=name),
                timeout,
            )
        except KubeError as exc:
            if exc.status == 404:
                raise CheckError(Reason.NOT_FOUND,
                                 f"Secret {self.namespace}/{name} not found") from None  # fmt: skip
            if exc.status == 403:
                raise CheckError(
                    Reason.FORBIDDEN,
                    f"reading Secret {self.namespace}/{name} is forbidden: add {name} to the "
                    f"resourceNames of the secrets rule, or {RBAC_HINT}",
                ) from None
            raise
        return decode_secret(obj, name)

    async def secret_value(self, name: str, key: str, timeout: float) -> SecretValue:
        """A credential from a Secret, as a setting that names where it came from."""
        return SecretValue(await self.secret_text(name, key, timeout), f"Secret {name} key {key}")

    async def secret_text(self, name: str, key: str, timeout: float) -> str:
        data = await self.secret(name, timeout)
        if key not in data:
            raise CheckError(Reason.MISSING, f"Secret {name} has no key {key}")
        return data[key].decode("utf-8", "replace").strip()

    async def proxy_service(self, timeout: float) -> dict[str, Any] | None:
        """Service `proxy`, Gitpod's entry point (None when absent), shared for a round by
        cluster_proxy_service and cluster_dns's expected addresses."""
        return await self._reads.get("service/proxy", self._ttl, lambda: self._read_proxy(timeout))

    async def _read_proxy(self, timeout: float) -> dict[str, Any] | None:
        if self.kube is None:
            raise NotConfigured("no Kubernetes API access to read Service proxy")
        from exporter.kube import KubeError, path

        try:
            return await self.kube.get(
                path("/api/v1/namespaces/{ns}/services/{name}", ns=self.namespace, name="proxy"),
                timeout,
            )
        except KubeError as exc:
            if exc.status != 404:
                raise
            return None

    # --- where in-cluster Services are -------------------------------------------------
    def service(self, name: str, port: int) -> tuple[str, int]:
        override = self.settings.services.get(name)
        if override:
            host, _, p = override.rpartition(":")
            return host.strip("[]"), int(p)
        suffix = f".{self.settings.cluster_domain}" if self.settings.cluster_domain else ""
        return f"{name}.{self.namespace}.svc{suffix}", port

    # --- what checks derive from it ----------------------------------------------------
    async def stated(self, timeout: float) -> tuple[GitpodConfig, str]:
        """The installer config and where it was read, for a check's `from_installation`.
        NotConfigured, naming why, when there is none or it cannot be read: the check then
        goes by its own settings and says so (cluster_gitpod_config judges the config)."""
        try:
            loaded = await self.config(timeout)
        except (CheckError, ParseError) as exc:
            raise Unreadable(f"its config cannot be read: {exc}", exc) from None
        return loaded.config, loaded.origin

    async def custom_ca(self, cfg: GitpodConfig, timeout: float) -> str:
        """customCACert's PEM ('' when the installation sets none)."""
        if not cfg.custom_ca:
            return ""
        return await self.secret_text(cfg.custom_ca, "ca.crt", timeout)

    async def settings_for(
        self,
        derive: Deriver,
        targets: frozenset[str],
        settings: S,
        explicit: frozenset[str],
        timeout: float,
    ) -> tuple[S, str]:
        """The check's settings with what its `derive` hook reads from the installation filled
        in where the config file is silent, validated as the file's are, and a note naming the
        origin ("" when nothing was derived)."""
        if not settings.enabled or explicit & targets:
            # The config file names this component's target: it is configured by hand, and
            # the installation is not consulted for it (nor its Secrets read).
            return settings, ""
        derived = await derive(self, settings, timeout)
        if derived is None:
            return settings, ""
        values, origin = derived
        used = {k: v for k, v in values.items() if k not in explicit}
        if not used:
            return settings, ""
        return with_derived(settings, used, origin), origin


def stated_origin(where: str, what: str) -> str:
    """The note a derived setting carries: what of the installation it came from, and where."""
    return f"from Gitpod config: {what}" + (f" ({where})" if where else "")


def _installed_version(versions: Any) -> str:
    """The release a versions.json names ({"version": "release-2022.11.2", ...}); '' if none."""
    if not isinstance(versions, str) or len(versions) > safeyaml.MAX_BYTES:
        return ""
    try:
        doc = json.loads(versions)
    except ValueError:
        return ""
    version = doc.get("version") if isinstance(doc, dict) else None
    return version[:64] if isinstance(version, str) else ""


def _read_file(path: str) -> str:
    """The installer's file, as every YAML file is read (exporter/safeyaml.py); a missing or
    unreadable file is a CheckError the config check reports."""
    try:
        return safeyaml.read(path, Path(path).name)
    except OSError as exc:
        reason = Reason.NOT_FOUND if isinstance(exc, FileNotFoundError) else Reason.IO
        raise CheckError(reason, f"cannot read {path}: {exc.strerror or exc}") from None


def decode_secret(obj: Mapping[str, Any], name: str) -> dict[str, bytes]:
    data = obj.get("data") or {}
    if not isinstance(data, Mapping):
        raise CheckError(Reason.PROTOCOL, f"Secret {name}: data is not a mapping")
    out: dict[str, bytes] = {}
    for key, value in data.items():
        if not isinstance(value, str) or len(value) > MAX_SECRET_VALUE_BYTES * 2:
            raise CheckError(Reason.PROTOCOL, f"Secret {name}: key {key} is not a bounded string")
        try:
            out[str(key)] = base64.b64decode(value, validate=True)
        except ValueError:
            raise CheckError(Reason.PROTOCOL, f"Secret {name}: key {key} is not base64") from None
    return out
