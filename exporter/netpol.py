"""Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), for judging from the API alone
whether a connection between two pods is allowed, as the API reference and kubernetes/kubernetes'
test/e2e/network/netpol define it:

- policies are additive: a pod selected by several is allowed the union of their rules;
- a connection needs the source's egress and the destination's ingress to allow it;
- a pod is isolated in a direction only by a policy that selects it with that direction in
  policyTypes (defaulted by the API server: Ingress, plus Egress when there are egress rules);
- in a peer, namespaceSelector and podSelector together mean both (AND); separate peers are
  alternatives (OR); a podSelector alone means the policy's own namespace;
- an empty from/to/ports list matches everything; protocol defaults to TCP;
- a named port matches only a container port of that name and protocol on the destination pod;
  endPort makes a range; ipBlock (with except) matches the pod's IP.

Pure and linear in what it is given: the facts come from the API already parsed and bounded."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_RULES = 64  # per policy and direction
MAX_ITEMS = 64  # peers or ports per rule, expressions per selector


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str
    # container ports: (name, number, protocol)
    ports: tuple[tuple[str, int, str], ...] = ()


@dataclass(frozen=True)
class Selector:
    """A label selector; None fields mean absent."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for k, v in self.match_labels.items():
            if labels.get(k) != v:
                return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In" and (not present or labels[key] not in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                return False  # the API server refuses it; match nothing
        return True


@dataclass(frozen=True)
class Peer:
    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    cidr: str = ""
    excepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortRule:
    protocol: str = "TCP"
    port: int | str | None = None  # None: every port
    end_port: int | None = None


@dataclass(frozen=True)
class Rule:
    peers: tuple[Peer, ...] = ()  # empty: everything
    ports: tuple[PortRule, ...] = ()  # empty: every port


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    ingress: tuple[Rule, ...] | None  # None: not isolating ingress
    egress: tuple[Rule, ...] | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def selector(doc: Any) -> Selector | None:
    if not isinstance(doc, Mapping):
        return None
    labels = doc.get("matchLabels") or {}
    exprs = []
    for e in (doc.get("matchExpressions") or [])[:MAX_ITEMS]:
        if isinstance(e, Mapping):
            values = tuple(str(v) for v in (e.get("values") or [])[:MAX_ITEMS])
            exprs.append((str(e.get("key", "")), str(e.get("operator", "")), values))
    if not isinstance(labels, Mapping):
        labels = {}
    return Selector({str(k): str(v) for k, v in labels.items()}, tuple(exprs))


def _rules(items: Any, side: str) -> tuple[Rule, ...]:
    rules = []
    for r in (items or [])[:MAX_RULES]:
        if not isinstance(r, Mapping):
            continue
        peers = []
        for p in (r.get(side) or [])[:MAX_ITEMS]:
            if not isinstance(p, Mapping):
                continue
            block = p.get("ipBlock")
            block = block if isinstance(block, Mapping) else {}
            excepts = tuple(str(x) for x in (block.get("except") or [])[:MAX_ITEMS])
            peers.append(Peer(selector(p.get("podSelector")), selector(p.get("namespaceSelector")),
                              str(block.get("cidr", "")), excepts))  # fmt: skip
        ports = []
        for p in (r.get("ports") or [])[:MAX_ITEMS]:
            if not isinstance(p, Mapping):
                continue
            port = p.get("port")
            end = p.get("endPort")
            ports.append(PortRule(str(p.get("protocol") or "TCP").upper(),
                                  port if isinstance(port, int | str) else None,
                                  end if isinstance(end, int) else None))  # fmt: skip
        rules.append(Rule(tuple(peers), tuple(ports)))
    return tuple(rules)


def policy(doc: Mapping[str, Any]) -> Policy:
    """A NetworkPolicy as the API returns it, with the API server's defaults applied."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    types = spec.get("policyTypes")
    if not isinstance(types, list) or not types:
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return Policy(
        str(meta.get("namespace", ""))[:253],
        str(meta.get("name", ""))[:253],
        selector(spec.get("podSelector")) or Selector(),
        _rules(spec.get("ingress"), "from") if "Ingress" in types else None,
        _rules(spec.get("egress"), "to") if "Egress" in types else None,
    )


def _in_cidr(ip: str, peer: Peer) -> bool:
    try:
        address = ipaddress.ip_address(ip)
        if address not in ipaddress.ip_network(peer.cidr, strict=False):
            return False
        return not any(address in ipaddress.ip_network(x, strict=False) for x in peer.excepts)
    except ValueError:
        return False


NamespaceLabels = Mapping[str, Mapping[str, str]]


def _peer_matches(peer: Peer, pod: Pod, policy_ns: str, ns_labels: NamespaceLabels) -> bool:
    if peer.cidr:
        return _in_cidr(pod.ip, peer)
    if peer.namespace_selector is not None:
        if not peer.namespace_selector.matches(ns_labels.get(pod.namespace, {})):
            return False
    elif pod.namespace != policy_ns:
        return False  # a podSelector alone: the policy's own namespace
    return peer.pod_selector is None or peer.pod_selector.matches(pod.labels)


def _port_matches(rule: PortRule, dst: Pod, port: int, protocol: str) -> bool:
    if rule.protocol != protocol:
        return False
    if rule.port is None:
        return True
    if isinstance(rule.port, str) and not rule.port.isdigit():
        # A named port: a container port of that name and protocol on the destination pod.
        return any(n == rule.port and p == port and proto == protocol for n, p, proto in dst.ports)
    first = int(rule.port)
    return first <= port <= (rule.end_port or first)


def _rule_matches(rule: Rule, other: Pod, dst: Pod, port: int, protocol: str, policy_ns: str,
                  ns_labels: Mapping[str, Mapping[str, str]]) -> bool:  # fmt: skip
    peers_ok = not rule.peers or any(_peer_matches(p, other, policy_ns, ns_labels)
                                     for p in rule.peers)  # fmt: skip
    ports_ok = not rule.ports or any(_port_matches(r, dst, port, protocol) for r in rule.ports)
    return peers_ok and ports_ok


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    side: str = ""  # ingress | egress: which side refuses
    policies: tuple[str, ...] = ()  # the policies isolating that side


def judge(src: Pod, dst: Pod, port: int, protocol: str, policies: list[Policy],
          ns_labels: Mapping[str, Mapping[str, str]]) -> Verdict:  # fmt: skip
    """Whether `src` may open `port`/`protocol` to `dst` under `policies`."""
    egress = [p for p in policies if p.namespace == src.namespace and p.egress is not None
              and p.pod_selector.matches(src.labels)]  # fmt: skip
    if egress and not any(
        _rule_matches(r, dst, dst, port, protocol, p.namespace, ns_labels)
        for p in egress for r in p.egress or ()
    ):  # fmt: skip
        return Verdict(False, "egress", tuple(p.key for p in egress))
    ingress = [p for p in policies if p.namespace == dst.namespace and p.ingress is not None
               and p.pod_selector.matches(dst.labels)]  # fmt: skip
    if ingress and not any(
        _rule_matches(r, src, dst, port, protocol, p.namespace, ns_labels)
        for p in ingress for r in p.ingress or ()
    ):  # fmt: skip
        return Verdict(False, "ingress", tuple(p.key for p in ingress))
    return Verdict(True)
