# The front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# checkov lives in a tool environment of its own (its pins clash with the app's), shared by the
# Kubernetes and Terraform checks.
TOOLS_VENV := .venv-tools
CHECKOV_VERSION := 3.3.30

# One source of truth: the Helm release name comes from monitoring/config.py.
HELM_RELEASE = $(shell $(PY) -m monitoring.config helm_release)

.PHONY: help venv tools run serve test test-fast lint format bench alerts dashboards \
        generate image deploy monitoring traffic clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Create or refresh .venv

$(TOOLS_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

tools: $(TOOLS_VENV)/.installed ## Create the checkov tool environment

# --- run ---------------------------------------------------------------------------------------
run: venv ## Run the app (the production server; the local stack arrives with its issue)
	exec $(VENV)/bin/gunicorn --config python:app.gunicorn_conf

serve: venv ## Run the production server in the foreground (same command as the image's CMD)
	exec $(VENV)/bin/gunicorn --config python:app.gunicorn_conf

# --- quality -----------------------------------------------------------------------------------
lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: venv tools lint ## The whole suite: lint, unit, integration, e2e, manifests, terraform
	$(PY) -m pytest

test-fast: venv ## Unit tests only (no processes started)
	$(PY) -m pytest -m "not integration and not e2e and not manifests and not terraform"

clean: ## Remove the virtual environments and caches
	rm -rf $(VENV) $(TOOLS_VENV) .pytest_cache .ruff_cache

# --- benchmark ---------------------------------------------------------------------------------
bench: venv ## Throughput, p99, /metrics latency and PSS of the production command (needs wrk)
	$(PY) -m tests.benchmark.run

# --- dashboards --------------------------------------------------------------------------------
# Sources: dashboards/*.dashboard.py (grafanalib). Outputs (committed): dashboards/generated/*.json
# and k8s/dashboards/ (sidecar ConfigMaps + kustomization). tests/test_dashboards.py fails when
# they differ from a fresh generation; `$(PY) -m dashboards.generate --check` says which.
dashboards: venv ## Regenerate the Grafana dashboard JSON and their sidecar ConfigMaps
	$(PY) -m dashboards.generate

# --- terraform ---------------------------------------------------------------------------------
# Offline checks of terraform/ (no AWS account, no network): see README, section "terraform".
.PHONY: tf-check tf-fmt

tf-check: venv tools ## terraform fmt/validate/test (mocked AWS) and checkov on terraform/
	$(PY) -m pytest -m terraform -v

tf-fmt: ## Rewrite terraform/ in `terraform fmt` style
	terraform fmt -recursive terraform

# --- alerts ------------------------------------------------------------------------------------
# Sources: alerts/*.py (rules as data), alerts/testcases/*.py, monitoring/alertmanager.py and
# monitoring/config.py. Outputs (committed): alerts/generated/<app>.rules.yaml,
# k8s/<app>-prometheusrule.yaml, alerts/tests/*.test.yaml, monitoring/alertmanager.yaml.
# tests/test_alerts.py fails when they differ from a fresh generation.
.PHONY: alerts-test

alerts: venv ## Regenerate the rules, the PrometheusRule, the promtool tests and Alertmanager config
	$(PY) -m alerts.generate

alerts-test: venv ## promtool check/test the rules, amtool-check the routing (+ the pytest checks)
	promtool check rules alerts/generated/*.rules.yaml
	promtool test rules alerts/tests/*.test.yaml
	amtool check-config monitoring/alertmanager.yaml
	$(PY) -m pytest tests/test_alerts.py tests/test_alertmanager.py
