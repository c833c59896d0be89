"""Gitpod's product compatibility matrix as data (matrix.yaml, or compatibility.file) and the
small judgements the cluster_compatibility:<component> requirements make with it. Pure
functions: observations in, a Verdict out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from exporter.config import ConfigError
from exporter.parse import ParseError, first, format_version, version_tuple

COMPONENTS = (
    "kubernetes",
    "platform",
    "os",
    "kernel",
    "containerd",
    "calico",
    "cert_manager",
    "database",
    "registry",
    "cgroup",  # judged by node_cgroup on each node, not as cluster_compatibility:<component>
)
MAX_MATRIX_BYTES = 1 << 20


@dataclass(frozen=True)
class Release:
    name: str
    source: str
    rules: dict[str, Any] = field(default_factory=dict, compare=False)

    def rule(self, component: str) -> dict[str, Any]:
        return self.rules.get(component) or {}


@dataclass(frozen=True)
class Matrix:
    releases: tuple[Release, ...]
    origin: str

    @property
    def newest(self) -> Release:
        return max(self.releases, key=lambda r: _release_key(r.name))

    def pick(self, wanted: str) -> Release | None:
        """The entry for `wanted` ("2022.11", "2022.11.2", "release-2022.11.2"), by the
        longest release name it starts with."""
        text = wanted.strip().removeprefix("release-").lstrip("v")
        found = [r for r in self.releases if text == r.name or text.startswith(r.name + ".")]
        return max(found, key=lambda r: len(r.name)) if found else None


def _release_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name))


def load(path: str = "") -> Matrix:
    """The built-in matrix, or the user's file; ConfigError naming the field when it is wrong."""
    where = path or "the built-in matrix"
    try:
        if path:
            text = Path(path).read_text()
        else:
            text = resources.files(__package__).joinpath("matrix.yaml").read_text()
    except OSError as exc:
        raise ConfigError("compatibility.file", f"cannot read {path}: {exc.strerror}") from None
    if len(text) > MAX_MATRIX_BYTES:
        raise ConfigError("compatibility.file", f"{where} is over {MAX_MATRIX_BYTES} bytes")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("compatibility.file", f"{where} is not valid YAML: {exc}") from None
    releases = doc.get("releases") if isinstance(doc, dict) else None
    if not isinstance(releases, dict) or not releases:
        raise ConfigError("compatibility.file", f"{where}: expected a mapping `releases`")
    out = []
    for name, body in releases.items():
        if not isinstance(body, dict):
            raise ConfigError(f"releases.{name}", "expected a mapping of component rules")
        unknown = set(body) - {*COMPONENTS, "source"}
        if unknown:
            raise ConfigError(
                f"releases.{name}.{sorted(unknown)[0]}",
                f"unknown component; expected one of {', '.join(COMPONENTS)}",
            )
        versions = (body.get("cgroup") or {}).get("versions", [1, 2])
        if not (isinstance(versions, list) and versions and set(versions) <= {1, 2}):
            raise ConfigError(f"releases.{name}.cgroup.versions", "expected a list of 1 and/or 2")
        for pattern in (body.get("registry") or {}).get("unsupported_hosts", []):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"releases.{name}.registry", f"bad pattern: {exc}") from None
        out.append(Release(str(name), str(body.get("source", "")), body))
    return Matrix(tuple(out), where)


@dataclass(frozen=True)
class Verdict:
    """passed: tested (or not worth a warning); reason: untested | unsupported |
    incompatible | missing; observed: short and bounded (it becomes a label value)."""

    passed: bool
    observed: str
    detail: str
    reason: str = ""


def minor(version: str) -> str:
    major, minor_, _ = version_tuple(version)
    return f"{major}.{minor_}"


def tested_minors(kind: str, seen: dict[str, list[str]], tested: list[str]) -> Verdict:
    """`seen`: version -> where (node names, "API server"). Untested minors are listed."""
    bad: dict[str, list[str]] = {}
    for version, where in seen.items():
        try:
            m = minor(version)
        except ParseError:
            m = version
        if m not in tested:
            bad.setdefault(m, []).extend(where)
    observed = ", ".join(sorted({_safe_minor(v) for v in seen})[:3])
    return _listed(f"{kind} ", bad, observed, f"tested: {', '.join(tested)}")


def _safe_minor(version: str) -> str:
    try:
        return minor(version)
    except ParseError:
        return version[:20]


def _listed(kind: str, bad: dict[str, list[str]], observed: str, wanted: str) -> Verdict:
    """Pass, or untested with each untested value and where it was seen."""
    if not bad:
        return Verdict(True, observed, wanted)
    listed = "; ".join(f"{value} on {first(where, 5)}" for value, where in sorted(bad.items()))
    return Verdict(False, observed, f"{kind}{listed}; {wanted}", "untested")


def kernel(seen: dict[str, list[str]], rule: dict[str, Any]) -> Verdict:
    low, high = (
        version_tuple(str(rule.get("min", "0.0"))),
        version_tuple(str(rule.get("below", "999.0"))),
    )
    bad: dict[str, list[str]] = {}
    for release, nodes in seen.items():
        try:
            v = version_tuple(release)
        except ParseError:
            bad.setdefault(release[:40], []).extend(nodes)
            continue
        if not low <= v < high:
            bad.setdefault(format_version(v[:2]), []).extend(nodes)
    observed = ", ".join(sorted({_safe_minor(k) for k in seen})[:3])
    wanted = f"tested: >= {rule.get('min')} and < {rule.get('below')}"
    return _listed("kernel ", bad, observed, wanted)


def os_images(seen: dict[str, list[str]], tested: list[str]) -> Verdict:
    bad = {image: nodes for image, nodes in seen.items()
           if not any(image.startswith(t) for t in tested)}  # fmt: skip
    observed = ", ".join(sorted({" ".join(i.split()[:2]) for i in seen})[:3])
    return _listed("", bad, observed, f"tested: {', '.join(tested)}")


def platform(found: str, dataplane_v2: bool, rule: dict[str, Any]) -> Verdict:
    if found in rule.get("incompatible", []):
        return Verdict(False, found, f"{found} is incompatible with Gitpod", "incompatible")
    if found == "gke" and dataplane_v2 and rule.get("gke_dataplane_v2") == "unsupported":
        return Verdict(
            False,
            "gke-dataplane-v2",
            "GKE with Dataplane V2 is not supported; "
            "use a cluster without it (Calico network policy)",
            "unsupported",
        )
    if found in rule.get("supported", []):
        return Verdict(True, found, f"supported: {', '.join(rule['supported'])}")
    if found in rule.get("untested", []):
        return Verdict(True, found, f"{found} works but is not tested by Gitpod")
    return Verdict(
        False,
        found,
        f"{found} is not among the supported platforms ({', '.join(rule.get('supported', []))})",
        "untested",
    )


def above(kind: str, version: str, floor: str) -> Verdict:
    try:
        v = version_tuple(version)
    except ParseError:
        return Verdict(
            False, version[:20], f"{kind} version {version[:40]!r} unreadable", "untested"
        )
    if v[:2] <= version_tuple(floor)[:2]:
        return Verdict(
            False, format_version(v), f"{kind} {format_version(v)}; tested: > {floor}", "untested"
        )
    return Verdict(True, format_version(v), f"tested: > {floor}")


def database(flavor: str, version: str, rule: dict[str, Any]) -> Verdict:
    tested = (rule.get("tested") or {}).get(flavor, [])
    observed = f"{flavor} {_safe_minor(version)}"
    wanted = ", ".join(f"{f} {' '.join(v)}" for f, v in (rule.get("tested") or {}).items())
    if _safe_minor(version) in tested:
        return Verdict(True, observed, f"tested: {wanted}")
    return Verdict(
        False, observed, f"{observed} is not tested by Gitpod (tested: {wanted})", "untested"
    )


def registry(host: str, rule: dict[str, Any]) -> Verdict:
    for pattern in rule.get("unsupported_hosts", []):
        if re.fullmatch(pattern, host):
            return Verdict(
                False,
                "ecr",
                f"{host} is Amazon ECR, which Gitpod does not support "
                "(it cannot create repositories on push)",
                "unsupported",
            )
    return Verdict(True, "supported", f"{host}: a Docker Registry HTTP API V2 registry")
