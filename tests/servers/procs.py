"""Helpers shared by the server fixtures: find a binary or fail loudly, wait until ready."""

from __future__ import annotations

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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            tail = log.read_text()[-2000:] if log and log.exists() else ""
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
