"""Human tasks completed per second over HTTP: 2 gunicorn workers on PostgreSQL, driven by client
threads through the JSON API (one-click self-evaluations, each by its own member's token)."""

from __future__ import annotations

import os
import socket


def pg_url() -> str | None:
    url = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def measure(members: int) -> tuple[float | None, float | None]:
    """(tasks per second, peak RSS MB of a worker), or (None, None) when it cannot run here."""
    url = pg_url()
    if url is None:
        print("[bench] no PostgreSQL: http_tasks_per_s not measured")
        return None, None
    try:
        from bench import http_load
    except ImportError:
        return None, None
    return http_load.run(url, members)


def details() -> dict[str, object]:
    """The HTTP run's set-up and CPU split, when it ran."""
    try:
        from bench import http_load
    except ImportError:
        return {}
    return dict(http_load.DETAILS)
