"""Parsers: tables of inputs seen on real systems, and hypothesis for everything else."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter import parse
from exporter.grpc_unix import GrpcError, protobuf_strings
from exporter.parse import ParseError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.15.0-1051-gke", (5, 15, 0)),
        ("5.4.0+", (5, 4, 0)),
        ("4.18.0-372.9.1.el8_6.x86_64", (4, 18, 0)),
        ("6.1.0-13-amd64", (6, 1, 0)),
        ("1.6.20~ds1", (1, 6, 20)),
        ("v1.7.11-k3s2", (1, 7, 11)),
        ("1.5", (1, 5, 0)),
        ("v1.27.3-gke.100", (1, 27, 3)),
        ("v1.24.4+k3s1", (1, 24, 4)),
    ],
)
def test_version_tuple_ignores_vendor_suffixes(text: str, expected: tuple[int, int, int]) -> None:
    assert parse.version_tuple(text) == expected


@pytest.mark.parametrize("text", ["", "linux", "5", "v", "x5.4.0"])
def test_version_tuple_rejects_non_versions(text: str) -> None:
    with pytest.raises(ParseError):
        parse.version_tuple(text)


def test_os_release_quoting() -> None:
    text = 'NAME="Ubuntu"\nID=ubuntu\nVERSION="22.04.3 LTS (Jammy Jellyfish)"\n# c\n\nX=\'a b\'\n'
    info = parse.os_release(text)
    assert info == {
        "NAME": "Ubuntu",
        "ID": "ubuntu",
        "VERSION": "22.04.3 LTS (Jammy Jellyfish)",
        "X": "a b",
    }


def test_os_release_id_defaults_to_linux() -> None:
    assert parse.os_release('NAME="Something"\n')["ID"] == "linux"


@pytest.mark.parametrize("text", ["no equals sign", 'ID="unterminated', "1BAD=x"])
def test_os_release_rejects_malformed_lines(text: str) -> None:
    with pytest.raises(ParseError):
        parse.os_release(text)


def test_meminfo_reads_kib() -> None:
    assert parse.meminfo_total_bytes("MemTotal:       16393932 kB\nMemFree: 1 kB\n") == (
        16393932 * 1024
    )


@pytest.mark.parametrize("text", ["", "MemFree: 1 kB", "MemTotal: lots kB", "MemTotal: 1 MB"])
def test_meminfo_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        parse.meminfo_total_bytes(text)


@pytest.mark.parametrize(
    ("text", "n"), [("0", 1), ("0-3\n", 4), ("0-1,4", 3), ("0-63,128-191", 128)]
)
def test_cpu_list(text: str, n: int) -> None:
    assert parse.cpu_list_count(text) == n


@pytest.mark.parametrize("text", ["", "3-1", "a-b", "0,", "-1"])
def test_cpu_list_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        parse.cpu_list_count(text)


def test_cap_eff() -> None:
    assert parse.cap_eff("Name:\tx\nCapEff:\t000001ffffffffff\n") == (1 << 41) - 1


def test_cni_conf_and_conflist() -> None:
    assert parse.cni_plugin_types('{"name":"n","type":"calico"}') == ("n", ["calico"])
    assert parse.cni_plugin_types('{"name":"n","plugins":[{"type":"a"},{"type":"b"}]}') == (
        "n",
        ["a", "b"],
    )


@pytest.mark.parametrize("text", ["[]", "{", '{"plugins": {}}', '{"plugins": [{"x": 1}]}'])
def test_cni_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        parse.cni_plugin_types(text)


PARSERS = [
    parse.version_tuple,
    parse.os_release,
    parse.meminfo_total_bytes,
    parse.cpu_list_count,
    parse.cpuinfo_count,
    parse.cap_eff,
    parse.cni_plugin_types,
    parse.www_authenticate,
    parse.registry_token,
    parse.mysql_version,
]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(text=st.text(max_size=300) | st.from_regex(r'\{"(token|access_token)": .{0,20}\}'))
def test_parsers_return_a_value_or_parse_error(parser, text: str) -> None:
    # Anything but ParseError (IndexError, UnicodeError, ...) escapes and fails the test.
    with contextlib.suppress(ParseError):
        parser(text)


@given(data=st.binary(max_size=200))
def test_protobuf_decoder_returns_fields_or_grpc_error(data: bytes) -> None:
    try:
        fields = protobuf_strings(data)
    except GrpcError:
        return
    assert all(isinstance(v, str) for v in fields.values())


@given(version=st.text(max_size=100), revision=st.text(max_size=100))
def test_protobuf_round_trip(version: str, revision: str) -> None:
    from tests.servers.grpc_fake import version_message

    v, r = version.encode(), revision.encode()
    if len(v) > 127 or len(r) > 127:  # the test encoder writes one-byte lengths
        return
    fields = protobuf_strings(version_message(version, revision))
    assert fields.get(1, "") == version
    assert fields.get(2, "") == revision


@pytest.mark.parametrize(
    "body, token",
    [('{"token": "abc"}', "abc"), ('{"access_token": "xyz", "expires_in": 300}', "xyz")],
)
def test_registry_token(body: str, token: str) -> None:
    assert parse.registry_token(body) == token


@pytest.mark.parametrize("body", ["", "<html>", "[]", '{"token": ""}', '{"token": 5}', "{"])
def test_registry_token_rejects(body: str) -> None:
    with pytest.raises(ParseError):
        parse.registry_token(body)


def test_registry_errors_says_what_a_refusal_says() -> None:
    from exporter.parse import registry_errors

    body = '{"errors": [{"code": "DENIED", "message": "no"}, {"code": "UNAUTHORIZED"}, 1]}'
    assert registry_errors(body) == "DENIED: no; UNAUTHORIZED"
    assert registry_errors("<html>") == ""
    assert registry_errors('{"errors": "x"}') == ""
    assert registry_errors("[" * 100_000) == ""


def test_a_path_no_file_can_have_is_a_config_error_not_a_crash(tmp_path) -> None:
    """A NUL or a lone surrogate in a containerd path (from ConfigMap gitpod or containerd's
    own answer): os refuses it with ValueError or UnicodeEncodeError, which reached the
    scheduler as an internal error with a traceback every run."""
    from exporter.model import Status
    from tests.conftest import run_check
    from tests.hosts import Node

    root = Node().build(tmp_path / "host")
    with ThreadPoolExecutor(2) as pool:
        for bad in ("/run/containerd/contain\x00erd.sock", "/run/containerd/\udcff.sock"):
            result = run_check("node_containerd_cri", root, pool, sockets=[bad]).result
            assert (result.status, result.reason) == (Status.ERROR, "config"), result
            assert "cannot name a file" in result.detail and "\x00" not in result.detail
            assert "\\x00" in result.detail or "\\udcff" in result.detail
