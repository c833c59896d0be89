"""Stand-ins for containerd on a Unix socket, for the answers a real one will not give:
an old version, garbage bytes, silence. Real HTTP/2 framing via h2's server side."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h2.config
import h2.connection
import h2.events


def version_message(version: str, revision: str = "") -> bytes:
    def field(number: int, text: str) -> bytes:
        data = text.encode()
        return bytes([number << 3 | 2, len(data)]) + data

    return field(1, version) + (field(2, revision) if revision else b"")


async def _grpc_peer(reply: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    while data := await reader.read(65536):
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.StreamEnded):
                sid = event.stream_id
                conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                conn.send_data(sid, b"\x00" + len(reply).to_bytes(4, "big") + reply)
                conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        writer.write(conn.data_to_send())
        await writer.drain()
    writer.close()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + bytes(range(256)))
    await writer.drain()
    writer.close()


async def _ping_flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A peer that speaks HTTP/2 but only sends PINGs, as fast as the socket takes them, and
    never reads: every PING asks for an ACK the client must queue."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    with contextlib.suppress(OSError):
        for n in range(10_000_000):
            conn.ping(n.to_bytes(8, "big"))
            writer.write(conn.data_to_send())
            await writer.drain()
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


@contextmanager
def unix_peer(path: Path, mode: str, version: str = "1.4.13") -> Iterator[Path]:
    """Serve `mode` (version | garbage | silent | ping_flood) on `path` from a background
    thread."""
    if mode == "version":
        reply = version_message(version, "rev")

        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await _grpc_peer(reply, r, w)
    else:
        handler = {"garbage": _garbage, "silent": _silent, "ping_flood": _ping_flood}[mode]  # type: ignore[assignment]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    path.parent.mkdir(parents=True, exist_ok=True)
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_unix_server(handler, str(path)), loop
    ).result(5)

    async def shutdown() -> None:
        server.close()
        for task in asyncio.all_tasks(loop):
            if task is not asyncio.current_task():
                task.cancel()

    try:
        yield path
    finally:
        # Everything on the server's own loop: asyncio objects are not thread-safe.
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
