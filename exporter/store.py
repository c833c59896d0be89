"""The last Record of each requirement. Written by the scheduler, read by every view."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from exporter.model import Record, Requirement


class Store:
    def __init__(self, requirements: Iterable[Requirement]) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(requirements)
        self._records: Mapping[str, Record] = MappingProxyType({})
        # Bumped by every change: what is rendered from the store is rendered once per version.
        self.version = 0

    def put(self, record: Record) -> None:
        # Copy-on-write: a reader holding a snapshot never sees a half-updated mapping.
        updated = dict(self._records)
        updated[record.requirement.id] = record
        self._records = MappingProxyType(updated)
        self.version += 1

    def snapshot(self) -> Mapping[str, Record]:
        return self._records

    def set_requirements(self, requirements: Iterable[Requirement]) -> None:
        """After a reload: keep the records of requirements that remain, drop the others."""
        self.requirements = tuple(requirements)
        keep = {r.id for r in self.requirements}
        self._records = MappingProxyType({k: v for k, v in self._records.items() if k in keep})
        self.version += 1

    def replace(self, old: Iterable[Requirement], new: Iterable[Requirement]) -> None:
        """A check's requirement set changed (the Gitpod config now references other Secrets):
        the new set takes the old one's place in the catalogue; records of gone ones go."""
        old_ids = [r.id for r in old]
        new = tuple(new)
        reqs = list(self.requirements)
        at = next((i for i, r in enumerate(reqs) if r.id in old_ids), len(reqs))
        kept = [r for r in reqs if r.id not in old_ids]
        at = min(at, len(kept))
        self.requirements = (*kept[:at], *new, *kept[at:])
        keep = {r.id for r in self.requirements}
        self._records = MappingProxyType({k: v for k, v in self._records.items() if k in keep})
        self.version += 1

    @property
    def ready(self) -> bool:
        """Every requirement has had its first verdict (or its skip)."""
        records = self._records
        return all(r.id in records for r in self.requirements)
