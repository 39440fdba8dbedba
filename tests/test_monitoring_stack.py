"""The monitoring stack's production readiness (issue 17): requests, priority, HA, least privilege.

Reads the committed ``monitoring/values.yaml`` (kube-prometheus-stack), the objects
``monitoring/prerequisites/`` and ``k8s/`` render with the real ``kubectl kustomize``, the
Cluster Autoscaler values, and the chart's default rules; the routing's inhibitions are applied
by a real Alertmanager. Key-by-key checks of the values against the chart's defaults are in
tests/test_k8s.py; the clustered Alertmanagers in tests/e2e/test_alertmanager_mesh.py.
"""

from __future__ import annotations

import copy
import subprocess
import time
from typing import Any

import kubernetes_validate
import pytest
import requests
import yaml

from alerts import alertmanager, monitoring_stack
from local.setup import free_port
from monitoring.config import CONFIG
from tests.conftest import ROOT, require_binary, require_schemas
from tests.support.manifests import KUBERNETES_VERSION, make_variable, quantity, render, values

PREREQUISITES = ROOT / "monitoring" / "prerequisites"
CLUSTER_AUTOSCALER_VALUES = ROOT / "monitoring" / "cluster-autoscaler-values.yaml"
pytestmark = pytest.mark.manifests

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"

# Every pod-running component of the chart: its values path, and the PriorityClass it must name.
PODS = {
    "prometheus.prometheusSpec": CONFIG.monitoring_priority_class,
    "alertmanager.alertmanagerSpec": CONFIG.monitoring_priority_class,
    "grafana": CONFIG.monitoring_priority_class,
    "prometheusOperator": CONFIG.monitoring_priority_class,
    "kube-state-metrics": CONFIG.monitoring_priority_class,
    "prometheus-node-exporter": CONFIG.monitoring_priority_class,
    "prometheusOperator.admissionWebhooks.patch": CONFIG.batch_priority_class,
}
# Containers beside them, sized on their own: Grafana's sidecars, the operator's config reloader.
SIDECARS = ("grafana.sidecar", "prometheusOperator.prometheusConfigReloader")


def _at(tree: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


@pytest.fixture(scope="module")
def prerequisites() -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize monitoring/prerequisites`` renders."""
    return render(PREREQUISITES)


@pytest.fixture(scope="module")
def app_objects() -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize k8s/`` renders."""
    return render()


def priority_classes(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{name: PriorityClass}`` among ``objects``."""
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "PriorityClass"}


# --- requests, limits, priority -------------------------------------------------------------------


def resource_problems(ours: dict[str, Any]) -> list[str]:
    """Components of ``ours`` (values) lacking CPU and memory requests or a memory limit >= the
    request, or naming no (or the wrong) PriorityClass; one line each."""
    problems = []
    for path in (*PODS, *SIDECARS):
        try:
            resources = _at(ours, path)["resources"]
            requests_, limits = resources["requests"], resources["limits"]
            if not (quantity(requests_["cpu"]) > 0 and quantity(requests_["memory"]) > 0):
                problems.append(f"{path}: zero requests")
            if quantity(limits["memory"]) < quantity(requests_["memory"]):
                problems.append(f"{path}: memory limit below the request")
        except KeyError as missing:
            problems.append(f"{path}: no resources {missing}")
    for path, expected in PODS.items():
        got = _at(ours, path).get("priorityClassName")
        if got != expected:
            problems.append(f"{path}: priorityClassName {got!r}, expected {expected!r}")
    return problems


def test_every_monitoring_component_has_requests_limits_and_priority():
    """Prometheus, Alertmanager, Grafana and its sidecars, the operator and its reloader,
    kube-state-metrics, node-exporter, the webhook Job: requests, memory limit, PriorityClass."""
    assert resource_problems(values()) == []


def test_resource_check_reports_a_missing_request_and_priority():
    """The check fails on a component without requests or priority (it can fail)."""
    ours = values()
    del ours["grafana"]["sidecar"]["resources"]["requests"]
    del ours["kube-state-metrics"]["priorityClassName"]
    assert resource_problems(ours) == [
        "grafana.sidecar: no resources 'requests'",
        "kube-state-metrics: priorityClassName None, expected 'monitoring'",
    ]


def test_config_reloader_sets_all_four_figures():
    """The operator passes the reloader's requests and limits as flags: all four are set."""
    reloader = values()["prometheusOperator"]["prometheusConfigReloader"]["resources"]
    for kind in ("requests", "limits"):
        assert set(reloader[kind]) == {"cpu", "memory"}, kind


def test_priority_classes_rank_monitoring_over_the_app_over_batch(prerequisites, app_objects):
    """monitoring > service > batch, all user classes (< 1e9), none a global default; batch
    preempts nothing; the app's Deployment names the service class; each object is valid."""
    classes = priority_classes(prerequisites)
    names = (
        CONFIG.monitoring_priority_class,
        CONFIG.app_priority_class,
        CONFIG.batch_priority_class,
    )
    assert set(classes) == set(names)
    ranked = [classes[name]["value"] for name in names]
    assert ranked == sorted(ranked, reverse=True) and len(set(ranked)) == 3
    assert all(0 < value < 10**9 for value in ranked)
    assert not any(c.get("globalDefault") for c in classes.values())
    assert classes[CONFIG.batch_priority_class]["preemptionPolicy"] == "Never"
    pod = next(o for o in app_objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == CONFIG.app_priority_class
    for obj in prerequisites:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_cluster_autoscaler_has_requests_and_the_system_priority():
    """Cluster Autoscaler's values file: requests, a memory limit, system-cluster-critical; the
    Makefile installs the chart with it."""
    ours = yaml.safe_load(CLUSTER_AUTOSCALER_VALUES.read_text())
    assert ours["priorityClassName"] == "system-cluster-critical"
    assert quantity(ours["resources"]["requests"]["cpu"]) > 0
    assert quantity(ours["resources"]["limits"]["memory"]) >= quantity(
        ours["resources"]["requests"]["memory"]
    )
    assert make_variable("CLUSTER_AUTOSCALER_VALUES") == "monitoring/cluster-autoscaler-values.yaml"
    recipe = (ROOT / "Makefile").read_text().split("\nmonitoring:", 1)[1].split("\n\n", 1)[0]
    assert "--values $(CLUSTER_AUTOSCALER_VALUES)" in recipe
    assert "kubectl apply --server-side -k $(MONITORING_PREREQUISITES)" in recipe
    assert make_variable("MONITORING_PREREQUISITES") == "monitoring/prerequisites"


# --- HA -------------------------------------------------------------------------------------------


def test_prometheus_runs_two_replicas_in_two_zones_with_their_own_volumes():
    """2 replicas, required anti-affinity across zones, a PVC template (one volume each), a PDB
    letting one go at a time, and Grafana's Service pinned to one replica per client."""
    prometheus = values()["prometheus"]
    spec = prometheus["prometheusSpec"]
    assert spec["replicas"] == CONFIG.prometheus_replicas >= 2
    assert (spec["podAntiAffinity"], spec["podAntiAffinityTopologyKey"]) == ("hard", ZONE)
    assert "volumeClaimTemplate" in spec["storageSpec"]
    assert "emptyDir" not in spec["storageSpec"]
    pdb = prometheus["podDisruptionBudget"]
    assert pdb["enabled"] is True and pdb["minAvailable"] == CONFIG.prometheus_replicas - 1
    assert prometheus["service"]["sessionAffinity"] == "ClientIP"


def test_alertmanager_runs_a_mesh_of_three_spread_across_zones():
    """3 replicas spread by zone (maxSkew 1, hard) over the operator's pod labels, preferably one
    per node, their own volumes, and a PDB keeping a majority through a drain."""
    am = values()["alertmanager"]
    spec = am["alertmanagerSpec"]
    assert spec["replicas"] == CONFIG.alertmanager_replicas == 3
    (spread,) = spec["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["maxSkew"], spread["whenUnsatisfiable"]) == (
        ZONE,
        1,
        "DoNotSchedule",
    )
    # The labels the operator puts on the Alertmanager pods of the chart's Alertmanager object.
    assert spread["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "alertmanager",
        "alertmanager": CONFIG.alertmanager_job,
    }
    assert (spec["podAntiAffinity"], spec["podAntiAffinityTopologyKey"]) == ("soft", HOSTNAME)
    assert "volumeClaimTemplate" in spec["storage"]
    pdb = am["podDisruptionBudget"]
    assert pdb["enabled"] is True
    assert CONFIG.alertmanager_replicas // 2 < pdb["minAvailable"] < CONFIG.alertmanager_replicas


# --- least privilege ------------------------------------------------------------------------------


def rbac_problems(ours: dict[str, Any], objects: list[dict[str, Any]]) -> list[str]:
    """What lets Grafana's sidecars read more than ConfigMaps of the namespaces they search.

    ``ours``: the values; ``objects``: every RBAC object applied beside the chart (the
    prerequisites and k8s/). One line per problem.
    """
    grafana = ours["grafana"]
    problems = []
    if grafana.get("rbac", {}).get("create", True):
        problems.append("grafana.rbac.create is on: the chart's Role/ClusterRole reads Secrets")
    sidecar = grafana["sidecar"]
    for name in ("dashboards", "datasources"):
        if sidecar.get(name, {}).get("resource") != "configmap":
            problems.append(f"grafana.sidecar.{name}.resource is not configmap")
    searched = sidecar["dashboards"].get("searchNamespace")
    if not isinstance(searched, list) or "ALL" in searched:
        problems.append(f"the dashboard sidecar searches {searched!r}, not a list of namespaces")
        searched = []
    account = {
        "kind": "ServiceAccount",
        "name": grafana["serviceAccount"]["name"],
        "namespace": CONFIG.monitoring_namespace,
    }
    for obj in objects:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: cluster-wide")
    roles = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "Role"
    }
    for namespace in searched:
        bound = [
            o
            for o in objects
            if o["kind"] == "RoleBinding"
            and o["metadata"]["namespace"] == namespace
            and account in o["subjects"]
        ]
        if not bound:
            problems.append(f"{namespace}: no RoleBinding for Grafana's ServiceAccount")
        for binding in bound:
            role = roles.get((namespace, binding["roleRef"]["name"]))
            if role is None or binding["roleRef"]["kind"] != "Role":
                problems.append(f"{namespace}: binding {binding['metadata']['name']} not to a Role")
                continue
            for rule in role["rules"]:
                if rule.get("resources") != ["configmaps"] or rule.get("apiGroups") != [""]:
                    problems.append(f"{namespace}: Role grants {rule.get('resources')}")
                if set(rule.get("verbs", [])) - {"get", "list", "watch"}:
                    problems.append(f"{namespace}: Role allows {rule['verbs']}")
    return problems


def test_grafana_sidecars_read_configmaps_only_in_the_dashboard_namespaces(
    prerequisites, app_objects
):
    """No Secret read, no cluster-wide search: read-only ConfigMap Roles in the monitoring and
    the app's namespace, bound to Grafana's ServiceAccount, and the sidecars search just those."""
    ours = values()
    searched = ours["grafana"]["sidecar"]["dashboards"]["searchNamespace"]
    assert searched == [CONFIG.monitoring_namespace, CONFIG.namespace]
    assert ours["grafana"]["serviceAccount"]["name"] == CONFIG.grafana_service_account
    dashboards = [o for o in app_objects if o["kind"] == "ConfigMap" and "dashboard" in str(o)]
    assert {o["metadata"]["namespace"] for o in dashboards} <= set(searched)
    assert rbac_problems(ours, prerequisites + app_objects) == []


def test_rbac_check_reports_secrets_cluster_roles_and_all_namespaces(prerequisites, app_objects):
    """The check fails on a Secret grant, a ClusterRole, an ALL search and a missing binding."""
    ours = values()
    ours["grafana"]["sidecar"]["dashboards"]["searchNamespace"] = "ALL"
    objects = copy.deepcopy(prerequisites + app_objects)
    role = next(o for o in objects if o["kind"] == "Role")
    role["rules"][0]["resources"].append("secrets")
    objects.append({"kind": "ClusterRole", "metadata": {"name": "grafana"}, "rules": []})
    problems = rbac_problems(ours, objects)
    assert "the dashboard sidecar searches 'ALL', not a list of namespaces" in problems
    assert "ClusterRole/grafana: cluster-wide" in problems
    ours = values()
    assert any("Role grants ['configmaps', 'secrets']" in p for p in rbac_problems(ours, objects))
    without_bindings = [o for o in prerequisites + app_objects if o["kind"] != "RoleBinding"]
    assert f"{CONFIG.namespace}: no RoleBinding for Grafana's ServiceAccount" in rbac_problems(
        ours, without_bindings
    )


# --- watching the watchers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart_alerts() -> dict[str, dict[str, Any]]:
    """kube-prometheus-stack 88.5.3's default alerting rules by name."""
    path = require_schemas() / "kube-prometheus-stack-88.5.3" / "default-alerts.yaml"
    return {a["alert"]: a for a in yaml.safe_load(path.read_text())["alerts"]}


def test_replica_alerts_double_no_chart_alert_and_route_as_tickets(chart_alerts):
    """The new alerts' names are not the chart's; they are warnings (the ticket route); the
    chart's rules they lean on exist, and the mesh-inconsistency one is turned into a ticket."""
    rules = monitoring_stack.rules(CONFIG)
    assert {r["alert"] for r in rules} == set(monitoring_stack.REPLICA_ALERTS)
    assert not set(monitoring_stack.REPLICA_ALERTS) & set(chart_alerts)
    assert {r["labels"]["severity"] for r in rules} == {"warning"}
    for name in ("AlertmanagerClusterDown", "AlertmanagerClusterFailedPeers", "TargetDown"):
        assert name in chart_alerts, name
    assert chart_alerts["AlertmanagerClusterFailedPeers"]["severity"] == "warning"
    assert chart_alerts["AlertmanagerMembersInconsistent"]["severity"] == "critical"
    assert values()["customRules"] == {"AlertmanagerMembersInconsistent": {"severity": "warning"}}
    for rule in alertmanager.monitoring_stack_inhibitions():
        for matcher in rule["target_matchers"] + rule["source_matchers"]:
            named = matcher.split('"')[1].split("|")
            assert set(named) <= set(chart_alerts) | set(monitoring_stack.REPLICA_ALERTS), named


@pytest.mark.e2e
def test_real_alertmanager_inhibits_the_charts_alerts_about_the_same_replicas(tmp_path):
    """A real Alertmanager with the committed routing: a replica-down ticket suppresses TargetDown
    and KubeStatefulSetReplicasMismatch for its job/StatefulSet only; AlertmanagerClusterDown
    suppresses AlertmanagerReplicaDown."""
    hint = "apt-get install prometheus-alertmanager"
    binary = require_binary("prometheus-alertmanager", "/usr/bin/alertmanager", hint=hint)
    config = tmp_path / "alertmanager.yml"
    receivers = alertmanager.webhook_receivers("http://127.0.0.1:9")
    config.write_text(alertmanager.render(CONFIG, receivers))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ns, p_job, a_job = CONFIG.monitoring_namespace, CONFIG.prometheus_job, CONFIG.alertmanager_job
    p_sts, a_sts = CONFIG.prometheus_statefulset, CONFIG.alertmanager_statefulset

    def labels(alertname: str, severity: str = "warning", **extra: str) -> dict:
        return {"labels": {"alertname": alertname, "namespace": ns, "severity": severity, **extra}}

    posted = {
        "prom-replica": labels("PrometheusReplicaDown", job=p_job, statefulset=p_sts),
        "prom-target": labels("TargetDown", job=p_job, service=p_job),
        "grafana-target": labels("TargetDown", job="kube-prometheus-stack-grafana"),
        "prom-sts": labels("KubeStatefulSetReplicasMismatch", statefulset=p_sts),
        "am-sts": labels("KubeStatefulSetReplicasMismatch", statefulset=a_sts),
        "am-cluster": labels("AlertmanagerClusterDown", "critical", service=a_job),
        "am-replica": labels("AlertmanagerReplicaDown", job=a_job, statefulset=a_sts),
    }
    expected = {
        "prom-replica": "active",
        "prom-target": "suppressed",
        "grafana-target": "active",
        "prom-sts": "suppressed",
        # AlertmanagerReplicaDown is itself suppressed, yet it still inhibits (Alertmanager
        # evaluates inhibitions on firing sources, suppressed or not).
        "am-sts": "suppressed",
        "am-cluster": "active",
        "am-replica": "suppressed",
    }
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"{base}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("alertmanager did not become ready")
            time.sleep(0.1)
        body = list(posted.values())
        requests.post(f"{base}/api/v2/alerts", json=body, timeout=5).raise_for_status()
        key = {yaml.safe_dump(a["labels"], sort_keys=True): name for name, a in posted.items()}
        state: dict[str, str] = {}
        deadline = time.monotonic() + 10
        while state != expected and time.monotonic() < deadline:
            time.sleep(0.2)
            got = requests.get(f"{base}/api/v2/alerts", timeout=5).json()
            state = {
                key[yaml.safe_dump(a["labels"], sort_keys=True)]: a["status"]["state"] for a in got
            }
        assert state == expected
    finally:
        process.terminate()
        process.wait(timeout=10)
