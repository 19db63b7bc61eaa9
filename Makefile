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
BACKEND ?= ministack

.PHONY: lock help install run invoke sam-env sam-invoke sam-api test pytest unit test-ministack lint typecheck complexity template-lint openapi docs api-key revoke-api-key build deploy rehearse fuzz load bench bench-media clean

help:
	@echo "make run                      the API on http://localhost:$(PORT) against ministack on MOTO_PORT=$(MOTO_PORT) (own venv)"
	@echo "make run BACKEND=moto         the same API against an embedded moto (what make test runs on), on MOTO_PORT"
	@echo "make test                     ruff, mypy, radon (no function of grade D), cfn-lint and every test (make pytest)"
	@echo "make pytest                   every test, without the checks before it"
	@echo "make unit                     the unit tests only (tests/unit: no network, no backend)"
	@echo "make test-ministack           the integration, HTTP and event tests against ministack"
	@echo "make invoke EVENT=events/x.json [FUNCTION=LogicalId]   one event through the real handler"
	@echo "make sam-invoke EVENT=events/x.json [FUNCTION=LogicalId]   the same with Docker: sam local invoke against make run's backend"
	@echo "make sam-api [SAM_PORT=3001]  sam local start-api (Docker) against make run's backend; make sam-env rewrites local/sam-env.json"
	@echo "make openapi                  regenerate docs/openapi.json from the code's models"
	@echo "make docs                     regenerate docs/configuration.md and docs/deployment.md's counts from template.yaml"
	@echo "make api-key TENANT=acme [TIER=premium] [ENV=prod] [REGION=..] [LOCAL=1]  an API key (printed once) for the deployed"
	@echo "                              stack (linked to the tier's usage plan) or make run's backend; revoke-api-key KEY=..."
	@echo "make lock                     re-lock the layer's dependencies (hashes, cp313/aarch64) after editing its requirements.txt"
	@echo "make build | deploy [ENV=prod] [REGION=eu-west-1] [CONFIRM=1] [PARAMETERS='AlarmEmail=ops@example.com']"
	@echo "                              sam build / sam deploy, unattended unless CONFIRM=1 (SAM CLI in its own venv)"
	@echo "make rehearse                 build, deploy on ministack's CloudFormation, run one execution end to end, tear down"
	@echo "make fuzz [FUZZ_EXAMPLES=100] schemathesis against make run from docs/openapi.json (own venv)"
	@echo "make load [CLIENTS=16 REQUESTS=200 PLANS=one-job] [BACKEND=moto]  concurrent clients against make run: req/s, latency"
	@echo "                              (first and last 100 POSTs, a 500-job status read), threads and memory, then a lost/extra check"
	@echo "make bench                    benchmarks (round trips, warm latency, validation, cold start) into docs/benchmarks.md,"
	@echo "                              the engine's on BACKEND (dispatch latency, chain, fan-out/in, cost) into docs/engine-benchmarks.md,"
	@echo "                              the media operations' (make bench-media) into docs/media-benchmarks.md"

# The application's environment; reinstalled when a requirements file changes.
$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt layers/shared/constraints.txt layers/media/requirements.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# MALLOC_ARENA_MAX: glibc's allocator keeps up to 8 arenas per CPU for a process's threads, each holding
# freed memory; two are enough under the GIL and keep make run's processes 14 MB smaller after make load.
run: $(VENV)/.installed $(if $(filter ministack,$(BACKEND)),$(MINISTACK_VENV)/.installed)
	MALLOC_ARENA_MAX=2 BACKEND=$(BACKEND) PORT=$(PORT) MOTO_PORT=$(MOTO_PORT) $(PY) -m local.server  # LOCAL_API_KEY=... turns authentication on

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

test: lint typecheck complexity template-lint pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# No product function of radon's grade D or worse (cyclomatic complexity over 20), measured by radon itself:
# ruff's C901 counts a condition's `and`/`or` differently and lets such a function through.
complexity: $(VENV)/.installed
	@found="$$($(VENV)/bin/radon cc --min D --show-complexity layers functions)"; \
	if [ -n "$$found" ]; then echo "$$found"; echo "make complexity: split the functions above (radon grade D or worse)"; exit 1; fi

template-lint: $(VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml

# Every test: unit, integration (handlers against moto), HTTP (make run's server), template and docs;
# one worker per CPU (PYTEST_WORKERS=0: in this process). worksteal: each worker takes half the tests in
# order (a module's server starts once per worker that runs some of it), and an idle one takes half of
# what the other has left, so neither waits at the end for one long module. ministack's venv:
# tests/http/test_make_run_process.py runs make run as a user does, on its default backend.
PYTEST_WORKERS ?= auto
pytest: $(VENV)/.installed $(MINISTACK_VENV)/.installed
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist worksteal

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

# The same handlers, storage and HTTP tests against ministack (tests marked moto_only are deselected).
test-ministack: $(VENV)/.installed $(MINISTACK_VENV)/.installed
	TEST_BACKEND=ministack $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist worksteal tests/integration tests/http tests/test_invoke_events.py tests/engine

openapi: $(VENV)/.installed
	$(PY) -m tools.openapi

# configuration.md in the dev venv; deployment.md's counts on the SAM CLI's venv (samtranslator is there).
docs: $(VENV)/.installed $(SAM_VENV)/.installed
	PYTHONPATH=layers/shared $(PY) -m tools.configuration_doc
	$(SAM_VENV)/bin/python -m tools.deployment_doc

# API keys, with nothing but boto3. The target is explicit and
# printed: the deployed stack of ENV (REGION=..., or the AWS configuration's; ENDPOINT=... for an emulator),
# or LOCAL=1 for make run's backend. An AWS_ENDPOINT_URL that ENDPOINT does not repeat is refused.
API_KEY_TARGET = $(if $(ENV),--env $(ENV)) $(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION)) \
	$(if $(ENDPOINT),--endpoint $(ENDPOINT)) $(if $(LOCAL),--local)
# The dev venv's Python when there is one (it has boto3), else PYTHON; KEY_PYTHON=... chooses another.
KEY_PYTHON ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))
API_KEY_PYTHON_CHECK = @$(KEY_PYTHON) -c 'import boto3' 2>/dev/null || { echo "make api-key needs boto3 for $(KEY_PYTHON): pip install boto3, or KEY_PYTHON=<a python that has it>"; exit 2; }

api-key:
	@test -n "$(TENANT)" || { echo "usage: make api-key TENANT=<tenant> [TIER=standard|premium] [ENV=prod] [REGION=...] [ENDPOINT=...] [LOCAL=1]"; exit 2; }
	$(API_KEY_PYTHON_CHECK)
	@PYTHONPATH=layers/shared:. $(KEY_PYTHON) -m tools.api_keys $(API_KEY_TARGET) create --tenant "$(TENANT)" $(if $(TIER),--tier "$(TIER)")

revoke-api-key:
	@test -n "$(KEY)" || { echo "usage: make revoke-api-key KEY=<key> [ENV=prod] [REGION=...] [ENDPOINT=...] [LOCAL=1]"; exit 2; }
	$(API_KEY_PYTHON_CHECK)
	@PYTHONPATH=layers/shared:. $(KEY_PYTHON) -m tools.api_keys $(API_KEY_TARGET) revoke --key "$(KEY)"

# The layers' dependencies, transitive ones included, locked with hashes for Lambda (python3.13, arm64);
# layers/shared/Makefile and layers/media/Makefile install exactly these, and the dev environment the same versions.
lock: $(VENV)/.installed
	$(VENV)/bin/uv pip compile layers/shared/requirements.txt --quiet --generate-hashes \
		--python-platform aarch64-manylinux_2_28 --python-version 3.13 --annotation-style line \
		--custom-compile-command "make lock" -o layers/shared/requirements-lock.txt
	{ echo "# The lock's versions without hashes, for the dev venv (hashes in a constraints file would demand hashes of"; \
	  echo "# every package of requirements-dev.txt). Written by make lock from requirements-lock.txt."; \
	  sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\) .*/\1/p' layers/shared/requirements-lock.txt; } > layers/shared/constraints.txt
	$(VENV)/bin/uv pip compile layers/media/requirements.txt --quiet --generate-hashes \
		--python-platform aarch64-manylinux_2_28 --python-version 3.13 --annotation-style line \
		--custom-compile-command "make lock" -o layers/media/requirements-lock.txt

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

# The benchmarks (docs/benchmarks.md in process against moto, docs/engine-benchmarks.md against BACKEND);
# reports, never fails on a time. The built artifacts' cold start
# needs make build's .aws-sam/build and python3.13 (with pyenv: PYENV_VERSION=3.11.7:3.13.0 make bench).
bench: $(VENV)/.installed $(if $(filter ministack,$(BACKEND)),$(MINISTACK_VENV)/.installed)
	$(PY) -m bench.benchmarks
	BACKEND=$(BACKEND) $(PY) -m bench.engine
	$(MAKE) --no-print-directory bench-media

# The media worker's operations on 10 s 720p inputs (60 s for merge) with the real ffmpeg: time, peak memory,
# ffmpeg's own time, cost per minute of output (docs/media-benchmarks.md). A few minutes of CPU.
bench-media: $(VENV)/.installed
	$(PY) -m bench.media

# A pyenv shim named python3.13 exists even when no 3.13 is selected: run it to know.
build: $(SAM_VENV)/.installed
	@python3.13 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 || { \
	  echo "make build: sam build needs a working python3.13 on PATH (the functions' Lambda runtime); found none."; \
	  echo "  with pyenv: PYENV_VERSION=$$(pyenv global 2>/dev/null | head -1):3.13.0 make build (pyenv install 3.13 first)"; exit 1; }
	$(SAM) validate --lint
	$(SAM) build

# Unattended (CONFIRM=1 shows the change set and asks); REGION=... or the AWS configuration's region.
# tools/deploy.py prints the target, clears a failed first create and settles CreateApiGatewayAccountRole.
deploy: build
	$(SAM_VENV)/bin/python -m tools.deploy --sam $(SAM) $(if $(ENV),--env $(ENV)) $(if $(REGION),--region $(REGION)) \
		$(if $(CONFIRM),--confirm) $(foreach p,$(PARAMETERS),--parameter $(p))

# The deploy rehearsal (docs/deployment.md): the built template on ministack's CloudFormation, one execution
# through the deployed API Gateway and Lambdas, then the stack torn down (tools/rehearse.py, SAM CLI's venv).
rehearse: build $(MINISTACK_VENV)/.installed
	PYTHONPATH=layers/shared:. $(SAM_VENV)/bin/python -m tools.rehearse

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
