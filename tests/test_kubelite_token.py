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


def _kubeconfig(path: Path, user: str, cluster: str = "server: https://127.0.0.1:6443") -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    {cluster}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        f"users:\n- name: u\n  user:\n{user}"
    )
    return path


def test_an_inline_token_is_one_header_line_or_refused_unquoted(tmp_path: Path) -> None:
    """`token: |` keeps YAML's newline: http.client used to refuse the header by quoting it,
    token and all, into every detail and log line."""
    from exporter import kubelite

    block = _kubeconfig(tmp_path / "block", "    token: |\n      abcdefgh12345678\n")
    endpoint = kubelite.from_kubeconfig(str(block))
    assert endpoint.headers["Authorization"] == "Bearer abcdefgh12345678"
    two = _kubeconfig(tmp_path / "two", "    token: |\n      secret-line-one\n      line-two\n")
    with pytest.raises(kubelite.KubeConfigError, match="one line of a bearer token") as caught:
        kubelite.from_kubeconfig(str(two))
    assert "secret-line" not in str(caught.value)


def test_a_certificate_file_is_bounded_and_never_waited_on(tmp_path: Path) -> None:
    """certificate-authority names a file the kubeconfig's writer chose: a FIFO would hold the
    thread, a replaced 512 MiB file would be read whole on every resolve."""
    import os

    from exporter import kubelite

    os.mkfifo(tmp_path / "ca-fifo")
    with (tmp_path / "ca-huge").open("wb") as f:
        f.truncate(512 << 20)  # sparse: refused after 1 MiB, never read whole
    for name, said in (("ca-fifo", "not a regular file"), ("ca-huge", "larger than")):
        cluster = f"server: https://127.0.0.1:6443\n    certificate-authority: {name}"
        kc = _kubeconfig(tmp_path / f"kc-{name}", "    token: abcdefgh12345678\n", cluster)
        with pytest.raises(kubelite.KubeConfigError, match=said):
            kubelite.from_kubeconfig(str(kc))
