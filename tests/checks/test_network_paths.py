"""cluster_network_paths against the suite's fake API: the pods of a Gitpod 2022.11.3 install
(its labels, named container ports, pod IPs), Gitpod's own NetworkPolicies, and the shapes
kubernetes/kubernetes' test/e2e/network/netpol exercises, case by case."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from tests.servers.kube_fake import FakeKube, obj

NS = "gitpod"
COMPONENTS = {  # component -> container ports (name, port, protocol)
    "proxy": [("http", 80, "TCP"), ("https", 443, "TCP")],
    "server": [("http", 3000, "TCP")],
    "dashboard": [("http", 80, "TCP")],
    "public-api-server": [("grpc", 9001, "TCP"), ("http", 9002, "TCP")],
    "ws-proxy": [("http", 8080, "TCP"), ("https", 9090, "TCP")],
    "openvsx-proxy": [("http", 8080, "TCP")],
    "ide-proxy": [("http", 80, "TCP")],
    "blobserve": [("service", 32224, "TCP")],
    "ide-metrics": [("http", 3000, "TCP")],
    "ws-manager": [("rpc", 8080, "TCP")],
    "ws-manager-bridge": [],
    "image-builder-mk3": [("rpc", 8080, "TCP")],
    "content-service": [("rpc", 8080, "TCP")],
    "ide-service": [("grpc", 9001, "TCP")],
    "ws-daemon": [("rpc", 8080, "TCP")],
}


def pod(name: str, ns: str, labels: dict, ip: str, ports: list) -> dict:
    spec = {"containers": [{"name": "c", "ports": [
        {"name": n, "containerPort": p, "protocol": proto} if n else
        {"containerPort": p, "protocol": proto} for n, p, proto in ports]}]}  # fmt: skip
    return obj("Pod", "v1", name, ns, spec=spec, status={"phase": "Running", "podIP": ip},
               metadata={"labels": labels})  # fmt: skip


def rule(peers: list | None = None, ports: list | None = None) -> dict:
    out: dict = {}
    if peers is not None:
        out["from"] = peers
    if ports is not None:
        out["ports"] = ports
    return out


def policy(name: str, ns: str, select: dict, ingress: list | None = None,
           egress: list | None = None, types: list | None = None) -> dict:  # fmt: skip
    spec: dict = {"podSelector": {"matchLabels": select} if select else {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = [{("to" if k == "from" else k): v for k, v in r.items()}
                          for r in egress]  # fmt: skip
    if types is not None:
        spec["policyTypes"] = types
    return obj("NetworkPolicy", "networking.k8s.io/v1", name, ns, spec=spec)


def gitpod(component: str) -> dict:
    return {"podSelector": {"matchLabels": {"app": "gitpod", "component": component}}}


def tcp(*ports: int | str, protocol: str = "TCP") -> list:
    return [{"protocol": protocol, "port": p} for p in ports]


ANY_KUBE_DNS = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_RULE = rule([ANY_KUBE_DNS], [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])


def gitpods_own(ns: str = NS) -> list:
    """Gitpod 2022.11.3's policies for the flows judged (install/installer/pkg/components)."""
    c = lambda name: {"app": "gitpod", "component": name}  # noqa: E731
    return [
        policy("server", ns, c("server"), [rule([gitpod("proxy")], tcp(3000))]),
        policy("dashboard", ns, c("dashboard"), [rule([gitpod("proxy")], tcp(80))]),
        policy("public-api-server", ns, c("public-api-server"),
               [rule([gitpod("proxy")], tcp(9001, 9002))]),
        policy("ws-proxy", ns, c("ws-proxy"), [rule(None, tcp(8080, 9090, 2200))]),
        policy("openvsx-proxy", ns, c("openvsx-proxy"), [rule(None, tcp(8080))]),
        policy("blobserve", ns, c("blobserve"), [{}]),
        policy("ide-metrics", ns, c("ide-metrics"),
               [rule([gitpod("proxy"), gitpod("ide-proxy")], tcp(3000))]),
        policy("ws-manager", ns, c("ws-manager"), [{}]),
        policy("content-service", ns, c("content-service"), [{}]),
        policy("image-builder-mk3", ns, c("image-builder-mk3"),
               [rule([gitpod("server"), gitpod("ws-manager")])]),
        policy("ide-service", ns, c("ide-service"), [rule(None, tcp(9001))]),
        policy("ws-daemon", ns, c("ws-daemon"), [rule([gitpod("ws-manager")], tcp(8080))]),
        policy("proxy", ns, c("proxy"), [rule(None, tcp(80, 443, 22))]),
        policy("workspace-default", ns, {**c("workspace"), "gitpod.io/networkpolicy": "default"},
               [rule([gitpod("ws-proxy")])],
               [rule([gitpod("proxy")]),
                rule([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]),
                DNS_RULE]),
    ]  # fmt: skip


def install(fake: FakeKube, ns: str = NS, own: bool = True) -> FakeKube:
    fake.namespaces |= {ns, "kube-system"}
    for i, (component, ports) in enumerate(COMPONENTS.items()):
        fake.pods.append(pod(f"{component}-abc12", ns, {"app": "gitpod", "component": component},
                             f"10.4.0.{i + 10}", ports))  # fmt: skip
    workspace = {"app": "gitpod", "component": "workspace", "gitpod.io/networkpolicy": "default"}
    ports = [("supervisor", 22999, "TCP"), ("ide", 23000, "TCP")]
    fake.pods.append(pod("ws-7f3e-4a", ns, workspace, "10.4.1.5", ports))
    fake.pods.append(pod("mysql-0", ns, {"app.kubernetes.io/name": "mysql"}, "10.4.0.90",
                         [("mysql", 3306, "TCP")]))  # fmt: skip
    for n in range(2):
        dns_ports = [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
        fake.pods.append(pod(f"coredns-{n}", "kube-system", {"k8s-app": "kube-dns"},
                             f"10.4.2.{n + 2}", dns_ports))  # fmt: skip
    if own:
        fake.networkpolicies += gitpods_own(ns)
    return fake


def judge(fake: FakeKube, tmp_path: Path, capsys, ns: str = NS) -> dict:
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"kubernetes": {"namespace": ns}}))
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--config", str(cfg),
          "--output", "json", "--only", "cluster_network_paths"])  # fmt: skip
    (result,) = json.loads(capsys.readouterr().out)["results"]
    return result


DEFAULT_DENY_INGRESS = policy("default-deny", NS, {}, types=["Ingress"])
DEFAULT_DENY_EGRESS = policy("default-deny-egress", NS, {}, types=["Egress"])


def test_gitpods_own_policies_pass(kube_api, tmp_path, capsys) -> None:
    result = judge(install(kube_api), tmp_path, capsys)
    assert result["status"] == "pass", result
    assert "under 14 NetworkPolicies" in result["detail"]


def test_no_policy_passes_saying_so(kube_api, tmp_path, capsys) -> None:
    result = judge(install(kube_api, own=False), tmp_path, capsys)
    assert (result["status"], result["observed"]) == ("pass", "no NetworkPolicy"), result


def test_before_gitpods_pods_exist_it_is_skipped(kube_api, tmp_path, capsys) -> None:
    kube_api.networkpolicies = gitpods_own()
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("skipped", "not_installed"), result


def test_a_platform_default_deny_ingress(kube_api, tmp_path, capsys) -> None:
    install(kube_api).networkpolicies.append(DEFAULT_DENY_INGRESS)
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "denied"), result
    assert ("proxy -> ide-proxy:80/TCP (gitpod/proxy-abc12 -> gitpod/ide-proxy-abc12): refused "
            "by the ingress of gitpod/default-deny") in result["detail"]  # fmt: skip
    assert "server -> mysql:3306/TCP" in result["detail"]
    assert "proxy -> server:3000" not in result["detail"]  # server's own policy admits it
    # With ingress allowed within the namespace, every flow passes.
    kube_api.networkpolicies.append(policy("allow-same-ns", NS, {}, [rule([{"podSelector": {}}])]))
    assert judge(kube_api, tmp_path, capsys)["status"] == "pass"


def test_ws_daemons_policy_missing_under_default_deny(kube_api, tmp_path, capsys) -> None:
    install(kube_api)
    kube_api.networkpolicies = [p for p in kube_api.networkpolicies
                                if p["metadata"]["name"] != "ws-daemon"]  # fmt: skip
    kube_api.networkpolicies.append(DEFAULT_DENY_INGRESS)
    detail = judge(kube_api, tmp_path, capsys)["detail"]
    assert "ws-manager -> ws-daemon:8080/TCP" in detail


def test_a_default_deny_egress_names_dns_first(kube_api, tmp_path, capsys) -> None:
    install(kube_api).networkpolicies.append(DEFAULT_DENY_EGRESS)
    result = judge(kube_api, tmp_path, capsys)
    assert result["status"] == "fail", result
    first = result["detail"].split(": ", 1)[1]
    assert first.startswith("every component -> kube-dns:53/UDP"), first
    assert "refused by the egress of gitpod/default-deny-egress" in result["detail"]


def _dns_only(fake: FakeKube, dns_rule: dict) -> None:
    """Egress cut but within the namespace, and DNS by `dns_rule`: only DNS is judged."""
    install(fake).networkpolicies.append(
        policy("egress", NS, {}, egress=[rule([{"podSelector": {}}]), dns_rule], types=["Egress"])
    )


KUBE_SYSTEM = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
KUBE_DNS = {"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}


@pytest.mark.parametrize(
    ("dns_rule", "udp", "tcp_"),
    [(rule([{**KUBE_SYSTEM, **KUBE_DNS}], tcp(53) + tcp(53, protocol="UDP")), True, True),
     (rule([KUBE_SYSTEM, KUBE_DNS], tcp(53) + tcp(53, protocol="UDP")), True, True),
     (rule([{**KUBE_SYSTEM, "podSelector": {"matchLabels": {"k8s-app": "coredns"}}}]), False,
      False),
     (rule([KUBE_DNS]), False, False),
     (rule([{**KUBE_SYSTEM, **KUBE_DNS}], tcp(53, protocol="UDP")), True, False),
     (rule([{**KUBE_SYSTEM, **KUBE_DNS}],
           [{"protocol": "UDP", "port": "dns"}, {"protocol": "TCP", "port": "dns-tcp"}]), True,
      True),
     (rule([{**KUBE_SYSTEM, **KUBE_DNS}],
           [{"protocol": "UDP", "port": "domain"}, {"protocol": "TCP", "port": "dns-tcp"}]),
      False, True)],
    ids=["and-peer", "or-peers", "wrong-pod-selector", "bare-pod-selector", "udp-only",
         "named-ports", "a-named-port-the-pod-lacks"],
)  # fmt: skip
def test_dns_egress_shapes(dns_rule, udp, tcp_, kube_api, tmp_path, capsys) -> None:
    _dns_only(kube_api, dns_rule)
    detail = judge(kube_api, tmp_path, capsys)["detail"]
    assert ("kube-dns:53/UDP" not in detail) == udp, detail
    assert ("kube-dns:53/TCP" not in detail) == tcp_, detail


def _ws_daemon_ports(fake: FakeKube, ports: list) -> str:
    install(fake)
    for p in fake.networkpolicies:
        if p["metadata"]["name"] == "ws-daemon":
            p["spec"]["ingress"] = [rule([gitpod("ws-manager")], ports)]
    return "ws-manager -> ws-daemon:8080/TCP"


@pytest.mark.parametrize(
    ("ports", "allowed"),
    [([{"protocol": "TCP", "port": "rpc"}], True),
     ([{"protocol": "TCP", "port": "grpc"}], False),
     ([{"protocol": "UDP", "port": 8080}], False),
     ([{"port": 8080}], True),
     ([{"protocol": "TCP", "port": 8000, "endPort": 8100}], True),
     ([{"protocol": "TCP", "port": 9000, "endPort": 9100}], False)],
    ids=["named-port", "a-named-port-the-pod-lacks", "8080-udp", "protocol-defaults-to-tcp",
         "end-port-in", "end-port-out"],
)  # fmt: skip
def test_port_shapes(ports, allowed, kube_api, tmp_path, capsys) -> None:
    flow = _ws_daemon_ports(kube_api, ports)
    assert (flow not in judge(kube_api, tmp_path, capsys)["detail"]) == allowed


def test_an_ip_block_except_covering_the_pods(kube_api, tmp_path, capsys) -> None:
    install(kube_api).networkpolicies.append(policy(
        "egress-out-only", NS, {"app": "gitpod", "component": "server"},
        egress=[rule([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]), DNS_RULE],
        types=["Egress"]))  # fmt: skip
    detail = judge(kube_api, tmp_path, capsys)["detail"]
    assert "server -> content-service:8080/TCP" in detail
    assert "refused by the egress of gitpod/egress-out-only" in detail
    assert "proxy -> server:3000/TCP" not in detail


def test_policies_elsewhere_change_nothing_but_kube_systems_do(kube_api, tmp_path, capsys):
    both = ["Ingress", "Egress"]
    install(kube_api).networkpolicies.append(policy("deny", "other", {}, types=both))
    assert judge(kube_api, tmp_path, capsys)["status"] == "pass"
    kube_api.networkpolicies.append(policy("deny", "kube-system", {}, types=["Ingress"]))
    detail = judge(kube_api, tmp_path, capsys)["detail"]
    assert "refused by the ingress of kube-system/deny" in detail and "kube-dns:53" in detail
    dns_in = [rule(None, tcp(53) + tcp(53, protocol="UDP"))]
    kube_api.networkpolicies.append(policy("dns-in", "kube-system", {"k8s-app": "kube-dns"},
                                           dns_in))  # fmt: skip
    assert judge(kube_api, tmp_path, capsys)["status"] == "pass"


def test_gitpod_in_another_namespace(kube_api, tmp_path, capsys) -> None:
    install(kube_api, ns="gitpod-prod")
    deny = copy.deepcopy(DEFAULT_DENY_INGRESS)
    deny["metadata"]["namespace"] = "gitpod-prod"
    kube_api.networkpolicies.append(deny)
    detail = judge(kube_api, tmp_path, capsys, ns="gitpod-prod")["detail"]
    assert "gitpod-prod/proxy-abc12 -> gitpod-prod/ide-proxy-abc12" in detail
