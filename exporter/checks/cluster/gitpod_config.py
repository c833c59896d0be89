"""cluster_gitpod_config: the Gitpod installation's own config is there and sound: found (the
ConfigMap, or the installer's file before install), parses, names a fully qualified domain
and a known kind, and every Secret reference has a name. It is re-read at every run."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import (
    CheckError,
    Reason,
    Requirement,
    Result,
    Scope,
    Severity,
)
from exporter.parse import ParseError

REQUIREMENT = Requirement(
    id="cluster_gitpod_config",
    title="The Gitpod installer config is found, parses and is valid",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Fix the installer config (gitpod-installer validate config --config FILE) and "
    "re-render; in a cluster, check ConfigMap gitpod key config.yaml in the Gitpod namespace.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    pass


async def run(ctx: CheckContext[Settings]) -> Result:
    try:
        loaded = await ctx.gitpod.config(ctx.settings.timeout, fresh=True)
    except ParseError as exc:
        return Result.failed(Reason.PARSE, "unparsable", str(exc))
    except CheckError as exc:
        if exc.reason is not Reason.NOT_FOUND:
            raise  # forbidden, API trouble: no verdict
        return Result.failed(Reason.NOT_FOUND, "absent", exc.detail)
    cfg = loaded.config
    source = "file" if loaded.origin.startswith("file") else "configmap"
    sample = families.INSTALLATION_INFO.sample(1.0, cfg.domain, cfg.kind, source)
    observed = f"{cfg.kind} {cfg.domain or '(no domain)'}"
    if cfg.problems:
        return Result.failed(
            Reason.INVALID, observed, f"{loaded.origin}: {'; '.join(cfg.problems)}", sample
        )
    refs = len(cfg.secrets)
    return Result.passed(observed, sample, detail=f"{loaded.origin}; {refs} Secret(s) referenced")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
