"""A member's catalogue as the self-evaluation page shows it: dimension → item → content →
standard, for their unit kind (common part + own part), and the search over it.

Published catalogue versions never change, so the built tree is kept in memory per version and
unit kind (keyed by the version's fingerprint, like the scoring rules).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalogue import HONOUR_LEVELS, CatalogueStatus, CatalogueVersion
from workflows.catalogue.versions import load_tree

# Words a member may type to find a kind of standard, whatever the interface language.
_KIND_WORDS = {"bonus": "加分 加分项 bonus", "deduction": "扣分 扣分项 deduction"}


@dataclass(frozen=True)
class StandardNode:
    id: int
    code: str
    text: str
    kind: str
    points: Decimal
    max_occurrences: int | None
    honour_category: str | None
    honour_level: int | None
    evidence_required: bool
    search: str  # lower-case text of the standard and everything above it

    @property
    def honour_level_name(self) -> str | None:
        return HONOUR_LEVELS.get(self.honour_level) if self.honour_level is not None else None


@dataclass(frozen=True)
class ContentNode:
    id: int
    code: str
    text: str
    standards: tuple[StandardNode, ...]


@dataclass(frozen=True)
class ItemNode:
    id: int
    code: str
    name: str
    kind: str
    baseline: Decimal
    basis: str | None
    contents: tuple[ContentNode, ...]

    @property
    def standard_count(self) -> int:
        return sum(len(c.standards) for c in self.contents)


@dataclass(frozen=True)
class DimensionNode:
    id: int
    code: str
    name: str
    items: tuple[ItemNode, ...]

    @property
    def standard_count(self) -> int:
        return sum(i.standard_count for i in self.items)


@dataclass(frozen=True)
class Path:
    dimension: DimensionNode
    item: ItemNode
    content: ContentNode
    standard: StandardNode


@dataclass(frozen=True)
class Tree:
    version_id: int
    dimensions: tuple[DimensionNode, ...]
    paths: dict[int, Path]  # standard id -> where it sits

    @property
    def standard_count(self) -> int:
        return len(self.paths)


_CACHE: OrderedDict[tuple[int, int, str], Tree] = OrderedDict()
_LOCK = threading.Lock()


def tree_for(session: Session, version_id: int, unit_kind_id: int) -> Tree:
    """The catalogue a member of `unit_kind_id` declares against in `version_id`."""
    status, fingerprint = session.execute(select(CatalogueVersion.status, CatalogueVersion.fingerprint).where(
        CatalogueVersion.id == version_id)).one()
    key = (version_id, unit_kind_id, fingerprint or "")
    cacheable = status != CatalogueStatus.DRAFT and bool(fingerprint)
    if cacheable:
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
    tree = _build(session, version_id, unit_kind_id)
    if cacheable:
        with _LOCK:
            _CACHE[key] = tree
            while len(_CACHE) > 32:
                _CACHE.popitem(last=False)
    return tree


def _build(session: Session, version_id: int, unit_kind_id: int) -> Tree:
    version = load_tree(session, version_id)
    bases = {b.id: b.title for b in version.bases}
    dimensions = []
    paths: dict[int, Path] = {}
    for d in version.dimensions:
        items = []
        for i in d.items:
            if i.unit_kind_id is not None and i.unit_kind_id != unit_kind_id:
                continue
            contents = []
            for c in i.contents:
                standards = tuple(StandardNode(
                    s.id, s.code, s.text, s.kind, s.points, s.max_occurrences, s.honour_category, s.honour_level,
                    bool(s.evidence_required),
                    " ".join(filter(None, (d.name, i.name, c.text, s.text, s.code, s.honour_category,
                                           HONOUR_LEVELS.get(s.honour_level or 0), _KIND_WORDS.get(s.kind))))
                    .lower()) for s in c.standards)
                contents.append(ContentNode(c.id, c.code, c.text, standards))
            items.append(ItemNode(i.id, i.code, i.name, i.kind, i.baseline, bases.get(i.basis_id or 0), tuple(contents)))
        dimension = DimensionNode(d.id, d.code, d.name, tuple(items))
        dimensions.append(dimension)
        for item in dimension.items:
            for content in item.contents:
                for standard in content.standards:
                    paths[standard.id] = Path(dimension, item, content, standard)
    return Tree(version_id, tuple(dimensions), paths)


def terms_of(query: str | None) -> list[str]:
    return [t for t in (query or "").lower().replace("\u3000", " ").split() if t][:10]


def search(tree: Tree, query: str | None) -> tuple[tuple[DimensionNode, ...], int]:
    """The tree pruned to the standards matching every term of `query` (all of it when empty),
    and how many standards match."""
    terms = terms_of(query)
    if not terms:
        return tree.dimensions, tree.standard_count
    found = 0
    dimensions = []
    for d in tree.dimensions:
        items = []
        for i in d.items:
            contents = []
            for c in i.contents:
                standards = tuple(s for s in c.standards if all(t in s.search for t in terms))
                if standards:
                    found += len(standards)
                    contents.append(ContentNode(c.id, c.code, c.text, standards))
            if contents:
                items.append(ItemNode(i.id, i.code, i.name, i.kind, i.baseline, i.basis, tuple(contents)))
        if items:
            dimensions.append(DimensionNode(d.id, d.code, d.name, tuple(items)))
    return tuple(dimensions), found
