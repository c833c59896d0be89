"""What the HTTP-speaking cluster checks share: a TLS context, one session, error mapping."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from exporter.model import CheckError, Reason

if TYPE_CHECKING:
    import aiohttp


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """System trust, or only the given CA bundle when one is configured."""
    return ssl.create_default_context(cafile=ca_file or None)


@contextlib.asynccontextmanager
async def session(timeout: float) -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose errors arrive as CheckError with the right reason."""
    # Imported here: the check registry loads every module, and the node role must not pay
    # for aiohttp.
    import aiohttp

    limits = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=limits) as s:
            yield s
    except aiohttp.ClientConnectorCertificateError as exc:
        raise CheckError(Reason.TLS, f"certificate not trusted: {exc.certificate_error}") from None
    except aiohttp.ClientSSLError as exc:
        raise CheckError(Reason.TLS, f"TLS: {exc}") from None
    except aiohttp.ClientConnectorError as exc:
        raise CheckError(Reason.CONNECT, f"cannot connect: {exc.os_error}") from None
    except (aiohttp.ServerTimeoutError, TimeoutError):
        raise CheckError(Reason.TIMEOUT, f"no answer within {timeout:g}s") from None
    except (
        aiohttp.ClientPayloadError,
        aiohttp.ClientResponseError,
        aiohttp.ServerDisconnectedError,
    ) as exc:
        raise CheckError(Reason.PROTOCOL, f"bad answer: {exc}") from None
    except aiohttp.ClientError as exc:
        raise CheckError(Reason.CONNECT, f"{type(exc).__name__}: {exc}") from None
