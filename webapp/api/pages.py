"""The API's pages for people: a user's own tokens (see, revoke) and the readable API reference.

A blueprint nested in the API's: it keeps the session and the CSRF protection of every page (the
API's own blueprint is exempt from CSRF because it never looks at the session cookie).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from models.people import User
from webapp.authz import current_principal, guard, public
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.nav import register
from workflows.org import tokens as api_tokens

bp = Blueprint("pages", __name__, template_folder="templates")

register(_l("API tokens"), "api.pages.tokens", "signed_in", order=96)


@bp.route("/account/api-tokens")
@guard("signed_in")
def tokens():
    """The user's API tokens: when each was issued, last used, when it expires; revoke any."""
    principal = current_principal()
    assert principal is not None
    user = db.session.get(User, principal.user_id)
    rows = [(t, api_tokens.state_of(t, user)) for t in api_tokens.tokens_of(db.session, principal.user_id)]
    return render_template("api/tokens.html", rows=rows, any_active=any(s == "active" for _t, s in rows))


@bp.route("/account/api-tokens/<int:token_id>/revoke", methods=["POST"])
@guard("signed_in")
def revoke(token_id: int):
    """Revoke one token: scripts using it are refused from now on."""
    principal = current_principal()
    if not run_service(api_tokens.revoke, principal, token_id).ok:
        abort(404)  # not one of the user's tokens
    flash(_("The token has been revoked."), "success")
    return redirect(url_for("api.pages.tokens"))


@bp.route("/account/api-tokens/revoke-all", methods=["POST"])
@guard("signed_in")
def revoke_all():
    """Revoke every token of the user at once (a lost phone, a leaked script)."""
    count = run_service(api_tokens.revoke_all, current_principal()).result
    flash(_("%(count)s tokens revoked.", count=count), "success")
    return redirect(url_for("api.pages.tokens"))


@bp.route("/api/docs")
@public
def docs():
    """The API reference, rendered from the OpenAPI document the server itself serves."""
    from webapp.api import openapi

    document = openapi.document()
    g.api_schemas = document["components"]["schemas"]
    return render_template("api/docs.html", doc=document, groups=openapi.operations_by_tag(document),
                           type_text=type_text, properties=properties, prose=prose, refs=refs)


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def prose(text: str) -> Markup:
    """The document's descriptions use `code` and **bold** (CommonMark, as OpenAPI says); escaped first."""
    html = str(escape(text or ""))
    return Markup(_BOLD.sub(r"<strong>\1</strong>", _CODE.sub(r"<code>\1</code>", html)))


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def type_text(schema: dict[str, Any] | None) -> str:
    """A schema as a short readable type: "string | null", "array of Task", "one of: a, b"."""
    if not schema:
        return "any"
    name = _ref_name(schema)
    if name:
        return name
    if "enum" in schema:
        return "one of: " + ", ".join("null" if v is None else str(v) for v in schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " | ".join(type_text(s) for s in schema[combinator])
    kinds = schema.get("type", "object")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    parts = []
    for kind in kinds:
        if kind == "array":
            parts.append("array of " + type_text(schema.get("items")))
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict) and not schema.get("properties"):
            parts.append("map of id → " + type_text(schema["additionalProperties"]))
        elif kind in ("string", "integer") and schema.get("format"):
            parts.append(f"{kind} ({schema['format']})")
        else:
            parts.append(kind)
    return " | ".join(parts)


def refs(schema: dict[str, Any] | None) -> list[str]:
    """The named schemas a schema is (one, or one of several), to link to; [] when it is inline."""
    if not schema:
        return []
    name = _ref_name(schema)
    if name:
        return [name]
    parts = schema.get("anyOf") or schema.get("oneOf") or []
    names = [_ref_name(p) for p in parts]
    return [n for n in names if n] if parts and all(names) else []


def properties(schema: dict[str, Any] | None) -> list[tuple[str, str, bool, str]]:
    """(name, type, required, description) of an object schema's properties, $refs followed."""
    if not schema:
        return []
    name = _ref_name(schema)
    if name:
        schema = g.api_schemas.get(name, {})
    required = set(schema.get("required", []))
    return [(key, type_text(value), key in required, value.get("description", ""))
            for key, value in (schema.get("properties") or {}).items()]
