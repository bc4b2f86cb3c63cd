"""Bearer tokens of the JSON API: issued for a username and password (with the same throttling of
failed sign-ins as the sign-in page), verified on every API request, listed and revoked by their
owner. A token is `pf_` + 43 random URL-safe characters; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload

from models import audit
from models.api import ApiToken
from models.clock import now
from models.db import listen
from models.people import Person, RoleAssignment, User
from models.permissions import Principal
from workflows.errors import DomainError, NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.org import accounts

PREFIX = "pf_"
MAX_NAME = 100
# last_used_at is written at most this often per token: reading the inbox should not be a write each time.
TOUCH_EVERY = timedelta(minutes=5)


class PasswordChangeRequired(DomainError):
    """Choose a new password on the sign-in page before using the API."""

    http_status = 403
    code = "password_change_required"


@dataclass
class Issued:
    token: str  # shown once; never stored
    record: ApiToken


class TokenRefused(DomainError):
    """The token is missing, unknown, expired or revoked."""

    http_status = 401
    code = "unauthorized"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(session: Session, username: str, password: str, *, hours: int, name: str = "", remote_addr: str = "",
          max_failures: int = 5, window_minutes: int = 15) -> Issued:
    """Check the password (throttled like the sign-in page) and issue a new token for `hours`."""
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        raise ValidationFailed(field_errors={"name": [N_("At most 100 characters.")]})
    user = accounts.authenticate(session, username, password, remote_addr=remote_addr,
                                 max_failures=max_failures, window_minutes=window_minutes)
    if user.must_change_password:
        raise PasswordChangeRequired(N_("Choose a new password on the sign-in page before using the API."))
    token = PREFIX + secrets.token_urlsafe(32)
    moment = now()
    record = ApiToken(user_id=user.id, token_hash=digest(token), name=name or "API",
                      session_epoch=user.session_epoch, created_at=moment, expires_at=moment + timedelta(hours=hours))
    session.add(record)
    session.flush()
    audit.record(session, "api_token.issued", actor_user_id=user.id, object_type="api_token", object_id=record.id,
                 data={"name": record.name, "expires_at": record.expires_at.isoformat(), "addr": remote_addr})
    return Issued(token, record)


# One statement per API request: the token, its user, what of their person makes them a member of
# a branch, and their role assignments, one row per assignment. Built once, bound per request.
_RA = RoleAssignment.__table__
_P = Person.__table__
_TOKEN_ROWS = (
    select(ApiToken, User, _P.c.active, _P.c.status, _P.c.branch_id, _RA.c.role, _RA.c.branch_id)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(_P, _P.c.id == User.person_id)
    .outerjoin(_RA, _RA.c.user_id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash")).options(lazyload(User.roles), lazyload(User.person))
)
_TOUCH = update(ApiToken.__table__).where(ApiToken.__table__.c.id == bindparam("pk")).values(
    last_used_at=bindparam("moment"))


@dataclass
class Bearer:
    user: User
    record: ApiToken
    principal: Principal


def verify(session: Session, token: str) -> Bearer:
    """The user a presented token stands for, with their roles; TokenRefused when it does not (any more)."""
    unknown = N_("The token is missing, unknown, expired or revoked.")
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        raise TokenRefused(unknown)
    rows = session.execute(_TOKEN_ROWS, {"token_hash": digest(token)}).all()
    moment = now()
    if not rows:
        raise TokenRefused(unknown)
    record, user = rows[0][0], rows[0][1]
    if record.revoked_at is not None:
        raise TokenRefused(N_("This token has been revoked."))
    if record.expires_at <= moment:
        raise TokenRefused(N_("This token has expired: request a new one."))
    if not user.active or user.session_epoch != record.session_epoch:
        raise TokenRefused(N_("This token is no longer valid: request a new one."))
    if record.last_used_at is None or moment - record.last_used_at >= TOUCH_EVERY:
        # Written in the request's transaction: a write commits it with its own work (one commit per
        # request); the API commits it at the end of a request that wrote nothing (`touch_pending`).
        session.connection().execute(_TOUCH, {"pk": record.id, "moment": moment})
        record.__dict__["last_used_at"] = moment
        session.info["pf_token_touched"] = True
    _, _, active, status, branch_id = rows[0][:5]
    member_branch = branch_id if Person.is_evaluated(active, status, branch_id) else None
    assignments = [(r[5], r[6]) for r in rows if r[5] is not None]
    return Bearer(user, record, Principal.build(user.id, user.person_id, member_branch, assignments))


def touch_pending(session: Session) -> bool:
    """Whether a token's last use is written in the open transaction but not committed yet."""
    return bool(session.info.get("pf_token_touched"))


def _touch_done(session: Session) -> None:
    session.info.pop("pf_token_touched", None)


def install() -> None:
    """Forget the pending last use once the transaction ends (idempotent; `workflows.setup`)."""
    listen(Session, {"after_commit": _touch_done, "after_rollback": _touch_done})


def tokens_of(session: Session, user_id: int, *, include_ended: bool = True) -> list[ApiToken]:
    """A user's tokens, newest first (revoked and expired ones too unless told otherwise)."""
    query = select(ApiToken).where(ApiToken.user_id == user_id)
    if not include_ended:
        query = query.where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now())
    return list(session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def state_of(record: ApiToken, user: User | None = None, at: datetime | None = None) -> str:
    """active | expired | revoked (a token of an older session epoch counts as revoked)."""
    if record.revoked_at is not None or (user is not None and user.session_epoch != record.session_epoch):
        return "revoked"
    if record.expires_at <= (at or now()):
        return "expired"
    return "active"


def revoke(session: Session, actor: Principal, token_id: int) -> ApiToken:
    """The owner revokes one of their tokens (revoking twice changes nothing)."""
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != actor.user_id:
        raise NotFound()  # another user's token does not exist, as far as this user is concerned
    if record.revoked_at is None:
        record.revoked_at = now()
        audit.record(session, "api_token.revoked", actor_user_id=actor.user_id, object_type="api_token",
                     object_id=record.id, data={"name": record.name})
    return record


def revoke_all(session: Session, actor: Principal) -> int:
    """Revoke every active token of the actor; returns how many."""
    moment = now()
    result = session.execute(update(ApiToken).where(ApiToken.user_id == actor.user_id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=moment))
    count = int(result.rowcount or 0)
    if count:
        audit.record(session, "api_token.revoked_all", actor_user_id=actor.user_id, object_type="user",
                     object_id=actor.user_id, data={"count": count})
    return count
