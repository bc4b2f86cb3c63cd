"""The task pages of the branch's work: review, approval, general meeting, appeals, supervision
reports, follow-ups."""

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates", static_folder="static")

from webapp.review import routes  # noqa: E402,F401 - the views join `bp`
