"""Renders the Store as Prometheus metrics at scrape time: no I/O, no awaits, no checks."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.model import Status
from exporter.store import Store


class RequirementsCollector(Collector):
    def __init__(self, store: Store, node: str = "") -> None:
        self.store = store
        # The node role labels every requirement series with its node (DESIGN.md section 2).
        self.extra = (("node", node),) if node else ()

    def collect(self) -> Iterator[Metric]:
        records = self.store.snapshot()
        extra_names = [k for k, _ in self.extra]
        extra_values = [v for _, v in self.extra]

        def family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=[*labels, *extra_names])

        info = family(
            "gitpod_requirement_info",
            "The requirement catalogue: one series per requirement, value 1.",
            ["requirement", "title", "scope", "doc_url"],
        )
        satisfied = family(
            "gitpod_requirement_satisfied",
            "1 if the requirement is met, 0 if not; absent while unknown (error or skipped).",
            ["requirement", "severity"],
        )
        up = family(
            "gitpod_requirement_check_up",
            "1 if the check reached a verdict, 0 if it errored or timed out.",
            ["requirement"],
        )
        configured = family(
            "gitpod_requirement_configured",
            "1 if the check is configured and running, 0 if skipped.",
            ["requirement"],
        )
        duration = family(
            "gitpod_requirement_check_duration_seconds",
            "Duration of the last run of the check.",
            ["requirement"],
        )
        last = family(
            "gitpod_requirement_last_check_timestamp_seconds",
            "Unix time at which the last run of the check ended.",
            ["requirement"],
        )
        interval = family(
            "gitpod_requirement_check_interval_seconds",
            "The configured interval between runs of the check.",
            ["requirement"],
        )
        reason = family(
            "gitpod_requirement_reason_info",
            "Why the requirement is not met or not checked, as a short enum; value 1.",
            ["requirement", "reason"],
        )
        observed: dict[str, GaugeMetricFamily] = {}
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
            for s in res.samples:
                fam = observed.get(s.name)
                if fam is None:
                    fam = family(s.name, s.documentation, [k for k, _ in s.labels])
                    observed[s.name] = fam
                fam.add_metric([v for _, v in s.labels] + extra_values, s.value)
        yield from (info, satisfied, up, configured, duration, last, interval, reason)
        yield from observed.values()
        build = GaugeMetricFamily(
            "gitpod_exporter_build_info", "The exporter's version; value 1.", labels=["version"]
        )
        build.add_metric([__version__], 1.0)
        yield build


def make_registry(store: Store, node: str = "") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RequirementsCollector(store, node))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
