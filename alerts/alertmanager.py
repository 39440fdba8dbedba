"""The Alertmanager configuration: routing by severity, inhibition, and the receivers.

``alertmanager_config(config, receivers)`` returns the configuration as a dict, the shape of
kube-prometheus-stack's ``alertmanager.config`` value and of a plain ``alertmanager.yml``;
``monitoring/alertmanager.yaml`` is its committed rendering (``make alerts``).

Routing (every route groups by ``alertname`` and ``namespace``):

==========================  =====================  ==============================================
match                       receiver               why
==========================  =====================  ==============================================
alertname="Watchdog"        ``deadmansswitch``     kube-prometheus-stack's always-firing alert,
                                                   re-sent every minute to an external heartbeat
                                                   that raises the alarm when it stops arriving
alertname="InfoInhibitor"   ``null``               kube-prometheus-stack's helper, never sent
severity="critical"         ``pager``              pages a human now
severity="warning"          ``ticket``             a chat message / ticket, office hours
severity="info"             ``null``               dashboards only
anything else               ``ticket`` (the root)  an alert without a known severity is seen, not
                                                   silently dropped
==========================  =====================  ==============================================

A warning is inhibited while a critical alert with the same ``alertname`` and ``namespace``
fires (the SLO burn alerts share one name for page and ticket). The monitoring stack's replica
tickets inhibit the chart's generic alerts about the same replicas
(``monitoring_stack_inhibitions``).

Credentials are never in the file: every secret is read by Alertmanager from a file of the
Kubernetes Secret ``config.alertmanager_secret_name``, which kube-prometheus-stack mounts when it
is listed in ``alertmanager.alertmanagerSpec.secrets`` (at ``/etc/alertmanager/secrets/<name>/``).
Only fields that Alertmanager 0.25 (Debian, the tests) and 0.34 (kube-prometheus-stack) both
accept are used: ``routing_key_file`` (PagerDuty), ``api_url_file`` (Slack) and
``http_config.authorization.credentials_file``. A webhook's ``url_file`` does not exist in 0.25
(amtool 0.25 rejects it), so the dead man's switch posts to a heartbeat URL that is not secret
(an Opsgenie heartbeat ping, named after the app) and authenticates with the API key file.

The local stack swaps every receiver for a local webhook with
``alertmanager_config(config, webhook_receivers("http://127.0.0.1:PORT"))``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from alerts import monitoring_stack
from monitoring import yamlfile
from monitoring.config import CONFIG, MonitoringConfig

CONFIG_PATH = Path(__file__).resolve().parent.parent / "monitoring" / "alertmanager.yaml"
"""Where the rendered configuration is committed."""

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

SECRET_MOUNT_DIR = "/etc/alertmanager/secrets"  # noqa: S105 - a directory, not a password
"""Where the Prometheus Operator mounts ``alertmanagerSpec.secrets`` (one folder per Secret)."""
SECRET_KEYS = {
    PAGER: "pagerduty-routing-key",
    TICKET: "slack-webhook-url",
    DEADMANSSWITCH: "heartbeat-api-key",
}
"""Key of each receiver's credential in the Secret ``config.alertmanager_secret_name``."""


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


def secret_file(config: MonitoringConfig, receiver: str) -> str:
    """Path of a receiver's credential file inside the Alertmanager pod."""
    return f"{SECRET_MOUNT_DIR}/{config.alertmanager_secret_name}/{SECRET_KEYS[receiver]}"


def heartbeat_url(config: MonitoringConfig) -> str:
    """The dead man's switch URL: an Opsgenie heartbeat ping named ``<app_name>-watchdog``.

    Not a secret (the API key authenticates the call). Create the heartbeat in Opsgenie with an
    interval of a few minutes; it alerts when Alertmanager's pings stop.
    """
    return f"https://api.opsgenie.com/v2/heartbeats/{config.app_name}-watchdog/ping"


def default_receivers(config: MonitoringConfig = CONFIG) -> dict[str, dict]:
    """The production receivers: name -> receiver body (without ``name``), credentials by file."""
    return {
        PAGER: {
            "pagerduty_configs": [
                {"routing_key_file": secret_file(config, PAGER), "send_resolved": True}
            ]
        },
        TICKET: {
            "slack_configs": [{"api_url_file": secret_file(config, TICKET), "send_resolved": True}]
        },
        NULL: {},
        DEADMANSSWITCH: {
            "webhook_configs": [
                {
                    "url": heartbeat_url(config),
                    "send_resolved": False,
                    "http_config": {
                        "authorization": {
                            "type": "GenieKey",
                            "credentials_file": secret_file(config, DEADMANSSWITCH),
                        }
                    },
                }
            ]
        },
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


def alertmanager_config(
    config: MonitoringConfig = CONFIG,
    receivers: dict[str, dict] | None = None,
    timing: Timing = Timing(),
) -> dict:
    """The Alertmanager configuration as a dict.

    Args:
        config: the monitoring config (Secret name, app name).
        receivers: receiver name -> body (e.g. ``webhook_receivers(url)``); exactly the names in
            ``RECEIVERS``. Defaults to ``default_receivers(config)``.
        timing: notification timing.

    Raises:
        ValueError: ``receivers`` misses or adds receiver names.
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
                _route(PAGER, 'severity="critical"', repeat_interval=timing.pager_repeat_interval),
                _route(TICKET, 'severity="warning"'),
                _route(NULL, 'severity="info"'),
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": list(GROUP_BY),
            },
            *monitoring_stack_inhibitions(),
        ],
        "receivers": [{"name": name, **bodies[name]} for name in RECEIVERS],
    }


def render(
    config: MonitoringConfig = CONFIG,
    receivers: dict[str, dict] | None = None,
    timing: Timing = Timing(),
) -> str:
    """``alertmanager_config(...)`` as YAML text with a header comment."""
    header = (
        "Generated by `make alerts` from alerts/alertmanager.py. Do not edit.\n"
        f"Credentials: files of the Secret {config.alertmanager_secret_name!r} (keys "
        + ", ".join(SECRET_KEYS.values())
        + "),\nmounted by alertmanager.alertmanagerSpec.secrets; never committed."
    )
    return yamlfile.dump(alertmanager_config(config, receivers, timing), header=header)


VALUES_PATH = CONFIG_PATH.with_name("alertmanager-values.yaml")
"""The routing as a kube-prometheus-stack values layer (``alertmanager.config``)."""


def render_values(config: MonitoringConfig = CONFIG) -> str:
    """The routing wrapped as chart values: ``{"alertmanager": {"config": ...}}`` (YAML text).

    ``make monitoring`` passes it after ``monitoring/values.yaml``, so the chart's Alertmanager
    runs exactly the routing of ``monitoring/alertmanager.yaml``, from the same source.
    """
    header = (
        "Generated by `make alerts` from alerts/alertmanager.py. Do not edit.\n"
        "kube-prometheus-stack values layer: helm ... --values monitoring/values.yaml "
        "--values monitoring/alertmanager-values.yaml"
    )
    return yamlfile.dump({"alertmanager": {"config": alertmanager_config(config)}}, header=header)


def main() -> int:
    """Print the rendered configuration (``python -m alerts.alertmanager``)."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
