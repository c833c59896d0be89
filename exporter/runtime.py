"""What a role runs on, built in one place for `check`, `serve` and a reload alike: the config
and the compatibility matrix loaded and validated once, the role's API client, node cache and
installation, and one job per check."""

from __future__ import annotations

import os
import socket
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from exporter import compat
from exporter.checks import ROLES, settings_types
from exporter.compat import Matrix
from exporter.config import Config, load_file
from exporter.context import CheckContext
from exporter.installation import Installation
from exporter.kube import Kube
from exporter.model import Requirement
from exporter.nodeapi import INSTALLATION_TTL, NodeApi
from exporter.nodecache import NodeCache
from exporter.scheduler import Job


@dataclass(frozen=True)
class Options:
    role: str
    host_root: Path
    kubeconfig: str | None
    gitpod_config: str | None = None  # the installer config file, before install
    # serve --node-condition: keep GitpodRequirementsMet on this node (node role only).
    node_condition: bool = False
    node_condition_heartbeat: float = 300.0


@dataclass(frozen=True)
class Loaded:
    """A config file and the compatibility matrix it names, both validated."""

    config: Config
    matrix: Matrix


def load(path: str | None) -> Loaded:
    """The config file (None: the defaults) and its matrix; ConfigError naming the field."""
    config = load_file(path, settings_types())
    return Loaded(config, compat.load(config.compatibility.file))


@dataclass(frozen=True)
class Runtime:
    jobs: list[Job]
    # The cluster role's API access and node cache (None in the node role).
    kube: Kube | None
    node_cache: NodeCache | None
    api: Kube | NodeApi  # the role's API client

    @property
    def requirements(self) -> list[Requirement]:
        return [req for job in self.jobs for req in job.requirements]


def node_name(config: Config) -> str:
    """NODE_NAME from the downward API, else the config's node_name."""
    return os.environ.get("NODE_NAME") or config.node_name


def node_label(config: Config) -> str:
    """The `node` label of the node role's series: its node name, else the hostname."""
    return node_name(config) or socket.gethostname()


def build(options: Options, loaded: Loaded, pool: Executor) -> Runtime:
    config, k = loaded.config, loaded.config.kubernetes
    kube: Kube | None = None
    node_cache: NodeCache | None = None
    api: Kube | NodeApi
    if options.role == "cluster":
        kube = api = Kube(pool, options.kubeconfig, k.context, k.page_size, k.node_cache_ttl)
        node_cache = NodeCache(kube)
    else:
        # The node role's one small client: this node's labels, the EndpointSlices of its
        # peers, and the installer config the workspace checks derive from (every 10 minutes).
        api = NodeApi(pool, options.kubeconfig, k.context, INSTALLATION_TTL)
    installation = Installation(
        config.gitpod, api, k.namespace, pool, options.gitpod_config, loaded.matrix
    )
    jobs = [
        Job(
            check,
            CheckContext(
                settings=config.for_check(check.id, check.settings),
                host_root=options.host_root,
                pool=pool,
                node_name=node_name(config),
                api=api,
                node_cache=node_cache,
                namespace=k.namespace,
                installation=installation,
                explicit=config.explicit.get(check.id, frozenset()),
            ),
        )
        for check in ROLES[options.role]
    ]
    return Runtime(jobs, kube, node_cache, api)
