"""The publicity area."""

from flask import Blueprint

bp = Blueprint("publicity", __name__, url_prefix="/publicity", template_folder="templates",
               static_folder="static", static_url_path="/static")

from webapp.publicity import routes  # noqa: E402,F401 - the views join `bp`
