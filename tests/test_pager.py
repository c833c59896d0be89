"""The one Kubernetes pager: limit and continue, and a 410 Gone restarting the list once."""

from __future__ import annotations

import pytest

from exporter.model import KubeError, Reason
from exporter.pager import Pager


def gone() -> KubeError:
    return KubeError(410, Reason.PROTOCOL, "the continue token expired", {})


def test_pages_until_no_continue_token() -> None:
    pager = Pager(2, {"fieldSelector": "x"})
    assert pager.next() == {"fieldSelector": "x", "limit": "2"}
    pager.took({"metadata": {"continue": "t1"}})
    assert pager.next() == {"fieldSelector": "x", "limit": "2", "continue": "t1"}
    pager.took({"metadata": {}})
    assert pager.next() is None


def test_an_expired_token_restarts_once_then_fails() -> None:
    pager = Pager(2)
    pager.took({"metadata": {"continue": "t1"}})
    pager.failed(gone())  # the first pass: start over
    assert pager.next() == {"limit": "2"}
    pager.took({"metadata": {"continue": "t2"}})
    with pytest.raises(KubeError):
        pager.failed(gone())  # the second pass: give up


def test_other_errors_are_not_retried() -> None:
    with pytest.raises(KubeError):
        Pager(2).failed(KubeError(403, Reason.FORBIDDEN, "no", {}))
