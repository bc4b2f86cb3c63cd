"""What-if: a closed quarter re-scored under another catalogue version, who moves and why."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from demo import catalogue as demo_catalogue
from models.catalogue import Standard
from models.clock import now
from models.evaluation import Claim, Evaluation, Evidence, Quarter
from models.permissions import Principal
from workflows.catalogue import versions as catalogue
from workflows.catalogue import whatif
from workflows.errors import NotFound, ValidationFailed

D = Decimal
SYSTEM = Principal.system()


def std(db_session, version_id, code):
    return db_session.scalar(select(Standard).where(Standard.version_id == version_id, Standard.code == code))


@pytest.fixture
def closed_quarter(org, db_session):
    """2026Q3 filed with the demo catalogue; three members with claims; next year's draft changes
    a deduction's points, drops a standard, and raises a baseline."""
    demo_catalogue.load(db_session)
    v1 = catalogue.current_published(db_session, 2026)
    quarter = Quarter(year=2026, quarter=3, scope_key="bureau", catalogue_version_id=v1.id, status="filed",
                      self_eval_deadline=now() - timedelta(days=60))
    db_session.add(quarter)
    db_session.flush()
    people = {"m1_a1": [("D3-01-1-1", 1, None, None), ("D4-01-1-3", 1, None, None)],  # absent once, 局级 honour
              "m2_a1": [("D1-06-2-1", 2, None, D("1")), ("D4-06-1-1", 2, None, None)],  # lunchtime drink, adjusted
              "m1_b1": []}
    evaluations = {}
    for username, claims in people.items():
        person = org.people[username]
        kind = org.kinds["maritime_office" if username.endswith("b1") else "department"]
        ev = Evaluation(quarter_id=quarter.id, person_id=person.id, branch_id=person.branch_id, unit_kind_id=kind.id,
                        member_status=person.status, status="filed")
        db_session.add(ev)
        db_session.flush()
        inputs = []
        for code, occurrences, reviewed_occurrences, reviewed_points in claims:
            claim = Claim(evaluation_id=ev.id, standard_id=std(db_session, v1.id, code).id, status="accepted",
                          occurrences=occurrences, reviewed_occurrences=reviewed_occurrences,
                          reviewed_points=reviewed_points)
            db_session.add(claim)
            db_session.flush()
            inputs.append(claim)
        # A rejected claim never counts, under either version.
        db_session.add(Claim(evaluation_id=ev.id, standard_id=std(db_session, v1.id, "D4-01-1-1").id,
                             status="rejected", occurrences=1))
        evaluations[username] = ev
    db_session.flush()
    first = db_session.scalar(select(Claim).where(Claim.evaluation_id == evaluations["m1_a1"].id).order_by(Claim.id))
    db_session.add(Evidence(evaluation_id=first.evaluation_id, claim_id=first.id, filename="签到表.pdf",
                            content_type="application/pdf", size=10, sha256="0" * 64, storage_key="k1"))

    draft = catalogue.copy_version(db_session, SYSTEM, v1.id, year=2027)
    absent = std(db_session, draft.id, "D3-01-1-1")
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": absent.code, "text": "无故缺席的，每次扣3分", "points": D("3")},
                        node_id=absent.id, expected_revision=None)
    drink = std(db_session, draft.id, "D1-06-2-1")
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": drink.code, "text": drink.text, "points": D("4")},
                        node_id=drink.id, expected_revision=None)
    catalogue.delete_node(db_session, SYSTEM, draft.id, "standard", std(db_session, draft.id, "D4-06-1-1").id,
                          expected_revision=None)
    db_session.commit()
    for ev in evaluations.values():  # the scores on file, as the quarter recorded them
        rules = catalogue.rules_for(db_session, v1.id, ev.unit_kind_id)
        from models.scoring import ClaimInput, score

        result = score(rules, [ClaimInput(c.id, c.standard_id, c.reviewed_occurrences or c.occurrences,
                                          c.reviewed_points) for c in ev.claims if c.status == "accepted"])
        ev.score, ev.grade = result.total, result.grade
    db_session.commit()
    return quarter, v1, draft, evaluations


def test_rescoring_shows_who_moves_and_why(closed_quarter, db_session):
    quarter, v1, draft, evs = closed_quarter
    result = whatif.rescore(db_session, quarter.id, draft.id)
    moves = {m.evaluation_id: m for m in result.moves}
    m1 = moves[evs["m1_a1"].id]
    assert (m1.before, m1.after) == (D("108.00"), D("107.00")) and m1.recorded == m1.before
    (change,) = m1.items
    assert (change.code, change.before, change.after) == ("D3-01", D("3.00"), D("2.00"))
    assert change.claims[0][1:] == ("D3-01-1-1", D("2.00"), D("3.00"))
    m2 = moves[evs["m2_a1"].id]
    # The adjusted drink deduction (1 of 2 points each) carries over in proportion: 2 of 4, twice;
    # the volunteer bonus has no standard in the draft and is reported.
    assert (m2.before, m2.after) == (D("100.00"), D("96.00"))
    assert [u.standard_code for u in m2.unmatched] == ["D4-06-1-1"] and m2.unmatched[0].points == D("2")
    assert {c.code for c in m2.items} == {"D1-06", "D4-06"}
    m3 = moves[evs["m1_b1"].id]
    assert m3.delta == 0 and m3.direction == "same" and m3.items == ()
    assert result.counts == {"down": 2, "same": 1}
    assert (m2.rank_before, m2.rank_after) == (2, 3) and (m1.rank_before, m1.rank_after) == (1, 1)
    assert result.moves[0].evaluation_id == m2.evaluation_id  # the biggest move first
    assert result.unmatched_codes == {"D4-06-1-1": 1}
    json.dumps(result.as_json())


def test_rescoring_under_the_same_version_moves_nobody(closed_quarter, db_session):
    quarter, v1, _, _ = closed_quarter
    result = whatif.rescore(db_session, quarter.id, v1.id)
    assert all(m.delta == 0 and not m.items and not m.unmatched for m in result.moves)


def test_grades_that_change_are_counted(closed_quarter, db_session):
    quarter, v1, draft, evs = closed_quarter
    catalogue.update_version(db_session, SYSTEM, draft.id, expected_revision=None, year=2027,
                             name="x", pass_line=D("97"), excellent_line=D("108"))
    result = whatif.rescore(db_session, quarter.id, draft.id)
    assert result.grade_changes == {("pass", "fail"): 1, ("excellent", "pass"): 1}


def test_only_closed_quarters_are_rescored(closed_quarter, db_session):
    quarter, v1, draft, _ = closed_quarter
    quarter.status = "open"
    db_session.commit()
    with pytest.raises(ValidationFailed):
        whatif.rescore(db_session, quarter.id, draft.id)
    with pytest.raises(NotFound):
        whatif.rescore(db_session, 99999, draft.id)
    quarter.status = "notified"
    db_session.commit()
    with pytest.raises(NotFound):
        whatif.rescore(db_session, quarter.id, 99999)


def test_quarters_are_found_by_id_or_label(closed_quarter, db_session):
    quarter = closed_quarter[0]
    assert whatif.find_quarter(db_session, "2026q3") is quarter
    assert whatif.find_quarter(db_session, str(quarter.id)) is quarter
    for ref in ("2026Q4", "abc", "2026Q", ""):
        with pytest.raises(NotFound):
            whatif.find_quarter(db_session, ref)


def test_whatif_command(closed_quarter, runner):
    quarter, v1, draft, evs = closed_quarter
    result = runner.invoke(args=["catalogue", "whatif", "2026Q3", str(draft.id)])
    assert result.exit_code == 0, result.output
    assert "D3-01-1-1" in result.output and "down 2" in result.output
    result = runner.invoke(args=["catalogue", "whatif", "2026Q3", str(draft.id), "--json"])
    data = json.loads(result.output)
    assert data["counts"] == {"down": 2, "same": 1} and data["moves"][0]["delta"] == "-4.00"
    result = runner.invoke(args=["catalogue", "whatif", "2026Q9", str(draft.id)])
    assert result.exit_code != 0 and "does not exist" in result.output
