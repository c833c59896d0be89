"""Host-root directories that look like real Kubernetes nodes, for --host-root.

The file contents are what these systems really show; only the paths are relocated.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

UBUNTU_2204 = """PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
"""
UBUNTU_2004 = """NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
"""
AMAZON_LINUX_2 = """NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"
PRETTY_NAME="Amazon Linux 2"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2"
HOME_URL="https://amazonlinux.com/"
"""

CALICO_CONFLIST = {
    "name": "k8s-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "calico",
            "log_level": "info",
            "datastore_type": "kubernetes",
            "mtu": 1410,
            "ipam": {"type": "calico-ipam"},
            "policy": {"type": "k8s"},
            "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"},
        },
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}
GKE_PTP_CONFLIST = {
    "name": "gke-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "ptp",
            "mtu": 1460,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.4.0.0/24"}]]},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
AWS_VPC_CONFLIST = {
    "cniVersion": "0.4.0",
    "name": "aws-cni",
    "disableCheck": True,
    "plugins": [
        {"name": "aws-cni", "type": "aws-cni", "vethPrefix": "eni", "mtu": "9001"},
        {"name": "egress-cni", "type": "egress-cni"},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ],
}
FLANNEL_K3S_CONFLIST = {
    "name": "cbr0",
    "cniVersion": "1.0.0",
    "plugins": [
        {
            "type": "flannel",
            "delegate": {"hairpinMode": True, "forceAddress": True, "isDefaultGateway": True},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}

PRIVILEGED_CAPEFF = "000001ffffffffff"  # every capability up to CAP_CHECKPOINT_RESTORE (40)
DEFAULT_CAPEFF = "00000000a80425fb"  # containerd's default set for an unprivileged container


def status_file(capeff: str) -> str:
    return (
        "Name:\tpython3\nUmask:\t0022\nState:\tR (running)\nTgid:\t4242\nPid:\t4242\n"
        f"CapInh:\t0000000000000000\nCapPrm:\t{capeff}\nCapEff:\t{capeff}\n"
        f"CapBnd:\t{capeff}\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n"
    )


def meminfo(total_kib: int) -> str:
    return (
        f"MemTotal:       {total_kib} kB\nMemFree:         1203044 kB\n"
        f"MemAvailable:   {total_kib // 2} kB\nBuffers:          214712 kB\n"
        "Cached:          8402340 kB\nSwapCached:            0 kB\n"
    )


def cpuinfo(n: int) -> str:
    return "".join(
        f"processor\t: {i}\nvendor_id\t: GenuineIntel\n"
        "model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n"
        f"cpu cores\t: {n}\n\n"
        for i in range(n)
    )


@dataclass(frozen=True)
class Node:
    os_release: str = UBUNTU_2204
    kernel: str = "5.15.0-1051-gke"
    cpus: int = 4
    mem_kib: int = 16_393_932  # a 16 GiB VM: MemTotal ~15.6 GiB
    capeff: str = PRIVILEGED_CAPEFF
    cni: dict[str, dict[str, object]] | None = field(
        default_factory=lambda: {"10-calico.conflist": CALICO_CONFLIST}
    )
    socket: str = "/run/containerd/containerd.sock"
    sysfs_cpus: bool = True
    # The workspace data plane (node_user_namespaces, node_kernel_features, node_fs_shift,
    # node_cgroup): as an Ubuntu 22.04 GKE node has it.
    max_user_namespaces: int = 63_493
    unprivileged_userns_clone: int | None = None  # Debian's switch: absent on Ubuntu
    apparmor_restrict_userns: int | None = None  # Ubuntu 23.10 and later: 1
    loaded_modules: tuple[str, ...] = ("veth", "nf_tables", "nft_chain_nat", "overlay", "fuse")
    module_files: tuple[str, ...] | None = (  # modules.dep entries; None: no /lib/modules/<r>
        "kernel/drivers/net/veth.ko", "kernel/net/netfilter/nft_masq.ko",
        "kernel/net/netfilter/nft_chain_nat.ko", "kernel/net/netfilter/nft_nat.ko",
        "kernel/fs/overlayfs/overlay.ko",
        "kernel/fs/fuse/fuse.ko", "kernel/net/netfilter/nf_tables.ko",
    )  # fmt: skip
    builtin_modules: tuple[str, ...] = ()
    dev_fuse: bool = True
    cgroup_v2: bool = True
    shiftfs_loaded: bool = False
    kernel_headers: bool = False
    # The kubelet's process (comm, command line) as /proc shows it; None: none running.
    kubelet: tuple[str, tuple[str, ...]] | None = (
        "kubelet", ("/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"))  # fmt: skip
    # The system trust store (Ubuntu's bundle): a public root, not the suite's test CAs.
    roots_pem: str = ""
    # Where the host's mount table shows pod volumes (the kubelet's root dir); None: no pod
    # volume mounted (not a node, or a preflight on a machine without a kubelet).
    pods_under: str | None = "/var/lib/kubelet"
    # The kubelet process' uid and executable: a workload renaming itself is neither.
    kubelet_uid: int = 0
    kubelet_exe: str = ""  # "": /usr/bin/<comm's program>
    domain: str = "gitpod.test"  # ws-daemon's /etc/hosts entry for reg.<domain>
    sysctls: dict[str, str] = field(default_factory=lambda: {
        "fs.inotify.max_user_watches": "1000000", "kernel.dmesg_restrict": "1",
        "vm.unprivileged_userfaultfd": "0"})  # fmt: skip

    def build(self, root: Path, containerd_socket: Path | None = None) -> Path:
        def put(path: str, text: str) -> None:
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

        put("/etc/os-release", self.os_release)
        put("/etc/ssl/certs/ca-certificates.crt", self.roots_pem or public_roots())
        put("/proc/sys/kernel/osrelease", self.kernel + "\n")
        put("/proc/sys/kernel/cap_last_cap", "40\n")
        put("/proc/meminfo", meminfo(self.mem_kib))
        put("/proc/cpuinfo", cpuinfo(self.cpus))
        if self.sysfs_cpus:
            put(
                "/sys/devices/system/cpu/online", f"0-{self.cpus - 1}\n" if self.cpus > 1 else "0\n"
            )
        put("/proc/self/status", status_file(self.capeff))
        put("/proc/sys/user/max_user_namespaces", f"{self.max_user_namespaces}\n")
        # What ws-daemon's sysctl init container sets on the node.
        for key, value in self.sysctls.items():
            put("/proc/sys/" + key.replace(".", "/"), f"{value}\n")
        if self.unprivileged_userns_clone is not None:
            put("/proc/sys/kernel/unprivileged_userns_clone", f"{self.unprivileged_userns_clone}\n")
        if self.apparmor_restrict_userns is not None:
            put("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                f"{self.apparmor_restrict_userns}\n")  # fmt: skip
        put("/proc/modules", "".join(f"{m} 200704 0 - Live 0x0000000000000000\n"
                                     for m in self.loaded_modules))  # fmt: skip
        fs = ["nodev\tsysfs", "nodev\ttmpfs", "nodev\tproc", "\text4", "nodev\tcgroup2"]
        fs += ["nodev\toverlay"] if "overlay" in self.loaded_modules else []
        fs += ["nodev\tfuse"] if "fuse" in self.loaded_modules else []
        put("/proc/filesystems", "\n".join(fs) + "\n")
        if self.module_files is not None:
            base = f"/lib/modules/{self.kernel}"
            put(f"{base}/modules.dep", "".join(f"{m}.zst:\n" for m in self.module_files))
            put(f"{base}/modules.builtin", "".join(f"{m}\n" for m in self.builtin_modules))
        if self.dev_fuse:
            (root / "dev").mkdir(parents=True, exist_ok=True)
            os.mknod(root / "dev/fuse", stat.S_IFCHR | 0o666, os.makedev(10, 229))
        (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
        if self.cgroup_v2:
            put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n")
        else:
            (root / "sys/fs/cgroup/memory").mkdir(exist_ok=True)
        if self.shiftfs_loaded:
            (root / "sys/module/shiftfs").mkdir(parents=True, exist_ok=True)
        if self.kernel_headers:
            (root / f"usr/src/linux-headers-{self.kernel}").mkdir(parents=True, exist_ok=True)
        if self.kubelet is not None:
            comm, args = self.kubelet
            put("/proc/4242/comm", comm + "\n")
            put("/proc/4242/cmdline", "\0".join(args) + "\0")
            put("/proc/4242/status", f"Name:\t{comm}\nUid:\t{self.kubelet_uid}\t0\t0\t0\n")
            (root / "proc/4242/exe").symlink_to(self.kubelet_exe or args[0])
        put("/proc/1/comm", "systemd\n")
        mounts = "/dev/root / ext4 rw,relatime 0 0\n"
        if self.pods_under is not None:
            uid = "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
            mounts += (f"tmpfs {self.pods_under}/pods/{uid}/volumes/kubernetes.io~projected/"
                       "kube-api-access-x9z tmpfs rw,relatime 0 0\n")  # fmt: skip
        put("/proc/1/mounts", mounts)
        put("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.0.1\treg.{self.domain}\t"
                          "# added by ws-daemon registryFacade\n")  # fmt: skip
        put("/var/lib/kubelet/seccomp/workspace_default_2022.11.3.json", '{"defaultAction": 0}')
        # What ws-daemon mounts (node_workspace_host_paths, node_workspace_disk).
        (root / "proc/self").mkdir(parents=True, exist_ok=True)
        put("/proc/self/mounts", "overlay / overlay rw 0 0\n")
        if not os.path.lexists(root / "proc/mounts"):
            (root / "proc/mounts").symlink_to("self/mounts")
        for path in ("usr/src", "var/gitpod/workspaces",
                     "var/lib/containerd/io.containerd.runtime.v2.task/k8s.io"):  # fmt: skip
            (root / path).mkdir(parents=True, exist_ok=True)
        if self.cni is not None:
            (root / "etc/cni/net.d").mkdir(parents=True, exist_ok=True)
            for name, doc in self.cni.items():
                put(f"/etc/cni/net.d/{name}", json.dumps(doc, indent=2))
        if containerd_socket is not None and (containerd_socket.parent / "root").is_dir():
            # The suite's containerd keeps its root beside its socket: /var/lib/containerd
            # links there, as a node's may link to a data disk, so the installer's default
            # runtime dir is containerd's own.
            ours = f"{containerd_socket.parent}/root"
            (root / ours.lstrip("/") / "io.containerd.runtime.v2.task/k8s.io").mkdir(parents=True)
            tasks = root / "var/lib/containerd/io.containerd.runtime.v2.task/k8s.io"
            tasks.rmdir()
            tasks.parent.rmdir()
            (root / "var/lib/containerd").rmdir()
            (root / "var/lib/containerd").symlink_to(ours)
        if containerd_socket is not None:
            # A hard link: the socket is inside the host root, as on a node. (A symlink to
            # the test's socket would point outside the root, where the exporter, rightly,
            # never follows it.)
            link = root / self.socket.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(containerd_socket, link)
        return root


@functools.cache
def public_roots() -> str:
    """A stand-in for a distribution's CA bundle: a root no test server's certificate chains to."""
    import trustme

    return trustme.CA(organization_name="Public Root CA").cert_pem.bytes().decode()


def idle_socket() -> Path:
    """A Unix socket nothing listens on, under a short path (107 bytes at most): hard-linked
    into a host tree, containerd is there but does not answer, so its config file is read."""
    path = Path(tempfile.mkdtemp(prefix="gre-", dir="/tmp")) / "s"
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as s:
        s.bind(str(path))
    return path


# Host paths the node checks may read that a healthy Ubuntu workspace node does not have; every
# other path they declare, Node.build makes (tests/test_hosts_contract.py).
ABSENT_ON_A_HEALTHY_NODE = {
    "/usr/lib/os-release": "/etc/os-release is there",
    "/run/k3s/containerd/containerd.sock": "not K3s",
    "/proc/sys/kernel/unprivileged_userns_clone": "Debian's switch, not Ubuntu's",
    "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "Ubuntu 23.10 and later",
    "/sys/module/shiftfs": "fsShiftMethod fuse",
    "/etc/containerd/config.toml": "containerd answers; its file is the fallback",
    "/etc/containerd/certs.d": "no customCACert, or registry-facade not there yet",
    # Other distributions' trust stores (crypto/x509's list): Ubuntu has the first.
    "/etc/pki/tls/certs/ca-bundle.crt": "RHEL, Amazon Linux",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem": "RHEL, CentOS",
    "/etc/pki/tls/certs": "RHEL, Amazon Linux",
    "/etc/pki/tls/cacert.pem": "OpenELEC",
    "/etc/ssl/ca-bundle.pem": "openSUSE",
    "/etc/ssl/cert.pem": "Alpine",
    "/etc/systemd/system/k3s.service": "not K3s",
    "/etc/systemd/system/k3s-agent.service": "not K3s",
    "/etc/rancher/k3s/config.yaml": "not K3s",
}


GKE_UBUNTU_2204 = Node()
GKE_UBUNTU_2004 = Node(os_release=UBUNTU_2004, kernel="5.4.0-1104-gke", cpus=8, mem_kib=32_880_000)
EKS_AMAZON_LINUX = Node(
    os_release=AMAZON_LINUX_2,
    kernel="5.10.199-190.747.amzn2.x86_64",
    cni={"10-aws.conflist": AWS_VPC_CONFLIST},
)
K3S_NODE = Node(
    kernel="5.15.0-91-generic",
    kubelet=("k3s-agent", ("/usr/local/bin/k3s", "agent", "--node-name=k3s-1")),
    socket="/run/k3s/containerd/containerd.sock",
    cni={"10-flannel.conflist": FLANNEL_K3S_CONFLIST},
    sysfs_cpus=False,
)
SMALL_NODE = Node(cpus=2, mem_kib=8_136_000)  # an 8 GiB, 2 vCPU VM
NO_CALICO_NODE = Node(cni={"10-containerd-net.conflist": GKE_PTP_CONFLIST})
UNPRIVILEGED_NODE = Node(capeff=DEFAULT_CAPEFF)
OLD_KERNEL_NODE = Node(kernel="4.19.0-26-cloud-amd64")
