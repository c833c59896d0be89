"""No dependency holds a thread beyond its check's timeout, and `check` always prints.

A socket timeout bounds each recv; an API server (or a proxy in front of it) that dribbles its
TLS handshake or its headers a byte at a time reset it with every byte and held a pool thread
for hours: within 20 s the node role's four threads were gone. One deadline now covers the
exchange from connect to the last byte."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import kubelite
from tests.hosts import Node

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: "
# The start of a TLS handshake record of 16 KiB: the client waits for all of it.
TLS_RECORD = b"\x16\x03\x03\x40\x00"


@contextlib.contextmanager
def dribbling(first: bytes) -> Iterator[int]:
    """A server sending `first`, then a byte every 0.1 s, to every connection, for as long as
    the client stays."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(0.1)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)  # the request (or the ClientHello)
            conn.sendall(first)
            while not stop.is_set():
                conn.sendall(b"a")
                time.sleep(0.1)

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    listener.settimeout(0.2)
    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def kubeconfig(path: Path, port: int) -> Path:
    """A kubeconfig for the API server at 127.0.0.1:`port`, over plain HTTP, with a token."""
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: abcdefgh12345678}}]\n"
    )
    return path


@pytest.mark.parametrize(("scheme", "first"), [("http", HEADERS), ("https", TLS_RECORD)],
                         ids=["headers", "tls-handshake"])  # fmt: skip
def test_one_deadline_from_connect_to_the_last_byte(scheme: str, first: bytes) -> None:
    with dribbling(first) as port:
        endpoint = kubelite.Endpoint(f"{scheme}://127.0.0.1:{port}", scheme == "https")
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="within 1s"):
            kubelite.get_json(endpoint, "/api/v1/nodes/n1", 1.0)
        took = time.monotonic() - started
    print(f"\n{scheme} dribbled: the request ended after {took:.2f} s (timeout 1 s)")
    assert took < 1.5


def test_the_cluster_roles_client_too(tmp_path: Path) -> None:
    """The cluster role's Kubernetes client (urllib3) bounded each recv the same way."""
    from concurrent.futures import ThreadPoolExecutor

    from exporter.kube import Kube
    from exporter.model import CheckError

    with dribbling(HEADERS) as port, ThreadPoolExecutor(1) as pool:
        kc = kubeconfig(tmp_path / "kc", port)
        kube = Kube(pool, str(kc))
        kube._client()  # the client made (and kubernetes imported) before the clock starts
        started = time.monotonic()
        with pytest.raises(CheckError, match="no answer within 1s") as caught:
            kube.request("GET", "/version", timeout=1.0)
        took = time.monotonic() - started
    print(f"\ncluster role, dribbled headers: the request ended after {took:.2f} s (timeout 1 s)")
    assert caught.value.reason == "timeout"
    assert took < 1.5


def test_the_s3_client_too() -> None:
    """botocore's own urllib3 pools bounded each recv the same way."""
    from exporter.checks.cluster import storage
    from exporter.model import DependencyError

    with dribbling(HEADERS) as port:
        settings = storage.Settings(endpoint=f"http://127.0.0.1:{port}", bucket="gitpod")
        started = time.monotonic()
        with pytest.raises(DependencyError, match="no answer within 1s") as caught:
            storage._probe(settings, "AKIAEXAMPLE", "secret-example", 1.0)
        took = time.monotonic() - started
    print(f"\nS3, dribbled headers: the probe ended after {took:.2f} s (timeout 1 s)")
    assert caught.value.reason == "timeout"
    assert took < 2.5  # botocore's client is made inside the probe


def _node_role_check(args: list[str], env: dict[str, str], prelude: str = "") -> tuple[dict, float]:
    """`check --role node --output json` through the real entry point, `prelude` run first:
    its report and how long until it exited."""
    code = f"{prelude}\nimport sys\nfrom exporter.cli import run\nsys.argv[1:] = {args!r}\nrun()\n"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, **env})  # fmt: skip
    took = time.monotonic() - started
    assert out.stdout.strip(), out.stderr[-2000:]
    return {r["requirement"]: r for r in json.loads(out.stdout)["results"]}, took


def test_check_prints_beside_a_dribbling_api(tmp_path: Path) -> None:
    """Every check that reads the API (the labels, the installation) ends at its timeout,
    and the report comes out right after."""
    root = Node().build(tmp_path / "host")
    with dribbling(HEADERS) as port:
        kc = kubeconfig(tmp_path / "kc", port)
        cfg = tmp_path / "config.yaml"
        cfg.write_text("defaults:\n  timeout: 2s\n")
        args = ["check", "--output", "json", "--role", "node", "--config", str(cfg),
                "--kubeconfig", str(kc), "--host-root", str(root)]  # fmt: skip
        results, took = _node_role_check(args, {"NODE_NAME": "n1"})
    print(f"\ncheck beside a dribbling API: printed and exited after {took:.1f} s")
    assert results["node_labels"]["reason"] == "timeout", results["node_labels"]
    assert took < 12


def test_check_prints_with_a_thread_stuck_for_good(tmp_path: Path) -> None:
    """A read that never returns (what a hung FUSE or NFS mount under /var/gitpod does to
    statvfs; here os-release's read, held forever): that check is error/timeout, every other
    check is judged, and the process prints and exits without waiting for the thread."""
    root = Node().build(tmp_path / "host")
    prelude = (
        "import threading\nfrom exporter import hostfs\n_read = hostfs.read_text\n"
        "def read_text(root, path, *a):\n"
        "    if 'os-release' in str(path):\n        threading.Event().wait()\n"
        "    return _read(root, path, *a)\n"
        "hostfs.read_text = read_text\n"
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text("defaults:\n  timeout: 2s\n")
    args = ["check", "--output", "json", "--role", "node", "--config", str(cfg),
            "--host-root", str(root), "--only", "node_os", "--only", "node_kernel"]  # fmt: skip
    results, took = _node_role_check(args, {}, prelude)
    print(f"\ncheck with a thread stuck for good: printed and exited after {took:.1f} s")
    assert (results["node_os"]["status"], results["node_os"]["reason"]) == ("error", "timeout")
    assert results["node_kernel"]["status"] == "pass", results["node_kernel"]
    assert took < 8
