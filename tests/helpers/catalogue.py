"""The requirement catalogue as the tests compare docs, pages and outputs with it."""

from __future__ import annotations

from exporter.checks import ROLES
from exporter.config import Config
from exporter.model import Requirement


def requirements(role: str | None = None) -> list[Requirement]:
    """Every requirement a role (or both) judges with the default config, in registry order."""
    config = Config()
    return [
        req
        for name, checks in ROLES.items()
        if role in (None, name)
        for check in checks
        for req in check.judged(config.for_check(check.id, check.settings))
    ]


def families() -> set[str]:
    """Requirement ids without their `:<instance>` part: one runbook section, one row in
    docs/requirements.md."""
    return {req.id.split(":")[0] for req in requirements()}
