"""containerd 2.x as the workspace checks meet it: its CRI Status (a stand-in answering the
shape containerd 2.0's internal/cri/server/status.go marshals: the runtime plugin's config, no
registry, no images snapshotter) and its version 3 config file, where the images plugin keeps
the registry's config_path. K3s and RKE2 on containerd 2, kubeadm with a version 3 config, Talos
1.9+ look like this."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import trustme

from tests.conftest import run_check
from tests.hosts import Node
from tests.servers.grpc_fake import cri_replies, unix_peer

D = "gitpod.test"
HOST = f"reg.{D}:20000"
# What containerd 2.0 reports in its verbose Status' "config" (a trimmed real answer).
STATUS_V2 = {
    "containerd": {
        "defaultRuntimeName": "runc",
        "runtimes": {"runc": {"runtimeType": "io.containerd.runc.v2", "snapshotter": "",
                              "sandboxer": "podsandbox"}},
        "ignoreBlockIONotEnabledErrors": False,
    },
    "cni": {"binDir": "/opt/cni/bin", "confDir": "/etc/cni/net.d", "maxConfNum": 1},
    "enableSelinux": False,
    "containerdRootDir": "/var/lib/containerd",
    "containerdEndpoint": "/run/containerd/containerd.sock",
    "rootDir": "/var/lib/containerd/io.containerd.grpc.v1.cri",
    "stateDir": "/run/containerd/io.containerd.grpc.v1.cri",
}  # fmt: skip
CONFIG_V3 = """version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "/etc/containerd/certs.d/"
"""


@contextlib.contextmanager
def containerd2(version: str = "v2.0.0") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gre-c2-", dir="/tmp")) / "s"
    with unix_peer(path, "cri", replies=cri_replies(version, STATUS_V2)) as socket:
        yield socket


def node(tmp_path: Path, socket: Path, config: str | None) -> Path:
    root = Node().build(tmp_path / "host", socket)
    if config is not None:
        (root / "etc/containerd").mkdir(parents=True, exist_ok=True)
        (root / "etc/containerd/config.toml").write_text(config)
    return root


def with_ca(root: Path) -> None:
    directory = root / "etc/containerd/certs.d" / HOST
    directory.mkdir(parents=True)
    trustme.CA().cert_pem.write_to_path(str(directory / "ca.crt"))


def trust(root: Path, pool, **settings):
    settings = {"address": "127.0.0.1:1", **settings}
    return run_check("node_registry_facade_trust", root, pool, domain=D, custom_ca=True,
                     **settings).result  # fmt: skip


def test_config_path_comes_from_the_version_3_file(tmp_path, pool) -> None:
    with containerd2() as socket:
        root = node(tmp_path, socket, CONFIG_V3)
        with_ca(root)
        result = trust(root, pool)
        assert result.status == "pass", result
        assert "containerd v2.0.0 via /run/containerd/containerd.sock" in result.detail
        assert "config_path and snapshotter from /etc/containerd/config.toml" in result.detail
        cri = run_check("node_containerd_cri", root, pool).result
        assert cri.status == "pass", cri
        assert "snapshotter overlayfs, registry config_path /etc/containerd/certs.d/" in cri.detail
        labels = dict(cri.samples[0].labels)
        assert labels == {"snapshotter": "overlayfs", "config_path": "/etc/containerd/certs.d/"}


def test_a_version_2_file_is_migrated_as_containerd_2_does(tmp_path, pool) -> None:
    config = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
              '  config_path = "/etc/containerd/certs.d"\n')  # fmt: skip
    with containerd2() as socket:
        root = node(tmp_path, socket, config)
        with_ca(root)
        assert trust(root, pool).status == "pass"


def test_containerd_2_dropped_the_legacy_tls_entry(tmp_path, pool) -> None:
    config = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.configs.'
              f'"{HOST}".tls]\n  ca_file = "/etc/ssl/gitpod-ca.pem"\n')  # fmt: skip
    with containerd2() as socket:
        root = node(tmp_path, socket, config)
        (root / "etc/ssl").mkdir(parents=True, exist_ok=True)
        trustme.CA().cert_pem.write_to_path(str(root / "etc/ssl/gitpod-ca.pem"))
        result = trust(root, pool)
        assert (result.status, result.reason) == ("fail", "mismatch"), result
        assert "tls is ignored: containerd 2.x dropped it" in result.detail


def test_without_its_file_containerd_2_cannot_tell_its_config_path(tmp_path, pool) -> None:
    with containerd2() as socket:
        root = node(tmp_path, socket, None)
        result = trust(root, pool)
        assert (result.status, result.reason) == ("error", "not_found"), result
        assert "does not report its registry config" in result.detail
        cri = run_check("node_containerd_cri", root, pool).result
        assert cri.status == "pass", cri
        assert "snapshotter unknown, registry config_path unknown" in cri.detail


def test_a_version_3_file_is_read_when_containerd_does_not_answer(tmp_path, pool) -> None:
    from tests.hosts import idle_socket

    root = node(tmp_path, idle_socket(), CONFIG_V3)
    with_ca(root)
    result = trust(root, pool)
    assert result.status == "pass", result
    assert "/etc/containerd/config.toml (containerd not asked" in result.detail
    os.unlink(root / "etc/containerd/certs.d" / HOST / "ca.crt")
    missing = trust(root, pool, address="")
    assert missing.status == "pass" and "will write" in missing.detail, missing


K3S_CONFIG = """version = 3
root = "/var/lib/rancher/k3s/agent/containerd"
state = "/run/k3s/containerd"
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "/var/lib/rancher/k3s/agent/etc/containerd/certs.d"
"""


def test_k3s_own_certs_d_written_from_registries_yaml(tmp_path, pool) -> None:
    """K3s writes <data-dir>/agent/etc/containerd/certs.d/<host>/hosts.toml from registries.yaml
    and points config_path there: that directory is judged, not Gitpod's fixed one."""
    from tests.hosts import idle_socket

    root = Node(socket="/run/k3s/containerd/containerd.sock").build(tmp_path / "host",
                                                                    idle_socket())  # fmt: skip
    agent = root / "var/lib/rancher/k3s/agent/etc/containerd"
    agent.mkdir(parents=True)
    (agent / "config.toml").write_text(K3S_CONFIG)
    ca = root / "etc/rancher/k3s/gitpod-ca.pem"
    ca.parent.mkdir(parents=True)
    trustme.CA().cert_pem.write_to_path(str(ca))
    hosts = agent / "certs.d" / HOST / "hosts.toml"
    hosts.parent.mkdir(parents=True)
    hosts.write_text(f'[host."https://{HOST}"]\n  capabilities = ["pull", "resolve"]\n'
                     '  ca = ["/etc/rancher/k3s/gitpod-ca.pem"]\n')  # fmt: skip
    k3s_config = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
    settings = {"sockets": ["/run/k3s/containerd/containerd.sock"], "config_files": [k3s_config]}
    result = trust(root, pool, **settings)
    assert result.status == "pass", result
    assert "/etc/rancher/k3s/gitpod-ca.pem" in result.detail
    # The CA it names gone: every pull would fail.
    ca.unlink()
    gone = trust(root, pool, **settings)
    assert (gone.status, gone.reason) == ("fail", "missing"), gone
