"""Sign-in, passwords and throttling of failed sign-ins (shared by all web workers via the DB)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import audit
from models.clock import now
from models.people import LoginAttempt, User
from workflows.errors import DomainError, ValidationFailed
from workflows.i18n import N_

# Verifying against this when the user does not exist keeps the timing of both answers alike.
_DUMMY_HASH = generate_password_hash("not-a-real-password-of-anybody")
MIN_PASSWORD_LENGTH = 8


class InvalidCredentials(DomainError):
    """Wrong username or password."""

    http_status = 401
    code = "invalid_credentials"


class Throttled(DomainError):
    """Too many failed sign-ins. Please wait and try again."""

    http_status = 429
    code = "throttled"


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def verify_password(password_hash: str, password: str | None) -> bool:
    """False for an unusable hash ("!": an imported account that has no password yet)."""
    if not password_hash.startswith(("scrypt:", "pbkdf2:")):
        check_password_hash(_DUMMY_HASH, password or "")
        return False
    return check_password_hash(password_hash, password or "")


def authenticate(
    session: Session,
    username: str,
    password: str,
    remote_addr: str = "",
    max_failures: int = 5,
    window_minutes: int = 15,
) -> User:
    """Check a username and password; raises InvalidCredentials or Throttled. Records the attempt."""
    username = (username or "").strip()
    since = now() - timedelta(minutes=window_minutes)
    failures_user = session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(False), LoginAttempt.at >= since
        )
    ) or 0
    failures_addr = 0
    if remote_addr:
        failures_addr = session.scalar(
            select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.remote_addr == remote_addr, LoginAttempt.success.is_(False), LoginAttempt.at >= since
            )
        ) or 0
    if failures_user >= max_failures or failures_addr >= max_failures * 4:
        session.add(LoginAttempt(username=username[:80], remote_addr=remote_addr[:64], success=False))
        raise Throttled(minutes=window_minutes)

    user = session.scalar(select(User).where(User.username == username)) if username else None
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    if user is None or not ok or not user.active:
        session.add(LoginAttempt(username=username[:80], remote_addr=remote_addr[:64], success=False))
        audit.record(session, "auth.failed", actor_user_id=user.id if user else None,
                     object_type="user", object_id=username[:60], data={"addr": remote_addr})
        raise InvalidCredentials()
    session.add(LoginAttempt(username=username[:80], remote_addr=remote_addr[:64], success=True))
    user.last_login_at = now()
    audit.record(session, "auth.login", actor_user_id=user.id, object_type="user", object_id=user.id,
                 data={"addr": remote_addr})
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Change a user's own password; every other session of theirs is signed out."""
    if not verify_password(user.password_hash, current):
        raise ValidationFailed(field_errors={"current_password": [N_("The current password is wrong.")]})
    validate_new_password(new, user.username)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.session_epoch += 1
    audit.record(session, "auth.password_changed", actor_user_id=user.id, object_type="user", object_id=user.id)


def validate_new_password(new: str, username: str = "") -> None:
    errors = []
    if len(new or "") < MIN_PASSWORD_LENGTH:
        errors.append(N_("At least 8 characters."))
    if new and username and new.lower() == username.lower():
        errors.append(N_("The password must not be the username."))
    if errors:
        raise ValidationFailed(field_errors={"new_password": errors})


def set_password(session: Session, user: User, new: str, *, actor_user_id: int | None, must_change: bool) -> None:
    """An administrator sets a password (e.g. a reset); the user changes it at next sign-in."""
    validate_new_password(new, user.username)
    user.password_hash = hash_password(new)
    user.must_change_password = must_change
    user.session_epoch += 1
    audit.record(session, "user.password_reset", actor_user_id=actor_user_id, object_type="user", object_id=user.id)
