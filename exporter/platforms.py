"""Which Kubernetes platform (distribution) a cluster is, from what every cluster shows:
the server version string and the nodes' providerID, labels and OS image. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.nodefacts import NodeFacts

GKE, EKS, AKS, K3S, RKE2, OPENSHIFT, OTHER = (
    "gke",
    "eks",
    "aks",
    "k3s",
    "rke2",
    "openshift",
    "other",
)


def _of_node(node: NodeFacts) -> str:
    labels, pid = node.labels, node.provider_id
    if "node.openshift.io/os_id" in labels or (
        "CoreOS" in node.os_image and "Red Hat" in node.os_image
    ):
        return OPENSHIFT
    if pid.startswith("k3s://") or "+k3s" in node.kubelet_version:
        return K3S
    if "+rke2" in node.kubelet_version:
        return RKE2
    if "cloud.google.com/gke-nodepool" in labels or "-gke." in node.kubelet_version:
        return GKE
    if "eks.amazonaws.com/nodegroup" in labels or "-eks-" in node.kubelet_version:
        return EKS
    if "kubernetes.azure.com/cluster" in labels or pid.startswith("azure://"):
        return AKS
    return OTHER


def _of_version(git_version: str) -> str:
    if "+k3s" in git_version:
        return K3S
    if "+rke2" in git_version:
        return RKE2
    if "-gke." in git_version:
        return GKE
    if "-eks-" in git_version:
        return EKS
    return OTHER


def detect(git_version: str, nodes: Iterable[NodeFacts]) -> str:
    """The distribution most nodes show, else what the server version string says."""
    counts: dict[str, int] = {}
    for node in nodes:
        kind = _of_node(node)
        if kind != OTHER:
            counts[kind] = counts.get(kind, 0) + 1
    if counts:
        return max(counts, key=lambda k: counts[k])
    return _of_version(git_version)
