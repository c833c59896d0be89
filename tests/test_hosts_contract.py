"""The test host tree stands for a healthy workspace node: it has every host path the node
checks declare (with their default settings), but those a healthy node lacks by nature. A
check reading a new host path fails here until tests/hosts.py builds it."""

from __future__ import annotations

from pathlib import Path

from exporter import hostfs
from exporter.checks import NODE_CHECKS
from exporter.config import Config
from tests.hosts import ABSENT_ON_A_HEALTHY_NODE, Node, idle_socket


def test_the_healthy_host_tree_has_what_the_node_checks_read(tmp_path: Path) -> None:
    root = Node().build(tmp_path / "host", idle_socket())
    config = Config()
    missing = sorted(
        f"{check.id}: {path}"
        for check in NODE_CHECKS
        for path in check.paths(config.for_check(check.id, check.settings))
        if path not in ABSENT_ON_A_HEALTHY_NODE and hostfs.kind(root, path) == "absent"
    )
    assert missing == [], (
        "tests/hosts.py: Node.build makes no such path; build it as a healthy node has it, or "
        f"add it to ABSENT_ON_A_HEALTHY_NODE with why: {missing}"
    )
    present = sorted(p for p in ABSENT_ON_A_HEALTHY_NODE if hostfs.kind(root, p) != "absent")
    assert present == [], f"ABSENT_ON_A_HEALTHY_NODE lists paths the tree has: {present}"
