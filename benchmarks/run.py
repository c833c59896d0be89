"""Footprint, scrape latency, start-up and cluster scale, beside Debian's prometheus-node-exporter
started in the same run on the same machine. Prints five tables and writes RESULTS.md.

    bash scripts/bench            # installs what it needs, then runs this
    .venv/bin/python benchmarks/run.py --soak 60 --requests 2000

Not part of the test suite: figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exporter.checks import NODE_CHECKS  # noqa: E402
from tests.clusters import components  # noqa: E402
from tests.servers.kube_fake import FakeKube, node, running  # noqa: E402
from tests.servers.procs import free_port  # noqa: E402

MARKER = "<!-- analysis: kept by benchmarks/run.py across runs -->"
EXE = Path(sys.executable).with_name("gitpod-requirements-exporter")
LABELS = {"gitpod.io/workload_workspace_regular": "true"}


# --- processes --------------------------------------------------------------------------------
@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    url: str
    started: float

    @property
    def pid(self) -> int:
        return self.popen.pid


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def wait_for(url: str, code: int = 200, timeout: float = 30) -> float:
    """Seconds until `url` answers `code`, polling every 5 ms."""
    start = time.perf_counter()
    while status(url) != code:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(url)
        time.sleep(0.005)
    return time.perf_counter() - start


@contextmanager
def spawned(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[Proc]:
    started = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, **(env or {})})  # fmt: skip
    try:
        yield Proc(p, f"http://127.0.0.1:{port}", started)
    finally:
        p.terminate()
        p.wait(10)


@contextmanager
def exporter(role: str, config: str, env: dict[str, str] | None = None, *args: str):
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    cfg = tmp / "config.yaml"
    cfg.write_text(config)
    port = free_port()
    argv = [str(EXE), "serve", "--role", role, "--config", str(cfg),
            "--listen", f"127.0.0.1:{port}", *args]  # fmt: skip
    try:
        with spawned(argv, port, env) as proc:
            yield proc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def node_exporter() -> Iterator[Proc]:
    exe = shutil.which("prometheus-node-exporter")
    if exe is None:
        sys.exit("prometheus-node-exporter missing: run scripts/bench (it installs it)")
    port = free_port()
    # --web.max-requests=0: by default it answers 503 beyond 40 concurrent scrapes, which
    # would flatter its latency at 50.
    argv = [exe, "--no-collector.systemd", "--web.max-requests=0",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with spawned(argv, port) as proc:
        yield proc


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB from smaps_rollup."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    rss = int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    pss = int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return rss / 1024, pss / 1024


# --- hung dependencies --------------------------------------------------------------------------
@contextmanager
def hung_servers(tmp: Path) -> Iterator[tuple[str, str]]:
    """A unix socket (containerd) and a TCP port (the API server) that accept and never answer."""
    unix = socket.socket(socket.AF_UNIX)
    sock_path = tmp / "containerd.sock"
    unix.bind(str(sock_path))
    unix.listen(64)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept(s: socket.socket) -> None:
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except (TimeoutError, OSError):
                continue

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in (unix, tcp)]
    for t in threads:
        t.start()
    try:
        yield str(sock_path), f"http://127.0.0.1:{tcp.getsockname()[1]}"
    finally:
        stop.set()
        for s in [unix, tcp, *held]:
            s.close()


def kubeconfig(path: Path, server: str) -> str:
    fake = FakeKube(url=server)
    return str(fake.kubeconfig(path))


# --- 1. memory ----------------------------------------------------------------------------------
# Every node check of the registry, each once a second.
SHORT = "\n".join(f"  {c.id}:\n    interval: 1s\n    timeout: 1s" for c in NODE_CHECKS)
NODE_CONFIG = "checks:\n" + SHORT + "\n"


def bench_memory(soak: float) -> list[list[str]]:
    rows = []
    with exporter("node", NODE_CONFIG, {"NODE_NAME": "bench"}, "--host-root", "/") as ours, \
            node_exporter() as theirs:  # fmt: skip
        wait_for(ours.url + "/readyz")
        wait_for(theirs.url + "/metrics")
        for p in (ours, theirs):
            status(p.url + "/metrics")
        first = memory(ours.pid), memory(theirs.pid)
        cpu_before, started = cpu_seconds(ours.pid), time.monotonic()
        deadline = time.monotonic() + soak
        scrapes = 0
        while time.monotonic() < deadline:  # scrape both like a 1 s Prometheus would, meanwhile
            status(ours.url + "/metrics")
            status(theirs.url + "/metrics")
            scrapes += 1
            time.sleep(1)
        rounds = round(soak)
        after = memory(ours.pid), memory(theirs.pid)
        # Every check runs once a second: CPU per second is CPU per round of all of them
        # (and the 1 s scrapes, a small part: table 2b).
        per_round = (cpu_seconds(ours.pid) - cpu_before) / (time.monotonic() - started)
    for label, (o, t) in (("after the first round", first),
                          (f"after ~{rounds} rounds ({soak:g} s at 1 s)", after)):  # fmt: skip
        rows.append([f"RSS {label}", f"{o[0]:.1f} MiB", f"{t[0]:.1f} MiB", f"{o[0] / t[0]:.2f}x"])
        rows.append([f"PSS {label}", f"{o[1]:.1f} MiB", f"{t[1]:.1f} MiB", f"{o[1] / t[1]:.2f}x"])
    what = f"CPU per round of the {len(NODE_CHECKS)} node checks"
    rows.append([what, f"{per_round * 1000:.1f} ms", "-", "-"])
    return rows


# --- 2. latency ---------------------------------------------------------------------------------
# What Prometheus 2.42 sends with every scrape: OpenMetrics preferred, gzip accepted.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


async def _load(url: str, concurrency: int, total: int) -> list[float]:
    times: list[float] = []
    remaining = total
    conn = aiohttp.TCPConnector(limit=concurrency)
    headers = PROMETHEUS_HEADERS
    async with aiohttp.ClientSession(connector=conn) as s:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                async with s.get(url, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise SystemExit(f"{url} answered {r.status} at concurrency {concurrency}")
                times.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def latency(url: str, concurrency: int, total: int) -> tuple[float, float]:
    times = asyncio.run(_load(url + "/metrics", concurrency, total))
    return pct(times, 50), pct(times, 99)


def bench_latency(total: int) -> list[list[str]]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-hung-"))
    with hung_servers(tmp) as (sock, api):
        kc = kubeconfig(tmp / "kubeconfig", api)
        # Hung for longer than the whole measurement: the first round never completes.
        hung = ("checks:\n  node_containerd:\n    sockets: [SOCK]\n    interval: 30m\n"
                "    timeout: 30m\n  node_labels:\n    interval: 30m\n    timeout: 30m\n"
                ).replace("SOCK", sock)  # fmt: skip
        with exporter("node", "", {"NODE_NAME": "bench"}, "--host-root", "/") as ours, \
                exporter("node", hung, {"NODE_NAME": "bench", "KUBECONFIG": kc},
                         "--host-root", "/") as slow, \
                node_exporter() as theirs:  # fmt: skip
            wait_for(ours.url + "/readyz")
            wait_for(theirs.url + "/metrics")
            wait_for(slow.url + "/metrics")
            for c in (1, 10, 50):
                o, t, s = (latency(p.url, c, total) for p in (ours, theirs, slow))
                rows.append([str(c), f"{o[0]:.2f} / {o[1]:.2f}", f"{t[0]:.2f} / {t[1]:.2f}",
                             f"{o[1] / t[1]:.2f}x", f"{s[0]:.2f} / {s[1]:.2f}"])  # fmt: skip
            # The slow exporter's containerd and API checks were still hanging throughout.
            assert status(slow.url + "/readyz") == 503, "the hung checks finished early"
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


# --- 2b. CPU per scrape ------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape_fresh(url: str) -> None:
    """One scrape as Prometheus makes it after a restart: a new connection, its headers."""
    req = urllib.request.Request(url + "/metrics", headers=PROMETHEUS_HEADERS)
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def bench_scrape_cpu(scrapes: int) -> list[list[str]]:
    """CPU per scrape, net of what each process spends idle over as long; RSS after the load."""
    with exporter("node", "", {"NODE_NAME": "bench"}, "--host-root", "/") as ours, \
            node_exporter() as theirs:  # fmt: skip
        wait_for(ours.url + "/readyz")
        wait_for(theirs.url + "/metrics")
        per_scrape = []
        for p in (ours, theirs):
            for _ in range(20):  # warm up: caches, imports, the first gzip
                scrape_fresh(p.url)
            before, start = cpu_seconds(p.pid), time.perf_counter()
            for _ in range(scrapes):
                scrape_fresh(p.url)
            busy, took = cpu_seconds(p.pid) - before, time.perf_counter() - start
            idle_before = cpu_seconds(p.pid)
            time.sleep(took)
            idle = cpu_seconds(p.pid) - idle_before
            per_scrape.append(max(busy - idle, 0.0) / scrapes * 1000)
        for p in (ours, theirs):
            latency(p.url, 50, 1000)
        rss = memory(ours.pid)[0], memory(theirs.pid)[0]
    o, t = per_scrape
    return [
        [f"CPU per scrape ({scrapes} scrapes, each a new connection)", f"{o:.2f} ms",
         f"{t:.2f} ms", f"{o / t:.2f}x"],
        ["RSS after those and 1,000 scrapes by 50 clients", f"{rss[0]:.1f} MiB",
         f"{rss[1]:.1f} MiB", f"{rss[0] / rss[1]:.2f}x"],
    ]  # fmt: skip


# --- 2c. soak under scrapes ---------------------------------------------------------------------
def bench_scrape_soak(seconds: float) -> list[list[str]]:
    """RSS of both under Prometheus-like scrapes (10 a second, its headers, new connections)
    with the default check intervals: after a minute's warm-up, then every third of the rest."""
    rows = []
    with exporter("node", "", {"NODE_NAME": "bench"}, "--host-root", "/") as ours, \
            node_exporter() as theirs:  # fmt: skip
        wait_for(ours.url + "/readyz")
        wait_for(theirs.url + "/metrics")
        start = time.monotonic()
        marks = [60.0 + (seconds - 60.0) * i / 3 for i in range(4)]
        while marks:
            for p in (ours, theirs):
                scrape_fresh(p.url)
            elapsed = time.monotonic() - start
            if elapsed >= marks[0]:
                o, t = memory(ours.pid)[0], memory(theirs.pid)[0]
                rows.append([f"RSS at {marks.pop(0):.0f} s", f"{o:.1f} MiB", f"{t:.1f} MiB",
                             f"{o / t:.2f}x"])  # fmt: skip
            time.sleep(0.1)
    return rows


# --- 3. start-up --------------------------------------------------------------------------------
def import_time() -> tuple[float, list[tuple[str, float]]]:
    code = "import exporter.cli, exporter.daemon, exporter.server, exporter.checks.node"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True, cwd=ROOT, check=True).stderr  # fmt: skip
    top = []
    for line in out.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m and not m.group(2).startswith(" "):
            top.append((m.group(2), int(m.group(1)) / 1e6))
    return sum(t for _, t in top), sorted(top, key=lambda x: -x[1])[:5]


def bench_startup(repeat: int) -> list[list[str]]:
    firsts, readies, theirs = [], [], []
    for _ in range(repeat):
        with exporter("node", "", {"NODE_NAME": "bench"}, "--host-root", "/") as p:
            wait_for(p.url + "/metrics")
            firsts.append(time.perf_counter() - p.started)
            wait_for(p.url + "/readyz")
            readies.append(time.perf_counter() - p.started)
        with node_exporter() as n:
            wait_for(n.url + "/metrics")
            theirs.append(time.perf_counter() - n.started)
    total, top = import_time()
    rows = [
        ["process start -> first /metrics (median)", f"{statistics.median(firsts) * 1000:.0f} ms",
         f"{statistics.median(theirs) * 1000:.0f} ms"],
        ["process start -> /readyz ready (median)", f"{statistics.median(readies) * 1000:.0f} ms",
         "-"],
        ["import time of the node role (python -X importtime)", f"{total * 1000:.0f} ms", "-"],
    ]  # fmt: skip
    rows += [[f"  of which {name}", f"{t * 1000:.0f} ms", ""] for name, t in top]
    return rows


# --- 4. cluster scale ---------------------------------------------------------------------------
ROUND = """
import asyncio, json, sys, time
from concurrent.futures import ThreadPoolExecutor
from exporter.checks import CLUSTER_CHECKS
from pathlib import Path
from exporter.runtime import Options, build, load
from exporter.scheduler import run_job
async def main():
    options = Options(role="cluster", host_root=Path("/"), kubeconfig=sys.argv[1])
    loaded = load(None)
    with ThreadPoolExecutor(loaded.config.thread_pool_size) as pool:
        jobs = build(options, loaded, pool).jobs
        start = time.perf_counter()
        runs = await asyncio.gather(*(run_job(j) for j in jobs))
        took = time.perf_counter() - start
    bad = [r.requirement.id for rs in runs for r in rs if r.result.status == "error"]
    print(json.dumps({"seconds": took, "errors": bad}))
asyncio.run(main())
"""


def bench_cluster(sizes: list[int]) -> list[list[str]]:
    rows = []
    baseline = None
    for n in sizes:
        fake = FakeKube()
        components(fake)  # namespace, LoadBalancer, cert-manager, storage classes: a full round
        for i in range(n):
            name = f"node-{i:05d}"
            fake.nodes[name] = node(name, LABELS)
        tmp = Path(tempfile.mkdtemp(prefix="bench-kube-"))
        with running(fake):
            kc = fake.kubeconfig(tmp / "kubeconfig")
            p = subprocess.Popen([sys.executable, "-c", ROUND, str(kc)],
                                 stdout=subprocess.PIPE, cwd=ROOT)  # fmt: skip
            assert p.stdout is not None
            out = p.stdout.read()
            _, _, usage = os.wait4(p.pid, 0)
            p.returncode = 0
            result = json.loads(out)
        shutil.rmtree(tmp, ignore_errors=True)
        peak = usage.ru_maxrss / 1024
        baseline = baseline if baseline is not None else (n, peak)
        per_k = (peak - baseline[1]) / max(n - baseline[0], 1) * 1000 if n != baseline[0] else 0
        rows.append([f"{n:,}", f"{result['seconds']:.2f} s", str(fake.total_calls),
                     f"{fake.calls['/api/v1/nodes']}", f"{peak:.0f} MiB",
                     f"{per_k:.2f} MiB" if n != baseline[0] else "-",
                     ", ".join(result["errors"]) or "none"])  # fmt: skip
    return rows


# --- 5. API load of the node role ---------------------------------------------------------------
def bench_node_api(seconds: float) -> list[list[str]]:
    fake = FakeKube()
    fake.nodes["bench"] = node("bench", LABELS)
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    with running(fake):
        kc = fake.kubeconfig(tmp / "kubeconfig")
        config = "checks:\n  node_labels:\n    interval: 1s\n    timeout: 1s\n"
        with exporter("node", config, {"NODE_NAME": "bench", "KUBECONFIG": kc},
                      "--host-root", "/") as p:  # fmt: skip
            wait_for(p.url + "/readyz")
            before = fake.total_calls
            time.sleep(seconds)
            during = fake.total_calls - before
    shutil.rmtree(tmp, ignore_errors=True)
    lists = fake.calls["/api/v1/nodes"]
    per_interval = during / seconds  # interval 1 s
    return [["API calls per pod per interval", f"{per_interval:.2f}", "<= 1"],
            ["of which GET /api/v1/nodes/<own node>", str(fake.calls["/api/v1/nodes/bench"]), ""],
            ["LIST calls", str(lists), "0"]]  # fmt: skip


# --- output -------------------------------------------------------------------------------------
def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([f"### {title}", "", line(header), sep, *map(line, rows), ""])


def machine() -> str:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    ne_version = "node_exporter not installed"
    if shutil.which("prometheus-node-exporter"):
        ne = subprocess.run(["prometheus-node-exporter", "--version"], capture_output=True,
                            text=True)  # fmt: skip
        ne_version = (ne.stdout or ne.stderr).splitlines()[0] if ne.returncode == 0 else "?"
    model = cpu.group(1) if cpu else "?"
    return (f"{os.cpu_count()} x {model}, {mem / 1024 / 1024:.0f} GiB, Linux "
            f"{platform.release()}, Python {platform.python_version()}, {ne_version}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--soak", type=float, default=60, help="seconds of 1 s rounds (default 60)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    ap.add_argument("--scrapes", type=int, default=2000, help="scrapes for CPU per scrape")
    ap.add_argument("--scrape-soak", type=float, default=600, help="seconds of scrapes (2c)")
    ap.add_argument("--only", default="", help="run only the steps whose title starts so")
    ap.add_argument("--sizes", default="500,5000,20000", help="cluster sizes in nodes")
    ap.add_argument("--write", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = ap.parse_args()
    steps = [
        ("1. Resident memory of the node role", ["", "ours", "node_exporter", "ratio"],
         lambda: bench_memory(args.soak)),
        ("2. /metrics latency p50 / p99 in ms", ["scrapers", "ours", "node_exporter",
         "p99 ratio", "ours, containerd and API hung"], lambda: bench_latency(args.requests)),
        ("2b. CPU per scrape with Prometheus' headers", ["", "ours", "node_exporter", "ratio"],
         lambda: bench_scrape_cpu(args.scrapes)),
        ("2c. Soak under scrapes", ["", "ours", "node_exporter", "ratio"],
         lambda: bench_scrape_soak(args.scrape_soak)),
        ("3. Start-up", ["", "ours", "node_exporter"], lambda: bench_startup(5)),
        ("4. Cluster role scale: one round of every cluster check",
         ["nodes", "wall time", "API calls", "node LISTs (pages)", "peak RSS",
          "RSS per 1000 nodes", "checks erroring"],
         lambda: bench_cluster([int(s) for s in args.sizes.split(",")])),
        ("5. API load of the node role (node_labels every 1 s for 10 s)",
         ["", "measured", "target"], lambda: bench_node_api(10)),
    ]  # fmt: skip
    sections = []
    steps = [s for s in steps if s[0].startswith(tuple(args.only.split(",")))]
    for title, header, measure in steps:
        sections.append(table(title, header, measure()))
        print(sections[-1], flush=True)
    text = "\n".join(sections)
    header = (f"# Benchmark results\n\n{time.strftime('%Y-%m-%d')} on {machine()}.\n"
              f"Command: `{' '.join(['benchmarks/run.py', *sys.argv[1:]])}`\n\n")  # fmt: skip
    if args.write:
        # Keep the hand-written analysis (profiles, before/after) below the marker.
        out = Path(args.write)
        old = out.read_text() if out.exists() else ""
        analysis = old[old.index(MARKER) :] if MARKER in old else f"{MARKER}\n"
        out.write_text(header + text + "\n" + analysis)
    return 0


if __name__ == "__main__":
    sys.exit(main())
