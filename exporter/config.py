"""The YAML config: defaults for everything, strict validation, errors that name the field.

Each check declares its own settings as a dataclass (a subclass of CheckSettings); this module
turns the YAML mapping into those dataclasses generically, so adding a check never touches it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from exporter import safeyaml
from exporter.parse import ParseError

T = typing.TypeVar("T")
S = typing.TypeVar("S", bound="CheckSettings")


class ConfigError(Exception):
    """A config problem, phrased for the operator: which field, what was expected."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class ConfigErrors(ConfigError):
    """Every problem of a file at once, so a fix is not followed by the next error."""

    def __init__(self, errors: list[ConfigError]) -> None:
        listed = "\n".join(f"  {e}" for e in errors)
        super().__init__("", f"{len(errors)} problems:\n{listed}")
        self.errors = errors


def _raise_all(errors: list[ConfigError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


def _collecting(errors: list[ConfigError], fn: typing.Callable[..., T], *args: Any) -> T | None:
    try:
        return fn(*args)
    except ConfigErrors as exc:
        errors.extend(exc.errors)
    except ConfigError as exc:
        errors.append(exc)
    return None


# Constraints on a setting, written in its type: `port: Annotated[int, Min(1), Max(65535)]`.
# The loader applies them; a marker it does not know is refused when the class is checked
# (check_schema, at registration), so a typo cannot silently drop a constraint.
@dataclass(frozen=True)
class Min:
    value: float


@dataclass(frozen=True)
class Max:
    value: float


@dataclass(frozen=True)
class OneOf:
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Pattern:
    regex: str
    help: str  # what the value should look like, for the error message


@dataclass(frozen=True)
class NonEmpty:
    """A list that must have at least one entry."""


@dataclass(frozen=True)
class IsDuration:
    """Seconds; YAML may say 30, 2.5, "30s", "5m", "1h", "1h30m", "1d" or "500ms"."""


Constraint = Min | Max | OneOf | Pattern | NonEmpty | IsDuration
Duration = Annotated[float, IsDuration()]
# Below a second a check runs back to back, a load on the node and on whatever it asks, for
# nothing an alert could use: a typo such as 1ms is a config error.
Interval = Annotated[float, IsDuration(), Min(1.0)]


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.ASCII)
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+", re.ASCII)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _shown(value: Any) -> str:
    """A config value as an error quotes it: short, whatever the file holds."""
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "..."


def parse_duration(value: str, path: str) -> float:
    """A duration as the config file writes it (30s, 5m, 1h30m); ConfigError naming `path`."""
    return _duration(value, path)


def _duration(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(path, f"expected a duration such as 30s or 5m, got {_shown(value)}")
    text = value.replace(" ", "") if isinstance(value, str) else ""
    if isinstance(value, int | float):
        seconds = float(value)
    elif re.fullmatch(r"\d+(?:\.\d+)?", text, re.ASCII):
        seconds = float(text)
    elif _DURATION.fullmatch(text):
        seconds = sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(text))
    else:
        raise ConfigError(path, f"expected a duration such as 30s or 5m, got {_shown(value)}")
    # .nan would spin the scheduler, .inf would never run the check again.
    if not math.isfinite(seconds) or seconds > 366 * 86400:
        raise ConfigError(
            path, f"expected a finite duration of at most a year, got {_shown(value)}"
        )
    if seconds <= 0:
        raise ConfigError(path, f"expected a duration greater than 0, got {_shown(value)}")
    return seconds


@dataclass(frozen=True)
class Secret:
    """A credential read from an environment variable or a file, never written in the config.

    Its repr never shows the value, so it cannot leak through a log line or a traceback.
    """

    env: str = ""
    file: str = ""

    def __post_init__(self) -> None:
        if bool(self.env) == bool(self.file):
            raise ConfigError("", "expected exactly one of 'env' or 'file'")

    def read(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError("", f"environment variable {self.env} is not set")
            return value
        return Path(self.file).read_text().strip()

    def __repr__(self) -> str:
        return f"Secret(env={self.env!r})" if self.env else f"Secret(file={self.file!r})"


class SecretValue(Secret):
    """A credential read at run time from a Kubernetes Secret of the Gitpod installation. It
    never comes from the config file (the loader builds only Secret), and its repr names where
    it came from, never the value."""

    def __init__(self, value: str, origin: str) -> None:
        object.__setattr__(self, "env", "")
        object.__setattr__(self, "file", "")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "origin", origin)

    def read(self) -> str:
        return str(self._value)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"SecretValue({self.origin})"  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)


@dataclass(frozen=True)
class CheckSettings:
    """What every check accepts. Subclasses add their thresholds."""

    enabled: bool = True
    interval: Interval = 60.0
    timeout: Duration = 10.0


LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class KubernetesSettings:
    """The cluster role's API access, shared by every cluster check."""

    context: str = ""  # kubeconfig context; empty = current-context
    namespace: Annotated[
        str, Pattern(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a namespace name")
    ] = "gitpod"
    # Nodes per LIST page: 2,000 keeps a 5,000-node round at 3 node calls while bounding each
    # answer (~10 MB) for the API server and for us; kubectl's 500 would take 10.
    page_size: Annotated[int, Min(1), Max(5000)] = 2000
    # Node-derived checks within this window share one node LIST (when not watching).
    node_cache_ttl: Duration = 20.0
    # serve: keep the nodes in a cache fed by a WATCH (one LIST at start, then changes only;
    # a node change re-judges the node-derived requirements within seconds). false: LIST per
    # round, as `check` always does.
    watch: bool = True


GITPOD_SOURCES = ("auto", "configmap", "file", "none")


@dataclass(frozen=True)
class GitpodSettings:
    """Where the Gitpod installation's own config is read from (docs/configuration.md,
    "Reading the Gitpod installation"); what it states fills every check setting the config
    file leaves unset."""

    # auto: the file if given, else the ConfigMap if it exists, else none.
    source: Annotated[str, OneOf(GITPOD_SOURCES)] = "auto"
    file: str = ""  # the installer's gitpod.config.yaml; --gitpod-config wins
    configmap: str = "gitpod"  # in kubernetes.namespace, key config.yaml
    # In-cluster Services are <name>.<namespace>.svc[.<cluster_domain>].
    cluster_domain: str = "cluster.local"
    # Service name -> host:port, for Services reached another way (a port-forward, tests).
    services: dict[str, str] = field(default_factory=dict)
    # The Gitpod release whose compatibility matrix entry judges the cluster ("2022.11");
    # empty: the installation's versions.json, else the newest entry.
    release: str = ""


@dataclass(frozen=True)
class CompatibilitySettings:
    file: str = ""  # your own matrix (the built-in's format); empty: the built-in one


@dataclass(frozen=True)
class WebSettings:
    # Open connections at once; beyond, the oldest idle one is closed, else the new one.
    # 0: half the file descriptor limit, at most 512.
    max_connections: Annotated[int, Min(0), Max(65536)] = 0


@dataclass(frozen=True)
class Config:
    log_level: Annotated[str, OneOf(LOG_LEVELS)] = "info"
    # NODE_NAME from the downward API wins; this is for running outside Kubernetes.
    node_name: str = ""
    thread_pool_size: Annotated[int, Min(1), Max(64)] = 4
    # Where docs/runbook.md is served for the report page's links (your fork, an internal wiki).
    runbook_url: str = (
        "https://github.com/gitpod-io/gitpod-requirements-exporter/blob/main/docs/runbook.md"
    )
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    gitpod: GitpodSettings = field(default_factory=GitpodSettings)
    web: WebSettings = field(default_factory=WebSettings)
    compatibility: CompatibilitySettings = field(default_factory=CompatibilitySettings)
    # enabled/interval/timeout for every check, over each check's own defaults.
    defaults: CheckSettings = field(default_factory=CheckSettings)
    # Every known check id, configured or not, to its validated settings.
    checks: dict[str, CheckSettings] = field(default_factory=dict)
    # The keys each check's section sets: they win over what the installation states.
    explicit: dict[str, frozenset[str]] = field(default_factory=dict)

    def for_check(self, check_id: str, settings_type: type[CheckSettings]) -> CheckSettings:
        found = self.checks.get(check_id)
        return found if found is not None else settings_type()


def _type_name(tp: Any) -> str:
    tp, marks = _unwrap(tp)
    if any(isinstance(m, IsDuration) for m in marks):
        return "a duration such as 30s or 5m"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}s"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return str(tp)


def _unwrap(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """(the base type, its constraint markers) of a possibly Annotated type."""
    if typing.get_origin(tp) is Annotated:
        base, *marks = typing.get_args(tp)
        return base, tuple(marks)
    return tp, ()


def check_schema(cls: type) -> None:
    """Refuse, at import time, a settings class whose fields carry anything the loader would
    ignore: dataclass metadata, or an Annotated extra that is not a known constraint."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        if f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name}: metadata is not read; use Annotated "
                            "constraints (Min, Max, OneOf, Pattern, NonEmpty)")  # fmt: skip
        stack = [hints[f.name]]
        while stack:
            tp = stack.pop()
            base, marks = _unwrap(tp)
            unknown = [m for m in marks if not isinstance(m, Constraint)]
            if unknown:
                raise TypeError(f"{cls.__name__}.{f.name}: unknown constraint {unknown[0]!r}")
            stack += [a for a in typing.get_args(base) if a is not type(None)]
            if dataclasses.is_dataclass(base) and base is not cls:
                check_schema(base)  # type: ignore[arg-type]


def _convert(value: Any, tp: Any, path: str) -> Any:
    tp, marks = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        for option in options[:-1]:
            try:
                return _convert(value, option, path)
            except ConfigError:
                continue
        return _convert(value, options[-1], path)
    if any(isinstance(m, IsDuration) for m in marks):
        out: Any = _duration(value, path)
    elif tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {_shown(value)}")
        out = value
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {_shown(value)}")
        out = value
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number, got {_shown(value)}")
        out = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {_shown(value)}")
        out = value
    elif origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, f"expected {_type_name(tp)}, got {_shown(value)}")
        (item,) = typing.get_args(tp)
        out = [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {_shown(value)}")
        key_tp, value_tp = typing.get_args(tp)
        out = {
            _convert(k, key_tp, f"{path}.{k}"): _convert(v, value_tp, f"{path}.{k}")
            for k, v in value.items()
        }
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, tp):
        out = value  # derived by a check from the installation (a SecretValue), not read
    elif dataclasses.is_dataclass(tp):
        out = build(tp, value, path)  # type: ignore[arg-type]
    else:  # pragma: no cover - a settings class used a type this loader does not know
        raise ConfigError(path, f"unsupported type {tp!r}")
    for mark in marks:
        _apply(mark, out, path)
    return out


def _apply(mark: Constraint, value: Any, path: str) -> None:
    if isinstance(mark, Min) and value < mark.value:
        raise ConfigError(path, f"expected a value of at least {mark.value:g}, got {_shown(value)}")
    if isinstance(mark, Max) and value > mark.value:
        raise ConfigError(path, f"expected a value of at most {mark.value:g}, got {_shown(value)}")
    if isinstance(mark, OneOf) and value not in mark.choices:
        raise ConfigError(path, f"expected one of {', '.join(mark.choices)}, got {_shown(value)}")
    if isinstance(mark, Pattern) and not re.fullmatch(mark.regex, value):
        raise ConfigError(path, f"expected {mark.help}, got {_shown(value)}")
    if isinstance(mark, NonEmpty) and not value:
        raise ConfigError(path, "expected at least one entry")


def build(cls: type[T], data: Any, path: str) -> T:
    """Build dataclass `cls` from a YAML mapping; absent fields keep the class defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {_shown(data)}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    errors: list[ConfigError] = []
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else str(key)
            known = ", ".join(sorted(fields))
            errors.append(ConfigError(where, f"unknown key; expected one of {known}"))
    kwargs: dict[str, Any] = {}
    for name in fields:
        where = f"{path}.{name}" if path else name
        if name in data:
            before = len(errors)
            value = _collecting(errors, _convert, data[name], hints[name], where)
            if len(errors) == before:
                kwargs[name] = value
    _raise_all(errors)
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        # A class's own validation names a field relative to it: make the path whole.
        where = ".".join(p for p in (path, exc.path) if p)
        raise ConfigError(where, exc.message) from None
    if isinstance(obj, CheckSettings) and obj.timeout > obj.interval:
        if "timeout" not in data:
            # Only the default timeout is longer than a short interval: shorten it to fit.
            return dataclasses.replace(obj, timeout=obj.interval)
        raise ConfigError(
            f"{path}.timeout" if path else "timeout",
            f"expected at most the interval ({obj.interval:g}s), got {obj.timeout:g}s",
        )
    return obj


def with_derived(settings: S, values: typing.Mapping[str, Any], origin: str) -> S:
    """`settings` with the values a check derived from the Gitpod installation, each held to
    the same types and constraints as the config file's: a bad port in a Secret is the same
    error as a bad port in the file, named by where it came from."""
    cls = type(settings)
    hints = typing.get_type_hints(cls, include_extras=True)
    errors: list[ConfigError] = []
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:  # pragma: no cover - a check deriving a field it does not have
            raise TypeError(f"{cls.__qualname__} has no setting {key}")
        before = len(errors)
        out = _collecting(errors, _convert, value, hints[key], f"{origin}: {key}")
        if len(errors) == before:
            converted[key] = out
    _raise_all(errors)
    try:
        return dataclasses.replace(settings, **converted)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc.path}".rstrip(": "), exc.message) from None


def load(text: str | None, settings_types: typing.Mapping[str, type[CheckSettings]]) -> Config:
    """Parse and validate a config document. `settings_types` maps every known check id (of
    both roles, so one file serves both) to its settings class."""
    try:
        data = safeyaml.load(text, "the config") if text else None
    except ParseError as exc:
        raise ConfigError("", str(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("", f"expected a mapping at the top level, got {type(data).__name__}")
    if "explicit" in data:
        raise ConfigError("explicit", "unknown key")
    raw_checks = data.get("checks") or {}
    if not isinstance(raw_checks, dict):
        raise ConfigError("checks", "expected a mapping of check id to settings")
    errors: list[ConfigError] = []
    top_data = {k: v for k, v in data.items() if k not in ("checks", "explicit")}
    top = _collecting(errors, build, Config, top_data, "")
    for check_id in raw_checks:
        if check_id not in settings_types:
            errors.append(
                ConfigError(
                    f"checks.{check_id}",
                    f"unknown check; expected one of {', '.join(sorted(settings_types))}",
                )
            )
    # A broken `defaults` is reported once, not again in every check it would reach.
    defaults_ok = not any(e.path.startswith("defaults") for e in errors)
    raw_defaults = (data.get("defaults") or {}) if defaults_ok else {}
    checks: dict[str, CheckSettings] = {}
    for check_id, settings_type in settings_types.items():
        section = raw_checks.get(check_id) or {}
        if not isinstance(section, dict):
            errors.append(
                ConfigError(f"checks.{check_id}", f"expected a mapping, got {_shown(section)}")
            )
            continue
        # Precedence: the check's section, then `defaults`, then the check's own defaults.
        merged = {**raw_defaults, **section}
        built = _collecting(errors, build, settings_type, merged, f"checks.{check_id}")
        if built is not None:
            checks[check_id] = built
    _raise_all(errors)
    assert top is not None
    explicit = {k: frozenset(v or {}) for k, v in raw_checks.items() if isinstance(v, dict)}
    config: Config = dataclasses.replace(top, checks=checks, explicit=explicit)
    return config


def load_file(path: str | None, settings_types: typing.Mapping[str, type[CheckSettings]]) -> Config:
    if not path:
        return load(None, settings_types)
    try:
        text = safeyaml.read(path, "the config file")
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc.strerror}") from None
    except ParseError as exc:
        raise ConfigError("", str(exc)) from None
    try:
        return load(text, settings_types)
    except RecursionError:  # a structure deeper than YAML's own limit caught
        raise ConfigError("", "the config is nested too deeply") from None


check_schema(Config)
