"""The types every check shares: what a requirement is, and what one run of its check found."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.families import Sample as Sample  # re-exported: a Result carries Samples


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Scope(enum.StrEnum):
    NODE = "node"
    CLUSTER = "cluster"


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"


class Reason(enum.StrEnum):
    """Why a check did not pass. Short and bounded: it becomes a label value."""

    NONE = ""
    BELOW_MINIMUM = "below_minimum"
    UNSUPPORTED = "unsupported"
    MISSING = "missing"
    NOT_FOUND = "not_found"
    NO_SOCKET = "no_socket"
    NOT_CONFIGURED = "not_configured"
    # A setting is present but unusable (an unreadable kubeconfig, an unset secret variable).
    CONFIG = "config"
    DISABLED = "disabled"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    AUTH = "auth"
    FORBIDDEN = "forbidden"
    TLS = "tls"
    PROTOCOL = "protocol"
    PARSE = "parse"
    IO = "io"
    INTERNAL = "internal"
    DENIED = "denied"
    PENDING = "pending"
    UNAVAILABLE = "unavailable"
    NOT_READY = "not_ready"
    OVERLAP = "overlap"
    VERSION = "version"
    MISMATCH = "mismatch"
    EXPIRED = "expired"
    EXPIRING = "expiring"
    INVALID = "invalid"
    UNTESTED = "untested"
    INCOMPATIBLE = "incompatible"
    UNTRUSTED = "untrusted"
    NOT_GITPOD_NODE = "not_gitpod_node"
    NOT_INSTALLED = "not_installed"
    NOT_WORKSPACE_NODE = "not_workspace_node"


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    severity: Severity
    scope: Scope
    doc_url: str
    remedy: str
    # How a DependencyError is judged: True for requirements *about* a dependency (the
    # database, the registry...): not reaching it is the failure the alert must fire on.
    # False: the dependency is only a means to look (the API server), so it is an error.
    unreachable_fails: bool = False


@dataclass(frozen=True)
class Result:
    status: Status
    observed: str = ""
    reason: Reason = Reason.NONE
    # Human-readable explanation for the report, the JSON and the log; never a label.
    detail: str = ""
    samples: tuple[Sample, ...] = ()

    @classmethod
    def passed(cls, observed: str, *samples: Sample, detail: str = "") -> Result:
        return cls(Status.PASS, observed, Reason.NONE, detail, samples)

    @classmethod
    def failed(cls, reason: Reason, observed: str, detail: str, *samples: Sample) -> Result:
        return cls(Status.FAIL, observed, reason, detail, samples)

    @classmethod
    def errored(cls, reason: Reason, detail: str, observed: str = "") -> Result:
        return cls(Status.ERROR, observed, reason, detail)

    @classmethod
    def skipped(cls, reason: Reason, detail: str) -> Result:
        return cls(Status.SKIPPED, "", reason, detail)


@dataclass(frozen=True)
class Record:
    """A Result as the store keeps it: with when it ended and how long it took."""

    requirement: Requirement
    result: Result
    duration_seconds: float = 0.0
    finished_at: float = 0.0
    # The check's configured interval, so alerts can tell a stale result from a slow one.
    interval_seconds: float = 0.0


class CheckError(Exception):
    """No verdict could be reached (an API problem, an unusable setting): the scheduler turns it
    into an `error` Result with this reason, so checks need not repeat the mapping."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DependencyError(CheckError):
    """The dependency a requirement is about could not be reached, refused us or answered
    wrongly. The scheduler makes it a `fail` where the requirement says `unreachable_fails`
    (so the critical alert fires), an `error` elsewhere."""


class NotConfigured(Exception):
    """What the check needs is not configured (no API access, no target): it is skipped."""


class Unreadable(NotConfigured):
    """The Gitpod installation a check derives from is configured but cannot be read (the API
    down, a kubeconfig that does not exist): `cause` says why. A check whose own settings are
    incomplete then has no verdict for that cause, rather than being skipped: whoever named
    a cluster meant one."""

    def __init__(self, message: str, cause: Exception) -> None:
        super().__init__(message)
        self.cause = cause


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` as valid UTF-8: a lone surrogate (a valid JSON escape, valid YAML) cannot be
    encoded, and one in a label or detail would fail every render that holds it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def valid_record(record: Record) -> Record:
    """The Record with every string valid UTF-8: what comes from outside reaches each view
    (/metrics, the page, text, JSON, JUnit, the log) only through a Record."""
    req, res = record.requirement, record.result
    # A sample's name is its declared family's; its label values come from outside.
    strings = (req.id, req.title, res.observed, res.detail,
               *(v for s in res.samples for _, v in s.labels))  # fmt: skip
    if all(valid_text(t) is t for t in strings):
        return record
    samples = tuple(
        dataclasses.replace(s, labels=tuple((k, valid_text(v)) for k, v in s.labels))
        for s in res.samples
    )
    return dataclasses.replace(
        record,
        requirement=dataclasses.replace(req, id=valid_text(req.id), title=valid_text(req.title)),
        result=dataclasses.replace(
            res, observed=valid_text(res.observed), detail=valid_text(res.detail), samples=samples
        ),
    )


class KubeError(CheckError):
    """An answer of the Kubernetes API other than success: its HTTP status and Status body."""

    def __init__(self, status: int, reason: Reason, detail: str, body: Mapping[str, Any]) -> None:
        super().__init__(reason, detail)
        self.status = status
        self.body = body
