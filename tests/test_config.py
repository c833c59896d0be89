from __future__ import annotations

import dataclasses
import typing
from typing import Annotated

import pytest

from exporter.checks import settings_types
from exporter.checks.node import kernel, labels
from exporter.config import (
    CheckSettings,
    ConfigError,
    Min,
    Secret,
    build,
    check_schema,
    load,
)


def test_no_file_gives_every_default() -> None:
    config = load(None, settings_types())
    s = config.for_check("node_kernel", kernel.Settings)
    assert (s.enabled, s.interval, s.timeout, s.min_version) == (True, 600.0, 10.0, "5.4.0")


def test_durations_accept_units() -> None:
    text = "checks:\n  node_kernel:\n    interval: 5m\n    timeout: 1500ms\n"
    s = load(text, settings_types()).for_check("node_kernel", kernel.Settings)
    assert (s.interval, s.timeout) == (300.0, 1.5)


def test_defaults_section_applies_to_every_check_under_its_own_section() -> None:
    text = "defaults:\n  interval: 2m\n  timeout: 3s\nchecks:\n  node_labels:\n    interval: 10m\n"
    config = load(text, settings_types())
    assert config.for_check("node_kernel", kernel.Settings).interval == 120.0
    assert config.for_check("node_kernel", kernel.Settings).timeout == 3.0
    assert config.for_check("node_labels", labels.Settings).interval == 600.0


def test_secret_from_env_and_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_SECRET", "s3cr3t-env")
    assert Secret(env="GRE_TEST_SECRET").read() == "s3cr3t-env"
    path = tmp_path / "pw"
    path.write_text("s3cr3t-file\n")
    assert Secret(file=str(path)).read() == "s3cr3t-file"
    assert "s3cr3t" not in repr(Secret(env="GRE_TEST_SECRET"))


def test_secret_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigError):
        Secret()
    with pytest.raises(ConfigError):
        Secret(env="A", file="/b")


def test_missing_secret_env_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("GRE_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match="GRE_NOT_SET"):
        Secret(env="GRE_NOT_SET").read()


def test_short_interval_shortens_the_default_timeout() -> None:
    s = load("checks:\n  node_kernel:\n    interval: 2s\n", settings_types()).for_check(
        "node_kernel", kernel.Settings
    )
    assert (s.interval, s.timeout) == (2.0, 2.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("1h30m", 5400.0), ("1d", 86400.0), ("500ms", 0.5), ("2m30s", 150.0)],
)
def test_durations(text: str, seconds: float) -> None:
    doc = f"checks:\n  node_kernel:\n    interval: 2d\n    timeout: {text}\n"
    assert load(doc, settings_types()).for_check("node_kernel", kernel.Settings).timeout == (
        seconds
    )


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ("checks:\n  node_kernel:\n    interval: 1ms\n", "checks.node_kernel.interval"),
        ("defaults:\n  interval: 500ms\n", "defaults.interval"),
    ],
)
def test_an_interval_under_a_second_is_a_config_error(doc: str, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"{field}: expected a value of at least 1, got 0"):
        load(doc, settings_types())


@pytest.mark.parametrize("text", [".nan", ".inf", "-5s", "5 parsecs", "400d", "true"])
def test_bad_durations_name_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match=r"checks\.node_kernel\.interval: expected a"):
        load(f"checks:\n  node_kernel:\n    interval: {text}\n", settings_types())


def test_constraints_are_typed_and_unknown_ones_refused_at_import() -> None:
    @dataclasses.dataclass(frozen=True)
    class Typo(CheckSettings):
        port: int = dataclasses.field(default=1, metadata={"mni": 1})

    with pytest.raises(TypeError, match="metadata is not read"):
        check_schema(Typo)

    @dataclasses.dataclass(frozen=True)
    class Unknown(CheckSettings):
        port: Annotated[int, "min 1"] = 1

    with pytest.raises(TypeError, match="unknown constraint"):
        check_schema(Unknown)

    @dataclasses.dataclass(frozen=True)
    class Union(CheckSettings):
        limit: Annotated[int, Min(1)] | str = 1

    check_schema(Union)
    # Every option of a union is tried, not only the first.
    assert build(Union, {"limit": "all"}, "x").limit == "all"
    assert build(Union, {"limit": 5}, "x").limit == 5
    with pytest.raises(ConfigError, match=r"x\.limit: expected a string"):
        build(Union, {"limit": [1]}, "x")


def test_every_checks_interval_keeps_the_floor() -> None:
    # A check that redefines its default interval must keep the 1 s floor (config.Interval).
    for check_id, settings in settings_types().items():
        hint = typing.get_type_hints(settings, include_extras=True)["interval"]
        floors = [m.value for m in typing.get_args(hint)[1:] if isinstance(m, Min)]
        assert floors == [1.0], f"{check_id}: interval must be config.Interval"
