"""Accounts: sign-in, passwords and throttling of failed sign-ins (shared by all web workers via the
DB); opening, (de)activating and resetting accounts, usernames and initial passwords."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import audit
from models.clock import now
from models.db import chunks
from models.people import LoginAttempt, Person, Role, User
from models.permissions import Principal
from workflows.errors import Conflict, DomainError, ValidationFailed
from workflows.i18n import N_
from workflows.org.common import active_administrators, flip, get, raise_if, require_admin

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


def set_locale(session: Session, actor: Principal, code: str) -> None:
    """The interface language the user chose, kept on their account."""
    user = session.get(User, actor.user_id)
    if user is not None:
        user.locale = code



def validate_new_password(new: str, username: str = "") -> None:
    errors = []
    if len(new or "") < MIN_PASSWORD_LENGTH:
        errors.append(N_("At least 8 characters."))
    if new and username and new.lower() == username.lower():
        errors.append(N_("The password must not be the username."))
    if errors:
        raise ValidationFailed(field_errors={"new_password": errors})


def set_password(session: Session, actor: Principal, user: User, new: str, *, must_change: bool) -> None:
    """An administrator sets a password (e.g. a reset); the user changes it at next sign-in."""
    require_admin(actor)
    validate_new_password(new, user.username)
    user.password_hash = hash_password(new)
    user.must_change_password = must_change
    user.session_epoch += 1
    audit.record(session, "user.password_reset", actor_user_id=actor.acting_user_id, object_type="user", object_id=user.id)


# --- Accounts -----------------------------------------------------------------------------------

UNUSABLE_PASSWORD = "!"
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,79}$")
# Issued passwords are random (about 71 bits), so a slow hash adds nothing against guessing;
# a lighter scrypt keeps issuing thousands of them within one request. They must be changed
# at first sign-in, which stores a hash of the usual cost.
_ISSUED_HASH_METHOD = "scrypt:2048:8:1"
ISSUE_BATCH = 2000  # initial passwords per request: about 10 s of hashing at most
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"


def has_usable_password(user: User) -> bool:
    return user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def generate_password(length: int = 12) -> str:
    """A random password without look-alike characters (no 0/O, 1/l/I), easy to type from paper."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def default_username(employee_no: str) -> str:
    return (employee_no or "").strip().lower()


def username_errors(session: Session, username: str, *, except_user_id: int | None = None) -> list[str]:
    """Problems with a new username: its form, and whether somebody else has it."""
    if not USERNAME_PATTERN.match(username):
        return [N_("Use lower-case letters, digits and . _ @ - only (at most 80).")]
    taken = session.scalar(select(User.id).where(User.username == username))
    if taken is not None and taken != except_user_id:
        return [N_("This username is taken.")]
    return []


def create_account(session: Session, actor: Principal, person_id: int, *, username: str | None = None) -> User:
    """Open a sign-in account for a person: no usable password until one is issued or reset."""
    require_admin(actor)
    person = get(session, Person, person_id)
    if person.user is not None:
        raise Conflict(N_("This person already has an account."))
    username = (username or "").strip().lower() or default_username(person.employee_no)
    raise_if({"username": errors} if (errors := username_errors(session, username)) else {})
    user = User(username=username, password_hash=UNUSABLE_PASSWORD, person=person,
                must_change_password=True, active=person.active)
    session.add(user)
    session.flush()
    audit.record(session, "user.created", actor_user_id=actor.acting_user_id, object_type="user", object_id=user.id,
                 data={"username": username, "person_id": person.id}, branch_id=person.branch_id)
    return user


def _is_administrator(user: User) -> bool:
    return any(a.role == Role.ADMINISTRATOR.value and a.branch_id is None for a in user.roles)


def set_account_active(session: Session, actor: Principal, user_id: int, active: bool) -> User:
    """(De)activate an account; deactivation signs it out everywhere. Nobody locks out the last administrator."""
    require_admin(actor)
    user = get(session, User, user_id)
    if not active:
        if user.id == actor.acting_user_id:
            raise Conflict(N_("You cannot deactivate your own account."))
        if _is_administrator(user) and not active_administrators(session, user.id):
            raise Conflict(N_("This is the last active administrator."))
    if user.active and not active:
        user.session_epoch += 1
    flip(session, actor, user, "user", active)
    return user


def reset_password(session: Session, actor: Principal, user_id: int) -> str:
    """Give an account a new random password, shown once; it must be changed at next sign-in."""
    require_admin(actor)
    user = get(session, User, user_id)
    password = generate_password()
    set_password(session, actor, user, password, must_change=True)
    return password


def require_password_change(session: Session, actor: Principal, user_id: int) -> User:
    """Make the user choose a new password at their next sign-in."""
    require_admin(actor)
    user = get(session, User, user_id)
    if not user.must_change_password:
        user.must_change_password = True
        audit.record(session, "user.must_change_password", actor_user_id=actor.acting_user_id, object_type="user",
                     object_id=user.id)
    return user


def accounts_without_password(session: Session, user_ids: Iterable[int] | None = None) -> list[int]:
    """Active accounts that have no usable password yet (all of them, or those among `user_ids`)."""
    query = select(User.id).where(User.active.is_(True), User.password_hash == UNUSABLE_PASSWORD).order_by(User.id)
    if user_ids is None:
        return list(session.scalars(query))
    wanted = sorted(set(user_ids))
    return [i for chunk in chunks(wanted, 500) for i in session.scalars(query.where(User.id.in_(chunk)))]


def issue_initial_passwords(session: Session, actor: Principal, user_ids: Iterable[int], *,
                            limit: int = ISSUE_BATCH) -> list[tuple[User, str]]:
    """Initial passwords for active accounts that have none yet (e.g. just imported), `limit` at a time.

    Accounts that already have a password are left alone: a reset is a separate, deliberate act.
    The plain passwords are returned to be handed over once and are never stored.
    """
    require_admin(actor)
    ids = accounts_without_password(session, user_ids)[:limit]
    users = [u for chunk in chunks(ids, 500) for u in session.scalars(
        select(User).where(User.id.in_(chunk)).order_by(User.id))]
    issued = []
    for user in users:
        password = generate_password()
        user.password_hash = generate_password_hash(password, method=_ISSUED_HASH_METHOD)
        user.must_change_password = True
        user.session_epoch += 1
        issued.append((user, password))
        audit.record(session, "user.initial_password_issued", actor_user_id=actor.acting_user_id, object_type="user",
                     object_id=user.id)
    return issued
