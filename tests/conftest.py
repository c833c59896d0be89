from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from exporter.checks import NODE_CHECKS
from exporter.context import Check, CheckContext
from exporter.model import Record
from exporter.scheduler import Job, run_job
from tests.servers.containerd import containerd  # noqa: F401  (fixture)
from tests.servers.kube_fake import kube_api  # noqa: F401  (fixture)

pytest_plugins: list[str] = []


@pytest.fixture(scope="session")
def pool() -> Any:
    with ThreadPoolExecutor(4) as p:
        yield p


def check_by_id(check_id: str) -> Check:
    return next(c for c in NODE_CHECKS if c.REQUIREMENT.id == check_id)


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
    ctx = CheckContext(check.Settings(**settings), host_root, pool, node_name, kubeconfig)
    (record,) = asyncio.run(run_job(Job(check, ctx)))
    return record
