# CentralOps — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Every install comes from uv.lock (docs/dependencies.md). uv itself is bootstrapped into the venv
# with pip, at the version the lock pins; after that `uv sync` keeps the venv exactly as locked.
UV := $(VENV)/bin/uv
UV_VERSION = $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
# Never let uv download an interpreter of its own: the venv's Python is the one find-python chose.
export UV_PYTHON_DOWNLOADS := never
# Bytecode: uv installs none (compiling all ~10,700 modules would cost ~40 s per install), so Python
# compiles a module at first import. With PYTHONDONTWRITEBYTECODE set in the environment, every process
# of the local stack (and every stack the tests start) would compile the same ~2,600 modules again on
# each start. make's targets keep what they compile in .local/pycache instead: nothing is written beside
# the sources or into .venv, and `make clean` removes it. `make demo PYCACHE=` keeps the environment's choice.
PYCACHE ?= $(CURDIR)/.local/pycache
ifneq ($(PYCACHE),)
export PYTHONPYCACHEPREFIX := $(PYCACHE)
export PYTHONDONTWRITEBYTECODE :=
# Installing compiles nothing worth keeping (ensurepip would compile all of pip).
$(STAMP): export PYTHONDONTWRITEBYTECODE := 1
endif

$(STAMP): pyproject.toml uv.lock scripts/find-python
	@py=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		echo "Creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv --without-pip $(VENV) || exit 1; \
	fi
	@mkdir -p .local
	@echo "Installing CentralOps and its locked dependencies into $(VENV) (log in .local/install.log)"
	@# uv goes in with the finder's own pip (no pip in .venv: uv sync would remove it again); an
	@# interpreter whose pip cannot target another one gets pip in the venv first.
	@py=$$(scripts/find-python) || exit 1; \
	{ [ -x $(UV) ] || "$$py" -m pip --python $(PY) install --disable-pip-version-check --quiet "uv==$(UV_VERSION)" || \
		{ $(PY) -m ensurepip --default-pip && $(PY) -m pip install --disable-pip-version-check --quiet "uv==$(UV_VERSION)"; }; \
	} > .local/install.log 2>&1 && \
		$(UV) sync --frozen --python $(PY) --extra $(EXTRAS) >> .local/install.log 2>&1 || \
		{ tail -n 30 .local/install.log; echo "Installing failed; the whole log is .local/install.log." >&2; exit 1; }
	@touch $(STAMP)

venv: $(STAMP)  ## Create .venv and install the project with its dev tools, exactly as uv.lock pins them

lock: $(STAMP)  ## Re-resolve uv.lock after editing pyproject.toml (docs/dependencies.md), then sync .venv
	$(UV) lock --python $(PY)
	$(UV) sync --frozen --python $(PY) --extra $(EXTRAS)
	@touch $(STAMP)

demo: $(STAMP)  ## Start the local stack and play a short Slack session against it
	$(PY) -m infra.local demo

chat: $(STAMP)  ## Start the local stack and talk to the bot interactively
	$(PY) -m infra.local chat

up: $(STAMP)  ## Start the local stack and keep it running (Ctrl-C stops it)
	$(PY) -m infra.local up

lint: $(STAMP)  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

CHECKOV := .local/checkov-venv/bin/checkov

$(CHECKOV): scripts/checkov
	scripts/checkov --version >/dev/null

test: lint $(CHECKOV)  ## ruff, mypy and the whole test suite (checkov gets its own venv on first run)
	$(VENV)/bin/pytest

trace: $(STAMP)  ## Print the last question's spans (from make demo/chat/up) as a tree with durations
	$(PY) -m infra.local.trace

bench: $(STAMP)  ## Run the benchmarks (results in .local/bench/*.json)
	$(PY) -m bench.fanout
	$(PY) -m bench.bridge_cold
	$(PY) -m bench.first_text
	$(PY) -m bench.interceptor
	$(PY) -m bench.slack_ack
	$(PY) -m bench.slash_command
	$(PY) -m bench.classify
	$(PY) -m bench.stream
	$(PY) -m bench.alerts
	$(PY) -m bench.alert_replies
	$(PY) -m bench.teams_outbox
	$(PY) -m bench.teams_summary
	$(PY) -m bench.moto_requests
	$(PY) -m bench.throughput

eval: $(STAMP)  ## Run the phrasings of evals/cases through the configured model on the local stack (MODEL=offline|bedrock|anthropic|openai)
	$(PY) -m evals $(if $(MODEL),--model $(MODEL))

synth: $(STAMP)  ## Synthesise the CDK app into infra/cdk.out (to deploy: cd infra && npx cdk deploy --all)
	CDK_OUTDIR=infra/cdk.out $(PY) -m infra.app

deploy-check: $(STAMP) $(CHECKOV)  ## Before `cdk deploy`: synth with cdk-nag, cfn-lint, checkov, the permissions walk (CTX="-c k=v ...")
	rm -rf infra/cdk.out && CDK_OUTDIR=infra/cdk.out $(PY) -m infra.app --nag $(CTX)
	$(VENV)/bin/cfn-lint --ignore-checks W3005 W3037 -- infra/cdk.out/*.template.json; rc=$$?; [ $$((rc & 2)) -eq 0 ]
	scripts/checkov -d infra/cdk.out --framework cloudformation --skip-download --compact --quiet
	CENTRALOPS_DEPLOY_CTX="$(CTX)" $(VENV)/bin/pytest -q -p no:cacheprovider tests/infra/test_permissions.py tests/infra/test_cdk_nag.py

scan: synth $(CHECKOV)  ## checkov and hadolint over the templates and Dockerfiles
	scripts/checkov -d infra/cdk.out --framework cloudformation --skip-download --compact
	scripts/checkov -f agent/Dockerfile -f bot/Dockerfile --framework dockerfile --skip-download --compact
	scripts/checkov --hadolint agent/Dockerfile bot/Dockerfile

teams-package:  ## Zip the Teams app package into .local/centralops-teams.zip
	scripts/teams-package

clean:  ## Remove the virtual environment and local state
	rm -rf $(VENV) .local .mypy_cache .pytest_cache .ruff_cache

.PHONY: help venv lock demo chat up trace lint test bench eval synth deploy-check scan teams-package clean
