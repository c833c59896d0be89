"""Node objects shaped like real GKE and EKS nodes (50 images with sizes, 5 conditions,
addresses, managedFields, annotations): 10-25 KB of JSON each, as the API server sends them.
Deterministic: the same index gives the same node, so benchmark runs compare."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

IMAGES = (
    "gcr.io/gke-release/gke-metrics-agent", "gcr.io/gke-release/fluent-bit",
    "gcr.io/gke-release/csi-node-driver-registrar",
    "gcr.io/gke-release/gcp-compute-persistent-disk-csi-driver",
    "eu.gcr.io/gitpod-core-dev/build/ws-daemon", "eu.gcr.io/gitpod-core-dev/build/registry-facade",
    "eu.gcr.io/gitpod-core-dev/build/workspace", "eu.gcr.io/gitpod-core-dev/build/supervisor",
    "docker.io/calico/node", "docker.io/calico/cni", "docker.io/calico/pod2daemon-flexvol",
    "quay.io/jetstack/cert-manager-controller", "registry.k8s.io/kube-proxy",
    "registry.k8s.io/pause", "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni",
    "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/kube-proxy",
    "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver", "docker.io/gitpod/workspace-full",
    "docker.io/gitpod/workspace-base", "docker.io/library/node", "docker.io/library/python",
    "docker.io/library/golang", "quay.io/prometheus/node-exporter",
    "ghcr.io/gitpod-io/gitpod-requirements-exporter",
)  # fmt: skip


def _digest(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


def realistic_node(index: int, pool: str = "workspaces", eks: bool = False) -> dict[str, Any]:
    rng = random.Random(index * 7919 + (1 if eks else 0))
    suffix = hashlib.sha1(f"{pool}{index}".encode()).hexdigest()[:4]
    if eks:
        name = f"ip-10-0-{index // 250}-{index % 250}.eu-west-1.compute.internal"
    else:
        name = f"gke-gitpod-{pool}-8f2a{suffix}-{index:05d}"
    zone = rng.choice(["europe-west1-b", "europe-west1-c", "europe-west1-d"])
    labels = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": "n2d-standard-16",
        "beta.kubernetes.io/instance-type": "n2d-standard-16",
        "topology.kubernetes.io/region": "europe-west1", "topology.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": "europe-west1",
        "failure-domain.beta.kubernetes.io/zone": zone,
        "cloud.google.com/gke-nodepool": pool, "cloud.google.com/gke-os-distribution": "ubuntu",
        "cloud.google.com/gke-container-runtime": "containerd",
        "cloud.google.com/gke-boot-disk": "pd-ssd",
        "cloud.google.com/gke-cpu-scaling-level": "16",
        "cloud.google.com/gke-max-pods-per-node": "110",
        "cloud.google.com/machine-family": "n2d", "cloud.google.com/private-node": "false",
        "cloud.google.com/gke-stack-type": "IPV4",
        "cloud.google.com/gke-logging-variant": "DEFAULT",
        "node.kubernetes.io/masq-agent-ds-ready": "true",
        f"gitpod.io/workload_{'workspace_regular' if pool == 'workspaces' else 'meta'}": "true",
    }  # fmt: skip
    if pool == "workspaces":
        labels["gitpod.io/workload_workspace_headless"] = "true"
    now = "2026-11-25T10:00:00Z"
    since = "2026-11-01T08:00:00Z"
    conditions = [
        {"type": t, "status": s, "lastHeartbeatTime": now, "lastTransitionTime": since,
         "reason": r, "message": m}
        for t, s, r, m in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"),
            ("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status. AppArmor enabled"),
        )
    ]  # fmt: skip
    images = []
    for _ in range(50):
        repo = rng.choice(IMAGES)
        tag = f"v{rng.randint(0, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        digest = _digest(rng)
        images.append({"names": [f"{repo}@sha256:{digest}", f"{repo}:{tag}"],
                       "sizeBytes": rng.randint(300_000, 2_500_000_000)})  # fmt: skip
    managed = [
        {"manager": manager, "operation": "Update", "apiVersion": "v1", "time": now,
         "fieldsType": "FieldsV1", "subresource": sub,
         "fieldsV1": {"f:status": {f"f:{k}": {} for k in keys}} if sub else
                     {"f:metadata": {"f:labels": {f"f:{k}": {} for k in list(labels)[:12]}}}}
        for manager, sub, keys in (
            ("kubelet", "status", ("allocatable", "capacity", "conditions", "daemonEndpoints",
                                   "images", "nodeInfo", "addresses", "volumesAttached",
                                   "volumesInUse")),
            ("node-problem-detector", "status", ("conditions",)),
            ("kube-controller-manager", "", ()),
            ("gcp-controller-manager", "", ()),
        )
    ]  # fmt: skip
    ip = f"10.{132 + index // 65536}.{index // 256 % 256}.{index % 256}"
    external = f"34.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": hashlib.md5(name.encode()).hexdigest(),
            "resourceVersion": "1",
            "creationTimestamp": "2026-11-01T08:00:00Z",
            "labels": labels,
            "annotations": {
                "container.googleapis.com/instance_id": str(rng.randint(10**18, 10**19)),
                "csi.volume.kubernetes.io/nodeid": json.dumps(
                    {"pd.csi.storage.gke.io": f"projects/gitpod/zones/{zone}/instances/{name}"}
                ),
                "node.alpha.kubernetes.io/ttl": "0",
                "node.gke.io/last-applied-node-labels": ",".join(
                    f"{k}={v}" for k, v in list(labels.items())[:14]
                ),
                "node.gke.io/last-applied-node-taints": "",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "managedFields": managed,
        },
        "spec": {
            "podCIDR": f"10.{index % 200}.{index // 200 % 256}.0/24",
            "podCIDRs": [f"10.{index % 200}.{index // 200 % 256}.0/24"],
            "providerID": (
                f"aws:///eu-west-1a/i-{_digest(rng)[:17]}" if eks else f"gce://gitpod/{zone}/{name}"
            ),
        },
        "status": {
            "capacity": {
                "cpu": "16",
                "ephemeral-storage": "203056560Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "65851340Ki",
                "pods": "110",
            },
            "allocatable": {
                "cpu": "15890m",
                "ephemeral-storage": "77358477155",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "60549068Ki",
                "pods": "110",
            },
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "ExternalIP", "address": external},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _digest(rng)[:32],
                "systemUUID": _digest(rng)[:32],
                "bootID": _digest(rng)[:36],
                "kernelVersion": "5.15.0-1049-gke",
                "osImage": "Ubuntu 22.04.3 LTS",
                "containerRuntimeVersion": "containerd://1.7.7",
                "kubeletVersion": "v1.28.5-gke.1217000",
                "kubeProxyVersion": "v1.28.5-gke.1217000",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": images,
        },
    }
