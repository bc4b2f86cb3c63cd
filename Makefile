# pointsflow — every entry point a newcomer needs. `make run` and `make test` build everything
# from a fresh clone: the virtualenv, the pinned packages, the translations and the database.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app webapp
STAMP  := $(VENV)/.installed-$(shell cksum requirements.lock | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test setup venv db demo serve-prod bench fuzz lint translations clean

run: setup ## serve the app on http://127.0.0.1:5000 with the demo data
	@$(FLASK) demo accounts
	@echo "pointsflow: http://$(HOST):$(PORT)/"
	SCHEDULER=1 $(FLASK) run --host $(HOST) --port $(PORT) --no-debugger --no-reload

test: venv translations ## the whole test suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

setup: venv translations db demo

venv: $(STAMP)

$(STAMP): requirements.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $@

translations: venv
	@$(BIN)/python -m webapp.i18n compile

db: venv
	$(FLASK) db upgrade
	$(FLASK) bpmn deploy

demo: venv
	$(FLASK) demo load --if-empty

serve-prod: setup ## the production way: gunicorn, 2 workers of 2 threads + the timer worker (set DATABASE_URL and SECRET_KEY)
	$(FLASK) workflows worker & worker=$$!; trap "kill $$worker" EXIT INT TERM; \
	$(BIN)/gunicorn --workers $${WORKERS:-2} --threads $${THREADS:-2} --bind $(HOST):$(PORT) --access-logfile - 'webapp:create_app()'

bench: venv translations ## performance figures (BENCH_MEMBERS=2000 for a quick run)
	$(BIN)/python -m bench.run

fuzz: venv translations ## a long schemathesis run over the OpenAPI document
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -m fuzz tests/test_api_fuzz.py -p no:xdist

lint: venv
	$(BIN)/ruff check models workflows webapp tests bench

clean:
	rm -rf $(VENV) instance/*.db instance/*.db-* .pytest_cache
