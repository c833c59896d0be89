"""A small, faithful fake of the Kubernetes API server: real HTTP, real JSON shapes.

It runs an aiohttp app on 127.0.0.1 in a thread of its own, so the exporter under test reaches
it through a kubeconfig exactly as it would a real cluster. It serves what the exporter reads
(version, nodes with limit/continue pagination and label selectors, namespaces, services,
pods with dry-run admission, CRDs, deployments, storage classes, cert-manager objects), node
watches (newline-delimited JSON events by resourceVersion, BOOKMARKs, an ERROR 410 for a
compacted version, streams that end or are cut), answers errors as metav1.Status, counts calls
per path and bytes sent for the API budget, and injects faults per path on demand (status
codes, slowness, dropped connections, 410 on continue).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.servers.kube_rbac import Authorizer, attributes

TOKEN = "fake-token-for-tests"


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None):
    """A metav1.Status, as the API server answers every error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def version_info(git_version: str) -> dict[str, str]:
    """VersionInfo with every field the client's model requires."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "1b4df30b3cdfeaba6024e81e559a6cd09a089d65",
        "gitTreeState": "clean",
        "buildDate": "2024-01-17T13:38:41Z",
        "goVersion": "go1.21.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def node(
    name: str,
    labels: dict[str, str] | None = None,
    *,
    ready: bool = True,
    unschedulable: bool = False,
    kubelet: str = "v1.28.5",
    runtime: str = "containerd://1.7.2",
    os_image: str = "Ubuntu 22.04.3 LTS",
    kernel: str = "5.15.0-1051-gke",
    cpu: str = "4",
    memory: str = "16393932Ki",
    provider_id: str = "",
    ready_since: str = "2024-01-01T00:05:00Z",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podCIDR": "10.4.0.0/24"}
    if provider_id:
        spec["providerID"] = provider_id
    if unschedulable:
        spec["unschedulable"] = True
        spec["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "4242",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **(labels or {}),
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": {
                "cpu": cpu,
                "memory": memory,
                "pods": "110",
                "ephemeral-storage": "98831908Ki",
            },
            "allocatable": {"cpu": "3920m", "memory": "13622348Ki", "pods": "110"},
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                },
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                {
                    "type": "Ready",
                    "status": "True" if ready else "Unknown",
                    "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                    "lastTransitionTime": ready_since,
                },
            ],
            "addresses": [{"type": "InternalIP", "address": "10.128.0.7"}],
            "nodeInfo": {
                "machineID": "m",
                "systemUUID": "s",
                "bootID": "b",
                "kernelVersion": kernel,
                "osImage": os_image,
                "containerRuntimeVersion": runtime,
                "kubeletVersion": kubelet,
                "kubeProxyVersion": kubelet,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def obj(kind: str, api_version: str, name: str, namespace: str = "", **rest: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{kind}-{name}", "resourceVersion": "1"}
    if namespace:
        meta["namespace"] = namespace
    meta.update(rest.pop("metadata", {}))
    return {"kind": kind, "apiVersion": api_version, "metadata": meta, **rest}


def endpoint_slice(
    name: str, namespace: str, service: str, port: int, endpoints: list[tuple[str, str]],
    *, not_ready: tuple[str, ...] = (), terminating: tuple[str, ...] = (),
) -> dict[str, Any]:  # fmt: skip
    """An EndpointSlice of `service` as the EndpointSlice controller writes it: one port named
    metrics, an endpoint per (address, node)."""
    eps = [
        {"addresses": [ip], "nodeName": node,
         "conditions": {"ready": ip not in not_ready and ip not in terminating,
                        "serving": ip not in not_ready, "terminating": ip in terminating},
         "targetRef": {"kind": "Pod", "namespace": namespace, "name": f"node-role-{node}"}}
        for ip, node in endpoints
    ]  # fmt: skip
    return obj("EndpointSlice", "discovery.k8s.io/v1", name, namespace, addressType="IPv4",
               endpoints=eps, ports=[{"name": "metrics", "port": port, "protocol": "TCP"}],
               metadata={"labels": {"kubernetes.io/service-name": service,
                                    "endpointslice.kubernetes.io/managed-by":
                                    "endpointslice-controller.k8s.io"}})  # fmt: skip


def configmap(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return obj("ConfigMap", "v1", name, namespace, data=data)


def secret(
    name: str, namespace: str, data: dict[str, str | bytes], type_: str = "Opaque"
) -> dict[str, Any]:
    """A Secret as the API server returns it: every value base64 in `data`."""
    encoded = {
        k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
        for k, v in data.items()
    }
    return obj("Secret", "v1", name, namespace, type=type_, data=encoded)


def _fields_match(selector: str, item: dict[str, Any]) -> bool:
    """A field selector of `a.b=value` terms, as the API server applies it to events."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, _, want = term.partition("=")
        value: Any = item
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if str(value if value is not None else "") != want:
            return False
    return True


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class Fault:
    status: int = 0
    delay: float = 0.0
    drop: bool = False  # close the connection without an answer
    body: bytes | None = None  # a raw (possibly garbage) 200 body
    # With status: the Status message repeats the request's Authorization header, then this
    # many bytes of padding (a server that echoes credentials, at length).
    echo_auth: int | None = None
    # A 200 whose body never ends: one byte every `dribble` seconds (0: as fast as it can).
    dribble: float | None = None


# Whether a dry-run pod is admitted: None admits, a string denies with that message.
Admission = Callable[[str, dict[str, Any]], str | None]


@dataclass
class FakeKube:
    url: str = ""
    git_version: str = "v1.28.5"
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=lambda: {"default", "kube-system"})
    services: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    crds: set[str] = field(default_factory=set)
    storage_classes: list[dict[str, Any]] = field(default_factory=list)
    cluster_issuers: list[dict[str, Any]] = field(default_factory=list)
    issuers: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    # By namespace/name: what the Gitpod installation keeps (ConfigMap gitpod, its Secrets).
    configmaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    daemonsets: dict[str, dict[str, Any]] = field(default_factory=dict)
    ippools: list[dict[str, Any]] = field(default_factory=list)  # empty: Calico's CRD absent
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Pods as they run (listed by label selector) and Events (listed by field selector).
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Writes taken as a real server takes them: node status PATCHes (by node), Events POSTed.
    status_patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    endpointslices: list[dict[str, Any]] = field(default_factory=list)
    networkpolicies: list[dict[str, Any]] = field(default_factory=list)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    admission: Admission = lambda namespace, pod: None
    faults: dict[str, Fault] = field(default_factory=dict)
    # Answer the next N list requests that carry a continue token with 410 Gone.
    expire_continue: int = 0
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    dry_run_bodies: list[dict[str, Any]] = field(default_factory=list)
    # RBAC as the API server enforces it; None allows everything.
    rbac: Authorizer | None = None
    created: list[dict[str, Any]] = field(default_factory=list)
    # Watches of nodes: a resourceVersion per change, the recent events (older ones are
    # compacted: a watch from before them gets 410 Gone), bookmarks, and the bytes sent.
    resource_version: int = 1000
    node_events: collections.deque[tuple[int, bytes]] = field(
        default_factory=lambda: collections.deque(maxlen=100_000)
    )
    compacted_rv: int = 0
    bookmark_interval: float = 60.0
    # A proxy that cuts watch streams: close each after this many events (0: never).
    cut_watch_after: int = 0
    # A hostile or broken server: this body on every watch instead of events.
    watch_body: bytes | None = None
    watches_started: int = 0
    watch_versions: list[int] = field(default_factory=list)  # resourceVersion of each watch
    bytes_sent: int = 0
    # Serve node lists from each node's JSON encoded once (benchmarks: put_node/delete_node
    # only, never in-place edits of `nodes`).
    cache_node_json: bool = False
    # A server that answers every list whole, whatever `limit` asks for.
    ignore_limit: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    _watchers: set[asyncio.Queue[tuple[int, bytes]]] = field(default_factory=set)
    _node_json: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- node changes, as watchers see them (callable from any thread) ---------------------
    def put_node(self, node: dict[str, Any]) -> None:
        with self._lock:
            self.resource_version += 1
            node["metadata"]["resourceVersion"] = str(self.resource_version)
            name = node["metadata"]["name"]
            kind = "MODIFIED" if name in self.nodes else "ADDED"
            self.nodes[name] = node
            self._node_json[name] = json.dumps(node).encode()
            self._event(kind, node)

    def delete_node(self, name: str) -> None:
        with self._lock:
            self.resource_version += 1
            node = self.nodes.pop(name)
            self._node_json.pop(name, None)
            node["metadata"]["resourceVersion"] = str(self.resource_version)
            self._event("DELETED", node)

    def end_watches(self) -> None:
        """End every open watch stream, as an API server restart or a proxy timeout does."""
        if self.loop is not None:
            for queue in list(self._watchers):
                self.loop.call_soon_threadsafe(queue.put_nowait, (-1, b""))

    def bump_version(self, by: int = 1) -> None:
        """Changes elsewhere in the cluster: the next bookmark carries a newer version."""
        with self._lock:
            self.resource_version += by

    def compact(self) -> None:
        """Forget every event so far: a watch from an older resourceVersion gets 410 Gone."""
        with self._lock:
            self.node_events.clear()
            self.compacted_rv = self.resource_version

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
        if len(self.node_events) == self.node_events.maxlen:
            self.compacted_rv = self.node_events[0][0]
        self.node_events.append((self.resource_version, line))
        if self.loop is not None:
            for queue in list(self._watchers):
                self.loop.call_soon_threadsafe(queue.put_nowait, (self.resource_version, line))

    def kubeconfig(self, path: Path, token: str = TOKEN, server: str = "") -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": server or self.url}}],
                    "users": [{"name": "tester", "user": {"token": token}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester"}}
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    # --- list helpers ---------------------------------------------------------------------
    def _list(self, request: web.Request, kind: str, api_version: str, items: list[dict[str, Any]]):
        selector = request.query.get("labelSelector", "")
        if selector:
            items = [
                i for i in items if _selector_matches(selector, i["metadata"].get("labels") or {})
            ]
        fields = request.query.get("fieldSelector", "")
        if fields:
            items = [i for i in items if _fields_match(fields, i)]
        offset = 0
        token = request.query.get("continue", "")
        if token:
            if self.expire_continue > 0:
                self.expire_continue -= 1
                return web.json_response(
                    status(410, "Expired", "The provided continue parameter is too old to "
                           "display a consistent list result."), status=410)  # fmt: skip
            try:
                offset = json.loads(base64.b64decode(token))["start"]
            except (ValueError, KeyError):
                return web.json_response(
                    status(400, "BadRequest", "invalid continue token"), status=400
                )
        limit = 0 if self.ignore_limit else int(request.query.get("limit", "0") or 0)
        page = items[offset : offset + limit] if limit else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if limit and offset + limit < len(items):
            meta["continue"] = base64.b64encode(
                json.dumps({"start": offset + limit}).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - offset - limit
        head = {"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta}
        if kind == "Node" and self.cache_node_json:
            encoded = [self._node_json[i["metadata"]["name"]] for i in page]
            body = json.dumps(head).encode()[:-1] + b', "items": [' + b",".join(encoded) + b"]}"
        else:
            body = json.dumps({**head, "items": page}).encode()
        self.bytes_sent += len(body)
        return web.Response(body=body, content_type="application/json")

    async def _watch_nodes(self, request: web.Request) -> web.StreamResponse:
        """A watch as the API server streams it: newline-delimited JSON events from the given
        resourceVersion on, BOOKMARKs when asked for, an ERROR event with 410 for a version
        older than what is kept, the end after timeoutSeconds."""
        since = int(request.query.get("resourceVersion") or 0)
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        bookmarks = request.query.get("allowWatchBookmarks") == "true"
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        self.watches_started += 1
        self.watch_versions.append(since)

        async def send(line: bytes) -> None:
            self.bytes_sent += len(line)
            await resp.write(line)

        if self.watch_body is not None:
            await send(self.watch_body)
            return resp

        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        with self._lock:
            self._watchers.add(queue)
            too_old = since < self.compacted_rv
            backlog = [(rv, line) for rv, line in self.node_events if rv > since]
        try:
            if too_old:
                gone = status(410, "Expired", f"too old resource version: {since} "
                              f"({self.compacted_rv})")  # fmt: skip
                await send(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                return resp
            sent, last = 0, since
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                if backlog:
                    rv, line = backlog.pop(0)
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return resp
                    wait = min(remaining, self.bookmark_interval) if bookmarks else remaining
                    try:
                        rv, line = await asyncio.wait_for(queue.get(), wait)
                        if rv < 0:
                            return resp  # end_watches
                    except TimeoutError:
                        if bookmarks and deadline - loop.time() > 0:
                            bookmark = {"kind": "Node", "apiVersion": "v1", "metadata": {
                                "resourceVersion": str(self.resource_version)}}  # fmt: skip
                            await send(json.dumps({"type": "BOOKMARK", "object": bookmark})
                                       .encode() + b"\n")  # fmt: skip
                        continue
                if rv <= last:
                    continue  # in the backlog and the queue both
                last = rv
                await send(line)
                sent += 1
                if self.cut_watch_after and sent >= self.cut_watch_after:
                    assert request.transport is not None
                    request.transport.close()
                    return resp
        finally:
            self._watchers.discard(queue)

    def app(self) -> web.Application:
        @web.middleware
        async def faults_and_auth(request: web.Request, handler: Any) -> web.StreamResponse:
            self.calls[request.path] += 1
            fault = self.faults.get(request.path)
            if fault and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault and fault.drop:
                assert request.transport is not None
                request.transport.close()
                raise asyncio.CancelledError
            if fault and fault.dribble is not None:
                resp = web.StreamResponse(headers={"Content-Type": "application/json"})
                await resp.prepare(request)
                await resp.write(b'{"kind": "')
                for _ in range(20_000):  # bounded, and only until the client goes away
                    if request.transport is None or request.transport.is_closing():
                        break
                    await resp.write(b"x" * (1 if fault.dribble else 65536))
                    await asyncio.sleep(fault.dribble)
                return resp
            if fault and fault.body is not None:
                return web.Response(body=fault.body, content_type="application/json")
            if fault and fault.status:
                message = "injected fault"
                if fault.echo_auth is not None:
                    auth = request.headers.get("Authorization", "")
                    message = f"denied for {auth}; " + "x" * fault.echo_auth
                return web.json_response(
                    status(fault.status, "InternalError", message), status=fault.status
                )
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response(status(401, "Unauthorized", "Unauthorized"), status=401)
            if self.rbac is not None:
                attrs = attributes(request.method, request.path, dict(request.query))
                if not self.rbac.allow(attrs):
                    return web.json_response(
                        status(403, "Forbidden", self.rbac.message(attrs)), status=403
                    )
            return await handler(request)

        def not_found(resource: str, name: str) -> web.Response:
            return web.json_response(
                status(404, "NotFound", f'{resource} "{name}" not found'), status=404
            )

        def in_ns(items: list[dict[str, Any]], ns: str) -> list[dict[str, Any]]:
            return [i for i in items if i["metadata"].get("namespace") == ns]

        async def version(_: web.Request) -> web.Response:
            return web.json_response(version_info(self.git_version))

        async def list_nodes(request: web.Request) -> web.StreamResponse:
            if request.query.get("watch") in ("true", "1"):
                return await self._watch_nodes(request)
            return self._list(request, "Node", "v1", list(self.nodes.values()))

        async def get_node(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            return (
                web.json_response(self.nodes[name])
                if name in self.nodes
                else not_found("nodes", name)
            )

        async def get_namespace(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if name not in self.namespaces:
                return not_found("namespaces", name)
            return web.json_response(obj("Namespace", "v1", name, status={"phase": "Active"}))

        async def list_services(request: web.Request) -> web.Response:
            return self._list(
                request, "Service", "v1", in_ns(self.services, request.match_info["ns"])
            )

        async def get_service(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            for svc in in_ns(self.services, request.match_info["ns"]):
                if svc["metadata"]["name"] == name:
                    return web.json_response(svc)
            return not_found("services", name)

        def by_name(store: dict[str, dict[str, Any]], resource: str):
            async def get(request: web.Request) -> web.Response:
                key = f"{request.match_info['ns']}/{request.match_info['name']}"
                if key not in store:
                    return not_found(resource, request.match_info["name"])
                return web.json_response(store[key])

            return get

        async def list_ippools(request: web.Request) -> web.Response:
            if not self.ippools:
                return not_found("ippools.crd.projectcalico.org", "")
            return self._list(request, "IPPool", "crd.projectcalico.org/v1", self.ippools)

        async def create_pod(request: web.Request) -> web.Response:
            ns = request.match_info["ns"]
            pod = await request.json()
            dry_run = request.query.get("dryRun") == "All"
            (self.dry_run_bodies if dry_run else self.created).append(pod)
            if ns not in self.namespaces:
                return not_found("namespaces", ns)
            denial = self.admission(ns, pod)
            if denial is not None:
                name = pod.get("metadata", {}).get("name") or pod.get("metadata", {}).get(
                    "generateName", ""
                )
                return web.json_response(
                    status(403, "Forbidden", f'pods "{name}" is forbidden: {denial}',
                           {"name": name, "kind": "pods"}), status=403)  # fmt: skip
            meta = {**pod.get("metadata", {}), "namespace": ns, "uid": "dry-run-uid"}
            meta.setdefault("name", meta.get("generateName", "pod-") + "x7k2q")
            answer = {
                **pod,
                "metadata": meta,
                "status": {"phase": "Pending", "qosClass": "BestEffort"},
            }
            return web.json_response(answer, status=201)

        async def cert_manager_discovery(_: web.Request) -> web.Response:
            kinds = {"certificates": "Certificate", "issuers": "Issuer",
                     "clusterissuers": "ClusterIssuer"}  # fmt: skip
            served = [
                {"name": plural, "singularName": kind.lower(), "kind": kind,
                 "namespaced": plural != "clusterissuers",
                 "verbs": ["get", "list", "watch", "create", "update", "delete"]}
                for plural, kind in kinds.items() if f"{plural}.cert-manager.io" in self.crds
            ]  # fmt: skip
            if not served:
                return web.json_response(status(404, "NotFound", "the server could not find "
                                                "the requested resource"), status=404)  # fmt: skip
            return web.json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                      "groupVersion": "cert-manager.io/v1",
                                      "resources": served})  # fmt: skip

        async def list_pods(request: web.Request) -> web.Response:
            return self._list(request, "Pod", "v1", in_ns(self.pods, request.match_info["ns"]))

        async def list_endpointslices(request: web.Request) -> web.Response:
            items = in_ns(self.endpointslices, request.match_info["ns"])
            return self._list(request, "EndpointSlice", "discovery.k8s.io/v1", items)

        async def patch_node_status(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if name not in self.nodes:
                return not_found("nodes", name)
            if request.content_type != "application/strategic-merge-patch+json":
                return web.json_response(status(415, "UnsupportedMediaType",
                                                request.content_type), status=415)  # fmt: skip
            body = await request.json()
            self.status_patches.append((name, body))
            node = self.nodes[name]
            conditions = node.setdefault("status", {}).setdefault("conditions", [])
            # Strategic merge: status.conditions merge by their `type` key.
            for patch in (body.get("status") or {}).get("conditions") or []:
                old = next((c for c in conditions if c.get("type") == patch.get("type")), None)
                if old is None:
                    conditions.append(dict(patch))
                else:
                    old.update(patch)
            node["metadata"]["resourceVersion"] = str(int(node["metadata"].get(
                "resourceVersion", "1")) + 1)  # fmt: skip
            return web.json_response(node)

        async def create_event(request: web.Request) -> web.Response:
            event = await request.json()
            ns = request.match_info["ns"]
            if ns != (event.get("metadata") or {}).get("namespace", ns):
                return web.json_response(status(400, "BadRequest", "namespace mismatch"),
                                         status=400)  # fmt: skip
            event.setdefault("metadata", {})["namespace"] = ns
            self.events.append(event)
            return web.json_response(event, status=201)

        async def list_networkpolicies(request: web.Request) -> web.Response:
            items = self.networkpolicies
            if "ns" in request.match_info:
                items = in_ns(items, request.match_info["ns"])
            return self._list(request, "NetworkPolicy", "networking.k8s.io/v1", items)

        async def list_namespaces(request: web.Request) -> web.Response:
            items = [obj("Namespace", "v1", n, status={"phase": "Active"},
                         metadata={"labels": {"kubernetes.io/metadata.name": n,
                                              **self.namespace_labels.get(n, {})}})
                     for n in sorted(self.namespaces)]  # fmt: skip
            return self._list(request, "Namespace", "v1", items)

        async def list_events(request: web.Request) -> web.Response:
            items = in_ns(self.events, request.match_info["ns"])
            return self._list(request, "Event", "v1", items)

        async def list_deployments(request: web.Request) -> web.Response:
            items = in_ns(self.deployments, request.match_info["ns"])
            return self._list(request, "Deployment", "apps/v1", items)

        async def list_storage_classes(request: web.Request) -> web.Response:
            return self._list(request, "StorageClass", "storage.k8s.io/v1", self.storage_classes)

        def cert_manager_missing(plural: str) -> web.Response | None:
            if f"{plural}.cert-manager.io" not in self.crds:
                return web.json_response(
                    status(404, "NotFound", "the server could not find the requested resource"),
                    status=404,
                )
            return None

        async def list_cluster_issuers(request: web.Request) -> web.Response:
            return cert_manager_missing("clusterissuers") or self._list(
                request, "ClusterIssuer", "cert-manager.io/v1", self.cluster_issuers)  # fmt: skip

        async def list_issuers(request: web.Request) -> web.Response:
            items = in_ns(self.issuers, request.match_info["ns"])
            return cert_manager_missing("issuers") or self._list(
                request, "Issuer", "cert-manager.io/v1", items
            )

        async def get_certificate(request: web.Request) -> web.Response:
            missing = cert_manager_missing("certificates")
            if missing:
                return missing
            name, ns = request.match_info["name"], request.match_info["ns"]
            for cert in in_ns(self.certificates, ns):
                if cert["metadata"]["name"] == name:
                    return web.json_response(cert)
            return not_found("certificates.cert-manager.io", name)

        app = web.Application(middlewares=[faults_and_auth])
        r = app.router
        r.add_get("/version", version)
        r.add_get("/version/", version)
        r.add_get("/api/v1/nodes", list_nodes)
        r.add_get("/api/v1/nodes/{name}", get_node)
        r.add_patch("/api/v1/nodes/{name}/status", patch_node_status)
        r.add_post("/api/v1/namespaces/{ns}/events", create_event)
        r.add_get("/api/v1/namespaces", list_namespaces)
        r.add_get("/api/v1/namespaces/{name}", get_namespace)
        r.add_get("/apis/networking.k8s.io/v1/networkpolicies", list_networkpolicies)
        r.add_get("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
                  list_networkpolicies)  # fmt: skip
        r.add_get("/api/v1/namespaces/{ns}/services", list_services)
        r.add_get("/api/v1/namespaces/{ns}/services/{name}", get_service)
        r.add_get(
            "/api/v1/namespaces/{ns}/configmaps/{name}", by_name(self.configmaps, "configmaps")
        )
        r.add_get("/api/v1/namespaces/{ns}/secrets/{name}", by_name(self.secrets, "secrets"))
        r.add_get(
            "/apis/apps/v1/namespaces/{ns}/daemonsets/{name}",
            by_name(self.daemonsets, "daemonsets.apps"),
        )
        r.add_get("/apis/crd.projectcalico.org/v1/ippools", list_ippools)
        r.add_post("/api/v1/namespaces/{ns}/pods", create_pod)
        r.add_get("/api/v1/namespaces/{ns}/pods", list_pods)
        r.add_get("/api/v1/namespaces/{ns}/events", list_events)
        r.add_get("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", list_endpointslices)
        r.add_get("/apis/cert-manager.io/v1", cert_manager_discovery)
        r.add_get("/apis/apps/v1/namespaces/{ns}/deployments", list_deployments)
        r.add_get("/apis/storage.k8s.io/v1/storageclasses", list_storage_classes)
        r.add_get("/apis/cert-manager.io/v1/clusterissuers", list_cluster_issuers)
        r.add_get("/apis/cert-manager.io/v1/namespaces/{ns}/issuers", list_issuers)
        r.add_get("/apis/cert-manager.io/v1/namespaces/{ns}/certificates/{name}", get_certificate)
        return app


@contextlib.contextmanager
def running(fake: FakeKube) -> Iterator[FakeKube]:
    """Serve `fake` on a random 127.0.0.1 port from a background thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=0.2)

    fake.loop = loop

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def kube_api() -> Iterator[FakeKube]:
    with running(FakeKube()) as fake:
        yield fake
