"""The scoring engine (models/scoring.py): its rules by example, then its invariants as properties."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.scoring import ClaimInput, ItemRule, Rules, StandardRule, grade_for, score

D = Decimal


def make_rules(pass_line: str = "90", excellent_line: str = "105") -> Rules:
    """Two deduction items (60 + 40 = 100) and a bonus item with an honour category and a plain bonus."""
    items = {
        1: ItemRule(1, "D1-01", "理想信念", "deduction", D("60"), "履行党员义务"),
        2: ItemRule(2, "D3-01", "三会一课", "deduction", D("40"), "参加组织生活"),
        3: ItemRule(3, "D4-01", "综合表彰", "bonus", D("0"), "发挥先锋模范作用"),
    }
    standards = {
        11: StandardRule(11, 1, "S11", "发表错误言论的，每次扣30分", "deduction", D("30"), None, None, None),
        12: StandardRule(12, 1, "S12", "学习笔记不全的，扣5分", "deduction", D("5"), 2, None, None),
        21: StandardRule(21, 2, "S21", "无故缺席党员大会的，每次扣10分", "deduction", D("10"), None, None, None),
        31: StandardRule(31, 3, "S31", "国家级表彰，加20分", "bonus", D("20"), None, "综合表彰", 5),
        32: StandardRule(32, 3, "S32", "局级表彰，加10分", "bonus", D("10"), None, "综合表彰", 3),
        33: StandardRule(33, 3, "S33", "处级表彰，加6分", "bonus", D("6"), 1, "综合表彰", 2),
        34: StandardRule(34, 3, "S34", "志愿服务，每次加1分", "bonus", D("1"), 3, None, None),
        35: StandardRule(35, 3, "S35", "局级技能竞赛获奖，加6分", "bonus", D("6"), None, "技能竞赛", 3),
    }
    return Rules(1, 7, D(pass_line), D(excellent_line), items, standards)


RULES = make_rules()


def item(result, code):
    return next(i for i in result.explanation["items"] if i["code"] == code)


def test_no_claims_is_the_full_baseline():
    result = score(RULES, [])
    assert result.total == D("100.00") and result.grade == "pass"
    assert [i["baseline"] for i in result.explanation["items"]] == ["60.00", "40.00", "0.00"]
    assert result.explanation["baseline_total"] == "100.00"


def test_deductions_and_bonuses_add_up_with_their_standards_and_evidence():
    claims = [ClaimInput(1, 21, 1, evidence_ids=(9, 4)), ClaimInput(2, 34, 2), ClaimInput(3, 32, 1, evidence_ids=(5,))]
    result = score(RULES, claims)
    assert result.total == D("100") - D("10") + D("2") + D("10")
    meeting = item(result, "D3-01")
    assert meeting["score"] == "30.00" and meeting["deductions_applied"] == "10.00"
    entry = meeting["entries"][0]
    assert entry["standard_code"] == "S21" and entry["claim_id"] == 1 and entry["evidence_ids"] == [4, 9]
    assert item(result, "D4-01")["bonuses"] == "12.00"


def test_a_deduction_item_never_goes_below_zero():
    result = score(RULES, [ClaimInput(1, 21, 7)])  # 70 claimed against a baseline of 40
    meeting = item(result, "D3-01")
    assert meeting["score"] == "0.00" and meeting["deductions_claimed"] == "70.00"
    assert meeting["deductions_applied"] == "40.00" and meeting["floored"] is True
    assert result.total == D("60.00") and result.grade == "fail"


def test_within_an_honour_category_only_the_highest_counts():
    claims = [ClaimInput(5, 32, 1), ClaimInput(6, 31, 1), ClaimInput(7, 33, 1), ClaimInput(8, 35, 1)]
    result = score(RULES, claims)
    assert result.total == D("100") + D("20") + D("6")  # 国家级 of 综合表彰 and the one 技能竞赛
    honours = {h["category"]: h for h in result.explanation["honours"]}
    assert honours["综合表彰"]["kept_claim_id"] == 6 and honours["综合表彰"]["dropped_claim_ids"] == [5, 7]
    dropped = {e["claim_id"]: e for e in item(result, "D4-01")["entries"] if not e["counted"]}
    assert dropped[5]["dropped"] == {"reason": "lower_in_honour_category", "kept_claim_id": 6}
    assert result.explanation["dropped_claim_ids"] == [5, 7]


def test_bonuses_are_uncapped_beyond_any_line():
    claims = [ClaimInput(1, 31, 1), ClaimInput(2, 35, 1), ClaimInput(3, 34, 3)]
    result = score(RULES, claims)
    assert result.total == D("129.00") and result.grade == "excellent"


def test_occurrences_above_the_maximum_are_capped_and_said_so():
    result = score(RULES, [ClaimInput(1, 34, 10), ClaimInput(2, 12, 5)])
    assert result.total == D("100") + D("3") - D("10")
    entry = item(result, "D4-01")["entries"][0]
    assert entry["occurrences"] == 10 and entry["occurrences_counted"] == 3 and entry["capped_at"] == 3
    assert result.explanation["capped_claim_ids"] == [1, 2]


def test_an_honour_counts_once():
    result = score(RULES, [ClaimInput(1, 32, 3)])
    assert result.total == D("110.00")
    assert item(result, "D4-01")["entries"][0]["capped_at"] == 1


def test_a_reviewers_adjustment_sets_the_points_per_occurrence():
    result = score(RULES, [ClaimInput(1, 21, 2, points_per_occurrence=D("2.5"))])
    entry = item(result, "D3-01")["entries"][0]
    assert result.total == D("95.00") and entry["adjusted"] is True and entry["points"] == "5.00"
    assert entry["standard_points"] == "10.00"


def test_ties_in_a_category_break_by_level_then_claim_id():
    # Adjusted to the same worth: the higher level counts; same level and worth: the lower claim id.
    claims = [ClaimInput(4, 32, 1, points_per_occurrence=D("8")), ClaimInput(3, 31, 1, points_per_occurrence=D("8"))]
    assert score(RULES, claims).explanation["honours"][0]["kept_claim_id"] == 3
    claims = [ClaimInput(9, 32, 1), ClaimInput(8, 32, 1)]
    assert score(RULES, claims).explanation["honours"][0]["kept_claim_id"] == 8


@pytest.mark.parametrize("claim, message", [
    (ClaimInput(1, 999, 1), "not in catalogue version"),
    (ClaimInput(1, 21, -1), "occurrences"),
    (ClaimInput(1, 21, 1, points_per_occurrence=D("-1")), "points per occurrence"),
])
def test_bad_claims_are_refused(claim, message):
    with pytest.raises(ValueError, match=message):
        score(RULES, [claim])


def test_a_claim_id_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        score(RULES, [ClaimInput(1, 21, 1), ClaimInput(1, 34, 1)])


@pytest.mark.parametrize("total, grade", [("89.99", "fail"), ("90", "pass"), ("104.99", "pass"), ("105", "excellent")])
def test_grades_against_the_lines(total, grade):
    assert grade_for(D(total), D("90"), D("105")) == grade


def test_explanation_is_json_serialisable_and_repeats_the_result():
    result = score(RULES, [ClaimInput(1, 21, 1), ClaimInput(2, 31, 1), ClaimInput(3, 32, 1)])
    text = json.dumps(result.explanation)
    again = json.loads(text)
    assert again["total"] == "110.00" and again["grade"] == "excellent"
    assert D(again["baseline_total"]) - D(again["deductions"]) + D(again["bonuses"]) == result.total
    assert sum(D(i["score"]) for i in again["items"]) == result.total


# --- properties --------------------------------------------------------------------------------

points = st.decimals(min_value=D("0.5"), max_value=D("30"), places=1)


@st.composite
def rules_strategy(draw) -> Rules:
    """Random catalogues: deduction items with baselines, bonus items with honour categories whose
    points rise with their level (as catalogue validation requires), and plain bonuses."""
    items: dict[int, ItemRule] = {}
    standards: dict[int, StandardRule] = {}
    sid = 100
    for n in range(draw(st.integers(1, 4))):
        iid = n + 1
        items[iid] = ItemRule(iid, f"I{iid}", f"项目{iid}", "deduction", draw(points) * 2, "维度")
        for _ in range(draw(st.integers(1, 3))):
            sid += 1
            cap = draw(st.none() | st.integers(1, 4))
            standards[sid] = StandardRule(sid, iid, f"S{sid}", "扣分", "deduction", draw(points), cap, None, None)
    bonus_item = len(items) + 1
    items[bonus_item] = ItemRule(bonus_item, f"I{bonus_item}", "加分项目", "bonus", D("0"), "维度")
    for c in range(draw(st.integers(0, 3))):
        levels = sorted(draw(st.sets(st.integers(1, 5), min_size=1, max_size=5)))
        worth = D("0")
        for level in levels:
            worth += draw(points)
            sid += 1
            standards[sid] = StandardRule(sid, bonus_item, f"S{sid}", "荣誉", "bonus", worth, None, f"C{c}", level)
    for _ in range(draw(st.integers(0, 3))):
        sid += 1
        standards[sid] = StandardRule(sid, bonus_item, f"S{sid}", "加分", "bonus", draw(points),
                                      draw(st.none() | st.integers(1, 4)), None, None)
    return Rules(1, 1, D("80"), D("110"), items, standards)


@st.composite
def rules_and_claims(draw, adjusted: bool = True):
    rules = draw(rules_strategy())
    ids = sorted(rules.standards)
    claims = []
    for n, claim_id in enumerate(draw(st.lists(st.integers(1, 10_000), unique=True, max_size=12))):
        standard_id = draw(st.sampled_from(ids))
        adjustment = draw(st.none() | points) if adjusted else None
        claims.append(ClaimInput(claim_id, standard_id, draw(st.integers(0, 5)), adjustment, (n,)))
    return rules, claims


@settings(max_examples=300, deadline=None)
@given(data=rules_and_claims(), seed=st.randoms(use_true_random=False))
def test_the_order_of_claims_never_matters(data, seed):
    rules, claims = data
    shuffled = list(claims)
    seed.shuffle(shuffled)
    assert score(rules, claims) == score(rules, shuffled)


@settings(max_examples=300, deadline=None)
@given(data=rules_and_claims())
def test_a_deduction_never_takes_an_item_below_zero(data):
    rules, claims = data
    result = score(rules, claims)
    for i in result.explanation["items"]:
        assert D(i["baseline"]) - D(i["deductions_applied"]) >= 0
    assert result.total >= 0
    assert result.total == sum(D(i["score"]) for i in result.explanation["items"])


@settings(max_examples=300, deadline=None)
@given(data=rules_and_claims(), pick=st.integers(0, 100))
def test_removing_a_bonus_never_raises_the_score(data, pick):
    rules, claims = data
    bonuses = [c for c in claims if rules.standards[c.standard_id].kind == "bonus"]
    if not bonuses:
        return
    removed = bonuses[pick % len(bonuses)]
    assert score(rules, [c for c in claims if c is not removed]).total <= score(rules, claims).total


@settings(max_examples=300, deadline=None)
@given(data=rules_and_claims(adjusted=False), pick=st.integers(0, 100), occurrences=st.integers(0, 5))
def test_adding_a_lower_honour_of_a_held_category_never_changes_the_score(data, pick, occurrences):
    rules, claims = data
    held = [(c, rules.standards[c.standard_id]) for c in claims if rules.standards[c.standard_id].honour_category
            and c.occurrences > 0]
    if not held:
        return
    claim, standard = held[pick % len(held)]
    lower = [s for s in rules.standards.values() if s.honour_category == standard.honour_category
             and s.honour_level < standard.honour_level]
    if not lower:
        return
    extra = ClaimInput(max(c.claim_id for c in claims) + 1, lower[pick % len(lower)].id, occurrences)
    before = score(rules, claims)
    assert score(rules, claims + [extra]).total == before.total


@settings(max_examples=100, deadline=None)
@given(rules=rules_strategy())
def test_the_one_click_score_kept_on_the_rules_is_the_engines_score_without_claims(rules):
    assert rules.score_without_claims == score(rules, []).total == rules.baseline_total.quantize(D("0.01"))
    assert rules.score_without_claims is rules.score_without_claims  # scored once per rules
