"""Where a page may send the browser next: same-site paths only, checked in one place.

A `next=` value, a stored notification link or a button's "back" is followed only when it is a
path of this site. The check refuses what browsers would turn into another site: `//host`, a
backslash (`/\\host`, which browsers read as `//host`), control characters such as a tab or a
newline (which browsers strip, so `/\t/host` becomes `//host`), and anything with a scheme or a
host (warehouse's `is_safe_url` refuses the same).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import request

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_safe_path(target: str | None) -> bool:
    """Whether `target` is a path of this site that no browser reads as another site."""
    if not target or _CONTROL.search(target) or "\\" in target:
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_link(link: str | None) -> str | None:
    """`link` when it is safe to follow, else None."""
    return link if is_safe_path(link) else None


def safe_next(default: str) -> str:
    """The request's `next` (form first, then query) when it is a safe path, else `default`."""
    target = request.form.get("next") or request.args.get("next")
    return target if target is not None and is_safe_path(target) else default
