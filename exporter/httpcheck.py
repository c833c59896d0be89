"""What the HTTP-speaking cluster checks share: a TLS context, one session, error mapping."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from exporter.model import CheckError, DependencyError, Reason

if TYPE_CHECKING:
    import aiohttp


def tls_context(ca_file: str = "", ca_pem: str = "") -> ssl.SSLContext:
    """System trust, or only the given CA bundle (a file, or PEM text read from a Secret)."""
    try:
        return ssl.create_default_context(cafile=ca_file or None, cadata=ca_pem or None)
    except (ssl.SSLError, ValueError) as exc:
        raise CheckError(Reason.CONFIG, f"unusable CA bundle: {exc}") from None


@contextlib.asynccontextmanager
async def session(timeout: float) -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose errors arrive as DependencyError with the right reason: the
    dependency it talks to is what its check judges."""
    # Imported here: the check registry loads every module, and the node role must not pay
    # for aiohttp.
    import aiohttp

    limits = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=limits) as s:
            yield s
    except aiohttp.ClientConnectorCertificateError as exc:
        raise DependencyError(
            Reason.TLS, f"certificate not trusted: {exc.certificate_error}"
        ) from None
    except aiohttp.ClientSSLError as exc:
        raise DependencyError(Reason.TLS, f"TLS: {exc}") from None
    except aiohttp.ClientConnectorError as exc:
        raise DependencyError(Reason.CONNECT, f"cannot connect: {exc.os_error}") from None
    except (aiohttp.ServerTimeoutError, TimeoutError):
        raise DependencyError(Reason.TIMEOUT, f"no answer within {timeout:g}s") from None
    except (
        aiohttp.ClientPayloadError,
        aiohttp.ClientResponseError,
        aiohttp.ServerDisconnectedError,
    ) as exc:
        raise DependencyError(Reason.PROTOCOL, f"bad answer: {exc}") from None
    except aiohttp.ClientError as exc:
        raise DependencyError(Reason.CONNECT, f"{type(exc).__name__}: {exc}") from None


async def read_body(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The body, refused once it grows past `limit` bytes while it arrives (an endless answer
    ends here, not in memory); the session's total timeout bounds the time."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await resp.content.read(64 * 1024):
        total += len(chunk)
        if total > limit:
            resp.close()
            raise DependencyError(
                Reason.PROTOCOL, f"{what}: the answer is over {limit // 1024} KiB: refused"
            )
        chunks.append(chunk)
    return b"".join(chunks)
