"""The supervisors' monitor: instances by step, overdue and failed work, instance pages, charts."""

from flask import Blueprint

bp = Blueprint("monitor", __name__, url_prefix="/monitor", template_folder="templates",
               static_folder="static", static_url_path="/static")

from webapp.monitor import routes  # noqa: E402,F401 - the views join `bp`
