"""Ports and generated configuration files of the local stack (``make run``).

Pure functions of the monitoring config and the ports, so unit tests can inspect them:

- ``prometheus_config``: one scrape job named ``config.job`` with the labels the Prometheus
  Operator attaches from a ServiceMonitor on Kubernetes (``namespace``, ``pod``, ``service``;
  ``job`` from the job name), one for the simulated kube-state-metrics (``local.kube_state``),
  the generated rules file, alerting to the local Alertmanager;
- ``blackbox_config``: the blackbox exporter's module ``config.blackbox_module``, the cluster's
  own (``k8s/blackbox-exporter/blackbox.yml``), and ``prometheus_config``'s probe job
  ``config.probe_job`` asking it to GET ``config.probe_path`` on the app (issue 18);
- ``alertmanager_local_config``: the project's routing (``alerts.alertmanager``) with every
  receiver posting to the local webhook;
- ``grafana_datasources`` / ``grafana_dashboard_provider`` / ``grafana_dashboard_files``: Grafana
  provisioning, the dashboards built from the config (``dashboards.generate``).

Every address is 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from alerts import alertmanager
from app.settings import Settings
from dashboards.generate import DashboardError, dashboard_files
from local import traffic
from monitoring.config import ExternalUrls, MonitoringConfig

HOST = "127.0.0.1"
EVALUATION_INTERVAL = "5s"
"""How often the local Prometheus evaluates the rules: short, so alerts show quickly. (The scrape
interval is ``config.scrape_interval``, 5 s in ``local_config()``.)"""
LOCAL_TIMING = alertmanager.Timing(group_wait="10s", group_interval="1m")
"""Alertmanager's notification timing locally: a first notification 10 s after an alert fires
(Kubernetes: 30 s), updates every minute; repeats as on Kubernetes."""


class StackError(RuntimeError):
    """The stack cannot start or a component failed; the message says which and why."""


@dataclass(frozen=True)
class Ports:
    """The TCP ports on 127.0.0.1 of every component.

    Defaults: the app's own default port, then each tool's customary port.
    """

    app: int = Settings.port
    prometheus: int = 9090
    alertmanager: int = 9093
    webhook: int = 5001
    grafana: int = 3000
    kube_state_metrics: int = 8080  # kube-state-metrics' own default port
    blackbox: int = 9115  # the blackbox exporter's own default port

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Ports:
        """Ports from ``PORT_ENV`` variables, defaults for the unset ones.

        Raises:
            StackError: naming every variable that is not an integer 1-65535.
        """
        env = os.environ if environ is None else environ
        values, problems = {}, []
        for name, var in PORT_ENV.items():
            raw = env.get(var)
            if not raw:
                continue
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                problems.append(f"{var}={raw!r}: must be a port number 1-65535")
            else:
                values[name] = int(raw)
        if problems:
            raise StackError("invalid environment:\n  " + "\n  ".join(problems))
        return cls(**values)

    @classmethod
    def free(cls) -> Ports:
        """Ports that were free a moment ago (tests)."""
        return cls(**{f.name: free_port() for f in fields(cls)})


PORT_ENV = {
    "app": traffic.APP_PORT_ENV,
    "prometheus": "LOCAL_PROMETHEUS_PORT",
    "alertmanager": "LOCAL_ALERTMANAGER_PORT",
    "webhook": "LOCAL_WEBHOOK_PORT",
    "grafana": "LOCAL_GRAFANA_PORT",
    "kube_state_metrics": "LOCAL_KUBE_STATE_METRICS_PORT",
    "blackbox": "LOCAL_BLACKBOX_PORT",
}
"""``Ports`` field -> the environment variable that sets it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def local_pod_name(config: MonitoringConfig) -> str:
    """The ``pod`` label (and the app's ``POD_NAME``) of the single local instance."""
    return f"{config.app_name}-local"


def prometheus_config(
    config: MonitoringConfig,
    ports: Ports,
    rules_file: Path,
    *,
    alerting: bool = True,
    probing: bool = True,
    evaluation_interval: str = EVALUATION_INTERVAL,
) -> dict:
    """The local ``prometheus.yml`` as a dict.

    One scrape job named ``config.job`` (so ``job`` is what a ServiceMonitor's Service yields)
    with ``namespace``, ``pod`` and ``service`` attached as target labels, as the Prometheus
    Operator attaches them from Kubernetes service discovery; and one named
    ``config.kube_state_metrics_job`` for the simulated kube-state-metrics at
    ``ports.kube_state_metrics``; with ``probing``, the black-box probe job (``probe_job``).
    Accepted by Prometheus 2.x and 3.x.

    Args:
        rules_file: the generated rules file to load.
        alerting: send alerts to the local Alertmanager at ``ports.alertmanager``.
        probing: scrape the blackbox exporter at ``ports.blackbox`` (``probe_job``).
    """
    prom: dict[str, Any] = {
        "global": {
            "scrape_interval": config.scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(rules_file)],
        "scrape_configs": [
            {
                "job_name": config.job,
                "metrics_path": "/metrics",
                "static_configs": [
                    {
                        "targets": [f"{HOST}:{ports.app}"],
                        "labels": {
                            "namespace": config.namespace,
                            "pod": local_pod_name(config),
                            "service": config.job,
                        },
                    }
                ],
            },
            {
                # The simulated kube-state-metrics (local.kube_state); honor_labels keeps the
                # object's own namespace/pod labels, as kube-prometheus-stack's ServiceMonitor
                # for the real one does (honorLabels: true).
                "job_name": config.kube_state_metrics_job,
                "honor_labels": True,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"{HOST}:{ports.kube_state_metrics}"]}],
            },
        ],
    }
    if probing:
        prom["scrape_configs"].append(probe_job(config, ports))
    if alerting:
        prom["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{ports.alertmanager}"]}]}]
        }
    return prom


def probe_target(config: MonitoringConfig, ports: Ports) -> str:
    """The URL the blackbox exporter GETs: ``http://127.0.0.1:<app><probe_path>``, the local
    stand-in for the Service's ``http://<service>.<namespace>.svc<probe_path>``."""
    return f"http://{HOST}:{ports.app}{config.probe_path}"


def probe_job(config: MonitoringConfig, ports: Ports) -> dict:
    """The scrape job of the black-box probe, as the Prometheus Operator renders a ``Probe``.

    The blackbox exporter's multi-target pattern: the static target is the probed URL; the
    relabelling moves it into the ``target`` parameter (and ``instance``) and points the scrape
    at the exporter, so Prometheus scrapes ``/probe?module=<blackbox_module>&target=<url>``
    every ``probe_interval``. ``job`` is ``probe_job`` (the Probe's ``jobName``), ``namespace``
    the app's (the operator adds the Probe's namespace), so ``probe_success`` carries the labels
    the outage alerts select (``alerts.availability.probe_selector``).
    Source: https://github.com/prometheus/blackbox_exporter#prometheus-configuration
    """
    return {
        "job_name": config.probe_job,
        "scrape_interval": config.probe_interval,
        "metrics_path": "/probe",
        "params": {"module": [config.blackbox_module]},
        "static_configs": [
            {"targets": [probe_target(config, ports)], "labels": {"namespace": config.namespace}}
        ],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": f"{HOST}:{ports.blackbox}"},
        ],
    }


CLUSTER_BLACKBOX_CONFIG = (
    Path(__file__).resolve().parent.parent / "k8s" / "blackbox-exporter" / "blackbox.yml"
)
"""The blackbox exporter's modules in the cluster; the local exporter loads the same module."""


def blackbox_config(config: MonitoringConfig, source: Path = CLUSTER_BLACKBOX_CONFIG) -> dict:
    """The local ``blackbox.yml``: only module ``config.blackbox_module``, taken from the
    cluster's file (``source``) so the local probe asks what the cluster's asks.

    Raises:
        StackError: ``source`` is unreadable, not YAML, or has no such module.
    """
    try:
        modules = (yaml.safe_load(source.read_text()) or {}).get("modules") or {}
    except (OSError, yaml.YAMLError, AttributeError) as error:
        raise StackError(f"blackbox exporter config {source}: {error}") from error
    module = modules.get(config.blackbox_module) if isinstance(modules, dict) else None
    if not isinstance(module, dict):
        raise StackError(
            f"blackbox exporter config {source}: no module {config.blackbox_module!r} "
            "(monitoring/config.py: blackbox_module)"
        )
    return {"modules": {config.blackbox_module: module}}


def alertmanager_local_config(
    config: MonitoringConfig, ports: Ports, timing: alertmanager.Timing = LOCAL_TIMING
) -> dict:
    """The project's Alertmanager routing with every receiver posting to the local webhook.

    A notification for receiver ``r`` arrives at ``http://127.0.0.1:<webhook>/r``.
    """
    receivers = alertmanager.webhook_receivers(f"http://{HOST}:{ports.webhook}")
    return alertmanager.alertmanager_config(
        config, receivers, timing, templates=alertmanager.local_templates()
    )


def local_external_urls(ports: Ports) -> ExternalUrls:
    """The local stack's ``config.external_urls``: its components at ``http://127.0.0.1:<port>``."""
    return ExternalUrls(
        prometheus=f"http://{HOST}:{ports.prometheus}",
        alertmanager=f"http://{HOST}:{ports.alertmanager}",
        grafana=f"http://{HOST}:{ports.grafana}",
    )


def with_local_urls(config: MonitoringConfig, ports: Ports) -> MonitoringConfig:
    """``config`` with ``external_urls`` set to the local ports, so that the rules' dashboard
    links, Prometheus' and Alertmanager's ``--web.external-url`` and Grafana's root URL all point
    at this machine."""
    return dataclasses.replace(config, external_urls=local_external_urls(ports))


def grafana_datasources(config: MonitoringConfig, ports: Ports) -> dict:
    """Grafana provisioning: the local Prometheus as the datasource the dashboards name."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": config.grafana_datasource_uid,
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://{HOST}:{ports.prometheus}",
                "isDefault": True,
                "editable": False,
                # $__rate_interval is computed from the scrape interval.
                "jsonData": {"timeInterval": config.scrape_interval},
            }
        ],
    }


def grafana_dashboard_files(config: MonitoringConfig, dashboards_dir: Path) -> dict[Path, str]:
    """Grafana provisioning: the dashboards built from ``config`` by ``dashboards.generate``.

    Locally that is ``local_config()``'s variant (no HPA panels, HA minimum 1), not the committed
    Kubernetes JSON of ``dashboards/generated/``.

    Returns:
        ``{dashboards_dir / "<name>.json": dashboard JSON text}``, for the files that
        ``grafana_dashboard_provider(config, dashboards_dir)`` makes Grafana load.

    Raises:
        StackError: the config is invalid or a dashboard source is broken (the generator's
            message, one line per problem).
    """
    try:
        files = dashboard_files(config)
    except DashboardError as error:
        raise StackError(f"dashboards: {error}") from error
    return {dashboards_dir / name: text for name, text in files.items()}


def grafana_dashboard_provider(config: MonitoringConfig, dashboards_dir: Path) -> dict:
    """Grafana provisioning: load the dashboard JSON files in ``dashboards_dir``, read-only."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": config.app_name,
                "folder": config.dashboard_folder,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": str(dashboards_dir)},
            }
        ],
    }


def write_yaml(path: Path, data: object) -> Path:
    """Write ``data`` as YAML to ``path`` (parents created); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
