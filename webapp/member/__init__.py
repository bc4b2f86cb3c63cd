"""The member area: self-evaluation, evidence, my scores, appeals, notifications."""

from flask import Blueprint

bp = Blueprint("member", __name__, template_folder="templates", static_folder="static",
               static_url_path="/member-static")

from webapp.member import appeals, declare, files, notifications, routes, scores  # noqa: E402,F401 - the views join `bp`
