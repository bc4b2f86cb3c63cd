"""The indicator catalogue area (积分量化指标体系)."""

from flask import Blueprint

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue", template_folder="templates",
               static_folder="static", static_url_path="/static")

from webapp.catalogue import routes  # noqa: E402,F401 - the views join `bp`
