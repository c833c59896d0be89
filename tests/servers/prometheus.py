"""Real Prometheus and Alertmanager (Debian's prometheus, prometheus-alertmanager) on random
ports, and a webhook receiver that records what Alertmanager sends."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.servers.procs import launch, require_binary, stop


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class Webhook:
    url: str
    notifications: list[dict] = field(default_factory=list)

    def alerts(self) -> list[dict]:
        return [a for n in list(self.notifications) for a in n["alerts"]]


@contextmanager
def webhook() -> Iterator[Webhook]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/alerts", received)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def alertmanager(
    workdir: Path,
    receiver_url: str,
    group_by: tuple[str, ...] = ("alertname", "requirement", "node"),
) -> Iterator[str]:
    exe = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "test",
                    "group_by": list(group_by),
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "test", "webhook_configs": [{"url": receiver_url}]}],
            }
        )
    )
    log = workdir / "alertmanager.log"

    def start(port: int) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [exe, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    proc, port = launch(
        "alertmanager", start, lambda p: _answers(f"http://127.0.0.1:{p}/-/ready"), log
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes] | None = None

    def query(self, expr: str) -> dict:
        q = urllib.parse.urlencode({"query": expr})
        try:
            return _get_json(f"{self.url}/api/v1/query?{q}")
        except urllib.error.HTTPError as exc:
            return json.load(exc)

    def targets(self) -> list[dict]:
        return _get_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]


@contextmanager
def prometheus(
    workdir: Path, scrape: dict[str, str], rule_files: list[Path], alertmanager_url: str = ""
) -> Iterator[Prometheus]:
    """Scrapes each job's target every second and evaluates the rules every second."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(f) for f in rule_files],
        "scrape_configs": _scrape_configs(scrape),
    }
    if alertmanager_url:
        host = urllib.parse.urlsplit(alertmanager_url).netloc
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    with prometheus_process(workdir, config) as prom:
        yield prom


def _scrape_configs(scrape: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in scrape.items()
    ]


@contextmanager
def agent(
    workdir: Path, scrape: dict[str, str], external_labels: dict[str, str], remote_write: str
) -> Iterator[Prometheus]:
    """Prometheus in agent mode, as in each cluster of a fleet: scrapes every second and
    remote-writes with these external labels, sending each batch within a second."""
    config = {
        "global": {"scrape_interval": "1s", "external_labels": external_labels},
        "scrape_configs": _scrape_configs(scrape),
        "remote_write": [{
            "url": remote_write,
            "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms",
                             "max_backoff": "1s"},
        }],
    }  # fmt: skip
    with prometheus_process(workdir, config, ("--enable-feature=agent",), "storage.agent") as p:
        yield p


@contextmanager
def prometheus_process(
    workdir: Path,
    config: dict[str, Any],
    flags: tuple[str, ...] = (),
    storage: str = "storage.tsdb",
) -> Iterator[Prometheus]:
    """A Prometheus with this config and these flags on a free port, stopped on exit."""
    exe = require_binary("prometheus", "prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    log = workdir / "prometheus.log"

    def start(port: int) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [exe, f"--config.file={path}", f"--{storage}.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", *flags],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    proc, port = launch(
        "prometheus", start, lambda p: _answers(f"http://127.0.0.1:{p}/-/ready"), log, 30
    )
    try:
        yield Prometheus(f"http://127.0.0.1:{port}", proc)
    finally:
        stop(proc)
