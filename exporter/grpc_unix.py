"""A minimal gRPC unary client over a Unix socket, enough for containerd's Version API.

grpcio would do this too, but it adds a large native library to every node's exporter; one
unary call with two string fields is a few frames of HTTP/2 and a few bytes of protobuf.
"""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.events
import h2.exceptions


class GrpcError(Exception):
    """The peer answered, but not with a successful gRPC response."""


def encode_frame(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def decode_frame(body: bytes) -> bytes:
    if len(body) < 5:
        raise GrpcError(f"response body of {len(body)} bytes is shorter than a gRPC frame")
    if body[0] != 0:
        raise GrpcError("compressed gRPC responses are not supported")
    length = int.from_bytes(body[1:5], "big")
    if len(body) - 5 < length:
        raise GrpcError("truncated gRPC message")
    return bytes(body[5 : 5 + length])


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise GrpcError("malformed protobuf varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def protobuf_fields(message: bytes) -> list[tuple[int, bytes]]:
    """Every length-delimited field of a protobuf message, in order, as (number, bytes): a
    repeated field (a map's entries) comes once per element. Other wire types are skipped."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(message):
        key, pos = _varint(message, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(message, pos)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length, pos = _varint(message, pos)
            if pos + length > len(message):
                raise GrpcError("truncated protobuf field")
            out.append((number, bytes(message[pos : pos + length])))
            pos += length
        else:
            raise GrpcError(f"unsupported protobuf wire type {wire}")
    if pos != len(message):
        raise GrpcError("truncated protobuf message")
    return out


def protobuf_strings(message: bytes) -> dict[int, str]:
    """The length-delimited fields of a protobuf message by field number, decoded as UTF-8;
    fields of other wire types are skipped."""
    out: dict[int, str] = {}
    for number, raw in protobuf_fields(message):
        try:
            out[number] = raw.decode()
        except UnicodeDecodeError:
            raise GrpcError(f"protobuf field {number} is not UTF-8") from None
    return out


_CONTROL = (
    h2.events.PingReceived,
    h2.events.PingAckReceived,
    h2.events.RemoteSettingsChanged,
    h2.events.SettingsAcknowledged,
    h2.events.WindowUpdated,
    h2.events.PriorityUpdated,
    h2.events.UnknownFrameReceived,
    h2.events.AlternativeServiceAvailable,
)

# containerd's Version answer is ~100 bytes, but a verbose CRI Status with hundreds of registry
# hosts is ~70 KiB (450 hosts): bound answers by what a real containerd sends, not below it.
MAX_RESPONSE_BYTES = 1 << 20
# A unary answer takes a SETTINGS, its ACK, perhaps a WINDOW_UPDATE or a PING: a peer sending
# far more frames that are not the answer (a PING flood makes the client queue an ACK for each)
# is refused, and everything it sent counts against a byte budget of its own.
MAX_CONTROL_FRAMES = 64
MAX_RECEIVED_BYTES = 2 << 20


async def unary_call(socket_path: str, method: str, request: bytes = b"") -> bytes:
    """Call `method` (e.g. /pkg.Service/Method) and return the response message bytes.

    The caller bounds the time; OSError means the socket did not accept us.
    """
    reader, writer = await asyncio.open_unix_connection(socket_path)
    try:
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(
            stream,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", method),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ],
        )
        conn.send_data(stream, encode_frame(request), end_stream=True)
        writer.write(conn.data_to_send())
        await writer.drain()
        headers: dict[str, str] = {}
        body = bytearray()
        ended = False
        control = received = 0
        while not ended:
            data = await reader.read(65536)
            if not data:
                raise GrpcError("connection closed before the response ended")
            received += len(data)
            if received > MAX_RECEIVED_BYTES:
                raise GrpcError(f"over {MAX_RECEIVED_BYTES >> 20} MiB received for one call")
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                raise GrpcError(f"not an HTTP/2 gRPC peer: {exc}") from None
            for event in events:
                if isinstance(event, _CONTROL):
                    control += 1
                    if control > MAX_CONTROL_FRAMES:
                        raise GrpcError(
                            f"over {MAX_CONTROL_FRAMES} HTTP/2 control frames (PING, SETTINGS, "
                            "...) and no answer: refused"
                        )
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    headers.update(dict(event.headers))  # type: ignore[arg-type]
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data or b""
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise GrpcError(f"response larger than {MAX_RESPONSE_BYTES} bytes")
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
                elif isinstance(event, h2.events.StreamReset):
                    raise GrpcError(f"stream reset by peer (code {event.error_code})")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise GrpcError(f"connection terminated by peer (code {event.error_code})")
            writer.write(conn.data_to_send())
            # A peer that does not read gets no more than the socket's buffer queued for it.
            await writer.drain()
        if headers.get(":status") != "200":
            raise GrpcError(f"HTTP status {headers.get(':status')}")
        status = headers.get("grpc-status", "")
        if status != "0":
            raise GrpcError(f"grpc-status {status or 'missing'}: {headers.get('grpc-message', '')}")
        return decode_frame(bytes(body))
    finally:
        # Dropped, not closed: a close waits to flush what a peer that does not read will never
        # take, and the connection would outlive the call.
        writer.transport.abort()
