# Everyday commands for Kabinet. `make help` lists them.
#
# `make test` works on a fresh Debian 12 machine as root: it installs the system
# packages (scripts/setup-system.sh), builds .venv, starts the database servers
# (scripts/services.sh) and then runs pytest. Each step is quick when nothing
# changed, so it is also the everyday command.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp
# The one lock file: every dependency (runtime, MIS drivers, dev tools) pinned with hashes.
LOCK := requirements.lock

# Passed to pytest as is: make test PYTEST_ARGS='-k ledger -x'
PYTEST_ARGS ?=
# The main run goes over this many pytest-xdist workers, a test file to each (--dist
# loadfile keeps a file's module fixtures in one process). Most of the suite's time is
# waiting on emulators, servers, browsers and subprocesses, not CPU: on the 2-core build
# machine 4 workers ran the 1,780 tests in 12 minutes, one process in about 60, which with
# the clock runs went past CI's 90 minutes. Each test makes its own databases, ports and
# directories, so the workers share nothing. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 4
# After the normal run, the time-sensitive tests (marker `clock`) run again with the clock
# started at each of these instants (time-machine, KABINET_TEST_INSTANT; see
# tests/conftest.py), the last of them with the machine in another zone too, so the suite
# passes whatever date, hour and zone CI has: 00:10 in Moscow, the test clinic's zone (an
# hour ago was yesterday there, and still today in UTC: a visit "today" is not, which a
# CI run at 21:08 UTC found), 23:30 UTC (already tomorrow in Moscow), the last minute of
# a year in Moscow, and the minute before Europe/Berlin skips an hour into summer time. The runs go side by side (each test makes
# its own databases, ports and directories; most of their time is waiting on emulators and
# servers, not CPU), which keeps `make test` inside CI's 90 minutes; each run's output is
# in var/clock-runs/. `make test CLOCK_RUNS=no` skips them.
CLOCK_INSTANTS := 2026-12-01T21:10:00+00:00 2026-12-01T23:30:00+00:00 2026-12-31T23:59:00+03:00 2027-03-28T00:59:00+00:00
CLOCK_TZ := America/Los_Angeles
CLOCK_RUNS ?= yes
# Then the store's own tests (migrations, ledger, outbox, the runner lock) once more with
# PostgreSQL as the store (KABINET_TEST_STORE=postgresql: a fresh database per test, see
# tests/conftest.py); the rest of the suite runs on SQLite only, to keep CI short. Measured:
# 21 tests, about 1 minute on 2 busy cores (the databases' creation is most of it).
# `make test PG_RUNS=no` skips it.
PG_TESTS := tests/core/test_migrate.py tests/core/test_migrate_loyalty.py \
	tests/core/test_ledger.py tests/core/test_outbox.py tests/jobs/test_lock.py
PG_RUNS ?= yes
# Facts about the test services, written by scripts/services.sh.
TEST_ENV := var/test-services.env

# KABINET_PORT (and KABINET_CONFIG, KABINET_DATA_DIR, ...) reach `kabinet` from the
# environment or the make command line (make demo KABINET_PORT=9000). No default is
# set here: KABINET_PORT overrides web.port of the config, and `run` must keep the config's.

SHELL_SCRIPTS := $(wildcard scripts/*.sh installer/*.sh) .ci/run
# Every product package is type-checked (tests/infra/test_tooling.py holds the list to it).
TYPED_PACKAGES := core connectors app jobs bot_handlers

.NOTPARALLEL:
.PHONY: help venv lock release system services test test-clock test-pg demo run lint format bench clean distclean

help: ## list the targets
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) \
		| awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv (python3.11): every dependency from $(LOCK), then the project

# Rebuilt only when the package metadata or the lock changes, so `make test` stays quick.
# The dependencies come from the lock with their hashes, exactly as a release bundle
# carries them, so the suite tests what ships; the project itself goes in with --no-deps.
# The sed drops pip's per-package warning about this machine image's absent local indexes.
$(STAMP): setup.cfg pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK) 2>&1 \
		| sed "/^WARNING: Location 'file:.*' is ignored: it is neither a file nor a directory/d"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 \
		| sed "/^WARNING: Location 'file:.*' is ignored: it is neither a file nor a directory/d"
	touch $@

# After a change to the requirements in setup.cfg (tests/infra/test_lock.py notices).
# pip-tools lives in a venv of its own so it never enters the lock; the machine's pip
# configuration is ignored so the hashes are PyPI's. Add UPGRADE=--upgrade to move the
# pins forward; without it the versions already locked are kept where they still fit.
lock: ## regenerate $(LOCK) (pinned, hashed) from setup.cfg's requirements and extras
	test -x var/lock-venv/bin/pip-compile || { $(PYTHON) -m venv var/lock-venv \
		&& var/lock-venv/bin/pip install --quiet 'pip-tools>=7.4'; }
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null var/lock-venv/bin/pip-compile --quiet \
		--generate-hashes --allow-unsafe --all-extras --strip-extras --no-emit-index-url \
		$(UPGRADE) --output-file=$(LOCK) setup.cfg

# The vendor's Ed25519 private key (PEM). Never in the repository: kept by whoever signs
# releases; core/release/keys.py holds the public half every appliance trusts.
KABINET_SIGNING_KEY ?= $(HOME)/.config/kabinet/release-signing.key

# One bundle for the venv's Python, from the lock; var/wheelhouse caches the wheels.
release: venv ## dist/kabinet-<version>-cp311-<platform>.tar, signed with $KABINET_SIGNING_KEY
	$(BIN)/python scripts/make_release.py --key "$(KABINET_SIGNING_KEY)" --out dist \
		--wheelhouse var/wheelhouse

system: ## install missing Debian packages (Firebird, Chromium, ODBC, shellcheck)
	scripts/setup-system.sh

services: ## start Firebird/PostgreSQL/MariaDB for the tests, write var/test-services.env
	scripts/services.sh

test: system venv services ## everything the suite needs, pytest $(PYTEST_ARGS), then the clock and PostgreSQL runs
	set -a; . ./$(TEST_ENV); set +a; $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	@if [ "$(CLOCK_RUNS)" = yes ]; then $(MAKE) --no-print-directory test-clock; fi
	@if [ "$(PG_RUNS)" = yes ]; then $(MAKE) --no-print-directory test-pg; fi

test-clock: venv ## the time-sensitive tests again at $(CLOCK_INSTANTS), the last one with TZ=$(CLOCK_TZ)
	set -a; . ./$(TEST_ENV); set +a; mkdir -p var/clock-runs; rm -f var/clock-runs/*.log; \
	set -- $(CLOCK_INSTANTS); last=$$#; n=0; pids=(); \
	for instant in "$$@"; do \
		n=$$((n + 1)); zone=$${TZ:-}; [ "$$n" = "$$last" ] && zone=$(CLOCK_TZ); \
		echo "== time-sensitive tests with the clock at $$instant$${zone:+, TZ=$$zone} (var/clock-runs/$$n.log)"; \
		env KABINET_TEST_INSTANT=$$instant $${zone:+TZ=$$zone} $(BIN)/pytest -m clock -q -p no:cacheprovider \
			$(PYTEST_ARGS) > var/clock-runs/$$n.log 2>&1 & pids+=($$!); \
	done; \
	status=0; n=0; for pid in "$${pids[@]}"; do \
		n=$$((n + 1)); code=0; wait "$$pid" || code=$$?; [ "$$code" = 0 ] || status=1; \
		echo "== run $$n (clock at $${!n}): exit $$code"; cat var/clock-runs/$$n.log; \
	done; \
	exit $$status

test-pg: venv ## the store, ledger, outbox, lock and migration tests again on PostgreSQL
	set -a; . ./$(TEST_ENV); set +a; \
	KABINET_TEST_STORE=postgresql $(BIN)/pytest -q -p no:cacheprovider $(PG_TESTS)

demo: venv ## run the demo clinic (sandbox MIS + the Telegram and MAX emulators) on $KABINET_PORT (8080)
	$(BIN)/kabinet demo

run: venv ## run the appliance with $KABINET_CONFIG (or the CLI's default)
	$(BIN)/kabinet $(if $(KABINET_CONFIG),--config $(KABINET_CONFIG)) run

# Every linter runs even if an earlier one complains, so one run shows everything.
lint: system venv ## ruff, ruff format --check, mypy, hadolint, shellcheck
	@status=0; \
	for step in "$(BIN)/ruff check ." "$(BIN)/ruff format --check ." "$(BIN)/mypy $(TYPED_PACKAGES)" \
		"$(BIN)/hadolint Dockerfile" "shellcheck -x $(SHELL_SCRIPTS)"; do \
		echo "== $$step"; $$step || status=1; \
	done; \
	exit $$status

format: venv ## ruff format + ruff check --fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv ## run every bench/*.py
	@shopt -s nullglob; files=(bench/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks in bench/"; exit 0; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(BIN)/python "$$f"; done

clean: ## remove caches and build output (keeps .venv and var/)
	rm -rf build dist .pytest_cache .ruff_cache .mypy_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and var/
	rm -rf $(VENV) var
