"""The opt-in Node condition (serve --node-condition) against the suite's fake API, which takes
writes as a real server does (a strategic merge of status.conditions by type, Events answered
201): True on a healthy node, False with the first unmet critical requirement as its reason
and exactly one Warning Event, True again with one Normal Event, no PATCH while nothing changes
but heartbeats, and a token without the right to patch changing nothing but a counter."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exporter.model import Reason, Record, Result
from exporter.nodeapi import NodeApi
from exporter.nodecondition import NodeConditionWriter, camel
from exporter.store import Store
from tests.helpers.catalogue import requirements
from tests.servers.kube_fake import FakeKube, node
from tests.servers.kube_rbac import Authorizer, Grant

NODE = "ws-node-1"


def healthy(store: Store) -> None:
    for req in store.requirements:
        store.put(Record(req, Result.passed("ok"), 0.01, time.time(), 60.0))


def broken(store: Store, rid: str, reason: Reason = Reason.UNTRUSTED) -> None:
    req = next(r for r in store.requirements if r.id == rid)
    store.put(Record(req, Result.failed(reason, "x", "detail"), 0.01, time.time(), 60.0))


def condition(fake: FakeKube) -> dict:
    (found,) = [c for c in fake.nodes[NODE]["status"]["conditions"]
                if c["type"] == "GitpodRequirementsMet"]  # fmt: skip
    return found


def ours(fake: FakeKube) -> list[dict]:
    return [e for e in fake.events if e.get("source", {}).get("component")
            == "gitpod-requirements-exporter"]  # fmt: skip


@pytest.fixture
def writer(kube_api: FakeKube, tmp_path: Path):
    kube_api.nodes[NODE] = node(NODE, {"gitpod.io/workload_workspace_regular": "true"})
    store = Store(requirements("node"))
    with ThreadPoolExecutor(2) as pool:
        api = NodeApi(pool, str(kube_api.kubeconfig(tmp_path / "kc")))
        yield NodeConditionWriter(api, NODE, store, heartbeat=3600.0), store


def test_camel_case_reasons() -> None:
    assert camel("node_registry_facade_trust") == "NodeRegistryFacadeTrust"
    assert camel("cluster_compatibility:os") == "ClusterCompatibilityOs"


def test_broken_then_restored_with_one_event_each(writer, kube_api: FakeKube) -> None:
    w, store = writer
    healthy(store)
    asyncio.run(w.update())
    c = condition(kube_api)
    assert (c["status"], c["reason"]) == ("True", "RequirementsMet"), c
    first_transition = c["lastTransitionTime"]
    assert kube_api.nodes[NODE]["metadata"]["uid"] == ours(kube_api)[0]["involvedObject"]["uid"]
    broken(store, "node_registry_facade_trust")
    broken(store, "node_workspace_disk", Reason.BELOW_MINIMUM)  # a warning: named after
    asyncio.run(w.update())
    c = condition(kube_api)
    assert (c["status"], c["reason"]) == ("False", "NodeRegistryFacadeTrust"), c
    assert c["message"] == ("unmet: node_registry_facade_trust: untrusted, node_workspace_disk: "
                            "below_minimum (warning)")  # fmt: skip
    warnings = [e for e in ours(kube_api) if e["type"] == "Warning"]
    assert len(warnings) == 1 and warnings[0]["reason"] == "NodeRegistryFacadeTrust"
    assert warnings[0]["involvedObject"]["kind"] == "Node" and warnings[0]["source"]["host"] == NODE
    patches = len(kube_api.status_patches)
    for _ in range(10):  # steady rounds: no write, no event
        store.put(store.snapshot()["node_registry_facade_trust"])
        asyncio.run(w.update())
    assert len(kube_api.status_patches) == patches and len(ours(kube_api)) == 2
    healthy(store)
    asyncio.run(w.update())
    c = condition(kube_api)
    assert (c["status"], c["reason"]) == ("True", "RequirementsMet")
    assert c["lastTransitionTime"] >= first_transition
    assert [e["type"] for e in ours(kube_api)] == ["Normal", "Warning", "Normal"]
    assert w.errors == 0 and w.ok == 6  # three PATCHes, three Events


def test_a_heartbeat_rewrites_an_unchanged_condition_only_when_due(writer, kube_api) -> None:
    w, store = writer
    w.heartbeat = 0.3
    healthy(store)
    asyncio.run(w.update())
    transition = condition(kube_api)["lastTransitionTime"]
    asyncio.run(w.update())
    assert len(kube_api.status_patches) == 1
    time.sleep(0.35)
    asyncio.run(w.update())
    assert len(kube_api.status_patches) == 2 and len(ours(kube_api)) == 1
    assert condition(kube_api)["lastTransitionTime"] == transition


def test_a_forbidden_write_changes_nothing_but_the_counter(writer, kube_api, caplog) -> None:
    w, store = writer
    kube_api.rbac = Authorizer("node-role", [Grant("", ("get", "list"), ("",), ("nodes",))])
    healthy(store)
    before = dict(store.snapshot())
    with caplog.at_level(logging.WARNING, logger="exporter.nodecondition"):
        for _ in range(3):
            w._retry_at = 0.0  # as if the retry delay had passed
            asyncio.run(w.update())
    assert w.errors == 3 and w.ok == 0
    assert kube_api.status_patches == [] and ours(kube_api) == []
    assert dict(store.snapshot()) == before
    assert len([r for r in caplog.records if "cannot write the node condition" in r.message]) == 1
