"""What Gitpod itself defines, shared by the checks: where its requirements are documented,
the node labels its workloads select on, and which of them an installation kind needs."""

GITPOD_REQUIREMENTS_DOC = "https://www.gitpod.io/docs/configure/self-hosted/latest/requirements"
COMPATIBILITY_DOC = (
    "https://www.gitpod.io/docs/configure/self-hosted/latest/reference/product-compatibility-matrix"
)

# The node labels Gitpod's workloads select on (each with the value "true").
WORKLOAD_META = "gitpod.io/workload_meta"
WORKLOAD_IDE = "gitpod.io/workload_ide"
WORKLOAD_WORKSPACE_SERVICES = "gitpod.io/workload_workspace_services"
WORKLOAD_WORKSPACE_REGULAR = "gitpod.io/workload_workspace_regular"
WORKLOAD_WORKSPACE_HEADLESS = "gitpod.io/workload_workspace_headless"
WORKLOAD_SERVICES = "gitpod.io/workload_services"  # later Gitpod releases
SEED_LABELS = [
    WORKLOAD_META,
    WORKLOAD_IDE,
    WORKLOAD_WORKSPACE_SERVICES,
    WORKLOAD_WORKSPACE_REGULAR,
    WORKLOAD_WORKSPACE_HEADLESS,
]
GITPOD_LABEL_PREFIX = "gitpod.io/workload_"
# A workspace node: ws-manager's affinity asks only that one of these exists.
WORKSPACE_LABELS = (WORKLOAD_WORKSPACE_REGULAR, WORKLOAD_WORKSPACE_HEADLESS)


def ready_label(daemon: str, namespace: str) -> str:
    """The node label a daemon's readiness sidecar sets while it serves an installation
    (ws-daemon, registry-facade); workspaces are scheduled by it."""
    return f"gitpod.io/{daemon}_ready_ns_{namespace}"


# What an installer config's `kind` asks of the cluster: the labels its workloads select on.
KINDS = ("Full", "Meta", "Workspace")
LABELS_BY_KIND = {
    "Meta": [WORKLOAD_META, WORKLOAD_IDE],
    "Workspace": [
        WORKLOAD_WORKSPACE_SERVICES,
        WORKLOAD_WORKSPACE_REGULAR,
        WORKLOAD_WORKSPACE_HEADLESS,
    ],
}


def labels_for_kind(kind: str) -> list[str]:
    """Full, and anything the installer does not know, needs all five."""
    return list(LABELS_BY_KIND.get(kind, SEED_LABELS))
