"""`check --role cluster --output json` in-process against the fake API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from exporter.cli import main
from tests.servers.kube_fake import FakeKube


def check_cluster(
    fake: FakeKube, tmp_path: Path, capsys: Any, config: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The results by requirement id, with `config` as the config file."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config or {}))
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    main(
        [
            "check",
            "--role",
            "cluster",
            "--kubeconfig",
            str(kc),
            "--config",
            str(cfg),
            "--output",
            "json",
        ]
    )
    return {r["requirement"]: r for r in json.loads(capsys.readouterr().out)["results"]}
