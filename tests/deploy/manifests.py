"""The manifests as `kubectl kustomize` renders them."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.servers.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Components (deploy/components) render only inside a kustomization that includes them.
KUSTOMIZATIONS = sorted(
    str(p.parent.relative_to(DEPLOY))
    for p in DEPLOY.rglob("kustomization.yaml")
    if "kind: Component" not in p.read_text()
)
COMPONENTS = sorted(
    str(p.parent.relative_to(DEPLOY))
    for p in DEPLOY.rglob("kustomization.yaml")
    if "kind: Component" in p.read_text()
)
WORKLOADS = ("base", "overlays/k3s", "overlays/plain-prometheus")


@functools.cache
def render(directory: str) -> tuple[dict[str, Any], ...]:
    kubectl = require_binary("kubectl", "kubectl (preinstalled on CI machines; see INFRA)")
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / directory)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def one(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def config_text(objects: tuple[dict[str, Any], ...]) -> str:
    return one(objects, "ConfigMap", "gitpod-requirements-exporter")["data"]["config.yaml"]
