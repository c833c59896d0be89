"""The cluster role's node cache: relisting (kubernetes.watch false, as `check` and 0.1 did) beside
the watch, against the fake API server holding realistic nodes (tests/servers/realistic_nodes.py,
~16 KB each). Node-derived checks run every 10 s; each node's status is updated every 5 minutes
(a kubelet heartbeat that changes nothing the checks read); halfway through, the
gitpod.io/workload_meta label is removed from the 200 meta nodes and the time until
/metrics shows cluster_node_label:gitpod.io/workload_meta unmet is measured.

Each run lasts --seconds at real rates; LIST calls, API bytes and CPU are also given per hour
(measured x 3600 / seconds). Writes its table into benchmarks/RESULTS.md (below the analysis
marker, between its own markers).

    .venv/bin/python benchmarks/watch.py --sizes 500,5000,20000 --seconds 60
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import exporter, machine, table, wait_for  # noqa: E402
from tests.clusters import components  # noqa: E402
from tests.servers.kube_fake import FakeKube, running  # noqa: E402
from tests.servers.realistic_nodes import realistic_node  # noqa: E402

META = "cluster_node_label:gitpod.io/workload_meta"
META_NODES = 200
NODE_CHECKS = ("cluster_node_label", "cluster_node_pools", "cluster_nodes_runtime",
               "cluster_kubernetes_version", "cluster_distribution", "cluster_openshift",
               "cluster_compatibility")  # fmt: skip
BEGIN, END = "<!-- watch: benchmarks/watch.py -->", "<!-- /watch -->"
HEARTBEAT = 300.0  # seconds between two status updates of one node


def cluster(n: int) -> FakeKube:
    fake = FakeKube(cache_node_json=True, bookmark_interval=60.0)
    components(fake)
    fake.git_version = "v1.28.5-gke.1217000"
    for i in range(n):
        node = realistic_node(i, "services" if i < META_NODES else "workspaces")
        fake.put_node(node)
    fake.compact()  # the initial nodes are not events anybody watches
    return fake


def heartbeats(fake: FakeKube, stop: threading.Event) -> None:
    """Each node's status updated every HEARTBEAT seconds, spread evenly."""
    names = list(fake.nodes)
    per_tick, tick, i, owed = len(names) / HEARTBEAT * 0.1, 0.1, 0, 0.0
    while not stop.wait(tick):
        owed += per_tick
        while owed >= 1:
            owed -= 1
            node = copy.deepcopy(fake.nodes[names[i % len(names)]])
            for c in node["status"]["conditions"]:
                c["lastHeartbeatTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            fake.put_node(node)
            i += 1


def unlabel_meta(fake: FakeKube) -> None:
    for name in [n for n, o in fake.nodes.items() if "gitpod.io/workload_meta" in
                 o["metadata"]["labels"]]:  # fmt: skip
        node = copy.deepcopy(fake.nodes[name])
        del node["metadata"]["labels"]["gitpod.io/workload_meta"]
        fake.put_node(node)


def meta_satisfied(url: str) -> float | None:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "gitpod_requirement_satisfied" and s.labels.get("requirement") == META:
                return s.value
    return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+)", text, re.M).group(1)) / 1024  # type: ignore[union-attr]


def scrape_while(url: str, done: threading.Event, took: list[float]) -> None:
    """/metrics every 50 ms until `done`: each scrape's time, from connect to the last byte."""
    while not done.is_set():
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
                r.read()
        except OSError:
            pass  # not listening yet
        else:
            took.append(time.monotonic() - began)
        done.wait(0.05)


# What the cluster role imports before it reads any node: the floor its memory is judged on.
FLOOR = (
    "import asyncio, ssl, json, yaml, h11, prometheus_client, aiohttp, kubernetes, boto3, "
    "pymysql, exporter.cli, exporter.daemon, exporter.server, exporter.kube"
)


def floor_rss() -> float:
    """Peak RSS of a fresh interpreter that imported what the cluster role imports."""
    import subprocess

    code = f"{FLOOR}\nprint(open('/proc/self/status').read())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout  # fmt: skip
    return int(re.search(r"^VmHWM:\s+(\d+)", out, re.M).group(1)) / 1024  # type: ignore[union-attr]


def run(n: int, watch: bool, page_size: int, seconds: float) -> list[str]:
    fake = cluster(n)
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    checks = "".join(f"  {c}: {{interval: 10s, timeout: 9s}}\n" for c in NODE_CHECKS)
    config = (f"kubernetes: {{namespace: gitpod, watch: {str(watch).lower()}, "
              f"page_size: {page_size}, node_cache_ttl: 10s}}\nchecks:\n{checks}")  # fmt: skip
    stop = threading.Event()
    with running(fake):
        kc = fake.kubeconfig(tmp / "kubeconfig")
        with exporter("cluster", config, None, "--kubeconfig", kc) as p:
            listed, scrapes = threading.Event(), []
            scraper = threading.Thread(target=scrape_while, args=(p.url, listed, scrapes))
            scraper.start()
            wait_for(p.url + "/readyz", timeout=120)
            deadline = time.monotonic() + 120
            while meta_satisfied(p.url) != 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            listed.set()
            scraper.join()
            # Steady state from here: the start-up LIST is behind us.
            lists0 = fake.calls["/api/v1/nodes"] - fake.watches_started
            bytes0, cpu0, t0 = fake.bytes_sent, cpu_seconds(p.pid), time.monotonic()
            beat = threading.Thread(target=heartbeats, args=(fake, stop), daemon=True)
            beat.start()
            time.sleep(seconds / 2)
            changed = time.monotonic()
            # The 200 events of the label change, sent once: not extrapolated to the hour.
            before_label = len(fake.node_events)
            unlabel_meta(fake)
            label_bytes = (sum(len(line) for _, line in list(fake.node_events)[before_label:])
                           if watch else 0)  # fmt: skip
            while meta_satisfied(p.url) != 0 and time.monotonic() - changed < 60:
                time.sleep(0.05)
            latency = time.monotonic() - changed
            time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
            stop.set()
            beat.join(5)
            elapsed = time.monotonic() - t0
            lists = fake.calls["/api/v1/nodes"] - fake.watches_started - lists0
            sent = fake.bytes_sent - bytes0
            cpu = cpu_seconds(p.pid) - cpu0
            rss = peak_rss(p.pid)
    shutil.rmtree(tmp, ignore_errors=True)
    hour = 3600 / elapsed
    per_hour = ((sent - label_bytes) * hour + label_bytes) / 2**30
    return [f"{n:,}", "watch" if watch else "relisting", str(page_size),
            f"{lists} ({lists * hour:.0f})",
            f"{sent / 2**20:.0f} MiB ({per_hour:.2f} GiB)",
            f"{cpu:.1f} s ({cpu * hour / 60:.1f} min)", f"{rss:.0f} MiB",
            f"{max(scrapes, default=0.0):.2f} s ({len(scrapes)})",
            f"{latency:.1f} s"]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="500,5000,20000")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--page-sizes", default="2000",
                    help="kubernetes.page_size values to compare in watch mode (the cache's own "
                         "LIST uses at most 100 per page)")  # fmt: skip
    ap.add_argument("--modes", default="relisting,watch")
    ap.add_argument("--write", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = ap.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for watch in (m == "watch" for m in args.modes.split(",")):
            sizes = [int(p) for p in args.page_sizes.split(",")] if watch else [2000]
            for page_size in sizes:
                rows.append(run(n, watch, page_size, args.seconds))
                print(" | ".join(rows[-1]), flush=True)
    text = table(
        f"Node cache: relisting vs watch ({args.seconds:.0f} s at real rates; per hour in "
        "brackets)",
        ["nodes", "mode", "page size", "node LIST calls", "API bytes", "cluster-role CPU",
         "peak RSS", "slowest scrape while listing (scrapes)", "label change to /metrics"],
        rows,
    )  # fmt: skip
    text += (f"\nThe floor, in the same run: a fresh interpreter that imported what the cluster "
             f"role imports peaks at {floor_rss():.0f} MiB.\n")  # fmt: skip
    print(text)
    if args.write:
        out = Path(args.write)
        old = out.read_text()
        block = (f"{BEGIN}\n{time.strftime('%Y-%m-%d')} on {machine()}. Command: "
                 f"`benchmarks/watch.py {' '.join(sys.argv[1:])}`\n\n{text}\n{END}")  # fmt: skip
        if BEGIN in old:
            old = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END) :]
        else:
            old = old.rstrip("\n") + "\n\n" + block + "\n"
        out.write_text(old)
    return 0


if __name__ == "__main__":
    sys.exit(main())
