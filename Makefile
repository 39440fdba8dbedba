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
        image deploy monitoring traffic clean docs diagram

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# constraints.txt pins the runtime closure: .venv runs what the image runs.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --constraint constraints.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Create or refresh .venv

$(TOOLS_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

tools: $(TOOLS_VENV)/.installed ## Create the checkov tool environment

# --- run ---------------------------------------------------------------------------------------
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

.PHONY: bench-rules bench-series
bench-rules: venv ## Cost of the SLO rules on 30 days of backfilled data, 10 and 50 pods (~10 min)
	$(PY) -m tests.benchmark.rules

bench-series: venv ## Prometheus heap per series: before/after N synthetic pods of the app
	$(PY) -m tests.benchmark.series_memory

# --- dashboards --------------------------------------------------------------------------------
# Sources: dashboards/*.dashboard.py (grafanalib). Outputs (committed): dashboards/generated/*.json
# and k8s/dashboards/ (sidecar ConfigMaps + kustomization). tests/test_dashboards.py fails when
# they differ from a fresh generation; `$(PY) -m dashboards.generate --check` says which.
dashboards: venv ## Regenerate the Grafana dashboard JSON and their sidecar ConfigMaps
	$(PY) -m dashboards.generate

# --- terraform ---------------------------------------------------------------------------------
# Offline checks of terraform/ (no AWS account, no network): see docs/eks-terraform.md.
.PHONY: tf-check tf-fmt

tf-check: venv tools ## terraform fmt/validate/test (mocked AWS) and checkov on terraform/
	$(PY) -m pytest -m terraform -v

tf-fmt: ## Rewrite terraform/ in `terraform fmt` style
	terraform fmt -recursive terraform

# --- kubernetes ----------------------------------------------------------------------------------
# No Docker engine, helm or cluster is needed by the tests; these targets are the deploy runbook
# (docs/kubernetes.md). Tools they need: docker buildx, kubectl, helm.

# The release version: the image tag and APP_VERSION. One source: pyproject.toml.
VERSION ?= $(shell $(PYTHON) -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
# The image repository, e.g. `terraform -chdir=terraform output -raw ecr_repository_url`.
IMAGE ?=
IMAGE_PLATFORMS ?= linux/amd64
K8S_NAMESPACE = $(shell $(PY) -m monitoring.config namespace)
APP_NAME = $(shell $(PY) -m monitoring.config app_name)
MONITORING_NAMESPACE = $(shell $(PY) -m monitoring.config monitoring_namespace)
# Replicas of a newly created Deployment; afterwards the HPA alone sets the count (k8s/).
INITIAL_REPLICAS := 3
DEPLOY_DIR := build/deploy

CHART_VERSION := 88.5.3
# Cluster Autoscaler's minor version must match the cluster's; `make monitoring` checks it.
CLUSTER_AUTOSCALER_CHART_VERSION := 9.56.0
# Quiet when there is no Terraform state yet: `make monitoring` then says what is missing.
CLUSTER_NAME ?= $(shell terraform -chdir=terraform output -raw cluster_name 2>/dev/null)
AWS_REGION ?= $(shell terraform -chdir=terraform output -raw region 2>/dev/null)
# Terraform's Pod Identity association grants the autoscaling role to this service account.
CLUSTER_AUTOSCALER_SA = $(shell terraform -chdir=terraform output -json cluster_autoscaler_service_account 2>/dev/null)
CLUSTER_AUTOSCALER_NAMESPACE = $(shell echo '$(CLUSTER_AUTOSCALER_SA)' | $(PY) -c 'import json, sys; print(json.loads(sys.stdin.read().strip() or "{}").get("namespace", ""))' 2>/dev/null)
CLUSTER_AUTOSCALER_NAME = $(shell echo '$(CLUSTER_AUTOSCALER_SA)' | $(PY) -c 'import json, sys; print(json.loads(sys.stdin.read().strip() or "{}").get("name", ""))' 2>/dev/null)
# Secrets the chart mounts but never creates (names from monitoring/values.yaml).
GRAFANA_ADMIN_SECRET = $(shell $(PY) -c "import yaml; print(yaml.safe_load(open('monitoring/values.yaml'))['grafana']['admin']['existingSecret'])")
ALERTMANAGER_SECRETS = $(shell $(PY) -c "import yaml; print(*yaml.safe_load(open('monitoring/values.yaml'))['alertmanager']['alertmanagerSpec']['secrets'])")
# The Alertmanager routing (alerts issue), layered over values.yaml's placeholder.
ALERTMANAGER_VALUES := monitoring/alertmanager-values.yaml
# PriorityClasses and Grafana's ConfigMap Role in the monitoring namespace, before the charts.
MONITORING_PREREQUISITES := monitoring/prerequisites
CLUSTER_AUTOSCALER_VALUES := monitoring/cluster-autoscaler-values.yaml

require-image:
	@test -n "$(IMAGE)" || { echo "IMAGE is not set: make $(MAKECMDGOALS) IMAGE=\$$(terraform -chdir=terraform output -raw ecr_repository_url)" >&2; exit 2; }

image: require-image ## Build and push $(IMAGE):$(VERSION) with docker buildx
	docker buildx build --platform $(IMAGE_PLATFORMS) \
		--label org.opencontainers.image.version=$(VERSION) \
		--tag $(IMAGE):$(VERSION) --push .

deploy-manifests: require-image ## Render k8s/ for $(IMAGE):$(VERSION) into $(DEPLOY_DIR)/rendered.yaml
	mkdir -p $(DEPLOY_DIR)
	printf '%s\n' \
		'# Written by `make deploy-manifests`: k8s/ with the release image and version.' \
		'apiVersion: kustomize.config.k8s.io/v1beta1' \
		'kind: Kustomization' \
		'resources: [$(shell realpath -m --relative-to=$(DEPLOY_DIR) k8s)]' \
		'images: [{name: $(APP_NAME), newName: "$(IMAGE)", newTag: "$(VERSION)"}]' \
		'labels: [{pairs: {app.kubernetes.io/version: "$(VERSION)"}, includeTemplates: true}]' \
		'configMapGenerator: [{name: $(APP_NAME), behavior: merge, literals: [APP_VERSION=$(VERSION)]}]' \
		> $(DEPLOY_DIR)/kustomization.yaml
	kubectl kustomize $(DEPLOY_DIR) > $(DEPLOY_DIR)/rendered.yaml

deploy: venv deploy-manifests ## Apply k8s/ with image $(IMAGE):$(VERSION); the first apply starts 3 pods
	@# Server-side apply: no last-applied annotation (dashboard ConfigMaps can exceed its size).
	@# The Deployment has no replicas field (the HPA owns it): a new one is scaled to 3 once.
	@if kubectl -n $(K8S_NAMESPACE) get deployment $(APP_NAME) >/dev/null 2>&1; then \
		kubectl apply --server-side -f $(DEPLOY_DIR)/rendered.yaml; \
	else \
		kubectl apply --server-side -f $(DEPLOY_DIR)/rendered.yaml && \
		kubectl -n $(K8S_NAMESPACE) scale deployment/$(APP_NAME) --replicas=$(INITIAL_REPLICAS); \
	fi
	kubectl -n $(K8S_NAMESPACE) rollout status deployment/$(APP_NAME) --timeout=5m

monitoring: venv ## Install kube-prometheus-stack $(CHART_VERSION) and Cluster Autoscaler (helm)
	@test -n "$(CLUSTER_NAME)" -a -n "$(CLUSTER_AUTOSCALER_NAME)" || { echo "no cluster: terraform -chdir=terraform output has no cluster_name / cluster_autoscaler_service_account; create the cluster first (docs/eks-terraform.md)" >&2; exit 2; }
	@test -f $(ALERTMANAGER_VALUES) || { echo "$(ALERTMANAGER_VALUES) is missing: run make alerts" >&2; exit 2; }
	@for secret in $(GRAFANA_ADMIN_SECRET) $(ALERTMANAGER_SECRETS); do \
		kubectl -n $(MONITORING_NAMESPACE) get secret $$secret >/dev/null || { \
		echo "create Secret $(MONITORING_NAMESPACE)/$$secret first (docs/kubernetes.md)" >&2; \
		exit 2; }; done
	kubectl apply --server-side -f monitoring/storageclass-gp3.yaml
	kubectl apply --server-side -k $(MONITORING_PREREQUISITES)
	helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
	helm repo add autoscaler https://kubernetes.github.io/autoscaler --force-update
	helm upgrade --install $(HELM_RELEASE) prometheus-community/kube-prometheus-stack \
		--version $(CHART_VERSION) --namespace $(MONITORING_NAMESPACE) --create-namespace \
		--values monitoring/values.yaml --values $(ALERTMANAGER_VALUES) \
		--wait --timeout 10m
	@ca=$$(helm show chart autoscaler/cluster-autoscaler --version $(CLUSTER_AUTOSCALER_CHART_VERSION) | sed -n 's/^appVersion: *v\{0,1\}//p'); \
	k8s=$$(kubectl version -o json | $(PY) -c 'import json, sys; v = json.load(sys.stdin)["serverVersion"]; print(v["major"] + "." + v["minor"].rstrip("+"))'); \
	case "$$ca" in "$$k8s".*) ;; *) echo "Cluster Autoscaler $$ca does not match Kubernetes $$k8s: set CLUSTER_AUTOSCALER_CHART_VERSION" >&2; exit 1;; esac
	helm upgrade --install cluster-autoscaler autoscaler/cluster-autoscaler \
		--version $(CLUSTER_AUTOSCALER_CHART_VERSION) --namespace $(CLUSTER_AUTOSCALER_NAMESPACE) \
		--values $(CLUSTER_AUTOSCALER_VALUES) \
		--set autoDiscovery.clusterName=$(CLUSTER_NAME) --set awsRegion=$(AWS_REGION) \
		--set rbac.serviceAccount.name=$(CLUSTER_AUTOSCALER_NAME) --wait
	@# metrics-server (the HPA's source) is an EKS add-on in terraform/; on another cluster:
	@kubectl get apiservice v1beta1.metrics.k8s.io >/dev/null 2>&1 || \
		echo "metrics-server missing: the HPA cannot scale. Install it: helm upgrade --install metrics-server metrics-server --repo https://kubernetes-sigs.github.io/metrics-server/ --namespace kube-system" >&2

.PHONY: require-image deploy-manifests

# --- local stack -------------------------------------------------------------------------------
# Flags pass through ARGS and every flag has a variable (`make run ARGS=--help` lists them), e.g.
#   make run ARGS="--app-port 8000 --show-logs"    make run TRAFFIC=1    make run SCENARIO=error-burn
# Other variables given on the command line reach the app's environment, e.g.
#   make run TRAFFIC=1 FAULT_ERROR_RATIO=0.2
run: venv ## The whole stack on 127.0.0.1 (app, Prometheus, Alertmanager, webhook, Grafana if installed); ARGS=--help
	exec $(PY) -m local $(ARGS)

traffic: venv ## Send a realistic request mix to the local app (TRAFFIC_RATE=5 requests/s)
	exec $(PY) -m local.traffic

# --- alerts ------------------------------------------------------------------------------------
# Sources: alerts/*.py (rules as data), alerts/testcases/*.py, alerts/alertmanager.py and
# monitoring/config.py. Outputs (committed): alerts/generated/<app>.rules.yaml,
# k8s/<app>-prometheusrule.yaml, alerts/tests/*.test.yaml, monitoring/alertmanager.yaml and
# monitoring/alertmanager-values.yaml (the same routing as a kube-prometheus-stack values layer).
# tests/test_alerts.py fails when they differ from a fresh generation.
.PHONY: alerts-test

alerts: venv ## Regenerate the rules, PrometheusRule, promtool tests, Alertmanager config and values
	$(PY) -m alerts.generate

alerts-test: venv ## promtool check/test the rules, amtool-check the routing (+ the pytest checks)
	promtool check rules alerts/generated/*.rules.yaml
	promtool test rules alerts/tests/*.test.yaml
	# The committed file's webhook url_file is Alertmanager >= 0.26: amtool 0.25 checks the rest.
	$(PY) -m alerts.alertmanager --amtool-025 | amtool check-config
	$(PY) -m pytest tests/test_alerts.py tests/test_alertmanager.py

# --- docs --------------------------------------------------------------------------------------
# Generated (committed): the tables of contents between <!-- toc --> markers in README.md and
# docs/*.md, and docs/configuration.md from monitoring/config.py. tests/test_docs.py fails when
# they are stale or a link or anchor is broken; `$(PY) -m local.docs --check` says which.
docs: venv ## Regenerate the docs' tables of contents and docs/configuration.md
	$(PY) -m local.docs

# The architecture picture: docs/architecture.dot (source) -> docs/architecture.svg (committed).
diagram: ## Render docs/architecture.svg from docs/architecture.dot (Graphviz `dot`)
	dot -Tsvg docs/architecture.dot -o docs/architecture.svg

.PHONY: mutate
mutate: venv ## Mutation-test the rules: every mutant, promtool tests, score and survivors (>= 95 %)
	$(PY) -m tests.mutation
