"""The auth area."""

from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates")

from webapp.auth import routes  # noqa: E402,F401 - the views join `bp`
