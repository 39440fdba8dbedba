"""The local stack's generated files, ports and webhook receiver (no child processes)."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
from pathlib import Path

import pytest
import requests
import yaml

from alerts import alertmanager
from dashboards.generate import JSON_DIR
from local.processes import Binaries, WebhookReceiver, busy_ports
from local.setup import (
    CLUSTER_BLACKBOX_CONFIG,
    PORT_ENV,
    Ports,
    StackError,
    alertmanager_local_config,
    blackbox_config,
    free_port,
    grafana_dashboard_files,
    grafana_dashboard_provider,
    grafana_datasources,
    local_pod_name,
    probe_target,
    prometheus_config,
    with_local_urls,
)
from local.stack import LocalStack
from monitoring import kubernetes_series
from monitoring.config import CONFIG, local_config

PORTS = Ports(app=15000, prometheus=19090, alertmanager=19093, webhook=15001, grafana=13000)
NO_BINARIES = Binaries(
    prometheus=None,
    promtool=None,
    alertmanager=None,
    amtool=None,
    grafana=None,
    blackbox_exporter=None,
)


def test_scrape_job_carries_the_servicemonitor_labels():
    """job = the Service name, plus namespace, pod and service as target labels."""
    config = local_config()
    prom = prometheus_config(config, PORTS, Path("/state/rules.yml"))
    job, kube_state, _probe = prom["scrape_configs"]
    assert job["job_name"] == config.job
    (target,) = job["static_configs"]
    assert target["targets"] == ["127.0.0.1:15000"]
    assert target["labels"] == {
        "namespace": config.namespace,
        "pod": local_pod_name(config),
        "service": config.job,
    }
    # the simulated kube-state-metrics, scraped as kube-prometheus-stack scrapes the real one
    assert kube_state["job_name"] == config.kube_state_metrics_job
    assert kube_state["honor_labels"] is True
    assert kube_state["static_configs"] == [{"targets": ["127.0.0.1:8080"]}]
    assert prom["global"]["scrape_interval"] == config.scrape_interval
    assert prom["rule_files"] == ["/state/rules.yml"]
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:19093"
    ]


def test_the_probe_job_asks_the_blackbox_exporter_to_get_the_apps_probe_path():
    """The Probe CRD's rendering: target = the probed URL, moved into ?target= and instance; the
    scrape goes to the exporter's /probe?module=...; job and namespace as the alerts select."""
    config = local_config()
    ports = dataclasses.replace(PORTS, blackbox=19115)
    *_, probe = prometheus_config(config, ports, Path("r.yml"))["scrape_configs"]
    assert probe["job_name"] == config.probe_job
    assert probe["scrape_interval"] == config.probe_interval == "5s"
    assert (probe["metrics_path"], probe["params"]) == ("/probe", {"module": ["http_2xx"]})
    (target,) = probe["static_configs"]
    assert target == {
        "targets": [f"http://127.0.0.1:15000{config.probe_path}"],
        "labels": {"namespace": config.namespace},
    }
    assert target["targets"] == [probe_target(config, ports)]
    assert probe["relabel_configs"] == [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": "127.0.0.1:19115"},
    ]
    names = [
        j["job_name"]
        for j in prometheus_config(config, ports, Path("r"), probing=False)["scrape_configs"]
    ]
    assert config.probe_job not in names


def test_the_local_blackbox_exporter_loads_the_clusters_module(tmp_path):
    config = local_config()
    local = blackbox_config(config)
    cluster = yaml.safe_load(CLUSTER_BLACKBOX_CONFIG.read_text())
    assert local == {"modules": {"http_2xx": cluster["modules"]["http_2xx"]}}
    with pytest.raises(StackError, match="no module 'tcp_connect'"):
        blackbox_config(dataclasses.replace(config, blackbox_module="tcp_connect"))
    broken = tmp_path / "blackbox.yml"
    broken.write_text("modules: [")
    with pytest.raises(StackError, match="blackbox exporter config"):
        blackbox_config(config, broken)


def test_without_alertmanager_prometheus_sends_no_alerts():
    assert "alerting" not in prometheus_config(CONFIG, PORTS, Path("r.yml"), alerting=False)


def test_alertmanager_keeps_the_project_routing_with_every_receiver_a_local_webhook():
    """Same tree and inhibitions as on Kubernetes; receivers post to /<name>; no secrets."""
    local = alertmanager_local_config(local_config(), PORTS)
    production = alertmanager.alertmanager_config(CONFIG)

    def tree(route: dict) -> list:
        return [(r["receiver"], r["matchers"]) for r in route["routes"]]

    assert tree(local["route"]) == tree(production["route"])
    assert local["route"]["receiver"] == production["route"]["receiver"]
    assert local["inhibit_rules"] == production["inhibit_rules"]
    receivers = {r["name"]: r for r in local["receivers"]}
    assert set(receivers) == set(alertmanager.RECEIVERS)
    for name, receiver in receivers.items():
        if name == alertmanager.NULL:
            assert set(receiver) == {"name"}
            continue
        assert set(receiver) == {"name", "webhook_configs"}
        assert [c["url"] for c in receiver["webhook_configs"]] == [f"http://127.0.0.1:15001/{name}"]
    assert "_file" not in json.dumps(local)


def test_grafana_gets_the_datasource_uid_the_dashboards_use():
    (source,) = grafana_datasources(CONFIG, PORTS)["datasources"]
    assert source["uid"] == CONFIG.grafana_datasource_uid
    assert source["url"] == "http://127.0.0.1:19090"
    assert source["type"] == "prometheus"


def test_grafana_loads_the_dashboards_built_from_the_local_config(tmp_path):
    """Grafana gets local_config()'s dashboards (no HPA panels, HA minimum 1), not the committed
    Kubernetes JSON, from the directory its provider reads."""
    config = local_config()
    files = grafana_dashboard_files(config, tmp_path)
    for path, text in files.items():
        path.write_text(text)
    (provider,) = grafana_dashboard_provider(config, tmp_path)["providers"]
    assert provider["folder"] == config.dashboard_folder
    loaded = {
        f.stem: json.loads(f.read_text())
        for f in sorted(Path(provider["options"]["path"]).glob("*.json"))
    }
    assert {d["uid"] for d in loaded.values()} == set(config.dashboard_uids.values())
    overview = loaded["overview"]
    committed = json.loads((JSON_DIR / "overview.json").read_text())
    assert overview != committed
    exprs = json.dumps(overview)
    assert kubernetes_series.HPA_MAX_REPLICAS in json.dumps(committed)
    assert kubernetes_series.HPA_MAX_REPLICAS not in exprs
    (ready,) = [p for p in overview["panels"] if p.get("title") == "Ready pods vs desired"]
    assert ready["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 1


def test_an_invalid_config_stops_the_dashboards_with_the_generators_message(tmp_path):
    bad = local_config(slos=(dataclasses.replace(CONFIG.slos[0], objective=1.5),))
    with pytest.raises(
        StackError, match=r"(?s)dashboards: invalid monitoring config:.*objective 1\.5 is not"
    ):
        grafana_dashboard_files(bad, tmp_path)


def test_ports_come_from_the_environment():
    ports = Ports.from_env({"LOCAL_PROMETHEUS_PORT": "19999", PORT_ENV["app"]: "8000"})
    assert (ports.prometheus, ports.app, ports.alertmanager) == (19999, 8000, Ports().alertmanager)


def test_bad_port_variables_are_all_named():
    with pytest.raises(StackError) as error:
        Ports.from_env({"LOCAL_PROMETHEUS_PORT": "x", "LOCAL_GRAFANA_PORT": "70000"})
    assert "LOCAL_PROMETHEUS_PORT='x'" in str(error.value)
    assert "LOCAL_GRAFANA_PORT='70000'" in str(error.value)


def test_a_busy_port_stops_the_start_before_anything_runs(tmp_path):
    """The message names the component, the port and how to change it; no state is left."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        ports = Ports(app=busy, webhook=free_port())
        assert busy_ports(ports, ("app",)) == [f"app port {busy} (--app-port / {PORT_ENV['app']})"]
        stack = LocalStack(
            ports=ports, binaries=NO_BINARIES, out=io.StringIO(), state_parent=tmp_path
        )
        with pytest.raises(StackError, match=f"app port {busy}"):
            stack.start()
    assert stack.children == {}
    assert list(tmp_path.iterdir()) == []


def test_webhook_prints_each_notification_as_one_json_line():
    out = io.StringIO()
    receiver = WebhookReceiver(free_port(), out).start()
    try:
        payload = {"receiver": "pager", "status": "firing", "alerts": [{"labels": {"a": "b"}}]}
        url = f"http://127.0.0.1:{receiver.port}/pager"
        assert requests.post(url, json=payload, timeout=5).status_code == 200
        assert requests.post(url, data="not json", timeout=5).status_code == 400
        got = receiver.wait_for(lambda n: n["status"] == "firing", timeout=5)
    finally:
        receiver.stop()
    assert got == {"path": "/pager", **payload}
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [got]


def test_local_stack_links_point_at_its_own_ports():
    """The stack's config carries the 127.0.0.1 URLs of its ports (issue 14): Prometheus' and
    Alertmanager's --web.external-url, Grafana's root URL and the rules' dashboard_url."""
    stack = LocalStack(config=local_config(), ports=PORTS, binaries=NO_BINARIES)
    urls = stack.config.external_urls
    assert (urls.prometheus, urls.alertmanager, urls.grafana) == (
        "http://127.0.0.1:19090",
        "http://127.0.0.1:19093",
        "http://127.0.0.1:13000",
    )
    assert with_local_urls(CONFIG, PORTS).external_urls == urls
    assert CONFIG.external_urls.grafana.startswith("https://")  # the placeholder stays


def test_local_alertmanager_loads_the_repository_templates():
    local = alertmanager_local_config(local_config(), PORTS)
    assert local["templates"] == [str(alertmanager.TEMPLATES_DIR / "*.tmpl")]


def test_every_flag_reads_its_variable():
    """`make run VAR=value` works for each flag; `--help` names the variables."""
    from local.stack import parse_args

    args = parse_args(
        [],
        {"TRAFFIC": "1", "SCENARIO": "latency", "NO_GRAFANA": "yes", "LOCAL_APP_PORT": "8001"},
    )
    assert (args.traffic, args.scenario, args.no_grafana, args.app_port) == (
        True,
        "latency",
        True,
        8001,
    )
    assert parse_args([], {"TRAFFIC": "0"}).traffic is False
    assert parse_args(["--traffic"], {}).traffic is True


def test_a_bad_flag_or_variable_is_a_usage_error(capsys):
    from local.stack import parse_args

    with pytest.raises(SystemExit) as exit_:
        parse_args([], {"SCENARIO": "no-such"})
    assert exit_.value.code == 2
    assert "invalid choice: 'no-such'" in capsys.readouterr().err


def test_help_lists_every_variable(capsys):
    from local.stack import FLAG_ENV, parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"], {})
    text = capsys.readouterr().out
    for var in [*PORT_ENV.values(), *FLAG_ENV.values()]:
        assert f"${var}" in text, var


def test_the_prometheus_links_follow_the_ui_that_answers():
    """Upstream serves /alerts, Debian's 2.42 only /classic/alerts: the banner uses what answers."""
    import http.server
    import threading

    from local.processes import prometheus_ui_links

    for prefix in ("", "/classic"):

        class Handler(http.server.BaseHTTPRequestHandler):
            ui = prefix  # the one UI this stand-in serves, as each Prometheus build does

            def do_GET(self) -> None:
                page = self.path.removeprefix(self.ui)
                served = self.path.startswith(self.ui + "/") and page.count("/") == 1
                self.send_response(200 if served else 404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            links = prometheus_ui_links(base)
        finally:
            server.shutdown()
            server.server_close()
        assert links["alerts"] == f"{base}{prefix}/alerts"
        assert set(links) == {"alerts", "targets", "rules", "graph"}


def test_simulated_kube_state_metrics_serve_desired_replicas_and_counted_restarts():
    """kube-state-metrics' names and labels: desired replicas of the config's Deployment, and
    the app container's restarts, counting each recorded restart once."""
    from local.kube_state import LOCAL_REPLICAS, SIMULATED, KubeStateMetrics
    from local.setup import free_port
    from tests.support import exposition

    config = local_config()
    pod = local_pod_name(config)
    served = KubeStateMetrics(config, pod, free_port()).start()
    try:
        url = f"http://127.0.0.1:{served.port}/metrics"
        text = requests.get(url, timeout=5).text
        labels = {
            "namespace": config.namespace,
            "pod": pod,
            "container": config.app_name,  # the container's name in the Deployment
            "uid": f"local-{pod}",
        }
        assert exposition.value(text, kubernetes_series.POD_CONTAINER_RESTARTS, **labels) == 0
        assert served.record_restart() == 1 and served.record_restart() == 2
        text = requests.get(url, timeout=5).text
        assert exposition.value(text, kubernetes_series.POD_CONTAINER_RESTARTS, **labels) == 2
        desired = exposition.value(
            text,
            kubernetes_series.DEPLOYMENT_SPEC_REPLICAS,
            namespace=config.namespace,
            deployment=config.deployment_name,
        )
        assert desired == LOCAL_REPLICAS
        assert {s.name for s in exposition.samples(text)} == set(SIMULATED)
    finally:
        served.stop()
