"""The indicator catalogue (积分量化指标体系): versioned per year, a common part plus a part per
unit kind; basis → dimension → item → content → scoring standard.

Three things live here:
- the tables (`CatalogueVersion` ... `Standard`);
- `CatalogueSpec`, the same tree as plain immutable values (no ids, no session), which is what
  the Excel import/export, copying, comparing, fingerprinting and the demo catalogue work on,
  and `validate_spec`, the one place that says what a valid catalogue is;
- a session hook that refuses, at flush time, any change to a published or retired version: a
  published version never changes, editing makes a new draft.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, event, inspect, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.db import Base, UTCDateTime, utcnow

POINTS = Numeric(8, 2)
MAX_POINTS = Decimal("9999.99")
MAX_LINE = Decimal("999999.99")


def N_(message: str) -> str:  # noqa: N802 - marks a message id for extraction; the web layer translates
    return message


class CatalogueStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class StandardKind(enum.StrEnum):
    BONUS = "bonus"  # 加分项
    DEDUCTION = "deduction"  # 扣分项


class ItemKind(enum.StrEnum):
    DEDUCTION = "deduction"  # starts at its baseline (满分) and loses points, never below 0
    BONUS = "bonus"  # adds points, uncapped, highest level per honour category


class BasisKind(enum.StrEnum):
    CONSTITUTION = "constitution"  # 党章
    REGULATION = "regulation"  # 党内法规、国家法律法规
    INTERNAL = "internal"  # 内部规定, e.g. the "five prohibitions"


# Honour levels, highest first: within one honour category only the highest level counts.
HONOUR_LEVELS: dict[int, str] = {5: "国家级", 4: "省部级", 3: "局级", 2: "处级", 1: "科级"}


class CatalogueVersion(Base):
    __tablename__ = "catalogue_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=CatalogueStatus.DRAFT, index=True)
    pass_line: Mapped[Decimal] = mapped_column(POINTS)  # 合格标准
    excellent_line: Mapped[Decimal] = mapped_column(POINTS)  # 优秀标准
    description: Mapped[str] = mapped_column(Text, default="")
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_version.id"))
    # Bumped by every edit of a draft (compare-and-set): of two people editing at once, one wins.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 over the published content and ids: set once at publication, checked by `stats`.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    bases: Mapped[list[Basis]] = relationship(
        back_populates="version", order_by="Basis.sort", cascade="all, delete-orphan"
    )
    dimensions: Mapped[list[Dimension]] = relationship(
        back_populates="version", order_by="Dimension.sort", cascade="all, delete-orphan"
    )

    # At most one published version per year: publishing retires the previous one, and two
    # publications racing each other cannot both win.
    __table_args__ = (
        Index("uq_catalogue_version_published_year", "year", unique=True,
              sqlite_where=text("status = 'published'"), postgresql_where=text("status = 'published'")),
    )

    @property
    def is_draft(self) -> bool:
        return self.status == CatalogueStatus.DRAFT


class Basis(Base):
    """指标依据: party constitution, regulations, internal rules such as the "five prohibitions"."""

    __tablename__ = "catalogue_basis"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40), default="regulation")  # constitution/regulation/internal
    sort: Mapped[int] = mapped_column(Integer, default=0)

    version: Mapped[CatalogueVersion] = relationship(back_populates="bases")

    __table_args__ = (Index("ix_catalogue_basis_version_code", "version_id", "code", unique=True),)


class Dimension(Base):
    """One of the four 考评指标 dimensions."""

    __tablename__ = "catalogue_dimension"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    sort: Mapped[int] = mapped_column(Integer, default=0)

    version: Mapped[CatalogueVersion] = relationship(back_populates="dimensions")
    items: Mapped[list[Item]] = relationship(
        back_populates="dimension", order_by="Item.sort", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_catalogue_dimension_version_code", "version_id", "code", unique=True),)


class Item(Base):
    """积分项目. `unit_kind_id` NULL: the common part (共性指标); else that unit kind's part."""

    __tablename__ = "catalogue_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"), index=True)
    dimension_id: Mapped[int] = mapped_column(ForeignKey("catalogue_dimension.id", ondelete="CASCADE"), index=True)
    unit_kind_id: Mapped[int | None] = mapped_column(ForeignKey("unit_kind.id"))
    basis_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_basis.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default=ItemKind.DEDUCTION)
    baseline: Mapped[Decimal] = mapped_column(POINTS, default=Decimal("0"))  # full score of a deduction item
    sort: Mapped[int] = mapped_column(Integer, default=0)

    dimension: Mapped[Dimension] = relationship(back_populates="items")
    basis: Mapped[Basis | None] = relationship()
    contents: Mapped[list[Content]] = relationship(
        back_populates="item", order_by="Content.sort", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_catalogue_item_version_code", "version_id", "code", unique=True),)


class Content(Base):
    """积分内容."""

    __tablename__ = "catalogue_content"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("catalogue_item.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    sort: Mapped[int] = mapped_column(Integer, default=0)

    item: Mapped[Item] = relationship(back_populates="contents")
    standards: Mapped[list[Standard]] = relationship(
        back_populates="content", order_by="Standard.sort", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_catalogue_content_version_code", "version_id", "code", unique=True),)


class Standard(Base):
    """评分标准: a bonus or a deduction of `points` per occurrence."""

    __tablename__ = "catalogue_standard"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"), index=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("catalogue_content.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    points: Mapped[Decimal] = mapped_column(POINTS)  # per occurrence, always positive
    max_occurrences: Mapped[int | None] = mapped_column(Integer)
    honour_category: Mapped[str | None] = mapped_column(String(100))
    honour_level: Mapped[int | None] = mapped_column(Integer)
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    sort: Mapped[int] = mapped_column(Integer, default=0)

    content: Mapped[Content] = relationship(back_populates="standards")

    __table_args__ = (Index("ix_catalogue_standard_version_code", "version_id", "code", unique=True),)


NODE_MODELS: dict[str, type[Base]] = {
    "basis": Basis, "dimension": Dimension, "item": Item, "content": Content, "standard": Standard,
}


# --------------------------------------------------------------------------------------------
# The catalogue as plain values.


@dataclass(frozen=True)
class StandardSpec:
    code: str
    text: str
    kind: str
    points: Decimal
    max_occurrences: int | None = None
    honour_category: str | None = None
    honour_level: int | None = None
    evidence_required: bool = False


@dataclass(frozen=True)
class ContentSpec:
    code: str
    text: str
    standards: tuple[StandardSpec, ...] = ()


@dataclass(frozen=True)
class ItemSpec:
    code: str
    name: str
    kind: str
    baseline: Decimal
    unit_kind: str | None = None  # unit kind code; None: the common part
    basis: str | None = None  # basis code
    contents: tuple[ContentSpec, ...] = ()


@dataclass(frozen=True)
class DimensionSpec:
    code: str
    name: str
    items: tuple[ItemSpec, ...] = ()


@dataclass(frozen=True)
class BasisSpec:
    code: str
    title: str
    kind: str = BasisKind.REGULATION


@dataclass(frozen=True)
class CatalogueSpec:
    year: int
    name: str
    pass_line: Decimal
    excellent_line: Decimal
    description: str = ""
    bases: tuple[BasisSpec, ...] = ()
    dimensions: tuple[DimensionSpec, ...] = ()

    def items(self) -> Iterator[tuple[DimensionSpec, ItemSpec]]:
        for dimension in self.dimensions:
            for item in dimension.items:
                yield dimension, item

    def standards(self) -> Iterator[tuple[ItemSpec, ContentSpec, StandardSpec]]:
        for _, item in self.items():
            for content in item.contents:
                for standard in content.standards:
                    yield item, content, standard

    def unit_kinds(self) -> list[str]:
        """The unit kinds that have a part of their own, in order of first appearance."""
        seen: dict[str, None] = {}
        for _, item in self.items():
            if item.unit_kind is not None:
                seen.setdefault(item.unit_kind, None)
        return list(seen)

    def as_json(self) -> dict[str, Any]:
        """Canonical JSON (decimals as strings): for fingerprints and comparisons."""
        return _jsonable(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal("0.01")), "f")
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def sees(unit_kind: str | None, item_unit_kind: str | None) -> bool:
    """Whether a member of `unit_kind` is scored on an item (the common part, or their own part)."""
    return item_unit_kind is None or item_unit_kind == unit_kind


@dataclass(frozen=True)
class ViewCounts:
    """What one member sees: the shape of the common part plus their unit kind's part."""

    dimensions: int
    items: int
    contents: int
    standards: int
    bonus_standards: int
    deduction_standards: int
    baseline_total: Decimal

    def as_json(self) -> dict[str, Any]:
        return _jsonable(self)


def view_counts(spec: CatalogueSpec, unit_kind: str | None) -> ViewCounts:
    """Counts of the catalogue as a member of `unit_kind` sees it (None: the common part alone).

    Dimensions count when they hold at least one item the member sees.
    """
    dims: set[str] = set()
    items = contents = bonus = deduction = 0
    baseline = Decimal("0")
    for dimension, item in spec.items():
        if not sees(unit_kind, item.unit_kind):
            continue
        dims.add(dimension.code)
        items += 1
        if item.kind == ItemKind.DEDUCTION:
            baseline += item.baseline
        for content in item.contents:
            contents += 1
            for standard in content.standards:
                if standard.kind == StandardKind.BONUS:
                    bonus += 1
                else:
                    deduction += 1
    return ViewCounts(len(dims), items, contents, bonus + deduction, bonus, deduction, baseline)


def fingerprint(spec: CatalogueSpec, ids: Iterable[Any] = ()) -> str:
    """SHA-256 of the canonical content (and the row ids, when given)."""
    material = json.dumps({"spec": spec.as_json(), "ids": list(ids)}, ensure_ascii=False, sort_keys=True,
                          separators=(",", ":"), default=str)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def spec_of(version: CatalogueVersion, unit_kind_codes: dict[int, str]) -> CatalogueSpec:
    """The plain-value tree of a stored version (`unit_kind_codes`: unit kind id → code)."""
    basis_codes = {b.id: b.code for b in version.bases}
    return CatalogueSpec(
        year=version.year,
        name=version.name,
        pass_line=version.pass_line,
        excellent_line=version.excellent_line,
        description=version.description or "",
        bases=tuple(BasisSpec(b.code, b.title, b.kind) for b in version.bases),
        dimensions=tuple(
            DimensionSpec(d.code, d.name, tuple(
                ItemSpec(
                    i.code, i.name, i.kind, i.baseline,
                    unit_kind_codes[i.unit_kind_id] if i.unit_kind_id is not None else None,
                    basis_codes.get(i.basis_id) if i.basis_id is not None else None,
                    tuple(
                        ContentSpec(c.code, c.text, tuple(
                            StandardSpec(s.code, s.text, s.kind, s.points, s.max_occurrences,
                                         s.honour_category, s.honour_level, bool(s.evidence_required))
                            for s in c.standards
                        ))
                        for c in i.contents
                    ),
                )
                for i in d.items
            ))
            for d in version.dimensions
        ),
    )


# --------------------------------------------------------------------------------------------
# Validation: what a valid catalogue is. Node-level checks run on every edit and import row;
# the structural ones (every item has contents, honours rise with their level, the pass line is
# reachable) run before publication and on import.


@dataclass(frozen=True)
class Problem:
    """One thing wrong: on which node (type and code), which field, what (a message id + params)."""

    node: str  # version | basis | dimension | item | content | standard
    code: str | None
    field: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
# Characters an Excel cell cannot hold (and that have no business in a catalogue).
ILLEGAL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
TEXT_LIMITS = {"name": 200, "title": 300, "text": 2000, "description": 4000, "honour_category": 100}


def _text(node: str, code: str | None, name: str, value: str | None, limit: int,
          required: bool = True) -> list[Problem]:
    if value is None or not value.strip():
        return [Problem(node, code, name, N_("This field is required."))] if required else []
    if len(value) > limit:
        return [Problem(node, code, name, N_("At most %(max)s characters."), {"max": limit})]
    if ILLEGAL_CHARS_RE.search(value):
        return [Problem(node, code, name, N_("Contains control characters."))]
    return []


def _code(node: str, code: str) -> list[Problem]:
    if not code or not CODE_RE.match(code):
        return [Problem(node, code or None, "code", N_(
            "A code is 1 to 40 letters, digits, dots, hyphens or underscores, starting with a letter or digit."))]
    return []


def _amount(node: str, code: str | None, name: str, value: Decimal | None, *, positive: bool,
            limit: Decimal) -> list[Problem]:
    if value is None:
        return [Problem(node, code, name, N_("This field is required."))]
    try:
        if not value.is_finite() or value != value.quantize(Decimal("0.01")):
            return [Problem(node, code, name, N_("Use a number with at most two decimals."))]
    except InvalidOperation:
        return [Problem(node, code, name, N_("Use a number with at most two decimals."))]
    if value < 0 or (positive and value == 0):
        return [Problem(node, code, name, N_("Must be greater than zero.") if positive
                        else N_("Must not be negative."))]
    if value > limit:
        return [Problem(node, code, name, N_("At most %(max)s."), {"max": str(limit)})]
    return []


def check_version_fields(spec: CatalogueSpec) -> list[Problem]:
    """Problems of a version's own fields (year, name, lines, description)."""
    out: list[Problem] = []
    if not isinstance(spec.year, int) or not 2000 <= spec.year <= 2100:
        out.append(Problem("version", None, "year", N_("Enter a year between 2000 and 2100.")))
    out += _text("version", None, "name", spec.name, TEXT_LIMITS["name"])
    out += _text("version", None, "description", spec.description, TEXT_LIMITS["description"], required=False)
    out += _amount("version", None, "pass_line", spec.pass_line, positive=True, limit=MAX_LINE)
    out += _amount("version", None, "excellent_line", spec.excellent_line, positive=True, limit=MAX_LINE)
    if not out and spec.excellent_line <= spec.pass_line:
        out.append(Problem("version", None, "excellent_line", N_("The excellent line must be above the pass line.")))
    return out


def check_basis(b: BasisSpec) -> list[Problem]:
    """Problems of one basis."""
    out = _code("basis", b.code) + _text("basis", b.code, "title", b.title, TEXT_LIMITS["title"])
    if b.kind not in set(BasisKind):
        out.append(Problem("basis", b.code, "kind", N_("Unknown kind of basis.")))
    return out


def check_dimension(d: DimensionSpec) -> list[Problem]:
    """Problems of one dimension."""
    return _code("dimension", d.code) + _text("dimension", d.code, "name", d.name, TEXT_LIMITS["name"])


def check_item(i: ItemSpec, unit_kinds: Iterable[str] | None = None,
               bases: Iterable[str] | None = None) -> list[Problem]:
    """Problems of one item (with the unit kinds and basis codes it may refer to, when given)."""
    out = _code("item", i.code) + _text("item", i.code, "name", i.name, TEXT_LIMITS["title"])
    if i.kind not in set(ItemKind):
        out.append(Problem("item", i.code, "kind", N_("An item is either a deduction item or a bonus item.")))
    elif i.kind == ItemKind.DEDUCTION:
        out += _amount("item", i.code, "baseline", i.baseline, positive=True, limit=MAX_POINTS)
    elif i.baseline != 0:
        out.append(Problem("item", i.code, "baseline", N_("A bonus item has no baseline: leave it at 0.")))
    if unit_kinds is not None and i.unit_kind is not None and i.unit_kind not in set(unit_kinds):
        out.append(Problem("item", i.code, "unit_kind", N_("Unknown unit kind %(kind)s."), {"kind": i.unit_kind}))
    if bases is not None and i.basis is not None and i.basis not in set(bases):
        out.append(Problem("item", i.code, "basis", N_("Unknown basis %(code)s."), {"code": i.basis}))
    return out


def check_content(c: ContentSpec) -> list[Problem]:
    """Problems of one content."""
    return _code("content", c.code) + _text("content", c.code, "text", c.text, TEXT_LIMITS["text"])


def check_standard(s: StandardSpec, item_kind: str | None = None) -> list[Problem]:
    """Problems of one standard (its kind must be its item's, when given)."""
    out = _code("standard", s.code) + _text("standard", s.code, "text", s.text, TEXT_LIMITS["text"])
    if s.kind not in set(StandardKind):
        out.append(Problem("standard", s.code, "kind", N_("A standard is either a bonus or a deduction.")))
    elif item_kind is not None and item_kind in set(ItemKind) and s.kind != item_kind:
        out.append(Problem("standard", s.code, "kind", N_(
            "A deduction item holds deduction standards and a bonus item bonus standards.")))
    out += _amount("standard", s.code, "points", s.points, positive=True, limit=MAX_POINTS)
    if s.max_occurrences is not None and not 1 <= s.max_occurrences <= 999:
        out.append(Problem("standard", s.code, "max_occurrences", N_("Leave empty, or a whole number from 1 to 999.")))
    if s.honour_category is not None:
        out += _text("standard", s.code, "honour_category", s.honour_category, TEXT_LIMITS["honour_category"])
        if s.kind == StandardKind.DEDUCTION:
            out.append(Problem("standard", s.code, "honour_category", N_("Only a bonus can be an honour.")))
        if s.honour_level not in HONOUR_LEVELS:
            out.append(Problem("standard", s.code, "honour_level", N_("An honour needs its level.")))
        if s.max_occurrences not in (None, 1):
            out.append(Problem("standard", s.code, "max_occurrences", N_(
                "An honour counts once: leave the maximum empty or set it to 1.")))
    elif s.honour_level is not None:
        out.append(Problem("standard", s.code, "honour_category", N_("A level needs its honour category.")))
    return out


def validate_spec(spec: CatalogueSpec, unit_kinds: Iterable[str] | None = None,
                  complete: bool = True, views: bool | None = None) -> list[Problem]:
    """Every problem of a catalogue; `complete` adds the checks a publishable catalogue must pass
    (no empty dimension, item or content), `views` (default: as `complete`) the checks of what each
    member sees (the pass line is reachable, honours rise with their level)."""
    out = check_version_fields(spec)
    known_kinds = list(unit_kinds) if unit_kinds is not None else None
    basis_codes = [b.code for b in spec.bases]
    seen: dict[str, set[str]] = {k: set() for k in NODE_MODELS}

    def unique(node: str, code: str) -> list[Problem]:
        if code in seen[node]:
            return [Problem(node, code, "code", N_("The code %(code)s is used twice."), {"code": code})]
        seen[node].add(code)
        return []

    for b in spec.bases:
        out += check_basis(b) + unique("basis", b.code)
    for d in spec.dimensions:
        out += check_dimension(d) + unique("dimension", d.code)
        if complete and not d.items:
            out.append(Problem("dimension", d.code, "items", N_("This dimension has no items.")))
        for i in d.items:
            out += check_item(i, known_kinds, basis_codes) + unique("item", i.code)
            if complete and not i.contents:
                out.append(Problem("item", i.code, "contents", N_("This item has no contents.")))
            for c in i.contents:
                out += check_content(c) + unique("content", c.code)
                if complete and not c.standards:
                    out.append(Problem("content", c.code, "standards", N_("This content has no scoring standards.")))
                for s in c.standards:
                    out += check_standard(s, i.kind) + unique("standard", s.code)
    if complete and not spec.dimensions:
        out.append(Problem("version", None, "dimensions", N_("The catalogue has no dimensions.")))
    if complete if views is None else views:
        out += _check_views(spec)
    return out


def _fmt(value: Decimal) -> str:
    """Points as people write them: 10, 10.5."""
    text = format(value.quantize(Decimal("0.01")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _check_views(spec: CatalogueSpec) -> list[Problem]:
    """Per member view: the pass line is reachable with a clean record, honours rise with level."""
    out: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    for kind in spec.unit_kinds() or [None]:
        counts = view_counts(spec, kind)
        if counts.items and spec.pass_line > counts.baseline_total and ("line", str(kind)) not in reported:
            reported.add(("line", str(kind)))
            out.append(Problem("version", None, "pass_line", N_(
                "The pass line %(line)s is above the full baseline %(total)s of %(view)s: nobody could pass."),
                {"line": _fmt(spec.pass_line), "total": _fmt(counts.baseline_total), "view": kind or "common"}))
        honours: dict[str, dict[int, list[StandardSpec]]] = {}
        for item, _, s in spec.standards():
            if sees(kind, item.unit_kind) and s.honour_category and s.honour_level in HONOUR_LEVELS:
                honours.setdefault(s.honour_category, {}).setdefault(s.honour_level, []).append(s)
        for category, levels in honours.items():
            for level, standards in levels.items():
                for s in standards[1:]:
                    if ("dup", s.code) not in reported:
                        reported.add(("dup", s.code))
                        out.append(Problem("standard", s.code, "honour_level", N_(
                            "%(category)s already has a standard at level %(level)s (%(other)s)."),
                            {"category": category, "level": HONOUR_LEVELS[level], "other": standards[0].code}))
            ordered = sorted(levels.items())
            for (low, lows), (high, highs) in zip(ordered, ordered[1:], strict=False):
                if max(s.points for s in lows) >= min(s.points for s in highs):
                    s = highs[0]
                    if ("rise", s.code) not in reported:
                        reported.add(("rise", s.code))
                        out.append(Problem("standard", s.code, "points", N_(
                            "In %(category)s a higher level must be worth more: %(high)s is not above %(low)s."),
                            {"category": category, "high": HONOUR_LEVELS[high], "low": HONOUR_LEVELS[low]}))
    return out


# --------------------------------------------------------------------------------------------
# A published version never changes. Services refuse first, with a message for the user; this
# hook is the last line: any flush that would change a published or retired version fails.


class CatalogueFrozenError(Exception):
    """A change to a published or retired catalogue version reached the database session."""


# What may still change on a version that is no longer a draft: retiring it.
_MUTABLE_AFTER_PUBLICATION = {"status", "retired_at"}


def _committed_status(version: CatalogueVersion) -> str:
    history = inspect(version).attrs.status.history
    return history.deleted[0] if history.deleted else version.status


def _refuse_frozen_changes(session: Session, flush_context: Any, instances: Any) -> None:
    new = session.new
    for obj in chain(new, session.dirty, session.deleted):
        if isinstance(obj, CatalogueVersion):
            if obj in new or _committed_status(obj) == CatalogueStatus.DRAFT:
                continue
            if obj in session.deleted:
                raise CatalogueFrozenError(f"catalogue version {obj.id} is {obj.status}: it cannot be deleted")
            changed = {a.key for a in inspect(obj).attrs if a.history.has_changes()}
            if changed - _MUTABLE_AFTER_PUBLICATION:
                raise CatalogueFrozenError(f"catalogue version {obj.id} is published: {sorted(changed)} cannot change")
        elif isinstance(obj, Basis | Dimension | Item | Content | Standard):
            if obj not in new and obj not in session.deleted and not session.is_modified(obj, include_collections=False):
                continue
            with session.no_autoflush:
                version = session.get(CatalogueVersion, obj.version_id) if obj.version_id is not None else None
            if version is not None and _committed_status(version) != CatalogueStatus.DRAFT:
                raise CatalogueFrozenError(
                    f"catalogue version {version.id} is {version.status}: its {obj.__tablename__} cannot change")


if not event.contains(Session, "before_flush", _refuse_frozen_changes):
    event.listen(Session, "before_flush", _refuse_frozen_changes)
