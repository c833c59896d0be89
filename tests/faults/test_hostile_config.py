"""Config files are input too: a bomb, a monster, a non-text or a bottomless file stops
start-up with exit 2 and a short message, and on SIGHUP keeps the running config while
/metrics keeps answering."""

from __future__ import annotations

import asyncio
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exporter.checks import NODE_CHECKS
from exporter.compat import load as load_matrix
from exporter.config import Config
from exporter.runtime import Loaded, Options, build
from exporter.scheduler import Scheduler
from exporter.store import Store
from tests.helpers.exporter import EXE, Served
from tests.helpers.poll import until

BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "log_level: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
)
HOSTILE: dict[str, bytes] = {
    "alias bomb": BOMB.encode(),
    "nested": b"log_level: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "not UTF-8": b"log_level: \xff\xfe\xfd info\n",
    "12.5 MB": b"# " + b"x" * 12_500_000 + b"\nlog_level: info\n",
    "NaN duration": b"defaults:\n  interval: .nan\n",
    "Inf duration": b"checks:\n  node_kernel:\n    interval: .inf\n",
    "zero duration": b"defaults:\n  interval: 0\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_start_up_with_a_hostile_config_exits_2_briefly(name: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(HOSTILE[name])
    started = time.monotonic()
    out = subprocess.run(
        [str(EXE), "check", "--role", "node", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "config error" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr) < 1000  # never the expanded or quoted file
    assert time.monotonic() - started < 5


def test_a_web_config_bomb_stops_serve(tmp_path: Path) -> None:
    web = tmp_path / "web.yaml"
    web.write_text(BOMB.replace("log_level", "basic_auth_users"))
    out = subprocess.run(
        [str(EXE), "serve", "--role", "node", "--listen", "127.0.0.1:0", "--web-config", str(web)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "aliases are not allowed" in out.stderr and len(out.stderr) < 1000


def test_sighup_with_hostile_configs_keeps_serving(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    config: Path = node_exporter.config  # type: ignore[attr-defined]
    good = config.read_bytes()

    def reload_ok() -> float:
        return next(
            s.value
            for s in node_exporter.samples()
            if s.name == "gitpod_exporter_config_last_reload_successful"
        )

    for name in ("alias bomb", "nested", "not UTF-8", "12.5 MB", "NaN duration"):
        config.write_bytes(HOSTILE[name])
        node_exporter.proc.send_signal(1)  # SIGHUP
        until(lambda: reload_ok() == 0, 10, f"the {name} reload reported as failed")
        started = time.monotonic()
        assert node_exporter.get("/metrics")[0] == 200
        assert node_exporter.get("/healthz")[0] == 200
        assert time.monotonic() - started < 1
        config.write_bytes(good)
        node_exporter.proc.send_signal(1)
        until(lambda: reload_ok() == 1, 10, "the good config reloaded")
    assert node_exporter.proc.poll() is None
    node_exporter.proc.terminate()
    assert node_exporter.proc.wait(5) == 0
    logs = node_exporter.logs()
    assert "aliases are not allowed" in logs and "not UTF-8" in logs
    assert "Traceback" not in logs
    assert len(logs) < 200_000


def test_scheduler_start_is_idempotent(tmp_path: Path) -> None:
    async def scenario() -> int:
        with ThreadPoolExecutor(2) as pool:
            jobs = build(
                Options("node", tmp_path, None), Loaded(Config(), load_matrix()), pool
            ).jobs
            scheduler = Scheduler(jobs, Store([r for j in jobs for r in j.requirements]))
            scheduler.start()
            scheduler.start()  # a second SIGHUP's swap must not start a second set of loops
            count = len(scheduler._tasks)
            await scheduler.stop()
            return count

    assert asyncio.run(scenario()) == len(NODE_CHECKS)
