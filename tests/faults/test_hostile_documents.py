"""Documents within their byte bounds that would have built gigabytes: the parsers' budgets
count what is built, not only bytes. Each attack from issue 41 runs through the node role as a
process (its chart limit is 128 MiB) and through the parser alone."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter import safetoml, safeyaml
from exporter.parse import ParseError
from tests.faults.test_hostile_memory import LIMIT_MIB, measured
from tests.helpers.process import peak_rss_mib
from tests.hosts import Node, idle_socket
from tests.servers.kube_fake import FakeKube, configmap, node

WORKSPACE = {"gitpod.io/workload_workspace_regular": "true"}
# 1,040,000 bytes, no alias, nesting 2: PyYAML's pure-Python composer took 340 MiB and 35 s.
FLAT_YAML = "x: [" + "0," * 519_998 + "0]\n"
DEEP_TOML = ".".join(["a"] * 12_000) + " = 1\n"  # tomllib: 1.9 GiB
# What TOML's basic strings hold once escaped as JSON escapes them (no surrogates: TOML's \u
# names scalar values only).
TEXT = st.text(st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), max_size=30)
MANY_TABLES = "".join(f"[t{i}]\n" for i in range(116_000))  # tomllib: 224 MiB


def test_yaml_counts_nodes_before_composing() -> None:
    before = peak_rss_mib()
    with pytest.raises(ParseError, match="more than 20000 YAML nodes"):
        safeyaml.load(FLAT_YAML, "config.yaml")
    assert peak_rss_mib() - before < 16
    with pytest.raises(ParseError, match="nested deeper than 64"):
        safeyaml.load("[" * 65 + "]" * 65, "doc")
    with pytest.raises(ParseError, match="aliases are not allowed"):
        safeyaml.load("a: &x [1]\nb: *x\n", "doc")
    # At the budget: 19,999 nodes compose.
    doc = "".join(f"k{i}: v\n" for i in range(9_999))
    assert len(safeyaml.load(doc, "doc")) == 9_999


@pytest.mark.parametrize(
    ("text", "match"),
    [(DEEP_TOML, "key deeper than 32 parts"), (MANY_TABLES, "more than 10000 TOML keys")],
)
def test_toml_counts_keys_before_tomllib(text: str, match: str) -> None:
    before = peak_rss_mib()
    with pytest.raises(ParseError, match=match):
        safetoml.load(text, "config.toml")
    assert peak_rss_mib() - before < 16


def test_toml_scan_skips_strings_and_comments() -> None:
    """Dots, brackets and equals signs inside strings and comments are not keys; what the scan
    lets through is exactly what tomllib reads."""
    deep_in_strings = (
        'a = "' + "." * 100 + '\\"' + "." * 100 + '"\n'
        "b = '" + "[=." * 100 + "'\n"
        'c = """\n' + "x." * 100 + '\\""" still\n"""\n'
        "d = '''" + "=." * 100 + "'''\n"
        "# " + "." * 100 + "\n"
        '[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.x.y.z:20000".tls]\n'
        "f = 1.5\ng = 1979-05-27T07:32:00.999999-07:00\nh = [1.5, 2.5]\ni = {x.y = 1.5}\n"
    )
    doc = safetoml.load(deep_in_strings, "t")
    assert doc["a"] == "." * 100 + '"' + "." * 100
    assert doc["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["configs"]["reg.x.y.z:20000"]
    assert safetoml.load(".".join(["k"] * 32) + " = 1\n", "t")  # 32 parts: at the bound


def test_node_role_survives_a_flat_installer_config(tmp_path: Path, kube_api: FakeKube) -> None:
    """The installer config in ConfigMap `gitpod` is read by every deriving node check: the
    budget refuses it at once, each check says why it used the defaults, the peak stays low."""
    kube_api.nodes["n1"] = node("n1", WORKSPACE)
    kube_api.configmaps["gitpod/gitpod"] = configmap("gitpod", "gitpod",
                                                     {"config.yaml": FLAT_YAML})  # fmt: skip
    kc = kube_api.kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("defaults:\n  timeout: 8s\n")
    root = tmp_path / "host"
    root.mkdir()
    args = ["--role", "node", "--config", str(cfg), "--kubeconfig", str(kc),
            "--host-root", str(root)]  # fmt: skip
    results, peak, took = measured(args, {"NODE_NAME": "n1", "POD_NAMESPACE": "gitpod"})
    print(f"\nnode role, 1 MB flat installer config: peak {peak:.0f} MiB in {took:.1f} s")
    derived = [r for r in results.values() if "YAML nodes" in r.get("detail", "")]
    assert derived, {k: r.get("detail") for k, r in results.items()}
    assert all(r["reason"] != "timeout" for r in results.values()), results
    assert peak < LIMIT_MIB["node"] * 0.5
    assert took < 15


def test_node_role_survives_a_toml_bomb(tmp_path: Path) -> None:
    """containerd there but not answering, its config.toml with a 12,000-part key: read by the
    three checks that parse it."""
    root = Node().build(tmp_path / "host", idle_socket())
    (root / "etc/containerd").mkdir(parents=True, exist_ok=True)
    (root / "etc/containerd/config.toml").write_text(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
        'config_path = "/etc/containerd/certs.d"\n' + DEEP_TOML
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text("defaults:\n  timeout: 8s\n")
    args = ["--role", "node", "--config", str(cfg), "--host-root", str(root)]
    results, peak, took = measured(args, {"NODE_NAME": "n1"})
    print(f"\nnode role, a TOML bomb: peak {peak:.0f} MiB in {took:.1f} s")
    assert results["node_workspace_host_paths"]["reason"] != "timeout", results
    assert peak < LIMIT_MIB["node"] * 0.5
    assert took < 15


@given(st.lists(st.tuples(st.lists(TEXT, min_size=1, max_size=5), TEXT), max_size=20))
def test_toml_scan_lets_through_what_tomllib_reads(entries: list[tuple[list[str], str]]) -> None:
    """Quoted keys and string values full of dots, brackets, quotes and hashes: the scan sees
    keys of at most 6 parts and so never refuses, and the document reads as tomllib reads it."""
    lines = [
        ".".join([f"k{i}", *(json.dumps(p) for p in parts)]) + " = " + json.dumps(value)
        for i, (parts, value) in enumerate(entries)
    ]
    text = "\n".join(lines) + "\n"
    assert safetoml.load(text, "t") == tomllib.loads(text)
