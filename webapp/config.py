"""Every setting of pointsflow, read from the environment once, in one place.

DATABASE_URL      SQLAlchemy URL; default: SQLite under instance/ (PostgreSQL in production:
                  postgresql+psycopg://user@host/db)
SECRET_KEY        default: generated once and kept in instance/secret_key
TIMEZONE          the bureau's time zone for display and deadlines (default Asia/Shanghai)
UPLOAD_MAX_MB     largest evidence file (default 10); REQUEST_MAX_MB caps a whole request (25)
UPLOAD_DIR        where evidence is stored, outside the web root (default instance/uploads)
SESSION_COOKIE_SECURE  "1" behind HTTPS
SCHEDULER         "1" runs timers and message delivery in-process (set by `make run`)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("POINTSFLOW_INSTANCE", ROOT / "instance"))


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def _secret_key(instance: Path) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        # O_EXCL so two workers starting at once agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        except FileExistsError:
            pass
    return path.read_text().strip()


def load(instance: Path = INSTANCE) -> dict[str, Any]:
    """The configuration as a dict, from the environment with safe defaults."""
    upload_mb = int(os.environ.get("UPLOAD_MAX_MB", "10"))
    request_mb = int(os.environ.get("REQUEST_MAX_MB", str(max(25, upload_mb + 5))))
    return {
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'pointsflow.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SECRET_KEY": _secret_key(instance),
        "TIMEZONE": os.environ.get("TIMEZONE", "Asia/Shanghai"),
        "BABEL_DEFAULT_LOCALE": "zh",
        "LANGUAGES": {"zh": "简体中文", "en": "English"},
        "UPLOAD_MAX_BYTES": upload_mb * 1024 * 1024,
        "MAX_CONTENT_LENGTH": request_mb * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 2 * 1024 * 1024,
        "UPLOAD_DIR": os.environ.get("UPLOAD_DIR", str(instance / "uploads")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE"),
        "SESSION_COOKIE_NAME": "pointsflow_session",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "REMEMBER_COOKIE_DURATION": 0,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_WINDOW_MINUTES": int(os.environ.get("LOGIN_WINDOW_MINUTES", "15")),
        "SCHEDULER": _flag("SCHEDULER"),
        "SCHEDULER_INTERVAL_SECONDS": int(os.environ.get("SCHEDULER_INTERVAL_SECONDS", "15")),
        "AUTO_DEPLOY_BPMN": _flag("AUTO_DEPLOY_BPMN", True),
        "BPMN_DIR": str(ROOT / "bpmn"),
        "API_TOKEN_HOURS": int(os.environ.get("API_TOKEN_HOURS", "720")),
    }
