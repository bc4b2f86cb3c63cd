"""The administrator's area: organisation, people, accounts, roles, roster import."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

from webapp.admin import routes  # noqa: E402,F401 - the views join `bp`
