"""Every path of the quarter through the shipped BPMN processes, at the engine level (no HTTP)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.evaluation import (
    Appeal,
    BranchQuarter,
    Claim,
    Evaluation,
    FollowUp,
    Notice,
    Notification,
    Quarter,
    SupervisionReport,
)
from models.people import Role, RoleAssignment
from models.process import HumanTask, InstanceStatus, ProcessInstance, TaskState
from tests import quarter_helpers as qh
from workflows.engine import access, jobs, tx
from workflows.errors import NotAllowed, QuarterLocked, TaskNotReady, WindowClosed
from workflows.quarter import appeals, evaluation, followups, reports


@pytest.fixture
def env(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    q = qh.open_quarter(db_session, clock)
    return q


def test_opening_a_quarter_gives_everybody_a_self_evaluation(db_session, org, env):
    q = env
    evaluated = [p for p in org.people.values() if p.evaluated]
    assert db_session.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.quarter_id == q.id)) == len(evaluated)
    own = qh.tasks(db_session, "self_evaluation", quarter_id=q.id)
    assert len(own) == len(evaluated)
    user_of_person = {u.person_id: u.id for u in org.users.values() if u.person_id is not None}
    assert {t.subject_person_id for t in own} == {p.id for p in evaluated}
    assert all(t.assignee_id == user_of_person[t.subject_person_id] for t in own)
    m1 = org.people["m1_a1"]
    [task] = qh.tasks(db_session, "self_evaluation", person_id=m1.id)
    assert task.assignee_id == org.users["m1_a1"].id and task.due_at == q.self_eval_deadline
    assert task.name == "党员自评（报绩）"
    branches = db_session.scalars(select(BranchQuarter).where(BranchQuarter.quarter_id == q.id)).all()
    assert {b.branch_id for b in branches} == {b.id for b in org.branches.values()}
    assert all(b.instance_id for b in branches)
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    assert ev.status == "self_evaluation" and ev.instance_id
    # Each person instance is its own: distinct task ids, compact state.
    uuids = db_session.scalars(select(HumanTask.task_uuid).where(HumanTask.quarter_id == q.id)).all()
    assert len(set(uuids)) == len(uuids)
    sizes = db_session.scalars(select(func.length(ProcessInstance.state)).where(
        ProcessInstance.process_key == "person_quarter")).all()
    assert max(sizes) < 6 * 1024


def test_happy_path_to_filing_locks_everything(db_session, org, env, clock):
    q = env
    assert qh.declare_all(db_session, q.id) > 0
    reviewed = qh.review_all(db_session, q.id)
    assert reviewed == len(qh.tasks(db_session, "branch_review", quarter_id=q.id, state=TaskState.COMPLETED))
    assert qh.approve_and_meet(db_session, q.id, clock) == 3
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    assert ev.status == "posted" and ev.score is not None and ev.grade in ("pass", "excellent")
    bq = db_session.scalar(select(BranchQuarter).where(BranchQuarter.quarter_id == q.id,
                                                       BranchQuarter.branch_id == org.branches["a1"].id))
    assert bq.status == "publicity" and bq.publicity_end > clock.now()
    assert bq.meeting_present == 9
    qh.end_publicity(db_session, clock)
    assert qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id).status == "confirmed"
    [notice_task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    qh.notice_and_file(db_session, q.id)
    quarter = db_session.get(Quarter, q.id, populate_existing=True)
    assert quarter.locked and quarter.status == "filed"
    jobs.run_until_idle(db_session)
    running = db_session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.quarter_id == q.id, ProcessInstance.process_key.in_(("person_quarter", "branch_quarter")),
        ProcessInstance.status != InstanceStatus.COMPLETED))
    assert running == 0
    assert {e.status for e in db_session.scalars(select(Evaluation).where(Evaluation.quarter_id == q.id)
                                                 .execution_options(populate_existing=True))} == {"filed"}
    [verify] = qh.tasks(db_session, "quarter_verification", quarter_id=q.id)
    assert verify.role == "leading_group"
    # Locked: no claim, score or appeal of the quarter can change, and the refusal is recorded.
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    ev.score = 1
    with pytest.raises(QuarterLocked):
        db_session.flush()
    db_session.rollback()
    with pytest.raises(QuarterLocked):
        appeals.file_appeal(db_session, qh.who(db_session, "m1_a1"), ev.id, kind="appeal", text="分数不对")
    db_session.rollback()


def test_reviewers_own_evaluation_goes_to_the_other_reviewer(db_session, org, env):
    q = env
    qh.declare_all(db_session, q.id)
    [task] = qh.tasks(db_session, "branch_review", person_id=org.people["rev_a1"].id)
    assert task.excluded_users == f" {org.users['rev_a1'].id} "
    assert qh.reviewer_for(db_session, task).user_id == org.users["rev2_a1"].id


def test_declared_claims_are_reviewed_adjusted_and_scored(db_session, org, env, clock):
    q = env
    m1 = org.people["m1_a1"]
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    rules = evaluation.rules(db_session, ev)
    bonus = next(s for s in rules.standards.values() if s.kind == "bonus" and s.honour_category is None
                 and (s.max_occurrences or 99) >= 2)
    member = qh.who(db_session, "m1_a1")
    claim = tx.run(db_session, evaluation.save_claim, member, ev.id,
                   {"standard_id": bonus.id, "occurrences": 2, "occurred_on": "2026-10-08", "description": "夜间执法"})
    [task] = qh.tasks(db_session, "self_evaluation", person_id=m1.id)
    tx.run(db_session, evaluation.submit_self_evaluation, member, task.id)
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    assert ev.self_score == rules.baseline_total + 2 * bonus.points
    [review] = qh.tasks(db_session, "branch_review", person_id=m1.id)
    tx.run(db_session, evaluation.review, qh.who(db_session, "rev_a1"), review.id,
           [{"claim_id": claim.id, "decision": "adjust", "occurrences": 1, "reason": "仅一次有记录"}])
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    assert ev.score == rules.baseline_total + bonus.points
    assert db_session.get(Claim, claim.id, populate_existing=True).status == "adjusted"
    assert ev.explanation["total"] == str(ev.score) or ev.explanation.get("total") is not None


def test_overdue_member_is_reminded_then_recorded_by_the_branch(db_session, org, env, clock):
    q = env
    m1 = org.people["m1_a1"]
    clock.advance(days=8, hours=1)  # past the reminder (two days before the deadline)
    jobs.run_until_idle(db_session)
    reminders = db_session.scalars(select(Notification).where(Notification.user_id == org.users["m1_a1"].id,
                                                              Notification.kind == "self_evaluation_reminder")).all()
    assert len(reminders) == 1
    assert qh.tasks(db_session, "self_evaluation", person_id=m1.id)  # still the member's, until the deadline
    clock.advance(days=2)
    jobs.run_until_idle(db_session)
    assert not qh.tasks(db_session, "self_evaluation", person_id=m1.id)
    [proxy] = qh.tasks(db_session, "proxy_self_evaluation", person_id=m1.id)
    assert proxy.role == "reviewer" and proxy.excluded_users == f" {org.users['m1_a1'].id} "
    with pytest.raises(TaskNotReady):
        [old] = qh.tasks(db_session, "self_evaluation", person_id=m1.id, state=TaskState.CANCELLED)
        evaluation.submit_self_evaluation(db_session, qh.who(db_session, "m1_a1"), old.id, one_click=True)
    db_session.rollback()
    tx.run(db_session, evaluation.submit_self_evaluation, qh.who(db_session, "rev_a1"), proxy.id, one_click=True)
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    assert ev.recorded_by_branch and ev.status == "review"
    assert qh.tasks(db_session, "branch_review", person_id=m1.id)


def _post_everything(db_session, q, clock):
    qh.declare_all(db_session, q.id)
    qh.review_all(db_session, q.id)
    qh.approve_and_meet(db_session, q.id, clock)


def test_appeal_upheld_goes_back_to_review_and_is_reposted(db_session, org, env, clock):
    q = env
    _post_everything(db_session, q, clock)
    m1 = org.people["m1_a1"]
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    appeal = tx.run(db_session, appeals.file_appeal, qh.who(db_session, "m1_a1"), ev.id, kind="appeal",
                    text="我本季度参加了夜间执法，未计分。")
    [decision] = qh.tasks(db_session, "appeal_decision", person_id=m1.id)
    assert decision.role == "discipline" and qh.evaluation_of(db_session, q.id, m1.id).status == "appeal"
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a1"), decision.id, decision="upheld",
           reason="经核实，应予加分。")
    [again] = qh.tasks(db_session, "branch_review", person_id=m1.id)
    assert again.bpmn_id == "re_review"
    rules = evaluation.rules(db_session, ev)
    bonus = next(s for s in rules.standards.values() if s.kind == "bonus" and s.honour_category is None)
    tx.run(db_session, evaluation.review, qh.who(db_session, "rev_a1"), again.id, [],
           [{"standard_id": bonus.id, "occurrences": 1, "reason": "夜间执法记录", "occurred_on": "2026-10-05"}])
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    assert ev.score == rules.baseline_total + bonus.points and ev.status == "posted"
    assert db_session.get(Appeal, appeal.id).status == "upheld"
    # The branch waits for the open appeal before it reports; after publicity all windows close.
    qh.end_publicity(db_session, clock)
    assert qh.tasks(db_session, "quarter_notice", quarter_id=q.id)


def test_appeal_dismissed_tells_the_appellant_why(db_session, org, env, clock):
    q = env
    _post_everything(db_session, q, clock)
    target = org.people["m1_a2"]
    ev = qh.evaluation_of(db_session, q.id, target.id)
    concern = tx.run(db_session, appeals.file_appeal, qh.who(db_session, "m1_a1"), ev.id, kind="concern",
                     text="该同志本季度有迟到情况。")
    [decision] = qh.tasks(db_session, "appeal_decision", person_id=target.id)
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a2"), decision.id, decision="dismissed",
           reason="经查考勤记录，无迟到。")
    note = db_session.scalar(select(Notification).where(Notification.user_id == org.users["m1_a1"].id,
                                                        Notification.kind == "appeal_decided"))
    assert note is not None and note.body == "经查考勤记录，无迟到。" and note.data["decision"] == "dismissed"
    assert db_session.get(Appeal, concern.id).status == "dismissed"
    assert qh.evaluation_of(db_session, q.id, target.id).status == "posted"


def test_an_open_appeal_holds_the_branch_back(db_session, org, env, clock):
    q = env
    _post_everything(db_session, q, clock)
    m1 = org.people["m1_b1"]
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    tx.run(db_session, appeals.file_appeal, qh.who(db_session, "m1_b1"), ev.id, kind="appeal", text="请复核。")
    qh.end_publicity(db_session, clock)
    bq = db_session.scalar(select(BranchQuarter).where(BranchQuarter.quarter_id == q.id,
                                                       BranchQuarter.branch_id == org.branches["b1"].id)
                           .execution_options(populate_existing=True))
    assert bq.status == "appeals"
    assert not qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    [decision] = qh.tasks(db_session, "appeal_decision", person_id=m1.id)
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_b1"), decision.id, decision="dismissed", reason="无误。")
    jobs.run_until_idle(db_session)
    assert qh.tasks(db_session, "quarter_notice", quarter_id=q.id)


def test_appeal_after_the_window_is_refused(db_session, org, env, clock):
    q = env
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    with pytest.raises(WindowClosed):
        appeals.file_appeal(db_session, qh.who(db_session, "m1_a1"), ev.id, kind="appeal", text="太早了")
    db_session.rollback()
    _post_everything(db_session, q, clock)
    qh.end_publicity(db_session, clock)
    with pytest.raises(WindowClosed):
        appeals.file_appeal(db_session, qh.who(db_session, "m1_a1"), ev.id, kind="appeal", text="太晚了")
    db_session.rollback()


def test_report_substantiated_becomes_a_deduction_that_can_be_appealed(db_session, org, env, clock):
    q = env
    subject = org.people["m1_a1"]
    report = tx.run(db_session, reports.submit, qh.who(db_session, "m1_a2"), subject_person_id=subject.id,
                    text="上班期间多次脱岗。")
    [verify] = qh.tasks(db_session, "report_verification", person_id=subject.id)
    assert verify.role == "reviewer" and verify.branch_id == org.branches["a1"].id
    ev = qh.evaluation_of(db_session, q.id, subject.id)
    deduction = next(s for s in evaluation.rules(db_session, ev).standards.values() if s.kind == "deduction")
    tx.run(db_session, reports.verify, qh.who(db_session, "rev_a1"), verify.id, decision="substantiated",
           reason="经考勤核实属实。", standard_id=deduction.id, occurrences=1)
    claim = db_session.scalar(select(Claim).where(Claim.report_id == report.id))
    assert claim.source == "report" and claim.status == "accepted" and claim.evaluation_id == ev.id
    assert db_session.scalar(select(Notification).where(Notification.kind == "report_deduction",
                                                        Notification.user_id == org.users["m1_a1"].id))
    tx.run(db_session, reports.appeal, qh.who(db_session, "m1_a1"), report.id, "当日在外执行任务。")
    [decide] = qh.tasks(db_session, "appeal_decision", person_id=subject.id)
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a1"), decide.id, decision="upheld",
           reason="有派车记录证明外出执法。")
    assert db_session.get(Claim, claim.id, populate_existing=True).status == "revoked"
    assert db_session.get(SupervisionReport, report.id, populate_existing=True).status == "revoked"


def test_report_unsubstantiated_is_closed_with_its_reason(db_session, org, env):
    report = tx.run(db_session, reports.submit, qh.who(db_session, "m1_a2"), subject_person_id=org.people["m1_a1"].id,
                    text="疑似违规。")
    [verify] = qh.tasks(db_session, "report_verification")
    tx.run(db_session, reports.verify, qh.who(db_session, "rev_a1"), verify.id, decision="unsubstantiated",
           reason="查无实据。")
    report = db_session.get(SupervisionReport, report.id, populate_existing=True)
    assert report.status == "unsubstantiated" and report.claim_id is None
    note = db_session.scalar(select(Notification).where(Notification.kind == "report_closed"))
    assert note.user_id == org.users["m1_a2"].id and note.body == "查无实据。"


def test_member_under_the_pass_line_gets_follow_ups(db_session, org, env, clock):
    q = env
    weak = org.people["m2_a1"]
    qh.declare_all(db_session, q.id)

    def harsh(claim):
        return {"claim_id": claim.id, "decision": "accept"}

    qh.review_all(db_session, q.id, decide=harsh)
    # Give the weak member heavy deductions through a re-review path: a substantiated report.
    ev = qh.evaluation_of(db_session, q.id, weak.id)
    rules = evaluation.rules(db_session, ev)
    items_by_baseline = sorted((i for i in rules.items.values() if i.kind == "deduction"), key=lambda i: -i.baseline)
    for item in items_by_baseline[:3]:
        standard = next(s for s in rules.standards.values() if s.item_id == item.id and s.kind == "deduction")
        report = tx.run(db_session, reports.submit, qh.who(db_session, "m1_a1"), subject_person_id=weak.id,
                        text=f"{item.name}方面问题。")
        [verify] = qh.tasks(db_session, "report_verification", person_id=weak.id)
        tx.run(db_session, reports.verify, qh.who(db_session, "rev_a1"), verify.id, decision="substantiated",
               reason="属实", standard_id=standard.id, occurrences=min(standard.max_occurrences or 10, 10))
        assert report.id
    assert qh.evaluation_of(db_session, q.id, weak.id).grade == "fail"
    qh.approve_and_meet(db_session, q.id, clock)
    qh.end_publicity(db_session, clock)
    qh.notice_and_file(db_session, q.id)
    follow_ups = db_session.scalars(select(FollowUp).where(FollowUp.person_id == weak.id)).all()
    assert {f.kind for f in follow_ups} == {"reminder_talk", "award_disqualification"}
    [talk] = qh.tasks(db_session, "follow_up", person_id=weak.id, branch_id=org.branches["a1"].id)
    assert talk.role == "secretary"
    tx.run(db_session, followups.complete, qh.who(db_session, "sec_a1"), talk.id, record="已约谈，本人表示整改。")
    done = db_session.scalar(select(FollowUp).where(FollowUp.person_id == weak.id, FollowUp.kind == "reminder_talk")
                             .execution_options(populate_existing=True))
    assert done.status == "done" and done.record == "已约谈，本人表示整改。"


def test_every_step_is_in_the_history(db_session, org, env, clock):
    q = env
    _post_everything(db_session, q, clock)
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    steps = db_session.scalars(select(AuditEvent.data).where(AuditEvent.instance_id == ev.instance_id,
                                                             AuditEvent.action == "task.completed")
                               .order_by(AuditEvent.id)).all()
    assert ['"self_evaluation"' in s for s in steps] == [True, False]
    assert '"branch_review"' in steps[1]


def test_ties_share_a_rank():
    from workflows.quarter.notices import competition_ranks

    assert competition_ranks(["99.00", "99.00", "98.50", "90.00", "90.00", "80.00"]) == [1, 1, 3, 4, 4, 6]
    assert competition_ranks([]) == []


@pytest.mark.parametrize("bad", [999999, -1, "x", 2**70])
def test_a_report_with_an_unknown_standard_gets_a_field_error(db_session, org, env, bad):
    from workflows.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as excinfo:
        reports.submit(db_session, qh.who(db_session, "m1_a2"), subject_person_id=org.people["m1_a1"].id,
                       text="情况说明", suggested_standard_id=bad)
    assert "suggested_standard_id" in excinfo.value.field_errors
    db_session.rollback()


def test_a_discipline_members_own_concern_is_decided_by_somebody_else(db_session, org, env, clock):
    """disc_a1 raises a concern about a colleague's score: the decision task leaves disc_a1 out and,
    a1 having no other discipline member, goes up to the party office."""
    q = env
    _post_everything(db_session, q, clock)
    target = org.people["m1_a1"]
    ev = qh.evaluation_of(db_session, q.id, target.id)
    tx.run(db_session, appeals.file_appeal, qh.who(db_session, "disc_a1"), ev.id, kind="concern",
           text="该同志本季度有一次值班缺勤未扣分。")
    [decision] = qh.tasks(db_session, "appeal_decision", person_id=target.id)
    assert org.users["disc_a1"].id in access.excluded_ids(decision.excluded_users)
    assert (decision.role, decision.escalated) == ("party_office", True)
    with pytest.raises(NotAllowed):
        tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a1"), decision.id, decision="upheld", reason="我说的对")
    tx.run(db_session, appeals.decide, qh.who(db_session, "office"), decision.id, decision="dismissed",
           reason="经查排班表，当日轮休。")


def test_a_secretary_never_holds_the_interview_of_their_own_branch(db_session, org, env, clock):
    """约谈支部书记 of a1 goes to the leading group, but never to a1's secretary, even when the
    secretary also sits on the leading group."""
    q = env
    db_session.add(RoleAssignment(user_id=org.users["sec_a1"].id, role=Role.LEADING_GROUP.value, branch_id=None,
                                  scope_key=RoleAssignment.scope_key_for(None)))
    db_session.commit()
    notice = Notice(quarter_id=q.id, data={"follow_ups": [{"kind": "secretary_interview",
                                                           "branch_id": org.branches["a1"].id}]})
    tx.run(db_session, followups.start_for_notice, notice, actor_user_id=None)
    [interview] = qh.tasks(db_session, "follow_up", quarter_id=q.id)
    assert interview.role == "leading_group"
    assert org.users["sec_a1"].id in access.excluded_ids(interview.excluded_users)
    assert not access.may_act(qh.who(db_session, "sec_a1"), interview)
    assert access.may_act(qh.who(db_session, "leader"), interview)
