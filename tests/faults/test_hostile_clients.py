"""Clients that attack the HTTP surface (loopback only, bounded in count and time): parsing
holes, header injection, password floods, connection floods. The process lives, authorised
scrapes keep answering, nothing is reflected, the log stays small."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import time
from pathlib import Path

import bcrypt
import pytest
import yaml

from tests.helpers.exporter import EXE, Served, start
from tests.helpers.poll import until
from tests.helpers.process import open_sockets

USER, PASSWORD = "prometheus", "scrape-secret"


def auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def raw(served: Served, request: bytes, timeout: float = 5.0) -> bytes:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):  # every request here asks the server to close
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture(params=[40])
def guarded(tmp_path: Path, request) -> Served:
    """The node role with basic auth (cost 10, as htpasswd -B makes it) and a small cap
    (None: the default, half the file descriptor limit, at most 512)."""
    web = tmp_path / "web.yaml"
    web.write_text(
        yaml.safe_dump(
            {
                "basic_auth_users": {
                    USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
                }
            }
        )
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"web:\n  max_connections: {request.param}\n" if request.param else "")
    served = start(
        ["--role", "node", "--host-root", "/", "--web-config", str(web), "--config", str(config)]
    )
    yield served
    if served.proc.poll() is None:
        served.proc.kill()
        served.proc.wait()


GET = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (GET + "Content-Length: \u00b2\r\n\r\n".encode(), b"400"),  # isdigit() passed it
        (GET + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", b"400"),
        (
            HEALTHZ + b"Accept: application/openmetrics-text; version=1.x\r\n\r\n",
            b"200",
        ),
        (
            HEALTHZ + b"Accept: text/plain; version=0.0.4\nX-Injected: yes\r\n\r\n",
            b"200",
        ),
    ],
)
def test_parsing_holes_are_closed(guarded: Served, request_bytes: bytes, status: bytes) -> None:
    answer = raw(guarded, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"X-Injected" not in answer and b"1.x" not in answer
    assert guarded.proc.poll() is None


def test_openmetrics_is_negotiated_without_reflecting_the_accept_header(guarded: Served) -> None:
    answer = raw(
        guarded,
        GET
        + b"Authorization: "
        + auth_header(USER, PASSWORD).encode()
        + b"\r\nAccept: application/openmetrics-text; version=9.9.9\r\n\r\n",
    )
    head = answer.split(b"\r\n\r\n", 1)[0]
    assert b"Content-Type: application/openmetrics-text; version=1.0.0" in head
    assert b"9.9.9" not in head


def test_probes_need_no_credentials_and_long_passwords_are_refused(guarded: Served) -> None:
    assert guarded.get("/healthz")[0] == 200  # kubelet's probes carry no credentials
    assert guarded.get("/metrics")[0] == 401
    answer = raw(
        guarded, GET + b"Authorization: " + auth_header(USER, "x" * 200).encode() + b"\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 401")
    guarded.proc.terminate()
    guarded.proc.wait(5)
    assert "Traceback" not in guarded.logs()


async def _scrape(port: int, header: str) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
        + header.encode()
        + b"\r\n\r\n"
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data[9:12]), time.perf_counter() - started


@pytest.mark.parametrize("guarded", [512], indirect=True)  # the default cap, not the small one
def test_a_password_flood_does_not_stall_authorised_scrapes(guarded: Served) -> None:
    port = int(guarded.url.rsplit(":", 1)[1])
    good = auth_header(USER, PASSWORD)

    async def scenario() -> tuple[list[float], list[int]]:
        assert (await _scrape(port, good))[0] == 200  # remembered from here on
        stop = asyncio.Event()

        async def attacker(i: int) -> None:
            n = 0
            while not stop.is_set():
                await _scrape(port, auth_header(USER, f"wrong-{i}-{n}"))
                n += 1

        attackers = [asyncio.create_task(attacker(i)) for i in range(64)]
        await asyncio.sleep(0.5)
        latencies, codes = [], []
        for _ in range(60):
            code, took = await _scrape(port, good)
            codes.append(code)
            latencies.append(took)
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.gather(*attackers, return_exceptions=True)
        return latencies, codes

    latencies, codes = asyncio.run(scenario())
    assert set(codes) == {200}
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert p99 < 0.1, f"authorised p99 {p99 * 1000:.0f} ms under a password flood"
    assert guarded.proc.poll() is None


def test_a_connection_flood_is_capped_and_scrapes_still_answer(guarded: Served) -> None:
    port = int(guarded.url.rsplit(":", 1)[1])
    idle = []
    for _ in range(120):  # three times the cap of 40
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.append(s)
    try:
        started = time.monotonic()
        assert guarded.get("/healthz")[0] == 200  # the oldest idle made room
        assert time.monotonic() - started < 1
        fd_dir = Path(f"/proc/{guarded.proc.pid}/fd")
        # 40 connections at most, plus the process's own files.
        until(lambda: len(list(fd_dir.iterdir())) < 40 + 30, 5, "the cap holding")
    finally:
        for s in idle:
            s.close()
    guarded.proc.terminate()
    assert guarded.proc.wait(5) == 0
    logs = guarded.logs()
    assert "Traceback" not in logs and len(logs) < 20_000


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-Frame-Options": "deny\r\nX-Injected: 1"}, "without CR or LF"),
        ({"X-Frame-Options": "d\u20acny"}, "Latin-1"),
        ({"Content-Length": "0"}, "not a header this server lets you set"),
    ],
)
def test_web_config_headers_are_validated(tmp_path: Path, headers, problem) -> None:
    web = tmp_path / "web.yaml"
    web.write_text(yaml.safe_dump({"http_server_config": {"headers": headers}}, allow_unicode=True))
    out = subprocess.run(
        [str(EXE), "serve", "--role", "node", "--listen", "127.0.0.1:0", "--web-config", str(web)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "http_server_config.headers." in out.stderr and problem in out.stderr


def test_silent_tls_handshakes_neither_balloon_nor_block(tmp_path: Path, tls_ca) -> None:
    cert = tls_ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    web = tmp_path / "web.yaml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(tmp_path / "tls.crt"),
                    "key_file": str(tmp_path / "tls.key"),
                }
            }
        )
    )
    served = start(["--role", "node", "--host-root", "/", "--web-config", str(web)])
    client = ssl.create_default_context()
    tls_ca.configure_trust(client)
    port = int(served.url.rsplit(":", 1)[1])

    def rss_kib() -> int:
        status = Path(f"/proc/{served.proc.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1])

    def scrape() -> float:
        started = time.monotonic()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw_sock,
            client.wrap_socket(raw_sock, server_hostname="127.0.0.1") as s,
        ):
            s.sendall(HEALTHZ + b"\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        return time.monotonic() - started

    try:
        scrape()
        before = rss_kib()
        silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(300)]
        try:
            assert scrape() < 1.0  # the oldest unfinished handshakes gave way
            assert rss_kib() - before < 30 * 1024, "pending handshakes cost too much memory"
        finally:
            for s in silent:
                s.close()
        assert served.proc.poll() is None
    finally:
        served.proc.kill()
        served.proc.wait()


def test_slowloris_gets_the_head_deadline_not_the_idle_one(guarded: Served) -> None:
    """A head dribbled a byte every half second is cut HEAD_SECONDS (10 s) after it began:
    no byte resets the clock. Authorised clients are served meanwhile."""
    port = int(guarded.url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
    started = time.monotonic()
    with contextlib.suppress(OSError):  # the server may close while we still dribble
        for byte in head[:28]:  # 14 s of dribbling, never a complete head
            s.sendall(bytes([byte]))
            time.sleep(0.5)
    assert guarded.get("/healthz")[0] == 200
    s.settimeout(5)
    try:
        closed = s.recv(100) == b""  # EOF: the server gave up on the head
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        closed = False  # still waiting for the rest of the head: no deadline
    finally:
        s.close()
    assert closed, f"the dribbled head was still open after {time.monotonic() - started:.0f} s"


def test_fd_exhaustion_neither_kills_nor_floods_the_log() -> None:
    prlimit = shutil.which("prlimit")
    assert prlimit, "prlimit (util-linux) is needed"
    argv = [
        prlimit,
        "--nofile=64",
        str(EXE),
        "serve",
        "--role",
        "node",
        "--host-root",
        "/",
        "--listen",
        "127.0.0.1:0",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    port = int(proc.stdout.readline().split("127.0.0.1:")[1].split("/")[0])
    socks = []
    try:
        for _ in range(300):  # ten times what the process may open
            with contextlib.suppress(OSError):
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(HEALTHZ + b"\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        assert proc.poll() is None
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(10)
    logs = proc.stderr.read()
    assert len(logs.splitlines()) < 100 and "Traceback" not in logs


@pytest.mark.parametrize(("guarded", "heads"), [(40, 120), (None, 600)], indirect=["guarded"],
                         ids=["cap-40", "default-cap"])  # fmt: skip
def test_unfinished_heads_at_the_cap_never_cost_a_scrape(guarded: Served, heads: int) -> None:
    # More connections than the cap, each holding a started head: none is idle, and the cap
    # must still make room for Prometheus (the oldest unfinished head gives way).
    cap = 40 if heads == 120 else min(512, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)
    port = int(guarded.url.rsplit(":", 1)[1])
    guarded.wait_ready(30)
    held = []
    for _ in range(heads):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(s)
    try:
        until(
            lambda: open_sockets(guarded.proc.pid) > cap,
            10,
            "the cap's worth of unfinished heads held",
        )

        async def scrapes() -> list[tuple[int, float]]:
            return [await _scrape(port, auth_header(USER, PASSWORD)) for _ in range(10)]

        for code, took in asyncio.run(scrapes()):
            assert code == 200 and took < 1.0, (code, took)
    finally:
        for s in held:
            s.close()
    assert guarded.proc.poll() is None


@pytest.mark.parametrize(("guarded", "clients"), [(40, 20), (None, 500)], indirect=["guarded"],
                         ids=["cap-40", "default-cap"])  # fmt: skip
def test_clients_that_never_read_are_dropped_and_scrapes_still_answer(
    guarded: Served, clients: int
) -> None:
    # Each pipelines 2,000 scrapes and reads none: the answers fill the socket, the write
    # deadline (10 s) drops the connection, and an authorised scrape answers meanwhile. The
    # process stays well under the chart's 128 MiB (it reached 141 MiB, node_exporter 63 MiB,
    # before an answer had to reach the kernel before the next request was parsed).
    port = int(guarded.url.rsplit(":", 1)[1])
    header = auth_header(USER, PASSWORD).encode()
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: " + header + b"\r\n\r\n"
    assert asyncio.run(_scrape(port, header.decode()))[0] == 200  # the password remembered
    baseline = open_sockets(guarded.proc.pid)
    readers = []
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.sendall(request * 2000)
        readers.append(s)
    try:

        async def scrapes() -> list[tuple[int, float]]:
            out = []
            for _ in range(10):
                out.append(await _scrape(port, header.decode()))
                await asyncio.sleep(0.1)
            return out

        # Answered well before the 10 s write deadline frees anything: the server is not
        # blocked behind the non-readers (how fast it answers is the benchmark's business; a
        # 1 s bound failed on a loaded 2-core machine at 1.8 s).
        for code, took in asyncio.run(scrapes()):
            assert code == 200 and took < 5.0, (code, took)
        assert (
            open_sockets(guarded.proc.pid) >= baseline + len(readers) - 1
        )  # held, answers pending
        # Dropped at the write deadline, not kept open to flush what nobody reads.
        until(lambda: open_sockets(guarded.proc.pid) <= baseline, 20, "the non-readers dropped")
    finally:
        for s in readers:
            s.close()
    assert guarded.proc.poll() is None
    status = Path(f"/proc/{guarded.proc.pid}/status").read_text()
    peak = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]) >> 10
    print(f"\n{clients} clients pipelining 2,000 scrapes, reading none: peak {peak} MiB")
    assert peak < 128 * 0.75
