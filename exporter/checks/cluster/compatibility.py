"""cluster_compatibility:<component>: the cluster against Gitpod's product compatibility
matrix for the release it runs (exporter/compat): Kubernetes minors of the API server and every
kubelet, the platform (GKE without Dataplane V2, EKS, AKS; K3s untested; OpenShift and RKE
incompatible), the nodes' OS images, kernels and containerd minors, Calico and its VXLAN mode,
cert-manager's version. Warnings: the critical floors are requirements of their own. The
database and the registry are judged by their own checks, which see them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import compat, platforms
from exporter.checks.shared import compatibility_requirement, compatibility_result
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.kube import KubeError, path
from exporter.model import Requirement, Result
from exporter.nodefacts import NodeFacts

# What the API shows; the database and registry checks judge their own components.
COMPONENTS = tuple(c for c in compat.COMPONENTS if c not in ("database", "registry", "cgroup"))
REQUIREMENT = compatibility_requirement("")  # the family; one requirement per component


# The node cache: a node change wakes this check.
@dataclass(frozen=True)
class Settings(CheckSettings):
    # Where calico-node runs: the Tigera operator's namespace, then the manifest install's.
    calico_namespaces: list[str] = field(default_factory=lambda: ["calico-system", "kube-system"])
    cert_manager_namespace: str = "cert-manager"


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return tuple(compatibility_requirement(c) for c in COMPONENTS)


def _by_value(nodes: list[NodeFacts], value: Callable[[NodeFacts], str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in nodes:
        out.setdefault(value(n), []).append(n.name)
    return out


def _image_version(image: str) -> str:
    """The tag of an image reference (registry:port/name:v1.2.3@sha256:...)."""
    name = image.split("@", 1)[0]
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    return tag.lstrip("v")


async def _get(ctx: CheckContext[Settings], resource: str) -> dict[str, Any] | None:
    try:
        return await ctx.kube.get(resource, ctx.settings.timeout)
    except KubeError as exc:
        if exc.status == 404:
            return None
        raise


async def _calico(ctx: CheckContext[Settings], rule: dict[str, Any]) -> compat.Verdict:
    found = None
    for ns in ctx.settings.calico_namespaces:
        found = await _get(
            ctx, path("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}", ns=ns, name="calico-node")
        )
        if found is not None:
            break
    if found is None:
        return compat.Verdict(
            False,
            "absent",
            f"no calico-node DaemonSet in {', '.join(ctx.settings.calico_namespaces)}",
            "missing",
        )
    containers = ((found.get("spec") or {}).get("template") or {}).get("spec", {})
    images = [c.get("image", "") for c in containers.get("containers") or []]
    version = next((_image_version(i) for i in images if "calico/node" in i), "") or "unknown"
    pools = await _get(ctx, "/apis/crd.projectcalico.org/v1/ippools")
    modes = set()
    for pool in (pools or {}).get("items") or []:
        spec = pool.get("spec") or {}
        if spec.get("vxlanMode") in ("Always", "CrossSubnet"):
            modes.add("vxlan")
        elif spec.get("ipipMode") in ("Always", "CrossSubnet"):
            modes.add("ipip")
        else:
            modes.add("direct")
    wanted = rule.get("modes", ["vxlan"])
    observed = f"calico {version}" + (f" {'+'.join(sorted(modes))}" if modes else "")
    if not modes:
        return compat.Verdict(
            True,
            observed,
            "Calico runs; its IPPools are not readable, so its encapsulation is not judged",
        )
    if not modes & set(wanted):
        return compat.Verdict(
            False,
            observed,
            f"Calico {version} in {', '.join(sorted(modes))} mode; tested: {', '.join(wanted)}",
            "untested",
        )
    return compat.Verdict(True, observed, f"Calico {version}, IPPools in {', '.join(wanted)} mode")


async def _cert_manager(ctx: CheckContext[Settings], rule: dict[str, Any]) -> compat.Verdict:
    items = await ctx.kube.shared_list(
        path("/apis/apps/v1/namespaces/{ns}/deployments", ns=ctx.settings.cert_manager_namespace),
        ctx.settings.timeout,
    )
    controller = next((d for d in items if d["metadata"]["name"] == "cert-manager"), None)
    if controller is None:
        return compat.Verdict(False, "absent", "no cert-manager Deployment", "missing")
    labels = controller["metadata"].get("labels") or {}
    version = labels.get("app.kubernetes.io/version", "")
    if not version:
        spec = ((controller.get("spec") or {}).get("template") or {}).get("spec") or {}
        version = next(
            (_image_version(c.get("image", "")) for c in spec.get("containers") or []), ""
        )
    return compat.above("cert-manager", version, str(rule.get("above", "0.0")))


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result | Exception]:
    release, why = await ctx.gitpod.release(ctx.settings.timeout)
    nodes = await ctx.nodes(ctx.settings.timeout)
    info = await ctx.kube.version(ctx.settings.timeout)
    git_version = str(info.get("gitVersion", ""))
    # Judged where Gitpod runs: its labelled nodes (all nodes while none is labelled yet).
    gitpod = [n for n in nodes if n.workload]
    judged = gitpod or nodes

    async def kubernetes() -> compat.Verdict:
        seen = _by_value(nodes, lambda n: n.kubelet_version)
        seen.setdefault(git_version, []).insert(0, "the API server")
        return compat.tested_minors("Kubernetes", seen, release.rule("kubernetes")["tested"])

    async def platform() -> compat.Verdict:
        found = platforms.detect(git_version, nodes)
        dpv2 = found == platforms.GKE and await _get(
            ctx, path("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}", ns="kube-system",
                      name="anetd")) is not None  # fmt: skip
        return compat.platform(found, dpv2, release.rule("platform"))

    async def os() -> compat.Verdict:
        seen = _by_value(judged, lambda n: n.os_image)
        return compat.os_images(seen, release.rule("os")["tested"])

    async def kernel() -> compat.Verdict:
        return compat.kernel(_by_value(judged, lambda n: n.kernel), release.rule("kernel"))

    async def containerd() -> compat.Verdict:
        runtimes = _by_value(judged, lambda n: n.runtime.removeprefix("containerd://"))
        other = [r for r in runtimes if "://" in r]
        if other:
            return compat.Verdict(
                False,
                other[0].split("://")[0],
                f"not containerd: {', '.join(other)}",
                "unsupported",
            )
        return compat.tested_minors("containerd", runtimes, release.rule("containerd")["tested"])

    parts: dict[str, Callable[[], Awaitable[compat.Verdict]]] = {
        "kubernetes": kubernetes,
        "platform": platform,
        "os": os,
        "kernel": kernel,
        "containerd": containerd,
        "calico": lambda: _calico(ctx, release.rule("calico")),
        "cert_manager": lambda: _cert_manager(ctx, release.rule("cert_manager")),
    }
    results: dict[str, Result | Exception] = {}
    for component, part in parts.items():
        # One component's API trouble is that component's error, not the others'.
        try:
            verdict = await part()
        except Exception as exc:
            results[f"cluster_compatibility:{component}"] = exc
            continue
        results[f"cluster_compatibility:{component}"] = compatibility_result(
            component, verdict, release, why
        )
    return results


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
    reads=frozenset({"nodes"}),
)
