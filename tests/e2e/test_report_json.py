"""GET /report.json on `serve`: the document `check --output json` prints, from the last
results, for the node role on a host tree (the same checks, the same verdicts)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers.exporter import EXE, start
from tests.hosts import Node


def _comparable(doc: dict) -> dict:
    for r in doc["results"]:
        r.pop("duration_seconds")
    return doc


def test_report_json_is_what_check_prints(tmp_path: Path) -> None:
    root = Node().build(tmp_path / "host")
    args = ["--role", "node", "--host-root", str(root)]
    env = {"NODE_NAME": "", "KUBECONFIG": ""}
    served = start(args, env)
    try:
        served.wait_ready()
        status, content_type, body = served.get("/report.json")
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    assert (status, content_type) == (200, "application/json"), body
    printed = subprocess.run([str(EXE), "check", *args, "--output", "json"],
                             capture_output=True, text=True, env={**env, "PATH": "/usr/bin"},
                             check=False).stdout  # fmt: skip
    served_doc, check_doc = _comparable(json.loads(body)), _comparable(json.loads(printed))
    assert served_doc["summary"] == check_doc["summary"]
    assert {r["requirement"]: (r["status"], r["reason"]) for r in served_doc["results"]} == {
        r["requirement"]: (r["status"], r["reason"]) for r in check_doc["results"]
    }
    assert served_doc["role"] == "node" and len(served_doc["results"]) >= 20
