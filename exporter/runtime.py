"""Turns a role and a Config into jobs: the one place contexts are built, for serve and check."""

from __future__ import annotations

import os
import socket
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from exporter import compat
from exporter.checks import ROLES
from exporter.config import Config
from exporter.context import CheckContext
from exporter.installation import Installation
from exporter.kube import Kube
from exporter.model import Requirement
from exporter.node_identity import NodeApi, NodeIdentity
from exporter.nodecache import NodeCache
from exporter.scheduler import Job

NODE_INSTALLATION_TTL = 600.0


@dataclass(frozen=True)
class Options:
    role: str
    host_root: Path
    kubeconfig: str | None
    gitpod_config: str | None = None  # the installer config file, before install


def node_name(config: Config) -> str:
    """NODE_NAME from the downward API, else the config's node_name."""
    return os.environ.get("NODE_NAME") or config.node_name


def node_label(config: Config) -> str:
    """The `node` label of the node role's series: its node name, else the hostname."""
    return node_name(config) or socket.gethostname()


def make_kube(options: Options, config: Config, pool: Executor) -> Kube | None:
    """The cluster role's shared API access (the node role has its own single GET)."""
    if options.role != "cluster":
        return None
    k = config.kubernetes
    return Kube(pool, options.kubeconfig, k.context, k.page_size, k.node_cache_ttl)


def make_jobs(
    options: Options,
    config: Config,
    pool: Executor,
    kube: Kube | None = None,
    node_cache: NodeCache | None = None,
) -> list[Job]:
    if kube is not None and node_cache is None:
        node_cache = NodeCache(kube)
    installation = None
    if options.role == "cluster":
        installation = Installation(
            config.gitpod,
            kube,
            config.kubernetes.namespace,
            pool,
            options.gitpod_config,
            compat.load(config.compatibility.file),  # validated at start-up (cli, reload)
        )
    else:
        # The node role reads the installer config too (what the workspace checks derive
        # their paths and methods from), with its one small client, once per 10 minutes.
        api = NodeApi(pool, options.kubeconfig, config.kubernetes.context, NODE_INSTALLATION_TTL)
        installation = Installation(
            config.gitpod,
            api,
            config.kubernetes.namespace,
            pool,
            options.gitpod_config,
            compat.load(config.compatibility.file),  # node_cgroup: the release's versions
        )
    identity = NodeIdentity() if options.role == "node" else None
    jobs = []
    for check in ROLES[options.role]:
        ctx = CheckContext(
            settings=config.for_check(check.id, check.settings),
            host_root=options.host_root,
            pool=pool,
            node_name=node_name(config),
            kubeconfig=options.kubeconfig,
            kube_context=config.kubernetes.context,
            api=kube,
            node_cache=node_cache,
            namespace=config.kubernetes.namespace,
            installation=installation,
            explicit=config.explicit.get(check.id, frozenset()),
            identity=identity,
        )
        jobs.append(Job(check, ctx))
    return jobs


def requirements(jobs: list[Job]) -> list[Requirement]:
    return [req for job in jobs for req in job.requirements]
