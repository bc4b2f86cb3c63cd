"""The forms user tasks may name (their `formKey`), what each asks for, and the service that
completes it. `workflows.setup.configure` gives these to the engine, whose deployment refuses a
diagram naming an unknown form; the pages and the API render and accept exactly these fields.

`EXTERNAL_MESSAGES` are the events services send into instances from outside (a member files an
appeal, a member appeals a report's deduction): a diagram may wait for them though none throws them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | text | integer | date | choice | list
    required: bool = False
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Form:
    key: str
    title: str  # English; translated by the web layer
    fields: tuple[Field, ...] = field(default_factory=tuple)


EXTERNAL_MESSAGES = ("appeal_filed", "report_appeal")

FORMS: dict[str, Form] = {f.key: f for f in (
    Form("self_evaluation", "Self-evaluation", (
        Field("one_click", "boolean", description="true: nothing to declare (一键申报)"),)),
    Form("proxy_self_evaluation", "Record the self-evaluation for the member", (
        Field("one_click", "boolean"),)),
    Form("branch_review", "Branch review", (
        Field("decisions", "list", True, description="[{claim_id, decision: accept|adjust|reject, occurrences, points, reason}]"),
        Field("additions", "list", description="[{standard_id, occurrences, occurred_on, description, reason}]"))),
    Form("branch_approval", "Secretary's approval", (
        Field("decision", "choice", True, ("approved", "returned")), Field("comment", "text"),
        Field("returned_person_ids", "list"))),
    Form("branch_meeting", "Branch general meeting", (
        Field("meeting_date", "date", True), Field("meeting_expected", "integer", True),
        Field("meeting_present", "integer", True), Field("meeting_resolution", "text", True))),
    Form("appeal_decision", "Decision on an appeal", (
        Field("decision", "choice", True, ("upheld", "dismissed")), Field("reason", "text", True))),
    Form("quarter_notice", "Notice and comment", (
        Field("title", "string", True), Field("body", "text"), Field("commended_person_ids", "list"),
        Field("person_follow_ups", "object", description="{person_id: [reminder_talk|criticism|award_disqualification]}"),
        Field("branch_follow_ups", "object", description="{branch_id: secretary_interview|criticism_notice}"))),
    Form("filing_acceptance", "Filing acceptance", (
        Field("decision", "choice", True, ("accepted", "returned")), Field("comment", "text"))),
    Form("quarter_verification", "Quarterly verification", (
        Field("findings", "list", True, description="[{evaluation_id, result: consistent|issue, finding}]"),)),
    Form("report_verification", "Verification of a supervision report", (
        Field("decision", "choice", True, ("substantiated", "unsubstantiated")), Field("reason", "text", True),
        Field("standard_id", "integer"), Field("occurrences", "integer"))),
    Form("follow_up", "Follow-up", (Field("record", "text", True), Field("done_on", "date"))),
    Form("annual_review", "Annual assessment review", (Field("comment", "text"),)),
    Form("annual_approval", "Annual assessment approval", (
        Field("decision", "choice", True, ("approved", "returned")), Field("comment", "text"))),
)}
