"""Reading a dependency's answer within a size and a deadline, enforced while it arrives: an
endless or dribbled body ends the read, never the process's memory or a pool thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

CHUNK = 64 * 1024


class TooLarge(ValueError):
    """The answer grew past its limit; what was read so far is dropped."""


def read_bounded(read1: Callable[[int], bytes], limit: int, deadline: float, what: str) -> bytes:
    """The whole body from `read1` (a response's read1: whatever has arrived, at most n bytes),
    TooLarge past `limit` bytes, TimeoutError once `deadline` (time.monotonic()) has passed
    between two reads: each read is bounded by the socket's own timeout."""
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: the answer was still arriving at the deadline")
            chunk = read1(CHUNK)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:
                raise TooLarge(f"{what}: the answer is over {limit // (1 << 20)} MiB: refused")
            chunks.append(chunk)
    except BaseException:
        # What was read goes now: the exception's traceback keeps this frame, and the frames
        # of its handlers keep the exception, a cycle only the collector frees; a bytes
        # object does not count towards running it. A refused 62 MiB page stayed each time
        # (a cluster role retrying one reached 946 MiB).
        chunks.clear()
        raise


def bounded_chunks(
    chunks: Iterator[bytes], limit: int, deadline: float, what: str
) -> Iterator[bytes]:
    """`chunks` passed on while they stay within `limit` bytes in all and arrive before
    `deadline`: for clients that pull a body through an iterator of their own (botocore)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"{what}: the answer is over {limit // (1 << 20)} MiB: refused")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: the answer was still arriving at the deadline")
        yield chunk
