"""Clusters as the fake API server serves them: a healthy baseline per distribution, and the
ways real clusters fall short of Gitpod's requirements."""

from __future__ import annotations

from typing import Any

from exporter.gitpod import (
    WORKLOAD_IDE,
    WORKLOAD_META,
    WORKLOAD_WORKSPACE_HEADLESS,
    WORKLOAD_WORKSPACE_REGULAR,
    WORKLOAD_WORKSPACE_SERVICES,
)
from tests.servers.kube_fake import FakeKube, node, obj

SERVICES = {WORKLOAD_META: "true", WORKLOAD_IDE: "true", WORKLOAD_WORKSPACE_SERVICES: "true"}
REGULAR = {WORKLOAD_WORKSPACE_REGULAR: "true"}
HEADLESS = {WORKLOAD_WORKSPACE_HEADLESS: "true"}
WORKSPACES = {**REGULAR, **HEADLESS}
ALL_LABELS = {**SERVICES, **WORKSPACES}


def deployment(name: str, namespace: str, available: bool = True) -> dict[str, Any]:
    return obj(
        "Deployment",
        "apps/v1",
        name,
        namespace,
        spec={"replicas": 1},
        status={
            "replicas": 1,
            "availableReplicas": 1 if available else 0,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable"
                    if available
                    else "MinimumReplicasUnavailable",
                },
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    )


def load_balancer(
    name: str, namespace: str, ingress: list[dict[str, str]] | None
) -> dict[str, Any]:
    return obj(
        "Service",
        "v1",
        name,
        namespace,
        spec={
            "type": "LoadBalancer",
            "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443},
                {"name": "ssh", "port": 22, "protocol": "TCP", "targetPort": 22},
            ],
        },
        status={"loadBalancer": {"ingress": ingress} if ingress else {}},
    )


def ready_issuer(kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    return obj(
        kind,
        "cert-manager.io/v1",
        name,
        namespace,
        spec={"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory"}},
        status={
            "conditions": [{"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered"}]
        },
    )


def storage_class(name: str, default: bool) -> dict[str, Any]:
    meta = (
        {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}} if default else {}
    )
    return obj(
        "StorageClass",
        "storage.k8s.io/v1",
        name,
        provisioner="pd.csi.storage.gke.io",
        metadata=meta,
    )


def components(fake: FakeKube, lb_ingress: list[dict[str, str]] | None = None) -> None:
    """What a cluster prepared for Gitpod has besides nodes."""
    fake.namespaces |= {"gitpod", "cert-manager"}
    fake.services = [
        load_balancer("proxy", "gitpod", lb_ingress or [{"ip": "34.117.12.9"}]),
        obj(
            "Service",
            "v1",
            "server",
            "gitpod",
            spec={"type": "ClusterIP", "ports": [{"port": 3000}]},
        ),
    ]
    fake.crds |= {
        "certificates.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
    }
    fake.deployments = [
        deployment(n, "cert-manager")
        for n in ("cert-manager", "cert-manager-webhook", "cert-manager-cainjector")
    ]
    fake.cluster_issuers = [ready_issuer("ClusterIssuer", "gitpod-issuer")]
    fake.storage_classes = [
        storage_class("standard-rwo", True),
        storage_class("premium-rwo", False),
    ]


def gke_two_pools(fake: FakeKube) -> None:
    fake.git_version = "v1.27.3-gke.100"
    pools = {"services": SERVICES, "workspaces": WORKSPACES}
    for pool, labels in pools.items():
        for i in range(2):
            name = f"gke-gitpod-{pool}-a1b2c3d4-{i}"
            fake.nodes[name] = node(
                name,
                {**labels, "cloud.google.com/gke-nodepool": pool},
                kubelet="v1.27.3-gke.100",
                kernel="5.15.0-1038-gke",
                os_image="Ubuntu 22.04.2 LTS",
                runtime="containerd://1.7.0",
                provider_id=f"gce://gitpod-project/europe-west1-b/{name}",
            )
    components(fake)


def eks_amazon_linux(fake: FakeKube) -> None:
    fake.git_version = "v1.26.6-eks-a5565ad"
    for pool, labels in {"services": SERVICES, "regular": REGULAR, "headless": HEADLESS}.items():
        name = f"ip-10-0-{len(fake.nodes)}-17.eu-west-1.compute.internal"
        fake.nodes[name] = node(
            name,
            {**labels, "eks.amazonaws.com/nodegroup": pool},
            kubelet="v1.26.6-eks-a5565ad",
            kernel="5.10.199-190.747.amzn2.x86_64",
            os_image="Amazon Linux 2",
            runtime="containerd://1.6.19",
            memory="16044604Ki",
            provider_id=f"aws:///eu-west-1a/i-0{len(fake.nodes)}abcdef",
        )
    components(fake, [{"hostname": "a1b2c3-123.eu-west-1.elb.amazonaws.com"}])


def aks(fake: FakeKube) -> None:
    fake.git_version = "v1.28.5"
    for pool, labels in {"services": SERVICES, "regular": REGULAR, "headless": HEADLESS}.items():
        name = f"aks-{pool}-12345678-vmss000000"
        fake.nodes[name] = node(
            name,
            {
                **labels,
                "kubernetes.azure.com/cluster": "MC_gitpod_gitpod_westeurope",
                "agentpool": pool,
            },
            kubelet="v1.28.5",
            kernel="5.15.0-1052-azure",
            os_image="Ubuntu 22.04.3 LTS",
            runtime="containerd://1.7.5-1",
            provider_id=f"azure:///subscriptions/x/resourceGroups/mc/providers/Microsoft.Compute/{name}",
        )
    components(fake)


def k3s_single(fake: FakeKube) -> None:
    fake.git_version = "v1.24.4+k3s1"
    fake.nodes["gitpod-k3s"] = node(
        "gitpod-k3s",
        ALL_LABELS,
        kubelet="v1.24.4+k3s1",
        kernel="5.15.0-91-generic",
        os_image="Ubuntu 22.04.3 LTS",
        runtime="containerd://1.6.6-k3s1",
        cpu="8",
        memory="32864164Ki",
        provider_id="k3s://gitpod-k3s",
    )
    components(fake, [{"ip": "192.168.1.20"}])
    fake.storage_classes = [storage_class("local-path", True)]


def openshift(fake: FakeKube) -> None:
    fake.git_version = "v1.27.6+f67aeb3"
    for pool, labels in {"services": SERVICES, "regular": REGULAR, "headless": HEADLESS}.items():
        name = f"ocp-{pool}-0"
        fake.nodes[name] = node(
            name,
            {**labels, "node.openshift.io/os_id": "rhcos"},
            kubelet="v1.27.6+f67aeb3",
            kernel="5.14.0-284.36.1.el9_2.x86_64",
            os_image="Red Hat Enterprise Linux CoreOS 414.92.202310170514-0 (Plow)",
            runtime="cri-o://1.27.1-13.1.rhaos4.14.git956c5f7.el9",
        )
    components(fake)


def many_nodes(fake: FakeKube, count: int) -> None:
    """A large healthy cluster: a third of the nodes in each pool."""
    fake.git_version = "v1.28.5"
    pools = [SERVICES, REGULAR, HEADLESS]
    for i in range(count):
        name = f"node-{i:05d}"
        fake.nodes[name] = node(
            name, {**pools[i % 3], "cloud.google.com/gke-nodepool": f"pool-{i % 3}"}
        )
    components(fake)


def calico(fake: FakeKube, version: str = "v3.24.5", mode: str = "vxlan") -> None:
    fake.daemonsets["calico-system/calico-node"] = obj(
        "DaemonSet",
        "apps/v1",
        "calico-node",
        "calico-system",
        spec={
            "template": {
                "spec": {
                    "containers": [
                        {"name": "calico-node", "image": f"docker.io/calico/node:{version}"}
                    ]
                }
            }
        },
    )
    spec = {"cidr": "192.168.0.0/16", "natOutgoing": True, "nodeSelector": "all()"}
    spec.update(
        {"vxlanMode": "Always", "ipipMode": "Never"}
        if mode == "vxlan"
        else {"vxlanMode": "Never", "ipipMode": "Always"}
    )
    fake.ippools = [obj("IPPool", "crd.projectcalico.org/v1", "default-ipv4-ippool", spec=spec)]


# Admission as real clusters answer it (the message of the API server's 403).
def pod_security_baseline(namespace: str, pod: dict[str, Any]) -> str | None:
    """PodSecurity enforcing `baseline` on the namespace: host namespaces, hostPath volumes,
    host ports and privileged containers are refused, each named."""
    spec = pod["spec"]
    problems = []
    if spec.get("hostPID"):
        problems.append("host namespaces (hostPID=true)")
    paths = [v["name"] for v in spec.get("volumes", []) if "hostPath" in v]
    if paths:
        problems.append(f"hostPath volumes ({', '.join(f'{p!r}' for p in paths)})")
    ports = [
        p["hostPort"]
        for c in spec.get("containers", [])
        for p in c.get("ports", [])
        if p.get("hostPort")
    ]
    if ports:
        problems.append(f"hostPort (container uses hostPort {', '.join(map(str, ports))})")
    privileged = [
        c["name"]
        for c in spec.get("containers", []) + spec.get("initContainers", [])
        if (c.get("securityContext") or {}).get("privileged")
    ]
    if privileged:
        problems.append(
            f'privileged (container "{privileged[0]}" must not set securityContext.privileged=true)'
        )
    return f'violates PodSecurity "baseline:latest": {", ".join(problems)}' if problems else None


def gatekeeper_host_ports(namespace: str, pod: dict[str, Any]) -> str | None:
    """Gatekeeper's psp-host-ports constraint: host ports outside 80-9000 are refused."""
    for c in pod["spec"].get("containers", []):
        for p in c.get("ports", []):
            if p.get("hostPort") and not 80 <= p["hostPort"] <= 9000:
                return (
                    'admission webhook "validation.gatekeeper.sh" denied the request: '
                    "[psp-host-ports] The specified hostNetwork and hostPort are not "
                    f"allowed, pod: {pod['metadata']['generateName']}x. Allowed values: "
                    '{"max": 9000, "min": 80}'
                )
    return None


def gke_critical_priority_quota(namespace: str, pod: dict[str, Any]) -> str | None:
    """GKE: system-node-critical pods outside kube-system need a ResourceQuota for the class."""
    if pod["spec"].get("priorityClassName") == "system-node-critical":
        return (
            "insufficient quota to match these scopes: [{PriorityClass In "
            "[system-node-critical system-cluster-critical]}]"
        )
    return None


DAEMONS = ("ws-daemon", "registry-facade")


def daemon_pod(
    daemon: str,
    node_name: str,
    ns: str = "gitpod",
    *,
    status: dict[str, Any] | None = None,
    pending: bool = False,
) -> dict[str, Any]:
    """A DaemonSet pod as the API shows it: Running and Ready on its node, or Pending with no
    nodeName yet (the DaemonSet pins it to its node by a matchFields term)."""
    spec: dict[str, Any] = {"containers": [{"name": daemon, "image": f"eu.gcr.io/gitpod/{daemon}"}]}
    pin = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [pin]}
        }
    }
    if not pending:
        spec["nodeName"] = node_name
    ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
             "containerStatuses": [{"name": daemon, "ready": True, "restartCount": 0,
                                    "state": {"running": {}}}]}  # fmt: skip
    return obj("Pod", "v1", f"{daemon}-{node_name[-5:]}", ns, spec=spec, status=status or ready,
               metadata={"labels": {"app": "gitpod", "component": daemon}})  # fmt: skip


def gitpod_daemons(fake: FakeKube, ns: str = "gitpod") -> None:
    """ws-daemon and registry-facade installed and Ready on every workspace node, each of
    which carries both ready labels, as their sidecars set them."""
    workspace = [n for n in fake.nodes.values()
                 if any(k in n["metadata"]["labels"] for k in WORKSPACES)]  # fmt: skip
    for daemon in DAEMONS:
        fake.daemonsets[f"{ns}/{daemon}"] = obj(
            "DaemonSet", "apps/v1", daemon, ns,
            status={"desiredNumberScheduled": len(workspace), "numberReady": len(workspace)},
        )  # fmt: skip
        for n in workspace:
            n["metadata"]["labels"][f"gitpod.io/{daemon}_ready_ns_{ns}"] = "true"
            fake.pods.append(daemon_pod(daemon, n["metadata"]["name"], ns))


def daemon_stuck(fake: FakeKube, node_name: str, daemon: str = "ws-daemon", ns: str = "gitpod"):
    """The daemon's pod on the node stuck in ContainerCreating (a mount that fails, said only
    in its events), so the node lacks the daemon's ready label."""
    fake.nodes[node_name]["metadata"]["labels"].pop(f"gitpod.io/{daemon}_ready_ns_{ns}", None)
    for pod in fake.pods:
        if pod["spec"].get("nodeName") == node_name and \
                pod["metadata"]["labels"]["component"] == daemon:  # fmt: skip
            pod["status"] = {"phase": "Pending", "containerStatuses": [
                {"name": daemon, "ready": False,
                 "state": {"waiting": {"reason": "ContainerCreating"}}}]}  # fmt: skip
