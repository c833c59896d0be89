"""Pure parsers for what checks read: text in, a value or ParseError out. No I/O here."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping, Sequence


class ParseError(ValueError):
    """The input does not have the shape its source promises."""


def first(names: Sequence[str], limit: int = 10) -> str:
    """`a, b, c and 7 more`: a detail that stays short however many nodes fail. Only two or
    more names are ever folded: "and 1 more" would hide one name behind as many characters."""
    if len(names) <= limit + 1:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def excerpt(text: str, limit: int = 40) -> str:
    """Untrusted text as it may appear in an error: short, escaped, quoted."""
    cut = text[:limit]
    return repr(cut) + ("..." if len(text) > limit else "")


# str.isdigit() also accepts superscripts that int() rejects; the kernel writes ASCII.
_DIGITS = re.compile(r"[0-9]+")


_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", re.ASCII)


def version_tuple(text: str) -> tuple[int, int, int]:
    """The numeric major.minor.patch at the start of a version string; vendor suffixes such as
    `-1051-gke`, `+`, `.el8_6.x86_64`, `~ds1`, `-k3s2` or `+k3s1` are ignored."""
    m = _VERSION.match(text)
    if not m:
        raise ParseError(f"not a version: {text[:80]!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def format_version(v: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in v)


# A whole value in double quotes (backslash escapes inside) or single quotes. Each character
# matches one branch only, so a long or unterminated value costs linear time (shlex did not).
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def _os_release_value(value: str, lineno: int) -> str:
    value = value.strip()
    m = _QUOTED.fullmatch(value)
    if m and m.group(1) is not None:
        return _ESCAPE.sub(r"\1", m.group(1))
    if m:
        return m.group(2)
    if value[:1] in ("'", '"'):
        raise ParseError(f"line {lineno}: unterminated quote")
    return value


def os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values optionally shell-quoted."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ParseError(f"line {lineno} is not KEY=value")
        out[key] = _os_release_value(value, lineno)
    if "ID" not in out:
        # os-release(5) says ID defaults to "linux" when absent.
        out["ID"] = "linux"
    return out


def meminfo_total_bytes(text: str) -> int:
    """MemTotal from /proc/meminfo, in bytes (the kernel's 'kB' means KiB)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and _DIGITS.fullmatch(fields[1]):
                unit = fields[2] if len(fields) > 2 else ""
                if unit not in ("kB", ""):
                    raise ParseError(f"unexpected MemTotal unit {unit!r}")
                return int(fields[1]) * (1024 if unit == "kB" else 1)
            raise ParseError(f"malformed MemTotal line: {line[:80]!r}")
    raise ParseError("no MemTotal line")


def cpu_list_count(text: str) -> int:
    """The number of CPUs in a kernel cpu list such as `0-3,8-11` (sysfs `online`)."""
    text = text.strip()
    if not text:
        raise ParseError("empty cpu list")
    count = 0
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        if not _DIGITS.fullmatch(lo) or (sep and not _DIGITS.fullmatch(hi)):
            raise ParseError(f"malformed cpu list {text[:80]!r}")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ParseError(f"malformed cpu range {part!r}")
        count += last - first + 1
    return count


def cpuinfo_count(text: str) -> int:
    """The number of `processor` entries in /proc/cpuinfo."""
    count = sum(1 for line in text.splitlines() if re.match(r"processor\s*:", line))
    if count == 0:
        raise ParseError("no processor entries")
    return count


CAP_SYS_ADMIN = 21


def cap_eff(status_text: str) -> int:
    """The effective capability mask from /proc/<pid>/status."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            value = line.split(":", 1)[1].strip()
            try:
                return int(value, 16)
            except ValueError:
                raise ParseError(f"malformed CapEff {value[:40]!r}") from None
    raise ParseError("no CapEff line")


def cni_plugin_types(document: str) -> tuple[str, list[str]]:
    """(network name, plugin types) of one CNI config: a .conflist or a single-plugin .conf."""
    try:
        data = json.loads(document)
    except ValueError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ParseError("a CNI config must be a JSON object")
    name = data.get("name", "")
    plugins = data.get("plugins")
    if plugins is None:
        entries: Iterable[object] = [data]
    elif isinstance(plugins, list):
        entries = plugins
    else:
        raise ParseError("'plugins' must be a list")
    types: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
            raise ParseError("every plugin needs a string 'type'")
        types.append(entry["type"])
    return (name if isinstance(name, str) else ""), types


_QUANTITY = re.compile(
    r"^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[mkMGTPE])?$"
)
_QUANTITY_SUFFIX = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def quantity(text: str) -> float:
    """A Kubernetes resource quantity (`4`, `3920m`, `16393932Ki`, `16G`, `1e9`) as a number."""
    m = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ParseError(f"not a quantity: {str(text)[:40]!r}")
    number, suffix = float(m.group(1)), m.group(2)
    if suffix and suffix[0] in "eE":
        return number * 10.0 ** int(suffix[1:])
    return number * _QUANTITY_SUFFIX[suffix]


def mysql_version(text: str) -> tuple[str, tuple[int, int, int]]:
    """(flavor, version) of a `SELECT VERSION()` answer: `8.0.36`, `5.7.44-log`,
    `8.0.28-cloudsql`, `10.11.6-MariaDB-0+deb12u1`, or MariaDB's replication-era
    `5.5.5-10.6.12-MariaDB` prefix."""
    if "mariadb" in text.lower():
        body = text[len("5.5.5-") :] if text.startswith("5.5.5-") else text
        return "mariadb", version_tuple(body)
    return "mysql", version_tuple(text)


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def www_authenticate(header: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges of a WWW-Authenticate header (RFC 7235), in order: [(scheme, params)].
    Quoted values may hold commas and escaped quotes; several challenges may share a header."""
    out: list[tuple[str, dict[str, str]]] = []
    pos, n = 0, len(header)

    def skip(chars: str) -> None:
        nonlocal pos
        while pos < n and header[pos] in chars:
            pos += 1

    while True:
        skip(" \t,")
        if pos >= n:
            break
        m = _TOKEN.match(header, pos)
        if not m:
            raise ParseError(f"expected an auth scheme at {pos}")
        scheme, pos = m.group(0), m.end()
        params: dict[str, str] = {}
        while True:
            save = pos
            skip(" \t")
            m = _TOKEN.match(header, pos)
            if not m:
                pos = save
                break
            key, after = m.group(0), m.end()
            rest = header[after:].lstrip(" \t")
            if not rest.startswith("="):
                pos = save  # a token with no '=': the next challenge's scheme
                break
            pos = n - len(rest) + 1
            skip(" \t")
            if pos < n and header[pos] == '"':
                pos += 1
                value = []
                while pos < n and header[pos] != '"':
                    if header[pos] == "\\" and pos + 1 < n:
                        pos += 1
                    value.append(header[pos])
                    pos += 1
                if pos >= n:
                    raise ParseError("unterminated quoted string")
                pos += 1
                params[key.lower()] = "".join(value)
            else:
                m = _TOKEN.match(header, pos)
                if not m:
                    raise ParseError(f"expected a value for {key!r}")
                params[key.lower()] = m.group(0)
                pos = m.end()
            skip(" \t")
            if pos < n and header[pos] == ",":
                pos += 1
                continue
            break
        out.append((scheme.lower(), params))
    if not out:
        raise ParseError("no challenge")
    return out


def registry_token(body: str) -> str:
    """The bearer token of a Docker registry token service answer: `token`, or the OAuth2
    `access_token` some services send instead."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise ParseError("the token service answered non-JSON") from None
    token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise ParseError("the token service answered without a token")
    return token


def registry_errors(body: str) -> str:
    """What a registry's error answer says ({"errors": [{"code", "message"}]}, the V2 API's
    shape), the first three as "CODE: message"; empty when it says nothing readable."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return ""
    said = [
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
        for e in errors[:3]
        if isinstance(e, dict)
    ]
    return "; ".join(s for s in said if s)


def timestamp(text: object) -> float:
    """A Kubernetes time (RFC 3339, "2024-01-01T00:00:00Z") as Unix time; 0.0 when absent or
    not a time."""
    if not isinstance(text, str) or len(text) > 64:
        return 0.0
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def module_names(text: str, source: str) -> set[str]:
    """Kernel module names (dashes as underscores) from /proc/modules (`source` "loaded": the
    first word of each line), modules.builtin ("builtin": a path per line) or modules.dep
    ("dep": a path, a colon, its dependencies); linear in the text."""
    names: set[str] = set()
    for line in text.splitlines():
        word = line.split(None, 1)[0] if line.strip() else ""
        if source != "loaded":
            word = word.split(":", 1)[0].rsplit("/", 1)[-1]
            for suffix in (".zst", ".xz", ".gz"):
                word = word.removesuffix(suffix)
            if not word.endswith(".ko"):
                continue
            word = word[:-3]
        if word:
            names.add(word.replace("-", "_"))
    return names


def filesystems(text: str) -> set[str]:
    """The filesystem types of /proc/filesystems ("nodev\tfuse", "\text4")."""
    return {line.split()[-1] for line in text.splitlines() if line.split()}
