#!/usr/bin/env bash
# Regenerates migrations/versions/0001_initial_schema.py from the models. Only for the schema
# before its first release (no database anywhere holds 0001 yet); afterwards every change gets a
# migration of its own with `flask --app webapp db migrate -m "..."`.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
mv migrations/versions/0*.py "$tmp"/
trap 'mv "$tmp"/0002_*.py migrations/versions/ 2>/dev/null || true; for f in "$tmp"/0*.py; do [ -e "$f" ] && [ ! -e migrations/versions/0001_initial_schema.py ] && mv "$f" migrations/versions/; done; rm -rf "$tmp"' EXIT
DATABASE_URL="sqlite:///$tmp/empty.db" AUTO_DEPLOY_BPMN=0 .venv/bin/flask --app webapp db migrate -m "initial schema" >/dev/null 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
new=$(ls migrations/versions/*_initial_schema.py)
rid=$(basename "$new"); rid=${rid%%_*}
sed -i "s/^revision = '$rid'/revision = '0001'/; s/Revision ID: $rid/Revision ID: 0001/; s/^Create Date: .*/Create Date: (regenerated)/" "$new"
mv "$new" migrations/versions/0001_initial_schema.py
rm -f "$tmp"/0001_initial_schema.py
echo "regenerated migrations/versions/0001_initial_schema.py"
