"""What reaches a person: the production receivers and templates, run by a real Alertmanager into
Slack, PagerDuty and SMTP capture servers; the dead man's switch with a real Prometheus.

Alerts are posted straight to Alertmanager's API v2 (as Prometheus posts them: labels,
annotations from the generated rules, a ``generatorURL`` under Prometheus' external URL), with
1 s group_wait/group_interval so firing and resolved notifications arrive within seconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import yaml

from alerts import alertmanager
from alerts.common import alert_prefix
from alerts.generate import build_rule_groups
from monitoring.config import CONFIG
from tests.conftest import require_binary
from tests.support.notifications import (
    HttpCapture,
    Process,
    SmtpCapture,
    post_alerts,
    start_alertmanager,
)
from tests.support.server import free_port

pytestmark = pytest.mark.e2e

FAST = alertmanager.Timing(
    group_wait="1s",
    group_interval="1s",
    repeat_interval="1h",
    pager_repeat_interval="1h",
    heartbeat_interval="2s",
    heartbeat_repeat_interval="1s",
)
"""Short waits so each notification arrives within seconds (repeat < interval, see Timing)."""
SMTP_USER, SMTP_PASSWORD = "alertmanager", "not-a-real-password"
URLS = CONFIG.external_urls
ALLOWED_LINK_PREFIXES = (
    URLS.prometheus + "/",
    URLS.alertmanager + "/",
    URLS.grafana + "/",
    CONFIG.runbook_base_url + "#",
)
"""Every link in a message is absolute and starts with a configured external URL or the runbook
base URL (monitoring/config.py)."""


def rule_annotations(alertname: str, severity: str) -> dict[str, str]:
    """The generated rule's runbook and dashboard links for ``alertname`` at ``severity`` (an
    alert without a rule, such as an info alert, gets links of the same form)."""
    for group in build_rule_groups(CONFIG):
        for rule in group["rules"]:
            if rule.get("alert") == alertname and rule["labels"]["severity"] == severity:
                return {k: rule["annotations"][k] for k in ("runbook_url", "dashboard_url")}
    return {
        "runbook_url": f"{CONFIG.runbook_base_url}#{alertname.lower()}",
        "dashboard_url": URLS.dashboard(CONFIG.dashboard_uids["overview"]),
    }


def posted_alert(alertname: str, severity: str, *, resolved: bool = False) -> dict:
    """An alert as Prometheus posts it; ``resolved`` sets endsAt in the past."""
    now = datetime.now(UTC)
    expr = f'up{{job="{CONFIG.job}"}} == 0'
    return {
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "namespace": CONFIG.namespace,
            "job": CONFIG.job,
        },
        "annotations": {
            "summary": f"{alertname} summary text",
            "description": f"{alertname} description text with 5.1% as its value (< 1 & > 0)",
            **rule_annotations(alertname, severity),
        },
        "startsAt": (now - timedelta(minutes=10)).isoformat(),
        "endsAt": (
            now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)
        ).isoformat(),
        # Prometheus builds this from its --web.external-url (prometheusSpec.externalUrl).
        "generatorURL": f"{URLS.prometheus}/graph?g0.expr={quote(expr)}&g0.tab=1",
    }


CRITICAL = ("DemoAppMetricsAbsent", "critical")
WARNING = ("DemoAppCpuUsageHigh", "warning")
INFO_ALERT = ("DemoAppSomethingInformational", "info")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if k == "href" and v]


def html_links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


def slack_links(text: str) -> list[str]:
    """The targets of Slack's ``<url|label>`` links."""
    return re.findall(r"<([^|>]+)\|[^>]*>", text)


def assert_links_absolute(links: list[str], where: str) -> None:
    assert links, f"{where}: no links"
    bad = [link for link in links if not link.startswith(ALLOWED_LINK_PREFIXES)]
    assert bad == [], f"{where}: links not under the configured external URLs: {bad}"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Alertmanager with the production receivers and templates, pointed at capture servers."""
    tmp = tmp_path_factory.mktemp("notifications")
    http = HttpCapture()
    smtp = SmtpCapture(SMTP_USER, SMTP_PASSWORD)
    secrets = tmp / "secrets"
    secrets.mkdir()
    (secrets / "slack-webhook-url").write_text(http.url("/slack"))
    (secrets / "pagerduty-routing-key").write_text("test-routing-key")
    (secrets / "smtp-password").write_text(SMTP_PASSWORD)
    config = dataclasses.replace(CONFIG, smtp_smarthost=f"127.0.0.1:{smtp.port}")
    endpoints = alertmanager.Endpoints(
        secrets_dir=str(secrets),
        pagerduty_url=http.url("/pagerduty"),
        smtp_require_tls=False,  # the capture server speaks no TLS; production requires it
        heartbeat_url=http.url("/heartbeat"),
    )
    receivers = alertmanager.default_receivers(config, endpoints)
    config_file = tmp / "alertmanager.yml"
    config_file.write_text(
        alertmanager.render(config, receivers, FAST, alertmanager.local_templates())
    )
    am = start_alertmanager(config_file, tmp, URLS.alertmanager)
    try:
        yield am, http, smtp
    finally:
        am.stop()
        http.stop()
        smtp.stop()


def _slack_for(http: HttpCapture, alertname: str, status: str, count: int = 1) -> list[dict]:
    marker = "[FIRING" if status == "firing" else "[RESOLVED"
    found = http.wait_for(
        lambda r: (
            r.path == "/slack"
            and alertname in r.body["attachments"][0]["title"]
            and r.body["attachments"][0]["title"].startswith(marker)
        ),
        count=count,
    )
    return [r.body["attachments"][0] for r in found]


def _pagerduty_for(http: HttpCapture, alertname: str, action: str) -> dict:
    return http.wait_for(
        lambda r: (
            r.path == "/pagerduty"
            and r.body["event_action"] == action
            and alertname in r.body["payload"]["summary"]
        )
    )[0].body


def _email_for(smtp: SmtpCapture, alertname: str, status: str):
    marker = "[FIRING" if status == "firing" else "[RESOLVED"
    return smtp.wait_for(lambda m: alertname in m["Subject"] and m["Subject"].startswith(marker))


def test_critical_pages_pagerduty_and_slack_then_resolves(pipeline):
    """A critical alert: a PagerDuty trigger with mapped severity, summary, links and details,
    a red Slack message; resolving it sends a resolve with the same dedup key and a green one."""
    am, http, _smtp = pipeline
    name, severity = CRITICAL
    post_alerts(am.base_url, [posted_alert(name, severity)])

    trigger = _pagerduty_for(http, name, "trigger")
    payload = trigger["payload"]
    assert trigger["routing_key"] == "test-routing-key"
    assert (
        payload["summary"]
        == f"[FIRING:1] CRITICAL {name} in {CONFIG.namespace}: {name} summary text"
    )
    assert payload["severity"] == "critical"  # not PagerDuty's default "error"
    assert payload["source"] == CONFIG.job
    details = payload["custom_details"]
    assert details["num_firing"] == "1"
    assert f"{name} description text with 5.1%" in details["firing"]
    assert details["namespace"] == CONFIG.namespace
    links = {link["text"]: link["href"] for link in trigger["links"]}
    expected = rule_annotations(name, severity)
    assert links["Runbook"] == expected["runbook_url"]
    assert links["Dashboard"] == expected["dashboard_url"] == URLS.dashboard("demo-app-overview")
    assert links["Source (Prometheus)"].startswith(f"{URLS.prometheus}/graph?g0.expr=")
    assert links["Silence this group"].startswith(f"{URLS.alertmanager}/#/silences/new?filter=")
    assert_links_absolute([*links.values(), trigger["client_url"]], "PagerDuty trigger")

    (slack,) = _slack_for(http, name, "firing")
    assert slack["title"] == f"[FIRING:1] CRITICAL {name} in {CONFIG.namespace}"
    assert slack["color"] == "danger"
    assert f"*{name} summary text*" in slack["text"]
    assert f"{name} description text with 5.1%" in slack["text"]
    assert "(&lt; 1 &amp; &gt; 0)" in slack["text"]  # Slack markup characters escaped
    assert f"<{expected['runbook_url']}|Runbook>" in slack["text"]
    assert f"<{expected['dashboard_url']}|Dashboard>" in slack["text"]
    assert_links_absolute([*slack_links(slack["text"]), slack["title_link"]], "Slack page")

    post_alerts(am.base_url, [posted_alert(name, severity, resolved=True)])
    resolve = _pagerduty_for(http, name, "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"]  # one incident: the group key's hash
    (resolved,) = _slack_for(http, name, "resolved")
    assert resolved["title"] == f"[RESOLVED:1] CRITICAL {name} in {CONFIG.namespace}"
    assert resolved["color"] == "good"
    assert f"*{name} summary text* (resolved)" in resolved["text"]
    assert_links_absolute(slack_links(resolved["text"]), "Slack resolved page")


def test_warning_goes_to_slack_and_email_then_resolves(pipeline):
    """A warning: a ticket by Slack (yellow) and email (HTML and text, SMTP AUTH from the
    password file), no PagerDuty event; resolved messages follow."""
    am, http, smtp = pipeline
    name, severity = WARNING
    expected = rule_annotations(name, severity)
    post_alerts(am.base_url, [posted_alert(name, severity)])

    (slack,) = _slack_for(http, name, "firing")
    assert slack["title"] == f"[FIRING:1] WARNING {name} in {CONFIG.namespace}"
    assert slack["color"] == "warning"
    assert "*Labels:* `job=demo-app namespace=demo-app severity=warning`" in slack["text"]

    message = _email_for(smtp, name, "firing")
    assert message["Subject"] == f"[FIRING:1] WARNING {name} in {CONFIG.namespace}"
    assert message["To"] == CONFIG.notification_email_to
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for body in (html, text):
        assert f"{name} summary text" in body
        assert f"{name} description text with 5.1%" in body
    assert f"Runbook: {expected['runbook_url']}" in text
    hrefs = html_links(html)
    assert expected["dashboard_url"] in hrefs
    assert_links_absolute(hrefs, "email HTML")
    assert_links_absolute(re.findall(r"https?://\S+", text), "email text")
    assert (SMTP_USER, SMTP_PASSWORD) in smtp.logins

    post_alerts(am.base_url, [posted_alert(name, severity, resolved=True)])
    (resolved,) = _slack_for(http, name, "resolved")
    assert resolved["color"] == "good"
    resolved_mail = _email_for(smtp, name, "resolved")
    assert "(resolved)" in resolved_mail.get_body(("plain",)).get_content()
    assert not [r for r in http.requests if r.path == "/pagerduty" and name in str(r.body)]


def test_info_reaches_nobody(pipeline):
    """An info alert goes to the null receiver: nothing leaves (checked after a later warning
    has arrived, so the info alert had its chance)."""
    am, http, smtp = pipeline
    post_alerts(am.base_url, [posted_alert(*INFO_ALERT)])
    time.sleep(0.5)
    marker = ("DemoAppHttpErrorRatioHigh", "warning")
    post_alerts(am.base_url, [posted_alert(*marker)])
    _slack_for(http, marker[0], "firing")
    _email_for(smtp, marker[0], "firing")
    assert not [r for r in http.requests if INFO_ALERT[0] in str(r.body)]
    assert not [m for m in smtp.messages if INFO_ALERT[0] in m["Subject"]]


# --- inhibition (amtool does not evaluate it) -----------------------------------------------------

EQUAL_VALUES = {
    "namespace": CONFIG.namespace,
    "pod": f"{CONFIG.app_name}-7d9f-abcde",
    "horizontalpodautoscaler": CONFIG.hpa_name,
    "job": CONFIG.job,
}


def _alert(labels: dict[str, str]) -> dict:
    now = datetime.now(UTC)
    return {
        "labels": labels,
        "annotations": {"summary": "inhibition case"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


def _states(am: Process, wanted: list[dict], expected: list[str], timeout: float = 15) -> list:
    """The states of the ``wanted`` label sets, polled until they equal ``expected`` or
    ``timeout`` passes (an alert is "unprocessed" until its group's first flush, and a target
    flushed before its source may show "active" until the next one)."""
    deadline = time.monotonic() + timeout
    while True:
        got = requests.get(f"{am.base_url}/api/v2/alerts", timeout=10).json()
        by_labels = {frozenset(a["labels"].items()): a["status"]["state"] for a in got}
        states = [by_labels.get(frozenset(w.items()), "missing") for w in wanted]
        if states == expected or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def test_chart_duplicates_are_inhibited_in_the_app_namespace_only(pipeline):
    """While an app alert fires, the chart alert it duplicates is suppressed for the same object
    in the app's namespace; the chart's alert for another object or namespace stays active, and
    a warning is suppressed by a critical alert of the same name and namespace."""
    am, _http, _smtp = pipeline
    prefix = alert_prefix(CONFIG)
    wanted, expected = [], []
    for chart_alert in alertmanager.CHART_ALERTS:
        if not chart_alert.duplicate_of:
            continue
        same = {label: EQUAL_VALUES[label] for label in chart_alert.equal}
        source = {"alertname": prefix + chart_alert.duplicate_of, "severity": "warning", **same}
        target = {"alertname": chart_alert.alertname, "severity": chart_alert.severity, **same}
        other_ns = {**target, "namespace": "other-team"}
        wanted += [source, target, other_ns]
        expected += ["active", "suppressed", "active"]
        if "pod" in chart_alert.equal:  # another pod in the app's namespace: not the same object
            wanted.append({**target, "pod": "someone-else-5c6d-xyz"})
            expected.append("active")
    burn = f"{prefix}AvailabilityErrorBudgetBurn"
    ns = CONFIG.namespace
    wanted += [
        {"alertname": burn, "namespace": ns, "severity": "critical"},
        {"alertname": burn, "namespace": ns, "severity": "warning"},
        {"alertname": burn, "namespace": "elsewhere", "severity": "warning"},
    ]
    expected += ["active", "suppressed", "active"]
    post_alerts(am.base_url, [_alert(labels) for labels in wanted])
    states = _states(am, wanted, expected)
    assert list(zip(wanted, states, strict=True)) == list(zip(wanted, expected, strict=True))


# --- the dead man's switch ------------------------------------------------------------------------

WATCHDOG_RULES = {
    "groups": [
        {
            "name": "general.rules",
            "rules": [
                {
                    # kube-prometheus-stack's Watchdog (default-alerts.yaml): always firing.
                    "alert": alertmanager.WATCHDOG,
                    "expr": "vector(1)",
                    "labels": {"severity": "none"},
                    "annotations": {"summary": "An alert that should always be firing."},
                }
            ],
        }
    ]
}


def _start_prometheus(tmp: Path, alertmanager_url: str) -> Process:
    binary = require_binary("prometheus", hint="apt-get install prometheus")
    rules = tmp / "watchdog.rules.yml"
    rules.write_text(yaml.safe_dump(WATCHDOG_RULES))
    prom_yml = tmp / "prometheus.yml"
    target = alertmanager_url.removeprefix("http://")
    prom_yml.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]},
            }
        )
    )
    port = free_port()
    log = tmp / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={prom_yml}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url={URLS.prometheus}",
            # Alerts are valid for 4 x max(evaluation interval, resend delay) after the last
            # send: 4 s here (production: 4 x 1m, so pings stop ~4 minutes after Prometheus).
            "--rules.alert.resend-delay=1s",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    prometheus = Process(process, f"http://127.0.0.1:{port}", log)
    prometheus.wait_ready()
    return prometheus


def _pings_between(http: HttpCapture, start: float, end: float) -> list:
    return [r for r in http.requests if r.path == "/heartbeat" and start <= r.at < end]


def test_heartbeat_pings_while_prometheus_runs_and_stops_with_it(tmp_path):
    """The webhook heartbeat: Prometheus' Watchdog reaches the heartbeat URL every
    heartbeat_interval (2 s here) through the production dead man's switch receiver; once
    Prometheus stops, the Watchdog expires and the pings stop."""
    http = HttpCapture()
    config = dataclasses.replace(CONFIG, heartbeat_receiver=alertmanager.HEARTBEAT_WEBHOOK)
    endpoints = alertmanager.Endpoints(
        secrets_dir=str(tmp_path), heartbeat_url=http.url("/heartbeat")
    )
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(
        alertmanager.render(
            config,
            alertmanager.default_receivers(config, endpoints),
            FAST,
            alertmanager.local_templates(),
        )
    )
    am = start_alertmanager(config_file, tmp_path, URLS.alertmanager)
    prometheus = None
    try:
        prometheus = _start_prometheus(tmp_path, am.base_url)
        pings = http.wait_for(lambda r: r.path == "/heartbeat", count=4, timeout=30)
        first = pings[0].body
        assert first["receiver"] == alertmanager.DEADMANSSWITCH
        assert first["alerts"][0]["labels"]["alertname"] == alertmanager.WATCHDOG
        assert first["externalURL"] == URLS.alertmanager
        assert first["alerts"][0]["generatorURL"].startswith(URLS.prometheus + "/graph?")
        gaps = [b.at - a.at for a, b in itertools.pairwise(pings)]
        # Every group_interval tick (2 s), not every second one; loose bounds for a busy machine.
        assert all(1.0 < gap < 5.0 for gap in gaps), gaps

        prometheus.stop()
        stopped = time.monotonic()
        # Expiry (4 s) plus one tick, with slack; then a quiet window of 3 ticks.
        time.sleep(9)
        quiet_from = time.monotonic()
        time.sleep(6)
        assert _pings_between(http, quiet_from, time.monotonic()) == []
        before = _pings_between(http, stopped - 6, stopped)
        assert len(before) >= 2  # the same window length had pings while Prometheus ran
    finally:
        if prometheus is not None:
            prometheus.stop()
        am.stop()
        http.stop()
