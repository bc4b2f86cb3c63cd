"""The member's area: the self-evaluation task page (also the branch's recording for an overdue
member), evidence files, my scores with the "why" of every point, the probationary record,
appeals and concerns, and notifications.

The views live in the modules imported at the end; this module holds the blueprint, the
navigation entries and the small helpers the templates of this area share.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from webapp.member import bp
from webapp.nav import register


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"q": request.args.get("q", "")}


register(_l("My scores"), "member.index", "evaluation.declare", order=20)
