"""The Alertmanager configuration: valid for amtool, routes by severity, inhibits, no secrets."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from alerts import alertmanager
from monitoring.config import CONFIG, duration_seconds
from tests.conftest import require_binary

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


@pytest.mark.parametrize("variant", ["production", "local webhooks"])
def test_amtool_check_config_passes(tmp_path, variant):
    """amtool accepts the production receivers and the local stack's webhook substitutes."""
    if variant == "production":
        path = alertmanager.CONFIG_PATH
    else:
        path = write_config(tmp_path, alertmanager.webhook_receivers("http://127.0.0.1:9099"))
    result = subprocess.run(
        [amtool(), "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


ROUTES = [
    ({"alertname": "DemoAppMetricsAbsent", "severity": "critical"}, alertmanager.PAGER),
    ({"alertname": "DemoAppCpuUsageHigh", "severity": "warning"}, alertmanager.TICKET),
    ({"alertname": "SomethingInformational", "severity": "info"}, alertmanager.NULL),
    ({"alertname": "Watchdog", "severity": "none"}, alertmanager.DEADMANSSWITCH),
    ({"alertname": "InfoInhibitor", "severity": "none"}, alertmanager.NULL),
    ({"alertname": "NoSeverityLabel"}, alertmanager.TICKET),
]


@pytest.mark.parametrize(
    ("labels", "receiver"),
    ROUTES,
    ids=[f"{labels['alertname']}-{receiver}" for labels, receiver in ROUTES],
)
def test_amtool_routes_each_severity_to_its_receiver(labels, receiver):
    """`amtool config routes test` resolves exactly the intended receiver."""
    args = [f"{k}={v}" for k, v in {**labels, "namespace": CONFIG.namespace}.items()]
    result = subprocess.run(
        [
            amtool(),
            "config",
            "routes",
            "test",
            f"--config.file={alertmanager.CONFIG_PATH}",
            f"--verify.receivers={receiver}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


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
    # The rest: the monitoring stack's (tests/test_monitoring_stack.py).
    assert rules[1:] == alertmanager.monitoring_stack_inhibitions()


def _walk(node: object, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_no_credentials_are_committed():
    """Secrets come from files of the mounted Secret, never inline."""
    committed = yaml.safe_load(alertmanager.CONFIG_PATH.read_text())
    secret_dir = f"{alertmanager.SECRET_MOUNT_DIR}/{CONFIG.alertmanager_secret_name}/"
    files = []
    for where, key, value in _walk(committed):
        assert key not in SECRET_KEYS, f"inline credential at {where}"
        if key.endswith("_file"):
            files.append(value)
            assert value.startswith(secret_dir), f"{where} reads {value} outside the Secret"
    receivers = {r["name"] for r in committed["receivers"]}
    assert receivers == set(alertmanager.RECEIVERS)
    assert len(files) == len(alertmanager.SECRET_KEYS)  # pager, ticket, dead man's switch


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
    assert receiver["webhook_configs"][0]["url"].startswith("https://")


def test_receivers_must_be_complete():
    with pytest.raises(ValueError, match=r"missing \['deadmansswitch'\]"):
        alertmanager.alertmanager_config(
            CONFIG, {k: {} for k in alertmanager.RECEIVERS if k != "deadmansswitch"}
        )


def test_webhook_receivers_reject_a_non_http_url():
    with pytest.raises(ValueError, match="must start with http"):
        alertmanager.webhook_receivers("localhost:9099")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_real_alertmanager_inhibits_the_warning_while_the_critical_fires(tmp_path):
    """The inhibit rule, applied by a real Alertmanager to alerts posted on its API."""
    binary = require_binary("prometheus-alertmanager", "/usr/bin/alertmanager", hint=HINT)
    config = write_config(tmp_path, alertmanager.webhook_receivers("http://127.0.0.1:9"))
    port = _free_port()
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
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("alertmanager did not become ready")
        ns = CONFIG.namespace
        alerts = [
            {"labels": {"alertname": "Burn", "namespace": ns, "severity": "critical"}},
            {"labels": {"alertname": "Burn", "namespace": ns, "severity": "warning"}},
            {"labels": {"alertname": "Other", "namespace": ns, "severity": "warning"}},
            {"labels": {"alertname": "Burn", "namespace": "elsewhere", "severity": "warning"}},
        ]
        requests.post(f"{base}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        state = {}
        for _ in range(50):
            got = requests.get(f"{base}/api/v2/alerts", timeout=5).json()
            state = {
                (a["labels"]["alertname"], a["labels"]["namespace"], a["labels"]["severity"]): a[
                    "status"
                ]["state"]
                for a in got
            }
            if len(state) == 4 and "suppressed" in state.values():
                break
            time.sleep(0.1)
        assert state == {
            ("Burn", ns, "critical"): "active",
            ("Burn", ns, "warning"): "suppressed",
            ("Other", ns, "warning"): "active",
            ("Burn", "elsewhere", "warning"): "active",
        }
    finally:
        process.terminate()
        process.wait(timeout=10)
