"""node_kernel_features: the kernel can do what workspace networking and images need: veth
pairs and nftables masquerading (ws-daemon's nsinsider sets up each workspace's network with
them) and overlay (container images), each loaded, built in or loadable."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.checks.shared import kernel_modules, kernel_release
from exporter.config import CheckSettings, Interval
from exporter.context import Applies, Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_kernel_features",
    title="Kernel features workspaces need: veth, nftables NAT chains, DNAT, masquerade, overlay",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Use a node image whose kernel has the modules the report lists (Ubuntu's generic "
    "and cloud kernels have them all), or install its extra modules package.",
)
HOST_PATHS = ("/proc/sys/kernel/osrelease", "/proc/modules", "/proc/filesystems", "/lib/modules")
# What must be there, and the module names that provide it. ws-daemon's nsinsider creates nat
# chains (nft_chain_nat; nft_chain_nat_ipv4 before Linux 5.1) with a DNAT expression (nft_nat)
# and a masquerade expression (nft_masq): a chain type and two expressions, three modules.
FEATURES = {
    "veth": ("veth",),
    "nf_tables": ("nf_tables",),
    "nft_chain_nat": ("nft_chain_nat", "nft_chain_nat_ipv4"),
    "nft_nat": ("nft_nat",),
    "nft_masq": ("nft_masq",),
    "overlay": ("overlay",),
}


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0


async def run(ctx: CheckContext[Settings]) -> Result:
    release = await kernel_release(ctx)
    modules, filesystems, missing_dir = await kernel_modules(ctx, release)
    available = modules | filesystems
    missing = [f for f, names in FEATURES.items() if not any(n in available for n in names)]
    sample = families.NODE_KERNEL_FEATURES_MISSING.sample(float(len(missing)))
    if missing:
        return Result.failed(
            Reason.MISSING,
            f"{len(missing)} missing",
            f"kernel {release} has none of: {', '.join(missing)} (not loaded, not built in, "
            "no module to load)" + (f"; {missing_dir}" if missing_dir else ""),
            sample,
        )
    return Result.passed(f"all {len(FEATURES)} present", sample, detail=missing_dir)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    applies_to=Applies.WORKSPACE_NODES,
)
