"""YAML from files and objects others write (config files, the web config, Gitpod's installer
config, kubeconfigs): size-bounded, strictly UTF-8, without aliases (the "billion laughs" bomb
expands a few hundred bytes into gigabytes), without unbounded nesting, and with a bounded number
of nodes.

A byte bound is not a memory bound: PyYAML's composer keeps a Python node with two marks for
every scalar, so 1 MiB of `[0,0,0,...]` (520,000 scalars) took 340 MiB and 35 s. The document is
first streamed as events, which are dropped as they come, counting nodes and depth; only a
document within both budgets is composed. libyaml's parser does both passes when PyYAML has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporter.parse import ParseError

MAX_BYTES = 1 << 20  # a config of a few KB; Kubernetes caps a ConfigMap at 1 MiB too
# Gitpod's installer config is a few hundred nodes, a kubeconfig with a hundred contexts about
# 2,000, the installer's versions manifest under 1,000. Composed, 20,000 nodes stay under 15 MiB.
MAX_NODES = 20_000
MAX_DEPTH = 64

_C = bool(getattr(yaml, "__with_libyaml__", False))
_Loader: Any = yaml.CSafeLoader if _C else yaml.SafeLoader
_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _budget(text: str, what: str) -> None:
    """Streams the events: refuses an alias, more than MAX_NODES nodes or MAX_DEPTH levels."""
    nodes = depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise ParseError(f"{what}: aliases are not allowed here{_at(event)}")
        if isinstance(event, _NODE_EVENTS):
            nodes += 1
            if nodes > MAX_NODES:
                raise ParseError(f"{what} has more than {MAX_NODES} YAML nodes{_at(event)}")
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise ParseError(f"{what} is nested deeper than {MAX_DEPTH} levels{_at(event)}")
        elif isinstance(event, _CLOSE):
            depth -= 1


def _at(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def load(text: str, what: str) -> Any:
    """One YAML document. ParseError naming `what` and the line; never quoting the text."""
    if len(text) > MAX_BYTES:
        raise ParseError(f"{what} is {len(text)} bytes, over the {MAX_BYTES} limit")
    try:
        _budget(text, what)
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", "") or "")[:100]
        raise ParseError(f"{what} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ParseError(f"{what} is nested too deeply") from None


def read(path: str | Path, what: str = "") -> str:
    """A file's text, at most MAX_BYTES of strict UTF-8. OSError when unreadable, ParseError
    when too large or not text."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ParseError(f"{what or path} is larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{what or path} is not UTF-8 text (byte {exc.start})") from None
