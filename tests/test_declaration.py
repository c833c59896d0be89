"""A check is one typed declaration: what is misspelled or inconsistent in it fails when its
module is imported, before any test of its verdicts runs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from exporter.checks import NODE_CHECKS, ROLES
from exporter.config import CheckSettings
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.model import Requirement, Result, Scope, Severity

REQ = Requirement("node_example", "An example", Severity.WARNING, Scope.NODE, "https://x", "fix")


@dataclass(frozen=True)
class Settings(CheckSettings):
    method: str = "fuse"


async def run(ctx: CheckContext[Settings]) -> Result:
    return Result.passed("ok")


async def derive(inst: object, s: Settings, timeout: float) -> None:
    return None


def test_a_correct_declaration_is_accepted() -> None:
    check = Check(
        requirement=REQ,
        settings=Settings,
        run=run,
        host_paths=("/proc/sys/kernel/osrelease",),
        installation=Derive(derive, frozenset({"method"})),
        applies_to=Applies.WORKSPACE_NODES,
    )
    assert check.id == "node_example" and check.module == "test_declaration"
    assert check.paths(Settings()) == ("/proc/sys/kernel/osrelease",)
    assert check.judged(Settings()) == (REQ,)


def test_a_misspelled_field_fails() -> None:
    with pytest.raises(TypeError, match="installation_targets"):
        Check(requirement=REQ, settings=Settings, run=run, installation_targets={"x"})  # type: ignore[call-arg]


def test_a_target_that_is_no_setting_fails() -> None:
    with pytest.raises(TypeError, match=r"targets \['methd'\] are not fields of Settings"):
        Check(REQ, Settings, run, installation=Derive(derive, frozenset({"methd"})))


def test_unknown_reads_a_sync_run_and_a_foreign_settings_type_fail() -> None:
    with pytest.raises(TypeError, match="reads"):
        Check(REQ, Settings, run, reads=frozenset({"node"}))
    with pytest.raises(TypeError, match="async"):
        Check(REQ, Settings, lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="CheckSettings"):
        Check(REQ, dict, run)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Applies"):
        Check(REQ, Settings, run, applies_to="workspace nodes")  # type: ignore[arg-type]


def test_every_registered_check_is_a_declaration_with_unique_ids() -> None:
    ids = [c.id for checks in ROLES.values() for c in checks]
    assert len(ids) == len(set(ids))
    assert all(isinstance(c, Check) for checks in ROLES.values() for c in checks)
    # Only node checks may be gated: the cluster role has no node of its own.
    assert all(c.applies_to is Applies.EVERY_NODE for c in ROLES["cluster"]), (
        "a cluster check declares applies_to"
    )
    assert any(c.applies_to is Applies.WORKSPACE_NODES for c in NODE_CHECKS)
