"""The exporter as a real process: `check --output json` and `serve` on a port it picks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.poll import until

EXE = Path(sys.executable).with_name("gitpod-requirements-exporter")


def check_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict], str]:
    """`check --output json` as a subprocess: exit code, results by requirement id, stderr."""
    out = subprocess.run(
        [str(EXE), "check", "--output", "json", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip
    doc = json.loads(out.stdout) if out.stdout.strip() else {"results": [], "summary": {}}
    return out.returncode, {r["requirement"]: r for r in with_causes(doc)}, out.stderr


def with_causes(doc: dict) -> list[dict]:
    """The results with a shared cause's text put back where a row refers to it (the document
    says it once, in summary.shared_causes), so a test reads each row whole."""
    causes = doc["summary"].get("shared_causes") or []
    by_id = {rid: c["detail"] for c in causes for rid in c["requirements"]}
    for r in doc["results"]:
        cause = by_id.get(r["requirement"], causes[0]["detail"] if causes else "")
        r["detail"] = r["detail"].replace("(the shared cause above)", cause)
    return list(doc["results"])


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    # stderr is drained as it comes: a child blocked on a full pipe would stall its checks.
    _log: list[str] = field(default_factory=list)
    _drain: threading.Thread | None = None

    def get(self, path: str, accept: str = "") -> tuple[int, str, str]:
        req = urllib.request.Request(self.url + path, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    def samples(self) -> list:
        text = self.get("/metrics")[2]
        return [s for fam in text_string_to_metric_families(text) for s in fam.samples]

    def wait_ready(self, timeout: float = 10) -> None:
        until(lambda: self.get("/readyz")[0] == 200, timeout, "/readyz 200")

    def logs(self) -> str:
        """What it wrote to stderr; complete once the process has ended."""
        if self.proc.poll() is not None and self._drain is not None:
            self._drain.join(5)
        return "".join(self._log)


def start(args: list[str], env: dict[str, str] | None = None, host: str = "127.0.0.1") -> Served:
    """`serve --listen <host>:0`: the process binds a free port itself and announces its
    URL, so no port is handed over between a probe and the bind."""
    assert EXE.exists(), f"console script missing at {EXE}: pip install -e . first"
    proc = subprocess.Popen(
        [str(EXE), "serve", "--listen", f"{host}:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None and proc.stderr is not None
    log: list[str] = []
    drain = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")),
                             daemon=True)  # fmt: skip
    drain.start()
    line = proc.stdout.readline()
    m = re.search(r"https?://\S+/", line)
    if not m:
        proc.kill()
        proc.wait()
        drain.join(5)
        pytest.fail(f"no URL announced: {line!r} {''.join(log)}")
    return Served(proc, m.group(0).rstrip("/"), log, drain)
