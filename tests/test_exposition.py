"""/metrics rendered on change: the Store's families once per Store version, the fresh part at
each scrape, and the bytes equal to a fresh render of the whole registry for the same state, in
both formats and gzipped."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.openmetrics.exposition import generate_latest as generate_om
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition import (
    Exposition,
    RequirementsCollector,
    _Collected,
    _fresh,
    _write_plain,
    make_exposition,
)
from exporter.families import NODE_CPUS
from exporter.model import Reason, Record, Requirement, Result, Scope, Severity
from exporter.store import Store

REQS = tuple(
    Requirement(f"node_r{i}", f"r{i}", Severity.CRITICAL, Scope.NODE, "https://docs", "fix")
    for i in range(3)
)


class Counting:
    """A fresh collector whose value moves at every collection, like the process's CPU."""

    def __init__(self) -> None:
        self.n = 0

    def collect(self) -> Iterator[Metric]:
        self.n += 1
        c = CounterMetricFamily("test_scrapes", "collections so far")
        c.add_metric([], float(self.n))
        yield c


def _store() -> Store:
    store = Store(REQS)
    sample = NODE_CPUS.sample(4.0)
    store.put(Record(REQS[0], Result.passed("4 CPUs", sample), 0.1, 1_700_000_000.0, 60.0))
    store.put(Record(REQS[1], Result.failed(Reason.NONE, "old", "too old"), 0.2, 1.7e9, 60.0))
    return store


def _pair(store: Store) -> tuple[Exposition, CollectorRegistry, Counting]:
    """An Exposition and the one registry it must equal, sharing one counting collector."""
    counting = Counting()
    stable, whole = (CollectorRegistry(auto_describe=False) for _ in range(2))
    stable.register(RequirementsCollector(store, "ws-1"))
    whole.register(RequirementsCollector(store, "ws-1"))
    whole.register(counting)
    return Exposition(store, stable, (counting,)), whole, counting


def _gunzip_one_member(data: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data)
    assert d.eof and not d.unused_data, "one complete gzip member"
    return out


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_same_state_gives_the_bytes_of_a_fresh_render(openmetrics: bool) -> None:
    store = _store()
    exposition, whole, counting = _pair(store)
    render = generate_om if openmetrics else generate_latest
    for _ in range(3):  # the cached head, a fresh tail each time
        body = exposition.body(openmetrics, gzipped=False)
        counting.n -= 1  # the fresh render below must see the same count
        assert body == render(whole)
        zipped = exposition.body(openmetrics, gzipped=True)
        counting.n -= 1
        assert _gunzip_one_member(zipped) == render(whole)
    if openmetrics:
        assert body.endswith(b"\ntest_scrapes_total 5.0\n# EOF\n") and body.count(b"# EOF") == 1


def test_the_head_is_rendered_once_per_store_change() -> None:
    store = _store()
    exposition = _pair(store)[0]
    first = exposition.body(False, False)
    head = exposition._plain[False]
    exposition.body(False, True)
    assert exposition._plain[False] is head  # not rendered again for another scrape
    store.put(Record(REQS[2], Result.passed("fine"), 0.3, 1.7e9, 60.0))
    second = exposition.body(False, False)
    assert exposition._plain[False] is not head
    judged = b'requirement="node_r2"'
    assert second.count(judged) > first.count(judged)  # its verdict, not only its catalogue row


def test_the_real_exposition_carries_the_store_and_the_process() -> None:
    store = _store()
    exposition = make_exposition(store, "ws-1")
    for openmetrics in (False, True):
        for gzipped in (False, True):
            body = exposition.body(openmetrics, gzipped)
            text = (_gunzip_one_member(body) if gzipped else body).decode()
            names = {f.name for f in text_string_to_metric_families(text.replace("# EOF\n", ""))}
            assert {"gitpod_requirement_satisfied", "gitpod_node_cpus"} <= names
            assert {"process_resident_memory_bytes", "python_info"} <= names


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 1e21, 12345678.9, 0.1]),
)


@st.composite
def _families(draw: st.DrawFn) -> list[Metric]:
    out: list[Metric] = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from([GaugeMetricFamily, CounterMetricFamily]))
        labels = draw(st.lists(st.sampled_from(["a", "b_c", "generation"]), unique=True))
        fam = kind(f"fam_{i}", draw(_text), labels=labels)
        for _ in range(draw(st.integers(0, 3))):
            stamp = draw(st.one_of(st.none(), st.floats(0, 2e9)))
            created = draw(st.one_of(st.none(), st.floats(0, 2e9)))
            values = [draw(_text) for _ in labels]
            if kind is CounterMetricFamily:
                fam.add_metric(values, draw(_value), created=created, timestamp=stamp)
            else:
                fam.add_metric(values, draw(_value), timestamp=stamp)
        out.append(fam)
    return out


def _reference(metrics: list[Metric], openmetrics: bool) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collected(metrics))
    text = (generate_om if openmetrics else generate_latest)(registry)
    return text.removesuffix(b"# EOF\n")


@settings(max_examples=300 if settings().max_examples >= 100 else 30, deadline=None)
@given(_families(), st.booleans())
def test_the_fresh_writer_writes_prometheus_clients_bytes(metrics, openmetrics) -> None:
    assert _write_plain(metrics, openmetrics) == _reference(metrics, openmetrics)


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_fresh_writer_on_the_real_process_and_interpreter_families(openmetrics) -> None:
    metrics = [m for c in _fresh(()) for m in c.collect()]
    assert _write_plain(metrics, openmetrics) == _reference(metrics, openmetrics)


def test_what_the_fresh_writer_does_not_know_goes_to_prometheus_client() -> None:
    hist = HistogramMetricFamily("h", "a histogram", buckets=[("1.0", 1), ("+Inf", 2)], sum_value=3)
    assert _write_plain([hist], False) is None
    store = _store()

    class Histogram:
        def collect(self) -> Iterator[Metric]:
            yield hist

    stable, whole = (CollectorRegistry(auto_describe=False) for _ in range(2))
    stable.register(RequirementsCollector(store))
    whole.register(RequirementsCollector(store))
    whole.register(Histogram())
    exposition = Exposition(store, stable, (Histogram(),))
    assert exposition.body(False, False) == generate_latest(whole)
