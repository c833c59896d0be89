"""Reading the node's filesystem through --host-root, as untrusted input.

Paths resolve *inside* the host root: a symlink's absolute target is taken relative to the
root and `..` never climbs above it (openat2's RESOLVE_IN_ROOT, done by hand: Python has no
openat2), so a link to /etc/shadow reads <root>/etc/shadow, never the agent's own. Only regular
files are read, opened non-blocking (a FIFO cannot hold a thread), at most MAX_BYTES of them
(proc files are small; a 1 GB sparse file is refused, not read), and decoded strictly (binary
garbage is a parse error, not a crash). Everything here blocks: callers run it in the pool.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from exporter.model import CheckError, Reason
from exporter.parse import ParseError

MAX_BYTES = 1 << 20
MAX_LINKS = 40  # as the kernel's path walk


def nameable(path: str) -> str:
    """`path` if a file can have that name; CheckError (config) for a NUL or a lone surrogate
    (from a ConfigMap or containerd's answer: os would raise ValueError or UnicodeEncodeError,
    an internal error with a traceback every run), the path escaped and cut in the message."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        if "\x00" not in path:
            return path
    raise CheckError(
        Reason.CONFIG, f"the path {path[:120]!a} cannot name a file (a NUL or not UTF-8)"
    )


def resolve(root: Path, path: str) -> Path:
    """`path` (as seen on the node) as a path under `root`, every symlink followed inside the
    root. OSError (ENOENT, ELOOP, ENOTDIR) as for a missing or looping path; CheckError for a
    path no file can have."""
    parts = [p for p in nameable(path).split("/") if p not in ("", ".")]
    parts.reverse()  # a stack: the next component on top
    done: list[str] = []
    links = 0
    while parts:
        name = parts.pop()
        if name == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, name)
        st = os.lstat(candidate)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if parts and not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, "not a directory", path)
        done.append(name)
    return root.joinpath(*done)


def exists(root: Path, path: str) -> bool:
    try:
        resolve(root, path)
    except OSError:
        return False
    return True


def kind(root: Path, path: str) -> str:
    """file, directory, socket, fifo, device or absent."""
    try:
        mode = os.stat(resolve(root, path), follow_symlinks=False).st_mode
    except OSError:
        return "absent"
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISFIFO, "fifo"),
    ):
        if test(mode):
            return name
    return "device"


def listdir(root: Path, path: str) -> list[str]:
    return sorted(os.listdir(resolve(root, path)))


def scan(root: Path, path: str, limit: int) -> tuple[list[str], bool]:
    """At most `limit` names of a directory, sorted, and whether there were more: a directory
    of a million entries is not listed whole."""
    names: list[str] = []
    with os.scandir(resolve(root, path)) as entries:
        for entry in entries:
            if len(names) == limit:
                return sorted(names), True
            names.append(entry.name)
    return sorted(names), False


def read_text(root: Path, path: str, limit: int = MAX_BYTES) -> str:
    """A regular file's text. CheckError(io) for what is not a regular file or too large;
    ParseError for bytes that are not UTF-8; OSError for a missing file."""
    real = resolve(root, path)
    # O_NOFOLLOW: the last component cannot have become a link since resolve() looked.
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise CheckError(Reason.IO, f"{path} is {what}: refused")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise CheckError(Reason.IO, f"{path} is larger than {limit} bytes: refused")
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path} is not UTF-8 text (byte {exc.start})") from None
