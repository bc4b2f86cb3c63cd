"""The self-evaluation task page (党员自评，报绩): the member's catalogue to pick standards from,
draft claims saved one by one with their evidence, the score preview after every change, and the
submission — a single click when there is nothing to declare (一键申报). The same page serves the
branch recording the evaluation of an overdue member (支部代为登记, form `proxy_self_evaluation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from models.clock import now
from models.evaluation import Claim, ClaimStatus, Evaluation, Evidence, Quarter
from models.permissions import can
from models.process import HumanTask, TaskState
from webapp.authz import current_principal, guard, load_task_or_404
from webapp.boundary import apply_field_errors, message_of, messages_of, run_service
from webapp.extensions import db
from webapp.member import bp
from webapp.member import tree as trees
from webapp.member.forms import ClaimForm, SubmitForm, UploadForm
from webapp.member.routes import page
from webapp.tasks import register_task_page
from workflows.errors import DomainError, TaskNotReady, ValidationFailed
from workflows.quarter import evaluation as evaluations
from workflows.quarter import evidence
from workflows.quarter.evaluation import target
from workflows.reading import explain

FORMS = ("self_evaluation", "proxy_self_evaluation")
for _form in FORMS:
    register_task_page(_form, "member.self_evaluation")


@dataclass
class Desk:
    """Everything a request on the page needs: the task, its evaluation and who is acting."""

    task: HumanTask
    evaluation: Evaluation
    quarter: Quarter
    proxy: bool

    @property
    def url(self) -> str:
        return url_for("member.self_evaluation", task_id=self.task.id)


def _desk(task_id: int) -> Desk:
    """Load the task for the current user: 404 when it is not a self-evaluation, 403 when the
    user may neither declare it (the member) nor record it (the member's branch)."""
    task = load_task_or_404(task_id, *FORMS)
    evaluation = db.session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
    if evaluation is None:
        abort(404)
    principal = current_principal()
    proxy = task.form_key == "proxy_self_evaluation"
    if proxy:
        allowed = can(principal, "evaluation.record_for_member", target(evaluation))
    else:
        allowed = can(principal, "evaluation.declare", target(evaluation))
    if not allowed:
        abort(403)
    quarter = db.session.get(Quarter, evaluation.quarter_id)
    return Desk(task, evaluation, quarter, proxy)


def _closed(desk: Desk) -> Response:
    """The task is no longer waiting: say why and show the evaluation instead."""
    if desk.task.state == TaskState.COMPLETED:
        flash(_("This self-evaluation has been submitted."), "info")
    else:
        flash(_("The self-evaluation deadline has passed: the branch records the evaluation for the member."), "info")
    if can(current_principal(), "evaluation.view", target(desk.evaluation)):
        return redirect(url_for("member.evaluation", evaluation_id=desk.evaluation.id))
    return redirect(url_for("main.home"))


def _open_desk(task_id: int, model: type[Claim] | type[Evidence] | None = None,
               object_id: int | None = None) -> tuple[Desk, Any]:
    """The desk of a task still waiting, and (when asked) a claim or file of its evaluation."""
    desk = _desk(task_id)
    obj = None
    if model is not None:
        obj = db.session.get(model, object_id)
        if obj is None or obj.evaluation_id != desk.evaluation.id:
            abort(404)
    if desk.task.state != TaskState.OPEN:
        abort(_closed(desk))
    return desk, obj


def _saved(desk: Desk, message: str, anchor: str) -> Response:
    flash(message, "success")
    return redirect(f"{desk.url}#{anchor}")


def _quarter_bounds(quarter: Quarter) -> tuple[str, str]:
    """The first and last day of the quarter, for the date picker."""
    first = date(quarter.year, 3 * (quarter.quarter - 1) + 1, 1)
    following = date(quarter.year + (quarter.quarter == 4), (3 * quarter.quarter) % 12 + 1, 1)
    return first.isoformat(), (following - timedelta(days=1)).isoformat()


def _drafts(evaluation: Evaluation) -> list[Claim]:
    return [c for c in evaluations.claims_of(db.session, evaluation.id) if c.status == ClaimStatus.DRAFT]


def _render(desk: Desk, *, form: ClaimForm | None = None, editing: Claim | None = None,
            upload_errors: dict[int, list[str]] | None = None, claim_errors: dict[int, list[str]] | None = None,
            submit_errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    evaluation = desk.evaluation
    catalogue = trees.tree_for(db.session, desk.quarter.catalogue_version_id, evaluation.unit_kind_id)
    query = (request.args.get("q") or "").strip()[:100]
    dimensions, found = trees.search(catalogue, query)
    drafts = _drafts(evaluation)
    evidence_by_claim: dict[int, list[Evidence]] = {}
    for item in db.session.scalars(select(Evidence).where(Evidence.evaluation_id == evaluation.id).order_by(Evidence.id)):
        if item.claim_id is not None:
            evidence_by_claim.setdefault(item.claim_id, []).append(item)
    declared: dict[int, int] = {}
    for claim in drafts:
        declared[claim.standard_id] = declared.get(claim.standard_id, 0) + claim.occurrences
    selected = None
    if form is None and editing is None:
        raw = request.args.get("std", "")
        if raw.isdigit() and int(raw) in catalogue.paths:
            form = ClaimForm(formdata=None, standard_id=raw)
        elif request.args.get("edit", "").isdigit():
            editing = next((c for c in drafts if c.id == int(request.args["edit"])), None)
            if editing is not None:
                form = ClaimForm(formdata=None, standard_id=str(editing.standard_id), occurrences=str(editing.occurrences),
                                 occurred_on=editing.occurred_on.isoformat() if editing.occurred_on else "",
                                 description=editing.description)
    if form is not None and (form.standard_id.data or "").isdigit():
        selected = catalogue.paths.get(int(form.standard_id.data))
    start, end = _quarter_bounds(desk.quarter)
    if form is not None:
        form.occurred_on.render_kw = {"min": start, "max": end}
        if selected is not None:
            high = min(selected.standard.max_occurrences or evaluations.MAX_OCCURRENCES, evaluations.MAX_OCCURRENCES)
            form.occurrences.render_kw = dict(form.occurrences.render_kw or {}, max=high)
            if selected.standard.honour_category:
                form.occurrences.render_kw["max"] = 1
    deadline = desk.task.due_at or desk.quarter.self_eval_deadline
    return page(
        "member/self_evaluation.html", status,
        desk=desk, evaluation=evaluation, quarter=desk.quarter, person=evaluation.person,
        dimensions=dimensions, found=found, total_standards=catalogue.standard_count, query=query,
        drafts=drafts, paths=catalogue.paths, evidence_by_claim=evidence_by_claim, declared=declared,
        form=form, selected=selected, editing=editing,
        preview=explain.preview(db.session, evaluation),
        deadline=deadline, remaining=deadline - now() if deadline else None,
        upload_errors=upload_errors or {}, claim_errors=claim_errors or {}, submit_errors=submit_errors or [],
        max_mb=current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024), accept=evidence.ACCEPT,
    )


@bp.route("/self-evaluation/<int:task_id>")
@guard("evaluation.view")
def self_evaluation(task_id: int) -> Any:
    """The self-evaluation of one quarter: catalogue, draft claims, evidence, preview, submit."""
    desk = _open_desk(task_id)[0]
    return _render(desk)


def _refused(desk: Desk, error: DomainError | None) -> Response:
    """A step the services refused outright (window closed, task done, quarter locked)."""
    if isinstance(error, TaskNotReady):
        return _closed(desk)
    flash(message_of(error), "error")
    return redirect(desk.url)


def refusal(error: evidence.Refused) -> str:
    """A refused file's message, with its parameters (a size, what the file is) translated too."""
    return _(error.message, **{k: _(v) if isinstance(v, str) else v for k, v in error.details.items()})


def _file_errors(form: Any, error: DomainError) -> None:
    """Errors about the file, worded with their numbers (size limit, what the file is)."""
    if isinstance(error, evidence.Refused):
        form.file.errors = list(form.file.errors or []) + [refusal(error)]
    else:
        apply_field_errors(form, error)


def _read_upload(storage: Any) -> tuple[str, bytes]:
    """The uploaded file's name and bytes, reading at most one byte past the limit."""
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    return storage.filename or "", storage.stream.read(limit + 1)


@bp.route("/self-evaluation/<int:task_id>/claims", methods=["POST"])
@bp.route("/self-evaluation/<int:task_id>/claims/<int:claim_id>", methods=["POST"])
@guard("evaluation.view")
def save_claim(task_id: int, claim_id: int | None = None) -> Any:
    """Add a claim (with an optional first file) or change a draft one; saved at once."""
    desk, editing = _open_desk(task_id, Claim if claim_id is not None else None, claim_id)
    form = ClaimForm()
    if not form.validate_on_submit():
        return _render(desk, form=form, editing=editing, status=422)
    values = {"standard_id": form.standard_id.data, "occurrences": form.occurrences.data,
              "occurred_on": form.occurred_on.data, "description": form.description.data}
    upload = request.files.get("file") if claim_id is None else None
    outcome = run_service(evidence.save_claim_with_file, current_principal(), desk.evaluation.id, values,
                          claim_id=claim_id, file=_read_upload(upload) if upload is not None and upload.filename else None,
                          upload_dir=current_app.config["UPLOAD_DIR"], max_bytes=current_app.config["UPLOAD_MAX_BYTES"])
    e = outcome.error
    if isinstance(e, ValidationFailed):
        _file_errors(form, e)
        if "file" in e.field_errors:
            form.file.errors.append(_("Nothing was saved: choose the file again, or add the claim without it."))
        return _render(desk, form=form, editing=editing, status=422)
    if e is not None:
        return _refused(desk, e)
    return _saved(desk, _("Claim saved.") if claim_id is None else _("Claim changed."), f"claim-{outcome.result.id}")


@bp.route("/self-evaluation/<int:task_id>/claims/<int:claim_id>/remove", methods=["POST"])
@guard("evaluation.view")
def remove_claim(task_id: int, claim_id: int) -> Any:
    """Remove a draft claim and its files."""
    desk = _open_desk(task_id, Claim, claim_id)[0]
    outcome = run_service(evidence.delete_claim, current_principal(), claim_id, upload_dir=current_app.config["UPLOAD_DIR"])
    if not outcome.ok:
        return _refused(desk, outcome.error)
    return _saved(desk, _("Claim removed."), "drafts")


@bp.route("/self-evaluation/<int:task_id>/claims/<int:claim_id>/evidence", methods=["POST"])
@guard("evaluation.view")
def upload_evidence(task_id: int, claim_id: int) -> Any:
    """Attach a file to a draft claim."""
    desk = _open_desk(task_id, Claim, claim_id)[0]
    form = UploadForm()
    upload = request.files.get("file")
    if not form.validate_on_submit() or upload is None or not upload.filename:
        return _render(desk, upload_errors={claim_id: [_("Choose a file to upload.")]}, status=422)
    name, data = _read_upload(upload)
    outcome = run_service(evidence.upload, current_principal(), claim_id, filename=name, data=data,
                          upload_dir=current_app.config["UPLOAD_DIR"], max_bytes=current_app.config["UPLOAD_MAX_BYTES"])
    e = outcome.error
    if isinstance(e, ValidationFailed):
        message = refusal(e) if isinstance(e, evidence.Refused) else "; ".join(messages_of(e))
        return _render(desk, upload_errors={claim_id: [message]}, status=422)
    if e is not None:
        return _refused(desk, e)
    return _saved(desk, _("File attached."), f"claim-{claim_id}")


@bp.route("/self-evaluation/<int:task_id>/evidence/<int:evidence_id>/remove", methods=["POST"])
@guard("evaluation.view")
def remove_evidence(task_id: int, evidence_id: int) -> Any:
    """Remove a file from a draft claim."""
    desk, item = _open_desk(task_id, Evidence, evidence_id)
    claim_id = item.claim_id
    outcome = run_service(evidence.delete, current_principal(), evidence_id, upload_dir=current_app.config["UPLOAD_DIR"])
    if not outcome.ok:
        return _refused(desk, outcome.error)
    return _saved(desk, _("File removed."), f"claim-{claim_id}" if claim_id else "drafts")


@bp.route("/self-evaluation/<int:task_id>/submit", methods=["POST"])
@guard("evaluation.view")
def submit(task_id: int) -> Any:
    """Submit the self-evaluation, or declare nothing in one click (一键申报)."""
    desk = _open_desk(task_id)[0]
    form = SubmitForm()
    if not form.validate_on_submit():
        return _render(desk, submit_errors=[_("The form has expired. Please submit again.")], status=400)
    one_click = form.one_click.data == "1"
    outcome = run_service(evaluations.submit_self_evaluation, current_principal(), task_id, one_click=one_click)
    e = outcome.error
    if isinstance(e, ValidationFailed):
        claim_errors: dict[int, list[str]] = {}
        for key, messages in e.field_errors.items():
            if key.startswith("claim-") and key[6:].isdigit():
                claim_errors[int(key[6:])] = [_(m) for m in messages]
        return _render(desk, claim_errors=claim_errors, submit_errors=[_(e.message)], status=422)
    if e is not None:
        return _refused(desk, e)
    if one_click:
        flash(_("Declared: nothing to declare this quarter. Your branch will review it."), "success")
    elif desk.proxy:
        flash(_("The self-evaluation has been recorded for the member and goes to review."), "success")
    else:
        flash(_("Your self-evaluation has been submitted. Your branch will review it."), "success")
    if can(current_principal(), "evaluation.view", target(desk.evaluation)):
        return redirect(url_for("member.evaluation", evaluation_id=desk.evaluation.id))
    return redirect(url_for("main.home"))
