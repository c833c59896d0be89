"""The HTTP surface under attack, ours beside node_exporter's (Debian's
prometheus-node-exporter), same machine, same attack, loopback only. Prints a Markdown table;
scripts/bench-attacks appends it to benchmarks/RESULTS.md. Not part of the test suite: the
bounds it measures are held as regression tests in tests/faults/test_hostile_clients.py.

Attacks: 64 clients sending wrong passwords (authorised /metrics latency meanwhile), 2,000
idle TCP connections and 400 silent TLS connections (RSS growth, /metrics latency)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt
import trustme
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.procs import free_port  # noqa: E402

USER, PASSWORD = "prometheus", "scrape-secret"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Target:
    def __init__(self, name: str, argv: list[str], port: int, tls: ssl.SSLContext) -> None:
        self.name, self.port, self.tls = name, port, tls
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def scrape(t: Target, password: str) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", t.port, ssl=t.tls)
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    writer.write(
        f"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Basic {token}\r\n\r\n".encode()
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data[9:12] or b"0"), time.perf_counter() - started


async def measured(t: Target, n: int = 40) -> tuple[float, float]:
    times = []
    for _ in range(n):
        times.append((await scrape(t, PASSWORD))[1])
        await asyncio.sleep(0.02)
    qs = statistics.quantiles(times, n=100)
    return qs[49] * 1000, qs[98] * 1000


async def password_flood(t: Target) -> str:
    await scrape(t, PASSWORD)
    stop = asyncio.Event()

    async def attacker(i: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                await scrape(t, f"wrong-{i}-{n}")
            except (OSError, ssl.SSLError):
                await asyncio.sleep(0.01)
            n += 1

    tasks = [asyncio.create_task(attacker(i)) for i in range(64)]
    await asyncio.sleep(1)
    p50, p99 = await measured(t)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return f"{p50:.0f} / {p99:.0f} ms"


async def idle_flood(t: Target, count: int, tls_silent: bool) -> str:
    before = rss_kib(t.proc.pid)
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", t.port), timeout=2))
        except OSError:
            break
    await asyncio.sleep(2)
    during = rss_kib(t.proc.pid)
    try:
        p50, p99 = await measured(t, 20)
        latency = f"{p50:.0f} / {p99:.0f} ms"
    except (OSError, ssl.SSLError) as exc:
        latency = f"failed ({type(exc).__name__})"
    for s in socks:
        s.close()
    await asyncio.sleep(2)
    after = rss_kib(t.proc.pid)
    kind = "silent TLS" if tls_silent else "idle TCP"
    return (
        f"{len(socks)} {kind}: +{(during - before) / 1024:.0f} MiB, after "
        f"{(after - before) / 1024:+.0f} MiB; /metrics {latency}"
    )


async def slowloris(t: Target, count: int = 500) -> str:
    """Connections that dribble a request head, a byte every second, for 12 s."""
    socks = []
    for _ in range(count):
        try:
            s = _tls_socket(t)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            socks.append(s)
        except (OSError, ssl.SSLError):
            break
    latencies = []
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        for s in socks:
            with contextlib.suppress(OSError, ssl.SSLError):
                s.send(b"X-a: b\r\n")
        try:
            latencies.append((await scrape(t, PASSWORD))[1])
        except (OSError, ssl.SSLError):
            latencies.append(10.0)
        await asyncio.sleep(1)
    alive = 0
    for s in socks:
        try:
            s.send(b"X-a: b\r\n")
            alive += 1
        except (OSError, ssl.SSLError):
            pass
        s.close()
    qs = statistics.quantiles(latencies, n=100)
    return (
        f"{len(socks)} dribbling: /metrics {qs[49] * 1000:.0f} / {qs[98] * 1000:.0f} ms, "
        f"{alive} still open after 12 s"
    )


async def slow_readers(t: Target, count: int = 100) -> str:
    """Clients that pipeline requests and never read the answers, for 12 s."""
    socks = _pipelining(t, count, 200)
    cpu_before = _cpu(t.proc.pid)
    latencies = []
    for _ in range(12):
        try:
            latencies.append((await scrape(t, PASSWORD))[1])
        except (OSError, ssl.SSLError):
            latencies.append(10.0)
        await asyncio.sleep(1)
    cpu = _cpu(t.proc.pid) - cpu_before
    for s in socks:
        s.close()
    qs = statistics.quantiles(latencies, n=100)
    return (
        f"{len(socks)} slow readers: /metrics {qs[49] * 1000:.0f} / {qs[98] * 1000:.0f} ms,"
        f" {cpu:.1f} CPU s in 12 s"
    )


async def pipeliners(t: Target, count: int = 500, per: int = 2000) -> str:
    """Clients that pipeline `per` scrapes each and read none (issue 41's attack): the highest
    resident memory seen over 12 s, and whether authorised scrapes answered meanwhile."""
    socks = _pipelining(t, count, per)
    peak, answered = 0, 0
    for _ in range(12):
        peak = max(peak, rss_kib(t.proc.pid))
        with contextlib.suppress(OSError, ssl.SSLError):
            answered += (await scrape(t, PASSWORD))[0] == 200
        await asyncio.sleep(1)
    for s in socks:
        s.close()
    return f"{len(socks)} x {per} pipelined: RSS up to {peak / 1024:.0f} MiB, {answered}/12 scrapes"


def _pipelining(t: Target, count: int, per: int) -> list[ssl.SSLSocket]:
    """`count` TLS clients, each sending `per` authorised scrapes at once (what the socket
    takes of them) and reading none."""
    socks = []
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + token + b"\r\n\r\n"
    for _ in range(count):
        try:
            s = _tls_socket(t)
            s.setblocking(False)
            with contextlib.suppress(OSError, ssl.SSLError):
                s.send(request * per)
            socks.append(s)
        except (OSError, ssl.SSLError):
            break
    return socks


def _tls_socket(t: Target) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", t.port), timeout=5)
    return t.tls.wrap_socket(raw, server_hostname="127.0.0.1")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    if not shutil.which("prometheus-node-exporter"):
        print("prometheus-node-exporter is missing: scripts/bench installs it", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="attacks-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp / "tls.crt"))
    cert.private_key_pem.write_to_path(str(tmp / "tls.key"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    (tmp / "web.yaml").write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(tmp / "tls.crt"),
                    "key_file": str(tmp / "tls.key"),
                },
                "basic_auth_users": {USER: hashed},
            }
        )
    )
    client = ssl.create_default_context()
    ca.configure_trust(client)
    rows = []
    ours_port, theirs_port = free_port(), free_port()
    exe = str(Path(sys.executable).with_name("gitpod-requirements-exporter"))
    targets = [
        (
            "gitpod-requirements-exporter (node role)",
            [
                exe,
                "serve",
                "--role",
                "node",
                "--host-root",
                "/",
                "--listen",
                f"127.0.0.1:{ours_port}",
                "--web-config",
                str(tmp / "web.yaml"),
            ],
            ours_port,
        ),
        (
            "node_exporter 1.5",
            [
                "prometheus-node-exporter",
                "--no-collector.systemd",
                f"--web.listen-address=127.0.0.1:{theirs_port}",
                f"--web.config.file={tmp / 'web.yaml'}",
            ],
            theirs_port,
        ),
    ]
    for name, argv, port in targets:
        t = Target(name, argv, port, client)
        try:
            idle = asyncio.run(measured(t))
            flood = asyncio.run(password_flood(t))
            tcp = asyncio.run(idle_flood(t, 2000, False))
            tls = asyncio.run(idle_flood(t, 400, True))
            loris = asyncio.run(slowloris(t))
            readers = asyncio.run(slow_readers(t))
            piped = asyncio.run(pipeliners(t))
            rows.append(
                [
                    name,
                    f"{idle[0]:.0f} / {idle[1]:.0f} ms",
                    flood,
                    tcp,
                    tls,
                    loris,
                    readers,
                    piped,
                    f"{rss_kib(t.proc.pid) / 1024:.0f} MiB",
                ]
            )
        finally:
            t.stop()
    header = [
        "target",
        "authorised /metrics p50 / p99, quiet",
        "same, 64 clients sending wrong passwords",
        "2,000 idle TCP connections",
        "400 silent TLS connections",
        "500 slowloris connections",
        "100 slow readers",
        "500 pipelining non-readers",
        "RSS at the end",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
