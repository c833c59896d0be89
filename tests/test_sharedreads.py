"""SharedReads: one read per key and ttl, failures shared, and a shared failure that does not
grow with every raise."""

from __future__ import annotations

import asyncio

from exporter.model import NotConfigured
from exporter.sharedreads import SharedReads


def _depth(exc: BaseException) -> int:
    depth, tb = 0, exc.__traceback__
    while tb is not None:
        depth, tb = depth + 1, tb.tb_next
    return depth


def test_a_shared_failure_is_raised_with_only_its_callers_frames() -> None:
    reads = SharedReads((NotConfigured,))
    fetched = 0

    async def fetch() -> None:
        nonlocal fetched
        fetched += 1
        raise NotConfigured("no API access")

    async def main() -> list[int]:
        depths = []
        for _ in range(200):
            try:
                await reads.get("config", 600.0, fetch)
            except NotConfigured as exc:
                depths.append(_depth(exc))
        return depths

    depths = asyncio.run(main())
    assert fetched == 1
    # Re-raising the same object used to prepend to its traceback: 200 raises, 200 times the
    # frames (kept alive for the ttl, 13 KB a second in the node role).
    assert max(depths) == min(depths[1:]) <= 3, depths[:5]
