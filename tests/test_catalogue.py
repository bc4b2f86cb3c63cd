"""The catalogue services: the demo catalogue's shape, drafts, publication, the frozen guard,
copies, comparison, concurrency and the rules the engine scores with."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from demo import catalogue as demo_catalogue
from models.catalogue import (
    CatalogueFrozenError,
    CatalogueStatus,
    CatalogueVersion,
    Item,
    Standard,
    validate_spec,
)
from models.permissions import Principal
from models.scoring import ClaimInput, score
from workflows.catalogue import versions as catalogue
from workflows.errors import Conflict, NotFound, ValidationFailed
from workflows.org.principals import principal_for

D = Decimal
DIMENSIONS = ["履行党员义务", "履行岗位职责", "参加组织生活", "发挥先锋模范作用"]
SYSTEM = Principal.system()


@pytest.fixture
def demo(org, db_session):
    """The org plus the published demo catalogue."""
    demo_catalogue.load(db_session)
    db_session.commit()
    return catalogue.current_published(db_session, 2026)


def test_the_demo_catalogue_has_the_shape_of_the_article(demo, db_session, org):
    assert demo is not None and demo.status == CatalogueStatus.PUBLISHED and demo.year == 2026
    assert [d.name for d in demo.dimensions] == DIMENSIONS
    (row,) = catalogue.stats(db_session)
    for kind in ("department", "maritime_office"):
        counts = row["unit_kinds"][kind]
        assert (counts["dimensions"], counts["items"], counts["contents"], counts["standards"]) == (4, 32, 77, 202)
        assert counts["bonus_standards"] + counts["deduction_standards"] == 202
        assert counts["baseline_total"] == "100.00"
    assert row["fingerprint_ok"] is True
    # Rules as the engine sees them match: 100 for a clean record, graded "pass".
    for kind in org.kinds.values():
        rules = catalogue.rules_for(db_session, demo.id, kind.id)
        assert len(rules.items) == 32 and len(rules.standards) == 202
        result = score(rules, [])
        assert result.total == D("100.00") and result.grade == "pass"


def test_the_demo_catalogue_cites_its_bases_and_five_prohibitions(demo, db_session):
    spec = catalogue.spec_for(db_session, demo.id)
    assert any("五个禁止" in b.title for b in spec.bases)
    assert all(item.basis for _, item in spec.items())
    honour_levels = {(s.honour_category, s.honour_level) for _, _, s in spec.standards() if s.honour_category}
    assert ("综合表彰", 5) in honour_levels and ("综合表彰", 1) in honour_levels
    texts = [s.text for _, _, s in spec.standards()]
    assert len(set(texts)) == len(texts)
    assert validate_spec(spec, ["department", "maritime_office"]) == []


def _draft(db_session, org, **kw):
    values = {"year": 2027, "name": "2027年度考评表", "pass_line": D("90"), "excellent_line": D("105")} | kw
    return catalogue.create_draft(db_session, principal_for(db_session, org.user("office").id), **values)


def test_a_published_version_never_changes(demo, db_session, org):
    office = principal_for(db_session, org.user("office").id)
    with pytest.raises(catalogue.CatalogueFrozen):
        catalogue.update_version(db_session, office, demo.id, expected_revision=None, year=2026,
                                 name="改名", pass_line=D("80"), excellent_line=D("100"))
    standard = db_session.scalar(select(Standard).where(Standard.version_id == demo.id).limit(1))
    with pytest.raises(catalogue.CatalogueFrozen):
        catalogue.save_node(db_session, office, demo.id, "standard",
                            {"code": standard.code, "text": "x", "points": D("1")},
                            node_id=standard.id, expected_revision=None)
    with pytest.raises(catalogue.CatalogueFrozen):
        catalogue.delete_node(db_session, office, demo.id, "standard", standard.id, expected_revision=None)
    with pytest.raises(catalogue.CatalogueFrozen):
        catalogue.delete_draft(db_session, office, demo.id)
    with pytest.raises(catalogue.CatalogueFrozen):
        catalogue.publish(db_session, office, demo.id)


@pytest.mark.parametrize("change", ["standard_points", "item_baseline", "version_line", "delete_item", "add_standard"])
def test_the_session_refuses_any_change_to_a_published_version_that_bypasses_the_services(demo, db_session, change):
    """The last line: even code that forgets the service guard cannot change a published version."""
    standard = db_session.scalar(select(Standard).where(Standard.version_id == demo.id).limit(1))
    item = db_session.scalar(select(Item).where(Item.version_id == demo.id).limit(1))
    if change == "standard_points":
        standard.points = D("99")
    elif change == "item_baseline":
        item.baseline = D("50")
    elif change == "version_line":
        demo.pass_line = D("1")
    elif change == "delete_item":
        db_session.delete(item)
    else:
        db_session.add(Standard(version_id=demo.id, content_id=standard.content_id, code="NEW", text="新", kind="bonus",
                                points=D("1")))
    with pytest.raises(CatalogueFrozenError):
        db_session.flush()
    db_session.rollback()
    assert catalogue.stats(db_session)[0]["fingerprint_ok"] is True


def test_copy_edit_publish_retires_the_years_previous_version(demo, db_session, org):
    office = principal_for(db_session, org.user("office").id)
    draft = catalogue.copy_version(db_session, office, demo.id)
    db_session.commit()
    assert draft.status == CatalogueStatus.DRAFT and draft.copied_from_id == demo.id and draft.year == 2026
    assert catalogue.spec_for(db_session, draft.id) == catalogue.spec_for(db_session, demo.id)
    standard = db_session.scalar(select(Standard).where(Standard.version_id == draft.id, Standard.code == "D3-01-1-1"))
    catalogue.save_node(db_session, office, draft.id, "standard",
                        {"code": "D3-01-1-1", "text": "无故缺席支部党员大会的，每次扣3分", "points": D("3")},
                        node_id=standard.id, expected_revision=draft.revision)
    catalogue.publish(db_session, office, draft.id)
    db_session.commit()
    assert db_session.get(CatalogueVersion, demo.id).status == CatalogueStatus.RETIRED
    assert catalogue.current_published(db_session, 2026).id == draft.id
    # The retired version is untouched: a quarter opened with it scores exactly as before.
    kind = org.kinds["department"].id
    old_rules = catalogue.rules_for(db_session, demo.id, kind)
    new_rules = catalogue.rules_for(db_session, draft.id, kind)
    old_std = next(s for s in old_rules.standards.values() if s.code == "D3-01-1-1")
    new_std = next(s for s in new_rules.standards.values() if s.code == "D3-01-1-1")
    assert score(old_rules, [ClaimInput(1, old_std.id, 1)]).total == D("98.00")
    assert score(new_rules, [ClaimInput(1, new_std.id, 1)]).total == D("97.00")


def test_copy_last_year_makes_a_draft_for_the_new_year(demo, db_session, org):
    draft = catalogue.copy_last_year(db_session, principal_for(db_session, org.user("office").id), 2027)
    assert draft.year == 2027 and draft.name == "东湾海事局2027年度党员积分量化管理考评表"
    assert catalogue.stats(db_session, [draft.id])[0]["unit_kinds"]["department"]["standards"] == 202
    with pytest.raises(NotFound):
        catalogue.copy_last_year(db_session, SYSTEM, 2000)


def test_two_published_versions_of_one_year_are_impossible(demo, db_session):
    from sqlalchemy.exc import IntegrityError

    db_session.add(CatalogueVersion(year=2026, name="另一版", status="published", pass_line=D("90"),
                                    excellent_line=D("105")))
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


def test_a_stale_edit_loses_to_the_one_before_it(db_session, org):
    draft = _draft(db_session, org)
    revision = draft.revision
    catalogue.save_node(db_session, SYSTEM, draft.id, "dimension", {"code": "D1", "name": "履行党员义务"},
                        expected_revision=revision)
    with pytest.raises(Conflict):
        catalogue.save_node(db_session, SYSTEM, draft.id, "dimension", {"code": "D2", "name": "履行岗位职责"},
                            expected_revision=revision)


def _small_catalogue(db_session, org):
    """A draft built through the edit services: one deduction item and one honour item."""
    draft = _draft(db_session, org, pass_line=D("8"), excellent_line=D("12"))

    def add(kind, values, parent=None):
        return catalogue.save_node(db_session, SYSTEM, draft.id, kind, values, parent_id=parent,
                                   expected_revision=None)

    dim = add("dimension", {"code": "D1", "name": "履行党员义务"})
    basis = add("basis", {"code": "B1", "title": "中国共产党章程", "kind": "constitution"})
    item = add("item", {"code": "I1", "name": "理想信念", "kind": "deduction", "baseline": D("10"),
                        "basis_id": basis.id}, dim.id)
    content = add("content", {"code": "C1", "text": "坚定理想信念"}, item.id)
    add("standard", {"code": "S1", "text": "缺席学习的，每次扣2分", "points": D("2")}, content.id)
    bonus = add("item", {"code": "I2", "name": "荣誉", "kind": "bonus", "baseline": D("0"),
                         "unit_kind_id": org.kinds["maritime_office"].id}, dim.id)
    honours = add("content", {"code": "C2", "text": "表彰"}, bonus.id)
    add("standard", {"code": "S2", "text": "局级表彰，加5分", "points": D("5"), "honour_category": "表彰",
                     "honour_level": 3}, honours.id)
    add("standard", {"code": "S3", "text": "省部级表彰，加8分", "points": D("8"), "honour_category": "表彰",
                     "honour_level": 4}, honours.id)
    return draft


def test_a_draft_built_by_the_edit_services_publishes_and_scores(db_session, org):
    draft = _small_catalogue(db_session, org)
    assert draft.revision == 9  # one per edit
    catalogue.publish(db_session, SYSTEM, draft.id)
    rules = catalogue.rules_for(db_session, draft.id, org.kinds["maritime_office"].id)
    assert {s.code for s in rules.standards.values()} == {"S1", "S2", "S3"}
    by_code = {s.code: s.id for s in rules.standards.values()}
    result = score(rules, [ClaimInput(1, by_code["S2"], 1), ClaimInput(2, by_code["S3"], 1)])
    assert result.total == D("18.00") and result.grade == "excellent"
    # The department sees the common part only.
    assert len(catalogue.rules_for(db_session, draft.id, org.kinds["department"].id).standards) == 1


def test_published_rules_are_cached_and_drafts_are_not(db_session, org):
    draft = _small_catalogue(db_session, org)
    kind = org.kinds["department"].id
    assert catalogue.rules_for(db_session, draft.id, kind) is not catalogue.rules_for(db_session, draft.id, kind)
    catalogue.publish(db_session, SYSTEM, draft.id)
    first = catalogue.rules_for(db_session, draft.id, kind)
    assert catalogue.rules_for(db_session, draft.id, kind) is first
    with pytest.raises(TypeError):
        first.items[999] = None  # shared between requests: read-only


@pytest.mark.parametrize("kind, values, field", [
    ("dimension", {"code": "", "name": "x"}, "code"),
    ("dimension", {"code": "有中文", "name": "x"}, "code"),
    ("dimension", {"code": "D1", "name": "   "}, "name"),
    ("dimension", {"code": "D1", "name": "x\x07"}, "name"),
    ("basis", {"code": "B9", "title": "x", "kind": "rumour"}, "kind"),
    ("item", {"code": "I9", "name": "x", "kind": "deduction", "baseline": D("0")}, "baseline"),
    ("item", {"code": "I9", "name": "x", "kind": "bonus", "baseline": D("5")}, "baseline"),
    ("item", {"code": "I9", "name": "x", "kind": "other", "baseline": D("5")}, "kind"),
    ("item", {"code": "I1", "name": "x", "kind": "deduction", "baseline": D("5")}, "code"),
    ("standard", {"code": "S9", "text": "x", "points": D("0")}, "points"),
    ("standard", {"code": "S9", "text": "x", "points": D("1.234")}, "points"),
    ("standard", {"code": "S9", "text": "x", "points": D("1"), "max_occurrences": 0}, "max_occurrences"),
    ("standard", {"code": "S9", "text": "x", "points": D("1"), "honour_category": "表彰"}, "honour_category"),
    ("standard", {"code": "S9", "text": "x", "points": D("1"), "honour_level": 3}, "honour_category"),
])
def test_bad_node_values_are_refused_with_the_field(db_session, org, kind, values, field):
    draft = _small_catalogue(db_session, org)
    parent = None
    if kind == "item":
        parent = db_session.scalar(select(Item.dimension_id).where(Item.version_id == draft.id, Item.code == "I1"))
    if kind == "standard":
        parent = db_session.scalar(select(Standard.content_id).where(Standard.version_id == draft.id,
                                                                     Standard.code == "S1"))
    with pytest.raises(ValidationFailed) as e:
        catalogue.save_node(db_session, SYSTEM, draft.id, kind, values, parent_id=parent,
                            expected_revision=None)
    assert field in e.value.field_errors


def test_publication_checks_the_whole_catalogue(db_session, org):
    draft = _small_catalogue(db_session, org)
    # An honour level worth less than the level below it, and a pass line above the full baseline.
    s3 = db_session.scalar(select(Standard).where(Standard.version_id == draft.id, Standard.code == "S3"))
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": "S3", "text": "省部级表彰", "points": D("4"), "honour_category": "表彰",
                         "honour_level": 4},
                        node_id=s3.id, expected_revision=None)
    catalogue.update_version(db_session, SYSTEM, draft.id, expected_revision=None, year=2027,
                             name="x", pass_line=D("11"), excellent_line=D("20"))
    catalogue.save_node(db_session, SYSTEM, draft.id, "dimension", {"code": "D9", "name": "空维度"},
                        expected_revision=None)
    with pytest.raises(ValidationFailed) as e:
        catalogue.publish(db_session, SYSTEM, draft.id)
    problems = {(p.node, p.code, p.field) for p in e.value.details["problems"]}
    assert problems == {("standard", "S3", "points"), ("version", None, "pass_line"), ("dimension", "D9", "items")}
    assert db_session.get(CatalogueVersion, draft.id).status == CatalogueStatus.DRAFT


def test_deleting_nodes_and_drafts(db_session, org):
    draft = _small_catalogue(db_session, org)
    basis = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.id == draft.id)).bases[0]
    catalogue.delete_node(db_session, SYSTEM, draft.id, "basis", basis.id, expected_revision=None)
    spec = catalogue.spec_for(db_session, draft.id)
    assert spec.bases == () and all(i.basis is None for _, i in spec.items())
    item = db_session.scalar(select(Item).where(Item.version_id == draft.id, Item.code == "I2"))
    catalogue.delete_node(db_session, SYSTEM, draft.id, "item", item.id, expected_revision=None)
    assert [s.code for _, _, s in catalogue.spec_for(db_session, draft.id).standards()] == ["S1"]
    catalogue.delete_draft(db_session, SYSTEM, draft.id)
    db_session.commit()
    assert db_session.get(CatalogueVersion, draft.id) is None
    assert db_session.scalar(select(Standard).where(Standard.version_id == draft.id)) is None


def test_compare_lists_what_was_added_removed_and_changed(demo, db_session, org):
    draft = catalogue.copy_version(db_session, SYSTEM, demo.id, year=2027)
    std = db_session.scalar(select(Standard).where(Standard.version_id == draft.id, Standard.code == "D3-01-1-1"))
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": std.code, "text": std.text, "points": D("2.5")},
                        node_id=std.id, expected_revision=None)
    gone = db_session.scalar(select(Standard).where(Standard.version_id == draft.id, Standard.code == "D1-06-2-1"))
    catalogue.delete_node(db_session, SYSTEM, draft.id, "standard", gone.id, expected_revision=None)
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": "D1-06-2-2", "text": "新增标准的，扣1分", "points": D("1")},
                        parent_id=gone.content_id, expected_revision=None)
    diff = catalogue.compare(db_session, demo.id, draft.id)
    assert ("year", 2026, 2027) in diff.version_fields
    changes = {(c.node, c.code, c.change) for c in diff.changes}
    assert changes == {("standard", "D3-01-1-1", "changed"), ("standard", "D1-06-2-1", "removed"),
                       ("standard", "D1-06-2-2", "added")}
    changed = next(c for c in diff.changes if c.change == "changed")
    assert changed.fields == (("points", D("2.00"), D("2.5")),) or changed.fields == (("points", D("2"), D("2.5")),)
    assert catalogue.compare(db_session, demo.id, demo.id).empty


def test_validation_of_a_spec_reports_duplicates_and_unknown_references():
    spec = demo_catalogue.spec()
    d1 = spec.dimensions[0]
    twice = replace(spec, dimensions=(d1, replace(d1, code="DX")) + spec.dimensions[1:])
    problems = validate_spec(twice, ["department", "maritime_office"])
    assert {p.field for p in problems} == {"code", "honour_level"} and any(p.node == "item" for p in problems)
    assert any(p.field == "unit_kind" for p in validate_spec(spec, ["department"]))


def test_stats_command_prints_one_json_object_per_version(demo, runner, db_session, org):
    catalogue.copy_version(db_session, SYSTEM, demo.id, year=2027)
    db_session.commit()
    result = runner.invoke(args=["catalogue", "stats"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["year"], r["status"]) for r in rows] == [(2026, "published"), (2027, "draft")]
    for row in rows:
        for kind in ("department", "maritime_office"):
            c = row["unit_kinds"][kind]
            assert (c["items"], c["contents"], c["standards"]) == (32, 77, 202)
            assert c["bonus_standards"] == 79 and c["deduction_standards"] == 123


def test_a_version_a_quarter_uses_cannot_be_deleted(db_session, org):
    from datetime import timedelta

    from models.clock import now
    from models.evaluation import Quarter

    draft = _draft(db_session, org)
    db_session.add(Quarter(year=2027, quarter=1, scope_key="bureau", catalogue_version_id=draft.id,
                           self_eval_deadline=now() + timedelta(days=10)))
    db_session.flush()
    with pytest.raises(Conflict):
        catalogue.delete_draft(db_session, SYSTEM, draft.id)


def test_problems_name_the_unit_kind_in_the_users_language(client, login, db_session, org):
    draft = _small_catalogue(db_session, org)
    catalogue.update_version(db_session, SYSTEM, draft.id, expected_revision=None, year=2027,
                             name="x", pass_line=D("11"), excellent_line=D("20"))
    db_session.commit()
    login("office")
    page = client.get(f"/catalogue/{draft.id}").get_data(as_text=True)
    assert "合格标准 11 高于 下属海事处 的基础分合计 10：没有人能够合格。" in page
