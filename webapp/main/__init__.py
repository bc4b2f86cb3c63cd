"""The main area."""

from flask import Blueprint

bp = Blueprint("main", __name__, template_folder="templates")

from webapp.main import routes  # noqa: E402,F401 - the views join `bp`
