"""`bundle`: everything support asks for, but the secrets, in one gzip tar.

    cluster/report.json     the cluster checks, once (as check --output json)
    nodes/<node>.json       each node-role pod's /report.json (nodes/<node>.error.txt: why not)
    gitpod/config.yaml      the installer config, every value under a secret-looking key redacted
    gitpod/pods.json        the Gitpod namespace's pods: node, phase, conditions, containers'
                            states and restarts (never env, args or mounted content)
    gitpod/events.json      that namespace's events of the last hour, messages scrubbed
    versions.json           Kubernetes' and the exporter's

The cluster report reads only the Secrets the checks name, by name, as `check` does; the
Secrets the installer config references are read by name too, so that their values (raw and
base64) can be taken out of everything written. Every file passes through the scrubber
before it is written; every read is bounded as the checks' are."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from exporter import __version__, report, safeyaml
from exporter.checks.node.pod_network import peers_of
from exporter.installation import Installation
from exporter.kube import Kube, KubeError, path
from exporter.model import CheckError, NotConfigured
from exporter.parse import ParseError, timestamp
from exporter.runtime import Loaded, Options, build
from exporter.scheduler import run_job
from exporter.scrub import REDACTED, scrub

# Keys whose values are credentials, in any spelling (jwtSecret, client_secret, apiToken...).
SECRET_KEY = re.compile(r"pass(word|wd)?|token|secret|key|credential", re.IGNORECASE)
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
EVENTS_WINDOW = 3600.0
NODE_TIMEOUT = 5.0
MAX_NODE_REPORT = 1 << 20
NODE_CONCURRENCY = 16
MAX_SECRET_VALUES = 2000


def redacted(doc: Any, depth: int = 0) -> Any:
    """The document with every value under a secret-looking key replaced (whatever its type)."""
    if depth > 64:
        return REDACTED
    if isinstance(doc, Mapping):
        return {str(k): REDACTED if SECRET_KEY.search(str(k)) else redacted(v, depth + 1)
                for k, v in doc.items()}  # fmt: skip
    if isinstance(doc, list):
        return [redacted(v, depth + 1) for v in doc]
    return doc


def secret_like(doc: Any, found: set[str], depth: int = 0) -> None:
    """The string values under secret-looking keys, to scrub wherever else they appear."""
    if depth > 64 or len(found) > MAX_SECRET_VALUES:
        return
    if isinstance(doc, Mapping):
        for k, v in doc.items():
            if SECRET_KEY.search(str(k)) and isinstance(v, str | int) and len(str(v)) >= 4:
                found.add(str(v))
            secret_like(v, found, depth + 1)
    elif isinstance(doc, list):
        for v in doc:
            secret_like(v, found, depth + 1)


def _strings(text: str) -> set[str]:
    """Every string in a JSON value (a .dockerconfigjson's password and auth)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return set()
    found: set[str] = set()
    stack, seen = [doc], 0
    while stack and seen < MAX_SECRET_VALUES:
        item, seen = stack.pop(), seen + 1
        if isinstance(item, str) and len(item) >= 8:
            found.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def with_encodings(values: set[str]) -> set[str]:
    """Each value as it may appear: raw, base64 (a Secret's data), and stripped."""
    out: set[str] = set()
    for value in values:
        value = value.strip()
        if len(value) < 4:
            continue
        out |= {value, base64.b64encode(value.encode()).decode()}
    return out


class Scrubber:
    def __init__(self, secrets: set[str]) -> None:
        self.secrets = with_encodings(secrets)

    def __call__(self, text: str) -> str:
        text = BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return scrub(text, self.secrets, limit=len(text) + 1)


def pod_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    """What support needs of a pod: never env, args, command or volumes' content."""
    meta, spec, status = (
        item.get("metadata") or {},
        item.get("spec") or {},
        item.get("status") or {},
    )

    def container(c: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": c.get("name"), "ready": c.get("ready"),
                "restartCount": c.get("restartCount"), "state": c.get("state"),
                "lastState": c.get("lastState"), "image": c.get("image")}  # fmt: skip

    return {
        "name": meta.get("name"),
        "node": spec.get("nodeName"),
        "phase": status.get("phase"),
        "conditions": status.get("conditions") or [],
        "initContainers": [
            container(c)
            for c in status.get("initContainerStatuses") or []
            if isinstance(c, Mapping)
        ],
        "containers": [
            container(c) for c in status.get("containerStatuses") or [] if isinstance(c, Mapping)
        ],
    }


def event_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    obj = item.get("involvedObject") or {}
    return {"type": item.get("type"), "reason": item.get("reason"),
            "object": f"{obj.get('kind', '')}/{obj.get('name', '')}",
            "message": str(item.get("message") or "")[:2000], "count": item.get("count"),
            "lastTimestamp": item.get("lastTimestamp") or item.get("eventTime")}  # fmt: skip


async def _node_report(host: str, port: int, scheme: str, auth: str) -> bytes:
    """A node-role pod's /report.json, bounded (a hostile pod cannot flood the bundle)."""
    import ssl

    context = None
    if scheme == "https":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        header = f"GET /report.json HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        if auth:
            header += f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
        writer.write((header + "\r\n").encode())
        status = await reader.readline()
        if not status.startswith(b"HTTP/1.") or status.split(b" ", 2)[1:2] != [b"200"]:
            raise ParseError(f"answered {status[:60]!r}")
        while (await reader.readline()).strip():
            pass
        body = bytearray()
        while chunk := await reader.read(65536):
            body += chunk
            if len(body) > MAX_NODE_REPORT:
                raise ParseError(f"its report is larger than {MAX_NODE_REPORT} bytes")
        json.loads(body)  # a report, not something else
        return bytes(body)
    finally:
        writer.transport.abort()


async def collect(
    options: Options,
    loaded: Loaded,
    node_service: str,
    node_namespace: str,
    node_auth: str = "",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, bytes]:
    """The bundle's files, scrubbed."""
    files: dict[str, Any] = {}
    timeout = 10.0
    with ThreadPoolExecutor(loaded.config.thread_pool_size, thread_name_prefix="check") as pool:
        runtime = build(options, loaded, pool)
        progress(f"running {len(runtime.jobs)} cluster checks")
        runs = await asyncio.gather(*(run_job(job) for job in runtime.jobs))
        records = {r.requirement.id: r for batch in runs for r in batch}
        files["cluster/report.json"] = report.as_dict(
            options.role, [r.requirement for r in records.values()], records
        )
        kube, inst = runtime.kube, runtime.jobs[0].ctx.installation
        assert isinstance(kube, Kube) and inst is not None
        secrets: set[str] = set()
        progress("reading the installer config")
        files["gitpod/config.yaml"] = await _config(inst, secrets, timeout)
        ns = inst.namespace
        for name, fetch, convert in (
            ("gitpod/pods.json", f"/api/v1/namespaces/{ns}/pods", pod_summary),
            ("gitpod/events.json", f"/api/v1/namespaces/{ns}/events", event_summary),
        ):
            progress(f"listing {name}")
            try:
                items = await kube.list_all(path(fetch), timeout, convert)
            except (CheckError, NotConfigured) as exc:
                items = [{"error": str(exc)}]
            if name.endswith("events.json"):
                since = time.time() - EVENTS_WINDOW
                items = [e for e in items if "error" in e
                         or timestamp(e.get("lastTimestamp")) >= since]  # fmt: skip
            files[name] = items
        try:
            files["versions.json"] = {"kubernetes": await kube.version(timeout),
                                      "exporter": __version__}  # fmt: skip
        except (CheckError, NotConfigured) as exc:
            files["versions.json"] = {"kubernetes": {"error": str(exc)}, "exporter": __version__}
        files.update(await _nodes(kube, loaded, node_service, node_namespace, node_auth,
                                  progress))  # fmt: skip
    clean = Scrubber(secrets)
    out: dict[str, bytes] = {}
    for name, content in files.items():
        if isinstance(content, bytes) and name.endswith(".json"):
            content = json.loads(content)  # a node's report: scrubbed value by value
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        if isinstance(content, str):
            out[name] = clean(content).encode()
        else:
            out[name] = json.dumps(_strings_scrubbed(content, clean), indent=2).encode()
    return out


def _strings_scrubbed(doc: Any, clean: Callable[[str], str], depth: int = 0) -> Any:
    """A JSON document with every string (keys included) scrubbed: it stays JSON."""
    if depth > 64:
        return None
    if isinstance(doc, str):
        return clean(doc)
    if isinstance(doc, dict):
        return {clean(str(k)): _strings_scrubbed(v, clean, depth + 1) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_strings_scrubbed(v, clean, depth + 1) for v in doc]
    return doc


async def _config(inst: Installation, secrets: set[str], timeout: float) -> str:
    """The installer config, redacted; what it and its Secrets hold, to scrub elsewhere."""
    try:
        text, origin, _ = await inst.raw(timeout)
    except (CheckError, NotConfigured) as exc:
        return f"# not read: {exc}\n"
    try:
        doc = await asyncio.get_running_loop().run_in_executor(None, safeyaml.load, text, origin)
    except ParseError as exc:
        return f"# {origin} is not YAML: {exc}\n"
    secret_like(doc, secrets)
    try:
        cfg, _ = await inst.stated(timeout)
        for ref in cfg.secrets:
            try:
                data = await inst.secret(ref.name, timeout)
            except (CheckError, NotConfigured):
                continue
            for key, value in data.items():
                # The credentials of a Secret (password, tls.key, a .dockerconfigjson), not
                # its host, port or user name, which the report needs to be read.
                if not (SECRET_KEY.search(key) or "dockerconfig" in key or key == "auth"):
                    continue
                text_value = value.decode("utf-8", "replace")
                secrets.add(text_value)
                secrets.update(ln for ln in text_value.splitlines() if len(ln) >= 8)
                secrets.update(_strings(text_value))
    except (CheckError, NotConfigured):
        pass
    header = f"# {origin}, every value under a secret-looking key redacted\n"
    return header + yaml.safe_dump(redacted(doc), sort_keys=False)


async def _nodes(
    kube: Kube, loaded: Loaded, service: str, namespace: str, auth: str,
    progress: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    try:
        slices = await kube.list_all(
            path("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", ns=namespace),
            10.0, labelSelector=f"kubernetes.io/service-name={service}",
        )  # fmt: skip
    except (KubeError, CheckError, NotConfigured) as exc:
        return {"nodes/error.txt": f"the node role's pods were not found: {exc}\n"}
    from exporter.checks.node.pod_network import Settings as PeerSettings

    peer_settings = loaded.config.for_check("node_pod_network", PeerSettings)
    scheme = peer_settings.scheme if isinstance(peer_settings, PeerSettings) else "http"
    peers = peers_of(slices, namespace).peers
    progress(f"asking {len(peers)} node-role pods for their reports")
    limit = asyncio.Semaphore(NODE_CONCURRENCY)
    out: dict[str, Any] = {}

    async def one(peer: Any) -> None:
        async with limit:
            try:
                body = await asyncio.wait_for(
                    _node_report(peer.ip, peer.port, scheme, auth), NODE_TIMEOUT
                )
            except (OSError, TimeoutError, ParseError, ValueError) as exc:
                why = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
                out[f"nodes/{peer.node}.error.txt"] = f"{peer}: {why or type(exc).__name__}\n"
                return
            out[f"nodes/{peer.node}.json"] = body

    await asyncio.gather(*(one(p) for p in peers))
    return out


def write(files: Mapping[str, bytes], output: Path) -> None:
    with tarfile.open(output, "w:gz") as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))


def progress_printer() -> Callable[[str], None]:
    if not sys.stderr.isatty():
        return lambda _: None
    return lambda message: print(f"... {message}", file=sys.stderr, flush=True)
