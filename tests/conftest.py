"""Fixtures like flaskr's: `app`, `client`, `runner`, a frozen `clock`, a small organisation and
a `login` helper. Every test that takes `app` runs on SQLite, and on PostgreSQL too when
TEST_DATABASE_URL is set (the fixture is parametrised over the backends).

Databases are built by the real Alembic migrations once per worker: SQLite from a migrated
template file copied per test, PostgreSQL in a schema of its own per worker, truncated per test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

_INSTANCE = tempfile.mkdtemp(prefix="pointsflow-test-instance-")
os.environ["POINTSFLOW_INSTANCE"] = _INSTANCE
os.environ["SCHEDULER"] = "0"
os.environ.setdefault("SECRET_KEY", "test-secret-key")

from sqlalchemy import create_engine, text  # noqa: E402

from models import clock as clock_module  # noqa: E402
from tests import factories  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tests start on the first working day of the fourth quarter of 2026, 09:00 in the bureau.
T0 = datetime(2026, 10, 9, 9, 0, tzinfo=SHANGHAI)


def _base_config(uri: str, engine_options: dict | None = None, **extra: object) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": uri,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options or {},
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "test-secret-key",
        "SCHEDULER": False,
        "AUTO_DEPLOY_BPMN": False,
        "SERVER_NAME": None,
    }
    config.update(extra)
    return config


def _migrate(config: dict) -> None:
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(config)
    with app.app_context():
        upgrade()
        from webapp.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(_base_config(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_database(worker_id: str):
    """A schema of this test process's own in the PostgreSQL test database, migrated once and
    dropped at the end (several test runs may share the server at once)."""
    assert PG_URL, "TEST_DATABASE_URL is not set"
    schema = f"pf_test_{worker_id}_{os.getpid()}".replace("-", "_")
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    options = {"connect_args": {"options": f"-csearch_path={schema}"}, "pool_pre_ping": True}
    _migrate(_base_config(PG_URL, options))
    engine = create_engine(PG_URL, **options)
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
        ), {"s": schema})]
    engine.dispose()
    yield schema, options, tables
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def clock():
    """A frozen clock at T0; move it with clock.advance(days=...)."""
    frozen = clock_module.FrozenClock(T0)
    previous = clock_module.set_clock(frozen)
    yield frozen
    clock_module.set_clock(previous)


def _make_app(backend: str, request: pytest.FixtureRequest, tmp_path: Path, **extra: object):
    from webapp import create_app

    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        config = _base_config(f"sqlite:///{path}", UPLOAD_DIR=str(tmp_path / "uploads"), **extra)
    else:
        schema, options, tables = request.getfixturevalue("pg_database")
        engine = create_engine(PG_URL, **options)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE TABLE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        engine.dispose()
        config = _base_config(PG_URL, options, UPLOAD_DIR=str(tmp_path / "uploads"), **extra)
    return create_app(config)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock):
    app = _make_app(backend, request, tmp_path)
    with app.app_context():
        yield app
        from webapp.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db_session(app):
    from webapp.extensions import db

    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def org(app, db_session):
    """A small bureau: 2 units (one per kind), 3 branches, role holders and members."""
    result = factories.make_org(db_session)
    db_session.commit()
    return result


@pytest.fixture
def demo_org(app, db_session):
    """The demo bureau of `flask demo load` (organisation and people only)."""
    from demo import bureau as demo

    demo.load(db_session)
    db_session.commit()
    return db_session


@pytest.fixture
def login(client):
    """login("username") signs the test client in; returns the response."""

    def do_login(username: str, password: str = factories.TEST_PASSWORD, follow: bool = False):
        client.post("/logout")
        return client.post("/login", data={"username": username, "password": password}, follow_redirects=follow)

    return do_login
