# CentralOps — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml scripts/find-python
	@py=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		echo "Creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV) || exit 1; \
	fi
	@mkdir -p .local
	@echo "Installing CentralOps and its dependencies into $(VENV) (a few minutes the first time; log in .local/install.log)"
	@$(PY) -m pip install --upgrade pip > .local/install.log 2>&1 && \
		$(PY) -m pip install -e '.[$(EXTRAS)]' >> .local/install.log 2>&1 || \
		{ tail -n 30 .local/install.log; echo "Installing failed; the whole log is .local/install.log." >&2; exit 1; }
	@touch $(STAMP)

venv: $(STAMP)  ## Create .venv and install the project with its dev tools

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

bench: $(STAMP)  ## Run the benchmarks (results in .local/bench/*.json)
	$(PY) -m bench.fanout
	$(PY) -m bench.first_text
	$(PY) -m bench.slack_ack
	$(PY) -m bench.slash_command
	$(PY) -m bench.throughput

synth: $(STAMP)  ## Synthesise the CDK app into infra/cdk.out (to deploy: cd infra && npx cdk deploy --all)
	CDK_OUTDIR=infra/cdk.out $(PY) -m infra.app

scan: synth $(CHECKOV)  ## checkov and hadolint over the templates and Dockerfiles
	scripts/checkov -d infra/cdk.out --framework cloudformation --skip-download --compact
	scripts/checkov -f agent/Dockerfile -f bot/Dockerfile --framework dockerfile --skip-download --compact
	scripts/checkov --hadolint agent/Dockerfile bot/Dockerfile

teams-package:  ## Zip the Teams app package into .local/centralops-teams.zip
	scripts/teams-package

clean:  ## Remove the virtual environment and local state
	rm -rf $(VENV) .local .mypy_cache .pytest_cache .ruff_cache

.PHONY: help venv demo chat up lint test bench synth scan teams-package clean
