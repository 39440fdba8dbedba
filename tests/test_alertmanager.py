"""The Alertmanager configuration: valid for amtool, routes every app and chart alert, no
secrets; templates and external URLs in the values layer. Inhibition and notifications run
through a real Alertmanager in tests/e2e/test_notifications.py."""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from alerts import alertmanager
from alerts.common import alert_prefix
from alerts.generate import build_rule_groups
from monitoring.config import CONFIG, ExternalUrls, duration_seconds
from tests.conftest import require_binary, require_schemas

HINT = "apt-get install prometheus-alertmanager"
SECRET_KEYS = ("routing_key", "service_key", "api_url", "api_key", "password", "credentials")
"""Fields that would carry a credential inline; only their ``*_file`` variants are allowed."""


def amtool() -> str:
    return require_binary("amtool", hint=HINT)


def write_config(tmp_path: Path, receivers: dict | None = None) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager.render(CONFIG, receivers))
    return path


def test_committed_config_equals_a_fresh_rendering():
    assert alertmanager.CONFIG_PATH.read_text() == alertmanager.render(CONFIG)


def amtool_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [amtool(), "check-config", str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("heartbeat", alertmanager.HEARTBEAT_RECEIVERS)
def test_amtool_check_config_passes_with_the_templates(tmp_path, heartbeat):
    """amtool 0.25 accepts the production configuration and parses every template file (the
    webhook heartbeat's url_file, Alertmanager >= 0.26, swapped by ``amtool_025_view``)."""
    config = dataclasses.replace(CONFIG, heartbeat_receiver=heartbeat)
    am = alertmanager.alertmanager_config(config, templates=alertmanager.local_templates())
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(alertmanager.amtool_025_view(am)))
    result = amtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(alertmanager.template_files())} templates" not in result.stdout  # one glob
    assert "1 templates" in result.stdout


def test_amtool_check_config_rejects_a_broken_template(tmp_path):
    """The check above can fail: a template with a syntax error is reported."""
    (tmp_path / "broken.tmpl").write_text('{{ define "x" }}{{ .Status ')
    am = alertmanager.alertmanager_config(templates=(str(tmp_path / "*.tmpl"),))
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(alertmanager.amtool_025_view(am)))
    assert amtool_check(path).returncode != 0


def test_the_025_view_changes_only_the_webhook_url_file():
    am = alertmanager.alertmanager_config()
    view = alertmanager.amtool_025_view(am)
    hb = next(r for r in view["receivers"] if r["name"] == alertmanager.DEADMANSSWITCH)
    original = next(r for r in am["receivers"] if r["name"] == alertmanager.DEADMANSSWITCH)
    assert "url_file" in original["webhook_configs"][0]
    assert hb["webhook_configs"][0] == {"url": ANY_URL, "send_resolved": False}
    others = [r for r in view["receivers"] if r["name"] != alertmanager.DEADMANSSWITCH]
    assert others == [r for r in am["receivers"] if r["name"] != alertmanager.DEADMANSSWITCH]
    assert {k: v for k, v in view.items() if k != "receivers"} == {
        k: v for k, v in am.items() if k != "receivers"
    }


class _AnyUrl:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("https://")


ANY_URL = _AnyUrl()


def test_local_webhook_variant_passes_amtool(tmp_path):
    """The local stack's webhook substitutes pass amtool too."""
    path = write_config(tmp_path, alertmanager.webhook_receivers("http://127.0.0.1:9099"))
    result = amtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- routing: every app alert, every chart alert that can carry the app's namespace -------------


@pytest.fixture(scope="module")
def committed_for_amtool(tmp_path_factory) -> Path:
    """The committed configuration as amtool 0.25 reads it (``amtool_025_view``)."""
    committed = yaml.safe_load(alertmanager.CONFIG_PATH.read_text())
    path = tmp_path_factory.mktemp("amtool") / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(alertmanager.amtool_025_view(committed)))
    return path


def amtool_route(config_file: Path, labels: dict[str, str]) -> list[str]:
    """The receivers `amtool config routes test` resolves for ``labels``."""
    result = subprocess.run(
        [
            amtool(),
            "config",
            "routes",
            "test",
            f"--config.file={config_file}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()


BY_SEVERITY = {
    "critical": alertmanager.PAGER,
    "warning": alertmanager.TICKET,
    "info": alertmanager.NULL,
}


def app_alerts() -> list[tuple[str, str]]:
    """(alertname, severity) of every generated app alert, once each."""
    alerts = {
        (rule["alert"], rule["labels"]["severity"])
        for group in build_rule_groups(CONFIG)
        for rule in group["rules"]
        if "alert" in rule
    }
    return sorted(alerts)


@pytest.mark.parametrize(("alertname", "severity"), app_alerts(), ids="-".join)
def test_every_app_alert_routes_by_its_severity(committed_for_amtool, alertname, severity):
    """Each generated alert (new ones included) reaches the receiver its severity names."""
    labels = {"alertname": alertname, "severity": severity, "namespace": CONFIG.namespace}
    assert amtool_route(committed_for_amtool, labels) == [BY_SEVERITY[severity]]


@pytest.mark.parametrize(
    "chart_alert", alertmanager.CHART_ALERTS, ids=[a.alertname for a in alertmanager.CHART_ALERTS]
)
def test_every_chart_alert_for_the_app_namespace_routes_on_purpose(
    committed_for_amtool, chart_alert
):
    """In the app's namespace each chart alert reaches its decided receiver; elsewhere the
    chart's severity decides (CPUThrottlingHigh of other namespaces stays silent)."""
    labels = {"alertname": chart_alert.alertname, "severity": chart_alert.severity}
    route = functools.partial(amtool_route, committed_for_amtool)
    assert route({**labels, "namespace": CONFIG.namespace}) == [chart_alert.receiver]
    assert route({**labels, "namespace": "other-team"}) == [BY_SEVERITY[chart_alert.severity]]


OTHER_ROUTES = [
    ({"alertname": "Watchdog", "severity": "none"}, alertmanager.DEADMANSSWITCH),
    ({"alertname": "InfoInhibitor", "severity": "none"}, alertmanager.NULL),
    ({"alertname": "NoSeverityLabel"}, alertmanager.TICKET),
    ({"alertname": "KubeNodeNotReady", "severity": "warning"}, alertmanager.TICKET),
    ({"alertname": "KubeAPIDown", "severity": "critical"}, alertmanager.PAGER),
]


@pytest.mark.parametrize(
    ("labels", "receiver"), OTHER_ROUTES, ids=[labels["alertname"] for labels, _ in OTHER_ROUTES]
)
def test_helper_and_cluster_alerts_route(committed_for_amtool, labels, receiver):
    labels = {**labels, "namespace": CONFIG.namespace}
    assert amtool_route(committed_for_amtool, labels) == [receiver]


def chart_default_alerts() -> list[dict]:
    path = require_schemas() / "kube-prometheus-stack-88.5.3" / "default-alerts.yaml"
    return yaml.safe_load(path.read_text())["alerts"]


# Chart alerts whose labels keep ``namespace`` although their expression does not filter on
# $targetNamespace (they aggregate by namespace or keep the pod's labels).
NAMESPACE_KEEPING = {
    "TargetDown",
    "CPUThrottlingHigh",
    "KubeQuotaAlmostFull",
    "KubeQuotaFullyUsed",
    "KubeQuotaExceeded",
}


def test_chart_alerts_list_every_alert_that_can_carry_the_app_namespace():
    """CHART_ALERTS names exactly the chart's namespace-filtered alerts plus those that keep
    the namespace label, each with the chart's severity."""
    chart = chart_default_alerts()
    concerned = {
        (a["alert"], a["severity"])
        for a in chart
        if "$targetNamespace" in a["expr"] or a["alert"] in NAMESPACE_KEEPING
    }
    decided = {(a.alertname, a.severity) for a in alertmanager.CHART_ALERTS}
    # PersistentVolume alerts exist at critical and warning; the warning goes by severity.
    by_severity_only = {
        (n, s) for n, s in concerned if (n, "critical") in decided and s != "critical"
    }
    assert decided | by_severity_only == concerned
    names = [a.alertname for a in alertmanager.CHART_ALERTS]
    assert len(names) == len(set(names))


def test_duplicates_name_existing_app_alerts_and_share_their_labels():
    """Each inhibition's source is a generated app alert, and its ``equal`` labels are labels
    both alerts carry (an inhibition over a missing label would never match)."""
    rules = {r["alert"]: r for g in build_rule_groups(CONFIG) for r in g["rules"] if "alert" in r}
    prefix = alert_prefix(CONFIG)
    for chart_alert in alertmanager.CHART_ALERTS:
        if not chart_alert.duplicate_of:
            continue
        source = rules[prefix + chart_alert.duplicate_of]
        for label in chart_alert.equal:
            assert re.search(rf"\b{label}\b", source["expr"]), (chart_alert.alertname, label)


def test_routes_group_by_alertname_and_namespace():
    route = alertmanager.alertmanager_config()["route"]
    assert route["group_by"] == ["alertname", "namespace"]


def test_warning_is_inhibited_by_critical_with_same_alertname_and_namespace():
    rules = alertmanager.alertmanager_config()["inhibit_rules"]
    assert rules[0] == {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertname", "namespace"],
    }
    # The last ones: the monitoring stack's (tests/test_monitoring_stack.py).
    stack = alertmanager.monitoring_stack_inhibitions()
    assert rules[-len(stack) :] == stack


def _walk(node: object, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


@pytest.mark.parametrize("heartbeat", alertmanager.HEARTBEAT_RECEIVERS)
def test_no_credentials_are_committed(heartbeat):
    """Secrets come from files of the mounted Secret, never inline."""
    config = dataclasses.replace(CONFIG, heartbeat_receiver=heartbeat)
    rendered = yaml.safe_load(alertmanager.render(config))
    if heartbeat == CONFIG.heartbeat_receiver:
        assert rendered == yaml.safe_load(alertmanager.CONFIG_PATH.read_text())
    secret_dir = f"{alertmanager.SECRET_MOUNT_DIR}/{CONFIG.alertmanager_secret_name}/"
    files = []
    for where, key, value in _walk(rendered):
        assert key not in SECRET_KEYS, f"inline credential at {where}"
        if key.endswith("_file"):
            files.append(value.removeprefix(secret_dir))
            assert value.startswith(secret_dir), f"{where} reads {value} outside the Secret"
    receivers = {r["name"] for r in rendered["receivers"]}
    assert receivers == set(alertmanager.RECEIVERS)
    # Slack is read by the pager and the ticket receiver.
    assert set(files) == set(alertmanager.secret_keys(config))


def test_heartbeat_choice_selects_the_receiver():
    """webhook: the ping URL from the Secret; opsgenie: the heartbeat API with the GenieKey."""
    webhook = alertmanager.default_receivers(CONFIG)[alertmanager.DEADMANSSWITCH]
    assert webhook["webhook_configs"][0]["url_file"].endswith("/heartbeat-url")
    config = dataclasses.replace(CONFIG, heartbeat_receiver="opsgenie")
    opsgenie = alertmanager.default_receivers(config)[alertmanager.DEADMANSSWITCH]
    (body,) = opsgenie["webhook_configs"]
    assert body["url"] == "https://api.opsgenie.com/v2/heartbeats/demo-app-watchdog/ping"
    assert body["http_config"]["authorization"]["type"] == "GenieKey"
    with pytest.raises(ValueError, match="heartbeat_receiver must be one of"):
        alertmanager.default_receivers(dataclasses.replace(CONFIG, heartbeat_receiver="sms"))


def test_pagerduty_severity_and_links_come_from_the_templates():
    (pd,) = alertmanager.default_receivers(CONFIG)[alertmanager.PAGER]["pagerduty_configs"]
    assert pd["severity"] == '{{ template "notify.pagerduty.severity" . }}'
    assert [link["text"] for link in pd["links"]] == [
        "Runbook",
        "Dashboard",
        "Silence this group",
        "Source (Prometheus)",
    ]


# --- values layer, templates, external URLs ----------------------------------------------------


def test_values_layer_carries_templates_and_external_urls():
    layer = yaml.safe_load(alertmanager.VALUES_PATH.read_text())
    assert layer == yaml.safe_load(alertmanager.render_values(CONFIG))
    am = layer["alertmanager"]
    assert am["config"] == yaml.safe_load(alertmanager.render(CONFIG))
    assert am["config"]["templates"] == [alertmanager.CLUSTER_TEMPLATES]
    files = {p.name: p.read_text() for p in alertmanager.TEMPLATES_DIR.glob("*.tmpl")}
    assert am["templateFiles"] == files
    assert {"common.tmpl", "slack.tmpl", "pagerduty.tmpl", "email.tmpl"} <= set(files)
    urls = CONFIG.external_urls
    assert am["alertmanagerSpec"]["externalUrl"] == urls.alertmanager
    assert layer["prometheus"]["prometheusSpec"]["externalUrl"] == urls.prometheus
    assert layer["grafana"]["grafana.ini"]["server"]["root_url"] == urls.grafana


def _paths(tree: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value and path not in LAYER_FREE_FORM:
            out += _paths(value, path)
        else:
            out.append(path)
    return out


LAYER_FREE_FORM = {
    ("alertmanager", "config"): "Alertmanager's configuration file",
    ("alertmanager", "templateFiles"): "file name -> template text",
    # grafana.ini is converted to ini as it is; root_url is documented there (commented out).
    ("grafana", "grafana.ini", "server"): "Grafana's [server] section",
}


def test_values_layer_keys_exist_in_the_chart():
    """Every key the layer sets is a key of kube-prometheus-stack 88.5.3 (or of its Grafana
    subchart), free-form maps aside; a typo would be ignored by Helm."""
    schemas = require_schemas() / "kube-prometheus-stack-88.5.3"
    chart = yaml.safe_load((schemas / "values.yaml").read_text())
    chart["grafana"].update(
        yaml.safe_load((schemas / "grafana-subchart-12.11.1-values.yaml").read_text())
    )

    def known(path: tuple[str, ...]) -> bool:
        node = chart
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    layer = alertmanager.values_layer(CONFIG)
    assert [p for p in _paths(layer) if not known(p)] == []
    assert all(known(p) for p in LAYER_FREE_FORM)
    assert "root_url" in (schemas / "grafana-subchart-12.11.1-values.yaml").read_text()


def test_every_alert_links_to_its_dashboard():
    """dashboard_url: the SLO alerts link to the SLO dashboard, the others to the overview,
    under Grafana's external URL."""
    for group in build_rule_groups(CONFIG):
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            name = "slo" if "ErrorBudgetBurn" in rule["alert"] else "overview"
            expected = f"{CONFIG.external_urls.grafana}/d/{CONFIG.dashboard_uids[name]}"
            assert rule["annotations"]["dashboard_url"] == expected, rule["alert"]


@pytest.mark.parametrize(
    "url",
    ["grafana.example.com", "https://grafana.example.com/", "ftp://x", "https://x?a=1", "https://"],
)
def test_external_urls_reject_a_bad_url(url):
    with pytest.raises(ValueError, match=r"external_urls\.grafana"):
        ExternalUrls(grafana=url)


def test_external_url_with_a_path_is_accepted():
    assert ExternalUrls(grafana="https://example.com/grafana").dashboard("x") == (
        "https://example.com/grafana/d/x"
    )


def test_dead_mans_switch_repeats_on_every_group_interval_tick():
    """The Watchdog route's repeat_interval is below its group_interval: equal values send only
    every second tick, as the notification log's timestamp lands just after the tick."""
    route = next(
        r
        for r in alertmanager.alertmanager_config()["route"]["routes"]
        if r["receiver"] == alertmanager.DEADMANSSWITCH
    )
    assert route["group_interval"] == "1m"  # docs/alerts.md: "pinged every minute"
    repeat, tick = (duration_seconds(route[k]) for k in ("repeat_interval", "group_interval"))
    assert repeat < tick


def test_dead_mans_switch_is_a_real_receiver():
    """Watchdog goes to a webhook (heartbeat), not to a null sink."""
    receiver = next(
        r for r in alertmanager.alertmanager_config()["receivers"] if r["name"] == "deadmansswitch"
    )
    assert receiver["webhook_configs"][0]["url_file"].startswith(alertmanager.SECRET_MOUNT_DIR)


def test_receivers_must_be_complete():
    with pytest.raises(ValueError, match=r"missing \['deadmansswitch'\]"):
        alertmanager.alertmanager_config(
            CONFIG, {k: {} for k in alertmanager.RECEIVERS if k != "deadmansswitch"}
        )


def test_webhook_receivers_reject_a_non_http_url():
    with pytest.raises(ValueError, match="must start with http"):
        alertmanager.webhook_receivers("localhost:9099")


def test_docs_table_of_chart_alerts_is_current():
    """docs/notifications.md shows exactly ``chart_alerts_table()``."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "notifications.md").read_text()
    assert alertmanager.chart_alerts_table(CONFIG) in docs


def test_main_prints_the_025_view_or_refuses_unknown_arguments(capsys):
    assert alertmanager.main(["--amtool-025"]) == 0
    view = yaml.safe_load(capsys.readouterr().out)
    webhooks = [w for r in view["receivers"] for w in r.get("webhook_configs", [])]
    assert webhooks
    assert all("url_file" not in w for w in webhooks)
    assert view["templates"] == list(alertmanager.local_templates())
    assert alertmanager.main(["--bogus"]) == 2


def test_the_issues_duplicates_are_inhibited_by_the_app_alerts():
    """The pairs named in issue 14: the app's alert replaces the chart's in its namespace."""
    prefix = alert_prefix(CONFIG)
    inhibited = {
        (r["target_matchers"][0], r["source_matchers"][0])
        for r in alertmanager.inhibit_rules(CONFIG)[1:]
    }
    assert ('alertname="KubeHpaMaxedOut"', f'alertname="{prefix}HpaSaturated"') in inhibited
    assert (
        'alertname="KubePodCrashLooping"',
        f'alertname="{prefix}RestartingRepeatedly"',
    ) in inhibited
