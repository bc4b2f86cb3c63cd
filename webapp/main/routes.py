"""The home page (sends each user to their inbox) and the health check."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, url_for
from sqlalchemy import text

from webapp.authz import guard, public
from webapp.extensions import db
from webapp.main import bp


@bp.route("/")
@guard("signed_in")
def home():
    """Every user starts in their inbox."""
    if "inbox.index" in current_app.view_functions:
        return redirect(url_for("inbox.index"))
    return render_template("main/home.html")


@bp.route("/healthz")
@public
def healthz():
    """Liveness and database reachability, for load balancers."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
