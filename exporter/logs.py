"""Log lines as Prometheus' own components write them: logfmt by default
(`ts=... level=info logger=... msg="..." key=value`), JSON lines with --log-format json. A
record's structured fields come in `extra={"fields": {...}}`; values are quoted and escaped,
so a hostile value can neither forge a field nor break a line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("logfmt", "json")
_BARE = re.compile(r"[^\s\"=\\\x00-\x1f\x7f]+")


def _value(value: Any) -> str:
    text = str(value)
    if text and _BARE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with \n, \" and controls escaped


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    out.update(getattr(record, "fields", {}) or {})
    if record.exc_info:
        out["err"] = logging.Formatter().formatException(record.exc_info)
    return out


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


def setup(level: str, fmt: str = "logfmt", quiet: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Client libraries' DEBUG output is wire-level (headers, signed URLs): not ours to show.
    for name in quiet:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
