"""The administrator's pages: unit kinds, units, branches, people, accounts, role assignments and
the import of the member roster. Every view needs `admin.manage` (bureau-wide administrators)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from models.org import Branch, Unit, UnitKind
from models.people import BRANCH_ROLES, EVALUATED_STATUSES, MembershipStatus, Person, RoleAssignment, User
from webapp.admin import bp
from webapp.admin import forms as f
from webapp.arguments import optional_int
from webapp.authz import current_principal, guard, load_or_404
from webapp.boundary import message_of, messages_of, run_and_flash, run_service, submit_form
from webapp.extensions import db
from webapp.labels import label
from webapp.nav import register
from webapp.redirects import safe_next
from workflows.errors import Conflict, DomainError, ValidationFailed
from workflows.imports import roster
from workflows.org import accounts as org_accounts
from workflows.org import people as org_people
from workflows.org import roles as org_roles
from workflows.org import units as org_units

register(_l("Administration"), "admin.index", "admin.manage", order=90)

ACTION = "admin.manage"
PER_PAGE = 50
SHOWN_PROBLEMS = 500
SHOWN_ITEMS = 300
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- Helpers ----------------------------------------------------------------------------------------



def _page(template: str, form: FlaskForm | None = None, **context: Any) -> tuple[str, int]:
    """Render; a form that was posted and has errors answers 422, so tests and tools can tell."""
    failed = form is not None and request.method == "POST" and (form.errors or form.form_errors)
    return render_template(template, form=form, **context), 422 if failed else 200


def _form_page(form: FlaskForm, title: str, back: str, **context: Any) -> tuple[str, int]:
    return _page("admin/form.html", form, title=title, back=back, **context)


def _branch_choices(blank: str | None = None, include_inactive: bool = False) -> list[tuple[str, str]]:
    choices = [("", blank)] if blank is not None else []
    for branch in org_units.branches(db.session):
        if branch.active or include_inactive:
            suffix = "" if branch.active else f" ({_('inactive')})"
            choices.append((str(branch.id), f"{branch.unit.name} · {branch.name}{suffix}"))
    return choices


def _unit_choices() -> list[tuple[str, str]]:
    return [("", "—")] + [(str(u.id), u.name) for u in org_units.units(db.session) if u.active]


def _kind_choices() -> list[tuple[str, str]]:
    return [("", "—")] + [(str(k.id), kind_name(k)) for k in org_units.unit_kinds(db.session)]


def kind_name(kind: UnitKind) -> str:
    """A kind's name in the reader's language."""
    from webapp import _select_locale

    return kind.name_en if _select_locale() == "en" and kind.name_en else kind.name


def _xlsx(data: bytes, name: str) -> Response:
    response = send_file(_bytes_io(data), mimetype=XLSX, as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _bytes_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _stamp() -> str:
    from models.clock import now

    return now().astimezone(_tz()).strftime("%Y%m%d-%H%M")


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config["TIMEZONE"])


_TAB_OF = (("admin.roster", "admin.roster_upload"), ("admin.role", "admin.roles"), ("admin.person_role", "admin.roles"),
           ("admin.account_create", "admin.people"), ("admin.account", "admin.accounts"),
           ("admin.issue", "admin.accounts"), ("admin.person", "admin.people"), ("admin.people", "admin.people"),
           ("admin.kind", "admin.organisation"), ("admin.unit", "admin.organisation"),
           ("admin.branch", "admin.organisation"), ("admin.organisation", "admin.organisation"))


@bp.context_processor
def _admin_helpers() -> dict[str, Any]:
    endpoint = request.endpoint or ""
    tab = next((t for prefix, t in _TAB_OF if endpoint.startswith(prefix)), "admin.index")
    return {"kind_name": kind_name, "has_usable_password": org_accounts.has_usable_password,
            "active_tab": tab}


# --- Overview ---------------------------------------------------------------------------------------

@bp.route("/")
@guard(ACTION)
def index():
    """What an administrator looks after, with what needs attention first."""
    s = db.session
    coverage, _bureau = org_roles.role_coverage(s)
    count = lambda q: s.scalar(select(func.count()).select_from(q.subquery())) or 0  # noqa: E731
    stats = {
        "people": count(select(Person.id).where(Person.active.is_(True))),
        "evaluated": count(select(Person.id).where(Person.active.is_(True), Person.branch_id.is_not(None),
                                                   Person.status.in_([x.value for x in EVALUATED_STATUSES]))),
        "accounts": count(select(User.id).where(User.active.is_(True))),
        "without_password": len(org_accounts.accounts_without_password(s)),
        "people_without_account": count(select(Person.id).outerjoin(User, User.person_id == Person.id)
                                        .where(Person.active.is_(True), User.id.is_(None))),
        "branches": len(coverage),
        "units": count(select(Unit.id).where(Unit.active.is_(True))),
    }
    return render_template("admin/index.html", stats=stats, problems=[c for c in coverage if c.problems])


# --- Organisation: kinds, units, branches ------------------------------------------------------------

@bp.route("/org")
@guard(ACTION)
def organisation():
    """The units of the bureau with their branches, and the kinds of unit."""
    s = db.session
    people = dict(s.execute(select(Person.branch_id, func.count()).where(Person.active.is_(True))
                            .group_by(Person.branch_id)).all())
    kinds_in_use = dict(s.execute(select(Unit.kind_id, func.count()).group_by(Unit.kind_id)).all())
    return render_template("admin/org.html", units=org_units.units(s), kinds=org_units.unit_kinds(s),
                           people=people, kinds_in_use=kinds_in_use)


@bp.route("/kinds/new", methods=["GET", "POST"])
@guard(ACTION)
def kind_new():
    """Add a kind of unit."""
    form = f.KindForm()
    done = submit_form(form, lambda s: org_units.create_unit_kind(
        s, current_principal(), code=form.code.data, name=form.name.data, name_en=form.name_en.data), success=lambda k: _("The kind “%(name)s” was added.", name=k.name), then=lambda k: url_for("admin.organisation"))
    return done or _form_page(form, _("New kind of unit"), url_for("admin.organisation"),
                              hint=_("Each kind of unit has its own evaluation form. After adding a kind, the "
                                     "Party-Masses Department sets up its form in the catalogue."))


@bp.route("/kinds/<int:kind_id>/edit", methods=["GET", "POST"])
@guard(ACTION)
def kind_edit(kind_id: int):
    """Rename a kind of unit."""
    kind = load_or_404(UnitKind, kind_id, ACTION)
    form = f.KindRenameForm(obj=kind)
    done = submit_form(form, lambda s: org_units.rename_unit_kind(
        s, current_principal(), kind.id, name=form.name.data, name_en=form.name_en.data), success=lambda k: _("Saved."), then=lambda k: url_for("admin.organisation"))
    return done or _form_page(form, _("Kind of unit: %(name)s", name=kind.name), url_for("admin.organisation"),
                              hint=_("Code: %(code)s", code=kind.code))


@bp.route("/kinds/<int:kind_id>/delete", methods=["POST"])
@guard(ACTION)
def kind_delete(kind_id: int):
    """Remove a kind no unit uses."""
    kind = load_or_404(UnitKind, kind_id, ACTION)
    name = kind.name
    run_and_flash(org_units.delete_unit_kind, current_principal(), kind.id,
                  success=_("The kind “%(name)s” was removed.", name=name))
    return redirect(url_for("admin.organisation"))


@bp.route("/units/new", methods=["GET", "POST"])
@guard(ACTION)
def unit_new():
    """Add a unit."""
    form = f.UnitForm()
    form.kind_id.choices = _kind_choices()
    done = submit_form(form, lambda s: org_units.create_unit(
        s, current_principal(), name=form.name.data, code=form.code.data, kind_id=form.kind_id.data), success=lambda u: _("The unit “%(name)s” was added.", name=u.name), then=lambda u: url_for("admin.organisation"))
    return done or _form_page(form, _("New unit"), url_for("admin.organisation"))


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@guard(ACTION)
def unit_edit(unit_id: int):
    """Rename a unit, change its code or kind."""
    unit = load_or_404(Unit, unit_id, ACTION)
    form = f.UnitForm(obj=unit)
    form.kind_id.choices = _kind_choices()
    done = submit_form(form, lambda s: org_units.update_unit(
        s, current_principal(), unit.id, name=form.name.data, code=form.code.data,
        kind_id=form.kind_id.data), success=lambda u: _("Saved."), then=lambda u: url_for("admin.organisation"))
    return done or _form_page(form, _("Unit: %(name)s", name=unit.name), url_for("admin.organisation"), obj=unit,
                              toggle_what="unit")


@bp.route("/branches/new", methods=["GET", "POST"])
@guard(ACTION)
def branch_new():
    """Add a branch to a unit."""
    form = f.BranchForm()
    form.unit_id.choices = _unit_choices()
    if request.method == "GET":
        form.unit_id.data = optional_int(request.args.get("unit_id"))
    done = submit_form(form, lambda s: org_units.create_branch(
        s, current_principal(), unit_id=form.unit_id.data, name=form.name.data, code=form.code.data), success=lambda b: _("The branch “%(name)s” was added. Now assign its secretary, discipline member and "
                               "reviewers.", name=b.name), then=lambda b: url_for("admin.branch", branch_id=b.id))
    return done or _form_page(form, _("New branch"), url_for("admin.organisation"))


@bp.route("/branches/<int:branch_id>")
@guard(ACTION)
def branch(branch_id: int):
    """A branch: its people, its role holders and what is missing."""
    branch = load_or_404(Branch, branch_id, ACTION)
    coverage = next((c for c in org_roles.role_coverage(db.session)[0] if c.branch.id == branch.id), None)
    people = list(db.session.scalars(select(Person).where(Person.branch_id == branch.id, Person.active.is_(True))
                                     .order_by(Person.employee_no)))
    role_form = f.RoleForm()
    role_form.set_role_choices()
    role_form.role.choices = [c for c in role_form.role.choices if c[0] in {r.value for r in BRANCH_ROLES}]
    role_form.branch_id.choices = [(str(branch.id), branch.name)]
    role_form.branch_id.data = branch.id
    return render_template("admin/branch.html", branch=branch, coverage=coverage, people=people,
                           role_form=role_form)


@bp.route("/branches/<int:branch_id>/edit", methods=["GET", "POST"])
@guard(ACTION)
def branch_edit(branch_id: int):
    """Rename a branch or change its code."""
    branch = load_or_404(Branch, branch_id, ACTION)
    form = f.BranchForm(obj=branch)
    del form.unit_id
    done = submit_form(form, lambda s: org_units.rename_branch(
        s, current_principal(), branch.id, name=form.name.data, code=form.code.data), success=lambda b: _("Saved."), then=lambda b: url_for("admin.branch", branch_id=b.id))
    return done or _form_page(form, _("Rename branch: %(name)s", name=branch.name),
                              url_for("admin.branch", branch_id=branch.id))


@bp.route("/branches/<int:branch_id>/move", methods=["GET", "POST"])
@guard(ACTION)
def branch_move(branch_id: int):
    """Move a branch to another unit."""
    branch = load_or_404(Branch, branch_id, ACTION)
    form = f.MoveForm(target_id=branch.unit_id)
    form.target_id.choices = _unit_choices()
    form.target_id.label.text = _("Unit")
    done = submit_form(form, lambda s: org_units.move_branch(s, current_principal(), branch.id,
                                                       form.target_id.data), success=lambda b: _("The branch now belongs to “%(unit)s”.", unit=b.unit.name), then=lambda b: url_for("admin.branch", branch_id=b.id))
    return done or _form_page(form, _("Move branch: %(name)s", name=branch.name),
                              url_for("admin.branch", branch_id=branch.id),
                              hint=_("Now in: %(unit)s", unit=branch.unit.name))


_TOGGLES: dict[str, tuple[type, Callable[..., Any], str]] = {
    "unit": (Unit, org_units.set_unit_active, "admin.organisation"),
    "branch": (Branch, org_units.set_branch_active, "admin.organisation"),
    "person": (Person, org_people.set_person_active, "admin.people"),
    "account": (User, org_accounts.set_account_active, "admin.accounts"),
}


@bp.route("/<any(unit, branch, person, account):what>/<int:obj_id>/active", methods=["POST"])
@guard(ACTION)
def set_active(what: str, obj_id: int):
    """Activate or deactivate a unit, branch, person or account (form field active = 1 or 0)."""
    model, service, default = _TOGGLES[what]
    obj = load_or_404(model, obj_id, ACTION)
    active = request.form.get("active") == "1"
    run_and_flash(service, current_principal(), obj.id, active, success=_("Activated.") if active else _("Deactivated."))
    return redirect(safe_next(url_for(default)))


# --- People ------------------------------------------------------------------------------------------

@bp.route("/people")
@guard(ACTION)
def people():
    """Everybody the bureau knows, searchable by name and employee number, filtered, paginated."""
    q = (request.args.get("q") or "").strip()[:100]
    branch_id = optional_int(request.args.get("branch_id"))
    status = request.args.get("status") or ""
    state = request.args.get("state") or "active"
    stmt = (select(Person).options(selectinload(Person.user)).outerjoin(Branch, Person.branch_id == Branch.id)
            .outerjoin(Unit, Branch.unit_id == Unit.id))
    if q:
        stmt = stmt.where(or_(Person.name.contains(q, autoescape=True),
                              Person.employee_no.icontains(q, autoescape=True)))
    if branch_id is not None:
        stmt = stmt.where(Person.branch_id == branch_id)
    elif request.args.get("branch_id") == "none":
        stmt = stmt.where(Person.branch_id.is_(None))
    if status in {s.value for s in MembershipStatus}:
        stmt = stmt.where(Person.status == status)
    if state in ("active", "inactive"):
        stmt = stmt.where(Person.active.is_(state == "active"))
    account = request.args.get("account") or ""
    if account == "none":
        stmt = stmt.where(~Person.user.has())
    stmt = stmt.order_by(Unit.sort.nulls_first(), Unit.id.nulls_first(), Branch.sort, Branch.id, Person.employee_no)
    page = db.paginate(stmt, page=request.args.get("page", 1, type=int), per_page=PER_PAGE, error_out=False)
    return render_template("admin/people.html", page=page, q=q, branch_id=request.args.get("branch_id", ""),
                           status=status, state=state, account=account, branch_choices=_branch_choices(include_inactive=True),
                           status_choices=f.status_choices())


def _person_form_choices(form: f.PersonForm | f.PersonDetailsForm | f.MembershipForm) -> None:
    if hasattr(form, "gender"):
        form.gender.choices = f.gender_choices()
    if hasattr(form, "status"):
        form.status.choices = f.status_choices()
    if hasattr(form, "branch_id"):
        form.branch_id.choices = _branch_choices(blank="—")


@bp.route("/people/new", methods=["GET", "POST"])
@guard(ACTION)
def person_new():
    """Add one person (many at once: the roster import)."""
    form = f.PersonForm()
    _person_form_choices(form)
    if request.method == "GET":
        form.branch_id.data = optional_int(request.args.get("branch_id"))

    def create(session: Any) -> Person:
        return org_people.create_person(
            session, current_principal(), employee_no=form.employee_no.data, name=form.name.data,
            branch_id=form.branch_id.data, status=form.status.data, gender=form.gender.data or "",
            joined_party_on=form.joined_party_on.data, full_member_on=form.full_member_on.data,
            activist_since=form.activist_since.data,
            position=form.position.data or "", phone=form.phone.data or "",
            username=(form.username.data or org_accounts.default_username(form.employee_no.data or ""))
            if form.create_account.data else None)

    done = submit_form(form, create, success=lambda p: _("%(name)s was added.", name=p.name), then=lambda p: url_for("admin.person", person_id=p.id))
    return done or _page("admin/person_new.html", form)


@bp.route("/people/<int:person_id>")
@guard(ACTION)
def person(person_id: int):
    """One person: particulars, membership, account and roles, with every action on them."""
    person = load_or_404(Person, person_id, ACTION)
    role_form = f.RoleForm()
    role_form.set_role_choices()
    role_form.branch_id.choices = _branch_choices(blank=_("Bureau-wide"))
    role_form.branch_id.data = person.branch_id
    return render_template("admin/person.html", person=person, user=person.user, role_form=role_form,
                           account_form=f.AccountForm(
                               username=org_accounts.default_username(person.employee_no)))


@bp.route("/people/<int:person_id>/edit", methods=["GET", "POST"])
@guard(ACTION)
def person_edit(person_id: int):
    """Edit a person's particulars."""
    person = load_or_404(Person, person_id, ACTION)
    form = f.PersonDetailsForm(obj=person)
    _person_form_choices(form)
    done = submit_form(form, lambda s: org_people.update_person(
        s, current_principal(), person.id, employee_no=form.employee_no.data, name=form.name.data,
        gender=form.gender.data or "", position=form.position.data or "", phone=form.phone.data or ""), success=lambda p: _("Saved."), then=lambda p: url_for("admin.person", person_id=p.id))
    return done or _form_page(form, _("Edit: %(name)s", name=person.name), url_for("admin.person", person_id=person.id))


@bp.route("/people/<int:person_id>/membership", methods=["GET", "POST"])
@guard(ACTION)
def person_membership(person_id: int):
    """Change membership status and its dates (e.g. on becoming a full member, 转正)."""
    person = load_or_404(Person, person_id, ACTION)
    form = f.MembershipForm(obj=person)
    _person_form_choices(form)
    done = submit_form(form, lambda s: org_people.change_membership(
        s, current_principal(), person.id, status=form.status.data,
        joined_party_on=form.joined_party_on.data, full_member_on=form.full_member_on.data,
        activist_since=form.activist_since.data), success=lambda p: _("Saved."), then=lambda p: url_for("admin.person", person_id=p.id))
    return done or _form_page(form, _("Membership: %(name)s", name=person.name),
                              url_for("admin.person", person_id=person.id),
                              hint=_("A probationary member becomes a full member (转正): choose “Full member” and "
                                     "enter the date of full membership."))


@bp.route("/people/<int:person_id>/move", methods=["GET", "POST"])
@guard(ACTION)
def person_move(person_id: int):
    """Move a person to another branch."""
    person = load_or_404(Person, person_id, ACTION)
    form = f.MoveForm(target_id=person.branch_id)
    form.target_id.choices = _branch_choices(blank="—")
    form.target_id.label.text = _("Branch")

    def moved(kept: list[RoleAssignment]) -> str:
        if not kept:
            return _("%(name)s was moved.", name=person.name)
        roles = ", ".join(str(label("role", a.role)) for a in kept)
        return _("%(name)s was moved. They still hold roles in the old branch: %(roles)s. Revoke them below if "
                 "they no longer apply.", name=person.name, roles=roles)

    done = submit_form(form, lambda s: org_people.move_person(s, current_principal(), person.id,
                                                        form.target_id.data), success=moved, then=lambda kept: url_for("admin.person", person_id=person.id))
    return done or _form_page(form, _("Move to another branch: %(name)s", name=person.name),
                              url_for("admin.person", person_id=person.id),
                              hint=_("Now in: %(branch)s", branch=person.branch.name if person.branch else "—"))


@bp.route("/people/<int:person_id>/account", methods=["POST"])
@guard(ACTION)
def account_create(person_id: int):
    """Open a sign-in account for a person (without a password until one is issued)."""
    person = load_or_404(Person, person_id, ACTION)
    form = f.AccountForm()
    if form.validate_on_submit():
        run_and_flash(org_accounts.create_account, current_principal(), person.id, username=form.username.data,
                      success=lambda user: _("The account “%(username)s” was opened. Issue an initial password or "
                                             "reset the password to let them sign in.", username=user.username))
    else:
        for messages in form.errors.values():
            for message in messages:
                flash(message, "error")
    return redirect(url_for("admin.person", person_id=person.id))


# --- Roles -------------------------------------------------------------------------------------------

def _find_user(who: str) -> User | None:
    who = (who or "").strip()
    if not who:
        return None
    user = db.session.scalar(select(User).where(User.username == who.lower()))
    if user is None:
        user = db.session.scalar(select(User).join(Person, User.person_id == Person.id)
                                 .where(Person.employee_no == who))
    return user


def _assign(form: f.RoleForm, user: User | None) -> Response | None:
    def assign(session: Any) -> RoleAssignment:
        if user is None:
            raise ValidationFailed(field_errors={"who": [_("No account with this username or employee number.")]})
        return org_roles.assign_role(session, current_principal(), user, form.role.data,
                                     form.branch_id.data)

    return submit_form(form, assign, success=lambda a: _("%(name)s is now %(role)s (%(where)s).", name=a.user.name,
                                             role=label("role", a.role),
                                             where=a.branch.name if a.branch else _("Bureau-wide")), then=lambda a: safe_next(url_for("admin.roles")))


@bp.route("/roles", methods=["GET", "POST"])
@guard(ACTION)
def roles():
    """Who holds what in each branch and bureau-wide; what is missing; assign a role."""
    form = f.RoleForm()
    form.set_role_choices()
    form.branch_id.choices = _branch_choices(blank=_("Bureau-wide"))
    if request.method == "POST":
        done = _assign(form, _find_user(form.who.data))
        if done:
            return done
    coverage, bureau_wide = org_roles.role_coverage(db.session)
    return _page("admin/roles.html", form, coverage=coverage, bureau_wide=bureau_wide,
                 branch_roles=("secretary", "discipline", "reviewer"), min_reviewers=org_roles.MIN_REVIEWERS)


@bp.route("/people/<int:person_id>/roles", methods=["POST"])
@guard(ACTION)
def person_role_assign(person_id: int):
    """Assign a role to this person (from their page or their branch's page)."""
    person = load_or_404(Person, person_id, ACTION)
    form = f.RoleForm()
    form.set_role_choices()
    form.branch_id.choices = _branch_choices(blank=_("Bureau-wide"))
    if person.user is None:
        flash(_("Open an account for this person first."), "error")
        return redirect(url_for("admin.person", person_id=person.id))
    done = _assign(form, person.user)
    if done:
        return done
    for messages in form.errors.values():
        for message in messages:
            flash(message, "error")
    return redirect(safe_next(url_for("admin.person", person_id=person.id)))


@bp.route("/roles/<int:assignment_id>/revoke", methods=["POST"])
@guard(ACTION)
def role_revoke(assignment_id: int):
    """Take a role away."""
    assignment = load_or_404(RoleAssignment, assignment_id, ACTION)
    text = _("%(name)s is no longer %(role)s (%(where)s).", name=assignment.user.name,
             role=label("role", assignment.role),
             where=assignment.branch.name if assignment.branch else _("Bureau-wide"))
    run_and_flash(org_roles.revoke_role, current_principal(), assignment.id, success=text)
    return redirect(safe_next(url_for("admin.roles")))


# --- Accounts ----------------------------------------------------------------------------------------

ACCOUNT_STATES = ("all", "active", "inactive", "no_password", "must_change")


@bp.route("/accounts")
@guard(ACTION)
def accounts():
    """Sign-in accounts: who can sign in, who still needs a password."""
    q = (request.args.get("q") or "").strip()[:100]
    state = request.args.get("state") if request.args.get("state") in ACCOUNT_STATES else "all"
    stmt = select(User).outerjoin(Person, User.person_id == Person.id)
    if q:
        stmt = stmt.where(or_(User.username.icontains(q, autoescape=True), Person.name.contains(q, autoescape=True),
                              Person.employee_no.icontains(q, autoescape=True)))
    if state in ("active", "inactive"):
        stmt = stmt.where(User.active.is_(state == "active"))
    elif state == "no_password":
        stmt = stmt.where(User.password_hash == org_accounts.UNUSABLE_PASSWORD, User.active.is_(True))
    elif state == "must_change":
        stmt = stmt.where(User.must_change_password.is_(True))
    page = db.paginate(stmt.order_by(User.username), page=request.args.get("page", 1, type=int), per_page=PER_PAGE,
                       error_out=False)
    return render_template("admin/accounts.html", page=page, q=q, state=state, states=ACCOUNT_STATES,
                           waiting=len(org_accounts.accounts_without_password(db.session)),
                           form=f.PasswordsForm())


@bp.route("/accounts/<int:user_id>/reset", methods=["POST"])
@guard(ACTION)
def account_reset(user_id: int):
    """Give an account a new one-time password, shown on this page once and nowhere else."""
    user = load_or_404(User, user_id, ACTION)
    if not FlaskForm().validate_on_submit():
        abort(400)
    outcome = run_service(org_accounts.reset_password, current_principal(), user.id)
    if not outcome.ok:
        for message in messages_of(outcome.error):
            flash(message, "error")
        return redirect(safe_next(url_for("admin.accounts")))
    password = outcome.result
    response = Response(render_template("admin/password_once.html", user=user, password=password,
                                        back=safe_next(url_for("admin.accounts"))))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/accounts/<int:user_id>/require-change", methods=["POST"])
@guard(ACTION)
def account_require_change(user_id: int):
    """Make the user choose a new password at their next sign-in."""
    user = load_or_404(User, user_id, ACTION)
    run_and_flash(org_accounts.require_password_change, current_principal(), user.id,
                  success=_("%(name)s will have to choose a new password at the next sign-in.", name=user.name))
    return redirect(safe_next(url_for("admin.accounts")))


def _issue(user_ids: list[int] | None, back: str) -> Response:
    """Issue initial passwords and hand them over as a workbook, once."""
    wanted = org_accounts.accounts_without_password(db.session, user_ids)
    if not wanted:
        flash(_("None of these accounts is waiting for a password."), "info")
        return redirect(back)
    issued = run_service(org_accounts.issue_initial_passwords, current_principal(), wanted).result
    data = roster.passwords_workbook(issued)
    return _xlsx(data, f"initial-passwords-{_stamp()}.xlsx")


@bp.route("/accounts/passwords", methods=["POST"])
@guard(ACTION)
def issue_passwords():
    """Initial passwords for the selected accounts, or for every account that has none yet."""
    form = f.PasswordsForm()
    if not form.validate_on_submit():
        abort(400)
    if form.scope.data == "all" or request.form.get("all"):
        ids = None
    else:
        ids = [i for i in (optional_int(v) for v in request.form.getlist("user_ids")) if i is not None]
        if not ids:
            flash(_("Select the accounts first."), "error")
            return redirect(safe_next(url_for("admin.accounts")))
    return _issue(ids, safe_next(url_for("admin.accounts")))


# --- Roster import ------------------------------------------------------------------------------------

def _staging_dir() -> Path:
    return Path(current_app.config.get("ROSTER_STAGING_DIR") or Path(current_app.instance_path) / "roster_imports")


def _staged(token: str) -> roster.Staged:
    try:
        return roster.load_staged(_staging_dir(), current_principal(), token)
    except DomainError:
        abort(404)


def translate_problem(problem: roster.Problem) -> str:
    return _(problem.message, **problem.params)


@bp.route("/roster", methods=["GET", "POST"])
@guard(ACTION)
def roster_upload():
    """Upload a roster workbook; it is checked and shown before anything is imported."""
    form = f.RosterUploadForm()
    if form.validate_on_submit():
        limit = int(current_app.config.get("ROSTER_MAX_BYTES", roster.MAX_BYTES))
        upload = form.file.data
        data = upload.read(limit + 1)
        try:
            parsed = roster.parse_workbook(data, max_bytes=limit,
                                           max_rows=int(current_app.config.get("ROSTER_MAX_ROWS", roster.MAX_ROWS)))
        except roster.FileRejected as e:
            form.file.errors = list(form.file.errors) + [_(e.message, **e.params)]
        else:
            token = roster.stage(_staging_dir(), current_principal(), data=data,
                                 filename=upload.filename or "", parsed=parsed)
            return redirect(url_for("admin.roster_preview", token=token,
                                    update_existing="1" if form.update_existing.data else None))
    return _page("admin/roster_upload.html", form, max_rows=roster.MAX_ROWS, columns=roster.COLUMNS)


@bp.route("/roster/template.xlsx")
@guard(ACTION)
def roster_template():
    """The roster template, with drop-down lists and the bureau's branches."""
    return _xlsx(roster.template_workbook(db.session), "roster-template.xlsx")


def _field_titles() -> dict[str, str]:
    return {"name": _("Full name"), "gender": _("Gender"), "branch_id": _("Branch"), "status": _("Membership"),
            "joined_party_on": _("Joined the party"), "full_member_on": _("Full membership"),
            "activist_since": _("Activist since"), "position": _("Position"), "phone": _("Phone")}


def _preview(staged: roster.Staged, update_existing: bool, status: int = 200, message: str | None = None):
    plan = roster.plan_import(db.session, staged.parsed, update_existing=update_existing)
    form = f.ConfirmImportForm(update_existing="1" if update_existing else "")
    if message:
        form.form_errors.append(message)
    items = [i for i in plan.items if i.action != "unchanged"]
    return render_template(
        "admin/roster_preview.html", staged=staged, plan=plan, counts=plan.counts, form=form,
        update_existing=update_existing, problems=plan.problems[:SHOWN_PROBLEMS], items=items[:SHOWN_ITEMS],
        more_items=max(0, len(items) - SHOWN_ITEMS), notes=staged.parsed.notes,
        translate=translate_problem, field_titles=_field_titles(), branch_names=dict(db.session.execute(select(Branch.id, Branch.name)).all()),
        uploaded=datetime.fromisoformat(staged.created_at),
    ), status


@bp.route("/roster/<token>")
@guard(ACTION)
def roster_preview(token: str):
    """What the import would do: counts, changes, and every row-level error."""
    staged = _staged(token)
    if staged.imported:
        return redirect(url_for("admin.roster_done", token=token))
    return _preview(staged, request.args.get("update_existing") == "1")


@bp.route("/roster/<token>/errors.xlsx")
@guard(ACTION)
def roster_errors(token: str):
    """Every error of the upload as a workbook, to work through beside the roster."""
    staged = _staged(token)
    plan = roster.plan_import(db.session, staged.parsed, update_existing=request.args.get("update_existing") == "1")
    return _xlsx(roster.problems_workbook(plan.problems, _), f"roster-errors-{_stamp()}.xlsx")


@bp.route("/roster/<token>/confirm", methods=["POST"])
@guard(ACTION)
def roster_confirm(token: str):
    """Import every row in one transaction, after checking again against the database as it is now."""
    staged = _staged(token)
    if staged.imported:
        flash(_("This workbook was already imported."), "info")
        return redirect(url_for("admin.roster_done", token=token))
    form = f.ConfirmImportForm()
    update_existing = form.update_existing.data == "1"
    if not form.validate_on_submit():
        abort(400)
    plan = roster.plan_import(db.session, staged.parsed, update_existing=update_existing)
    outcome = run_service(roster.apply_import, current_principal(), plan, source=staged.sha256[:16])
    if type(outcome.error) is Conflict:  # a row written meanwhile: the database refused a duplicate
        return _preview(staged, update_existing, 409, _("Somebody changed the people meanwhile. Nothing was "
                                                        "imported; check the preview again."))
    if outcome.error is not None:
        return _preview(staged, update_existing, 422, message_of(outcome.error))
    result = outcome.result
    roster.mark_imported(_staging_dir(), staged, result)
    flash(_("The roster was imported: %(new)s new, %(updated)s updated, %(unchanged)s unchanged.",
            new=result.created, updated=result.updated, unchanged=result.unchanged), "success")
    return redirect(url_for("admin.roster_done", token=token))


@bp.route("/roster/<token>/done")
@guard(ACTION)
def roster_done(token: str):
    """After the import: what happened, and initial passwords for the new accounts."""
    staged = _staged(token)
    if not staged.imported:
        return redirect(url_for("admin.roster_preview", token=token))
    waiting = org_accounts.accounts_without_password(db.session, staged.imported["created_user_ids"])
    return render_template("admin/roster_done.html", staged=staged, result=staged.imported, waiting=len(waiting),
                           form=f.PasswordsForm(), batch=org_accounts.ISSUE_BATCH)


@bp.route("/roster/<token>/passwords", methods=["POST"])
@guard(ACTION)
def roster_passwords(token: str):
    """Initial passwords for the accounts this import opened (those still without one)."""
    staged = _staged(token)
    if not staged.imported or not f.PasswordsForm().validate_on_submit():
        abort(400)
    return _issue(staged.imported["created_user_ids"], url_for("admin.roster_done", token=token))
