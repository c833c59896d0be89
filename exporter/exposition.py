"""The collector that renders the Store from the families (exporter/families.py): no I/O, no
awaits, no checks. What the checks found is rendered once per change of the Store
(Exposition); only the small part that must be fresh is rendered at each scrape."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator
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
from exporter.families import (
    BUILD_INFO,
    REQUIREMENT_CHECK_DURATION,
    REQUIREMENT_CHECK_INTERVAL,
    REQUIREMENT_CHECK_UP,
    REQUIREMENT_CONFIGURED,
    REQUIREMENT_INFO,
    REQUIREMENT_LAST_CHECK,
    REQUIREMENT_REASON_INFO,
    REQUIREMENT_SATISFIED,
    Family,
)
from exporter.model import Status
from exporter.store import Store


def gauge(family: Family, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.documentation, labels=[*family.labels, *extra])


def counter(family: Family) -> CounterMetricFamily:
    assert family.name.endswith("_total"), family.name
    return CounterMetricFamily(family.name, family.documentation, labels=list(family.labels))


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
        info = gauge(REQUIREMENT_INFO, extra_names)
        satisfied = gauge(REQUIREMENT_SATISFIED, extra_names)
        up = gauge(REQUIREMENT_CHECK_UP, extra_names)
        configured = gauge(REQUIREMENT_CONFIGURED, extra_names)
        duration = gauge(REQUIREMENT_CHECK_DURATION, extra_names)
        last = gauge(REQUIREMENT_LAST_CHECK, extra_names)
        interval = gauge(REQUIREMENT_CHECK_INTERVAL, extra_names)
        reason = gauge(REQUIREMENT_REASON_INFO, extra_names)
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
        build = gauge(BUILD_INFO)
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
