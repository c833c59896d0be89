"""The metric contract: every family the exporter defines, declared once (docs/metrics.md's
table is tested against this module), and the Sample a check's Result carries, which refers to
its family. What checks import; the engine that renders them is exporter/exposition.py, which
checks never import."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A family: its name, help text and label names (the node role adds `node`); a gauge
    unless `kind` says counter or histogram."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    kind: str = "gauge"  # gauge | counter | histogram

    def sample(self, value: float, *label_values: str) -> Sample:
        """One observed value of this family, for a check's Result."""
        if len(label_values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {label_values}")
        if self.kind == "histogram":
            raise ValueError(f"{self.name} is a histogram: use histogram()")
        return Sample(self, value, tuple(zip(self.labels, label_values, strict=True)))

    def histogram(
        self, buckets: tuple[tuple[str, float], ...], total: float, *label_values: str
    ) -> Sample:
        """A histogram's state: cumulative counts by upper bound ("+Inf" last) and the sum."""
        if self.kind != "histogram" or not buckets or buckets[-1][0] != "+Inf":
            raise ValueError(f"{self.name}: not a histogram, or no +Inf bucket")
        labels = tuple(zip(self.labels, label_values, strict=True))
        return Sample(self, total, labels, buckets)


@dataclass(frozen=True)
class Sample:
    """One observed value of a family: a gauge's value, a counter's total (kept by the check
    across its runs), or a histogram's sum with `buckets` its cumulative counts by upper
    bound, +Inf last (the count)."""

    family: Family
    value: float
    labels: tuple[tuple[str, str], ...] = ()
    buckets: tuple[tuple[str, float], ...] = ()

    @property
    def name(self) -> str:
        return self.family.name

    @property
    def documentation(self) -> str:
        return self.family.documentation

    @property
    def kind(self) -> str:
        return self.family.kind


# --- Every requirement: the catalogue and the state of its check ---------------------------
REQUIREMENT_INFO = Family(
    "gitpod_requirement_info",
    "The requirement catalogue: one series per requirement, value 1.",
    ("requirement", "title", "scope", "doc_url"),
)
REQUIREMENT_SATISFIED = Family(
    "gitpod_requirement_satisfied",
    "1 if the requirement is met, 0 if not; absent while unknown (error or skipped).",
    ("requirement", "severity"),
)
REQUIREMENT_CHECK_UP = Family(
    "gitpod_requirement_check_up",
    "1 if the check reached a verdict, 0 if it errored or timed out.",
    ("requirement",),
)
REQUIREMENT_CONFIGURED = Family(
    "gitpod_requirement_configured",
    "1 if the check is configured and running, 0 if skipped.",
    ("requirement",),
)
REQUIREMENT_CHECK_DURATION = Family(
    "gitpod_requirement_check_duration_seconds",
    "Duration of the last run of the check.",
    ("requirement",),
)
REQUIREMENT_LAST_CHECK = Family(
    "gitpod_requirement_last_check_timestamp_seconds",
    "Unix time at which the last run of the check ended.",
    ("requirement",),
)
REQUIREMENT_CHECK_INTERVAL = Family(
    "gitpod_requirement_check_interval_seconds",
    "The configured interval between runs of the check.",
    ("requirement",),
)
REQUIREMENT_REASON_INFO = Family(
    "gitpod_requirement_reason_info",
    "Why the requirement is not met or not checked, as a short enum; value 1.",
    ("requirement", "reason"),
)

# --- The exporter itself ---------------------------------------------------------------
BUILD_INFO = Family("gitpod_exporter_build_info", "The exporter's version; value 1.", ("version",))
CONFIG_RELOAD_SUCCESSFUL = Family(
    "gitpod_exporter_config_last_reload_successful",
    "1 if the last config (re)load succeeded, 0 if it failed.",
)
CONFIG_RELOAD_SUCCESS_TIMESTAMP = Family(
    "gitpod_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful config (re)load.",
)

ABANDONED_THREADS = Family(
    "gitpod_exporter_abandoned_threads",
    "Pool threads still running a dependency call whose check already timed out.",
)

# --- The cluster role's node cache (exporter/nodewatch.py) -------------------------------
KUBERNETES_WATCH_UP = Family(
    "gitpod_kubernetes_watch_up",
    "1 while the cluster role's cache of a resource follows a watch; 0 while it relists.",
    ("resource",),
)
KUBERNETES_CACHE_OBJECTS = Family(
    "gitpod_kubernetes_cache_objects",
    "Objects of a resource in the cluster role's cache.",
    ("resource",),
)
KUBERNETES_RELISTS = Family(
    "gitpod_kubernetes_relists_total",
    "Full LISTs of a resource after the first (410 Gone, a lost watch, relisting instead).",
    ("resource",),
)
KUBERNETES_WATCH_EVENTS = Family(
    "gitpod_kubernetes_watch_events_total",
    "Watch events received for a resource, bookmarks included.",
    ("resource",),
)
KUBERNETES_CACHE_LAST_SYNC = Family(
    "gitpod_kubernetes_cache_last_sync_timestamp_seconds",
    "Unix time of the last LIST or watch event that brought a resource's cache up to date.",
    ("resource",),
)

# --- Observed values: every family a check's Samples may carry (docs/metrics.md) ---
COMPATIBILITY_INFO = Family(
    "gitpod_compatibility_info",
    "What a component was seen as, judged against a release of Gitpod's compatibility matrix; "
    "value 1.",
    ("component", "observed", "release"),
)
CERT_MANAGER_CERTIFICATES_NOT_READY = Family(
    "gitpod_cert_manager_certificates_not_ready",
    "Configured Certificates that are not Ready.",
    (),
)
CERT_MANAGER_DEPLOYMENTS_AVAILABLE = Family(
    "gitpod_cert_manager_deployments_available",
    "cert-manager Deployments that are Available.",
    (),
)
CERT_MANAGER_ISSUERS_READY = Family(
    "gitpod_cert_manager_issuers_ready",
    "Ready Issuers and ClusterIssuers.",
    (),
)
CLUSTER_DEFAULT_STORAGE_CLASSES = Family(
    "gitpod_cluster_default_storage_classes",
    "StorageClasses marked as default.",
    (),
)
CLUSTER_DISTRIBUTION_INFO = Family(
    "gitpod_cluster_distribution_info",
    "The detected Kubernetes distribution.",
    ("distribution",),
)
CLUSTER_WORKLOAD_ADMITTED = Family(
    "gitpod_cluster_workload_admitted",
    "1 if admission let the dry-run of the Gitpod workload shape in, 0 if it refused it.",
    ("shape",),
)
CLUSTER_GITPOD_NODES = Family(
    "gitpod_cluster_gitpod_nodes",
    "Nodes carrying a Gitpod workload label.",
    (),
)
CLUSTER_KUBELET_UNSUPPORTED_NODES = Family(
    "gitpod_cluster_kubelet_unsupported_nodes",
    "Nodes whose kubelet version is outside the supported range.",
    (),
)
CLUSTER_LOADBALANCER_CONNECT_DURATION_SECONDS = Family(
    "gitpod_cluster_loadbalancer_connect_duration_seconds",
    "TCP connect time to a LoadBalancer address.",
    ("service", "port"),
)
CLUSTER_LOADBALANCER_SERVICES = Family(
    "gitpod_cluster_loadbalancer_services",
    "LoadBalancer Services by state.",
    ("state",),
)
CLUSTER_NODE_POOLS_SHARED_NODES = Family(
    "gitpod_cluster_node_pools_shared_nodes",
    "Nodes that carry labels of both sides of a recommended pool split.",
    ("split",),
)
NODE_CONTAINERD_CRI_INFO = Family(
    "gitpod_node_containerd_cri_info",
    "containerd's effective CRI config as its verbose Status reports it (value 1): the "
    "snapshotter and the registry config_path (where per-registry certificates are read).",
    ("snapshotter", "config_path"),
)
NODE_MAX_USER_NAMESPACES = Family(
    "gitpod_node_max_user_namespaces",
    "user.max_user_namespaces: how many user namespaces the kernel lets be created (0: none).",
)
NODE_KERNEL_FEATURES_MISSING = Family(
    "gitpod_node_kernel_features_missing",
    "Kernel features workspaces need (veth, nf_tables, nft_chain_nat, nft_nat, nft_masq, overlay) "
    "that "
    "are neither loaded, built in nor loadable.",
)
NODE_FILESYSTEM_FREE_BYTES = Family(
    "gitpod_node_filesystem_free_bytes",
    "Bytes free (to unprivileged users) on the filesystem holding `path`: ws-daemon's "
    "workspace location and containerd's root (node_workspace_disk).",
    ("path",),
)
NODE_FILESYSTEM_FREE_INODES = Family(
    "gitpod_node_filesystem_free_inodes",
    "Inodes free (to unprivileged users) on the filesystem holding `path` (node_workspace_disk); "
    "absent for a filesystem without a fixed inode count.",
    ("path",),
)
NODE_CGROUP_VERSION = Family(
    "gitpod_node_cgroup_version",
    "The cgroup version the node runs: 2 (unified hierarchy) or 1.",
)
NODE_CONDITION_UPDATES = Family(
    "gitpod_node_condition_updates_total",
    "Writes of the GitpodRequirementsMet Node condition and its Events (serve --node-condition),"
    " by result (ok, error).",
    ("result",),
    kind="counter",
)
NODE_PEERS = Family(
    "gitpod_node_peers",
    "Node-role pods on other nodes this node knows from its Service's EndpointSlices.",
)
NODE_PEER_PROBES = Family(
    "gitpod_node_peer_probes_total",
    "Probes of peers' /healthz over the pod network by this node, by result (success, "
    "timeout, refused, error); at most `peers` a round.",
    ("result",),
    kind="counter",
)
NODE_PEER_RTT = Family(
    "gitpod_node_peer_rtt_seconds",
    "Round trip of the successful peer probes (connect, request, status line); no per-peer "
    "labels, so the series do not grow with the cluster.",
    kind="histogram",
)
NODE_PEER_UNREACHABLE = Family(
    "gitpod_node_peer_unreachable",
    "A peer this node failed to reach twice in a row (value 1), by the peer's node; at most "
    "`peers` of them.",
    ("peer_node",),
)
CLUSTER_NETWORK_PATHS = Family(
    "gitpod_cluster_network_paths",
    "Gitpod's traffic flows judged under the cluster's NetworkPolicies, by result (allowed, "
    "blocked); a fixed list, so the series do not grow.",
    ("result",),
)
CLUSTER_NETWORK_PATH_BLOCKED = Family(
    "gitpod_cluster_network_path_blocked",
    "A flow Gitpod needs that NetworkPolicies block (value 1), as source -> destination:port/"
    "protocol: the first max_listed, so alerts can name them and the series stay bounded.",
    ("flow",),
)
CLUSTER_WORKSPACE_NODES = Family(
    "gitpod_cluster_workspace_nodes",
    "Workspace nodes judged by cluster_workspace_daemons: Ready, schedulable, past the grace "
    "period.",
)
CLUSTER_WORKSPACE_NODES_READY = Family(
    "gitpod_cluster_workspace_nodes_ready",
    "Judged workspace nodes that carry the daemon's ready label for the Gitpod namespace.",
    ("daemon",),
)
CLUSTER_WORKSPACE_NODE_NOT_READY = Family(
    "gitpod_cluster_workspace_node_not_ready",
    "A judged workspace node without the daemon's ready label (value 1): the first "
    "max_listed per daemon, so alerts can name them and the series stay bounded.",
    ("daemon", "node"),
)
CLUSTER_NODES = Family(
    "gitpod_cluster_nodes",
    "Ready, schedulable nodes carrying the Gitpod label.",
    ("label",),
)
CLUSTER_NODES_FAILING = Family(
    "gitpod_cluster_nodes_failing",
    "Gitpod-labelled nodes failing a node requirement, by reason.",
    ("reason",),
)
DATABASE_LATENCY_SECONDS = Family(
    "gitpod_database_latency_seconds",
    "Connect, authenticate and two queries, end to end.",
    (),
)
DATABASE_VERSION_INFO = Family(
    "gitpod_database_version_info",
    "The database server's version and flavor (mysql or mariadb).",
    ("version", "flavor"),
)
DNS_RESOLUTION_DURATION_SECONDS = Family(
    "gitpod_dns_resolution_duration_seconds",
    "Time to resolve the name.",
    ("name",),
)
INSTALLATION_INFO = Family(
    "gitpod_installation_info",
    "The Gitpod installation as its config states it; value 1.",
    ("domain", "kind", "source"),
)
KUBERNETES_VERSION_INFO = Family(
    "gitpod_kubernetes_version_info",
    "The API server's version (gitVersion).",
    ("git_version",),
)
NODE_CNI_INFO = Family(
    "gitpod_node_cni_info",
    "The node's active CNI network (first valid config in the CNI directory).",
    ("network", "type"),
)
NODE_CONTAINERD_INFO = Family(
    "gitpod_node_containerd_info",
    "containerd's version as its Version API reports it.",
    ("version",),
)
NODE_CONTAINERD_RPC_DURATION_SECONDS = Family(
    "gitpod_node_containerd_rpc_duration_seconds",
    "Duration of the last containerd Version API call.",
    (),
)
NODE_CPUS = Family(
    "gitpod_node_cpus",
    "Online CPUs of the node.",
    (),
)
NODE_EFFECTIVE_CAPABILITIES = Family(
    "gitpod_node_effective_capabilities",
    "Number of effective capabilities of the exporter's own process.",
    (),
)
NODE_KERNEL_INFO = Family(
    "gitpod_node_kernel_info",
    "The node's kernel release.",
    ("release",),
)
NODE_MEMORY_BYTES = Family(
    "gitpod_node_memory_bytes",
    "MemTotal of the node in bytes.",
    (),
)
NODE_OS_INFO = Family(
    "gitpod_node_os_info",
    "The node's operating system from os-release (ID, VERSION_ID).",
    ("id", "version_id"),
)
NODE_WORKLOAD_LABELS = Family(
    "gitpod_node_workload_labels",
    "Number of configured gitpod.io/workload_* labels this node carries.",
    (),
)
REGISTRY_LATENCY_SECONDS = Family(
    "gitpod_registry_latency_seconds",
    "GET /v2/ including authentication.",
    (),
)
SCM_LATENCY_SECONDS = Family(
    "gitpod_scm_latency_seconds",
    "Latency of the SCM API request.",
    ("provider",),
)
SCM_UP = Family(
    "gitpod_scm_up",
    "1 if the SCM's API answered.",
    ("provider",),
)
STORAGE_LATENCY_SECONDS = Family(
    "gitpod_storage_latency_seconds",
    "Latency of each storage operation of the last run.",
    ("operation",),
)
TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS = Family(
    "gitpod_tls_certificate_expiry_timestamp_seconds",
    "When the certificate for the name expires (Unix time); source: endpoint (as served) or "
    "secret (the installation's https certificate Secret).",
    ("host", "source"),
)


def families() -> dict[str, Family]:
    """Every family declared above, by metric name."""
    return {f.name: f for f in globals().values() if isinstance(f, Family)}
