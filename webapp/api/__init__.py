"""The JSON API (/api/v1), its OpenAPI document, its reference page and the user's token page."""

from flask import Blueprint

bp = Blueprint("api", __name__, template_folder="templates")

from webapp.api import pages, routes  # noqa: E402,F401 - the views join `bp`

bp.register_blueprint(pages.bp)  # the area's HTML pages (tokens, the reference), a nested blueprint
