"""The single registry of checks: the CLI, scheduler, report and tests iterate these tuples."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.checks.cluster import (
    cert_manager,
    database,
    distribution,
    dns,
    kubernetes_version,
    loadbalancer,
    namespace,
    node_labels,
    node_pools,
    nodes_runtime,
    openshift,
    privileged_pods,
    registry,
    scm,
    storage,
    storage_class,
    tls,
)
from exporter.checks.node import (
    cni_calico,
    containerd,
    cpu,
    kernel,
    labels,
    memory,
    os_release,
    privileged,
)
from exporter.config import CheckSettings
from exporter.context import Check

NODE_CHECKS: tuple[Check, ...] = (
    os_release,
    kernel,
    containerd,
    cpu,
    memory,
    privileged,
    cni_calico,
    labels,
)  # type: ignore[assignment]

CLUSTER_CHECKS: tuple[Check, ...] = (
    kubernetes_version,
    distribution,
    openshift,
    node_labels,
    node_pools,
    nodes_runtime,
    storage_class,
    namespace,
    privileged_pods,
    loadbalancer,
    cert_manager,
    database,
    storage,
    registry,
    scm,
    tls,
    dns,
)  # type: ignore[assignment]

ROLES: Mapping[str, tuple[Check, ...]] = {"node": NODE_CHECKS, "cluster": CLUSTER_CHECKS}


def settings_types() -> dict[str, type[CheckSettings]]:
    """Every check id of both roles, so one config file serves both."""
    return {c.REQUIREMENT.id: c.Settings for checks in ROLES.values() for c in checks}
