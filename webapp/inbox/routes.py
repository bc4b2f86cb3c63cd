"""The inbox: every open task waiting for the user, role by role; claim, release; the party office
reassigns. Lists come from `workflows.inbox` (two indexed statements a page)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

from models.evaluation import Quarter
from models.people import Person
from models.permissions import Principal
from models.process import ProcessInstance, TaskState
from webapp import tasks as task_pages
from webapp.arguments import id_arg
from webapp.authz import guard, load_task_or_404
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.inbox import bp, common
from webapp.inbox.forms import ButtonForm, ReassignForm
from webapp.labels import role_label
from webapp.nav import register
from webapp.redirects import safe_next
from workflows.engine import access, user_tasks
from workflows.reading import inbox

bp.record_once(common.register_globals)

PER_PAGE = 25


def _badge(principal: Principal) -> int:
    """Open tasks waiting for the user (once per request, whatever asks)."""
    if "inbox_badge" not in g:
        g.inbox_badge = inbox.badge(db.session, principal)
    return int(g.inbox_badge)


register(_l("My tasks"), "inbox.index", "signed_in", order=5, badge=_badge)


def _filters(p: Principal) -> inbox.Filters:
    """The filters of the query string; anything unknown is ignored rather than refused."""
    args = request.args
    role = args.get("role") or None
    step = (args.get("step") or "").strip()[:100] or None
    return inbox.Filters(
        quarter_id=id_arg("quarter"), step=step, branch_id=id_arg("branch"),
        overdue=args.get("overdue") in ("1", "on", "true"),
        show=args.get("show") if args.get("show") in inbox.SHOW else "all",
        role=role if role in inbox.roles_of(p) else None)


@bp.route("/")
@guard("signed_in")
def index():
    """My tasks: assigned to me first, then my groups' unclaimed tasks, role by role."""
    p = common.principal()
    filters = _filters(p)
    page = inbox.inbox_page(db.session, p, filters, page=id_arg("page") or 1, per_page=PER_PAGE)
    if not filters.active:
        g.inbox_badge = page.counts.total
    branches = inbox.branches(db.session, p)
    return render_template(
        "inbox/index.html", page=page, groups=_groups(page), filters=filters, quarters=inbox.quarters(db.session),
        steps=inbox.steps(db.session, p), branches=branches, roles=inbox.roles_of(p),
        task_url=_url_of, button=ButtonForm(), unfiltered=url_for("inbox.index"))


def _groups(page: inbox.Page) -> list[dict[str, Any]]:
    """The page's rows under their headings: assigned to me, then unclaimed role by role."""
    groups: list[dict[str, Any]] = []
    for row in page.rows:
        key = "" if row.mine else row.role
        if not groups or groups[-1]["key"] != key:
            count = page.counts.mine if row.mine else page.counts.by_role.get(row.role, inbox.GroupCount()).pool
            title = _("Assigned to me") if row.mine else _("Unclaimed · %(role)s", role=role_label(row.role))
            groups.append({"key": key, "title": title, "count": count, "rows": []})
        groups[-1]["rows"].append(row)
    return groups


def _url_of(task: Any) -> str:
    """The task's page, or its detail page here when no area has registered one."""
    return task_pages.task_url(task) or url_for("inbox.task", task_id=task.id)


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@guard("signed_in")
def claim(task_id: int):
    """Take an unclaimed task of one of my groups."""
    return _claim_or_release(task_id, user_tasks.claim, _("You have taken this task."))


@bp.route("/tasks/<int:task_id>/release", methods=["POST"])
@guard("signed_in")
def release(task_id: int):
    """Give a task I took back to its group."""
    return _claim_or_release(task_id, user_tasks.release, _("The task is back in its group's list."))


def _claim_or_release(task_id: int, service: Any, success: str) -> Any:
    form = ButtonForm()
    if not form.validate_on_submit():
        abort(400)
    task = load_task_or_404(task_id, supervise=True)
    back = safe_next(url_for("inbox.index"))
    outcome = run_service(service, task.id, common.principal())
    if outcome.ok:
        flash(success, "success")
    elif outcome.done_already:
        flash(outcome.message, "warning")
    else:
        flash(outcome.message, "error")
    return redirect(back)


@bp.route("/tasks/<int:task_id>")
@guard("signed_in")
def task(task_id: int):
    """A task's facts and history; the party office reassigns it from here."""
    item = load_task_or_404(task_id, supervise=True)
    p = common.principal()
    instance = db.session.get(ProcessInstance, item.instance_id)
    page_url = task_pages.task_url(item)
    return render_template(
        "inbox/task.html", task=item, instance=instance, page_url=page_url,
        history=common.history(item.instance_id, private=not common.may_know_authors(p, item)),
        assignee=common.name_of_user(item.assignee_id), can_act=common.can_act(p, item),
        in_pool=access.in_pool(p, item), office=common.is_office(p), button=ButtonForm(),
        subject=db.session.get(Person, item.subject_person_id) if item.subject_person_id else None,
        quarter=db.session.get(Quarter, item.quarter_id) if item.quarter_id else None)


@bp.route("/tasks/<int:task_id>/reassign", methods=["GET", "POST"])
@guard("task.reassign")
def reassign(task_id: int):
    """The party office gives a task to somebody who holds its role (never its subject)."""
    item = load_task_or_404(task_id, supervise=True)
    p = common.principal()
    candidates = inbox.reassign_candidates(db.session, item)
    form = ReassignForm()
    form.to_user_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(uid), f"{name} · {role_label(role)}") for uid, name, role in candidates]
    status = 200
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if item.state != TaskState.OPEN:
        flash(_("This task has already been done."), "warning")
    elif form.validate_on_submit():
        chosen = {str(uid): uid for uid, _name, _role in candidates}.get(form.to_user_id.data or "")
        reason = (form.reason.data or "").strip()
        if chosen is None:
            form.to_user_id.errors = [_("Choose somebody who holds this task's role.")]
            status = 422
        elif len(reason) > 2000:
            form.reason.errors = [_("At most 2000 characters.")]
            status = 422
        else:
            outcome = run_service(user_tasks.reassign, item.id, p, chosen, reason)
            if outcome.ok:
                flash(_("The task is now %(name)s's.", name=common.name_of_user(chosen)), "success")
                return redirect(safe_next(url_for("inbox.task", task_id=item.id)))
            status = outcome.status
            form.form_errors.append(outcome.message)
    elif request.method == "POST":
        status = 400
    return render_template("inbox/reassign.html", task=item, form=form, candidates=candidates,
                           assignee=common.name_of_user(item.assignee_id)), status
