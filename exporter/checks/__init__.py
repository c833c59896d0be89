"""The single registry of checks: the CLI, scheduler, report and tests iterate these tuples.

Adding a check: its declaration (the module's CHECK) here, in its role's tuple
(docs/architecture.md, "Adding a check")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    network_paths,
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
    workspace_sysctls,
)
from exporter.config import CheckSettings
from exporter.context import Check

NODE_CHECKS: tuple[Check[Any], ...] = (
    os_release.CHECK,
    kernel.CHECK,
    containerd.CHECK,
    cpu.CHECK,
    memory.CHECK,
    privileged.CHECK,
    cni_calico.CHECK,
    labels.CHECK,
    containerd_cri.CHECK,
    user_namespaces.CHECK,
    kernel_features.CHECK,
    fs_shift.CHECK,
    workspace_host_paths.CHECK,
    registry_facade_trust.CHECK,
    workspace_disk.CHECK,
    workspace_sysctls.CHECK,
    cgroup.CHECK,
    pod_network.CHECK,
)

CLUSTER_CHECKS: tuple[Check[Any], ...] = (
    gitpod_config.CHECK,
    gitpod_secrets.CHECK,
    kubernetes_version.CHECK,
    distribution.CHECK,
    openshift.CHECK,
    node_labels.CHECK,
    node_pools.CHECK,
    nodes_runtime.CHECK,
    workspace_daemons.CHECK,
    network_paths.CHECK,
    storage_class.CHECK,
    namespace.CHECK,
    privileged_pods.CHECK,
    loadbalancer.CHECK,
    proxy_service.CHECK,
    cert_manager.CHECK,
    database.CHECK,
    storage.CHECK,
    registry.CHECK,
    scm.CHECK,
    tls.CHECK,
    dns.CHECK,
    compatibility.CHECK,
)

ROLES: Mapping[str, tuple[Check[Any], ...]] = {"node": NODE_CHECKS, "cluster": CLUSTER_CHECKS}


def settings_types() -> dict[str, type[CheckSettings]]:
    """Every check id of both roles, so one config file serves both."""
    return {c.id: c.settings for checks in ROLES.values() for c in checks}
