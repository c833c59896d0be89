"""A real DNS server on a random UDP port (dnslib's server), answering from a small zone
whose names may be wildcards, with NXDOMAIN for everything else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, records: dict[str, str | list[str]]) -> None:
        self.records = {k.rstrip(".").lower(): v for k, v in records.items()}

    def _lookup(self, name: str) -> str | list[str] | None:
        if name in self.records:
            return self.records[name]
        _, _, parent = name.partition(".")
        return self.records.get(f"*.{parent}")

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        address = self._lookup(name)
        if address is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            for one in [address] if isinstance(address, str) else address:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(one), ttl=60))
        return reply


@contextlib.contextmanager
def dns_server(records: dict[str, str | list[str]], tcp: bool = False) -> Iterator[int]:
    """Serve `records` (name or *.name -> IPv4, or a list of them) on 127.0.0.1; yields the
    UDP port, where a TCP server listens too when `tcp` (for answers too large for UDP)."""
    # Quiet: dnslib logs every query to stdout, where `check --output json` writes.
    quiet = DNSLogger(logf=lambda _: None)
    resolver = ZoneResolver(records)
    server = DNSServer(resolver, port=0, address="127.0.0.1", logger=quiet)
    server.start_thread()
    port = server.server.server_address[1]
    over_tcp = None
    try:
        if tcp:
            over_tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet)
            over_tcp.start_thread()
        yield port
    finally:
        server.stop()
        if over_tcp is not None:
            over_tcp.stop()
