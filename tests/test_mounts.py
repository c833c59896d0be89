"""The DaemonSet mounts exactly the host paths the node checks read, for the chart's defaults
and every values file of its ci/ (rendered in-process by Helm's engine): a node check that
reads a new host path fails here until the chart mounts it, read-only, at the same path
under --host-root."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from exporter.checks import NODE_CHECKS, settings_types
from exporter.config import load
from tests.deploy.manifests import VALUES_FILES, chart, config_text, one

CHART_DAEMONSET = "deploy/helm/gitpod-requirements-exporter/templates/daemonset.yaml"


def _covers(mount: str, path: str) -> bool:
    return PurePosixPath(path).is_relative_to(mount)


# The defaults and every values file that runs the node role (the preflight's does not).
WITH_NODES = [
    name
    for name in ("", *(f.name for f in VALUES_FILES))
    if any(o["kind"] == "DaemonSet" for o in chart(None, *([name] if name else [])))
]


@pytest.mark.parametrize("values", WITH_NODES)
def test_daemonset_mounts_exactly_what_the_node_checks_read(values: str) -> None:
    objects = chart(None, *([values] if values else []))
    config = load(config_text(objects), settings_types())
    reads = {
        p for check in NODE_CHECKS for p in check.paths(config.for_check(check.id, check.settings))
    }
    pod = one(objects, "DaemonSet", "gitpod-requirements-node")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = pod["containers"]
    mounts = {}
    for m in container["volumeMounts"]:
        host = volumes[m["name"]].get("hostPath")
        if host is None:
            continue
        assert m["readOnly"] is True, m
        # Seen at the same path under --host-root, so the checks find it where they look.
        assert m["mountPath"] == "/host" + host["path"], m
        mounts[host["path"]] = host
    uncovered = sorted(p for p in reads if not any(_covers(m, p) for m in mounts))
    assert uncovered == [], f"the node checks read paths {CHART_DAEMONSET} does not mount"
    unused = sorted(m for m in mounts if not any(_covers(m, p) for p in reads))
    assert unused == [], f"{CHART_DAEMONSET} mounts paths no node check reads"
