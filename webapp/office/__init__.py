"""The office area."""

from flask import Blueprint

bp = Blueprint("office", __name__, template_folder="templates")

from webapp.office import annual_pages, routes, task_views  # noqa: E402,F401 - the views join `bp`
