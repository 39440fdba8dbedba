"""The Alertmanager configuration: routing, inhibition, receivers and notification templates.

``alertmanager_config(config, receivers)`` returns the configuration as a dict, the shape of
kube-prometheus-stack's ``alertmanager.config`` value and of a plain ``alertmanager.yml``;
``monitoring/alertmanager.yaml`` is its committed rendering and
``monitoring/alertmanager-values.yaml`` the kube-prometheus-stack values layer (``make alerts``):
the routing, the notification templates
(``alertmanager.templateFiles``, from ``monitoring/alertmanager-templates/*.tmpl``) and the
external URLs of Prometheus, Alertmanager and Grafana (``config.external_urls``).

Routing (every route groups by ``alertname`` and ``namespace``):

=================================  =====================  =======================================
match                              receiver               why
=================================  =====================  =======================================
alertname="Watchdog"               ``deadmansswitch``     kube-prometheus-stack's always-firing
                                                          alert, re-sent every minute to an
                                                          external heartbeat that raises the
                                                          alarm when it stops arriving
alertname="InfoInhibitor"          ``null``               the chart's helper, never sent
chart info alerts for the app's    ``ticket``             ``CHART_ALERTS``: CPUThrottlingHigh,
namespace                                                 KubeQuotaFullyUsed
severity="critical"                ``pager``              PagerDuty now (and the Slack channel)
severity="warning"                 ``ticket``             Slack and email, office hours
severity="info"                    ``null``               dashboards only
anything else                      ``ticket`` (the root)  an alert without a known severity is
                                                          seen, not silently dropped
=================================  =====================  =======================================

Inhibition: a warning is inhibited while a critical alert with the same ``alertname`` and
``namespace`` fires (the SLO burn alerts share one name for page and ticket); and a chart alert
that duplicates an app alert (``CHART_ALERTS``, e.g. KubeHpaMaxedOut and DemoAppHpaSaturated) is
inhibited in the app's namespace while the app alert fires; elsewhere the chart's alert stays.
The monitoring stack's replica tickets inhibit the chart's generic alerts about the same
replicas (``monitoring_stack_inhibitions``).

Credentials are never in the file: every secret is read by Alertmanager from a file of the
Kubernetes Secret ``config.alertmanager_secret_name``, which kube-prometheus-stack mounts when it
is listed in ``alertmanager.alertmanagerSpec.secrets`` (at ``/etc/alertmanager/secrets/<name>/``):
``routing_key_file`` (PagerDuty), ``api_url_file`` (Slack), ``auth_password_file`` (SMTP), and for
the dead man's switch (``config.heartbeat_receiver``) either a webhook's ``url_file`` (the ping URL
of healthchecks.io, Dead Man's Snitch ... is its credential) or Opsgenie's API key
(``http_config.authorization.credentials_file``). Every field is accepted by Alertmanager 0.25
(Debian, the tests) and 0.34 (kube-prometheus-stack 88.5.3) except the webhook's ``url_file``,
which 0.25 lacks: tests check the cluster configuration with amtool 0.25 with that one field
swapped (``amtool_025_view``), and run the heartbeat through 0.25 with ``Endpoints.heartbeat_url``.

The local stack swaps every receiver for a local webhook with
``alertmanager_config(config, webhook_receivers("http://127.0.0.1:PORT"))``; tests point the
production receivers at capture servers with ``default_receivers(config, Endpoints(...))``.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

from alerts import monitoring_stack
from alerts.common import alert_prefix
from monitoring import yamlfile
from monitoring.config import CONFIG, MonitoringConfig

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "monitoring" / "alertmanager.yaml"
"""Where the rendered configuration is committed."""
TEMPLATES_DIR = ROOT / "monitoring" / "alertmanager-templates"
"""The notification templates (``*.tmpl``): loaded as they are locally, copied into the values
layer's ``alertmanager.templateFiles`` for the cluster."""
CLUSTER_TEMPLATES = "/etc/alertmanager/config/*.tmpl"
"""Where kube-prometheus-stack puts ``alertmanager.templateFiles`` (its ``config.templates``
default, repeated because our ``config`` replaces the chart's)."""

PAGER = "pager"
TICKET = "ticket"
NULL = "null"
DEADMANSSWITCH = "deadmansswitch"
RECEIVERS = (PAGER, TICKET, NULL, DEADMANSSWITCH)
"""Every receiver name the routing tree uses."""

WATCHDOG = "Watchdog"
"""kube-prometheus-stack's always-firing alert (general.rules), the dead man's switch signal."""
INFO_INHIBITOR = "InfoInhibitor"
"""kube-prometheus-stack's helper alert (severity none) that only drives inhibitions."""
GROUP_BY = ("alertname", "namespace")

HEARTBEAT_WEBHOOK = "webhook"
HEARTBEAT_OPSGENIE = "opsgenie"
HEARTBEAT_RECEIVERS = (HEARTBEAT_WEBHOOK, HEARTBEAT_OPSGENIE)
"""The values of ``config.heartbeat_receiver``."""

SECRET_MOUNT_DIR = "/etc/alertmanager/secrets"  # noqa: S105 - a directory, not a password
"""Where the Prometheus Operator mounts ``alertmanagerSpec.secrets`` (one folder per Secret)."""
SECRET_KEYS = {
    "pagerduty": "pagerduty-routing-key",
    "slack": "slack-webhook-url",
    "smtp": "smtp-password",
    HEARTBEAT_WEBHOOK: "heartbeat-url",
    HEARTBEAT_OPSGENIE: "heartbeat-api-key",
}
"""Key of each credential in the Secret ``config.alertmanager_secret_name``; ``secret_keys``
says which ones a config uses."""


@dataclass(frozen=True)
class Timing:
    """Notification timing (Alertmanager durations).

    Defaults are Alertmanager's documented recommendations (30s / 5m / 4h) except: pages repeat
    hourly while unresolved; the heartbeat is re-sent every minute (``group_wait`` 0s) so the
    heartbeat service can use a short timeout (e.g. 5 minutes).

    Heartbeat: the Watchdog group is flushed every ``heartbeat_interval`` (its group_interval), and
    at each flush Alertmanager re-sends only if ``repeat_interval`` has passed since the logged
    notification. That log timestamp is taken after the send, a little after the tick, so with
    repeat_interval == group_interval (1m/1m) the next tick finds 59.9 s elapsed and skips: one
    ping every 2 minutes. ``heartbeat_repeat_interval`` (50s) < group_interval makes every tick
    re-send: one ping a minute (observed with Alertmanager 0.25: 60 s spacing).
    """

    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    pager_repeat_interval: str = "1h"
    heartbeat_interval: str = "1m"
    heartbeat_repeat_interval: str = "50s"  # < heartbeat_interval, see above


@dataclass(frozen=True)
class Endpoints:
    """Where the production receivers send and read their credentials.

    The defaults are the cluster's: credentials from the mounted Secret, the vendors' own APIs.
    Tests point the same receivers at capture servers on 127.0.0.1.

    Attributes:
        secrets_dir: folder of the credential files (``SECRET_KEYS`` values as file names);
            ``None``: ``/etc/alertmanager/secrets/<config.alertmanager_secret_name>``.
        pagerduty_url: the Events API v2 URL; ``None``: Alertmanager's default
            (https://events.pagerduty.com/v2/enqueue).
        smtp_require_tls: refuse to send email without STARTTLS.
        heartbeat_url: a webhook heartbeat's URL written into the config instead of read from
            the ``heartbeat-url`` file (Alertmanager 0.25 has no webhook ``url_file``).
    """

    secrets_dir: str | None = None
    pagerduty_url: str | None = None
    smtp_require_tls: bool = True
    heartbeat_url: str | None = None


@dataclass(frozen=True)
class ChartAlert:
    """A kube-prometheus-stack default alert that can carry the app's namespace, and what the
    routing does with it there.

    Attributes:
        alertname: the chart's alert name.
        severity: the chart's ``severity`` label (88.5.3 defaults).
        receiver: where it goes when it fires in the app's namespace and is not inhibited.
        duplicate_of: the app alert suffix (after ``alert_prefix``) whose firing inhibits it in
            the app's namespace, or ``""``.
        equal: labels source and target must share for that inhibition.
        why: the reason, for docs/notifications.md.
    """

    alertname: str
    severity: str
    receiver: str
    why: str
    duplicate_of: str = ""
    equal: tuple[str, ...] = ()


CHART_ALERTS = (
    ChartAlert(
        "KubePodCrashLooping", "warning", TICKET,
        "DemoAppRestartingRepeatedly reports the app's restarting pods (uptime resets)",
        "RestartingRepeatedly", ("namespace", "pod"),
    ),
    ChartAlert(
        "KubePodNotReady", "warning", TICKET,
        "DemoAppInstanceNotReady reports the same pod sooner (5m, not 15m)",
        "InstanceNotReady", ("namespace", "pod"),
    ),
    ChartAlert(
        "KubeHpaMaxedOut", "warning", TICKET,
        "DemoAppHpaSaturated says the same with the app's load figures",
        "HpaSaturated", ("namespace", "horizontalpodautoscaler"),
    ),
    ChartAlert(
        "KubeDeploymentReplicasMismatch", "warning", TICKET,
        "while DemoAppTooFewReadyInstances pages, the mismatch adds nothing",
        "TooFewReadyInstances", ("namespace",),
    ),
    ChartAlert(
        "TargetDown", "warning", TICKET,
        "while DemoAppMetricsAbsent pages for the app's job, the chart's ticket adds nothing",
        "MetricsAbsent", ("job", "namespace"),
    ),
    ChartAlert(
        "CPUThrottlingHigh", "info", TICKET,
        "CFS throttling under the CPU limit slows requests before CPU usage looks high: a "
        "ticket for the app's namespace (info, so dropped, elsewhere)",
    ),
    ChartAlert(
        "KubeQuotaFullyUsed", "info", TICKET,
        "a full quota blocks the HPA's next pod: a ticket for the app's namespace",
    ),
    ChartAlert("KubeQuotaAlmostFull", "info", NULL, "early warning, dashboards only"),
    ChartAlert("KubeQuotaExceeded", "warning", TICKET, "new pods are refused"),
    ChartAlert(
        "KubeDeploymentGenerationMismatch", "warning", TICKET,
        "a rollout the app's alerts cannot see failed",
    ),
    ChartAlert(
        "KubeDeploymentRolloutStuck", "warning", TICKET,
        "a rollout the app's alerts cannot see is stuck",
    ),
    ChartAlert(
        "KubeContainerWaiting", "warning", TICKET,
        "a container waits (image pull, config error) for an hour: no app metric exists yet",
    ),
    ChartAlert(
        "KubeHpaReplicasMismatch", "warning", TICKET,
        "the HPA cannot reach its desired replicas (quota, scheduling)",
    ),
    ChartAlert(
        "KubePdbNotEnoughHealthyPods", "warning", TICKET,
        "voluntary disruptions (node drains) are blocked",
    ),
    ChartAlert(
        "KubePersistentVolumeFillingUp", "critical", PAGER,
        "by severity (the app has no volume today; a future one would page)",
    ),
    ChartAlert(
        "KubePersistentVolumeInodesFillingUp", "critical", PAGER,
        "by severity (the app has no volume today)",
    ),
    *(
        ChartAlert(name, "warning", TICKET, "by severity: the app runs no such workload")
        for name in (
            "KubeStatefulSetReplicasMismatch",
            "KubeStatefulSetGenerationMismatch",
            "KubeStatefulSetUpdateNotRolledOut",
            "KubeDaemonSetRolloutStuck",
            "KubeDaemonSetNotScheduled",
            "KubeDaemonSetMisScheduled",
            "KubeJobNotCompleted",
            "KubeJobFailed",
        )
    ),
)  # fmt: skip
"""Every kube-prometheus-stack 88.5.3 default alert that can carry the app's namespace (the
kubernetes-apps and kubernetes-storage groups filter on it, TargetDown, CPUThrottlingHigh and the
quota alerts keep it) and its routing there: each is tested with amtool and, where it duplicates
an app alert, its inhibition through a real Alertmanager. KubePersistentVolume*FillingUp's warning
variants go to ``ticket`` by severity."""


def secrets_dir(config: MonitoringConfig, endpoints: Endpoints = Endpoints()) -> str:
    """The folder the credential files are read from (inside the Alertmanager pod by default)."""
    if endpoints.secrets_dir is not None:
        return endpoints.secrets_dir.rstrip("/")
    return f"{SECRET_MOUNT_DIR}/{config.alertmanager_secret_name}"


def secret_keys(config: MonitoringConfig) -> tuple[str, ...]:
    """The Secret keys (file names) the production receivers of ``config`` read."""
    keys = [SECRET_KEYS["pagerduty"], SECRET_KEYS["slack"]]
    if config.smtp_auth_username:
        keys.append(SECRET_KEYS["smtp"])
    keys.append(SECRET_KEYS[_heartbeat_choice(config)])
    return tuple(keys)


def _heartbeat_choice(config: MonitoringConfig) -> str:
    if config.heartbeat_receiver not in HEARTBEAT_RECEIVERS:
        raise ValueError(
            f"heartbeat_receiver must be one of {HEARTBEAT_RECEIVERS}, "
            f"got {config.heartbeat_receiver!r}"
        )
    return config.heartbeat_receiver


def opsgenie_heartbeat_url(config: MonitoringConfig) -> str:
    """The Opsgenie heartbeat ping URL, for a heartbeat named ``<app_name>-watchdog``.

    Not a secret (the API key authenticates the call). Create the heartbeat in Opsgenie with an
    interval of a few minutes; it alerts when Alertmanager's pings stop.
    """
    return f"https://api.opsgenie.com/v2/heartbeats/{config.app_name}-watchdog/ping"


def _tmpl(name: str) -> str:
    return '{{ template "' + name + '" . }}'


def _slack(config: MonitoringConfig, endpoints: Endpoints) -> dict:
    return {
        "api_url_file": f"{secrets_dir(config, endpoints)}/{SECRET_KEYS['slack']}",
        "send_resolved": True,
        "title": _tmpl("notify.slack.title"),
        "title_link": _tmpl("notify.alerts_url"),
        "text": _tmpl("notify.slack.text"),
        "color": _tmpl("notify.slack.color"),
        "fallback": _tmpl("notify.slack.fallback"),
    }


def _first(field: str, fallback: str) -> str:
    """A PagerDuty link: the first alert's ``field``, or ``fallback`` when it has none."""
    return "{{ or (index .Alerts 0)." + field + ' "' + fallback + '" }}'


def _pagerduty(config: MonitoringConfig, endpoints: Endpoints) -> dict:
    urls = config.external_urls
    body = {
        "routing_key_file": f"{secrets_dir(config, endpoints)}/{SECRET_KEYS['pagerduty']}",
        "send_resolved": True,
        "description": _tmpl("notify.pagerduty.description"),
        "severity": _tmpl("notify.pagerduty.severity"),
        "source": _tmpl("notify.pagerduty.source"),
        "client": "Alertmanager",
        "client_url": _tmpl("notify.alerts_url"),
        # PagerDuty shows links, not free text: chart alerts without a dashboard link to Grafana.
        "links": [
            {"href": _first("Annotations.runbook_url", config.runbook_base_url), "text": "Runbook"},
            {"href": _first("Annotations.dashboard_url", urls.grafana), "text": "Dashboard"},
            {"href": _tmpl("notify.silence_url"), "text": "Silence this group"},
            {"href": _first("GeneratorURL", urls.prometheus), "text": "Source (Prometheus)"},
        ],
        "details": {
            "firing": '{{ template "notify.pagerduty.alerts" .Alerts.Firing }}',
            "resolved": '{{ template "notify.pagerduty.alerts" .Alerts.Resolved }}',
            "num_firing": "{{ .Alerts.Firing | len }}",
            "num_resolved": "{{ .Alerts.Resolved | len }}",
            "namespace": "{{ .CommonLabels.namespace }}",
            "severity_label": "{{ .CommonLabels.severity }}",
        },
    }
    if endpoints.pagerduty_url is not None:
        body["url"] = endpoints.pagerduty_url
    return body


def _email(config: MonitoringConfig, endpoints: Endpoints) -> dict:
    body: dict = {
        "to": config.notification_email_to,
        "from": config.notification_email_from,
        "smarthost": config.smtp_smarthost,
    }
    if config.smtp_auth_username:
        body["auth_username"] = config.smtp_auth_username
        body["auth_password_file"] = f"{secrets_dir(config, endpoints)}/{SECRET_KEYS['smtp']}"
    body.update(
        {
            "require_tls": endpoints.smtp_require_tls,
            "send_resolved": True,
            "headers": {"Subject": _tmpl("notify.email.subject")},
            "html": _tmpl("notify.email.html"),
            "text": _tmpl("notify.email.text"),
        }
    )
    return body


def _heartbeat(config: MonitoringConfig, endpoints: Endpoints) -> dict:
    choice = _heartbeat_choice(config)
    secret = f"{secrets_dir(config, endpoints)}/{SECRET_KEYS[choice]}"
    if choice == HEARTBEAT_OPSGENIE:
        webhook = {
            "url": opsgenie_heartbeat_url(config),
            "send_resolved": False,
            "http_config": {"authorization": {"type": "GenieKey", "credentials_file": secret}},
        }
    elif endpoints.heartbeat_url is not None:
        webhook = {"url": endpoints.heartbeat_url, "send_resolved": False}
    else:
        webhook = {"url_file": secret, "send_resolved": False}
    return {"webhook_configs": [webhook]}


def default_receivers(
    config: MonitoringConfig = CONFIG, endpoints: Endpoints = Endpoints()
) -> dict[str, dict]:
    """The production receivers: name -> receiver body (without ``name``), credentials by file.

    ``pager``: PagerDuty (Events API v2) and the Slack channel; ``ticket``: Slack and email;
    ``deadmansswitch``: the heartbeat of ``config.heartbeat_receiver``. Every message is rendered
    by the ``notify.*`` templates of ``TEMPLATES_DIR``.

    Raises:
        ValueError: ``config.heartbeat_receiver`` is not one of ``HEARTBEAT_RECEIVERS``.
    """
    return {
        PAGER: {
            "pagerduty_configs": [_pagerduty(config, endpoints)],
            "slack_configs": [_slack(config, endpoints)],
        },
        TICKET: {
            "slack_configs": [_slack(config, endpoints)],
            "email_configs": [_email(config, endpoints)],
        },
        NULL: {},
        DEADMANSSWITCH: _heartbeat(config, endpoints),
    }


def webhook_receivers(base_url: str) -> dict[str, dict]:
    """Receivers for the local stack: each posts to ``<base_url>/<receiver name>``.

    ``null`` stays silent, so a test can tell from the request path which route an alert took.

    Raises:
        ValueError: ``base_url`` is not an http(s) URL.
    """
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"webhook base URL must start with http:// or https://: {base_url!r}")
    base = base_url.rstrip("/")
    return {
        name: {} if name == NULL else {"webhook_configs": [{"url": f"{base}/{name}"}]}
        for name in RECEIVERS
    }


def monitoring_stack_inhibitions() -> list[dict]:
    """One ticket per monitoring replica failure (alerts/monitoring_stack.py, issue 17).

    While PrometheusReplicaDown or AlertmanagerReplicaDown fires, the chart's generic alerts about
    the same replicas are inhibited: TargetDown for the same job, KubeStatefulSetReplicasMismatch
    for the same StatefulSet. AlertmanagerClusterDown (half the mesh down, a page) inhibits the
    AlertmanagerReplicaDown ticket in its namespace.
    """
    replica_alerts = "|".join(monitoring_stack.REPLICA_ALERTS)
    return [
        {
            "source_matchers": [f'alertname=~"{replica_alerts}"'],
            "target_matchers": ['alertname="TargetDown"'],
            "equal": ["namespace", "job"],
        },
        {
            "source_matchers": [f'alertname=~"{replica_alerts}"'],
            "target_matchers": ['alertname="KubeStatefulSetReplicasMismatch"'],
            "equal": ["namespace", "statefulset"],
        },
        {
            "source_matchers": ['alertname="AlertmanagerClusterDown"'],
            "target_matchers": ['alertname="AlertmanagerReplicaDown"'],
            "equal": ["namespace"],
        },
    ]


def _route(receiver: str, *matchers: str, **timing: str) -> dict:
    return {"receiver": receiver, "matchers": list(matchers), **timing}


def chart_routes(config: MonitoringConfig) -> list[dict]:
    """Routes for chart alerts whose receiver in the app's namespace differs from the one their
    severity would pick (the info alerts of ``CHART_ALERTS`` that become tickets)."""
    by_severity = {"critical": PAGER, "warning": TICKET, "info": NULL}
    return [
        _route(a.receiver, f'alertname="{a.alertname}"', f'namespace="{config.namespace}"')
        for a in CHART_ALERTS
        if a.receiver != by_severity[a.severity]
    ]


def inhibit_rules(config: MonitoringConfig) -> list[dict]:
    """The critical-over-warning rule, then one rule per chart alert that duplicates an app alert.

    Alertmanager inhibits only when source and target have equal values of every ``equal``
    label; the target is also pinned to the app's namespace, so the chart's alert keeps firing
    for every other workload.
    """
    rules = [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": list(GROUP_BY),
        }
    ]
    prefix = alert_prefix(config)
    for a in CHART_ALERTS:
        if a.duplicate_of:
            rules.append(
                {
                    "source_matchers": [
                        f'alertname="{prefix}{a.duplicate_of}"',
                        f'namespace="{config.namespace}"',
                    ],
                    "target_matchers": [
                        f'alertname="{a.alertname}"',
                        f'namespace="{config.namespace}"',
                    ],
                    "equal": list(a.equal),
                }
            )
    return rules


def chart_alerts_table(config: MonitoringConfig = CONFIG) -> str:
    """``CHART_ALERTS`` as the Markdown table of docs/notifications.md (a test keeps the page
    equal to it)."""
    prefix = alert_prefix(config)
    lines = [
        "| chart alert (severity) | in the app's namespace | why |",
        "|---|---|---|",
    ]
    for a in CHART_ALERTS:
        where = f"`{a.receiver}`"
        if a.duplicate_of:
            equal = ", ".join(f"`{label}`" for label in a.equal)
            where = f"inhibited while `{prefix}{a.duplicate_of}` fires (same {equal}), else {where}"
        lines.append(f"| `{a.alertname}` ({a.severity}) | {where} | {a.why} |")
    return "\n".join(lines) + "\n"


def template_files() -> dict[str, str]:
    """The notification templates: file name -> text, sorted by name.

    Raises:
        FileNotFoundError: ``TEMPLATES_DIR`` holds no ``*.tmpl`` file.
    """
    files = {p.name: p.read_text() for p in sorted(TEMPLATES_DIR.glob("*.tmpl"))}
    if not files:
        raise FileNotFoundError(f"no notification templates (*.tmpl) in {TEMPLATES_DIR}")
    return files


def alertmanager_config(
    config: MonitoringConfig = CONFIG,
    receivers: dict[str, dict] | None = None,
    timing: Timing = Timing(),
    templates: tuple[str, ...] = (CLUSTER_TEMPLATES,),
) -> dict:
    """The Alertmanager configuration as a dict.

    Args:
        config: the monitoring config (Secret name, app name, namespace, external URLs).
        receivers: receiver name -> body (e.g. ``webhook_receivers(url)``); exactly the names in
            ``RECEIVERS``. Defaults to ``default_receivers(config)``.
        timing: notification timing.
        templates: the ``templates:`` globs; the cluster's by default, ``local_templates()``
            for an Alertmanager started on this machine.

    Raises:
        ValueError: ``receivers`` misses or adds receiver names; an unknown heartbeat receiver.
    """
    bodies = default_receivers(config) if receivers is None else receivers
    if set(bodies) != set(RECEIVERS):
        missing = sorted(set(RECEIVERS) - set(bodies))
        extra = sorted(set(bodies) - set(RECEIVERS))
        raise ValueError(f"receivers must be exactly {RECEIVERS}: missing {missing}, extra {extra}")
    return {
        "route": {
            "receiver": TICKET,
            "group_by": list(GROUP_BY),
            "group_wait": timing.group_wait,
            "group_interval": timing.group_interval,
            "repeat_interval": timing.repeat_interval,
            "routes": [
                _route(
                    DEADMANSSWITCH,
                    f'alertname="{WATCHDOG}"',
                    group_wait="0s",
                    group_interval=timing.heartbeat_interval,
                    repeat_interval=timing.heartbeat_repeat_interval,
                ),
                _route(NULL, f'alertname="{INFO_INHIBITOR}"'),
                *chart_routes(config),
                _route(PAGER, 'severity="critical"', repeat_interval=timing.pager_repeat_interval),
                _route(TICKET, 'severity="warning"'),
                _route(NULL, 'severity="info"'),
            ],
        },
        "inhibit_rules": [*inhibit_rules(config), *monitoring_stack_inhibitions()],
        "receivers": [{"name": name, **copy.deepcopy(bodies[name])} for name in RECEIVERS],
        "templates": list(templates),
    }


def local_templates() -> tuple[str, ...]:
    """``templates:`` for an Alertmanager on this machine: the repository's template files."""
    return (str(TEMPLATES_DIR / "*.tmpl"),)


def amtool_025_view(am_config: dict) -> dict:
    """``am_config`` with each webhook ``url_file`` (Alertmanager >= 0.26) replaced by a
    placeholder ``url``, so amtool 0.25 can check everything else. Returns a copy."""
    view = copy.deepcopy(am_config)
    for receiver in view.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            if "url_file" in webhook:
                del webhook["url_file"]
                webhook["url"] = "https://heartbeat.invalid/url-read-from-file"
    return view


def render(
    config: MonitoringConfig = CONFIG,
    receivers: dict[str, dict] | None = None,
    timing: Timing = Timing(),
    templates: tuple[str, ...] = (CLUSTER_TEMPLATES,),
) -> str:
    """``alertmanager_config(...)`` as YAML text with a header comment."""
    header = (
        "Generated by `make alerts` from alerts/alertmanager.py. Do not edit.\n"
        f"Credentials: files of the Secret {config.alertmanager_secret_name!r} (keys "
        + ", ".join(secret_keys(config))
        + "),\nmounted by alertmanager.alertmanagerSpec.secrets; never committed.\n"
        "Templates: monitoring/alertmanager-templates/*.tmpl (alertmanager.templateFiles)."
    )
    return yamlfile.dump(alertmanager_config(config, receivers, timing, templates), header=header)


VALUES_PATH = CONFIG_PATH.with_name("alertmanager-values.yaml")
"""The kube-prometheus-stack values layer: routing, templates and external URLs."""


def values_layer(config: MonitoringConfig = CONFIG) -> dict:
    """The chart values this module owns, as a dict.

    ``alertmanager.config`` (the routing), ``alertmanager.templateFiles`` (the template files,
    mounted at ``/etc/alertmanager/config/``), ``alertmanager.alertmanagerSpec.externalUrl``,
    ``prometheus.prometheusSpec.externalUrl`` and Grafana's ``grafana.ini`` ``server.root_url``,
    all from ``config.external_urls``.
    """
    urls = config.external_urls
    return {
        "alertmanager": {
            "config": alertmanager_config(config),
            "templateFiles": template_files(),
            "alertmanagerSpec": {"externalUrl": urls.alertmanager},
        },
        "prometheus": {"prometheusSpec": {"externalUrl": urls.prometheus}},
        "grafana": {"grafana.ini": {"server": {"root_url": urls.grafana}}},
    }


def render_values(config: MonitoringConfig = CONFIG) -> str:
    """``values_layer(config)`` as YAML text.

    ``make monitoring`` passes it after ``monitoring/values.yaml`` (Helm merges maps), so the
    chart's Alertmanager runs exactly the routing of ``monitoring/alertmanager.yaml`` with the
    templates of ``monitoring/alertmanager-templates/``, from the same source.
    """
    header = (
        "Generated by `make alerts` from alerts/alertmanager.py and\n"
        "monitoring/alertmanager-templates/*.tmpl. Do not edit.\n"
        "kube-prometheus-stack values layer: helm ... --values monitoring/values.yaml "
        "--values monitoring/alertmanager-values.yaml"
    )
    return yamlfile.dump(values_layer(config), header=header)


def main(argv: list[str] | None = None) -> int:
    """Print the rendered configuration (``python -m alerts.alertmanager``).

    ``--amtool-025`` prints what amtool 0.25 can check instead: ``amtool_025_view`` of it,
    loading the repository's template files (``make alerts-test`` pipes it into
    ``amtool check-config``).
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--amtool-025"]:
        view = amtool_025_view(alertmanager_config(templates=local_templates()))
        sys.stdout.write(yamlfile.dump(view))
        return 0
    if args:
        print("usage: python -m alerts.alertmanager [--amtool-025]", file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
