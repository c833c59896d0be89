"""The installer config parser: lenient with Gitpod's own fields, precise about what our checks
need, and safe with hostile documents."""

from __future__ import annotations

import pytest
import yaml

from exporter.installation.content import docker_credentials, provider_of
from exporter.installation.gitpod_config import parse
from exporter.model import CheckError, Reason, Requirement, Scope, Severity
from exporter.parse import ParseError
from exporter.safeyaml import MAX_BYTES as MAX_CONFIG_BYTES
from exporter.store import Store
from tests.gitpod_install import config, dockerconfig, ref


def test_the_default_config_parses_with_gitpods_own_fields_ignored() -> None:
    cfg = parse(yaml.safe_dump(config(futureField={"x": 1})), "test")
    assert cfg.problems == ()
    assert (cfg.domain, cfg.kind, cfg.database, cfg.storage, cfg.registry) == (
        "gitpod.test", "Full", "in_cluster", "in_cluster", "in_cluster")  # fmt: skip
    assert [s.name for s in cfg.secrets] == ["https-certificates"]
    assert cfg.workspace_prefix == "ws"


def test_external_components_reference_their_secrets_with_the_installers_keys() -> None:
    doc = config(
        database={"inCluster": False, "external": {"certificate": ref("database")}},
        objectStorage={
            "inCluster": False,
            "s3": {"endpoint": "s3.example.com", "credentials": ref("s3")},
        },
        containerRegistry={
            "inCluster": False,
            "external": {"url": "r.example.com", "certificate": ref("reg")},
        },
        authProviders=[ref("github"), ref("gitlab")],
        metadata={"shortname": "eu"},
    )
    cfg = parse(yaml.safe_dump(doc), "test")
    keys = {s.name: s.keys for s in cfg.secrets}
    assert keys["database"] == ("encryptionKeys", "host", "password", "port", "username")
    assert keys["s3"] == ("accessKeyId", "secretAccessKey")
    assert keys["reg"] == (".dockerconfigjson",)
    assert keys["github"] == keys["gitlab"] == ("provider",)
    assert cfg.workspace_prefix == "ws-eu"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"domain": "not a domain"}, "not a fully qualified domain name"),
        ({"domain": None}, "domain: required"),
        ({"kind": "Everything"}, "kind: 'Everything' is not one of Full, Meta, Workspace"),
        (
            {"certificate": {"kind": "secret", "name": ""}},
            "certificate: a secret reference without a name",
        ),
        ({"database": {"inCluster": False, "external": {"certificate": {}}}}, "without a name"),
        ({"metadata": "eu"}, None),  # not a mapping: defaults, no crash
        ({"authProviders": "github"}, "authProviders: expected list"),
    ],
)
def test_problems_are_named_not_raised(changes, problem) -> None:
    cfg = parse(yaml.safe_dump(config(**changes)), "test")
    if problem is None:
        assert cfg.shortname == "default"
    else:
        assert any(problem in p for p in cfg.problems), cfg.problems


def test_hostile_documents_are_parse_errors() -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b]\n"
    with pytest.raises(ParseError, match="aliases are not allowed"):
        parse(bomb, "ConfigMap gitpod")
    with pytest.raises(ParseError, match="over the"):
        parse("domain: x\n" + "#" * MAX_CONFIG_BYTES, "big")
    with pytest.raises(ParseError, match="not a mapping"):
        parse("- a\n- b\n", "list")
    with pytest.raises(ParseError, match=r"nested too deeply|not valid YAML"):
        parse("[" * 100_000, "deep")


def test_provider_yaml_maps_to_scm_types() -> None:
    assert provider_of("id: Public-GitHub\nhost: github.com\ntype: GitHub\n", "s") == {
        "name": "Public-GitHub", "type": "github", "url": ""}  # fmt: skip
    assert provider_of("id: corp\nhost: git.corp\ntype: GitHub\n", "s")["type"] == (
        "github_enterprise")  # fmt: skip
    assert provider_of("id: bb\nhost: bb.corp:7990\ntype: BitbucketServer\n", "s") == {
        "name": "bb", "type": "bitbucket_server", "url": "https://bb.corp:7990"}  # fmt: skip
    with pytest.raises(CheckError) as info:
        provider_of("id: x\nhost: h\ntype: Gitea\n", "s")
    assert info.value.reason is Reason.CONFIG


def test_docker_credentials_by_host() -> None:
    doc = dockerconfig("https://registry.gitpod.test", "u", "p:w")
    assert docker_credentials(doc, "registry.gitpod.test", "s") == ("u", "p:w")
    assert docker_credentials(doc, "other.test", "s") is None
    with pytest.raises(CheckError):
        docker_credentials(b"{not json", "h", "s")


def test_a_learnt_requirement_set_replaces_the_old_one_in_place() -> None:
    def req(i: str) -> Requirement:
        return Requirement(i, i, Severity.CRITICAL, Scope.CLUSTER, "", "")

    store = Store([req("a"), req("s"), req("z")])
    store.replace([req("s")], [req("s:x"), req("s:y")])
    assert [r.id for r in store.requirements] == ["a", "s:x", "s:y", "z"]
    store.replace([req("s:x"), req("s:y")], [req("s:y")])
    assert [r.id for r in store.requirements] == ["a", "s:y", "z"]


# `gitpod-installer config init` at 2022.11: every default written out, the domain left for the
# admin to fill in (here filled in).
CONFIG_INIT = """\
apiVersion: v1
authProviders: []
blockNewUsers:
  enabled: false
  passlist: []
certificate:
  kind: secret
  name: https-certificates
containerRegistry:
  inCluster: true
  privateBaseImageAllowList: []
database:
  inCluster: true
disableDefinitelyGp: true
domain: gitpod.example.com
kind: Full
metadata:
  region: local
  shortname: default
objectStorage:
  inCluster: true
  resources:
    requests:
      memory: 2Gi
observability:
  logLevel: info
openVSX:
  url: https://open-vsx.org
repository: eu.gcr.io/gitpod-core-dev/build
workspace:
  maxLifetime: 36h0m0s
  prebuildPVC:
    size: 30Gi
    snapshotClass: ""
    storageClass: ""
  pvc:
    size: 30Gi
    snapshotClass: ""
    storageClass: ""
  resources:
    requests:
      cpu: "1"
      memory: 2Gi
  runtime:
    containerdRuntimeDir: /var/lib/containerd/io.containerd.runtime.v2.task/k8s.io
    containerdSocket: /run/containerd/containerd.sock
    fsShiftMethod: fuse
"""


@pytest.mark.parametrize(
    "text",
    [
        "domain: gitpod.example.com\n",  # what an admin writes by hand
        "domain: gitpod.example.com\ncertificate: null\ndatabase: {}\n",  # nulls keep structs
        CONFIG_INIT,
    ],
    ids=["minimal", "nulls", "config-init"],
)
def test_a_config_is_read_over_the_installers_defaults(text: str) -> None:
    cfg = parse(text, "gitpod.config.yaml")
    assert cfg.problems == ()
    assert (cfg.domain, cfg.kind, cfg.certificate) == (
        "gitpod.example.com", "Full", "https-certificates")  # fmt: skip
    assert (cfg.database, cfg.storage, cfg.registry) == ("in_cluster",) * 3
    assert [s.name for s in cfg.secrets] == ["https-certificates"]
    assert cfg.containerd_socket == "/run/containerd/containerd.sock"


def test_the_file_wins_over_the_defaults_key_by_key() -> None:
    cfg = parse(
        "domain: gitpod.example.com\n"
        "certificate: {name: my-tls}\n"  # kind stays the default's secret
        "database: {inCluster: false, external: {certificate: {kind: secret, name: db}}}\n"
        "metadata: {shortname: eu}\n",  # region stays local
        "gitpod.config.yaml",
    )
    assert cfg.problems == ()
    assert (cfg.certificate, cfg.database, cfg.database_secret) == ("my-tls", "external", "db")
    assert (cfg.shortname, cfg.region) == ("eu", "local")
