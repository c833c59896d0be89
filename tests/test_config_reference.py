"""docs/configuration.md's reference config is held to the code: it loads as a config file, and
it lists every check of both roles with every setting at its default, so a new setting or a
changed default shows up there or fails here, naming the check and the setting."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from exporter.checks import ROLES, settings_types
from exporter.config import CheckSettings, load

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
# What every check takes (the `defaults` section names them once), so not repeated per check.
COMMON = {"enabled", "timeout"}


def _reference() -> tuple[str, int]:
    text = PAGE.read_text()
    section = text.index("\n## Configuration\n")
    match = re.compile(r"```yaml\n(.*?)```", re.S).search(text, section)
    assert match, f"{PAGE.name}: no yaml block under '## Configuration'"
    return match.group(1), text[: match.start()].count("\n") + 2


def _plain(value: Any) -> Any:
    """A settings value as the YAML reader gives it back."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def test_the_reference_config_loads() -> None:
    text, _ = _reference()
    load(text, settings_types())


def test_the_reference_config_lists_every_setting_at_its_default() -> None:
    text, line = _reference()
    config = load(text, settings_types())
    sections = yaml.safe_load(text)["checks"]
    problems = []
    for checks in ROLES.values():
        for check in checks:
            written = sections.get(check.id)
            if written is None:
                problems.append(f"{check.id}: no section")
                continue
            default: CheckSettings = check.settings()
            loaded = config.for_check(check.id, check.settings)
            for f in dataclasses.fields(check.settings):
                if f.name in COMMON:
                    continue
                want = _plain(getattr(default, f.name))
                if f.name not in written:
                    problems.append(f"{check.id}.{f.name}: not listed (default {want!r})")
                elif _plain(getattr(loaded, f.name)) != want:
                    problems.append(
                        f"{check.id}.{f.name}: {written[f.name]!r} is not the default {want!r}"
                    )
            unknown = set(written) - {f.name for f in dataclasses.fields(check.settings)}
            problems += [f"{check.id}.{name}: no such setting" for name in sorted(unknown)]
    assert problems == [], f"{PAGE.relative_to(PAGE.parents[1])} line {line}:\n" + "\n".join(
        problems
    )
