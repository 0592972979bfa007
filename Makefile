# The two commands of the README: `make run` and `make test`. Each installs what is
# missing first: the virtualenv, redis-server (Debian package) and, unless MONGO_URI is
# given or a mongod is on PATH, FerretDB built with the Go toolchain.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FERRETDB := .tools/bin/ferretdb
UI_CHARTS := service/ui/static/vendor/chart.umd.min.js

.PHONY: run worker test lint soak bench bench-store bench-batches bench-loop bench-retention deps venv ui-assets redis-server docker-compose chromium ferretdb mongo-server train clean

run: deps
	$(PY) -m devstack run

# prediction workers only (WORKERS, default 1), on any host, against MONGO_URI and
# REDIS_URL (the banner of `make run` with LISTEN_HOST prints them): the virtualenv only
worker: venv
	$(PY) -m devstack worker

# the tests marked `alone` (they time what the stack does or count what it sends) one
# after the other, then the rest on two pytest-xdist workers, each module whole on one;
# both parts run, and either failing fails the target. PYTEST_ARGS="tests/unit -x": those
# tests only, in this process
test: lint venv ui-assets redis-server mongo-server docker-compose chromium
ifdef PYTEST_ARGS
	$(PY) -m pytest $(PYTEST_ARGS)
else
	$(PY) -m pytest -m alone; alone=$$?; \
	$(PY) -m pytest -m "not alone" -n 2 --dist loadfile; rest=$$?; \
	test $$alone -eq 0 && test $$rest -eq 0
endif

# service/ and jobs/ meet only in core/ (the contracts in pyproject.toml); ruff's checks;
# mypy's over service/ jobs/ core/ cli/ ([tool.mypy] in pyproject.toml)
lint: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

deps: venv ui-assets $(if $(REDIS_URL),,redis-server) $(if $(MONGO_URI),,mongo-server)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

# the chart library of the /ui/ pages, from the npm registry, checked against its sha512
ui-assets: $(UI_CHARTS)

$(UI_CHARTS): tools/ui_assets.py
	$(PYTHON) tools/ui_assets.py
	touch $@

redis-server:
	@command -v redis-server >/dev/null || { \
	  echo "installing redis-server (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@# Debian's package starts a system-wide redis on :6379; the project runs its own.
	@command -v systemctl >/dev/null && systemctl disable --now redis-server >/dev/null 2>&1 || true

docker-compose:
	@# only for `docker-compose config` in the tests: no Docker engine runs here
	@command -v docker-compose >/dev/null || { \
	  echo "installing docker-compose (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

chromium:
	@# headless Chromium and its driver, for the docs-page browser test
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing chromium and chromium-driver (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

mongo-server:
	@command -v mongod >/dev/null || $(MAKE) --no-print-directory ferretdb

ferretdb: $(FERRETDB)

$(FERRETDB): tools/ferretdb/build.sh $(wildcard tools/ferretdb/patches/*.patch) tools/ferretdb/modernc-libc-v1.55.3.patch \
		tools/ferretdb/modernc-sqlite-v1.32.0.patch
	@command -v go >/dev/null || { echo "Go is needed to build FerretDB (or set MONGO_URI)"; exit 1; }
	tools/ferretdb/build.sh $@

soak: deps
	$(PY) -m bench.soak --seconds $(or $(SOAK_SECONDS),300)

# the service against its baselines (bench/__main__.py); BENCH_ARGS="--rows 2000" for a
# quick run, "--profile" to py-spy the API and workers during the largest bulk run;
# then one request per row, the result cache and the shadow, each beside what it is held
# against, in turns (bench/answers.py; BENCH_ANSWERS_ARGS="--rounds 1" for less);
# then bulk rows/s with the workers on a second host (two network namespaces; root)
bench: deps
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.answers $(BENCH_ANSWERS_ARGS)
	$(PY) -m bench.scaleout $(BENCH_SCALEOUT_ARGS)

# one client's reads as the store fills (bench/store.py); BENCH_STORE_ARGS="--levels 0,10000"
bench-store: deps
	$(PY) -m bench.store $(BENCH_STORE_ARGS)

# retraining on 10,000 labelled rows beside single rows (bench/loop.py)
bench-loop: deps
	$(PY) -m bench.loop $(BENCH_LOOP_ARGS)

# RETENTION_DAYS: 1,000,000 expired rows deleted while single rows arrive
# (bench/retention.py); BENCH_RETENTION_ARGS="--backlog 200000" for less
bench-retention: deps
	$(PY) -m bench.retention $(BENCH_RETENTION_ARGS)

# files of rows: the CLI's 100k-row round trip, a 1M-row file refused (bench/batches.py)
bench-batches: deps
	$(PY) -m bench.batches $(BENCH_BATCHES_ARGS)

train: venv
	$(PY) -m service train

clean:
	rm -rf $(VENV) .tools .pytest_cache
