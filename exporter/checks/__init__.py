"""The single registry of checks: the CLI, scheduler, report and tests iterate these tuples.

Adding a check: its module here, in its role's tuple (docs/architecture.md, "Adding a check")."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from exporter.checks.cluster import (
    cert_manager,
    compatibility,
    database,
    distribution,
    dns,
    gitpod_config,
    gitpod_secrets,
    kubernetes_version,
    loadbalancer,
    namespace,
    node_labels,
    node_pools,
    nodes_runtime,
    openshift,
    privileged_pods,
    proxy_service,
    registry,
    scm,
    storage,
    storage_class,
    tls,
    workspace_daemons,
)
from exporter.checks.node import (
    cgroup,
    cni_calico,
    containerd,
    containerd_cri,
    cpu,
    fs_shift,
    kernel,
    kernel_features,
    labels,
    memory,
    os_release,
    pod_network,
    privileged,
    registry_facade_trust,
    user_namespaces,
    workspace_disk,
    workspace_host_paths,
)
from exporter.config import CheckSettings
from exporter.context import Check


def _registered(*modules: ModuleType) -> tuple[Check, ...]:
    return tuple(Check.of(m) for m in modules)


NODE_CHECKS: tuple[Check, ...] = _registered(
    os_release,
    kernel,
    containerd,
    cpu,
    memory,
    privileged,
    cni_calico,
    labels,
    containerd_cri,
    user_namespaces,
    kernel_features,
    fs_shift,
    workspace_host_paths,
    registry_facade_trust,
    workspace_disk,
    cgroup,
    pod_network,
)

CLUSTER_CHECKS: tuple[Check, ...] = _registered(
    gitpod_config,
    gitpod_secrets,
    kubernetes_version,
    distribution,
    openshift,
    node_labels,
    node_pools,
    nodes_runtime,
    workspace_daemons,
    storage_class,
    namespace,
    privileged_pods,
    loadbalancer,
    proxy_service,
    cert_manager,
    database,
    storage,
    registry,
    scm,
    tls,
    dns,
    compatibility,
)

ROLES: Mapping[str, tuple[Check, ...]] = {"node": NODE_CHECKS, "cluster": CLUSTER_CHECKS}


def settings_types() -> dict[str, type[CheckSettings]]:
    """Every check id of both roles, so one config file serves both."""
    return {c.id: c.settings_type for checks in ROLES.values() for c in checks}
