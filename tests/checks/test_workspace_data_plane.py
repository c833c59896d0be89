"""What ws-daemon and registry-facade need of a workspace node: the strict hostPaths, containerd's
trust of reg.<domain>:20000 and the disk. containerd's layout and registry config come from
real containerd (the suite's, started with each config under test) or, when it does not answer,
from its config.toml; registry-facade is a TLS stand-in with certificates from a test CA."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from exporter import criconfig
from tests.conftest import run_check
from tests.hosts import Node, idle_socket
from tests.servers.containerd import CRI_CONFIG, DISABLED, Containerd, _running
from tests.servers.tls import leaf, server_context, serving

D = "gitpod.test"
HOST = f"reg.{D}:20000"
RUNTIME = "/var/lib/containerd/io.containerd.runtime.v2.task/k8s.io"
CONFIG_V2 = 'version = 2\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\n'


def tree(tmp_path: Path, socket: Path | None = None, config: str | None = CONFIG_V2, **dirs):
    """A workspace node's host root: Node's files, /proc/mounts as the link it is, containerd's
    task directory and /usr/src, and containerd's config.toml (when given)."""
    root = Node().build(tmp_path / "host", socket or idle_socket())
    for path in (RUNTIME, "/usr/src", "/var/gitpod/workspaces", *dirs.get("extra", ())):
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "etc/containerd").mkdir(parents=True, exist_ok=True)
        (root / "etc/containerd/config.toml").write_text(config)
    return root


@contextlib.contextmanager
def cri_containerd(extra: str) -> Iterator[Containerd]:
    """containerd with its CRI plugin and `extra` config, once its CRI answers (the plugin
    registers its services a moment after the socket appears)."""
    with _running(DISABLED[1:], extra) as c:
        deadline = time.monotonic() + 10
        while True:
            try:
                asyncio.run(criconfig.version(str(c.socket), 1.0))
                break
            except criconfig.NoCri:
                if time.monotonic() > deadline:
                    pytest.fail("containerd's CRI plugin did not load: see its log")
                time.sleep(0.1)
        yield c


# --- node_workspace_host_paths -------------------------------------------------------------


def test_a_healthy_node_passes_with_containerds_layout_from_its_config(tmp_path, pool) -> None:
    result = run_check("node_workspace_host_paths", tree(tmp_path), pool).result
    assert result.status == "pass", result
    assert RUNTIME in result.detail and "/usr/src" in result.detail


def test_amazon_linux_runtime_dir_is_named_as_the_value_to_set(tmp_path, pool) -> None:
    config = 'version = 2\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\n'
    root = tree(tmp_path, config=config,
                extra=["/run/containerd/io.containerd.runtime.v2.task/k8s.io"])  # fmt: skip
    (root / RUNTIME.lstrip("/")).rmdir()
    result = run_check("node_workspace_host_paths", root, pool).result
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert f"{RUNTIME} is absent, not a directory" in result.detail
    assert ("set workspace.runtime.containerdRuntimeDir to "
            "/run/containerd/io.containerd.runtime.v2.task/k8s.io") in result.detail  # fmt: skip


def test_flatcar_without_usr_src_and_a_dangling_link_are_named(tmp_path, pool) -> None:
    root = tree(tmp_path)
    (root / "usr/src").rmdir()
    (root / "usr/src").symlink_to("/nowhere/src")
    result = run_check("node_workspace_host_paths", root, pool).result
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert "/usr/src is a symlink to nowhere ('/nowhere/src'), not a directory" in result.detail
    (root / "usr/src").unlink()
    (root / "proc/mounts").unlink()
    (root / "proc/mounts").mkdir()
    detail = run_check("node_workspace_host_paths", root, pool).result.detail
    assert "/usr/src is absent, not a directory" in detail
    assert "/proc/mounts is a directory, not a file" in detail


def test_a_runtime_dir_that_is_not_containerds_fails_as_containerd_reports_it(
    tmp_path, pool
) -> None:
    with cri_containerd(CRI_CONFIG) as c:
        ours = c.socket.parent / "root" / criconfig.K8S_TASKS
        root = tree(tmp_path, c.socket, config=None)
        # A real directory where the installer's default points, not a link to containerd's.
        (root / "var/lib/containerd").unlink()
        (root / RUNTIME.lstrip("/")).mkdir(parents=True)
        visible = ["/run/containerd", str(c.socket.parent)]
        # The installer's default exists here, but containerd keeps its tasks elsewhere.
        result = run_check("node_workspace_host_paths", root, pool, visible=visible).result
        assert (result.status, result.reason) == ("fail", "missing"), result
        assert f"not where containerd keeps its tasks ({ours} or" in result.detail
        assert f"set workspace.runtime.containerdRuntimeDir to {ours}" in result.detail
        assert " via /run/containerd/containerd.sock" in result.detail
        good = run_check("node_workspace_host_paths", root, pool, visible=visible,
                         runtime_dir=str(ours)).result  # fmt: skip
        assert good.status == "pass", good


MICROK8S_ARGS = ("--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n"
                 "--root-dir=${SNAP_COMMON}/var/lib/kubelet\n")  # fmt: skip
K3S_UNIT = """[Service]
ExecStart=/usr/local/bin/k3s \\
    agent \\
        '--kubelet-arg=root-dir=/data/kubelet' \\
"""


@pytest.mark.parametrize(
    ("node", "files", "status", "said"),
    [(Node(), {}, "pass", "/var/lib/kubelet (the host's pod volume mounts"),
     (Node(kubelet=("kubelet", ("/usr/bin/kubelet", "--root-dir=/var/lib/k0s/kubelet")),
           pods_under="/var/lib/k0s/kubelet"), {}, "fail",
      "the kubelet keeps its files in /var/lib/k0s/kubelet (the host's pod volume mounts"),
     (Node(kubelet=("kubelet", ("/usr/bin/kubelet", "--root-dir=/var/lib/k0s/kubelet")),
           pods_under=None), {}, "fail",
      "/var/lib/k0s/kubelet (--root-dir of kubelet (pid 4242))"),
     (Node(kubelet=("kubelet", ("/usr/bin/kubelet", "--root-dir", "/var/lib/kubelet/")),
           pods_under=None), {}, "pass", "the kubelet's root dir /var/lib/kubelet"),
     (Node(kubelet=("kubelite", ("/snap/microk8s/7394/kubelite",)), pods_under=None),
      {"/var/snap/microk8s/current/args/kubelet": MICROK8S_ARGS}, "fail",
      "/var/snap/microk8s/common/var/lib/kubelet (--root-dir in "
      "/var/snap/microk8s/current/args/kubelet)"),
     (Node(kubelet=("kubelite", ("/snap/microk8s/7394/kubelite",)),
           pods_under="/var/snap/microk8s/common/var/lib/kubelet"), {}, "fail",
      "/var/snap/microk8s/common/var/lib/kubelet (the host's pod volume mounts"),
     (Node(kubelet=("k3s-agent", ("k3s agent",)), kubelet_exe="/usr/local/bin/k3s",
           pods_under=None), {"/etc/systemd/system/k3s-agent.service": K3S_UNIT}, "fail",
      "/data/kubelet (K3s' kubelet-arg in /etc/systemd/system/k3s-agent.service)"),
     (Node(kubelet=("k3s-agent", ("k3s agent",)), kubelet_exe="/usr/local/bin/k3s",
           pods_under="/data/kubelet"), {}, "fail", "/data/kubelet (the host's pod volume"),
     (Node(kubelet=("k3s-server", ("k3s server",)), kubelet_exe="/usr/local/bin/k3s",
           pods_under=None), {}, "pass", "the default"),
     (Node(kubelet=None, pods_under=None), {}, "pass",
      "the kubelet's root dir is not judged: the host's pod volume mounts (/proc/1/mounts) show "
      "no pod volume, and no kubelet process")],
    ids=["kubeadm-mounts", "k0s-mounts", "k0s-flag", "root-dir-default-spelt-out",
         "microk8s-args-file", "microk8s-mounts", "k3s-unit", "k3s-mounts", "k3s-default",
         "no-kubelet"],
)  # fmt: skip
def test_the_kubelets_root_dir_is_where_gitpod_puts_its_seccomp_profile(
    node, files, status, said, tmp_path, pool
) -> None:
    root = node.build(tmp_path / "host", idle_socket())
    for path, text in {"/etc/containerd/config.toml": CONFIG_V2, **files}.items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(text)
    result = run_check("node_workspace_host_paths", root, pool).result
    assert result.status == status, result
    assert said in result.detail, result.detail


@pytest.mark.parametrize(
    "forged",
    [(65534, "/tmp/kubelet"), (0, "/usr/bin/python3.11"), (65534, "/usr/bin/kubelet")],
    ids=["workload-uid", "renamed-root-process", "workload-with-kubelet-binary"],
)
def test_a_process_merely_named_kubelet_is_not_the_kubelet(forged, tmp_path, pool) -> None:
    uid, exe = forged
    node = Node(kubelet=("kubelet", (exe, "--root-dir=/tmp/evil")), kubelet_uid=uid,
                kubelet_exe=exe, pods_under=None)  # fmt: skip
    root = node.build(tmp_path / "host", idle_socket())
    (root / "etc/containerd").mkdir(parents=True, exist_ok=True)
    (root / "etc/containerd/config.toml").write_text(CONFIG_V2)
    # The real kubelet, at a higher PID than the impostor.
    for name, text in {"comm": "kubelet\n", "cmdline": "/usr/bin/kubelet\0",
                       "status": "Name:\tkubelet\nUid:\t0\t0\t0\t0\n"}.items():  # fmt: skip
        (root / "proc/9999").mkdir(exist_ok=True)
        (root / f"proc/9999/{name}").write_text(text)
    (root / "proc/9999/exe").symlink_to("/usr/bin/kubelet")
    result = run_check("node_workspace_host_paths", root, pool).result
    assert result.status == "pass", result
    assert "/tmp/evil" not in result.detail
    assert "no --root-dir: the default" in result.detail and "pid 9999" in result.detail


WS_DAEMON_READY = {"gitpod.io/workload_workspace_regular": "true",
                   "gitpod.io/ws-daemon_ready_ns_gitpod": "true"}  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "change", "status", "said"),
    [(WS_DAEMON_READY, None, "pass", "seccomp profile workspace_default_2022.11.3.json"),
     (WS_DAEMON_READY, "no-profile", "fail",
      "ws-daemon runs here but /var/lib/kubelet/seccomp holds no workspace_default_"),
     (WS_DAEMON_READY, "no-hosts-entry", "fail",
      "/etc/hosts does not send reg.gitpod.test to 127.0.0.1"),
     (WS_DAEMON_READY, "hosts-directory", "fail", "/etc/hosts is a directory, not a file"),
     ({"gitpod.io/workload_workspace_regular": "true"}, "no-profile", "pass",
      "ws-daemon is not ready here yet: its seccomp profile and /etc/hosts entry not expected"),
     ({"gitpod.io/workload_workspace_regular": "true"}, "hosts-directory", "fail",
      "/etc/hosts is a directory, not a file")],
    ids=["ws-daemon-ready", "profile-missing", "hosts-entry-missing", "hosts-a-directory",
         "before-ws-daemon", "hosts-a-directory-before-ws-daemon"],
)  # fmt: skip
def test_what_ws_daemon_leaves_on_the_node(labels, change, status, said, kube_api, tmp_path, pool):
    from tests.servers.kube_fake import node

    kube_api.nodes["n1"] = node("n1", labels)
    root = tree(tmp_path)
    if change == "no-profile":
        for profile in (root / "var/lib/kubelet/seccomp").iterdir():
            profile.unlink()
    elif change == "no-hosts-entry":
        (root / "etc/hosts").write_text("127.0.0.1 localhost\n10.0.0.9 reg.gitpod.test.other\n")
    elif change == "hosts-directory":
        (root / "etc/hosts").unlink()
        (root / "etc/hosts").mkdir()
    kc = str(kube_api.kubeconfig(tmp_path / "kc"))
    result = run_check("node_workspace_host_paths", root, pool, node_name="n1", kubeconfig=kc,
                       domain=D).result  # fmt: skip
    assert result.status == status, result
    assert said in result.detail, result.detail


def test_hostile_containerd_configs_are_bounded_and_refused(tmp_path, pool) -> None:
    bomb = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"
    root = tree(tmp_path, config=bomb)
    (root / RUNTIME.lstrip("/")).rmdir()
    started = time.monotonic()
    result = run_check("node_workspace_host_paths", root, pool).result
    assert time.monotonic() - started < 5
    assert result.status == "fail" and "cannot say" not in result.detail, result
    assert any(w in result.detail for w in ("not TOML", "nested too deeply", "TOML keys")), result
    # A FIFO as config.toml must not hold a thread.
    fifo_root = tree(tmp_path / "fifo", config=None)
    (fifo_root / "etc/containerd").mkdir(parents=True)
    os.mkfifo(fifo_root / "etc/containerd/config.toml")
    trust = run_check("node_registry_facade_trust", fifo_root, pool, domain=D,
                      custom_ca=True, timeout=3.0).result  # fmt: skip
    assert (trust.status, trust.reason) == ("error", "io"), trust
    assert "is a fifo: refused" in trust.detail


# --- node_registry_facade_trust --------------------------------------------------------------


def facade(ca: trustme.CA, *names: str):
    """A registry-facade stand-in: TLS with a certificate for `names` from `ca`."""
    app = web.Application()

    async def v2(_: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/v2/", v2)
    return serving(app, server_context(leaf(ca, *names)))


def trust(root: Path, pool, **settings):
    return run_check("node_registry_facade_trust", root, pool, domain=D, custom_ca=True,
                     **settings).result  # fmt: skip


def put_ca(root: Path, ca: trustme.CA) -> Path:
    path = root / "etc/containerd/certs.d" / HOST / "ca.crt"
    path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(path))
    return path


def test_without_custom_ca_nothing_is_needed_until_registry_facade_answers(tmp_path, pool) -> None:
    result = run_check("node_registry_facade_trust", tree(tmp_path), pool, domain=D).result
    assert result.status == "pass", result
    assert "containerd verifies it against the node's system roots" in result.detail
    assert "not verified until registry-facade answers" in result.detail


def test_certs_d_before_and_after_registry_facade_runs(tmp_path, pool, tls_ca) -> None:
    with cri_containerd(CRI_CONFIG) as c:
        root = tree(tmp_path, c.socket, config=None)
        before = trust(root, pool, address="127.0.0.1:1")
        assert before.status == "pass", before
        assert "will write /etc/containerd/certs.d/reg.gitpod.test:20000/ca.crt" in before.detail
        assert "nothing answers at 127.0.0.1:1" in before.detail
        with facade(tls_ca, f"reg.{D}") as port:
            missing = trust(root, pool, address=f"127.0.0.1:{port}")
            assert (missing.status, missing.reason) == ("fail", "missing"), missing
            assert "registry-facade runs here but" in missing.detail
            put_ca(root, tls_ca)
            ok = trust(root, pool, address=f"127.0.0.1:{port}")
            assert ok.status == "pass", ok
            assert "verified against the node's system roots" in ok.detail
            assert f"and /etc/containerd/certs.d/{HOST}/ca.crt" in ok.detail
        with facade(trustme.CA(organization_name="Someone Else"), f"reg.{D}") as port:
            bad = trust(root, pool, address=f"127.0.0.1:{port}")
            assert (bad.status, bad.reason) == ("fail", "untrusted"), bad
            assert "Someone Else" in bad.detail and "unknown authority" in bad.detail
        with facade(tls_ca, f"other.{D}") as port:
            wrong = trust(root, pool, address=f"127.0.0.1:{port}")
            assert (wrong.status, wrong.reason) == ("fail", "mismatch"), wrong
            assert f"not valid for reg.{D}" in wrong.detail


def test_a_hosts_toml_naming_the_ca_stands_for_ca_crt(tmp_path, pool, tls_ca) -> None:
    with cri_containerd(CRI_CONFIG) as c:
        root = tree(tmp_path, c.socket, config=None)
        ca = put_ca(root, tls_ca).rename(root / "etc/containerd/private-ca.pem")
        hosts = root / "etc/containerd/certs.d" / HOST / "hosts.toml"
        hosts.write_text(f'server = "https://{HOST}"\n[host."https://{HOST}"]\n'
                         f'  ca = "/etc/containerd/{ca.name}"\n')  # fmt: skip
        with facade(tls_ca, f"reg.{D}") as port:
            result = trust(root, pool, address=f"127.0.0.1:{port}")
        assert result.status == "pass", result
        assert "private-ca.pem" in result.detail


def test_a_hosts_toml_naming_a_missing_ca_fails(tmp_path, pool) -> None:
    config = CONFIG_V2 + ('[plugins."io.containerd.grpc.v1.cri".registry]\n'
                          '  config_path = "/etc/containerd/certs.d"\n')  # fmt: skip
    root = tree(tmp_path, config=config)
    hosts = root / "etc/containerd/certs.d" / HOST / "hosts.toml"
    hosts.parent.mkdir(parents=True)
    hosts.write_text(f'[host."https://{HOST}"]\n  ca = "/etc/containerd/gone.pem"\n')
    result = trust(root, pool)  # before registry-facade runs, too
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert "ca = /etc/containerd/gone.pem: /etc/containerd/gone.pem is absent" in result.detail


def test_config_path_unset_fails_and_a_legacy_tls_entry_passes(tmp_path, pool, tls_ca) -> None:
    unset = CRI_CONFIG.replace("/etc/containerd/certs.d", "")
    with cri_containerd(unset) as c:
        result = trust(tree(tmp_path / "a", c.socket, config=None), pool)
        assert (result.status, result.reason) == ("fail", "mismatch"), result
        assert "config_path is 'unset'" in result.detail and "will not read the CA" in result.detail
    legacy = unset + (f'[plugins."io.containerd.grpc.v1.cri".registry.configs."{HOST}".tls]\n'
                      '  ca_file = "/etc/ssl/gitpod-ca.pem"\n')  # fmt: skip
    with cri_containerd(legacy) as c:
        root = tree(tmp_path / "b", c.socket, config=None)
        (root / "etc/ssl").mkdir(parents=True, exist_ok=True)
        tls_ca.cert_pem.write_to_path(str(root / "etc/ssl/gitpod-ca.pem"))
        with facade(tls_ca, f"reg.{D}") as port:
            result = trust(root, pool, address=f"127.0.0.1:{port}")
        assert result.status == "pass", result
        assert f'registry.configs."{HOST}".tls.ca_file' in result.detail


def test_without_containerd_its_config_file_is_read(tmp_path, pool) -> None:
    config = CONFIG_V2 + ('[plugins."io.containerd.grpc.v1.cri".registry]\n'
                          '  config_path = "/etc/docker/certs.d"\n')  # fmt: skip
    result = trust(tree(tmp_path, config=config), pool)
    assert (result.status, result.reason) == ("fail", "mismatch"), result
    assert "'/etc/docker/certs.d'" in result.detail
    assert "/etc/containerd/config.toml (containerd not asked" in result.detail


def test_k3s_registries_yaml_with_insecure_skip_verify_passes(tmp_path, pool) -> None:
    root = tree(tmp_path, config=CONFIG_V2)
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / "etc/rancher/k3s/registries.yaml").write_text(
        f'configs:\n  "{HOST}":\n    tls:\n      insecure_skip_verify: true\n'
    )
    result = trust(root, pool, k3s_registries="/etc/rancher/k3s/registries.yaml")
    assert result.status == "pass" and "insecure_skip_verify" in result.detail, result


# --- node_workspace_disk ---------------------------------------------------------------------


def test_disk_below_the_floor_warns_with_the_free_bytes(tmp_path, pool) -> None:
    root = tree(tmp_path)
    result = run_check(
        "node_workspace_disk",
        root,
        pool,
        min_free_bytes=1 << 60,
        containerd_root="/var/lib/containerd/io.containerd.runtime.v2.task",
    ).result
    assert (result.status, result.reason) == ("fail", "below_minimum"), result
    paths = {dict(s.labels)["path"]: s.value for s in result.samples
             if s.name == "gitpod_node_filesystem_free_bytes"}  # fmt: skip
    free = os.statvfs(root)
    # The same filesystem, measured a moment apart (other writers move it a little).
    assert abs(paths["/var/gitpod/workspaces"] - free.f_bavail * free.f_frsize) < 1 << 30
    assert set(paths) == {"/var/gitpod/workspaces",
                          "/var/lib/containerd/io.containerd.runtime.v2.task"}  # fmt: skip
    ok = run_check("node_workspace_disk", root, pool, min_free_bytes=0).result
    assert ok.status == "pass", ok


def test_disk_measures_the_nearest_existing_ancestor(tmp_path, pool) -> None:
    root = tree(tmp_path)
    (root / "var/gitpod/workspaces").rmdir()
    result = run_check("node_workspace_disk", root, pool, min_free_bytes=0).result
    assert result.status == "pass", result
    assert "/var/gitpod/workspaces (measured at /var/gitpod)" in result.detail


# --- confined to the host root (the gate: tests/test_gate.py) ----------------------------------


def test_a_symlink_out_of_the_host_root_is_not_followed(tmp_path, pool) -> None:
    root = tree(tmp_path)
    outside = tmp_path / "outside-src"
    outside.mkdir()
    (root / "usr/src").rmdir()
    (root / "usr/src").symlink_to(outside)  # absolute: <root><tmp>/outside-src, absent there
    result = run_check("node_workspace_host_paths", root, pool).result
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert "/usr/src is a symlink to nowhere" in result.detail
    # containerd's config linked out of the root is not read either.
    config = root / "etc/containerd/config.toml"
    real = tmp_path / "outside.toml"
    real.write_text(CONFIG_V2 + '[plugins."io.containerd.grpc.v1.cri".registry]\n'
                    '  config_path = "/etc/containerd/certs.d"\n')  # fmt: skip
    config.unlink()
    config.symlink_to(real)
    trust = run_check("node_registry_facade_trust", root, pool, domain=D, custom_ca=True).result
    assert trust.status == "error", trust  # neither containerd nor a config inside the root


@contextlib.contextmanager
def small_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs of its own at `path` (root, as CI runs): a filesystem the test can fill."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_few_free_inodes_fail_with_plenty_of_bytes(tmp_path, pool) -> None:
    root = tree(tmp_path)
    with small_tmpfs(root / "var/gitpod", "size=64m,nr_inodes=200") as fs:
        (fs / "workspaces").mkdir()
        for n in range(192):  # of 200 inodes, the root and workspaces/ included
            (fs / "workspaces" / f"f{n}").touch()
        result = run_check("node_workspace_disk", root, pool, min_free_bytes=0).result
    assert (result.status, result.reason) == ("fail", "below_minimum"), result
    assert "inodes free of 200" in result.detail and "inodesFree<5%" in result.detail
    inodes = [s for s in result.samples if s.name == "gitpod_node_filesystem_free_inodes"]
    assert inodes and inodes[0].value < 10


def test_the_kubelets_eviction_threshold_counts_before_the_20_gib_floor(tmp_path, pool) -> None:
    root = tree(tmp_path)
    with small_tmpfs(root / "var/gitpod", "size=32m,nr_inodes=1000") as fs:
        (fs / "workspaces").mkdir()
        (fs / "workspaces/blob").write_bytes(b"\0" * (30 << 20))  # 2 MiB (6 %) left
        result = run_check("node_workspace_disk", root, pool, min_free_bytes=1 << 20).result
    assert (result.status, result.reason) == ("fail", "below_minimum"), result
    assert "the kubelet's nodefs.available<10%" in result.detail


@pytest.mark.parametrize(("pod_ip", "probed"), [("10.0.0.7", "HOST_IP"), ("HOST_IP", "loopback")])
def test_the_probe_goes_where_containerd_goes(pod_ip, probed, monkeypatch) -> None:
    from exporter.checks.node import registry_facade_trust as rft

    host_ip = "127.0.0.3"  # the node's address, as the downward API gives it
    monkeypatch.setenv("HOST_IP", host_ip)
    monkeypatch.setenv("POD_IP", host_ip if pod_ip == "HOST_IP" else pod_ip)
    settings = rft.Settings(domain=D, port=1)
    address, note = asyncio.run(rft._answers(settings, 0.5))
    expected = "127.0.0.1:1" if probed == "loopback" else f"{host_ip}:1"
    assert (address, note) == ("", f"nothing answers at {expected}")
