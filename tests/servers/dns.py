"""A real DNS server on a random UDP port (dnslib's server), answering from a small zone
whose names may be wildcards, with NXDOMAIN for everything else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, records: dict[str, str]) -> None:
        self.records = {k.rstrip(".").lower(): v for k, v in records.items()}

    def _lookup(self, name: str) -> str | None:
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
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=60))
        return reply


@contextlib.contextmanager
def dns_server(records: dict[str, str]) -> Iterator[int]:
    """Serve `records` (name or *.name -> IPv4) on 127.0.0.1; yields the UDP port."""
    # Quiet: dnslib logs every query to stdout, where `check --output json` writes.
    quiet = DNSLogger(logf=lambda _: None)
    server = DNSServer(ZoneResolver(records), port=0, address="127.0.0.1", logger=quiet)
    server.start_thread()
    try:
        yield server.server.server_address[1]
    finally:
        server.stop()
