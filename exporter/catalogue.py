"""Where the requirements are documented, shared by every check's Requirement."""

GITPOD_REQUIREMENTS_DOC = "https://www.gitpod.io/docs/configure/self-hosted/latest/requirements"

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
