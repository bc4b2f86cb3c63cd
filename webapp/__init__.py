"""The pointsflow web application: `create_app()` builds it (flask --app webapp ...)."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import IntegerConverter

from models.db import MAX_ID, install_engine_hooks
from webapp import config as config_module
from webapp.extensions import babel, csrf, db, login_manager, migrate
from workflows.errors import DomainError

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application; `overrides` replace settings (tests use it)."""
    app = Flask(__name__, instance_path=str(config_module.INSTANCE), instance_relative_config=True)
    app.config.update(config_module.load())
    if overrides:
        app.config.update(overrides)
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
    Path(app.config["UPLOAD_DIR"]).mkdir(parents=True, exist_ok=True)

    from webapp import i18n
    from workflows import setup

    setup.configure()  # forms, service-task operators, the session hooks
    i18n.compile_all()
    install_engine_hooks()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    _init_login(app)
    babel.init_app(
        app,
        locale_selector=_select_locale,
        default_translation_directories=";".join(str(p) for p in i18n.translation_dirs()),
    )
    app.url_map.converters["int"] = BoundedInt  # before any route is added
    _register_blueprints(app)
    _register_errors(app)
    _register_templating(app)
    _register_security_headers(app)

    from webapp import cli

    cli.register(app)
    from webapp import startup

    startup.on_start(app)
    return app


def _select_locale() -> str:
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale:
        return str(current_user.locale)
    lang = session.get("lang")
    if lang in ("zh", "en"):
        return str(lang)
    return "zh"


def _init_login(app: Flask) -> None:
    from models.people import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> Any:
        # "<user id>:<session epoch>": bumping the epoch signs a user out everywhere.
        try:
            user_id, epoch = (int(x) for x in session_id.split(":", 1))
        except ValueError:
            return None
        user = db.session.get(User, user_id)
        if user is None or not user.active or user.session_epoch != epoch:
            return None
        return LoginUser(user)

    @login_manager.unauthorized_handler
    def unauthorized() -> Any:
        from flask import redirect, url_for

        if request.path.startswith("/api/"):
            return jsonify(error="unauthorized", message="sign in first"), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


class LoginUser:
    """Flask-Login's view of a `User` (kept apart so models stay free of Flask)."""

    def __init__(self, user: Any) -> None:
        self._user = user

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)

    @property
    def model(self) -> Any:
        return self._user

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return bool(self._user.active)

    def get_id(self) -> str:
        return f"{self._user.id}:{self._user.session_epoch}"


class BoundedInt(IntegerConverter):
    """`<int:...>` in every URL: ids beyond the database's 32-bit range are a 404, not a query error.

    It raises NotFound itself: werkzeug's ValidationError would let a sibling rule of the same path
    (PUT and DELETE on one URL) answer 405 instead.
    """

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise NotFound()
        return number


# The areas of the web layer, each a package whose `__init__` creates its blueprint `bp`.
AREAS = ("admin", "api", "auth", "catalogue", "designer", "inbox", "main", "member", "monitor", "notices", "office",
         "publicity", "reports", "review")


def _register_blueprints(app: Flask) -> None:
    """Register every area's blueprint; the API's takes bearer tokens, not the session, so no CSRF."""
    for name in AREAS:
        bp = importlib.import_module(f"webapp.{name}").bp
        app.register_blueprint(bp)
        if name == "api":
            csrf.exempt(bp)


def _register_errors(app: Flask) -> None:
    messages = {
        400: lambda: _("The request could not be understood. Please go back and try again."),
        401: lambda: _("Please sign in."),
        403: lambda: _("You do not have permission to see this page."),
        404: lambda: _("This page does not exist, or it is no longer available."),
        405: lambda: _("This action is not possible here."),
        409: lambda: _("Somebody else changed this at the same time. Please reload and try again."),
        413: lambda: _("The upload is too large."),
        429: lambda: _("Too many attempts. Please wait a few minutes and try again."),
        500: lambda: _("Something went wrong on our side. Nothing you entered was lost; please try again."),
    }

    def render_error(code: int, message: str | None = None) -> Any:
        text = message or messages.get(code, messages[400])()
        if request.path.startswith("/api/"):
            return jsonify(error=_api_error_name(code), message=text), code
        return render_template("errors.html", code=code, message=text), code

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> Any:
        return render_error(400, _("The form has expired or was not sent from this site. Please reload the page and submit again."))

    @app.errorhandler(DomainError)
    def domain_error(e: DomainError) -> Any:
        # A service's refusal that reached a page unhandled: its status, with the page's own words
        # for 403 and 404 (which must not say more than the page would).
        db.session.rollback()
        code = e.http_status if 400 <= e.http_status < 500 else 500
        if code == 500:
            log.error("engine error on %s %s: %s", request.method, request.path, e.message)
        return render_error(code, None if code in (403, 404, 500) else _(e.message))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        code = e.code or 500
        custom = e.description if getattr(e, "pf_message", False) else None
        return render_error(code, custom)

    @app.errorhandler(Exception)
    def server_error(e: Exception) -> Any:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)


def _api_error_name(code: int) -> str:
    return {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid", 429: "too_many_requests",
    }.get(code, "server_error")


def _register_templating(app: Flask) -> None:
    from webapp import nav
    from webapp.authz import allowed, current_principal

    @app.context_processor
    def inject() -> dict[str, Any]:
        principal = current_principal()
        entries = nav.entries_for(principal)
        return {
            "nav_entries": entries,
            "nav_active": nav.active_endpoint(entries, request.endpoint, request.blueprint),
            "principal": principal,
            "allowed": allowed,
            "languages": app.config["LANGUAGES"],
            "current_locale": _select_locale(),
        }

    from webapp import formatting

    formatting.register(app)
    from webapp import labels

    labels.register(app)
    app.jinja_env.add_extension("jinja2.ext.do")


def _register_security_headers(app: Flask) -> None:
    @app.before_request
    def fresh_request_caches() -> None:
        # Per-request caches live on `g`; when an app context outlives a request (tests,
        # CLI), drop them so one request's user never leaks into the next.
        g.pop("principal", None)
        g.pop("_login_user", None)
        g.pop("_flask_babel", None)

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; font-src 'self' data:; object-src 'none'; frame-ancestors 'self'; "
            "base-uri 'self'; form-action 'self'",
        )
        if "principal" in g and response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
