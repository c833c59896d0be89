"""What several checks share: setting constraints, default thresholds and the small helpers
their verdicts use. Checks import from here, never from each other."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from exporter import families, hostfs
from exporter.compat import Release, Verdict
from exporter.config import Pattern
from exporter.context import CheckContext
from exporter.gitpod import COMPATIBILITY_DOC
from exporter.model import (
    CheckError,
    DependencyError,
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Sample,
    Scope,
    Severity,
    Status,
)
from exporter.parse import ParseError, filesystems, module_names
from exporter.sizing import Size, roles, strictest

# A version setting such as min_version: "5.4.0".
VERSION = Pattern(r"v?\d+\.\d+(\.\d+)?", "a version such as 5.4.0")
# The same, or empty for "no bound".
OPTIONAL_VERSION = Pattern(r"(v?\d+\.\d+(\.\d+)?)?", "a version such as 1.30, or empty")

# 16 GB as the KOTS preflight reads "16G" (10^9), so a 16 GiB VM passes after the kernel's
# reservation (MemTotal ~15.2-15.7 GiB) while an 8 GiB VM fails.
T = TypeVar("T")

MIN_NODE_MEMORY_BYTES = 16 * 10**9


def workspace_suffix(domain: str, prefix: str = "ws") -> str:
    """The zone workspaces live under: ws.D, or ws-<shortname>.D for a named installation."""
    return f"{prefix}.{domain}"


def probe_names(domain: str, workspace_prefix: str = "ws") -> dict[str, str]:
    """The three names Gitpod serves, pattern -> a concrete name to try: the domain, a fresh
    random name under it and one under the workspace zone (random, so no cache or explicit
    record can stand in for the wildcard)."""
    label = f"gre-{secrets.token_hex(4)}"
    ws = workspace_suffix(domain, workspace_prefix)
    return {domain: domain, f"*.{domain}": f"{label}.{domain}", f"*.{ws}": f"{label}.{ws}"}


def covers(pattern: str, name: str) -> bool:
    """RFC 6125 matching: a wildcard stands for exactly one leftmost label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def compatibility_requirement(component: str) -> Requirement:
    """cluster_compatibility:<component>: tested by Gitpod for the release judged against. A
    warning: the critical floors are requirements of their own."""
    return Requirement(
        id=f"cluster_compatibility:{component}" if component else "cluster_compatibility",
        title=f"{component.replace('_', '-') or 'The cluster'} is in Gitpod's compatibility matrix",
        severity=Severity.WARNING,
        scope=Scope.CLUSTER,
        doc_url=COMPATIBILITY_DOC,
        remedy="Move to a version or product Gitpod tested for this release (the detail names "
        "them), or pick the release you run with gitpod.release.",
    )


def compatibility_result(component: str, verdict: Verdict, release: Release, why: str) -> Result:
    sample = families.COMPATIBILITY_INFO.sample(1.0, component, verdict.observed, release.name)
    detail = f"{verdict.detail}; judged against {why}"
    if verdict.passed:
        return Result.passed(verdict.observed, sample, detail=detail)
    return Result.failed(Reason(verdict.reason), verdict.observed, detail, sample)


def recommended_requirement(base: Requirement, title: str, remedy: str) -> Requirement:
    """<id>_recommended: the warning beside a sizing requirement (KOTS: meta nodes fail
    below 2 vCPU and warn below 4)."""
    return Requirement(
        f"{base.id}_recommended", title, Severity.WARNING, base.scope, base.doc_url, remedy
    )


async def sized(
    ctx: CheckContext[Any],
    amount: float,
    show: Callable[[float], str],
    floor: float,
    by_role: Mapping[str, Size],
    requirements: tuple[Requirement, Requirement],
    *samples: Sample,
) -> dict[str, Result]:
    """A node's CPU or memory judged by the Gitpod role its labels give it (the strictest
    when it has several): below the role's minimum fails the requirement, below its
    recommendation the warning beside it. Without its labels (no NODE_NAME, no API) the node
    is judged by `floor`; a node with no Gitpod label is not judged (skipped, facts kept)."""
    main, recommended = requirements
    observed = show(amount)
    try:
        labels = await ctx.node_labels()
    except (NotConfigured, CheckError) as exc:
        node_roles, who = None, f"a node of unknown Gitpod role ({exc})"
    else:
        node_roles = roles(labels)
        who = f"a {'+'.join(node_roles)} node"
        if not node_roles:
            skipped = Result(
                Status.SKIPPED,
                observed,
                Reason.NOT_GITPOD_NODE,
                "no gitpod.io/workload_* label: Gitpod schedules nothing here, so "
                "its size is not judged",
                tuple(samples),
            )
            return {main.id: skipped, recommended.id: skipped}
    size = strictest(node_roles, by_role) if node_roles else Size(floor, floor)

    def judged(threshold: float, what: str) -> Result:
        if amount < threshold:
            return Result.failed(
                Reason.BELOW_MINIMUM,
                observed,
                f"{observed}: {who} {what} {show(threshold)}",
                *samples,
            )
        return Result.passed(observed, *samples, detail=f"{who} {what} {show(threshold)}")

    return {
        main.id: judged(size.minimum, "needs at least"),
        recommended.id: judged(size.recommended, "should have"),
    }


def client_timeout(timeout: float, parts: int = 1) -> float:
    """Each of `parts` client calls' share of a check's timeout. The client gives up first (at
    80 %), so a hung dependency ends as the check's own `fail/timeout`, not the scheduler's
    `error/timeout`, and its critical alert fires."""
    return max(timeout * 0.8 / max(parts, 1), 0.1)


async def within(call: Awaitable[T], timeout: float, what: str) -> T:
    """Await a client call that may outlast its own timeouts (a blocking client in the pool
    spends part of its share building itself): past 90 % of the check's timeout the dependency
    has failed with `timeout`, before the scheduler would leave the requirement unknown."""
    try:
        return await asyncio.wait_for(call, max(timeout * 0.9, 0.1))
    except TimeoutError:
        raise DependencyError(Reason.TIMEOUT, f"{what}: no answer within {timeout:g}s") from None


async def compatibility_of(
    ctx: CheckContext[Any], component: str, judge: Callable[[Release], Verdict | Awaitable[Verdict]]
) -> Result | Exception:
    """cluster_compatibility:<component> for a check that also judges something else: the
    release's rule applied by `judge`, or the exception that stopped it (the scheduler turns it
    into this requirement's Result, apart from the other's)."""
    try:
        release, why = await ctx.gitpod.release(ctx.settings.timeout)
        verdict = judge(release)
        if not isinstance(verdict, Verdict):
            verdict = await verdict
        return compatibility_result(component, verdict, release, why)
    except Exception as exc:
        return exc


def sysctl_path(key: str) -> str:
    """Where a sysctl (`net.core.somaxconn`) is read: /proc/sys/net/core/somaxconn."""
    return "/proc/sys/" + key.replace(".", "/")


async def sysctl(ctx: CheckContext[Any], key: str) -> str | None:
    """A sysctl's value as the kernel shows it (whitespace runs as one space), or None for a
    switch this kernel does not have. A node check reading one lists sysctl_path(key) in its
    host_paths."""
    path = sysctl_path(key)
    if ctx.host_kind(path) == "absent":
        return None
    return " ".join((await ctx.read_host(path)).split())


async def sysctl_int(ctx: CheckContext[Any], key: str) -> int | None:
    """A numeric sysctl; ParseError when it is not a number."""
    value = await sysctl(ctx, key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ParseError(f"{sysctl_path(key)} is not a number: {value[:20]!r}") from None


def socket_first(socket: str, sockets: list[str]) -> list[str]:
    """The installation's containerdSocket tried first, then the others a check knows."""
    return [socket, *(p for p in sockets if p != socket)]


def with_note(result: Result, note: str | None) -> Result:
    if not note:
        return result
    detail = f"{result.detail}; {note}" if result.detail else note
    return dataclasses.replace(result, detail=detail)


# modules.dep of a distribution kernel is about 0.5-1 MiB; 8 MiB leaves room and still bounds a
# hostile one.
MODULES_DEP_LIMIT = 8 << 20


async def kernel_release(ctx: CheckContext[Any]) -> str:
    """The running kernel's release, as the name of a directory under /lib/modules."""
    text: str = await ctx.read_host("/proc/sys/kernel/osrelease")
    release = text.strip()
    if not release or "/" in release or len(release) > 128:
        raise ParseError(f"unusable kernel release {release[:40]!r}")
    return release


async def kernel_modules(ctx: CheckContext[Any], release: str) -> tuple[set[str], set[str], str]:
    """(available modules: loaded, built in or loadable; filesystems the kernel knows; a note
    when /lib/modules/<release> is missing)."""
    names = module_names(await ctx.read_host("/proc/modules"), "loaded")
    known = filesystems(await ctx.read_host("/proc/filesystems"))
    note = ""
    base = f"/lib/modules/{release}"
    if ctx.host_kind(base) != "directory":
        note = f"no {base}: only loaded modules count"
    for name, source in (("modules.builtin", "builtin"), ("modules.dep", "dep")):
        kind = ctx.host_kind(f"{base}/{name}")
        if kind not in ("file", "absent"):
            raise CheckError(Reason.IO, f"{base}/{name} is a {kind}: refused")
        if kind == "file":
            text = await ctx.blocking(
                hostfs.read_text, ctx.host_root, f"{base}/{name}", MODULES_DEP_LIMIT
            )
            names |= module_names(text, source)
    return names, known, note
