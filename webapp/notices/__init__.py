"""The notices area."""

from flask import Blueprint

bp = Blueprint("notices", __name__, url_prefix="/notices", template_folder="templates")

from webapp.notices import routes  # noqa: E402,F401 - the views join `bp`
