"""A whole quarter in a real browser (Debian's Chromium through Playwright): the party office opens
it; one member declares an honour with evidence, another declares with one click; the reviewer
reviews; the secretary approves; the meeting is confirmed; the board is posted; an appeal is upheld
and a concern dismissed; the notice goes out; the Leading Group files the quarter. Every page is
saved as a screenshot under test-artifacts/browser/.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models.evaluation import Appeal, Quarter
from models.process import TaskState
from tests import quarter_helpers as qh
from tests.factories import TEST_PASSWORD
from workflows.engine import jobs, tx
from workflows.quarter import evaluation

pytestmark = pytest.mark.browser
SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n" \
      b"trailer<</Root 1 0 R>>\n%%EOF\n"


class Desk:
    """One person at their browser."""

    def __init__(self, browser, base: str, username: str, shots) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.base, self.username, self.shots = base, username, shots
        self.page.goto(base + "/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", TEST_PASSWORD)
        self.page.click("input[type=submit]")
        assert "/login" not in self.page.url, f"{username} could not sign in"

    def go(self, path: str, shot: str | None = None) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        if shot:
            self.shots(shot, self.page)

    def submit(self, form: str = "main form[method=post]", button: str = "button.btn-primary, input.btn-primary") -> None:
        with self.page.expect_navigation():
            self.page.locator(form).locator(button).last.click()
        text = self.page.content()
        assert "500" not in self.page.title(), text[:500]

    def close(self) -> None:
        self.context.close()


def task_of(session, form_key: str, person_id: int | None = None, quarter_id: int | None = None):
    tasks = qh.tasks(session, form_key, person_id=person_id, quarter_id=quarter_id)
    assert tasks, f"no open {form_key} task"
    return tasks[0]


def page_of(task) -> str:
    from flask import current_app

    from webapp.tasks import task_url

    with current_app.test_request_context():
        return task_url(task)


def test_a_whole_quarter_in_the_browser(app, db_session, org, clock, live_server, browser, shots, backend):
    if backend != "sqlite":
        pytest.skip("the browser walk runs once, on SQLite")
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    base = live_server

    # The party office opens the quarter through the form.
    office = Desk(browser, base, "office", shots)
    office.go("/inbox/", "office-inbox-empty")
    office.go("/office/quarters/new", "open-quarter-form")
    deadline = (clock.now() + timedelta(days=10)).astimezone(SHANGHAI)
    office.page.fill("input[name=self_eval_deadline]", deadline.strftime("%Y-%m-%dT%H:%M"))
    office.page.fill("input[name=publicity_days]", "5")
    office.page.select_option("select[name=quarter]", "4")
    office.page.fill("input[name=year]", "2026")
    office.submit()
    office.shots("quarter-opened", office.page)
    quarter = db_session.scalar(select(Quarter).where(Quarter.year == 2026, Quarter.quarter == 4))
    assert quarter is not None

    # A member declares an honour with evidence.
    m1 = org.people["m1_a1"]
    member = Desk(browser, base, "m1_a1", shots)
    member.go("/inbox/", "member-inbox")
    task = task_of(db_session, "self_evaluation", m1.id)
    member.go(page_of(task), "self-evaluation")
    ev = qh.evaluation_of(db_session, quarter.id, m1.id)
    honour = next(s for s in evaluation.rules(db_session, ev).standards.values()
                  if s.kind == "bonus" and s.honour_category)
    member.go(page_of(task) + f"?std={honour.id}", "claim-form")
    member.page.fill("input[name=occurred_on]", "2026-10-08")
    member.page.fill("textarea[name=description]", "获评局级优秀共产党员")
    member.page.set_input_files("input[name=file]", files=[{"name": "证书.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    member.submit("#claim-form form")
    member.shots("claim-saved", member.page)
    assert [c.standard_id for c in evaluation.claims_of(db_session, ev.id)] == [honour.id]
    member.submit("form.submit-box")
    member.shots("declared", member.page)
    assert qh.tasks(db_session, "branch_review", person_id=m1.id)

    # Another member has nothing to declare: one click.
    other = Desk(browser, base, "m1_b1", shots)
    other_task = task_of(db_session, "self_evaluation", org.people["m1_b1"].id)
    other.go(page_of(other_task), "one-click")
    other.submit("form.submit-box")
    assert qh.evaluation_of(db_session, quarter.id, org.people["m1_b1"].id).one_click
    # Everybody else declares through the services (the walk is about the pages).
    qh.declare_all(db_session, quarter.id)

    # The reviewer reviews the honour in the browser; the other reviews go through the services.
    reviewer = Desk(browser, base, "rev_a1", shots)
    reviewer.go("/inbox/", "reviewer-inbox")
    review = task_of(db_session, "branch_review", m1.id)
    reviewer.go(page_of(review), "review")
    reviewer.page.check("input[name='decisions-0-decision'][value='accept']")
    reviewer.submit("form.review-form", "button[name=action][value=submit]")
    reviewer.shots("reviewed", reviewer.page)
    assert qh.evaluation_of(db_session, quarter.id, m1.id).score is not None
    qh.review_all(db_session, quarter.id)

    # The secretary approves and records the general meeting.
    secretary = Desk(browser, base, "sec_a1", shots)
    approval = next(t for t in qh.tasks(db_session, "branch_approval", quarter_id=quarter.id)
                    if t.branch_id == org.branches["a1"].id)
    secretary.go(page_of(approval), "approval")
    secretary.page.check("input[name=decision][value=approved]")
    secretary.submit("form.card")
    meeting = next(t for t in qh.tasks(db_session, "branch_meeting", quarter_id=quarter.id)
                   if t.branch_id == org.branches["a1"].id)
    secretary.go(page_of(meeting), "meeting")
    secretary.page.fill("input[name=meeting_date]", clock.now().astimezone(SHANGHAI).date().isoformat())
    secretary.page.fill("input[name=meeting_expected]", "11")
    secretary.page.fill("input[name=meeting_present]", "10")
    secretary.page.fill("textarea[name=meeting_resolution]", "支部党员大会逐一评议，同意审核结果，予以公示。")
    secretary.submit()
    qh.approve_and_meet(db_session, quarter.id, clock)
    assert qh.evaluation_of(db_session, quarter.id, m1.id).status == "posted"

    # The board is posted for every member.
    member.go(f"/publicity/{quarter.id}/", "board")
    member.go(f"/publicity/{quarter.id}/bureau", "board-bureau")
    member.go(f"/publicity/{quarter.id}/print", "board-print")

    # An appeal, upheld; a concern, dismissed.
    member.go(f"/my/evaluations/{ev.id}/appeal", "appeal-form")
    member.page.fill("textarea[name=text]", "本季度还参加了台风应急值守，未计分。")
    member.submit()
    concerned = qh.evaluation_of(db_session, quarter.id, org.people["m2_b1"].id)
    other.go(f"/evaluations/{concerned.id}/concern", "concern-form")
    other.page.fill("textarea[name=text]", "该同志本季度有两次未参加主题党日。")
    other.submit()
    discipline = Desk(browser, base, "disc_a1", shots)
    decision = task_of(db_session, "appeal_decision", m1.id)
    discipline.go(page_of(decision), "appeal-decision")
    discipline.page.check("input[name=decision][value=upheld]")
    discipline.page.fill("textarea[name=reason]", "经核实值守记录，申诉成立。")
    discipline.submit()
    again = task_of(db_session, "branch_review", m1.id)
    tx.run(db_session, evaluation.review, qh.who(db_session, "rev_a1"), again.id, [])
    discipline_b = Desk(browser, base, "disc_b1", shots)
    decision = task_of(db_session, "appeal_decision", org.people["m2_b1"].id)
    discipline_b.go(page_of(decision), "concern-decision")
    discipline_b.page.check("input[name=decision][value=dismissed]")
    discipline_b.page.fill("textarea[name=reason]", "经查，两次均有请假手续。")
    discipline_b.submit()
    assert {a.status for a in db_session.scalars(select(Appeal).execution_options(populate_existing=True))} == {
        "upheld", "dismissed"}

    # Publicity ends; the party office publishes the notice; the Leading Group files the quarter.
    clock.advance(days=9)
    jobs.run_until_idle(db_session)
    notice = task_of(db_session, "quarter_notice", quarter_id=quarter.id)
    office.go(page_of(notice), "notice")
    office.page.fill("input[name=title]", "关于2026年第四季度党员积分考评情况的通报")
    office.page.fill("textarea[name=body]", "本季度考评工作顺利完成，总体情况良好。")
    office.submit()
    office.go("/notices/", "notices")
    leader = Desk(browser, base, "leader", shots)
    filing = task_of(db_session, "filing_acceptance", quarter_id=quarter.id)
    leader.go(page_of(filing), "filing")
    leader.page.check("input[name=decision][value=accepted]")
    leader.submit()
    assert db_session.get(Quarter, quarter.id, populate_existing=True).locked
    member.go(f"/my/evaluations/{ev.id}", "my-score-explained")
    assert "获评局级优秀共产党员" in member.page.content() or honour.text[:8] in member.page.content()
    leader.go("/monitor/", "monitor")
    for desk in (office, member, other, reviewer, secretary, discipline, discipline_b, leader):
        desk.close()
    assert not qh.tasks(db_session, "branch_review", quarter_id=quarter.id, state=TaskState.OPEN)
