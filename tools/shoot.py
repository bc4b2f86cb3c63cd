"""Screenshots of pages as a given user, in Debian's Chromium (for looking at every page we build).

    .venv/bin/python tools/shoot.py --user office /catalogue/=/tmp/catalogue.png /inbox/=/tmp/inbox.png

Without --db it builds a fresh SQLite database (migrations + `demo load`) in a temp folder; with
--db DATABASE_URL it serves that database. --width 390 gives a phone screen. --setup module:function
runs a function(session) after the demo is loaded (to create the state a page needs).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shots", nargs="+", help="PATH=OUT.png")
    parser.add_argument("--user", default="office")
    parser.add_argument("--password", default="pointsflow")
    parser.add_argument("--db")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--lang", default="zh")
    parser.add_argument("--setup", help="module:function(session) to run after the demo load")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="pointsflow-shoot-")
    os.environ["POINTSFLOW_INSTANCE"] = tmp
    os.environ["DATABASE_URL"] = args.db or f"sqlite:///{tmp}/shoot.db"
    os.environ["SCHEDULER"] = "0"

    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"WTF_CSRF_ENABLED": True})
    with app.app_context():
        if not args.db:
            upgrade()
            from demo import bureau as demo

            try:
                from workflows.engine import deploy

                deploy.deploy_shipped(db.session, app.config["BPMN_DIR"], actor_user_id=None)
            except Exception as e:  # noqa: BLE001 - a screenshot tool: say it and go on
                print("shoot: BPMN deploy failed:", e)
            demo.load_all(db.session)
            db.session.commit()
        if args.setup:
            module, function = args.setup.split(":")
            getattr(importlib.import_module(module), function)(db.session)
            db.session.commit()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        page.goto(base + "/login")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", args.password)
        page.click("input[type=submit]")
        if args.lang == "en":
            page.click("button:has-text('English')")
            page.wait_for_load_state("networkidle")
        for shot in args.shots:
            path, out = shot.rsplit("=", 1)
            response = page.goto(base + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=out, full_page=True)
            print(f"shoot: {path} -> {out} ({response.status if response else '?'})")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
