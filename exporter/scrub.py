"""One scrubber for every text a dependency sends back: the secret values a check is using are
taken out, wherever the server echoed them (a MySQL error quoting the password, an API 403
body quoting the bearer token), and the text is bounded before it reaches a log line, the
page, JSON or JUnit. The scheduler passes every Result through it."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from exporter.config import ConfigError, Secret

REDACTED = "<redacted>"
# A detail is read by a person: what a server says beyond this is cut (a 5 MB error body
# copied whole made a 10 MB page).
MAX_DETAIL = 2000
MAX_OBSERVED = 300
# Shorter values would redact ordinary words; no real credential is this short.
MIN_SECRET = 4


def secret_values(settings: Any) -> set[str]:
    """Every secret value in a check's settings (nested providers included), with the forms a
    server may echo it in: URL-quoted, and user:password as HTTP basic credentials."""
    found: set[str] = set()
    _walk(settings, found, depth=0)
    return found


def _walk(obj: Any, found: set[str], depth: int) -> None:
    if depth > 4:
        return
    if isinstance(obj, Secret):
        # Unset or unreadable: the check reports that itself.
        with contextlib.suppress(ConfigError, OSError):
            found.update(_forms(obj.read()))
        return
    if isinstance(obj, list | tuple):
        for item in obj:
            _walk(item, found, depth + 1)
        return
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    for value in values.values():
        _walk(value, found, depth + 1)
    user, password = values.get("username") or values.get("user"), values.get("password")
    if isinstance(user, str) and user and isinstance(password, Secret):
        try:
            pair = f"{user}:{password.read()}".encode()
        except (ConfigError, OSError):
            return
        found.add(base64.b64encode(pair).decode())


def _forms(value: str) -> set[str]:
    value = value.strip()
    if len(value) < MIN_SECRET:
        return set()
    return {value, quote(value, safe="")}


def scrub(text: str, secrets: Iterable[str], limit: int = MAX_DETAIL) -> str:
    """`text` without the secrets (longest first, so a value containing another goes whole),
    then cut to `limit` characters, saying how many were cut."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters cut)"
    return text
