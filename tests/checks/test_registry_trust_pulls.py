"""node_registry_facade_trust held to what containerd does: for each layout of a node's registry
trust, the suite's real containerd (1.6, Debian's) pulls from a registry-facade stand-in
through its CRI, as the kubelet would, and the check judges the same files. What passes must
pull; what fails must not (tests/servers/pulls.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from tests.conftest import run_check
from tests.hosts import Node
from tests.servers.pulls import facade_registry, node_containerd, pull

D = "gitpod.test"
NAME = f"reg.{D}"


def node_tree(tmp_path: Path, roots: trustme.CA | None = None) -> Path:
    """A workspace node whose /etc/hosts sends reg.<domain> to 127.0.0.1 (ws-daemon's entry)
    and whose system trust store holds `roots` (else a CA nobody uses)."""
    root = Node().build(tmp_path / "host")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.0.1\t{NAME}\t# added by ws-daemon\n"
    )
    certs = root / "etc/ssl/certs"
    certs.mkdir(parents=True, exist_ok=True)
    bundle = (roots or trustme.CA(organization_name="Some Public CA")).cert_pem.bytes()
    (certs / "ca-certificates.crt").write_bytes(bundle)
    (root / "etc/containerd/certs.d").mkdir(parents=True, exist_ok=True)
    return root


def host_dir(root: Path, port: int, name: str = "") -> Path:
    path = root / "etc/containerd/certs.d" / (name or f"{NAME}:{port}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Gitpod Self-Signed")


def _with_port(root: Path, ca: trustme.CA, pool, config_path: str, lay, custom_ca: bool = True):
    """Lay out the host directory for the facade's port (known once it serves), judge, pull."""
    with facade_registry(ca, NAME) as port:
        lay(root, port)
        with node_containerd(root, config_path) as c:
            link = root / "run/gre.sock"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.hardlink_to(c.socket)
            try:
                result = run_check(
                    "node_registry_facade_trust", root, pool, domain=D, custom_ca=custom_ca,
                    port=port, address=f"127.0.0.1:{port}", sockets=["/run/gre.sock"],
                ).result  # fmt: skip
                error = pull(c, f"{NAME}:{port}/probe:latest")
            finally:
                link.unlink()
    return result, error


def test_ca_crt_registry_facade_writes_is_trusted(tmp_path, pool, ca) -> None:
    def lay(root: Path, port: int) -> None:
        ca.cert_pem.write_to_path(str(host_dir(root, port) / "ca.crt"))

    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d", lay)
    assert error == "", error
    assert result.status == "pass", result


def test_a_trailing_slash_in_config_path_names_the_same_directory(tmp_path, pool, ca) -> None:
    def lay(root: Path, port: int) -> None:
        ca.cert_pem.write_to_path(str(host_dir(root, port) / "ca.crt"))

    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d/", lay)
    assert error == "", error
    assert result.status == "pass", result


def test_a_hosts_toml_without_ca_hides_ca_crt(tmp_path, pool, ca) -> None:
    def lay(root: Path, port: int) -> None:
        directory = host_dir(root, port)
        ca.cert_pem.write_to_path(str(directory / "ca.crt"))
        (directory / "hosts.toml").write_text(
            f'server = "https://{NAME}:{port}"\n[host."https://{NAME}:{port}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
        )

    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d", lay)
    assert "x509" in error or "certificate" in error, error
    assert (result.status, result.reason) == ("fail", "untrusted"), result
    assert "names no ca" in result.detail


def test_containerd_1_reads_ca_crt_beside_a_hosts_toml_without_host_table(
    tmp_path, pool, ca
) -> None:
    # containerd 1.x cannot decode a hosts.toml without [host] ("invalid `host` tree"), so
    # its top level, ca included, is ignored and the loose ca.crt is read instead.
    def lay(root: Path, port: int) -> None:
        directory = host_dir(root, port)
        ca.cert_pem.write_to_path(str(directory / "ca.crt"))
        (directory / "hosts.toml").write_text(
            f'server = "https://{NAME}:{port}"\nca = "/etc/containerd/nowhere.pem"\n'
        )

    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d", lay)
    assert error == "", error
    assert result.status == "pass", result
    assert "no [host] table" in result.detail


def test_a_relative_ca_in_hosts_toml_is_read_beside_it(tmp_path, pool, ca) -> None:
    def lay(root: Path, port: int) -> None:
        directory = host_dir(root, port)
        ca.cert_pem.write_to_path(str(directory / "gitpod-ca.pem"))
        (directory / "hosts.toml").write_text(
            f'server = "https://{NAME}:{port}"\n[host."https://{NAME}:{port}"]\n'
            '  ca = "gitpod-ca.pem"\n'
        )

    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d", lay)
    assert error == "", error
    assert result.status == "pass", result
    assert "gitpod-ca.pem" in result.detail


def test_the_port_escaped_directory_is_found_first(tmp_path, pool, ca) -> None:
    def lay(root: Path, port: int) -> None:
        ca.cert_pem.write_to_path(str(host_dir(root, port, f"{NAME}_{port}_") / "ca.crt"))
        # The other spelling, with a CA that does not sign the facade: not read.
        trustme.CA().cert_pem.write_to_path(str(host_dir(root, port) / "ca.crt"))

    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d", lay)
    assert error == "", error
    assert result.status == "pass", result


def test_without_custom_ca_a_self_signed_facade_fails_as_pulls_do(tmp_path, pool, ca) -> None:
    result, error = _with_port(node_tree(tmp_path), ca, pool, "/etc/containerd/certs.d",
                               lambda root, port: None, custom_ca=False)  # fmt: skip
    assert "x509" in error or "certificate" in error, error
    assert (result.status, result.reason) == ("fail", "untrusted"), result
    assert "node's system roots" in result.detail


def test_a_private_ca_the_node_trusts_passes_without_custom_ca(tmp_path, pool, ca) -> None:
    result, error = _with_port(node_tree(tmp_path, roots=ca), ca, pool, "/etc/containerd/certs.d",
                               lambda root, port: None, custom_ca=False)  # fmt: skip
    assert error == "", error
    assert result.status == "pass", result
    assert "verified against the node's system roots" in result.detail
