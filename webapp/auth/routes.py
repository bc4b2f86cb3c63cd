"""Sign in and out, the user's own profile and password, the language switch."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from webapp import LoginUser
from webapp.auth import bp
from webapp.auth.forms import EmptyForm, LoginForm, PasswordForm
from webapp.authz import current_principal, guard, public
from webapp.boundary import run_service
from webapp.nav import register
from webapp.redirects import safe_next
from workflows.org import accounts

register(_l("My account"), "auth.profile", "signed_in", order=95)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in with username and password; failed attempts are throttled."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        outcome = run_service(
            accounts.authenticate, form.username.data, form.password.data,
            remote_addr=request.remote_addr or "", max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            window_minutes=current_app.config["LOGIN_WINDOW_MINUTES"],
            commit_on=(accounts.Throttled, accounts.InvalidCredentials))  # a failure counts towards the throttle
        if isinstance(outcome.error, accounts.Throttled):
            form.password.errors.append(_("Too many failed sign-ins. Please wait %(minutes)s minutes and try again.",
                                          minutes=current_app.config["LOGIN_WINDOW_MINUTES"]))
            status = 429
        elif outcome.error is not None:
            form.password.errors.append(_("Wrong username or password."))
            status = 401
        else:
            user = outcome.result
            session.clear()
            login_user(LoginUser(user))
            session.permanent = True
            if user.must_change_password:
                flash(_("Please choose a new password before you go on."), "warning")
                return redirect(url_for("auth.profile"))
            return redirect(safe_next(url_for("main.home")))
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@public
def logout():
    """Sign out (POST with CSRF token, so no other site can sign anybody out)."""
    form = EmptyForm()
    if form.validate_on_submit() or not current_app.config.get("WTF_CSRF_ENABLED", True):
        logout_user()
        session.clear()
        flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=["GET", "POST"])
@guard("signed_in")
def profile():
    """The user's own account: roles held, password change."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user.model
        if run_service(accounts.change_password, user, form.current_password.data, form.new_password.data,
                       form=form).ok:
            login_user(LoginUser(user))  # the epoch moved: keep this session, end the others
            flash(_("Your password has been changed. Other sessions have been signed out."), "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/profile.html", form=form, principal=current_principal())


@bp.route("/lang/<code>", methods=["POST"])
@public
def set_language(code: str):
    """Switch the interface language (kept on the account when signed in)."""
    form = EmptyForm()
    if code in current_app.config["LANGUAGES"] and (form.validate_on_submit() or not current_app.config.get("WTF_CSRF_ENABLED", True)):
        session["lang"] = code
        principal = current_principal()
        if principal is not None:
            run_service(accounts.set_locale, principal, code)
    return redirect(safe_next(url_for("main.home")))
