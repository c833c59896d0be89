"""Runs each check on its own interval, with jitter and a hard timeout, into the Store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.config import CheckSettings, ConfigError
from exporter.context import Applies, Check, CheckContext, Outcome
from exporter.gitpod import WORKSPACE_LABELS
from exporter.model import (
    CheckError,
    DependencyError,
    NotConfigured,
    Reason,
    Record,
    Requirement,
    Result,
    Status,
    Unreadable,
    valid_record,
)
from exporter.parse import ParseError
from exporter.scrub import MAX_OBSERVED, scrub, secret_values
from exporter.store import Store

log = logging.getLogger("exporter.scheduler")

# Spread runs of many checks (and of many DaemonSet pods) so they do not move in lockstep.
JITTER = 0.1


@dataclass(frozen=True)
class Job:
    check: Check[Any]
    ctx: CheckContext[Any]

    @property
    def settings(self) -> CheckSettings:
        settings: CheckSettings = self.ctx.settings
        return settings

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """What the check judges before its first run; a check with `requirement_for` learns
        its set at run time (one per Secret the Gitpod config references, say)."""
        return self.check.judged(self.settings)


NOT_WORKSPACE_NODE = Result(
    Status.SKIPPED,
    "",
    Reason.NOT_WORKSPACE_NODE,
    "no gitpod.io/workload_workspace_regular or _headless label: no workspace runs here",
)


async def gated(check: Check[Any], ctx: CheckContext[Any]) -> Result | str:
    """Where the check applies, before it runs: "" to run it; a note to add to its detail
    (judged as a workspace node because the node's labels are unknown, as a preflight on one
    machine expects); the skip Result on a node it does not apply to."""
    if check.applies_to is Applies.EVERY_NODE:
        return ""
    try:
        labels = await ctx.node_labels()
    except (NotConfigured, CheckError) as exc:
        return f"judged as a workspace node: its labels are unknown ({exc})"
    if any(label in labels for label in WORKSPACE_LABELS):
        return ""
    return NOT_WORKSPACE_NODE


async def _derived(
    check: Check[Any], ctx: CheckContext[Any]
) -> tuple[CheckContext[Any], str, str, Exception | None]:
    """(ctx with the settings the installation states, the origin to note, why it was not
    read, the error that kept a configured installation from being read)."""
    derive = check.installation
    if ctx.installation is None or derive is None:
        return ctx, "", "", None
    try:
        settings, origin = await ctx.installation.settings_for(
            derive.fn, derive.targets, ctx.settings, ctx.explicit, ctx.settings.timeout
        )
    except NotConfigured as exc:
        # The installation is an addition (no API, nothing installed yet): a check whose own
        # settings are complete is judged with them, as from a laptop before the cluster
        # exists, and says which; one whose are not says both.
        used = ", ".join(
            f"{name}={getattr(ctx.settings, name)!r}"[:200] for name in sorted(derive.targets)
        )
        assumed = f"; judged with the installer's defaults: {used}" if used else ""
        cause = exc.cause if isinstance(exc, Unreadable) else None
        return ctx, "", f"not derived from the Gitpod installation: {exc}{assumed}", cause
    return dataclasses.replace(ctx, settings=settings), origin, "", None


def result_of(exc: BaseException, timeout: float, requirement: Requirement) -> Result:
    """The Result a check's exception stands for, for one requirement it judges: the one place
    the failure semantics live (docs/architecture.md, "A check's life")."""
    if isinstance(exc, NotConfigured):
        return Result.skipped(Reason.NOT_CONFIGURED, str(exc))
    if isinstance(exc, DependencyError) and requirement.unreachable_fails:
        return Result.failed(exc.reason, "unreachable", exc.detail)
    if isinstance(exc, CheckError):
        return Result.errored(exc.reason, exc.detail)
    if isinstance(exc, TimeoutError):
        return Result.errored(Reason.TIMEOUT, f"no verdict within the {timeout:g}s timeout")
    if isinstance(exc, ParseError):
        return Result.errored(Reason.PARSE, f"unexpected input: {exc}")
    if isinstance(exc, ConfigError):
        return Result.errored(Reason.CONFIG, str(exc))
    if isinstance(exc, RecursionError):
        # Most often JSON or YAML nested past the interpreter's limit, an answer no dependency
        # gives; a client following a dependency round in circles ends the same way.
        return Result.errored(
            Reason.PARSE, "unexpected input: nested too deeply to parse (or a redirect loop)"
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return Result.errored(Reason.IO, f"cannot read{where}: {exc.strerror or exc}")
    return Result.errored(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")


async def run_job(job: Job, known: tuple[Requirement, ...] | None = None) -> tuple[Record, ...]:
    """One run of one check, never raising: every failure becomes a Result, one Record per
    requirement the check judges. `known` is the set its previous run judged."""
    requirements = known if known is not None else job.requirements
    if not job.settings.enabled:
        skipped = Result.skipped(Reason.DISABLED, "disabled in the config")
        return tuple(Record(req, skipped, 0.0, time.time(), 0.0) for req in requirements)
    started = time.perf_counter()
    origin = unread = gate_note = ""
    cause: Exception | None = None
    ctx = job.ctx
    outcome: Outcome | BaseException
    try:
        async with asyncio.timeout(job.settings.timeout):
            gate = await gated(job.check, ctx)
            if isinstance(gate, Result):
                outcome = gate
            else:
                gate_note = gate
                ctx, origin, unread, cause = await _derived(job.check, ctx)
                outcome = await job.check.run(ctx)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        outcome = exc
    duration, finished = time.perf_counter() - started, time.time()
    interval = job.settings.interval

    secrets: set[str] | None = None

    def judged(part: Result | BaseException, req: Requirement) -> Result:
        nonlocal secrets
        res = part if isinstance(part, Result) else result_of(part, job.settings.timeout, req)
        if res.reason is Reason.INTERNAL and not isinstance(part, Result):
            log.error("check %s raised an unexpected error", job.check.id, exc_info=part)
        unread_note = unread
        if cause is not None and res.reason is Reason.NOT_CONFIGURED:
            # Its settings would have come from an installation that cannot be read: no
            # verdict, for that cause (shown once where many share it).
            res, unread_note = result_of(cause, job.settings.timeout, req), ""
        notes = (unread_note or (origin if res.status is not Status.SKIPPED else ""), gate_note)
        for note in notes:
            if note:
                res = dataclasses.replace(res, detail=f"{res.detail}; {note}".lstrip("; "))
        if res.detail or res.observed:
            # Whatever a dependency said, the secrets this check uses never leave it.
            if secrets is None:
                secrets = secret_values(ctx.settings)
                if ctx.api is not None:
                    secrets |= ctx.api.credentials()
            res = dataclasses.replace(
                res,
                detail=scrub(res.detail, secrets),
                observed=scrub(res.observed, secrets, MAX_OBSERVED),
            )
        return res

    if not isinstance(outcome, Mapping):
        return tuple(
            valid_record(Record(req, judged(outcome, req), duration, finished, interval))
            for req in requirements
        )
    if job.check.requirement_for is not None:
        requirements = tuple(job.check.requirement_for(rid, ctx.settings) for rid in outcome)
    missing = Result.errored(Reason.INTERNAL, "the check returned no result for this requirement")
    return tuple(
        valid_record(
            Record(req, judged(outcome.get(req.id, missing), req), duration, finished, interval)
        )
        for req in requirements
    )


class Scheduler:
    def __init__(self, jobs: Sequence[Job], store: Store) -> None:
        self.jobs = tuple(jobs)
        self.store = store
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()  # in the middle of a run
        self._wake: dict[str, asyncio.Event] = {job.check.id: asyncio.Event() for job in jobs}
        self._stopping = False

    def wake(self, check_ids: Iterable[str]) -> None:
        """Run these checks now rather than at their next interval (a node changed); a check
        in the middle of a run runs once more right after it."""
        for check_id in check_ids:
            event = self._wake.get(check_id)
            if event is not None:
                event.set()

    def start(self) -> None:
        """Start every check's loop; a second call while they run starts nothing."""
        if self._tasks:
            return
        for job in self.jobs:
            name = f"check:{job.check.id}"
            self._tasks.append(asyncio.create_task(self._loop(job), name=name))

    async def stop(self, grace: float = 0.0) -> None:
        """Cancel every check; runs in progress get `grace` seconds to finish first."""
        self._stopping = True
        busy = [t for t in self._tasks if t in self._busy]
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        if busy and grace > 0:
            await asyncio.wait(busy, timeout=grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._stopping = False

    async def _loop(self, job: Job) -> None:
        # One task per check, awaiting each run before sleeping: two runs of one check never
        # overlap, however slow it is.
        previous: dict[str, Record] = {}
        known = job.requirements
        task = asyncio.current_task()
        assert task is not None
        while True:
            self._busy.add(task)
            try:
                records = await run_job(job, known)
            finally:
                self._busy.discard(task)
            judged = tuple(r.requirement for r in records)
            if judged != known:  # a check that learns its requirements at run time
                self.store.replace(known, judged)
                known = judged
            for record in records:
                self.store.put(record)
                _log_transition(previous.get(record.requirement.id), record)
                previous[record.requirement.id] = record
            if not job.settings.enabled or self._stopping:
                return
            interval = job.settings.interval
            wake = self._wake[job.check.id]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    wake.wait(), interval * random.uniform(1 - JITTER, 1 + JITTER)
                )
            wake.clear()


def _log_transition(previous: Record | None, record: Record) -> None:
    res = record.result
    changed = previous is None or (previous.result.status, previous.result.reason) != (
        res.status,
        res.reason,
    )
    level = logging.INFO if changed else logging.DEBUG
    if res.status is Status.ERROR and changed:
        level = logging.WARNING
    fields = {
        "requirement": record.requirement.id,
        "status": str(res.status),
        "reason": str(res.reason) or "-",
        "observed": res.observed,
        "detail": res.detail,
        "duration": f"{record.duration_seconds:.3f}s",
    }
    log.log(
        level, "check result" if changed else "check result unchanged", extra={"fields": fields}
    )
