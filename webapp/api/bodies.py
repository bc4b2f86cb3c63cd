"""The JSON bodies the API accepts besides task completion: one `Spec` per body, used both to check a
request (types, required and unknown fields, 422 with a message per field) and to write its schema
into the OpenAPI document, so the document and the server cannot disagree."""

from __future__ import annotations

from workflows.quarter.task_actions import Spec

REQ_STRING = Spec("string", required=True, nullable=False)
REQ_ID = Spec("integer", required=True, nullable=False)

TOKEN_REQUEST = {
    "username": REQ_STRING,
    "password": REQ_STRING,
    "name": Spec("string", description="what the token is for, shown on the token page (at most 100 characters)"),
}

QUARTER_OPEN = {
    "year": REQ_ID,
    "quarter": Spec("integer", required=True, nullable=False, description="1, 2, 3 or 4"),
    "self_eval_deadline": Spec("datetime", required=True, nullable=False,
                               description="end of the self-evaluation, with a time zone"),
    "publicity_days": Spec("integer", description="working days of publicity (default 5)"),
    "unit_id": Spec("integer", description="open for one unit only (default: the whole bureau)"),
    "title": Spec("string"),
}

CLAIM = {
    "standard_id": REQ_ID,
    "occurrences": Spec("integer", description="default 1"),
    "occurred_on": Spec("date", description="within the quarter"),
    "description": Spec("string"),
}

APPEAL = {
    "kind": Spec("string", required=True, nullable=False, choices=("appeal", "concern"),
                 description="appeal: one's own score; concern: another member's posted score"),
    "text": REQ_STRING,
    "claim_id": Spec("integer", description="the claim the appeal is about, if one"),
}

REPORT = {
    "subject_person_id": REQ_ID,
    "text": REQ_STRING,
    "occurred_on": Spec("date"),
    "suggested_standard_id": Spec("integer"),
    "via_party_office": Spec("boolean", description="party office only: recorded for an outside reporter"),
    "reporter_name": Spec("string"),
    "reporter_contact": Spec("string"),
}

REPORT_APPEAL = {"text": REQ_STRING}

# multipart/form-data of an evidence upload (documented by hand: files are not JSON).
EVIDENCE_FIELDS = {"file": "the file (PDF, image or office document)", "claim_id": "the claim it backs (optional)"}
