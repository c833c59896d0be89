"""No label takes unbounded values: 1,000 distinct node names, kubelet versions, kernels and OS
images leave the number of series exactly where 3 nodes put it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import generate_latest

from exporter.compat import load as load_matrix
from exporter.config import Config
from exporter.exposition import make_registry
from exporter.runtime import Loaded, Options, build
from exporter.scheduler import run_job
from exporter.store import Store
from tests import clusters
from tests.gitpod_install import config, install, provider, ref
from tests.servers.kube_fake import FakeKube, node, running


def series_after_one_round(fake: FakeKube, tmp_path: Path) -> list[str]:
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    options = Options("cluster", Path("/"), str(kc))
    config = Config()

    async def round_() -> Store:
        with ThreadPoolExecutor(4) as pool:
            jobs = build(options, Loaded(config, load_matrix()), pool).jobs
            runs = await asyncio.gather(*(run_job(j) for j in jobs))
            # What the round judged, requirements learnt from the installation included (as
            # the scheduler puts them in the store).
            store = Store(r.requirement for records in runs for r in records)
            for records in runs:
                for r in records:
                    store.put(r)
            return store

    text = generate_latest(make_registry(asyncio.run(round_()))).decode()
    return [
        line.split(" ")[0]
        for line in text.splitlines()
        if line.startswith("gitpod_") and not line.startswith("#")
    ]


def cluster(n: int) -> FakeKube:
    fake = FakeKube()
    clusters.components(fake)
    for i in range(n):
        name = f"pool-{i % 7}-node-{i:04d}-{i * 7919 % 10007:05d}"
        fake.nodes[name] = node(
            name,
            clusters.ALL_LABELS,
            kubelet=f"v1.{20 + i % 9}.{i}",
            kernel=f"5.{i % 20}.0-{i}-generic",
            os_image=["Ubuntu 22.04.3 LTS", f"Distro {i}", "Amazon Linux 2"][i % 3],
            runtime=["containerd://1.7.2", f"docker://20.10.{i}", "cri-o://1.2"][i % 3],
            cpu=str(1 + i % 8),
            memory=f"{4_000_000 + i}Ki",
        )
    return fake


def test_series_do_not_grow_with_nodes_versions_or_names(tmp_path: Path) -> None:
    with running(cluster(3)) as small:
        few = series_after_one_round(small, tmp_path)
    with running(cluster(1000)) as big:
        many = series_after_one_round(big, tmp_path)
    assert len(many) == len(few), sorted(set(many) ^ set(few))
    text = "\n".join(many)
    assert "pool-" not in text and "generic" not in text  # no node names or kernels in labels
    assert len(many) < 300  # ~30 requirements x 8 series each, plus observed values


def _installation_with_providers(n: int) -> FakeKube:
    fake = cluster(3)
    names = [f"scm-{i:04d}" for i in range(n)]
    # GitLab on a closed local port: probed providers fail fast, and nothing leaves 127.0.0.1.
    secrets = {n: {"provider": provider("127.0.0.1:1").replace("corp-gitlab", n)} for n in names}
    install(fake, config(authProviders=[ref(name) for name in names]), secrets)
    return fake


def test_series_do_not_grow_with_the_installations_secrets_and_providers(tmp_path: Path):
    # 2,000 auth providers: 2,000 Secrets and 2,000 SCMs. Judged up to 50 each, the rest named.
    with running(_installation_with_providers(60)) as some:
        over = series_after_one_round(some, tmp_path)
    with running(_installation_with_providers(2000)) as huge:
        text = series_after_one_round(huge, tmp_path)
    assert len(text) == len(over), sorted(set(text) ^ set(over))
    secrets = {s for s in text if s.startswith("gitpod_requirement_info{")
               and "cluster_gitpod_secret:" in s}  # fmt: skip
    assert len(secrets) == 51  # 50 Secrets and the one that names the rest
    assert len("\n".join(text)) < 200_000
