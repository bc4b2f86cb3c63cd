"""The indicator catalogue: versions, the tree, editing a draft, publication, copies, Excel, the
comparison of two versions and the what-if re-scoring of a closed quarter.

Everybody signed in sees published (and retired) versions; drafts, edits and what-if are the
party office's (`catalogue.edit`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from models.catalogue import HONOUR_LEVELS, CatalogueStatus, CatalogueVersion, Problem, spec_of, view_counts
from models.clock import now
from models.org import UnitKind
from webapp.arguments import optional_int
from webapp.authz import allowed, current_principal, guard, load_or_404
from webapp.boundary import apply_field_errors, message_of, run_service, submit_form
from webapp.catalogue import bp
from webapp.catalogue import forms as f
from webapp.extensions import db
from webapp.nav import register
from workflows.catalogue import excel as catalogue_excel
from workflows.catalogue import versions as catalogue
from workflows.catalogue import whatif
from workflows.errors import DomainError

register(_l("Indicator catalogue"), "catalogue.index", "catalogue.view", order=60)

EDIT = "catalogue.edit"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NODE_LABELS = {
    "basis": _l("Basis"), "dimension": _l("Dimension"), "item": _l("Item"), "content": _l("Content"),
    "standard": _l("Scoring standard"),
}
# Problem fields (of the services) → form fields.
FORM_FIELDS = {"unit_kind": "unit_kind_id", "basis": "basis_id"}


# --- helpers ------------------------------------------------------------------------------------


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"problem_text": problem_text}


def _version(version_id: int, action: str = "catalogue.view") -> CatalogueVersion:
    """Load a version; a draft exists only for those who may edit it."""
    version = load_or_404(CatalogueVersion, version_id, action)
    if version.status == CatalogueStatus.DRAFT and not allowed(EDIT):
        abort(404)
    return version


def _frozen(version: CatalogueVersion) -> Response | None:
    """Edit pages of a published version send the user back to it, saying why."""
    if version.status == CatalogueStatus.DRAFT:
        return None
    flash(_("A published catalogue never changes: make a new draft from it to edit."), "warning")
    return redirect(url_for("catalogue.view", version_id=version.id))


def problem_text(p: Problem | catalogue_excel.SheetProblem) -> str:
    """A service's message id, translated, with its parameters (a unit kind code by its name)."""
    if not p.params:
        return _(p.message)
    params = dict(p.params)
    if "view" in params:
        names = {k.code: k.name for k in _kinds()}
        params["view"] = names.get(params["view"]) or _("the common part")
    return _(p.message, **params)


def _apply(form: FlaskForm, error: DomainError) -> None:
    """Put a service's problems on the fields they concern (or on the form)."""
    problems = error.details.get("problems") if error.details else None
    if not problems:
        apply_field_errors(form, error)
        return
    for p in problems:
        field = getattr(form, FORM_FIELDS.get(p.field, p.field), None)
        if field is not None and not isinstance(field, str):
            field.errors = list(field.errors or []) + [problem_text(p)]
        else:
            form.form_errors.append(problem_text(p))


def _page(template: str, form: FlaskForm | None = None, **context: Any) -> tuple[str, int]:
    failed = form is not None and request.method == "POST" and bool(form.errors or form.form_errors)
    return render_template(template, form=form, **context), 422 if failed else 200


def _post_action(version_id: int, action: Callable[[Any, CatalogueVersion, int | None], Any], success: str,
                 target: Callable[[Any], str]) -> Response:
    """A button on a version (publish, delete, copy...): one service, then back with a message."""
    version = _version(version_id, EDIT)
    form = f.EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    revision = optional_int(form.revision.data)
    outcome = run_service(lambda session: action(session, version, revision))
    if outcome.error is not None:
        problems = outcome.error.details.get("problems") if outcome.error.details else None
        flash(message_of(outcome.error), "error")
        for p in (problems or [])[:20]:
            flash(problem_text(p), "error")
        return redirect(url_for("catalogue.view", version_id=version_id))
    flash(success, "success")
    return redirect(target(outcome.result))


def _kinds() -> list[UnitKind]:
    return list(db.session.scalars(db.select(UnitKind).order_by(UnitKind.sort, UnitKind.id)))


# --- list, view ---------------------------------------------------------------------------------


@bp.route("/")
@guard("catalogue.view")
def index():
    """Every version, newest year first; the party office also sees drafts and its tools."""
    editor = allowed(EDIT)
    versions = catalogue.list_versions(db.session, include_drafts=editor)
    new_form = f.VersionForm(prefix="new", data={"pass_line": Decimal("90"), "excellent_line": Decimal("105")})
    next_year = max((v.year for v in versions), default=now().year - 1) + 1
    copy_form = f.CopyForm(prefix="copy", data={"year": next_year})
    return render_template("catalogue/index.html", versions=versions, editor=editor, new_form=new_form,
                           copy_form=copy_form)


@bp.route("/new", methods=["POST"])
@guard(EDIT)
def new():
    """Start an empty draft."""
    form = f.VersionForm(prefix="new")
    response = submit_form(form, lambda s: catalogue.create_draft(
        s, current_principal(), year=form.year.data, name=form.name.data,
        pass_line=form.pass_line.data, excellent_line=form.excellent_line.data,
        description=form.description.data or ""), success=_("The draft has been created."), then=lambda v: url_for("catalogue.view", version_id=v.id), place=_apply)
    if response is not None:
        return response
    return _page("catalogue/form.html", form, title=_("New draft"), back=url_for("catalogue.index"),
                 action=url_for("catalogue.new"))


@bp.route("/copy-last-year", methods=["POST"])
@guard(EDIT)
def copy_last_year():
    """A draft for a year from the newest catalogue of an earlier year."""
    form = f.CopyForm(prefix="copy")
    response = submit_form(form, lambda s: catalogue.copy_last_year(s, current_principal(),
                                                              form.year.data), success=_("The draft has been created from last year's catalogue."), then=lambda v: url_for("catalogue.view", version_id=v.id), place=_apply,
                           ends_request=False)  # no earlier year: said on the form
    if response is not None:
        return response
    return _page("catalogue/form.html", form, title=_("Copy last year's catalogue"), back=url_for("catalogue.index"),
                 action=url_for("catalogue.copy_last_year"))


def _view_name(view: str, kinds: list[UnitKind]) -> str | None:
    """The unit kind code a `view` argument selects; "common" and "all" are themselves."""
    if view in ("all", "common"):
        return view
    return view if any(k.code == view for k in kinds) else "all"


@bp.route("/<int:version_id>")
@guard("catalogue.view")
def view(version_id: int):
    """A version as a tree; `?view=<unit kind code>` shows it as a member of that kind sees it."""
    version = _version(version_id)
    tree = catalogue.load_tree(db.session, version_id)
    kinds = _kinds()
    codes = {k.id: k.code for k in kinds}
    spec = spec_of(tree, codes)
    shown = _view_name(request.args.get("view", "all"), kinds)
    counts = [(k, view_counts(spec, k.code)) for k in kinds]
    editor = allowed(EDIT) and version.status == CatalogueStatus.DRAFT
    problems = catalogue.publication_problems(db.session, version_id) if editor else []
    others = [v for v in catalogue.list_versions(db.session, include_drafts=allowed(EDIT)) if v.id != version.id]
    return render_template(
        "catalogue/view.html", version=version, tree=tree, kinds=kinds, kind_names={k.id: k.name for k in kinds},
        shown=shown, codes=codes, counts=counts, common=view_counts(spec, None), editor=editor,
        may_edit=allowed(EDIT), problems=problems, others=others, button=f.EmptyForm(),
        copy_form=f.CopyForm(prefix="copy", data={"year": version.year + 1}), honour_levels=HONOUR_LEVELS,
        basis_titles={b.id: b.title for b in tree.bases},
        copied_from=db.session.get(CatalogueVersion, version.copied_from_id) if version.copied_from_id else None)


@bp.route("/<int:version_id>/edit", methods=["GET", "POST"])
@guard(EDIT)
def edit(version_id: int):
    """A draft's year, name, lines and description."""
    version = _version(version_id, EDIT)
    if (back := _frozen(version)) is not None:
        return back
    form = f.VersionForm(obj=version)
    if request.method == "GET":
        form.revision.data = str(version.revision)
    response = submit_form(form, lambda s: catalogue.update_version(
        s, current_principal(), version_id, expected_revision=form.expected_revision,
        year=form.year.data, name=form.name.data, pass_line=form.pass_line.data,
        excellent_line=form.excellent_line.data, description=form.description.data or ""), success=_("Saved."), then=lambda v: url_for("catalogue.view", version_id=version_id), place=_apply)
    if response is not None:
        return response
    return _page("catalogue/form.html", form, title=_("Edit %(name)s", name=version.name),
                 back=url_for("catalogue.view", version_id=version_id), version=version)


# --- editing the tree of a draft ------------------------------------------------------------------


def _node_choices(form: f.Revisioned, version: CatalogueVersion, kind: str) -> None:
    if kind != "item":
        return
    tree = catalogue.load_tree(db.session, version.id)
    form.dimension_id.choices = f.choices((d.id, f"{d.code} {d.name}") for d in tree.dimensions)  # type: ignore[attr-defined]
    form.unit_kind_id.choices = f.choices(  # type: ignore[attr-defined]
        [("", _("Common part (all units)"))] + [(k.id, k.name) for k in _kinds()])
    form.basis_id.choices = f.choices([("", "—")] + [(b.id, b.title) for b in tree.bases])  # type: ignore[attr-defined]


def _values(form: f.Revisioned, kind: str) -> dict[str, Any]:
    fields = catalogue.node_kind(kind).fields
    values = {name: form[name].data for name in fields if name in form}
    if kind == "item":
        values["baseline"] = values.get("baseline") if values.get("baseline") is not None else Decimal("0")
    return values


def _node_title(kind: str, node: Any | None) -> str:
    label = str(NODE_LABELS[kind])
    return _("New: %(what)s", what=label) if node is None else _("Edit: %(what)s %(code)s", what=label, code=node.code)


@bp.route("/<int:version_id>/<kind>/new", methods=["GET", "POST"])
@bp.route("/<int:version_id>/<kind>/<int:node_id>/edit", methods=["GET", "POST"])
@guard(EDIT)
def node(version_id: int, kind: str, node_id: int | None = None):
    """Add or change a basis, dimension, item, content or standard of a draft."""
    version = _version(version_id, EDIT)
    if kind not in f.NODE_FORMS:
        abort(404)
    if (back := _frozen(version)) is not None:
        return back
    try:
        existing = catalogue.get_node(db.session, version_id, kind, node_id) if node_id is not None else None
    except DomainError:
        abort(404)
    parent_id = optional_int(request.args.get("parent"))
    form = f.NODE_FORMS[kind](obj=existing)
    _node_choices(form, version, kind)
    if kind == "item":
        parent_id = form.dimension_id.data if request.method == "POST" else parent_id  # type: ignore[attr-defined]
        if request.method == "GET" and existing is None and parent_id is not None:
            form.dimension_id.data = parent_id  # type: ignore[attr-defined]
    if request.method == "GET":
        form.revision.data = str(version.revision)
    if existing is None and kind in ("content", "standard") and parent_id is None:
        abort(404)
    response = submit_form(form, lambda s: catalogue.save_node(
        s, current_principal(), version_id, kind, _values(form, kind), node_id=node_id,
        parent_id=parent_id, expected_revision=form.expected_revision), success=_("Saved."), then=lambda n: url_for("catalogue.view", version_id=version_id, _anchor=f"{kind}-{n.id}"), place=_apply)
    if response is not None:
        return response
    return _page("catalogue/form.html", form, title=_node_title(kind, existing), version=version,
                 back=url_for("catalogue.view", version_id=version_id), node=existing, kind=kind,
                 delete_url=url_for("catalogue.delete_node", version_id=version_id, kind=kind, node_id=node_id)
                 if existing is not None else None, button=f.EmptyForm(), revision=version.revision)


@bp.route("/<int:version_id>/<kind>/<int:node_id>/delete", methods=["POST"])
@guard(EDIT)
def delete_node(version_id: int, kind: str, node_id: int):
    """Remove a node of a draft with everything under it."""
    if kind not in f.NODE_FORMS:
        abort(404)
    return _post_action(
        version_id, lambda s, v, rev: catalogue.delete_node(s, current_principal(), v.id, kind, node_id,
                                                         expected_revision=rev),
        _("Removed."), lambda _r: url_for("catalogue.view", version_id=version_id))


# --- version actions ------------------------------------------------------------------------------


@bp.route("/<int:version_id>/publish", methods=["POST"])
@guard(EDIT)
def publish(version_id: int):
    """Publish a draft; the year's previous published version is retired."""
    return _post_action(
        version_id,
        lambda s, v, rev: catalogue.publish(s, current_principal(), v.id, expected_revision=rev),
        _("Published. Quarters opened from now on are scored with this version."),
        lambda v: url_for("catalogue.view", version_id=v.id))


@bp.route("/<int:version_id>/delete", methods=["POST"])
@guard(EDIT)
def delete(version_id: int):
    """Throw a draft away."""
    return _post_action(version_id,
                        lambda s, v, _rev: catalogue.delete_draft(s, current_principal(), v.id),
                        _("The draft has been deleted."), lambda _r: url_for("catalogue.index"))


@bp.route("/<int:version_id>/copy", methods=["POST"])
@guard(EDIT)
def copy(version_id: int):
    """A new draft from this version (the way to change a published one)."""
    _version(version_id, EDIT)
    form = f.CopyForm(prefix="copy")
    response = submit_form(form, lambda s: catalogue.copy_version(s, current_principal(), version_id,
                                                            year=form.year.data, name=form.name.data), success=_("The draft has been created."), then=lambda v: url_for("catalogue.view", version_id=v.id), place=_apply)
    if response is not None:
        return response
    return _page("catalogue/form.html", form, title=_("Make a draft from this version"),
                 back=url_for("catalogue.view", version_id=version_id),
                 action=url_for("catalogue.copy", version_id=version_id))


@bp.route("/<int:version_id>/export.xlsx")
@guard("catalogue.view")
def export(version_id: int):
    """The version as the office's Excel 考评表."""
    _version(version_id)
    name, data = catalogue_excel.export_version(db.session, version_id)
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/import", methods=["GET", "POST"])
@guard(EDIT)
def import_workbook():
    """Upload a workbook: a new draft, or every problem by sheet, row and column and nothing saved."""
    form = f.ImportForm()
    problems: list[catalogue_excel.SheetProblem] = []
    if form.validate_on_submit():
        data = form.file.data.read(catalogue_excel.MAX_BYTES + 1)
        outcome = run_service(catalogue_excel.import_workbook, current_principal(), data, year=form.year.data)
        if isinstance(outcome.error, catalogue_excel.WorkbookInvalid):
            problems = outcome.error.problems
            form.form_errors.append(_(outcome.error.message))
        elif outcome.error is not None:
            _apply(form, outcome.error)
        else:
            flash(_("Imported as a new draft."), "success")
            return redirect(url_for("catalogue.view", version_id=outcome.result.id))
    return _page("catalogue/import.html", form, problems=problems, columns=list(catalogue_excel.COLUMNS.values()))


# --- compare, what-if -----------------------------------------------------------------------------


def _version_choices(include_drafts: bool) -> list[CatalogueVersion]:
    return catalogue.list_versions(db.session, include_drafts=include_drafts)


@bp.route("/compare")
@guard("catalogue.view")
def compare():
    """What was added, removed and changed between two versions (matched by code)."""
    versions = _version_choices(allowed(EDIT))
    visible = {v.id for v in versions}
    old_id, new_id = optional_int(request.args.get("old")), optional_int(request.args.get("new"))
    result = None
    if old_id is not None and new_id is not None:
        if old_id not in visible or new_id not in visible:
            abort(404)
        result = catalogue.compare(db.session, old_id, new_id)
    return render_template("catalogue/compare.html", versions=versions, old_id=old_id, new_id=new_id, result=result,
                           kind_names={k.code: k.name for k in _kinds()}, node_labels=NODE_LABELS,
                           honour_levels=HONOUR_LEVELS)


@bp.route("/whatif")
@guard(EDIT)
def what_if():
    """Re-score a closed quarter under another version: who moves up or down, and why."""
    quarters = whatif.closed_quarters(db.session)
    versions = _version_choices(True)
    quarter_id, version_id = optional_int(request.args.get("quarter")), optional_int(request.args.get("version"))
    result, error = None, None
    if quarter_id is not None and version_id is not None:
        try:
            result = whatif.rescore(db.session, quarter_id, version_id)
        except DomainError as e:
            error = _(e.message)
    return render_template("catalogue/whatif.html", quarters=quarters, versions=versions, quarter_id=quarter_id,
                           version_id=version_id, result=result, error=error,
                           everyone=request.args.get("everyone") == "1")
