"""Which page does a human task: each area registers the endpoint for the forms it renders, and
the inbox (and notifications, monitor...) link a task to its page with `task_url(task)`."""

from __future__ import annotations

from typing import Any

from flask import url_for

_PAGES: dict[str, str] = {}


def register_task_page(form_key: str, endpoint: str) -> None:
    """`endpoint` takes a `task_id` argument and renders (GET) and completes (POST) the task."""
    _PAGES[form_key] = endpoint


def task_url(task: Any) -> str | None:
    endpoint = _PAGES.get(task.form_key)
    return url_for(endpoint, task_id=task.id) if endpoint else None


def registered() -> dict[str, str]:
    return dict(_PAGES)
