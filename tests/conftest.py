from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from exporter.checks import CLUSTER_CHECKS, NODE_CHECKS
from exporter.config import build
from exporter.context import Check, CheckContext
from exporter.model import Record
from exporter.nodeapi import NodeApi
from exporter.scheduler import Job, run_job
from tests.helpers.exporter import Served, start
from tests.hosts import Node
from tests.servers.containerd import containerd, containerd_without_cri  # noqa: F401  (fixtures)
from tests.servers.kube_fake import kube_api  # noqa: F401  (fixture)
from tests.servers.mariadb import mariadb  # noqa: F401  (fixture)
from tests.servers.registry import registry_server  # noqa: F401  (fixture)
from tests.servers.s3 import s3  # noqa: F401  (fixture)
from tests.servers.tls import tls_ca  # noqa: F401  (fixture)

pytest_plugins: list[str] = []

# Hypothesis' default 200 ms deadline per example is a timed assertion: on a loaded 2-core
# machine it fails examples that are merely slow. Correctness only; speed is benchmarked.
hypothesis_settings.register_profile("suite", deadline=None)
# The edit-test loop (scripts/test --fast) draws fewer examples; the full suite, CI's, draws
# hypothesis' default number (or what a test asks for).
hypothesis_settings.register_profile("fast", deadline=None, max_examples=25)
hypothesis_settings.load_profile(os.environ.get("GRE_HYPOTHESIS_PROFILE", "suite"))

# The fast tier (scripts/test --fast, `-m "not integration"`) leaves out what needs a Debian
# server or binary, root, a child exporter process, or waits out timeouts on purpose: tests
# using these fixtures, in these directories, or starting a process themselves.
SERVER_FIXTURES = {
    "mariadb",
    "registry_server",
    "containerd",
    "containerd_without_cri",
    "stack",
    "node_exporter",
}
SERVER_DIRS = {"e2e", "deploy", "faults", "cluster_cache"}
# What a test calls that starts a process (an exporter, promtool, a Debian binary).
SPAWNS = ("check_json(", "start(", "require_binary(", "promtool(", "assert_queries_parse(",
          "subprocess.run(", "cri_containerd(")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: real servers, Debian binaries, root, child processes or deliberate "
        "timeouts (left out by scripts/test --fast)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        parts = set(Path(str(item.path)).relative_to(Path(__file__).parent).parts[:-1])
        function = getattr(item, "function", None)
        source = inspect.getsource(function) if function else ""
        spawns = any(s in source for s in SPAWNS)
        if fixtures & SERVER_FIXTURES or parts & SERVER_DIRS or spawns:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def pool() -> Any:
    with ThreadPoolExecutor(4) as p:
        yield p


def check_by_id(check_id: str) -> Check:
    return next(c for c in NODE_CHECKS + CLUSTER_CHECKS if c.id == check_id)


def run_component(check_id: str, settings: dict[str, Any], pool: Any) -> dict[str, Record]:
    """One run of a cluster component check, its settings given as the YAML section would
    give them (so secrets are {env: ...} or {file: ...}); its Records by requirement id."""
    check = check_by_id(check_id)
    ctx = CheckContext(build(check.settings, settings, f"checks.{check_id}"), Path("/"), pool)
    return {r.requirement.id: r for r in asyncio.run(run_job(Job(check, ctx)))}


def run_check(
    check_id: str,
    host_root: Path,
    pool: Any,
    node_name: str = "",
    kubeconfig: str | None = None,
    **settings: Any,
) -> Record:
    """One run of a node check through the real scheduler path (timeout, error mapping)."""
    check = check_by_id(check_id)
    api = NodeApi(pool, kubeconfig) if kubeconfig else None
    ctx = CheckContext(check.settings(**settings), host_root, pool, node_name, api)
    records = asyncio.run(run_job(Job(check, ctx)))
    return next(r for r in records if r.requirement.id == check_id)


@pytest.fixture
def node_exporter(tmp_path: Path, containerd) -> Iterator[Served]:  # noqa: F811
    root = Node(kernel="4.19.0-26-cloud-amd64").build(tmp_path / "host", containerd.socket)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("checks:\n  node_kernel:\n    interval: 1s\n")
    served = start(
        ["--role", "node", "--host-root", str(root), "--config", str(cfg)],
        {"NODE_NAME": "worker-7"},
    )
    served.config = cfg  # type: ignore[attr-defined]
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
        served.proc.wait()
