"""Log lines are logfmt (or JSON lines), one record per line whatever the values hold."""

from __future__ import annotations

import json
import logging
import re

from exporter.logs import JsonFormatter, LogfmtFormatter

LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


def record(**fields: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "exporter.scheduler", logging.WARNING, __file__, 1, "check result changed", None, None
    )
    rec.fields = fields  # type: ignore[attr-defined]
    return rec


def test_logfmt_has_ts_level_logger_msg_and_quotes_what_needs_it() -> None:
    hostile = 'x" injected=1\nlevel=error \x1b[31m'
    line = LogfmtFormatter().format(record(requirement="node_os", observed=hostile))
    assert "\n" not in line
    pairs = dict((k, v) for k, v in LOGFMT_PAIR.findall(line))
    assert list(pairs)[:4] == ["ts", "level", "logger", "msg"]
    assert pairs["level"] == "warning" and pairs["msg"] == '"check result changed"'
    assert pairs["requirement"] == "node_os"
    assert json.loads(pairs["observed"]) == hostile  # one value, not a forged field
    assert "injected" not in pairs


def test_json_lines() -> None:
    doc = json.loads(JsonFormatter().format(record(status="fail")))
    assert (doc["level"], doc["logger"], doc["msg"], doc["status"]) == (
        "warning",
        "exporter.scheduler",
        "check result changed",
        "fail",
    )
    assert doc["ts"].endswith("Z")
