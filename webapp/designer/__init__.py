"""The process designer's area: versions, upload and modeller, checks, replay, deploy, compare, migrate."""

from flask import Blueprint

bp = Blueprint("designer", __name__, url_prefix="/designer", template_folder="templates",
               static_folder="static", static_url_path="/static")

from webapp.designer import routes  # noqa: E402,F401 - the views join `bp`
