"""The metric contract in one place: every family the exporter defines is declared here
(docs/metrics.md's table is tested against this file), and the collector that renders the Store
from it: no I/O, no awaits, no checks. What the checks found is rendered once per change of the
Store (Exposition); only the small part that must be fresh is rendered at each scrape."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from exporter import __version__
from exporter.model import Sample, Status
from exporter.store import Store


@dataclass(frozen=True)
class Family:
    """A family: its name, help text and label names (the node role adds `node`); a gauge
    unless `kind` says counter or histogram."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    kind: str = "gauge"

    def sample(self, value: float, *label_values: str) -> Sample:
        """One observed value of this family, for a check's Result."""
        if len(label_values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {label_values}")
        if self.kind == "histogram":
            raise ValueError(f"{self.name} is a histogram: use histogram()")
        return Sample(
            self.name,
            self.documentation,
            value,
            tuple(zip(self.labels, label_values, strict=True)),
            self.kind,
        )

    def histogram(
        self, buckets: tuple[tuple[str, float], ...], total: float, *label_values: str
    ) -> Sample:
        """A histogram's state: cumulative counts by upper bound ("+Inf" last) and the sum."""
        if self.kind != "histogram" or not buckets or buckets[-1][0] != "+Inf":
            raise ValueError(f"{self.name}: not a histogram, or no +Inf bucket")
        labels = tuple(zip(self.labels, label_values, strict=True))
        return Sample(self.name, self.documentation, total, labels, "histogram", buckets)

    def gauge(self, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=[*self.labels, *extra])

    def counter(self) -> CounterMetricFamily:
        assert self.name.endswith("_total"), self.name
        return CounterMetricFamily(self.name, self.documentation, labels=list(self.labels))


# --- Every requirement: the catalogue and the state of its check ---------------------------
REQUIREMENT_INFO = Family(
    "gitpod_requirement_info",
    "The requirement catalogue: one series per requirement, value 1.",
    ("requirement", "title", "scope", "doc_url"),
)
REQUIREMENT_SATISFIED = Family(
    "gitpod_requirement_satisfied",
    "1 if the requirement is met, 0 if not; absent while unknown (error or skipped).",
    ("requirement", "severity"),
)
REQUIREMENT_CHECK_UP = Family(
    "gitpod_requirement_check_up",
    "1 if the check reached a verdict, 0 if it errored or timed out.",
    ("requirement",),
)
REQUIREMENT_CONFIGURED = Family(
    "gitpod_requirement_configured",
    "1 if the check is configured and running, 0 if skipped.",
    ("requirement",),
)
REQUIREMENT_CHECK_DURATION = Family(
    "gitpod_requirement_check_duration_seconds",
    "Duration of the last run of the check.",
    ("requirement",),
)
REQUIREMENT_LAST_CHECK = Family(
    "gitpod_requirement_last_check_timestamp_seconds",
    "Unix time at which the last run of the check ended.",
    ("requirement",),
)
REQUIREMENT_CHECK_INTERVAL = Family(
    "gitpod_requirement_check_interval_seconds",
    "The configured interval between runs of the check.",
    ("requirement",),
)
REQUIREMENT_REASON_INFO = Family(
    "gitpod_requirement_reason_info",
    "Why the requirement is not met or not checked, as a short enum; value 1.",
    ("requirement", "reason"),
)

# --- The exporter itself ---------------------------------------------------------------
BUILD_INFO = Family("gitpod_exporter_build_info", "The exporter's version; value 1.", ("version",))
CONFIG_RELOAD_SUCCESSFUL = Family(
    "gitpod_exporter_config_last_reload_successful",
    "1 if the last config (re)load succeeded, 0 if it failed.",
)
CONFIG_RELOAD_SUCCESS_TIMESTAMP = Family(
    "gitpod_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful config (re)load.",
)

ABANDONED_THREADS = Family(
    "gitpod_exporter_abandoned_threads",
    "Pool threads still running a dependency call whose check already timed out.",
)

# --- The cluster role's node cache (exporter/nodewatch.py) -------------------------------
KUBERNETES_WATCH_UP = Family(
    "gitpod_kubernetes_watch_up",
    "1 while the cluster role's cache of a resource follows a watch; 0 while it relists.",
    ("resource",),
)
KUBERNETES_CACHE_OBJECTS = Family(
    "gitpod_kubernetes_cache_objects",
    "Objects of a resource in the cluster role's cache.",
    ("resource",),
)
KUBERNETES_RELISTS = Family(
    "gitpod_kubernetes_relists_total",
    "Full LISTs of a resource after the first (410 Gone, a lost watch, relisting instead).",
    ("resource",),
)
KUBERNETES_WATCH_EVENTS = Family(
    "gitpod_kubernetes_watch_events_total",
    "Watch events received for a resource, bookmarks included.",
    ("resource",),
)
KUBERNETES_CACHE_LAST_SYNC = Family(
    "gitpod_kubernetes_cache_last_sync_timestamp_seconds",
    "Unix time of the last LIST or watch event that brought a resource's cache up to date.",
    ("resource",),
)

# --- Observed values: every family a check's Samples may carry (docs/metrics.md) ---
COMPATIBILITY_INFO = Family(
    "gitpod_compatibility_info",
    "What a component was seen as, judged against a release of Gitpod's compatibility matrix; "
    "value 1.",
    ("component", "observed", "release"),
)
CERT_MANAGER_CERTIFICATES_NOT_READY = Family(
    "gitpod_cert_manager_certificates_not_ready",
    "Configured Certificates that are not Ready.",
    (),
)
CERT_MANAGER_DEPLOYMENTS_AVAILABLE = Family(
    "gitpod_cert_manager_deployments_available",
    "cert-manager Deployments that are Available.",
    (),
)
CERT_MANAGER_ISSUERS_READY = Family(
    "gitpod_cert_manager_issuers_ready",
    "Ready Issuers and ClusterIssuers.",
    (),
)
CLUSTER_DEFAULT_STORAGE_CLASSES = Family(
    "gitpod_cluster_default_storage_classes",
    "StorageClasses marked as default.",
    (),
)
CLUSTER_DISTRIBUTION_INFO = Family(
    "gitpod_cluster_distribution_info",
    "The detected Kubernetes distribution.",
    ("distribution",),
)
CLUSTER_WORKLOAD_ADMITTED = Family(
    "gitpod_cluster_workload_admitted",
    "1 if admission let the dry-run of the Gitpod workload shape in, 0 if it refused it.",
    ("shape",),
)
CLUSTER_GITPOD_NODES = Family(
    "gitpod_cluster_gitpod_nodes",
    "Nodes carrying a Gitpod workload label.",
    (),
)
CLUSTER_KUBELET_UNSUPPORTED_NODES = Family(
    "gitpod_cluster_kubelet_unsupported_nodes",
    "Nodes whose kubelet version is outside the supported range.",
    (),
)
CLUSTER_LOADBALANCER_CONNECT_DURATION_SECONDS = Family(
    "gitpod_cluster_loadbalancer_connect_duration_seconds",
    "TCP connect time to a LoadBalancer address.",
    ("service", "port"),
)
CLUSTER_LOADBALANCER_SERVICES = Family(
    "gitpod_cluster_loadbalancer_services",
    "LoadBalancer Services by state.",
    ("state",),
)
CLUSTER_NODE_POOLS_SHARED_NODES = Family(
    "gitpod_cluster_node_pools_shared_nodes",
    "Nodes that carry labels of both sides of a recommended pool split.",
    ("split",),
)
NODE_CONTAINERD_CRI_INFO = Family(
    "gitpod_node_containerd_cri_info",
    "containerd's effective CRI config as its verbose Status reports it (value 1): the "
    "snapshotter and the registry config_path (where per-registry certificates are read).",
    ("snapshotter", "config_path"),
)
NODE_MAX_USER_NAMESPACES = Family(
    "gitpod_node_max_user_namespaces",
    "user.max_user_namespaces: how many user namespaces the kernel lets be created (0: none).",
)
NODE_KERNEL_FEATURES_MISSING = Family(
    "gitpod_node_kernel_features_missing",
    "Kernel features workspaces need (veth, nf_tables, nft_chain_nat, nft_masq, overlay) that "
    "are neither loaded, built in nor loadable.",
)
NODE_FILESYSTEM_FREE_BYTES = Family(
    "gitpod_node_filesystem_free_bytes",
    "Bytes free (to unprivileged users) on the filesystem holding `path`: ws-daemon's "
    "workspace location and containerd's root (node_workspace_disk).",
    ("path",),
)
NODE_CGROUP_VERSION = Family(
    "gitpod_node_cgroup_version",
    "The cgroup version the node runs: 2 (unified hierarchy) or 1.",
)
NODE_PEERS = Family(
    "gitpod_node_peers",
    "Node-role pods on other nodes this node knows from its Service's EndpointSlices.",
)
NODE_PEER_PROBES = Family(
    "gitpod_node_peer_probes_total",
    "Probes of peers' /healthz over the pod network by this node, by result (success, "
    "timeout, refused, error); at most `peers` a round.",
    ("result",),
    kind="counter",
)
NODE_PEER_RTT = Family(
    "gitpod_node_peer_rtt_seconds",
    "Round trip of the successful peer probes (connect, request, status line); no per-peer "
    "labels, so the series do not grow with the cluster.",
    kind="histogram",
)
NODE_PEER_UNREACHABLE = Family(
    "gitpod_node_peer_unreachable",
    "A peer this node failed to reach twice in a row (value 1), by the peer's node; at most "
    "`peers` of them.",
    ("peer_node",),
)
CLUSTER_WORKSPACE_NODES = Family(
    "gitpod_cluster_workspace_nodes",
    "Workspace nodes judged by cluster_workspace_daemons: Ready, schedulable, past the grace "
    "period.",
)
CLUSTER_WORKSPACE_NODES_READY = Family(
    "gitpod_cluster_workspace_nodes_ready",
    "Judged workspace nodes that carry the daemon's ready label for the Gitpod namespace.",
    ("daemon",),
)
CLUSTER_WORKSPACE_NODE_NOT_READY = Family(
    "gitpod_cluster_workspace_node_not_ready",
    "A judged workspace node without the daemon's ready label (value 1): the first "
    "max_listed per daemon, so alerts can name them and the series stay bounded.",
    ("daemon", "node"),
)
CLUSTER_NODES = Family(
    "gitpod_cluster_nodes",
    "Ready, schedulable nodes carrying the Gitpod label.",
    ("label",),
)
CLUSTER_NODES_FAILING = Family(
    "gitpod_cluster_nodes_failing",
    "Gitpod-labelled nodes failing a node requirement, by reason.",
    ("reason",),
)
DATABASE_LATENCY_SECONDS = Family(
    "gitpod_database_latency_seconds",
    "Connect, authenticate and two queries, end to end.",
    (),
)
DATABASE_VERSION_INFO = Family(
    "gitpod_database_version_info",
    "The database server's version and flavor (mysql or mariadb).",
    ("version", "flavor"),
)
DNS_RESOLUTION_DURATION_SECONDS = Family(
    "gitpod_dns_resolution_duration_seconds",
    "Time to resolve the name.",
    ("name",),
)
INSTALLATION_INFO = Family(
    "gitpod_installation_info",
    "The Gitpod installation as its config states it; value 1.",
    ("domain", "kind", "source"),
)
KUBERNETES_VERSION_INFO = Family(
    "gitpod_kubernetes_version_info",
    "The API server's version (gitVersion).",
    ("git_version",),
)
NODE_CNI_INFO = Family(
    "gitpod_node_cni_info",
    "The node's active CNI network (first valid config in the CNI directory).",
    ("network", "type"),
)
NODE_CONTAINERD_INFO = Family(
    "gitpod_node_containerd_info",
    "containerd's version as its Version API reports it.",
    ("version",),
)
NODE_CONTAINERD_RPC_DURATION_SECONDS = Family(
    "gitpod_node_containerd_rpc_duration_seconds",
    "Duration of the last containerd Version API call.",
    (),
)
NODE_CPUS = Family(
    "gitpod_node_cpus",
    "Online CPUs of the node.",
    (),
)
NODE_EFFECTIVE_CAPABILITIES = Family(
    "gitpod_node_effective_capabilities",
    "Number of effective capabilities of the exporter's own process.",
    (),
)
NODE_KERNEL_INFO = Family(
    "gitpod_node_kernel_info",
    "The node's kernel release.",
    ("release",),
)
NODE_MEMORY_BYTES = Family(
    "gitpod_node_memory_bytes",
    "MemTotal of the node in bytes.",
    (),
)
NODE_OS_INFO = Family(
    "gitpod_node_os_info",
    "The node's operating system from os-release (ID, VERSION_ID).",
    ("id", "version_id"),
)
NODE_WORKLOAD_LABELS = Family(
    "gitpod_node_workload_labels",
    "Number of configured gitpod.io/workload_* labels this node carries.",
    (),
)
REGISTRY_LATENCY_SECONDS = Family(
    "gitpod_registry_latency_seconds",
    "GET /v2/ including authentication.",
    (),
)
SCM_LATENCY_SECONDS = Family(
    "gitpod_scm_latency_seconds",
    "Latency of the SCM API request.",
    ("provider",),
)
SCM_UP = Family(
    "gitpod_scm_up",
    "1 if the SCM's API answered.",
    ("provider",),
)
STORAGE_LATENCY_SECONDS = Family(
    "gitpod_storage_latency_seconds",
    "Latency of each storage operation of the last run.",
    ("operation",),
)
TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS = Family(
    "gitpod_tls_certificate_expiry_timestamp_seconds",
    "When the certificate for the name expires (Unix time); source: endpoint (as served) or "
    "secret (the installation's https certificate Secret).",
    ("host", "source"),
)


def families() -> dict[str, Family]:
    """Every family declared above, by metric name."""
    return {f.name: f for f in globals().values() if isinstance(f, Family)}


_FAMILY_TYPES: dict[str, Any] = {
    "gauge": GaugeMetricFamily,
    "counter": CounterMetricFamily,
    "histogram": HistogramMetricFamily,
}


class RequirementsCollector(Collector):
    def __init__(self, store: Store, node: str = "") -> None:
        self.store = store
        # The node role labels every requirement series with its node (docs/metrics.md).
        self.extra = (("node", node),) if node else ()

    def collect(self) -> Iterator[Metric]:
        records = self.store.snapshot()
        extra_names = tuple(k for k, _ in self.extra)
        extra_values = [v for _, v in self.extra]
        info = REQUIREMENT_INFO.gauge(extra_names)
        satisfied = REQUIREMENT_SATISFIED.gauge(extra_names)
        up = REQUIREMENT_CHECK_UP.gauge(extra_names)
        configured = REQUIREMENT_CONFIGURED.gauge(extra_names)
        duration = REQUIREMENT_CHECK_DURATION.gauge(extra_names)
        last = REQUIREMENT_LAST_CHECK.gauge(extra_names)
        interval = REQUIREMENT_CHECK_INTERVAL.gauge(extra_names)
        reason = REQUIREMENT_REASON_INFO.gauge(extra_names)
        observed: dict[str, Any] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for req in self.store.requirements:
            info.add_metric([req.id, req.title, req.scope, req.doc_url, *extra_values], 1.0)
            record = records.get(req.id)
            if record is None:
                continue
            res = record.result
            configured.add_metric(
                [req.id, *extra_values], 0.0 if res.status is Status.SKIPPED else 1.0
            )
            if res.reason:
                reason.add_metric([req.id, res.reason, *extra_values], 1.0)
            # Observed values count even where nothing is judged (a node Gitpod does not use
            # still reports its CPUs); a series two requirements share is written once.
            for s in res.samples:
                key = (s.name, s.labels)
                if key in seen:
                    continue
                seen.add(key)
                fam = observed.get(s.name)
                if fam is None:
                    fam = _FAMILY_TYPES.get(s.kind, GaugeMetricFamily)(
                        s.name, s.documentation, labels=[*(k for k, _ in s.labels), *extra_names]
                    )
                    observed[s.name] = fam
                values = [v for _, v in s.labels] + extra_values
                if isinstance(fam, HistogramMetricFamily):
                    fam.add_metric(values, buckets=list(s.buckets), sum_value=s.value)
                else:
                    fam.add_metric(values, s.value)
            if res.status is Status.SKIPPED:
                continue
            up.add_metric([req.id, *extra_values], 0.0 if res.status is Status.ERROR else 1.0)
            if res.status in (Status.PASS, Status.FAIL):
                satisfied.add_metric(
                    [req.id, req.severity, *extra_values], 1.0 if res.status is Status.PASS else 0.0
                )
            duration.add_metric([req.id, *extra_values], record.duration_seconds)
            last.add_metric([req.id, *extra_values], record.finished_at)
            interval.add_metric([req.id, *extra_values], record.interval_seconds)
        yield from (info, satisfied, up, configured, duration, last, interval, reason)
        yield from observed.values()
        build = BUILD_INFO.gauge()
        build.add_metric([__version__], 1.0)
        yield build


def make_registry(store: Store, node: str = "", *extra: Collector) -> CollectorRegistry:
    """Everything /metrics serves, in its order, as one registry (what Exposition's bodies
    equal, byte for byte, for the same state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RequirementsCollector(store, node))
    return _with_fresh(registry, extra)


def _with_fresh(registry: CollectorRegistry, extra: tuple[Collector, ...]) -> CollectorRegistry:
    for collector in _fresh(extra):
        registry.register(collector)
    return registry


# The process collector reads /proc/self/stat, limits and every entry of /proc/self/fd at each
# call: with 500 connections open (clients pipelining scrapes they never read) it was half the
# server's time, and scrapes waited behind it. Its figures at most this old are as good.
PROCESS_TTL = 1.0


class _Recent:
    """A collector whose last collection is reused for `ttl` seconds."""

    def __init__(self, collector: Collector, ttl: float) -> None:
        self.collector, self.ttl = collector, ttl
        self._at = -ttl
        self._metrics: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        if now - self._at >= self.ttl:
            self._metrics = list(self.collector.collect())
            self._at = now
        return iter(self._metrics)


def _fresh(extra: tuple[Collector, ...]) -> tuple[Collector, ...]:
    """What changes between two scrapes without the Store changing: the process, the
    interpreter, the daemon's own counters."""
    sink = CollectorRegistry(auto_describe=False)  # prometheus_client's collectors register
    return (
        _Recent(ProcessCollector(registry=sink), PROCESS_TTL),
        PlatformCollector(registry=sink),
        GCCollector(registry=sink),
        *extra,
    )


def make_exposition(store: Store, node: str = "", *extra: Collector) -> Exposition:
    stable = CollectorRegistry(auto_describe=False)
    stable.register(RequirementsCollector(store, node))
    return Exposition(store, stable, _fresh(extra))


_EOF = b"# EOF\n"


class Exposition:
    """The /metrics bodies. The requirement and fact families (the large part, most of the cost)
    are rendered once per Store version, per format, and so is the gzip stream up to their end;
    at each scrape only the fresh families are rendered and appended (to a copy of the gzip
    compressor, so the answer is one ordinary gzip member). The same state gives the same bytes
    as rendering make_registry's registry whole."""

    def __init__(self, store: Store, stable: CollectorRegistry, fresh: tuple[Collector, ...]):
        self.store, self.stable, self.fresh = store, stable, fresh
        self._version = -1
        # format -> (plain bytes, gzip bytes so far, the compressor after them); made lazily.
        self._plain: dict[bool, bytes] = {}
        self._gzip: dict[bool, tuple[bytes, zlib._Compress]] = {}

    def body(self, openmetrics: bool, gzipped: bool) -> bytes:
        head = self._head(openmetrics)
        tail = self._render_fresh(openmetrics)
        if openmetrics:
            tail += _EOF
        if not gzipped:
            return head + tail
        cached = self._gzip.get(openmetrics)
        if cached is None:
            compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            cached = (compressor.compress(head) + compressor.flush(zlib.Z_SYNC_FLUSH), compressor)
            self._gzip[openmetrics] = cached
        prefix, compressor = cached
        rest = compressor.copy()
        return prefix + rest.compress(tail) + rest.flush()

    def _head(self, openmetrics: bool) -> bytes:
        if self.store.version != self._version:
            self._version = self.store.version
            self._plain.clear()
            self._gzip.clear()
        head = self._plain.get(openmetrics)
        if head is None:
            head = self._plain[openmetrics] = self._render(self.stable, openmetrics)
        return head

    @staticmethod
    def _render(registry: CollectorRegistry, openmetrics: bool) -> bytes:
        if not openmetrics:
            return generate_latest(registry)
        from prometheus_client.openmetrics.exposition import generate_latest as generate_om

        text: bytes = generate_om(registry)
        return text[: -len(_EOF)] if text.endswith(_EOF) else text

    def _render_fresh(self, openmetrics: bool) -> bytes:
        """The fresh families: a few gauges and counters of known names, every scrape. Written
        directly (prometheus_client's writer checks every character of every name, most of a
        scrape's cost); anything beyond plain gauges and counters goes to its writer."""
        collected = [m for c in self.fresh for m in c.collect()]
        written = _write_plain(collected, openmetrics)
        if written is not None:
            return written
        static = CollectorRegistry(auto_describe=False)
        static.register(_Collected(collected))
        return self._render(static, openmetrics)


class _Collected:
    """Metrics already collected, as a collector."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


_LEGACY_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEGACY_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SUFFIXES = ("_created", "_gsum", "_gcount")  # written apart by the text format


def _write_plain(metrics: list[Metric], openmetrics: bool) -> bytes | None:
    """Gauges and counters with legacy names, in the bytes prometheus_client writes for them;
    None for anything else (its writer is used then)."""
    out: list[str] = []
    for m in metrics:
        if m.type not in ("gauge", "counter") or m.unit or not _LEGACY_NAME.fullmatch(m.name):
            return None
        doc = m.documentation.replace("\\", r"\\").replace("\n", r"\n")
        name = m.name if openmetrics or m.type != "counter" else m.name + "_total"
        if openmetrics:
            doc = doc.replace('"', r"\"")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {m.type}\n")
        apart: list[str] = []
        for sample in m.samples:
            if sample.exemplar or sample.native_histogram:
                return None
            if not _LEGACY_LABEL.fullmatch(sample.name):
                return None  # (OpenMetrics' writer turns a colon in a sample name into "_")
            line = _sample_line(sample, openmetrics)
            if line is None:
                return None
            if not openmetrics and sample.name in {m.name + x for x in _SUFFIXES}:
                if sample.name != m.name + "_created":
                    return None  # only counters here: _gsum/_gcount are gauge histograms'
                apart.append(line)
            else:
                out.append(line)
        if apart:
            out.append(f"# HELP {m.name}_created {doc}\n# TYPE {m.name}_created gauge\n")
            out.extend(apart)
    return "".join(out).encode()


def _sample_line(sample: Any, openmetrics: bool) -> str | None:
    labels = ""
    if sample.labels:
        parts = []
        for k, v in sorted(sample.labels.items()):
            if not _LEGACY_LABEL.fullmatch(k):
                return None
            v = v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
            parts.append(f'{k}="{v}"')
        labels = "{" + ",".join(parts) + "}"
    stamp = ""
    if sample.timestamp is not None:
        stamp = (
            f" {sample.timestamp}" if openmetrics else f" {int(float(sample.timestamp) * 1000):d}"
        )
    return f"{sample.name}{labels} {floatToGoString(sample.value)}{stamp}\n"
