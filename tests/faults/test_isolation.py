"""A check that raises something nobody expected, or hangs past its timeout, is contained: its
requirement reports check_up 0 with reason `internal` (or `timeout`) and a logged traceback,
while the other checks keep their schedule and /metrics keeps answering from the store."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import generate_latest

from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.exposition import make_registry
from exporter.inflight import InFlight
from exporter.model import Requirement, Result, Scope, Severity
from exporter.scheduler import Job, Scheduler
from exporter.store import Store
from tests.helpers.poll import until

CPU_LAST = 'gitpod_requirement_last_check_timestamp_seconds{node="worker-1",requirement="node_cpu"'


def fake_check(req_id: str, run) -> Check:
    req = Requirement(req_id, req_id, Severity.CRITICAL, Scope.NODE, "https://example.com", "fix")
    return Check(requirement=req, settings=CheckSettings, run=run)


def _started(
    checks: list[Check], settings: CheckSettings, pool: ThreadPoolExecutor
) -> tuple[Store, Scheduler]:
    """The checks scheduled into a fresh Store, running."""
    jobs = [Job(c, CheckContext(settings, Path("/"), pool)) for c in checks]
    store = Store([c.requirement for c in checks])
    scheduler = Scheduler(jobs, store)
    scheduler.start()
    return store, scheduler


async def explode(ctx) -> Result:
    raise RuntimeError("a bug nobody foresaw")


async def hang(ctx) -> Result:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


def test_a_raising_and_a_hanging_check_affect_nothing_else(caplog) -> None:
    runs = {"healthy": 0}

    async def healthy(ctx) -> Result:
        runs["healthy"] += 1
        return Result.passed("fine")

    checks = [fake_check("buggy", explode), fake_check("stuck", hang),
              fake_check("healthy", healthy)]  # fmt: skip
    settings = CheckSettings(interval=0.1, timeout=0.1)

    async def scenario() -> tuple[str, float]:
        with ThreadPoolExecutor(2) as pool:
            store, scheduler = _started(checks, settings, pool)
            # Until the stuck check has timed out once and the healthy one ran six times
            # beside it (its 100 ms schedule kept), with a deadline rather than a guessed sleep.
            deadline = asyncio.get_running_loop().time() + 10
            while not (store.ready and runs["healthy"] >= 6):
                assert asyncio.get_running_loop().time() < deadline, "checks did not run"
                await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            started = loop.time()
            text = generate_latest(make_registry(store)).decode()
            took = loop.time() - started
            await scheduler.stop()
        return text, took

    with caplog.at_level(logging.INFO):
        text, took = asyncio.run(scenario())
    assert 'gitpod_requirement_check_up{requirement="buggy"} 0.0' in text
    assert 'gitpod_requirement_reason_info{reason="internal",requirement="buggy"} 1.0' in text
    assert 'gitpod_requirement_check_up{requirement="stuck"} 0.0' in text
    assert 'gitpod_requirement_reason_info{reason="timeout",requirement="stuck"} 1.0' in text
    assert 'gitpod_requirement_satisfied{requirement="healthy",severity="critical"} 1.0' in text
    tracebacks = [r for r in caplog.records if r.exc_info and "buggy" in r.getMessage()]
    assert tracebacks and "a bug nobody foresaw" in str(tracebacks[0].exc_info[1])
    assert took < 0.5


def test_hung_dependencies_block_neither_metrics_nor_sigterm(tmp_path: Path) -> None:
    """containerd and the API server accept and never answer, for longer than the test: the
    node role keeps answering /metrics quickly, and SIGTERM still exits 0 at once, although a
    check thread sits in a blocking read."""
    import socket
    import time

    from tests.faults.hostile import hostile
    from tests.helpers.exporter import start
    from tests.servers.kube_fake import FakeKube

    sock = str(tmp_path / "containerd.sock")
    with hostile("silent", socket.AF_UNIX, sock), hostile("silent") as api:
        kc = FakeKube().kubeconfig(tmp_path / "kubeconfig", server=f"http://{api}")
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            f"checks:\n  node_containerd:\n    sockets: [{sock}]\n    timeout: 60s\n"
            "  node_labels:\n    timeout: 60s\n  node_cpu:\n    interval: 1s\n"
        )
        served = start(["--role", "node", "--config", str(cfg), "--host-root", "/"],
                       {"NODE_NAME": "worker-1", "KUBECONFIG": str(kc)})  # fmt: skip
        try:
            worst = 0.0
            cpu_checks: set[str] = set()

            def node_cpu_ran_twice() -> bool:
                nonlocal worst
                started = time.perf_counter()
                status, _, text = served.get("/metrics")
                worst = max(worst, time.perf_counter() - started)
                assert status == 200
                cpu_checks.update(line for line in text.splitlines() if line.startswith(CPU_LAST))
                return len(cpu_checks) >= 2

            until(node_cpu_ran_twice, 10, "node_cpu on its 1 s schedule")
            assert served.get("/readyz")[0] == 503  # the hung checks never finished
            assert worst < 1.0
            assert len(cpu_checks) >= 2  # node_cpu kept its 1 s schedule
            started = time.perf_counter()
            served.proc.terminate()
            assert served.proc.wait(10) == 0
            assert time.perf_counter() - started < 5
        finally:
            if served.proc.poll() is None:
                served.proc.kill()


def test_stop_lets_a_run_in_progress_land_then_cancels_the_rest() -> None:
    async def slow(ctx) -> Result:
        await asyncio.sleep(0.3)
        return Result.passed("landed")

    checks = [fake_check("slow", slow), fake_check("stuck", hang)]
    settings = CheckSettings(interval=60.0, timeout=30.0)

    async def scenario() -> tuple[Store, float]:
        with ThreadPoolExecutor(2) as pool:
            store, scheduler = _started(checks, settings, pool)
            await asyncio.sleep(0.05)  # both runs in progress
            loop = asyncio.get_running_loop()
            started = loop.time()
            await scheduler.stop(grace=1.0)
            return store, loop.time() - started

    store, took = asyncio.run(scenario())
    records = store.snapshot()
    assert records["slow"].result.observed == "landed"  # finished within the grace
    assert "stuck" not in records  # cancelled when the grace ran out
    assert 0.9 <= took < 2.0


def test_a_hung_client_holds_one_thread_and_starves_no_other_check() -> None:
    # A client stuck in a blocking read (a server dribbling one byte per read timeout) keeps
    # its pool thread after its check's timeout. With a pool of 2, a hung check that started
    # a new call each run would take both threads; it holds one, the other check keeps
    # judging, and the abandoned thread is counted.
    release = threading.Event()
    runs = {"healthy": 0}

    async def stuck(ctx) -> Result:
        await ctx.blocking(release.wait, 30)
        return Result.passed("never")

    async def healthy(ctx) -> Result:
        await ctx.blocking(time.sleep, 0.01)
        runs["healthy"] += 1
        return Result.passed("fine")

    checks = [fake_check("stuck", stuck), fake_check("healthy", healthy)]
    settings = CheckSettings(interval=0.2, timeout=0.1)

    async def scenario() -> tuple[Store, int]:
        with ThreadPoolExecutor(2) as pool:
            store, scheduler = _started(checks, settings, pool)
            deadline = asyncio.get_running_loop().time() + 10
            while runs["healthy"] < 15:  # ~3 s of runs, a dozen timeouts of the stuck one
                assert asyncio.get_running_loop().time() < deadline, "the healthy check starved"
                await asyncio.sleep(0.05)
            abandoned = InFlight.abandoned_total
            await scheduler.stop()
            release.set()
        return store, abandoned

    store, abandoned = asyncio.run(scenario())
    assert abandoned == 1
    stuck_result = store.snapshot()["stuck"].result
    assert (stuck_result.status, stuck_result.reason) == ("error", "timeout")
    assert "still running" in stuck_result.detail or "no verdict" in stuck_result.detail
    assert store.snapshot()["healthy"].result.status == "pass"
    assert InFlight.abandoned_total == 0  # its thread ended once the read returned
