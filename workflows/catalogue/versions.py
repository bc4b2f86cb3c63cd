"""Services of the indicator catalogue: drafts, edits, publication, copies, comparison, counts,
and the scoring rules a quarter is scored with.

Policy: a published version never changes (`ensure_draft` refuses with `CatalogueFrozen`, and a
session hook in models.catalogue refuses at flush time). There is at most one published version
per year: publishing a draft retires the year's previous published version. Quarters keep the
version they were opened with, retired or not, so their scores never move.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from models import audit
from models.catalogue import (
    Basis,
    BasisSpec,
    CatalogueSpec,
    CatalogueStatus,
    CatalogueVersion,
    Content,
    ContentSpec,
    Dimension,
    DimensionSpec,
    Item,
    ItemKind,
    ItemSpec,
    Problem,
    Standard,
    StandardSpec,
    check_basis,
    check_content,
    check_dimension,
    check_item,
    check_standard,
    check_version_fields,
    fingerprint,
    spec_of,
    validate_spec,
    view_counts,
)
from models.clock import now
from models.evaluation import Quarter
from models.org import UnitKind
from models.permissions import Principal, can
from models.scoring import ItemRule, Rules, StandardRule
from workflows.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from workflows.i18n import N_


class CatalogueFrozen(Conflict):
    """A published catalogue never changes: make a new draft from it to edit."""

    code = "catalogue_frozen"


def invalid(problems: list[Problem], message: str = "") -> ValidationFailed:
    """A ValidationFailed carrying the problems (message ids with params, for the web layer to
    translate) and, for other callers, field errors formatted in English."""
    field_errors: dict[str, list[str]] = {}
    for p in problems:
        field_errors.setdefault(p.field, []).append(p.message % p.params if p.params else p.message)
    return ValidationFailed(message or N_("Some values are not valid."), field_errors=field_errors,
                            problems=problems)


def require_editor(actor: Principal) -> None:
    """Drafts, their edits, publication, copies and imports are the party office's (catalogue.edit)."""
    if not can(actor, "catalogue.edit"):
        raise NotAllowed()


# --- loading ---------------------------------------------------------------------------------


def get_version(session: Session, version_id: int, *, for_update: bool = False) -> CatalogueVersion:
    """One version (NotFound when missing); `for_update` locks its row."""
    stmt = select(CatalogueVersion).where(CatalogueVersion.id == version_id)
    if for_update:
        stmt = stmt.with_for_update()
    version = session.scalar(stmt)
    if version is None:
        raise NotFound(N_("This catalogue version does not exist."))
    return version


def load_tree(session: Session, version_id: int) -> CatalogueVersion:
    """A version with its whole tree, in six queries whatever its size."""
    version = session.scalar(
        select(CatalogueVersion).where(CatalogueVersion.id == version_id).options(
            selectinload(CatalogueVersion.bases),
            selectinload(CatalogueVersion.dimensions).selectinload(Dimension.items)
            .selectinload(Item.contents).selectinload(Content.standards),
        )
    )
    if version is None:
        raise NotFound(N_("This catalogue version does not exist."))
    return version


def unit_kind_codes(session: Session) -> dict[int, str]:
    """Unit kind id → code, in the administrator's order."""
    return dict(session.execute(select(UnitKind.id, UnitKind.code).order_by(UnitKind.sort, UnitKind.id)).all())


def spec_for(session: Session, version_id: int) -> CatalogueSpec:
    """A stored version as plain values."""
    return spec_of(load_tree(session, version_id), unit_kind_codes(session))


def list_versions(session: Session, *, include_drafts: bool) -> list[CatalogueVersion]:
    """Versions, newest year first; drafts only when asked for."""
    stmt = select(CatalogueVersion).order_by(CatalogueVersion.year.desc(), CatalogueVersion.id.desc())
    if not include_drafts:
        stmt = stmt.where(CatalogueVersion.status != CatalogueStatus.DRAFT)
    return list(session.scalars(stmt))


def current_published(session: Session, year: int) -> CatalogueVersion | None:
    """The version a quarter of `year` opens with (None when the year has none published)."""
    return session.scalar(select(CatalogueVersion).where(
        CatalogueVersion.year == year, CatalogueVersion.status == CatalogueStatus.PUBLISHED))


# --- the rules the scoring engine uses ------------------------------------------------------

_RULES_CACHE: OrderedDict[tuple[int, int, str], Rules] = OrderedDict()
_RULES_CACHE_SIZE = 64
_RULES_LOCK = threading.Lock()


def rules_for(session: Session, version_id: int, unit_kind_id: int,
              known: tuple[str, str | None] | None = None) -> Rules:
    """What a member of `unit_kind_id` is scored against in `version_id`: common part + own part.

    Published (and retired) versions never change, so their rules are kept in memory, keyed by
    the version's fingerprint (ids alone could be reused by another database). Drafts are read
    every time. `known` is the version's (status, fingerprint) when the caller read them already
    in this transaction.
    """
    status, fp = known or session.execute(
        select(CatalogueVersion.status, CatalogueVersion.fingerprint).where(CatalogueVersion.id == version_id)
    ).one_or_none() or (None, None)
    if status is None:
        raise NotFound(N_("This catalogue version does not exist."))
    key = (version_id, unit_kind_id, fp or "")
    if status != CatalogueStatus.DRAFT and fp:
        with _RULES_LOCK:
            cached = _RULES_CACHE.get(key)
            if cached is not None:
                _RULES_CACHE.move_to_end(key)
                return cached
    rules = _build_rules(load_tree(session, version_id), unit_kind_id)
    if status != CatalogueStatus.DRAFT and fp:
        with _RULES_LOCK:
            _RULES_CACHE[key] = rules
            while len(_RULES_CACHE) > _RULES_CACHE_SIZE:
                _RULES_CACHE.popitem(last=False)
    return rules


def _build_rules(version: CatalogueVersion, unit_kind_id: int) -> Rules:
    items: dict[int, ItemRule] = {}
    standards: dict[int, StandardRule] = {}
    for d in version.dimensions:
        for i in d.items:
            if i.unit_kind_id is not None and i.unit_kind_id != unit_kind_id:
                continue
            items[i.id] = ItemRule(i.id, i.code, i.name, i.kind, i.baseline, d.name)
            for c in i.contents:
                for s in c.standards:
                    standards[s.id] = StandardRule(s.id, i.id, s.code, s.text, s.kind, s.points, s.max_occurrences,
                                                   s.honour_category, s.honour_level)
    return Rules(version.id, unit_kind_id, version.pass_line, version.excellent_line,
                 MappingProxyType(items), MappingProxyType(standards))


def clear_rules_cache() -> None:
    """Forget every cached rule set (tests, and after restoring a database)."""
    with _RULES_LOCK:
        _RULES_CACHE.clear()


# --- guard and revision ---------------------------------------------------------------------


def ensure_draft(version: CatalogueVersion) -> None:
    """Refuse any change to a version that is no longer a draft."""
    if version.status != CatalogueStatus.DRAFT:
        raise CatalogueFrozen(N_("A published catalogue never changes: make a new draft from it to edit."))


def _bump(session: Session, version: CatalogueVersion, expected_revision: int | None) -> None:
    """Compare-and-set on the version's revision: of two concurrent edits, exactly one wins."""
    ensure_draft(version)
    stmt = update(CatalogueVersion).where(CatalogueVersion.id == version.id,
                                          CatalogueVersion.status == CatalogueStatus.DRAFT)
    if expected_revision is not None:
        stmt = stmt.where(CatalogueVersion.revision == expected_revision)
    result = session.execute(stmt.values(revision=CatalogueVersion.revision + 1),
                             execution_options={"synchronize_session": "fetch"})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(N_("Somebody else changed this catalogue at the same time. "
                          "Reload it and make your change again."))


# --- building a version from a spec (copy, import, demo) ------------------------------------


def build_version(session: Session, actor: Principal, spec: CatalogueSpec, *, copied_from_id: int | None = None,
                  complete: bool = False) -> CatalogueVersion:
    """A new draft holding `spec`; refuses an invalid spec with every problem at once."""
    require_editor(actor)
    kinds = {code: kind_id for kind_id, code in unit_kind_codes(session).items()}
    problems = validate_spec(spec, kinds, complete=complete)
    if problems:
        raise invalid(problems, N_("The catalogue has errors; nothing was saved."))
    version = CatalogueVersion(year=spec.year, name=spec.name, pass_line=spec.pass_line,
                               excellent_line=spec.excellent_line, description=spec.description,
                               status=CatalogueStatus.DRAFT, copied_from_id=copied_from_id,
                               created_by=actor.acting_user_id, revision=0)
    session.add(version)
    session.flush()
    bases = {}
    for n, b in enumerate(spec.bases):
        bases[b.code] = Basis(version_id=version.id, code=b.code, title=b.title, kind=b.kind, sort=n)
        version.bases.append(bases[b.code])
    session.flush()
    for dn, d in enumerate(spec.dimensions):
        dimension = Dimension(version_id=version.id, code=d.code, name=d.name, sort=dn)
        version.dimensions.append(dimension)
        session.flush()
        for n, i in enumerate(d.items):
            item = Item(version_id=version.id, dimension_id=dimension.id, code=i.code, name=i.name, kind=i.kind,
                        baseline=i.baseline, sort=n, unit_kind_id=kinds[i.unit_kind] if i.unit_kind else None,
                        basis_id=bases[i.basis].id if i.basis else None)
            dimension.items.append(item)
            for cn, c in enumerate(i.contents):
                content = Content(version_id=version.id, code=c.code, text=c.text, sort=cn)
                item.contents.append(content)
                for sn, s in enumerate(c.standards):
                    content.standards.append(Standard(
                        version_id=version.id, code=s.code, text=s.text, kind=s.kind, points=s.points,
                        max_occurrences=s.max_occurrences, honour_category=s.honour_category,
                        honour_level=s.honour_level, evidence_required=s.evidence_required, sort=sn))
    session.flush()
    return version


def create_draft(session: Session, actor: Principal, *, year: int, name: str, pass_line: Decimal,
                 excellent_line: Decimal, description: str = "") -> CatalogueVersion:
    """An empty draft for a year."""
    require_editor(actor)
    spec = CatalogueSpec(year, name.strip(), pass_line, excellent_line, description.strip())
    version = build_version(session, actor, spec)
    audit.record(session, "catalogue.create", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version.id, data={"year": year, "name": version.name})
    return version


def copy_version(session: Session, actor: Principal, source_id: int, *, year: int | None = None,
                 name: str | None = None) -> CatalogueVersion:
    """A new draft with everything of `source_id` (codes kept, so quarters can be compared)."""
    require_editor(actor)
    source = spec_for(session, source_id)
    year = source.year if year is None else year
    if name is None or not name.strip():
        name = source.name.replace(str(source.year), str(year)) if str(source.year) in source.name else source.name
    spec = CatalogueSpec(year, name.strip(), source.pass_line, source.excellent_line, source.description,
                         source.bases, source.dimensions)
    version = build_version(session, actor, spec, copied_from_id=source_id)
    audit.record(session, "catalogue.copy", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version.id, data={"from": source_id, "year": year})
    return version


def copy_last_year(session: Session, actor: Principal, year: int) -> CatalogueVersion:
    """A draft for `year` from the newest published (or else newest) version of an earlier year."""
    require_editor(actor)
    source = session.scalar(
        select(CatalogueVersion).where(CatalogueVersion.year < year)
        .order_by(CatalogueVersion.year.desc(), (CatalogueVersion.status == CatalogueStatus.PUBLISHED).desc(),
                  CatalogueVersion.id.desc()).limit(1))
    if source is None:
        raise NotFound(N_("There is no catalogue of an earlier year to copy."))
    return copy_version(session, actor, source.id, year=year)


# --- editing a draft --------------------------------------------------------------------------


def update_version(session: Session, actor: Principal, version_id: int, *, expected_revision: int | None,
                   year: int, name: str, pass_line: Decimal, excellent_line: Decimal,
                   description: str = "") -> CatalogueVersion:
    """Change a draft's year, name, lines or description."""
    require_editor(actor)
    version = get_version(session, version_id)
    ensure_draft(version)
    spec = CatalogueSpec(year, name.strip(), pass_line, excellent_line, description.strip())
    problems = check_version_fields(spec)
    if problems:
        raise invalid(problems)
    _bump(session, version, expected_revision)
    before = {"year": version.year, "name": version.name, "pass_line": str(version.pass_line),
              "excellent_line": str(version.excellent_line)}
    version.year, version.name, version.description = spec.year, spec.name, spec.description
    version.pass_line, version.excellent_line = pass_line, excellent_line
    session.flush()
    audit.record(session, "catalogue.edit", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version.id, data={"node": "version", "before": before})
    return version


@dataclass(frozen=True)
class NodeKind:
    """How one level of the tree is edited: its model, its parent and the fields a form sets."""

    name: str
    model: type
    parent: str | None  # the node type of its parent; None: directly under the version
    fields: tuple[str, ...]


NODE_KINDS: dict[str, NodeKind] = {
    "basis": NodeKind("basis", Basis, None, ("code", "title", "kind")),
    "dimension": NodeKind("dimension", Dimension, None, ("code", "name")),
    "item": NodeKind("item", Item, "dimension", ("code", "name", "kind", "baseline", "unit_kind_id", "basis_id")),
    "content": NodeKind("content", Content, "item", ("code", "text")),
    "standard": NodeKind("standard", Standard, "content", (
        "code", "text", "points", "max_occurrences", "honour_category", "honour_level", "evidence_required")),
}
_PARENT_FK = {"item": "dimension_id", "content": "item_id", "standard": "content_id"}
_CHILDREN = {"dimension": "items", "item": "contents", "content": "standards"}


def node_kind(name: str) -> NodeKind:
    """The editing description of a node type (NotFound for an unknown one)."""
    try:
        return NODE_KINDS[name]
    except KeyError:
        raise NotFound(N_("Unknown part of the catalogue.")) from None


def get_node(session: Session, version_id: int, kind: str, node_id: int) -> Any:
    """A node of a version by type and id (NotFound when missing or of another version)."""
    nk = node_kind(kind)
    node = session.get(nk.model, node_id)
    if node is None or node.version_id != version_id:
        raise NotFound(N_("This part of the catalogue does not exist."))
    return node


def _node_problems(session: Session, version: CatalogueVersion, kind: str, values: dict[str, Any],
                   parent: Any) -> list[Problem]:
    """Field checks of one node, plus the references it makes within the version."""
    code = (values.get("code") or "").strip()
    if kind == "basis":
        return check_basis(BasisSpec(code, values.get("title") or "", values.get("kind") or ""))
    if kind == "dimension":
        return check_dimension(DimensionSpec(code, values.get("name") or ""))
    if kind == "content":
        return check_content(ContentSpec(code, values.get("text") or ""))
    if kind == "item":
        problems = check_item(ItemSpec(code, values.get("name") or "", values.get("kind") or "",
                                       values.get("baseline") if values.get("baseline") is not None else Decimal("0")))
        kind_id = values.get("unit_kind_id")
        if kind_id is not None and session.get(UnitKind, kind_id) is None:
            problems.append(Problem("item", code, "unit_kind_id", N_("Unknown unit kind.")))
        basis_id = values.get("basis_id")
        if basis_id is not None:
            basis = session.get(Basis, basis_id)
            if basis is None or basis.version_id != version.id:
                problems.append(Problem("item", code, "basis_id", N_("Unknown basis.")))
        return problems
    item_kind = parent.item.kind
    standard = StandardSpec(code, values.get("text") or "", item_kind, values.get("points"),
                            values.get("max_occurrences"), values.get("honour_category") or None,
                            values.get("honour_level"), bool(values.get("evidence_required")))
    return check_standard(standard, item_kind)


def save_node(session: Session, actor: Principal, version_id: int, kind: str, values: dict[str, Any], *,
              node_id: int | None = None, parent_id: int | None = None, expected_revision: int | None) -> Any:
    """Add (node_id None, under parent_id) or change one basis, dimension, item, content or standard
    of a draft. `values` holds the node kind's fields; an item may move to another dimension."""
    require_editor(actor)
    nk = node_kind(kind)
    version = get_version(session, version_id)
    ensure_draft(version)
    node = get_node(session, version_id, kind, node_id) if node_id is not None else None
    parent = None
    if nk.parent is not None:
        pid = parent_id if parent_id is not None else getattr(node, _PARENT_FK[kind], None)
        if pid is None:
            raise NotFound(N_("This part of the catalogue does not exist."))
        parent = get_node(session, version_id, nk.parent, pid)
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in nk.fields}
    problems = _node_problems(session, version, kind, values, parent)
    clash = session.scalar(select(nk.model.id).where(nk.model.version_id == version_id,  # type: ignore[attr-defined]
                                                     nk.model.code == values.get("code")))  # type: ignore[attr-defined]
    if clash is not None and clash != node_id:
        problems.append(Problem(kind, values.get("code"), "code", N_("The code %(code)s is used twice."),
                                {"code": values.get("code")}))
    if kind == "item" and node is not None and values.get("kind") != node.kind and any(
            s.kind != values.get("kind") for c in node.contents for s in c.standards):
        problems.append(Problem(kind, values.get("code"), "kind", N_(
            "This item already has standards of the other kind: change or remove them first.")))
    if problems:
        raise invalid(problems)
    _bump(session, version, expected_revision)
    before = {f: _plain(getattr(node, f)) for f in nk.fields} if node is not None else None
    if kind == "item" and values.get("kind") == ItemKind.BONUS:
        values["baseline"] = Decimal("0")
    if kind == "standard":
        values["kind"] = parent.item.kind  # type: ignore[union-attr]
        values["honour_category"] = values.get("honour_category") or None
    siblings = _siblings(version, kind, parent)
    if node is None:
        node = nk.model(version_id=version_id, **values)
        node.sort = max((s.sort for s in siblings), default=-1) + 1
        siblings.append(node)
    else:
        for name, value in values.items():
            setattr(node, name, value)
        if parent is not None and getattr(node, _PARENT_FK[kind]) != parent.id:
            # Moved (an item to another dimension): through the collections, so loaded trees stay true.
            _siblings(version, kind, get_node(session, version_id, nk.parent, getattr(node, _PARENT_FK[kind]))
                      ).remove(node)
            node.sort = max((s.sort for s in siblings), default=-1) + 1
            siblings.append(node)
    session.flush()
    audit.record(session, "catalogue.edit", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version_id, data={"node": kind, "id": node.id, "code": node.code,
                                             "before": before, "after": {f: _plain(getattr(node, f)) for f in nk.fields}})
    return node


def _siblings(version: CatalogueVersion, kind: str, parent: Any) -> list[Any]:
    """The collection a node of `kind` lives in (under `parent`, or under the version)."""
    nk = NODE_KINDS[kind]
    if nk.parent is None:
        return version.bases if kind == "basis" else version.dimensions
    return getattr(parent, _CHILDREN[nk.parent])


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def delete_node(session: Session, actor: Principal, version_id: int, kind: str, node_id: int, *,
                expected_revision: int | None) -> None:
    """Remove a node of a draft with everything under it (items citing a removed basis keep none)."""
    require_editor(actor)
    version = get_version(session, version_id)
    ensure_draft(version)
    node = get_node(session, version_id, kind, node_id)
    _bump(session, version, expected_revision)
    if kind == "basis":
        session.execute(update(Item).where(Item.basis_id == node.id).values(basis_id=None),
                        execution_options={"synchronize_session": "fetch"})
    code = node.code
    nk = NODE_KINDS[kind]
    parent = get_node(session, version_id, nk.parent, getattr(node, _PARENT_FK[kind])) if nk.parent else None
    _siblings(version, kind, parent).remove(node)  # delete-orphan: gone with everything under it
    session.flush()
    audit.record(session, "catalogue.edit", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version_id, data={"node": kind, "id": node_id, "code": code, "deleted": True})


def delete_draft(session: Session, actor: Principal, version_id: int) -> None:
    """Throw a draft away (published and retired versions stay for ever)."""
    require_editor(actor)
    version = get_version(session, version_id, for_update=True)
    ensure_draft(version)
    if session.scalar(select(Quarter.id).where(Quarter.catalogue_version_id == version_id).limit(1)) is not None:
        raise Conflict(N_("A quarter is scored with this version: it cannot be deleted."))
    session.execute(update(CatalogueVersion).where(CatalogueVersion.copied_from_id == version_id)
                    .values(copied_from_id=None), execution_options={"synchronize_session": "fetch"})
    data = {"year": version.year, "name": version.name}
    session.delete(version)
    session.flush()
    audit.record(session, "catalogue.delete", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version_id, data=data)


# --- publication ------------------------------------------------------------------------------


def publication_problems(session: Session, version_id: int) -> list[Problem]:
    """What stands between a draft and its publication (empty: it can be published)."""
    return validate_spec(spec_for(session, version_id), unit_kind_codes(session).values(), complete=True)


def _row_ids(version: CatalogueVersion) -> list[list[int]]:
    ids = [[d.id, i.id, c.id, s.id] for d in version.dimensions for i in d.items for c in i.contents
           for s in c.standards]
    return ids + [[b.id] for b in version.bases]


def version_fingerprint(session: Session, version_id: int) -> str:
    """SHA-256 over a version's content and row ids, as stored at publication."""
    version = load_tree(session, version_id)
    return fingerprint(spec_of(version, unit_kind_codes(session)), _row_ids(version))


def publish(session: Session, actor: Principal, version_id: int, *,
            expected_revision: int | None = None) -> CatalogueVersion:
    """Publish a valid draft; the year's previous published version is retired."""
    require_editor(actor)
    version = get_version(session, version_id, for_update=True)
    ensure_draft(version)
    problems = publication_problems(session, version_id)
    if problems:
        raise invalid(problems, N_("The catalogue cannot be published yet."))
    _bump(session, version, expected_revision)
    previous = session.scalars(select(CatalogueVersion).where(
        CatalogueVersion.year == version.year, CatalogueVersion.status == CatalogueStatus.PUBLISHED,
        CatalogueVersion.id != version.id).with_for_update()).all()
    at = now()
    for old in previous:
        old.status = CatalogueStatus.RETIRED
        old.retired_at = at
    session.flush()
    version.fingerprint = version_fingerprint(session, version_id)
    version.status = CatalogueStatus.PUBLISHED
    version.published_at = at
    version.published_by = actor.acting_user_id
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(N_("Another version of this year was published at the same time. Reload and check.")) from None
    audit.record(session, "catalogue.publish", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version.id, data={"year": version.year, "fingerprint": version.fingerprint,
                                             "retired": [v.id for v in previous]})
    return version


# --- comparison -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    node: str  # basis | dimension | item | content | standard
    code: str
    change: str  # added | removed | changed
    label: str  # the name or text, as in the newer version when it has it
    scope: str | None  # the unit kind code of the item it belongs to; None: common part
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (field, old, new) of a changed node


@dataclass
class Comparison:
    old: CatalogueVersion
    new: CatalogueVersion
    version_fields: list[tuple[str, Any, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def count(self, change: str, node: str | None = None) -> int:
        return sum(1 for c in self.changes if c.change == change and (node is None or c.node == node))

    @property
    def empty(self) -> bool:
        return not self.version_fields and not self.changes


def _flatten(spec: CatalogueSpec) -> dict[str, dict[str, dict[str, Any]]]:
    """Every node by type and code, with the fields that matter for a comparison."""
    out: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in NODE_KINDS}
    for b in spec.bases:
        out["basis"][b.code] = {"title": b.title, "kind": b.kind, "_label": b.title, "_scope": None}
    for d in spec.dimensions:
        out["dimension"][d.code] = {"name": d.name, "_label": d.name, "_scope": None}
        for i in d.items:
            out["item"][i.code] = {"name": i.name, "kind": i.kind, "baseline": i.baseline, "unit_kind": i.unit_kind,
                                   "basis": i.basis, "dimension": d.code, "_label": i.name, "_scope": i.unit_kind}
            for c in i.contents:
                out["content"][c.code] = {"text": c.text, "item": i.code, "_label": c.text, "_scope": i.unit_kind}
                for s in c.standards:
                    values = {f.name: getattr(s, f.name) for f in fields(StandardSpec) if f.name != "code"}
                    out["standard"][s.code] = values | {"content": c.code, "_label": s.text, "_scope": i.unit_kind}
    return out


def compare(session: Session, old_id: int, new_id: int) -> Comparison:
    """What was added, removed and changed from version `old_id` to version `new_id` (matched by code)."""
    old_version, new_version = get_version(session, old_id), get_version(session, new_id)
    old_spec, new_spec = spec_for(session, old_id), spec_for(session, new_id)
    result = Comparison(old_version, new_version)
    for name in ("year", "name", "pass_line", "excellent_line", "description"):
        a, b = getattr(old_spec, name), getattr(new_spec, name)
        if a != b:
            result.version_fields.append((name, a, b))
    old_nodes, new_nodes = _flatten(old_spec), _flatten(new_spec)
    for node in NODE_KINDS:
        before, after = old_nodes[node], new_nodes[node]
        for code, values in after.items():
            if code not in before:
                result.changes.append(Change(node, code, "added", values["_label"], values["_scope"]))
                continue
            diff = tuple((k, before[code][k], v) for k, v in values.items() if not k.startswith("_")
                         and before[code][k] != v)
            if diff:
                result.changes.append(Change(node, code, "changed", values["_label"], values["_scope"], diff))
        for code, values in before.items():
            if code not in after:
                result.changes.append(Change(node, code, "removed", values["_label"], values["_scope"]))
    return result


# --- counts -----------------------------------------------------------------------------------


def stats(session: Session, version_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Per version: the counts a member of each unit kind sees (and of the common part alone)."""
    kinds = unit_kind_codes(session)
    stmt = select(CatalogueVersion.id).order_by(CatalogueVersion.year, CatalogueVersion.id)
    if version_ids is not None:
        stmt = stmt.where(CatalogueVersion.id.in_(list(version_ids)))
    out = []
    for version_id in session.scalars(stmt).all():
        version = load_tree(session, version_id)
        spec = spec_of(version, kinds)
        row: dict[str, Any] = {
            "version_id": version.id, "year": version.year, "name": version.name, "status": version.status,
            "pass_line": str(version.pass_line), "excellent_line": str(version.excellent_line),
            "unit_kinds": {code: view_counts(spec, code).as_json() for code in kinds.values()},
            "common": view_counts(spec, None).as_json(),
        }
        if version.fingerprint:
            row["fingerprint_ok"] = fingerprint(spec, _row_ids(version)) == version.fingerprint
        out.append(row)
    return out

