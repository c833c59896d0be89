"""The scrubber every Result passes through: the secrets a check uses never leave it, in any
form a server may echo them, and a dependency's text is bounded."""

from __future__ import annotations

import base64
import dataclasses
from urllib.parse import quote

from exporter.checks.cluster import database, scm
from exporter.config import Secret, SecretValue
from exporter.scrub import MAX_DETAIL, REDACTED, scrub, secret_values

PASSWORD = "pa ss/w0rd+&"


def test_every_form_of_a_password_is_taken_out(monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_DB_PW", PASSWORD)
    settings = database.Settings(host="db", user="gitpod", password=Secret(env="GRE_TEST_DB_PW"))
    secrets = secret_values(settings)
    basic = base64.b64encode(f"gitpod:{PASSWORD}".encode()).decode()
    echoed = f"Access denied, password {PASSWORD!s}; as sent: {quote(PASSWORD, safe='')}; {basic}"
    text = scrub(echoed, secrets)
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text and basic not in text
    assert text.count(REDACTED) == 3


def test_secrets_derived_from_the_installation_are_taken_out_too() -> None:
    derived = SecretValue("from-a-kubernetes-secret", "Secret mysql key password")
    settings = dataclasses.replace(database.Settings(host="db"), password=derived)
    assert "from-a-kubernetes-secret" not in scrub("echo from-a-kubernetes-secret", secret_values(
        settings))  # fmt: skip


def test_unset_secrets_and_nested_settings_do_not_break_it(monkeypatch) -> None:
    monkeypatch.delenv("GRE_TEST_UNSET", raising=False)
    settings = database.Settings(host="db", password=Secret(env="GRE_TEST_UNSET"))
    assert secret_values(settings) == set()
    providers = scm.Settings(providers=[scm.Provider(name="gh", type="github")])
    assert secret_values(providers) == set()


def test_a_long_answer_is_cut_and_says_so() -> None:
    text = scrub("x" * 5_000_000, set())
    assert len(text) < MAX_DETAIL + 100 and text.endswith("(4998000 more characters cut)")
