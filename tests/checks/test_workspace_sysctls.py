"""node_workspace_sysctls on host trees: ws-daemon's settings as its init container leaves them,
one that did not take, a larger inotify limit, a kernel without vm.unprivileged_userfaultfd, and
a node where ws-daemon is not ready yet (the node's labels through the suite's fake API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_check
from tests.hosts import Node, idle_socket
from tests.servers.kube_fake import FakeKube, node

WORKSPACE = {"gitpod.io/workload_workspace_regular": "true"}
READY = {**WORKSPACE, "gitpod.io/ws-daemon_ready_ns_gitpod": "true"}
SET = {"fs.inotify.max_user_watches": "1000000", "kernel.dmesg_restrict": "1",
       "vm.unprivileged_userfaultfd": "0"}  # fmt: skip


def judge(labels: dict[str, str], sysctls: dict[str, str], kube_api: FakeKube, tmp_path: Path,
          pool):  # fmt: skip
    kube_api.nodes["n1"] = node("n1", labels)
    root = Node(sysctls=sysctls).build(tmp_path / "host", idle_socket())
    kc = str(kube_api.kubeconfig(tmp_path / "kc"))
    return run_check("node_workspace_sysctls", root, pool, "n1", kc).result


@pytest.mark.parametrize(
    ("sysctls", "status", "said"),
    [(SET, "pass", "fs.inotify.max_user_watches=1000000, kernel.dmesg_restrict=1"),
     ({**SET, "fs.inotify.max_user_watches": "2000000"}, "pass", "max_user_watches=2000000"),
     ({k: v for k, v in SET.items() if k != "vm.unprivileged_userfaultfd"}, "pass",
      "vm.unprivileged_userfaultfd absent"),
     ({**SET, "fs.inotify.max_user_watches": "8192", "kernel.dmesg_restrict": "0"}, "fail",
      "fs.inotify.max_user_watches is 8192, ws-daemon sets 1000000 or more; "
      "kernel.dmesg_restrict is 0, ws-daemon sets 1"),
     ({**SET, "vm.unprivileged_userfaultfd": "1"}, "fail",
      "vm.unprivileged_userfaultfd is 1, ws-daemon sets 0")],
    ids=["as-set", "more-watches", "no-userfaultfd-switch", "two-did-not-take", "userfaultfd"],
)  # fmt: skip
def test_the_settings_ws_daemon_makes(sysctls, status, said, kube_api, tmp_path, pool) -> None:
    result = judge(READY, sysctls, kube_api, tmp_path, pool)
    assert result.status == status, result
    assert said in result.detail
    assert "net.core.somaxconn" in result.detail and "not judged" in result.detail
    if status == "fail":
        assert result.reason == "mismatch"


def test_not_expected_before_ws_daemon_is_ready(kube_api, tmp_path, pool) -> None:
    result = judge(WORKSPACE, {}, kube_api, tmp_path, pool)
    assert (result.status, result.reason) == ("skipped", "not_installed"), result
    assert "ws-daemon is not ready here" in result.detail
