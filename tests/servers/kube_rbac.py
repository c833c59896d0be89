"""RBAC as kube-apiserver's authorizer applies it, for the fake API server: the rules bound to
one ServiceAccount by rendered (Cluster)Roles and (Cluster)RoleBindings, the request
attributes the API server derives from a request, and a record of which rule served what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    verb: str
    path: str
    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    resource_request: bool = True


def attributes(method: str, path: str, query: dict[str, str]) -> Attributes:
    """The request attributes of kube-apiserver's RequestInfoResolver, for the paths we serve."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return Attributes(method.lower(), path, resource_request=False)
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if not rest:  # /api/v1, /apis/<group>/<version>: discovery
        return Attributes(method.lower(), path, resource_request=False)
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") == "true" else "list")
    else:
        verb = VERBS[method]
    return Attributes(verb, path, group, resource, namespace, name)


@dataclass(frozen=True)
class Grant:
    """One PolicyRule as bound: `namespace` empty for a ClusterRoleBinding (every namespace)."""

    namespace: str
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def allows(self, a: Attributes) -> bool:
        if a.verb not in self.verbs and "*" not in self.verbs:
            return False
        if not a.resource_request:
            return any(u == a.path or (u.endswith("*") and a.path.startswith(u[:-1]))
                       for u in self.non_resource_urls)  # fmt: skip
        return (
            (not self.namespace or self.namespace == a.namespace)
            and (a.group in self.api_groups or "*" in self.api_groups)
            and (a.resource in self.resources or "*" in self.resources)
            and (not self.resource_names or a.name in self.resource_names)
        )

    def pieces(self) -> set[tuple[str, ...]]:
        """Each (verb, what) this grant permits, to prove every one of them is used."""
        if self.non_resource_urls:
            return {(v, u) for v in self.verbs for u in self.non_resource_urls}
        return {
            (self.namespace, v, g, r, n)
            for v in self.verbs
            for g in self.api_groups
            for r in self.resources
            for n in self.resource_names or ("",)
        }


def _rule(namespace: str, rule: dict[str, Any]) -> Grant:
    return Grant(
        namespace,
        tuple(rule.get("verbs", ())),
        tuple(rule.get("apiGroups", ())),
        tuple(rule.get("resources", ())),
        tuple(rule.get("resourceNames", ())),
        tuple(rule.get("nonResourceURLs", ())),
    )


def grants_for(objects: list[dict[str, Any]], sa_namespace: str, sa_name: str) -> list[Grant]:
    def key(o: dict[str, Any]) -> tuple[str, str, str]:
        return o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]

    roles = {key(o): o for o in objects if o["kind"] in ("Role", "ClusterRole")}
    subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
    grants: list[Grant] = []
    for b in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if subject not in b.get("subjects", []):
            continue
        ref = b["roleRef"]
        binding_ns = b["metadata"].get("namespace", "") if b["kind"] == "RoleBinding" else ""
        role_ns = binding_ns if ref["kind"] == "Role" else ""
        role = roles[(ref["kind"], role_ns, ref["name"])]
        grants += [_rule(binding_ns, r) for r in role.get("rules", [])]
    return grants


@dataclass
class Authorizer:
    user: str
    grants: list[Grant]
    denied: list[Attributes] = field(default_factory=list)
    used: set[tuple[str, ...]] = field(default_factory=set)

    def allow(self, a: Attributes) -> bool:
        for g in self.grants:
            if g.allows(a):
                if a.resource_request:
                    self.used.add((g.namespace, a.verb, a.group, a.resource,
                                   a.name if g.resource_names else ""))  # fmt: skip
                else:
                    self.used.add((a.verb, a.path))
                return True
        self.denied.append(a)
        return False

    def granted(self) -> set[tuple[str, ...]]:
        return {p for g in self.grants for p in g.pieces()}

    def message(self, a: Attributes) -> str:
        if not a.resource_request:
            return f'forbidden: User "{self.user}" cannot {a.verb} path "{a.path}"'
        where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        return (
            f'{a.resource} "{a.name}" is forbidden: ' if a.name else f"{a.resource} is forbidden: "
        ) + (
            f'User "{self.user}" cannot {a.verb} resource "{a.resource}" in API group '
            f'"{a.group}" {where}'
        )
