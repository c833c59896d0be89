"""The rendered RBAC against what the checks call: the fake API server enforces exactly the
rules bound to each ServiceAccount, every check runs without a 403, and every granted rule is
used. (The DaemonSet's mounts against the node checks' host paths: tests/test_mounts.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests import clusters, gitpod_install
from tests.deploy.manifests import CHART, WORKLOADS, config_text, installed, render
from tests.helpers.exporter import check_json
from tests.servers.kube_fake import FakeKube, endpoint_slice, obj
from tests.servers.kube_rbac import Authorizer, grants_for

EXPORTER_NS = "gitpod-requirements"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
WATCH_NODES = ("", "watch", "", "nodes", "")


def authorizer(objects: tuple[dict, ...], sa: str) -> Authorizer:
    return Authorizer(f"system:serviceaccount:{EXPORTER_NS}:{sa}",
                      grants_for(list(objects), EXPORTER_NS, sa))  # fmt: skip


def run_check(role: str, config: str, kube_api: FakeKube, tmp_path: Path, **env: str) -> dict:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config)
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    args = ["--role", role, "--config", str(cfg)]
    if role == "cluster":
        args += ["--kubeconfig", str(kc)]
    else:
        env = {**env, "KUBECONFIG": str(kc)}
    rc, results, stderr = check_json(*args, env=env)
    assert rc in (0, 1), stderr
    return results


def _secrets(*names: str) -> dict[str, dict]:
    """Secrets under Gitpod's default names, with the keys the installer requires."""
    keys = {
        "https-certificates": ("tls.crt", "tls.key"),
        "mysql": ("username", "password"),
        "minio": ("root-user", "root-password"),
        "builtin-registry-auth": (".dockerconfigjson",),
        "builtin-registry-certs": ("ca.crt",),
        "database": ("host", "port", "username", "password", "encryptionKeys"),
        "storage-s3": ("accessKeyId", "secretAccessKey"),
        "container-registry": (".dockerconfigjson",),
        "custom-ca": ("ca.crt",),
        "ssh-gateway-host-key": ("host-key",),
        "gitpod-license": ("license",),
        "http-proxy": ("httpProxy", "httpsProxy", "noProxy"),
    }
    values = {"port": "3306", ".dockerconfigjson": '{"auths": {}}', "host": "127.0.0.1"}
    return {n: {k: values.get(k, "x") for k in keys[n]} for n in names}


# The default installation, then one with every external component and optional Secret: between
# them they reference every Secret name the installation Role grants.
INSTALLATIONS = (
    (gitpod_install.config(),
     _secrets("https-certificates", "mysql", "minio", "builtin-registry-auth",
              "builtin-registry-certs")),
    (gitpod_install.config(
        database={"inCluster": False,
                  "external": {"certificate": gitpod_install.ref("database")}},
        objectStorage={"inCluster": False,
                       "s3": {"endpoint": "127.0.0.1:1", "bucket": "b",
                              "credentials": gitpod_install.ref("storage-s3")}},
        containerRegistry={"inCluster": False,
                           "external": {"url": "https://127.0.0.1:1",
                                        "certificate": gitpod_install.ref("container-registry")}},
        customCACert=gitpod_install.ref("custom-ca"),
        sshGatewayHostKey=gitpod_install.ref("ssh-gateway-host-key"),
        license=gitpod_install.ref("gitpod-license"),
        httpProxy=gitpod_install.ref("http-proxy")),
     _secrets("https-certificates", "database", "storage-s3", "container-registry", "custom-ca",
              "ssh-gateway-host-key", "gitpod-license", "http-proxy")),
)  # fmt: skip


@pytest.mark.parametrize("directory", WORKLOADS)
def test_cluster_role_has_what_its_checks_call_and_nothing_more(
    directory: str, kube_api: FakeKube, tmp_path: Path
) -> None:
    objects = installed(directory)
    clusters.gke_two_pools(kube_api)
    clusters.calico(kube_api)
    # Gitpod's DaemonSets, one pod stuck: its pods and their events are read too.
    clusters.gitpod_daemons(kube_api)
    clusters.daemon_stuck(kube_api, next(n for n in kube_api.nodes if "workspaces" in n))
    kube_api.issuers = [clusters.ready_issuer("Issuer", "gitpod-ca", "gitpod")]
    kube_api.certificates = [obj("Certificate", "cert-manager.io/v1", "https-certificates",
                                 "gitpod", status={"conditions": [
                                     {"type": "Ready", "status": "True"}]})]  # fmt: skip
    # A Gitpod pod running and a NetworkPolicy, so cluster_network_paths reads the policies,
    # the namespaces and kube-dns' pods.
    server = {"labels": {"app": "gitpod", "component": "server"}}
    kube_api.pods.append(obj("Pod", "v1", "server-1", "gitpod", status={"podIP": "10.4.0.9"},
                             metadata=server))  # fmt: skip
    kube_api.networkpolicies.append(obj("NetworkPolicy", "networking.k8s.io/v1", "server",
                                        "gitpod", spec={"podSelector": {}}))  # fmt: skip
    kube_api.rbac = authorizer(objects, "gitpod-requirements-cluster")
    # The shipped config, with a Certificate to check so that rule is exercised too.
    config = yaml.safe_load(config_text(objects))
    config["checks"]["cluster_cert_manager"]["certificates"] = ["https-certificates"]
    for doc, secrets in INSTALLATIONS:
        kube_api.secrets.clear()
        gitpod_install.install(kube_api, doc, secrets)
        results = run_check("cluster", yaml.safe_dump(config), kube_api, tmp_path)
        assert kube_api.rbac.denied == []
        for req, r in results.items():
            assert r["reason"] not in ("forbidden", "auth"), (req, r)
        kube = [r for r in results.values() if r["status"] != "skipped"]
        assert len(kube) >= 20  # the Kubernetes checks and the installation's
    # `check` lists; only `serve` watches the nodes: tests/cluster_cache proves that grant used.
    unused = kube_api.rbac.granted() - kube_api.rbac.used - {WATCH_NODES}
    assert unused == set(), "granted but never used"
    assert kube_api.dry_run_bodies and kube_api.created == []


def test_without_the_installation_role_secrets_are_forbidden_with_a_remedy(
    kube_api: FakeKube, tmp_path: Path
) -> None:
    objects = installed("base")
    clusters.gke_two_pools(kube_api)
    auth = authorizer(objects, "gitpod-requirements-cluster")
    auth.grants = [g for g in auth.grants if "secrets" not in g.resources]
    kube_api.rbac = auth
    gitpod_install.install(kube_api, *INSTALLATIONS[0])
    results = run_check("cluster", config_text(objects), kube_api, tmp_path)
    for rid in ("cluster_gitpod_secret:https-certificates", "cluster_database"):
        assert (results[rid]["status"], results[rid]["reason"]) == ("error", "forbidden")
        assert "gitpod.readInstallation" in results[rid]["detail"]
        assert "deploy/gitpod-rbac" in results[rid]["detail"]
    assert results["cluster_gitpod_config"]["status"] == "pass"


def test_cluster_rbac_reads_only_but_for_the_dry_run() -> None:
    objects = installed("base")
    grants = authorizer(objects, "gitpod-requirements-cluster").grants
    assert grants
    for g in grants:
        assert "*" not in g.verbs + g.resources + g.api_groups, g
        if set(g.verbs) & WRITE_VERBS:
            assert (g.verbs, g.resources, g.namespace) == (("create",), ("pods",), "gitpod")
    # The manifest tells the reader why the one write verb is there.
    source = (CHART / "templates" / "rbac-cluster.yaml").read_text()
    assert "dryRun=All" in source and "persists nothing" in source


def test_a_missing_rule_shows_as_forbidden_not_a_crash(kube_api: FakeKube, tmp_path) -> None:
    objects = installed("base")
    clusters.gke_two_pools(kube_api)
    auth = authorizer(objects, "gitpod-requirements-cluster")
    auth.grants = [g for g in auth.grants if "storageclasses" not in g.resources]
    kube_api.rbac = auth
    results = run_check("cluster", config_text(objects), kube_api, tmp_path)
    sc = results["cluster_storage_class"]
    assert (sc["status"], sc["reason"]) == ("error", "forbidden")
    assert "cannot list resource" in sc["detail"]


def test_node_role_gets_its_own_node_its_peers_and_the_installer_config_only(
    kube_api: FakeKube, tmp_path: Path
) -> None:
    objects = installed("base")
    clusters.gke_two_pools(kube_api)
    node_name = next(iter(kube_api.nodes))
    gitpod_install.install(kube_api, gitpod_install.config(), {})
    kube_api.rbac = authorizer(objects, "gitpod-requirements-node")
    ns = "gitpod-requirements"
    kube_api.endpointslices = [endpoint_slice("peers", ns, "gitpod-requirements-node", 1,
                                              [("127.0.0.1", "another-node")])]  # fmt: skip
    results = run_check("node", config_text(objects), kube_api, tmp_path, NODE_NAME=node_name,
                        POD_NAMESPACE=ns)  # fmt: skip
    assert results["node_labels"]["status"] == "pass", results["node_labels"]
    assert results["node_pod_network"]["status"] == "pass", results["node_pod_network"]
    assert kube_api.rbac.denied == []
    assert kube_api.rbac.granted() == kube_api.rbac.used
    assert kube_api.calls[f"/api/v1/nodes/{node_name}"] == 1
    assert kube_api.calls[f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"] == 1
    # Read once for every check that derives from it, never a Secret.
    assert kube_api.calls["/api/v1/namespaces/gitpod/configmaps/gitpod"] == 1
    assert kube_api.total_calls == 3


def test_node_role_without_the_installation_role_uses_the_installer_defaults(
    kube_api: FakeKube, tmp_path: Path
) -> None:
    objects = render("base")  # Gitpod's namespace not there at install: no Role in it
    clusters.gke_two_pools(kube_api)
    node_name = next(n for n in kube_api.nodes if "workspaces" in n)
    gitpod_install.install(kube_api, gitpod_install.config(), {})
    kube_api.rbac = authorizer(objects, "gitpod-requirements-node")
    results = run_check("node", config_text(objects), kube_api, tmp_path, NODE_NAME=node_name)
    fs = results["node_fs_shift"]
    # Judged by the installer's default (fuse) on whatever this host has; the reason said.
    assert fs["reason"] != "forbidden", fs
    assert "not derived from the Gitpod installation" in fs["detail"], fs
    assert "forbidden" in fs["detail"] and "gitpod-rbac" in fs["detail"], fs


def test_the_node_condition_is_opt_in_with_the_narrowest_writes() -> None:
    from tests.deploy.manifests import chart, one

    sa = "gitpod-requirements-node"
    plain = authorizer(tuple(chart(None)), sa).grants
    assert not any(set(g.verbs) & WRITE_VERBS for g in plain), plain
    objects = tuple(chart({"node": {"nodeCondition": {"enabled": True, "heartbeat": "2m"}}}))
    writes = sorted((g.namespace, g.verbs, g.resources) for g in authorizer(objects, sa).grants
                    if set(g.verbs) & WRITE_VERBS)  # fmt: skip
    assert writes == [("", ("patch",), ("nodes/status",)), ("default", ("create",), ("events",))]
    args = one(objects, "DaemonSet", sa)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--node-condition" in args and "--node-condition-heartbeat=2m" in args
