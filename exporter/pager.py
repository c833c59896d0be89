"""Kubernetes list pagination, once for every list the exporter makes: `limit` and `continue`,
and an expired continue token (410 Gone) restarting the list once from the beginning, as
client-go's pager does. The caller makes the requests (async in the checks, in a thread in
the node cache); the pager says what to ask next and when to start over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from exporter.model import KubeError


class Pager:
    def __init__(self, page_size: int, query: Mapping[str, str] | None = None) -> None:
        self.page_size = page_size
        self.query = dict(query or {})
        self.attempt = 1
        self._token = ""
        self._done = False

    def next(self) -> dict[str, str] | None:
        """The query of the next page, or None when the list is complete."""
        if self._done:
            return None
        params = {**self.query, "limit": str(self.page_size)}
        if self._token:
            params["continue"] = self._token
        return params

    def took(self, page: Mapping[str, Any]) -> None:
        """A page arrived: where the next one starts, if any."""
        self._token = str((page.get("metadata") or {}).get("continue") or "")
        self._done = not self._token

    async def collect(
        self,
        get: Callable[[dict[str, str]], Awaitable[Mapping[str, Any]]],
        convert: Callable[[Any], Any] | None = None,
    ) -> list[Any]:
        """Every item of the list, `get` fetching each page's query (the cluster role's Kube
        and the node role's NodeApi alike), each through `convert` if given."""
        items: list[Any] = []
        while (params := self.next()) is not None:
            try:
                page = await get(params)
            except KubeError as exc:
                self.failed(exc)
                items.clear()
                continue
            found = page.get("items")
            found = found if isinstance(found, list) else []
            items.extend(map(convert, found) if convert else found)
            self.took(page)
        return items

    def failed(self, exc: KubeError) -> None:
        """A page's request failed: re-raise, unless the continue token expired on the first
        pass; then the list starts over and what the caller collected is to be dropped."""
        if exc.status != 410 or self.attempt == 2:
            raise exc
        self.attempt, self._token, self._done = 2, "", False
