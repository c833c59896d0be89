"""The node role's bearer token as read from its token file (a projected service-account token
rotates under the pod): a regular file, read non-blocking and bounded, one line of a header's
characters; refused without ever being quoted."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_token_file_that_is_a_fifo_or_two_lines_is_refused_unread(tmp_path: Path) -> None:
    import os

    from exporter import kubelite

    fifo = tmp_path / "token-fifo"
    os.mkfifo(fifo)
    two = tmp_path / "token-two-lines"
    two.write_text("first-line-of-token\nsecond-line-of-token\n")
    for path, said in ((fifo, "not a regular file"), (two, "one line of a bearer token")):
        with pytest.raises(kubelite.KubeConfigError, match=said) as caught:
            kubelite.read_token(str(path))
        assert "first-line" not in str(caught.value)
    good = tmp_path / "token"
    good.write_text("abc.def-ghi\n")
    assert kubelite.read_token(str(good)) == "abc.def-ghi"
