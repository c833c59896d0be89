"""Where the requirements are documented, shared by every check's Requirement."""

GITPOD_REQUIREMENTS_DOC = "https://www.gitpod.io/docs/configure/self-hosted/latest/requirements"
RUNBOOK = "https://github.com/gitpod-io/gitpod-requirements-exporter/blob/main/docs/runbook.md"


def runbook(requirement_id: str) -> str:
    return f"{RUNBOOK}#{requirement_id.replace('_', '-')}"
