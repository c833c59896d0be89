"""No label takes unbounded values: 1,000 distinct node names, kubelet versions, kernels and OS
images leave the number of series exactly where 3 nodes put it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import generate_latest

from exporter.config import Config
from exporter.metrics import make_registry
from exporter.runtime import Options, make_jobs, make_kube, requirements
from exporter.scheduler import run_job
from exporter.store import Store
from tests import clusters
from tests.servers.kube_fake import FakeKube, node, running


def series_after_one_round(fake: FakeKube, tmp_path: Path) -> list[str]:
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    options = Options("cluster", Path("/"), str(kc))
    config = Config()

    async def round_() -> Store:
        with ThreadPoolExecutor(4) as pool:
            jobs = make_jobs(options, config, pool, make_kube(options, config, pool))
            store = Store(requirements(jobs))
            for records in await asyncio.gather(*(run_job(j) for j in jobs)):
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
