# Execution API: local development without Docker. `make run` and `make test` install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
MINISTACK_VENV := .venv-ministack
FUZZ_VENV := .venv-fuzz
PORT ?= 3000
MOTO_PORT ?= 5005
BACKEND ?= moto

.PHONY: lock help install run invoke sam-env sam-invoke sam-api test pytest unit test-ministack lint typecheck template-lint openapi docs api-key revoke-api-key build deploy fuzz load bench clean

help:
	@echo "make run                      the API on http://localhost:$(PORT) against an embedded moto (MOTO_PORT=$(MOTO_PORT))"
	@echo "make run BACKEND=ministack    the same API against ministack instead of moto, on MOTO_PORT"
	@echo "make test                     ruff, mypy, cfn-lint and every test (make pytest)"
	@echo "make pytest                   every test, without the checks before it"
	@echo "make unit                     the unit tests only (tests/unit: no network, no backend)"
	@echo "make test-ministack           the integration, HTTP and event tests against ministack"
	@echo "make invoke EVENT=events/x.json [FUNCTION=LogicalId]   one event through the real handler"
	@echo "make sam-invoke EVENT=events/x.json [FUNCTION=LogicalId]   the same with Docker: sam local invoke against make run's backend"
	@echo "make sam-api [SAM_PORT=3001]  sam local start-api (Docker) against make run's backend; make sam-env rewrites local/sam-env.json"
	@echo "make openapi                  regenerate docs/openapi.json from the code's models"
	@echo "make docs                     regenerate docs/configuration.md from template.yaml and this Makefile"
	@echo "make api-key TENANT=acme [TIER=premium]  an API key (printed once), deployed: linked to the tier's usage plan; revoke-api-key KEY=...; ENV=prod"
	@echo "make lock                     re-lock the layer's dependencies (hashes, cp313/aarch64) after editing its requirements.txt"
	@echo "make build | deploy [ENV=prod] sam build / sam deploy (SAM CLI in its own venv)"
	@echo "make fuzz [FUZZ_EXAMPLES=100] schemathesis against make run from docs/openapi.json (own venv)"
	@echo "make load [CLIENTS=16 REQUESTS=200 PLANS=one-job] [BACKEND=ministack]  concurrent clients against make run: req/s, latency, threads and memory, then a lost/extra check"
	@echo "make bench                    benchmarks (round trips, warm latency, validation, cold start) into docs/benchmarks.md,"
	@echo "                              the engine's (dispatch latency, chain, fan-out/in, cost) into docs/engine-benchmarks.md"

# The application's environment; reinstalled when a requirements file changes.
$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt layers/shared/constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed $(if $(filter ministack,$(BACKEND)),$(MINISTACK_VENV)/.installed)
	BACKEND=$(BACKEND) PORT=$(PORT) MOTO_PORT=$(MOTO_PORT) $(PY) -m local.server  # LOCAL_API_KEY=... turns authentication on

invoke: $(VENV)/.installed
	@test -n "$(EVENT)" || { echo "usage: make invoke EVENT=events/<file>.json [FUNCTION=<logical id>]"; exit 2; }
	@$(PY) -m local.invoke $(EVENT) $(if $(FUNCTION),--function $(FUNCTION))

# ---- sam local ----
# sam local invoke / start-api (Docker, the Lambda image) against a running make run's backend; without
# Docker they say so and point to make invoke / make run. Docker and the backend are checked before the
# SAM CLI is installed. docs/local-development.md says what runs where.
SAM_PORT ?= 3001
# SAM=sam uses a SAM CLI of your own; the default one is installed into .venv-sam on first use.
SAM_INSTALL = $(if $(filter $(SAM_VENV)/bin/sam,$(SAM)),$(MAKE) --no-print-directory $(SAM_VENV)/.installed,true)

sam-env: $(VENV)/.installed
	$(PY) -m local.sam_env

sam-invoke: $(VENV)/.installed
	@test -n "$(EVENT)" || { echo "usage: make sam-invoke EVENT=events/<file>.json [FUNCTION=<logical id>]"; exit 2; }
	@MOTO_PORT=$(MOTO_PORT) $(PY) -m local.sam_local sam-invoke $(EVENT) $(if $(FUNCTION),--function $(FUNCTION)) --preflight
	@$(SAM_INSTALL)
	@MOTO_PORT=$(MOTO_PORT) $(PY) -m local.sam_local sam-invoke $(EVENT) $(if $(FUNCTION),--function $(FUNCTION)) --sam $(SAM)

sam-api: $(VENV)/.installed
	@MOTO_PORT=$(MOTO_PORT) $(PY) -m local.sam_local sam-api --preflight
	@$(SAM_INSTALL)
	@MOTO_PORT=$(MOTO_PORT) SAM_PORT=$(SAM_PORT) $(PY) -m local.sam_local sam-api --sam $(SAM)

test: lint typecheck template-lint pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

template-lint: $(VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml

# Every test: unit, integration (handlers against moto), HTTP (make run's server), template and docs;
# one worker per CPU (PYTEST_WORKERS=0: in this process), each test module on one worker.
PYTEST_WORKERS ?= auto
pytest: $(VENV)/.installed
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

# The same handlers, storage and HTTP tests against ministack (tests marked moto_only are deselected).
test-ministack: $(VENV)/.installed $(MINISTACK_VENV)/.installed
	TEST_BACKEND=ministack $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile tests/integration tests/http tests/test_events.py tests/engine

openapi: $(VENV)/.installed
	$(PY) -m local.openapi

docs: $(VENV)/.installed
	PYTHONPATH=layers/shared $(PY) -m tools.configuration_doc

# API keys: against AWS_ENDPOINT_URL (e.g. make run's http://127.0.0.1:5005) or the deployed stack.
api-key: $(VENV)/.installed
	@test -n "$(TENANT)" || { echo "usage: make api-key TENANT=<tenant> [TIER=standard|premium] [ENV=prod]"; exit 2; }
	@PYTHONPATH=layers/shared $(PY) -m tools.api_keys $(if $(ENV),--env $(ENV)) create --tenant "$(TENANT)" $(if $(TIER),--tier "$(TIER)")

revoke-api-key: $(VENV)/.installed
	@test -n "$(KEY)" || { echo "usage: make revoke-api-key KEY=<key> [ENV=prod]"; exit 2; }
	@PYTHONPATH=layers/shared $(PY) -m tools.api_keys $(if $(ENV),--env $(ENV)) revoke --key "$(KEY)"

# The layer's dependencies, transitive ones included, locked with hashes for Lambda (python3.13, arm64);
# layers/shared/Makefile installs exactly these, and the dev environment the same versions.
lock: $(VENV)/.installed
	$(VENV)/bin/uv pip compile layers/shared/requirements.txt --quiet --generate-hashes \
		--python-platform aarch64-manylinux_2_28 --python-version 3.13 --annotation-style line \
		--custom-compile-command "make lock" -o layers/shared/requirements-lock.txt
	{ echo "# The lock's versions without hashes, for the dev venv (hashes in a constraints file would demand hashes of"; \
	  echo "# every package of requirements-dev.txt). Written by make lock from requirements-lock.txt."; \
	  sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\) .*/\1/p' layers/shared/requirements-lock.txt; } > layers/shared/constraints.txt

# The SAM CLI pins boto3 and pydantic versions that clash with the application's: its own venv.
$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

# ministack pins an older botocore than the application's: its own venv, run as a subprocess.
$(MINISTACK_VENV)/.installed: requirements-ministack.txt
	$(PYTHON) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-ministack.txt
	touch $@

# schemathesis pins hypothesis, requests and jsonschema versions of its own: its own venv too.
$(FUZZ_VENV)/.installed: requirements-fuzz.txt
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-fuzz.txt
	touch $@

# Both start make run themselves, on free loopback ports, and stop it when done.
fuzz: $(VENV)/.installed $(FUZZ_VENV)/.installed $(if $(filter ministack,$(BACKEND)),$(MINISTACK_VENV)/.installed)
	BACKEND=$(BACKEND) $(PY) -m bench.fuzz

load: $(VENV)/.installed $(if $(filter ministack,$(BACKEND)),$(MINISTACK_VENV)/.installed)
	BACKEND=$(BACKEND) $(PY) -m bench.load

# The benchmarks (docs/benchmarks.md, docs/engine-benchmarks.md), in process against moto; reports, never fails on a time. The built artifacts' cold start
# needs make build's .aws-sam/build and python3.13 (with pyenv: PYENV_VERSION=3.11.7:3.13.0 make bench).
bench: $(VENV)/.installed
	$(PY) -m bench.benchmarks
	$(PY) -m bench.engine

build: $(SAM_VENV)/.installed
	@command -v python3.13 >/dev/null || { echo "sam build needs python3.13 on PATH (Lambda runtime); with pyenv: PYENV_VERSION=3.11.7:3.13.0 make build"; exit 1; }
	$(SAM) validate --lint
	$(SAM) build

deploy: build
	$(SAM) deploy $(if $(ENV),--config-env $(ENV))

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
