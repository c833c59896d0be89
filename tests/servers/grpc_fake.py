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


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(data)) + data


def cri_version(runtime_version: str, api: str = "v1") -> bytes:
    """A CRI VersionResponse as containerd sends it."""
    return (_field(1, b"0.1.0") + _field(2, b"containerd") + _field(3, runtime_version.encode())
            + _field(4, api.encode()))  # fmt: skip


def cri_status(info: dict[str, str]) -> bytes:
    """A verbose CRI StatusResponse: conditions, then the info map (field 2)."""
    ready = _field(1, b"RuntimeReady") + bytes([0x10, 1])
    out = _field(1, _field(1, ready))
    for key, value in info.items():
        out += _field(2, _field(1, key.encode()) + _field(2, value.encode()))
    return out


async def _grpc_peer(
    replies: dict[str, bytes] | bytes,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """One reply for every call, or one per method path (unimplemented for the others, as
    a gRPC server answers a service it does not serve)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    paths: dict[int, str] = {}
    while data := await reader.read(65536):
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = {k.decode() if isinstance(k, bytes) else k:
                           v.decode() if isinstance(v, bytes) else v
                           for k, v in event.headers}  # fmt: skip
                paths[event.stream_id] = headers.get(":path", "")
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                sid = event.stream_id
                reply = replies if isinstance(replies, bytes) else replies.get(paths.get(sid, ""))
                conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                if reply is None:
                    trailers = [("grpc-status", "12"), ("grpc-message", "unknown service")]
                    conn.send_headers(sid, trailers, end_stream=True)
                    continue
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


def cri_replies(runtime_version: str, config: dict[str, object]) -> dict[str, bytes]:
    """What containerd answers on its CRI: Version, and Status with `config` (the JSON it
    marshals) in the verbose info map; its own Version API too."""
    import json

    status = cri_status({"config": json.dumps(config), "golang": '"go1.22.8"'})
    return {
        "/runtime.v1.RuntimeService/Version": cri_version(runtime_version),
        "/runtime.v1.RuntimeService/Status": status,
        "/containerd.services.version.v1.Version/Version": version_message(runtime_version, "rev"),
    }


@contextmanager
def unix_peer(
    path: Path, mode: str, version: str = "1.4.13", replies: dict[str, bytes] | None = None
) -> Iterator[Path]:
    """Serve `mode` (version | cri | garbage | silent | ping_flood) on `path` from a
    background thread; `cri` answers `replies` by method."""
    if mode in ("version", "cri"):
        reply: dict[str, bytes] | bytes = (
            version_message(version, "rev") if mode == "version" else dict(replies or {})
        )

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
