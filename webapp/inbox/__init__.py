"""The task inbox: every role's open tasks, claim and release, reassignment by the party office."""

from flask import Blueprint

bp = Blueprint("inbox", __name__, url_prefix="/inbox", template_folder="templates", static_folder="static")

from webapp.inbox import routes  # noqa: E402,F401 - the views join `bp`
