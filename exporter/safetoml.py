"""TOML from files others write (containerd's config.toml and hosts.toml), with what tomllib
builds bounded, not only the bytes it is given.

tomllib's memory grows with the square of a dotted key's depth (24 KB of one key 12,000 levels
deep took 1.9 GiB) and by about 2 KB per table (1 MiB of empty tables took 224 MiB). A linear
scan runs first, skipping strings and comments: it refuses a key of more than MAX_KEY_DEPTH
segments and more than MAX_ITEMS keys, tables, arrays and inline tables in all. A containerd
config with 450 registry hosts is about 1,500 items and its deepest key 6 segments.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from exporter.parse import ParseError

MAX_KEY_DEPTH = 32
MAX_ITEMS = 10_000  # composed, about 14 MiB at worst

# What the scan stops at outside strings and comments.
_SPECIAL = re.compile(r"[\"'#=\[\]{},.\n]")
_BASIC_END = re.compile(r'["\\\n]')
_ML_BASIC_END = re.compile(r'"""|\\')
# A run of dots not broken by one of these is a key's depth (a float or a time has one dot).
_RESET = frozenset("=[]{},\n")
_ITEMS = frozenset("=[{")


def _budget(text: str, what: str) -> None:
    items = dots = 0
    i, n = 0, len(text)
    while True:
        m = _SPECIAL.search(text, i)
        if m is None:
            return
        i = m.start()
        c = text[i]
        if c == ".":
            dots += 1
            if dots >= MAX_KEY_DEPTH:
                raise ParseError(
                    f"{what}: a TOML key deeper than {MAX_KEY_DEPTH} parts "
                    f"(line {text.count(chr(10), 0, i) + 1})"
                )
            i += 1
            continue
        if c in _RESET:
            dots = 0
            if c in _ITEMS:
                items += 1
                if items > MAX_ITEMS:
                    raise ParseError(
                        f"{what} has more than {MAX_ITEMS} TOML keys and tables "
                        f"(line {text.count(chr(10), 0, i) + 1})"
                    )
            i += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith('"""', i):
            i = _skip_basic(text, i + 3, _ML_BASIC_END)
        elif text.startswith("'''", i):
            j = text.find("'''", i + 3)
            i = n if j < 0 else j + 3
        elif c == '"':
            i = _skip_basic(text, i + 1)
        else:  # a literal string ends at the next quote (or, invalid, at the line's end)
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1


def _skip_basic(text: str, i: int, end: re.Pattern[str] = _BASIC_END) -> int:
    """Past a basic string (one line, or multi-line with `_ML_BASIC_END`) that starts at `i`;
    a backslash escapes the next character. A one-line string ends at the line's end if
    unterminated (tomllib says why)."""
    while True:
        m = end.search(text, i)
        if m is None:
            return len(text)
        if m.group() == "\\":
            i = m.end() + 1
            continue
        return m.start() if m.group() == "\n" else m.end()


def load(text: str, what: str) -> dict[str, Any]:
    """One TOML document; ParseError naming `what` for what is not TOML or is over a budget."""
    _budget(text, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"{what} is not TOML: {str(exc)[:120]}") from None
    except RecursionError:
        raise ParseError(f"{what}: TOML nested too deeply") from None
