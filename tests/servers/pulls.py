"""What containerd itself does with a node's registry trust: the suite's real containerd, with
its CRI, in a mount namespace of its own where the host tree's /etc/containerd, /etc/ssl/certs
and /etc/hosts stand at their real paths, pulls an image from a registry-facade stand-in (TLS
on 127.0.0.1, reached as reg.<domain>:<port> through that /etc/hosts). The exporter judges the
same files through the tree as --host-root: a verdict is held to the pull."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import platform
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from exporter.grpc_unix import GrpcError, unary_call
from tests.servers.containerd import DISABLED, Containerd, _running
from tests.servers.tls import leaf, server_context, serving

# containerd's own CRI set-up for pulls: the native snapshotter (no kernel feature needed) and
# the hosts directories where the node keeps them.
PULL_CONFIG = """[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "{config_path}"
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "native"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{{base}}/cni-bin"
  conf_dir = "{{base}}/cni-conf"
"""
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image() -> tuple[bytes, dict[str, bytes]]:
    """A one-file image: its manifest and its blobs by digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = b"workspace image\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": ARCH, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [_sha(raw.getvalue())]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _sha(layer), "size": len(layer)}],
    }).encode()  # fmt: skip
    return manifest, {_sha(config): config, _sha(layer): layer}


@contextlib.contextmanager
def facade_registry(ca: trustme.CA, name: str) -> Iterator[int]:
    """A registry-facade stand-in serving image `probe:latest` over TLS with a certificate
    for `name` from `ca`; yields its port on 127.0.0.1."""
    manifest, blobs = image()
    app = web.Application()
    oci = "application/vnd.oci.image.manifest.v1+json"

    async def v2(_: web.Request) -> web.Response:
        return web.json_response({})

    async def manifests(_: web.Request) -> web.Response:
        headers = {"Docker-Content-Digest": _sha(manifest), "Content-Type": oci}
        return web.Response(body=manifest, headers=headers)

    async def blob(request: web.Request) -> web.Response:
        data = blobs.get(request.match_info["digest"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    app.router.add_get("/v2/", v2)
    app.router.add_route("*", "/v2/probe/manifests/{ref}", manifests)
    app.router.add_route("*", "/v2/probe/blobs/{digest}", blob)
    with serving(app, server_context(leaf(ca, name))) as port:
        yield port


@contextlib.contextmanager
def node_containerd(tree: Path, config_path: str) -> Iterator[Containerd]:
    """containerd with its CRI, seeing the tree's /etc/containerd, /etc/ssl/certs and
    /etc/hosts where a node's containerd sees them."""
    binds = [(tree / "etc/containerd", "/etc/containerd"),
             (tree / "etc/ssl/certs", "/etc/ssl/certs"),
             (tree / "etc/hosts", "/etc/hosts")]  # fmt: skip
    for source, target in binds:
        if not source.exists() or not Path(target).exists():
            pytest.fail(f"cannot bind {source} over {target}: both must exist")
    script = " && ".join(f'mount --bind "{s}" "{t}"' for s, t in binds) + ' && exec "$@"'
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    extra = PULL_CONFIG.format(config_path=config_path)
    with _running(DISABLED[1:], extra, prefix) as c:
        deadline = time.monotonic() + 10
        while True:  # the CRI plugin registers its services a moment after the socket
            try:
                asyncio.run(unary_call(str(c.socket), "/runtime.v1.ImageService/ListImages"))
                break
            except (GrpcError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail("containerd's CRI plugin did not load: see its log")
                time.sleep(0.1)
        yield c


def _message(number: int, data: bytes) -> bytes:
    return bytes([number << 3 | 2, len(data)]) + data


def pull(c: Containerd, reference: str, timeout: float = 20.0) -> str:
    """A CRI PullImage, as the kubelet asks it: '' when it pulled, else containerd's error."""
    request = _message(1, _message(1, reference.encode()))
    try:
        asyncio.run(
            asyncio.wait_for(
                unary_call(str(c.socket), "/runtime.v1.ImageService/PullImage", request), timeout
            )
        )
    except GrpcError as exc:
        return str(exc) or "failed"
    return ""
