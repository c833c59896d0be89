"""cluster_storage_class: exactly one default StorageClass, for the volumes of the in-cluster
MySQL, MinIO and registry."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_storage_class",
    title="Exactly one default StorageClass",
    severity=Severity.WARNING,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Mark one StorageClass as default: kubectl annotate storageclass NAME "
    "storageclass.kubernetes.io/is-default-class=true (and remove the mark from others).",
)
DEFAULT_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    pass


async def run(ctx: CheckContext[Settings]) -> Result:
    classes = await ctx.kube.list_all(
        "/apis/storage.k8s.io/v1/storageclasses", ctx.settings.timeout
    )
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if any(
            (c["metadata"].get("annotations") or {}).get(a) == "true" for a in DEFAULT_ANNOTATIONS
        )
    ]
    sample = families.CLUSTER_DEFAULT_STORAGE_CLASSES.sample(float(len(defaults)))
    if len(defaults) == 1:
        return Result.passed(defaults[0], sample)
    if not defaults:
        return Result.failed(
            Reason.MISSING,
            "none",
            f"none of {len(classes)} StorageClass(es) is marked default",
            sample,
        )
    return Result.failed(
        Reason.OVERLAP,
        ", ".join(defaults),
        f"{len(defaults)} StorageClasses are marked default",
        sample,
    )


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
