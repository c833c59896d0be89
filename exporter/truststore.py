"""The node's own trust store, as containerd (Go's crypto/x509 on Linux) loads it: the first of
the distributions' bundle files that exists, then every regular file in the certificate
directories. A registry's certificate is verified against this plus the CAs containerd is
configured with for that registry, never against the exporter image's own bundle: a private CA
the node trusts passes, a public CA the node lacks fails. Read through --host-root, bounded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter import hostfs
from exporter.model import CheckError
from exporter.parse import ParseError

# crypto/x509's certFiles and certDirectories for Linux, in its order.
BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Flatcar
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6, Amazon Linux
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # CentOS, RHEL 7
    "/etc/ssl/cert.pem",  # Alpine
)
DIRECTORIES = ("/etc/ssl/certs", "/etc/pki/tls/certs")
MAX_BUNDLE_BYTES = 4 << 20  # a distribution's bundle is ~0.2-0.5 MiB
MAX_DIRECTORY_FILES = 1024
MAX_FILE_BYTES = 256 << 10
MAX_TOTAL_BYTES = 8 << 20
MAX_CERTIFICATES = 4096
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


@dataclass(frozen=True)
class Roots:
    pem: str  # the certificates, PEM blocks only
    count: int
    where: str  # what was read, for the detail


def certificates(text: str, limit: int = MAX_CERTIFICATES) -> list[str]:
    """The PEM certificate blocks of `text`, in one pass (comments and other blocks skipped)."""
    found: list[str] = []
    at = 0
    while len(found) < limit:
        start = text.find(BEGIN, at)
        if start < 0:
            break
        end = text.find(END, start)
        if end < 0:
            break
        found.append(text[start : end + len(END)])
        at = end + len(END)
    return found


def node_roots(root: Path) -> Roots:
    """The node's system roots (blocking: run in the pool). Empty when the node has none this
    pod can see."""
    blocks: list[str] = []
    read: list[str] = []
    total = 0
    for path in BUNDLES:
        if hostfs.kind(root, path) != "file":
            continue
        try:
            text = hostfs.read_text(root, path, MAX_BUNDLE_BYTES)
        except (OSError, CheckError, ParseError):
            continue
        blocks += certificates(text)
        read.append(path)
        total += len(text)
        break
    for directory in DIRECTORIES:
        if hostfs.kind(root, directory) != "directory":
            continue
        try:
            names, _ = hostfs.scan(root, directory, MAX_DIRECTORY_FILES)
        except OSError:
            continue
        taken = 0
        for name in names:
            path = f"{directory}/{name}"
            if path in read or total > MAX_TOTAL_BYTES or len(blocks) >= MAX_CERTIFICATES:
                continue
            try:
                real = hostfs.resolve(root, directory) / name
                if real.is_symlink() or not real.is_file():
                    continue  # the hashed links repeat the bundle's certificates
                text = hostfs.read_text(root, path, MAX_FILE_BYTES)
            except (OSError, CheckError, ParseError):
                continue
            new = certificates(text, MAX_CERTIFICATES - len(blocks))
            blocks += new
            total += len(text)
            taken += bool(new)
        if taken:
            read.append(f"{taken} files in {directory}")
    return Roots("\n".join(blocks), len(blocks), ", ".join(read) or "none")
