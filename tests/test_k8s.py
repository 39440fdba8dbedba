"""The Kubernetes manifests (k8s/) and the kube-prometheus-stack values (monitoring/).

Renders k8s/ with the real ``kubectl kustomize``, validates core objects with kubernetes-validate
and the prometheus-operator objects with their CRD schemas, checks that the objects agree with
each other, with the app and with ``monitoring.config.CONFIG``, runs checkov, and measures the
production server's memory against the memory request the HPA divides by.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import kubernetes_validate
import psutil
import pytest
import yaml

from app import create_app, metric_names
from monitoring.config import CONFIG, duration_seconds
from tests.conftest import ROOT, checkov_binary, require_binary, require_schemas
from tests.support.manifests import (
    K8S_DIR,
    KUBERNETES_VERSION,
    STORAGE_CLASS,
    app_container,
    make_variable,
    one,
    project_version,
    quantity,
    render,
    settings,
    values,
)
from tests.support.server import GunicornServer

pytestmark = pytest.mark.manifests

OPERATOR_GROUP = "monitoring.coreos.com"
CHART_VALUES = "kube-prometheus-stack-88.5.3/values.yaml"
GRAFANA_SUBCHART_VALUES = "kube-prometheus-stack-88.5.3/grafana-subchart-12.11.1-values.yaml"

# Maps in monitoring/values.yaml whose content the chart passes through unchanged, so their keys
# cannot be found among the chart's defaults. The map itself must exist in the defaults.
FREE_FORM_PATHS = {
    "alertmanager.config": "Alertmanager's configuration file (route, receivers, inhibit_rules)",
    "alertmanager.alertmanagerSpec.storage": "a prometheus-operator StorageSpec",
    "prometheus.prometheusSpec.storageSpec": "a prometheus-operator StorageSpec",
    "prometheus.prometheusSpec.resources": "a Kubernetes ResourceRequirements",
    "customRules": "per-alert `for`/`severity` overrides of the chart's rules, keyed by alertname",
}

# Keys whose map is a Kubernetes ResourceRequirements wherever they appear (every component's
# `resources`, `{}` in the chart's defaults).
FREE_FORM_KEYS = {"resources"}

# Keys the chart's templates read but its default values (and the ones in ../shared/schemas)
# do not list, each with where it is read. Checked by hand against the chart 88.5.3 pins.
UNLISTED_CHART_KEYS = {
    "prometheusOperator.priorityClassName": "templates/prometheus-operator/deployment.yaml",
    "grafana.priorityClassName": "the Grafana subchart's values: `# priorityClassName:`",
    "kube-state-metrics.priorityClassName": "the kube-state-metrics subchart's values",
    "kube-state-metrics.resources": "the kube-state-metrics subchart's values",
    "prometheus-node-exporter.priorityClassName": "the node-exporter subchart's values (commented)",
    "prometheus-node-exporter.resources": "the node-exporter subchart's values",
}

# Every kind k8s/ must render (the dashboards' ConfigMaps and the PrometheusRule are generated).
EXPECTED_KINDS = {
    "PrometheusRule",
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ServiceMonitor",
    "Role",  # Grafana's dashboard sidecar reads the dashboard ConfigMaps (issue 17)
    "RoleBinding",
    "Probe",
}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize k8s/`` renders."""
    return render()


@pytest.fixture(scope="module")
def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's pod template spec."""
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def _subset(labels: dict[str, str], of: dict[str, str]) -> bool:
    return all(of.get(key) == value for key, value in labels.items())


# --- structure ------------------------------------------------------------------------------------


def test_kustomize_renders_every_component(objects):
    """k8s/ renders one of each expected kind, all in the app's namespace."""
    kinds = [obj["kind"] for obj in objects]
    missing = EXPECTED_KINDS - set(kinds)
    assert not missing, f"k8s/ does not render: {sorted(missing)}"
    for obj in objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == CONFIG.namespace
        else:
            assert obj["metadata"].get("namespace") == CONFIG.namespace, obj["metadata"]["name"]


def test_one_object_per_file_named_component_kind():
    """Each hand-written file holds one object and is named ``<name>-<kind>.yaml``."""
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert files, "no manifests in k8s/"
    for path in files:
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert len(docs) == 1, f"{path.name}: {len(docs)} objects, expected 1"
        expected = f"{docs[0]['metadata']['name']}-{docs[0]['kind'].lower()}.yaml"
        assert path.name == expected, f"{path.name} should be named {expected}"
        assert path.name in listed, f"{path.name} is not in kustomization.yaml's resources"


def test_core_objects_are_valid_kubernetes(objects):
    """kubernetes-validate (strict: unknown fields fail) accepts every core object."""
    core = [o for o in objects if not o["apiVersion"].startswith(OPERATOR_GROUP)]
    core.append(yaml.safe_load(STORAGE_CLASS.read_text()))
    problems = []
    for obj in core:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message}")
    assert not problems, "\n".join(problems)


def _closed(schema: Any) -> Any:
    """A copy of a CRD schema where objects with listed properties admit no other key.

    The API server prunes unknown fields of a structural schema silently, so a misspelled field
    (``intervall``) would vanish; closing the schema turns it into a validation error.
    """
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in closed
        and "additionalProperties" not in closed
        and not closed.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


def _operator_schema(kind: str) -> dict[str, Any]:
    path = (
        require_schemas() / "prometheus-operator-v0.93.0" / "jsonschema" / f"{kind.lower()}_v1.json"
    )
    return _closed(json.loads(path.read_text()))


def test_prometheus_operator_objects_match_crd_schemas(objects):
    """ServiceMonitor and PrometheusRule objects validate against the operator's CRD schemas."""
    operator_objects = [o for o in objects if o["apiVersion"].startswith(OPERATOR_GROUP)]
    assert any(o["kind"] == "ServiceMonitor" for o in operator_objects)
    for obj in operator_objects:
        schema = _operator_schema(obj["kind"])
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
        )


def test_crd_schema_check_rejects_a_misspelled_field(objects):
    """The closed CRD schema catches a typo the API server would prune silently."""
    monitor = copy.deepcopy(one(objects, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = monitor["spec"]["endpoints"][0].pop("interval")
    assert not jsonschema.Draft7Validator(_operator_schema("ServiceMonitor")).is_valid(monitor)


# --- consistency ----------------------------------------------------------------------------------


def test_servicemonitor_scrapes_the_service(objects):
    """The ServiceMonitor selects the Service by its labels, on its `http` port, every 15 s."""
    service, monitor = one(objects, "Service"), one(objects, "ServiceMonitor")
    assert _subset(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    port_names = {port["name"] for port in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names, "endpoints[].port must name a Service port"
        assert endpoint["path"] == metric_names.ROUTE_METRICS
        assert endpoint["interval"] == CONFIG.scrape_interval
    # The job label of the scraped series is the Service name; alerts select on it.
    assert service["metadata"]["name"] == CONFIG.job


def test_servicemonitor_release_label_is_the_helm_release(objects):
    """Prometheus selects the ServiceMonitor: its `release` label is the Makefile's release."""
    release = one(objects, "ServiceMonitor")["metadata"]["labels"]["release"]
    assert release == CONFIG.helm_release == make_variable("HELM_RELEASE")


def test_scrape_interval_fits_the_rate_window():
    """A rate window spans at least 4 scrapes, so one missed scrape never empties it."""
    assert duration_seconds(CONFIG.rate_window) >= 4 * duration_seconds(CONFIG.scrape_interval)


def test_service_targets_the_container_port(objects):
    """Service port 80 `http` -> container port `http`, which is the port the app binds."""
    service = one(objects, "Service")
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 80)
    container_ports = {p["name"]: p["containerPort"] for p in app_container(objects)["ports"]}
    assert port["targetPort"] in container_ports
    assert int(settings(objects)["PORT"]) == container_ports[port["targetPort"]]


def test_selectors_match_the_pods(objects, pod_spec):
    """Deployment, Service, PDB, NetworkPolicy and spread constraints select the app's pods."""
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": deployment["spec"]["selector"]["matchLabels"],
        "Service": one(objects, "Service")["spec"]["selector"],
        "PodDisruptionBudget": one(objects, "PodDisruptionBudget")["spec"]["selector"][
            "matchLabels"
        ],
        "NetworkPolicy": one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    }
    for constraint in pod_spec["topologySpreadConstraints"]:
        selectors[constraint["topologyKey"]] = constraint["labelSelector"]["matchLabels"]
    for owner, selector in selectors.items():
        assert selector and _subset(selector, pod_labels), f"{owner} does not select the pods"
    assert {c["topologyKey"] for c in pod_spec["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }


def test_recommended_labels(objects):
    """Every object of k8s/ carries the recommended app.kubernetes.io labels."""
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == CONFIG.app_name, obj["metadata"]["name"]
        assert labels.get("app.kubernetes.io/part-of") == CONFIG.app_name
        assert "app.kubernetes.io/managed-by" in labels


def test_probe_paths_are_app_routes(objects):
    """Startup and liveness probe /healthz, readiness probes /readiness, on the `http` port."""
    container = app_container(objects)
    expected = {
        "startupProbe": metric_names.ROUTE_HEALTHZ,
        "livenessProbe": metric_names.ROUTE_HEALTHZ,
        "readinessProbe": metric_names.ROUTE_READINESS,
    }
    for probe, path in expected.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe


def test_probe_paths_exist_in_the_app(objects):
    """The probe paths are routes of the real Flask app."""
    rules = {rule.rule for rule in create_app().url_map.iter_rules()}
    container = app_container(objects)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in rules, probe


def _startup_budget_seconds(probe: dict[str, Any]) -> int:
    return probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"]


def test_startup_budget_fits_readiness_and_alerting(objects):
    """A pod may become ready within its startup budget, which the not-ready alert tolerates."""
    container = app_container(objects)
    budget = _startup_budget_seconds(container["startupProbe"])
    assert int(settings(objects)["READINESS_MIN_UPTIME_SECONDS"]) < budget
    assert budget < duration_seconds(CONFIG.not_ready_for)
    # Liveness starts only after the startup probe could have succeeded at least once.
    assert (
        container["livenessProbe"]["initialDelaySeconds"]
        >= (container["startupProbe"]["initialDelaySeconds"])
    )


def test_shutdown_fits_the_termination_grace_period(objects, pod_spec):
    """preStop sleep + app drain + gunicorn graceful timeout <= terminationGracePeriodSeconds."""
    config = settings(objects)
    pre_stop = app_container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(config["SHUTDOWN_DRAIN_SECONDS"])
    graceful = int(config["GUNICORN_GRACEFUL_TIMEOUT"])
    assert min(pre_stop, drain, graceful) > 0
    assert pre_stop + drain + graceful <= pod_spec["terminationGracePeriodSeconds"]


def test_gunicorn_uses_the_shutdown_settings_of_the_configmap(objects, tmp_path):
    """app.gunicorn_conf reads the drain and graceful timeout the termination budget counts on.

    Imported in a child process: the module sets process-wide environment variables.
    """
    config = settings(objects)
    env = {**os.environ, **config, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    probe = (
        "import app.gunicorn_conf as c; "
        "print(c.graceful_timeout, c._settings.shutdown_drain_seconds)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    graceful, drain = result.stdout.split()
    assert int(graceful) == int(config["GUNICORN_GRACEFUL_TIMEOUT"])
    assert float(drain) == float(config["SHUTDOWN_DRAIN_SECONDS"])


def test_image_tag_and_app_version_are_the_release_version(objects):
    """The rendered image tag and APP_VERSION equal pyproject's version (never `latest`)."""
    version = project_version()
    image = app_container(objects)["image"]
    assert image.rsplit(":", 1)[-1] == version, image
    assert settings(objects)["APP_VERSION"] == version


def test_pod_name_is_injected(objects):
    """POD_NAME comes from the downward API (the /hello response names the pod)."""
    env = {item["name"]: item for item in app_container(objects)["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_multiproc_dir_is_a_writable_volume(objects, pod_spec):
    """PROMETHEUS_MULTIPROC_DIR and /tmp are emptyDir mounts (the root filesystem is read-only)."""
    container = app_container(objects)
    env = {item["name"]: item.get("value") for item in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    for path in (env["PROMETHEUS_MULTIPROC_DIR"], "/tmp"):
        assert path in mounts, f"{path} is not a volume mount"
        assert "emptyDir" in volumes[mounts[path]]
    # Cluster Autoscaler may evict the pods despite their local volumes: exactly these two.
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    evictable = annotations["cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"]
    assert set(evictable.split(",")) == set(volumes)


def test_generated_dashboards_are_included(objects):
    """Every dashboard ConfigMap of k8s/dashboards/ is rendered, labelled for Grafana's sidecar."""
    generated = yaml.safe_load((K8S_DIR / "dashboards" / "kustomization.yaml").read_text())
    expected = {
        yaml.safe_load((K8S_DIR / "dashboards" / name).read_text())["metadata"]["name"]
        for name in generated["resources"]
    }
    rendered = {
        obj["metadata"]["name"]
        for obj in objects
        if obj["kind"] == "ConfigMap"
        and obj["metadata"]["labels"].get(CONFIG.grafana_dashboard_label)
        == CONFIG.grafana_dashboard_label_value
    }
    assert expected and rendered == expected


def test_hpa_matches_the_monitoring_config(objects):
    """HPA bounds and targets are those of CONFIG, which alerts and dashboards read."""
    hpa = one(objects, "HorizontalPodAutoscaler")
    deployment = one(objects, "Deployment")
    assert hpa["metadata"]["name"] == CONFIG.hpa_name
    assert deployment["metadata"]["name"] == CONFIG.deployment_name
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] == CONFIG.hpa_min_replicas
    assert hpa["spec"]["maxReplicas"] == CONFIG.hpa_max_replicas
    targets = {
        m["resource"]["name"]: m["resource"]["target"]
        for m in hpa["spec"]["metrics"]
        if m["type"] == "Resource"
    }
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": CONFIG.hpa_cpu_target_percent},
        "memory": {"type": "Utilization", "averageUtilization": CONFIG.hpa_memory_target_percent},
    }
    assert CONFIG.hpa_enabled


def test_hpa_owns_the_replica_count(objects):
    """The Deployment sets no replicas (re-applying would fight the HPA); make deploy starts 3."""
    assert "replicas" not in one(objects, "Deployment")["spec"]
    initial = int(make_variable("INITIAL_REPLICAS"))
    assert CONFIG.hpa_min_replicas <= initial <= CONFIG.hpa_max_replicas


def test_hpa_scale_down_removes_at_least_one_pod_per_period(objects):
    """The scale-down percentage can always remove a pod above the minimum.

    The controller truncates ``replicas x (1 - percent/100)``, so any positive percentage removes
    at least one pod per period; a ``Pods`` policy of 0 or a percent of 0 would never scale down.
    """
    behavior = one(objects, "HorizontalPodAutoscaler")["spec"]["behavior"]
    for policy in behavior["scaleDown"]["policies"]:
        assert policy["value"] > 0
        if policy["type"] == "Percent":
            n = CONFIG.hpa_min_replicas + 1
            assert int(n * (1 - policy["value"] / 100)) <= n - 1
    assert (
        behavior["scaleDown"]["stabilizationWindowSeconds"]
        >= (behavior["scaleUp"]["stabilizationWindowSeconds"])
    )


def test_resources_match_the_monitoring_config(objects):
    """Requests and limits are CONFIG's (the HPA divides by the requests, the app's % by limits)."""
    resources = app_container(objects)["resources"]
    assert quantity(resources["requests"]["cpu"]) == quantity(str(CONFIG.cpu_request_cores))
    assert quantity(resources["limits"]["cpu"]) == quantity(str(CONFIG.cpu_limit_cores))
    assert quantity(resources["requests"]["memory"]) == CONFIG.memory_request_bytes
    assert quantity(resources["limits"]["memory"]) == CONFIG.memory_limit_bytes
    CONFIG.validate()


def test_pdb_allows_a_drain_at_the_hpa_minimum(objects):
    """With the HPA at its minimum, the PDB still lets one pod be evicted."""
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    if "maxUnavailable" in pdb:
        assert pdb["maxUnavailable"] >= 1
    else:
        assert pdb["minAvailable"] < CONFIG.hpa_min_replicas


def test_network_policy_admits_clients_and_prometheus_only(objects):
    """Ingress on the app port from the namespace and monitoring's Prometheus; egress to DNS."""
    policy = one(objects, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert [p["port"] for p in ingress["ports"]] == ["http"]
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in ingress["from"]
        if "namespaceSelector" in peer
    ]
    assert namespaces == [CONFIG.monitoring_namespace]
    assert {"podSelector": {}} in ingress["from"], "clients in the app's namespace"
    (egress,) = policy["egress"]
    assert {(p["port"], p["protocol"]) for p in egress["ports"]} == {(53, "UDP"), (53, "TCP")}


# --- Pod Security Standard "restricted" -----------------------------------------------------------

_RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Violations of the Pod Security Standard ``restricted`` (Kubernetes docs, v1.35).

    Covers the baseline controls that apply to Linux pods and the restricted ones: host
    namespaces and ports, privileged, capabilities, volume types, privilege escalation,
    non-root, seccomp. Returns one message per violation (empty when the pod passes).
    """
    problems = []
    pod_sc = pod.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{field} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds)}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    for key in ("sysctls",):
        if pod_sc.get(key):
            problems.append(f"pod securityContext.{key} is set")
    for container in pod.get("initContainers", []) + pod["containers"]:
        name, sc = container["name"], container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault/Localhost")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
    return problems


def test_pod_meets_the_restricted_standard(objects, pod_spec):
    """The pod passes `restricted`, which the namespace enforces, plus the image's own rules."""
    assert restricted_violations(pod_spec) == []
    labels = one(objects, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    container = app_container(objects)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod_spec["automountServiceAccountToken"] is False
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("containers", 0, "securityContext", "allowPrivilegeEscalation"), True),
        (("containers", 0, "securityContext", "capabilities", "drop"), []),
        (("securityContext", "seccompProfile", "type"), "Unconfined"),
        (("hostNetwork",), True),
    ],
)
def test_restricted_check_catches_a_violation(pod_spec, path, value):
    """The restricted check reports a pod that breaks one control."""
    pod = copy.deepcopy(pod_spec)
    pod["containers"][0]["securityContext"].pop("seccompProfile", None)
    target = pod
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert restricted_violations(pod)


# --- make deploy ---------------------------------------------------------------------------------


def test_make_deploy_manifests_sets_image_and_version(tmp_path):
    """`make deploy-manifests` renders k8s/ with $(IMAGE):$(VERSION) and that APP_VERSION."""
    image, version = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-app", "9.8.7"
    result = subprocess.run(
        [
            *("make", "-s", "deploy-manifests"),
            *(f"IMAGE={image}", f"VERSION={version}", f"DEPLOY_DIR={tmp_path}"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = [o for o in yaml.safe_load_all((tmp_path / "rendered.yaml").read_text()) if o]
    assert app_container(rendered)["image"] == f"{image}:{version}"
    assert settings(rendered)["APP_VERSION"] == version
    assert "replicas" not in one(rendered, "Deployment")["spec"]
    pod_labels = one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/version"] == version


def test_make_deploy_refuses_without_image():
    """Without IMAGE, `make deploy-manifests` stops with a message naming the variable."""
    result = subprocess.run(
        ["make", "-s", "deploy-manifests", "IMAGE="],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "IMAGE is not set" in result.stderr


# --- memory request vs the HPA -------------------------------------------------------------------


def max_idle_utilization(target_percent: int, min_replicas: int, max_replicas: int) -> float:
    """Highest idle memory use (ratio 0-1 of the request) that lets the HPA reach its minimum.

    The HPA (Kubernetes docs, "Horizontal Pod Autoscaling", algorithm details) wants
    ``ceil(n x usage / target)`` replicas and acts only when ``usage / target`` is more than its
    10 % tolerance away from 1. Idle usage per pod does not fall as replicas go away, so
    stepping from n to n - 1 needs ``usage <= target x (n - 1) / n`` for every n from the
    maximum down to ``min + 1`` (the strictest: n = min + 1, 80 % x 2/3 = 53 % here), and
    ``usage < target x 0.9`` for the tolerance.
    """
    target = target_percent / 100
    steps = [target * (n - 1) / n for n in range(min_replicas + 1, max_replicas + 1)]
    return min([*steps, target * 0.9])


def test_scale_down_arithmetic():
    """80 % target, 2..10 replicas: idle usage must stay at or below 53.3 % of the request."""
    assert max_idle_utilization(80, 2, 10) == pytest.approx(0.8 * 2 / 3)
    assert max_idle_utilization(80, 9, 10) == pytest.approx(0.8 * 0.9)


def _processes(master: psutil.Process) -> list[psutil.Process]:
    return [master, *master.children(recursive=True)]


def _pss_bytes(master: psutil.Process) -> int:
    """PSS of the master and its workers, bytes."""
    return sum(p.memory_full_info().pss for p in _processes(master))


def _cpu_seconds(master: psutil.Process) -> float:
    """CPU time (user + system) of the master and its workers, seconds."""
    return sum(sum(p.cpu_times()[:2]) for p in _processes(master))


IDLE_SECONDS = 30
"""How long the idle CPU is measured, with kubelet- and Prometheus-like traffic only."""


@pytest.mark.integration
def test_memory_request_lets_hpa_scale_down(objects, tmp_path):
    """At idle, memory and CPU let the HPA return to its minimum; under load memory < limit.

    Starts ``gunicorn --config python:app.gunicorn_conf`` with the ConfigMap's settings and
    measures the PSS (proportional set size: shared pages split between the processes sharing
    them) of the master and its workers, idle after a few requests and again after a burst of
    2000, and the CPU used over 30 s of probes and scrapes only. The HPA takes the highest
    replica count any metric asks for, so CPU must allow the scale-down as well.
    """
    resources = app_container(objects)["resources"]
    requests = {name: quantity(resources["requests"][name]) for name in ("memory", "cpu")}
    limit = quantity(resources["limits"]["memory"])
    production = {k: v for k, v in settings(objects).items() if k != "PORT"}
    paths = ["/", "/hello", metric_names.ROUTE_READINESS, metric_names.ROUTE_METRICS]
    with GunicornServer(tmp_path, env={**production, "POD_NAME": "demo-app-pss"}) as server:
        for _ in range(10):  # every worker has served each route once or more
            for path in paths:
                server.get(path)
        time.sleep(2)
        master = psutil.Process(server.process.pid)
        idle = _pss_bytes(master)
        workers = len(_processes(master)) - 1
        cpu_before, started = _cpu_seconds(master), time.monotonic()
        for second in range(IDLE_SECONDS):  # the kubelet's probes and Prometheus' scrapes
            if second % 5 == 0:
                server.get(metric_names.ROUTE_READINESS)
            if second % 10 == 0:
                server.get(metric_names.ROUTE_HEALTHZ)
            if second % 15 == 0:
                server.get(metric_names.ROUTE_METRICS)
            time.sleep(1)
        idle_cores = (_cpu_seconds(master) - cpu_before) / (time.monotonic() - started)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = set(pool.map(lambda i: server.get(paths[i % 2]).status_code, range(2000)))
        loaded = _pss_bytes(master)
    assert statuses == {200}
    memory_allowed = max_idle_utilization(
        CONFIG.hpa_memory_target_percent, CONFIG.hpa_min_replicas, CONFIG.hpa_max_replicas
    )
    cpu_allowed = max_idle_utilization(
        CONFIG.hpa_cpu_target_percent, CONFIG.hpa_min_replicas, CONFIG.hpa_max_replicas
    )
    mib, request = 2**20, float(requests["memory"])
    print(  # docs/kubernetes.md's measurement comes from these lines (pytest -s)
        f"\nPSS master + {workers} workers: idle {idle / mib:.1f} MiB, after 2000 requests "
        f"{loaded / mib:.1f} MiB; request {request / mib:.0f} MiB -> idle may use "
        f"{request * memory_allowed / mib:.1f} MiB ({memory_allowed:.1%}); "
        f"limit {limit / mib:.0f} MiB\nidle CPU {idle_cores * 1000:.1f}m; request "
        f"{float(requests['cpu']) * 1000:.0f}m -> idle may use "
        f"{float(requests['cpu']) * cpu_allowed * 1000:.1f}m ({cpu_allowed:.1%})"
    )
    assert idle <= request * memory_allowed, "memory would keep the HPA above its minimum"
    assert idle_cores <= float(requests["cpu"]) * cpu_allowed, "CPU would keep the HPA up"
    assert loaded < limit, "a loaded pod would be OOM-killed"


# --- kube-prometheus-stack values -----------------------------------------------------------------


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        free_form = path in FREE_FORM_PATHS or str(key) in FREE_FORM_KEYS
        if isinstance(value, dict) and value and not free_form:
            paths.extend(_leaves(value, path))
        else:
            paths.append(path)
    return paths


def _has_path(tree: Any, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def unknown_value_keys(ours: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Paths set in ``ours`` that the chart's ``defaults`` do not have (free-form maps aside)."""
    return [
        path
        for path in _leaves(ours)
        if not _has_path(defaults, path) and path not in UNLISTED_CHART_KEYS
    ]


@pytest.fixture(scope="module")
def chart_defaults() -> dict[str, Any]:
    """kube-prometheus-stack 88.5.3's default values, Grafana's subchart defaults merged in."""
    schemas = require_schemas()
    defaults = yaml.safe_load((schemas / CHART_VALUES).read_text())
    grafana = yaml.safe_load((schemas / GRAFANA_SUBCHART_VALUES).read_text())

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
        return merged

    defaults["grafana"] = merge(grafana, defaults["grafana"])
    return defaults


def test_values_keys_exist_in_the_chart(chart_defaults):
    """Every key in monitoring/values.yaml is a key of the chart (a typo would be ignored)."""
    assert unknown_value_keys(values(), chart_defaults) == []
    for path in FREE_FORM_PATHS:
        assert _has_path(chart_defaults, path), f"free-form path {path} is not in the chart"


def test_values_key_check_catches_a_typo(chart_defaults):
    """A misspelled key is reported."""
    ours = values()
    ours["prometheus"]["prometheusSpec"]["retension"] = "30d"
    assert unknown_value_keys(ours, chart_defaults) == ["prometheus.prometheusSpec.retension"]


def test_values_tuned_for_eks():
    """The control-plane components EKS hides are off, with their rules."""
    ours = values()
    for component in ("kubeEtcd", "kubeScheduler", "kubeControllerManager"):
        assert ours[component]["enabled"] is False, component
    rules = ours["defaultRules"]["rules"]
    for group in ("etcd", "kubeControllerManager", "kubeSchedulerAlerting"):
        assert rules[group] is False, group


def test_prometheus_keeps_the_slo_window_on_gp3():
    """Retention covers the SLO period, on a PVC of this project's gp3 StorageClass."""
    spec = values()["prometheus"]["prometheusSpec"]
    assert duration_seconds(spec["retention"]) >= duration_seconds(CONFIG.slo_period)
    storage_class = yaml.safe_load(STORAGE_CLASS.read_text())
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == storage_class["metadata"]["name"]
    size = quantity(claim["resources"]["requests"]["storage"])
    retention_size = quantity(spec["retentionSize"].removesuffix("B"))
    assert retention_size < size, "retentionSize must leave room below the volume size"
    alertmanager = values()["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]
    assert alertmanager["spec"]["storageClassName"] == storage_class["metadata"]["name"]


def test_grafana_files_dashboards_into_their_folder():
    """The sidecar turns the dashboards' folder annotation into a Grafana folder."""
    dashboards = values()["grafana"]["sidecar"]["dashboards"]
    assert dashboards["folderAnnotation"] == CONFIG.dashboard_folder_annotation
    assert dashboards["provider"]["foldersFromFilesStructure"] is True


def test_grafana_password_comes_from_an_existing_secret():
    """Grafana's admin password is read from a Secret; no password is written in the values."""
    ours = values()
    assert ours["grafana"]["admin"]["existingSecret"]
    passwords = [
        path
        for path in _leaves(ours)
        if "password" in path.rsplit(".", 1)[-1].lower() and not path.endswith("passwordKey")
    ]
    assert passwords == []


def alertmanager_values_layer() -> dict[str, Any]:
    """monitoring/alertmanager-values.yaml (generated by `make alerts`), parsed."""
    return yaml.safe_load((ROOT / "monitoring" / "alertmanager-values.yaml").read_text())


def test_alertmanager_values_layer_is_the_routing():
    """The values layer carries exactly the committed routing (plus the templates and external
    URLs, tests/test_alertmanager.py); the Secret its *_file fields read is mounted by
    values.yaml."""
    from alerts import alertmanager

    layer = alertmanager_values_layer()
    assert layer["alertmanager"]["config"] == yaml.safe_load(alertmanager.render())
    assert "config" not in values()["alertmanager"]  # no second, diverging routing
    secrets = values()["alertmanager"]["alertmanagerSpec"]["secrets"]
    assert secrets == [CONFIG.alertmanager_secret_name]


def test_alertmanager_config_is_valid_for_amtool(tmp_path):
    """The Alertmanager config that `make monitoring` installs passes `amtool check-config`."""
    amtool = require_binary("amtool", hint="apt-get install prometheus-alertmanager")
    path = tmp_path / "alertmanager.yml"
    from alerts import alertmanager

    # The webhook heartbeat's url_file is read by the cluster's Alertmanager 0.34, not by 0.25.
    config = alertmanager.amtool_025_view(alertmanager_values_layer()["alertmanager"]["config"])
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- checkov -------------------------------------------------------------------------------------


def run_checkov(*args: str) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework) for ``args``, offline (--skip-download)."""
    result = subprocess.run(
        [checkov_binary(), *args, "--skip-download", "--output", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip(), f"checkov printed no report: {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def _failed(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_passes_on_k8s(tmp_path, objects):
    """checkov: 0 failed checks on k8s/ (its files and via kustomize) and the rendered output.

    (monitoring/storageclass-gp3.yaml is not scanned: checkov has no check for StorageClass.)
    """
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(objects))
    reports = run_checkov("--directory", "k8s", "--framework", "kubernetes", "kustomize")
    reports += run_checkov("--file", str(rendered), "--framework", "kubernetes")
    assert _failed(reports) == []
    assert all(report.get("summary", report)["passed"] > 0 for report in reports)


def test_checkov_skips_are_justified(objects):
    """Every checkov skip annotation names a check and gives a reason."""
    skips = [
        (obj["metadata"]["name"], key, value)
        for obj in objects
        for key, value in obj["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    ]
    for name, key, value in skips:
        check, _, reason = value.partition("=")
        assert re.fullmatch(r"CKV2?_K8S_\d+", check), f"{name} {key}: {value!r}"
        assert len(reason.split()) >= 5, f"{name} {key}: the skip of {check} needs a reason"


# --- zone spread (issue 16) -----------------------------------------------------------------------


def spread_placement(
    constraint: dict[str, Any], alive: list[str], lost: list[str], pods: int
) -> dict[str, int]:
    """Pods per alive zone after scheduling ``pods`` replicas one by one under ``constraint``.

    A model of the PodTopologySpread plugin for one zone constraint (Kubernetes docs, "Pod
    Topology Spread Constraints": skew = pods in the domain + 1 - global minimum; with fewer
    eligible domains than ``minDomains`` the global minimum is 0; ``nodeTaintsPolicy: Honor``
    drops nodes whose taints the pod does not tolerate, e.g. a lost zone's NotReady nodes, from
    the domains). ``DoNotSchedule`` filters zones; ``ScheduleAnyway`` only scores, so the pod
    goes to the emptiest alive zone. Every zone is assumed to have room (capacity is checked
    separately, tests/test_terraform.py). Returns {zone: pods}; the sum is what got scheduled.
    """
    honor = constraint.get("nodeTaintsPolicy", "Ignore") == "Honor"
    counts = {zone: 0 for zone in alive + ([] if honor else lost)}
    max_skew = constraint["maxSkew"]
    for _ in range(pods):
        candidates = alive
        if constraint["whenUnsatisfiable"] == "DoNotSchedule":
            too_few = len(counts) < constraint.get("minDomains", 1)
            global_min = 0 if too_few else min(counts.values())
            candidates = [z for z in alive if counts[z] + 1 - global_min <= max_skew]
        if not candidates:
            break
        counts[min(candidates, key=lambda z: (counts[z], z))] += 1
    return {zone: counts[zone] for zone in alive}


def _zone_constraint(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (zone,) = [
        c
        for c in pod_spec["topologySpreadConstraints"]
        if c["topologyKey"] == "topology.kubernetes.io/zone"
    ]
    return zone


def test_zone_spread_keeps_scheduling_with_a_zone_lost(objects, pod_spec):
    """With one of three zones gone, all HPA-max replicas schedule, spread evenly on the rest."""
    (hpa,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    wanted = hpa["spec"]["maxReplicas"]
    zone = _zone_constraint(pod_spec)
    placed = spread_placement(zone, ["us-east-1a", "us-east-1b"], ["us-east-1c"], wanted)
    assert sum(placed.values()) == wanted, placed
    assert max(placed.values()) - min(placed.values()) <= zone["maxSkew"], placed
    # All zones up: spread over the three.
    placed = spread_placement(zone, ["us-east-1a", "us-east-1b", "us-east-1c"], [], wanted)
    assert max(placed.values()) - min(placed.values()) <= zone["maxSkew"], placed


def test_spread_model_shows_the_rejected_settings():
    """The model reproduces why DoNotSchedule with minDomains 3 (or lost nodes counted) is out."""
    alive, lost = ["us-east-1a", "us-east-1b"], ["us-east-1c"]
    hard = {"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor"}
    assert sum(spread_placement({**hard, "minDomains": 3}, alive, lost, 10).values()) == 2
    lingering = {**hard, "nodeTaintsPolicy": "Ignore"}
    assert sum(spread_placement(lingering, alive, lost, 10).values()) == 2
    assert sum(spread_placement(hard, alive, lost, 10).values()) == 10


# --- AMP remote write values layer (issue 16) -------------------------------------------------

AMP_VALUES = ROOT / "monitoring" / "values-amp.yaml"


def _unknown_keys_free_below_empty(ours: Any, defaults: Any, prefix: str = "") -> list[str]:
    """Paths of ``ours`` missing from ``defaults``; an empty map or a list in the defaults is a
    free-form value (``externalLabels: {}``, ``remoteWrite: []``) and is not descended into."""
    if not isinstance(ours, dict):
        return []
    unknown = []
    for key, value in ours.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if not isinstance(defaults, dict) or key not in defaults:
            unknown.append(path)
        elif isinstance(defaults[key], dict) and defaults[key]:
            unknown.extend(_unknown_keys_free_below_empty(value, defaults[key], path))
    return unknown


def test_amp_values_keys_exist_in_the_chart(chart_defaults):
    """Every key of monitoring/values-amp.yaml is a kube-prometheus-stack 88.5.3 key."""
    amp = yaml.safe_load(AMP_VALUES.read_text())
    assert _unknown_keys_free_below_empty(amp, chart_defaults) == []
    typo = copy.deepcopy(amp)
    typo["prometheus"]["prometheusSpec"]["remoteWrites"] = typo["prometheus"]["prometheusSpec"]
    assert _unknown_keys_free_below_empty(typo, chart_defaults) == [
        "prometheus.prometheusSpec.remoteWrites"
    ]


def test_amp_values_match_terraform_and_the_operator():
    """Remote write uses SigV4 and the service account Terraform's Pod Identity role trusts."""
    amp = yaml.safe_load(AMP_VALUES.read_text())
    spec = amp["prometheus"]["prometheusSpec"]
    (remote,) = spec["remoteWrite"]
    assert remote["url"] == "AMP_REMOTE_WRITE_URL"
    assert set(remote["sigv4"]) == {"region"}, "credentials come from Pod Identity, not the file"
    # AMP's HA deduplication needs exactly these two labels.
    assert spec["replicaExternalLabelName"] == "__replica__"
    assert set(spec["externalLabels"]) == {"cluster"}

    variables = (ROOT / "terraform" / "variables.tf").read_text()
    block = re.search(r'variable "prometheus_service_account" \{(.*?)\n\}', variables, re.S)
    assert block, "terraform/variables.tf: prometheus_service_account is missing"
    default = dict(re.findall(r'(namespace|name)\s*=\s*"([^"]+)"', block.group(1)))
    assert default == {
        "namespace": CONFIG.monitoring_namespace,
        "name": f"{CONFIG.helm_release}-prometheus",
    }
    assert amp["prometheus"]["serviceAccount"]["name"] == default["name"]


def test_every_probe_states_its_timing(objects):
    """Every probe sets timeoutSeconds (never the 1 s default), periodSeconds and
    failureThreshold; liveness tolerates >= 20 s of silence before a restart (issue 12)."""
    container = app_container(objects)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = container[probe]
        assert {"timeoutSeconds", "periodSeconds", "failureThreshold"} <= spec.keys(), probe
        assert spec["timeoutSeconds"] >= 2, probe
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 20


# --- black-box probe (issue 18) -------------------------------------------------------------------
BLACKBOX_DIR = K8S_DIR / "blackbox-exporter"


@pytest.fixture(scope="module")
def blackbox_objects() -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize k8s/blackbox-exporter`` renders."""
    return render(BLACKBOX_DIR)


def test_probe_matches_the_monitoring_config(objects, blackbox_objects):
    """The Probe's job, interval, module and target are what the outage alerts select on, and
    its prober is the exporter's Service; Prometheus selects it by the release label."""
    probe = one(objects, "Probe")
    spec = probe["spec"]
    assert probe["metadata"]["labels"]["release"] == CONFIG.helm_release
    assert probe["metadata"]["namespace"] == CONFIG.namespace  # the series' namespace label
    assert spec["jobName"] == CONFIG.probe_job
    assert spec["interval"] == CONFIG.probe_interval
    assert spec["module"] == CONFIG.blackbox_module
    service = one(objects, "Service")
    (target,) = spec["targets"]["staticConfig"]["static"]
    assert (
        target == f"http://{service['metadata']['name']}.{CONFIG.namespace}.svc{CONFIG.probe_path}"
    )
    assert CONFIG.probe_path in (metric_names.ROUTE_READINESS, metric_names.ROUTE_HEALTHZ)
    exporter = one(blackbox_objects, "Service")
    port = exporter["spec"]["ports"][0]["port"]
    name, namespace = exporter["metadata"]["name"], exporter["metadata"]["namespace"]
    assert spec["prober"]["url"] == f"{name}.{namespace}.svc:{port}"
    config = yaml.safe_load(one(blackbox_objects, "ConfigMap")["data"]["blackbox.yml"])
    assert CONFIG.blackbox_module in config["modules"]
    assert duration_seconds(spec["scrapeTimeout"]) < duration_seconds(spec["interval"])


def test_blackbox_exporter_objects_are_valid_and_restricted(blackbox_objects):
    """kubernetes-validate (strict) accepts them; the pod meets the restricted standard; the
    image is pinned to a release tag."""
    for obj in blackbox_objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    pod = one(blackbox_objects, "Deployment")["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    (container,) = pod["containers"]
    assert re.fullmatch(r"quay\.io/prometheus/blackbox-exporter:v\d+\.\d+\.\d+", container["image"])
    assert {o["metadata"]["namespace"] for o in blackbox_objects} == {CONFIG.monitoring_namespace}


def test_network_policy_admits_the_blackbox_exporter(objects, blackbox_objects):
    """The app's ingress admits the exporter's pods from the monitoring namespace."""
    pod_labels = one(blackbox_objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    (ingress,) = one(objects, "NetworkPolicy")["spec"]["ingress"]
    admitted = False
    for peer in ingress["from"]:
        ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
        if ns.get("kubernetes.io/metadata.name") != CONFIG.monitoring_namespace:
            continue
        for expr in peer["podSelector"].get("matchExpressions", []):
            if expr["operator"] == "In" and pod_labels.get(expr["key"]) in expr["values"]:
                admitted = True
    assert admitted
