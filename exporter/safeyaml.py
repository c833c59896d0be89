"""YAML from files and objects others write (config files, the web config, Gitpod's installer
config, kubeconfigs): size-bounded, strictly UTF-8, without aliases (the "billion laughs" bomb
expands a few hundred bytes into gigabytes), without unbounded nesting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporter.parse import ParseError

MAX_BYTES = 1 << 20  # a config of a few KB; Kubernetes caps a ConfigMap at 1 MiB too


class _NoAliases(yaml.SafeLoader):
    """Anchors are harmless; following an alias is refused, so nothing expands."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def load(text: str, what: str) -> Any:
    """One YAML document. ParseError naming `what` and the line; never quoting the text."""
    if len(text) > MAX_BYTES:
        raise ParseError(f"{what} is {len(text)} bytes, over the {MAX_BYTES} limit")
    try:
        return yaml.load(text, Loader=_NoAliases)
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
