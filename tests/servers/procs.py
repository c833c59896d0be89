"""Helpers shared by the server fixtures: find a binary or fail loudly, wait until ready."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def require_binary(name: str, package: str) -> str:
    """The path of `name`. A missing binary fails the test: .ci/run installs it, so absence is
    a broken set-up, never a reason to skip."""
    path = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/usr/bin", "/sbin") if (p := Path(d, name)).exists()),
        None,
    )
    if path is None:
        pytest.fail(f"{name} not found: install Debian's {package} (scripts/test does)")
    return path


def free_port() -> int:
    """A port free a moment ago. Another process may take it before the server binds: start
    servers that cannot bind port 0 themselves through `launch`, which retries that race."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(Exception):
    """The server exited because its port was taken meanwhile."""


def launch(
    what: str,
    start: Callable[[int], subprocess.Popen[bytes]],
    ready: Callable[[int], bool],
    log: Path | None = None,
    timeout: float = 20.0,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server on a free port and wait until it answers; when it lost the port to
    another process, try again on a new one."""
    for _ in range(attempts):
        port = free_port()
        proc = start(port)
        try:
            wait_until(functools.partial(ready, port), proc, what, log, timeout)
        except PortTaken:
            continue
        return proc, port
    pytest.fail(f"{what}: its port was taken {attempts} times in a row")


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    what: str,
    log: Path | None = None,
    timeout: float = 20.0,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            if "address already in use" in tail.lower():
                raise PortTaken(tail)
            pytest.fail(f"{what} exited with {proc.returncode} before it was ready:\n{tail}")
        if ready():
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what} not ready within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
