"""Browser tests: the app served on a real port, driven by Debian's Chromium through Playwright.

Skipped with a clear message where /usr/bin/chromium is not installed (`.ci/run` installs it).
Screenshots of every page go to test-artifacts/browser/ (the CI keeps them as artefacts).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture
def live_server(app):
    """The test app served in a thread on a free port (SQLite/PostgreSQL as the `app` fixture)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def shots(request):
    """shots("name", page): a full-page screenshot under test-artifacts/browser/<test>/."""
    folder = ARTIFACTS / request.node.name.replace("[", "-").replace("]", "")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    counter = [0]

    def shoot(name: str, page) -> Path:
        counter[0] += 1
        path = folder / f"{counter[0]:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot
