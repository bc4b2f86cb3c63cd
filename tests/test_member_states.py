"""States of a quarter for the member pages, built through the services: used by the member tests
and by screenshots (`tools/shoot.py --setup tests.test_member_states:posted_with_claims`), where
the demo bureau and catalogue are loaded and the clock is the real one.

Each builder takes the session (and optionally a clock with `now()`), and returns what it made.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from models import clock as real_clock
from models.evaluation import Quarter, QuarterStatus
from models.people import User
from tests import quarter_helpers as qh
from workflows.engine import tx
from workflows.quarter import evaluation, evidence

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def open_or_current(session: Any, clock: Any = real_clock) -> Quarter:
    """The open quarter, or a fresh one for the clock's own quarter."""
    existing = session.scalar(select(Quarter).where(Quarter.status == QuarterStatus.OPEN).order_by(Quarter.id.desc()))
    if existing is not None:
        return existing
    today = clock.now().date()
    return qh.open_quarter(session, clock, year=today.year, q=(today.month - 1) // 3 + 1)


def first_member(session: Any, quarter: Quarter, username: str) -> Any:
    user = session.scalar(select(User).where(User.username == username))
    return qh.evaluation_of(session, quarter.id, user.person_id)


def standards(session: Any, ev: Any) -> dict[str, Any]:
    """A plain bonus, an honour of two levels of one category, and a deduction of the member's catalogue."""
    rules = evaluation.rules(session, ev)
    values = list(rules.standards.values())
    plain = next(s for s in values if s.kind == "bonus" and s.honour_category is None and (s.max_occurrences or 99) >= 2)
    honours: dict[str, list[Any]] = {}
    for s in values:
        if s.honour_category:
            honours.setdefault(s.honour_category, []).append(s)
    category = next(c for c, group in honours.items() if len(group) >= 2)
    high, low = sorted(honours[category], key=lambda s: -(s.honour_level or 0))[:2]
    deduction = next(s for s in values if s.kind == "deduction" and (s.max_occurrences or 99) >= 2)
    return {"plain": plain, "high": high, "low": low, "deduction": deduction}


def in_quarter(quarter: Quarter, day: int = 5) -> str:
    return date(quarter.year, 3 * (quarter.quarter - 1) + 1, day).isoformat()


def declare_with_claims(session: Any, quarter: Quarter, username: str, upload_dir: str, *, submit: bool = True) -> Any:
    """The member declares a bonus with a PNG, two honours of one category and an honest deduction, each
    with a file."""
    ev = first_member(session, quarter, username)
    member = qh.who(session, username)
    picks = standards(session, ev)
    claims = {}
    for key, occurrences, text in (("plain", 2, "夜间执法两次，有值班记录"), ("high", 1, "获局级先进个人"),
                                   ("low", 1, "获处级优秀党员"), ("deduction", 1, "一次无故缺席集中学习")):
        claims[key] = tx.run(session, evaluation.save_claim, member, ev.id, {
            "standard_id": picks[key].id, "occurrences": occurrences, "occurred_on": in_quarter(quarter),
            "description": text})
    tx.run(session, evidence.upload, member, claims["plain"].id, filename="值班记录.png", data=PNG,
           upload_dir=upload_dir, max_bytes=10 * 1024 * 1024)
    for key in ("high", "low", "deduction"):
        tx.run(session, evidence.upload, member, claims[key].id, filename="表彰文件.pdf" if key != "deduction" else "说明.pdf",
               data=PDF, upload_dir=upload_dir, max_bytes=10 * 1024 * 1024)
    if submit:
        [task] = qh.tasks(session, "self_evaluation", person_id=ev.person_id)
        tx.run(session, evaluation.submit_self_evaluation, member, task.id)
    return ev, claims


def review_with_decisions(session: Any, quarter: Quarter, claims: dict[str, Any]) -> None:
    """Accept the plain bonus, adjust the honour, reject the lower one; everybody else one click."""
    decisions = {claims["plain"].id: {"decision": "accept"},
                 claims["high"].id: {"decision": "adjust", "occurrences": 1, "points": "1.5",
                                     "reason": "表彰文件为处级，按处级计分"},
                 claims["low"].id: {"decision": "reject", "reason": "同类荣誉只计最高级别"},
                 claims["deduction"].id: {"decision": "accept"}}
    qh.declare_all(session, quarter.id)
    qh.review_all(session, quarter.id, decide=lambda c: {"claim_id": c.id, **decisions.get(c.id, {"decision": "accept"})})


def posted_with_claims(session: Any, clock: Any = real_clock, username: str = "member1", upload_dir: str | None = None) -> Any:
    """A quarter under publicity; `username` declared claims with evidence, reviewed with decisions."""
    from flask import current_app

    quarter = open_or_current(session, clock)
    ev, claims = declare_with_claims(session, quarter, username, upload_dir or current_app.config["UPLOAD_DIR"])
    review_with_decisions(session, quarter, claims)
    qh.approve_and_meet(session, quarter.id, clock)
    return ev, claims


def drafting(session: Any, clock: Any = real_clock, username: str = "member1") -> Any:
    """An open quarter in which `username` has two draft claims (one with a file)."""
    from flask import current_app

    quarter = open_or_current(session, clock)
    return declare_with_claims(session, quarter, username, current_app.config["UPLOAD_DIR"], submit=False)


def one_week_later(clock: Any) -> Any:
    return clock.now() + timedelta(days=7)


def says(app: Any, message: str, **params: Any) -> str:
    """A message as the (Chinese) page shows it, HTML-escaped: catalogues of several areas translate
    the services' messages, so tests ask the app instead of repeating one of them."""
    from flask_babel import gettext
    from markupsafe import escape

    with app.test_request_context():
        return str(escape(gettext(message, **{k: gettext(v) if isinstance(v, str) else v for k, v in params.items()})))


def showcase(session: Any, clock: Any = real_clock) -> Any:
    """For screenshots: `member1`'s posted quarter with an appeal decided, a concern raised about
    them and decided, and a substantiated supervision report they may still appeal."""
    from workflows.quarter import appeals, reports

    ev, claims = posted_with_claims(session, clock, "member1")
    user = session.scalar(select(User).where(User.username == "member1"))
    tx.run(session, appeals.file_appeal, qh.who(session, "member1"), ev.id, kind="appeal",
           text="表彰文件为局级，应按局级计分。", claim_id=claims["high"].id)
    _decide(session, ev, "dismissed", "经核对，表彰文件落款为处级单位，维持调整。")
    tx.run(session, appeals.file_appeal, qh.who(session, "member2"), ev.id, kind="concern",
           text="该同志本季度有一次集中学习迟到。")
    _decide(session, ev, "dismissed", "经查签到记录，当日按时到会。")
    deduction = standards(session, ev)["deduction"]
    tx.run(session, reports.submit, qh.who(session, "member2"), subject_person_id=user.person_id,
           text="上班期间曾脱岗约一小时。")
    [verify] = qh.tasks(session, "report_verification", person_id=user.person_id)
    tx.run(session, reports.verify, qh.reviewer_for(session, verify), verify.id, decision="substantiated",
           reason="经考勤和监控核实属实。", standard_id=deduction.id, occurrences=1)
    return ev, claims


def _decide(session: Any, ev: Any, decision: str, reason: str) -> None:
    from workflows.quarter import appeals

    [task] = qh.tasks(session, "appeal_decision", person_id=ev.person_id)
    tx.run(session, appeals.decide, qh.reviewer_for(session, task), task.id, decision=decision, reason=reason)
