"""The navigation registry: each area registers its entries with the action they need, and the
base layout shows a user only the entries their roles allow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import url_for

from models.permissions import Principal, may_ever


@dataclass(frozen=True)
class NavEntry:
    label: Callable[[], str] | str  # lazy, so it is translated per request
    endpoint: str
    action: str
    order: int = 50
    badge: Callable[[Principal], int] | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        return self.label() if callable(self.label) else str(self.label)

    @property
    def url(self) -> str:
        return url_for(self.endpoint)


_ENTRIES: list[NavEntry] = []


def register(label: Callable[[], str] | str, endpoint: str, action: str, order: int = 50,
             badge: Callable[[Principal], int] | None = None) -> None:
    """Add a navigation entry (called at import time by each area's routes module)."""
    if any(e.endpoint == endpoint for e in _ENTRIES):
        return
    _ENTRIES.append(NavEntry(label, endpoint, action, order, badge))
    _ENTRIES.sort(key=lambda e: (e.order, e.endpoint))


def entries_for(principal: Principal | None) -> list[NavEntry]:
    if principal is None:
        return []
    return [e for e in _ENTRIES if may_ever(principal, e.action)]


def active_endpoint(entries: list[NavEntry], endpoint: str | None, blueprint: str | None) -> str | None:
    """The entry to highlight: the page's own, else the first entry of the page's area."""
    if endpoint is None:
        return None
    for entry in entries:
        if entry.endpoint == endpoint:
            return entry.endpoint
    for entry in entries:
        if blueprint and entry.endpoint.startswith(blueprint + "."):
            return entry.endpoint
    return None
