"""SQLAlchemy models and the pure domain rules (scoring, permissions). No web, no engine.

Importing this package registers every table on `Base.metadata` (Alembic reads it from here).
"""

from models import api, audit, catalogue, evaluation, org, people, process  # noqa: F401
from models.db import Base, never_reuse_ids

never_reuse_ids(Base.metadata)

# Note: the Flask-SQLAlchemy handle is `models.db.db`; it is not re-exported here, so that
# `models.db` keeps naming the module (migrations refer to models.db.UTCDateTime).
__all__ = ["Base"]
