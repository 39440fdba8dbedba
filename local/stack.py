"""The whole observability stack on one machine: ``make run``.

Starts, in the foreground, each bound to 127.0.0.1 only:

- the app, through the production command ``gunicorn --config python:app.gunicorn_conf``;
- a local webhook receiver (a thread of this process) printing every notification it gets from
  Alertmanager as one JSON line on stdout;
- Alertmanager (``prometheus-alertmanager`` on Debian, ``alertmanager`` elsewhere) with the
  project's routing (``alerts.alertmanager``), every receiver swapped for the local webhook
  (``webhook_receivers``), clustering off;
- Prometheus (``prometheus``), scraping the app every 5 s with the labels the ServiceMonitor
  produces on Kubernetes (``job``, ``namespace``, ``pod``, ``service``) and loading a rules file
  generated at start by the alerts generator from ``monitoring.config.local_config()``;
- Grafana, only when ``grafana`` or ``grafana-server`` is on PATH, with a Prometheus datasource
  of uid ``config.grafana_datasource_uid`` and the dashboards built from the same config by the
  dashboards generator (``build(config)``: no HPA panels locally);
- the blackbox exporter (``prometheus-blackbox-exporter`` on Debian, ``blackbox_exporter``
  elsewhere), when found, with the cluster's module ``config.blackbox_module``: Prometheus asks
  it every ``config.probe_interval`` to GET the app's ``config.probe_path`` (job
  ``config.probe_job``), the client's view the outage pages read (issue 18);
- a simulated kube-state-metrics (``local.kube_state``, a thread of this process) serving the
  Deployment's desired replicas and the app container's restart count, scraped by Prometheus;
  ``LocalStack.restart_app()`` restarts the app as the kubelet would and counts it;
- optionally the traffic generator (``local.traffic``).

Nothing is hand-copied: the rules come from ``alerts.generate.render_rules_file(config)``, the
routing from ``alerts.alertmanager.alertmanager_config``, the dashboards from
``dashboards.generate.dashboard_files(config)``; Kubernetes-only parameters (HA minimum, HPA)
take their values from ``local_config()``.
The generated ``prometheus.yml`` and ``alertmanager.yml`` are checked with ``promtool check
config`` and ``amtool check-config`` before anything starts.

State (configs, TSDB, Alertmanager data, logs, the app's multiprocess directory) lives in a
temporary directory removed on exit. However the runner ends, every process it started ends
too and the directory goes, within ``STOP_TIMEOUT_SECONDS`` + a few seconds, and one line on
stderr says so:

- Ctrl-C (SIGINT), SIGTERM or SIGHUP (terminal closed), at any moment including start-up:
  each child (its own process group) gets SIGTERM, then SIGKILL after
  ``STOP_TIMEOUT_SECONDS``; a second signal kills at once;
- stdout's reader gone (``make run | head``): the broken pipe stops the stack (``Output``);
- the runner SIGKILLed or crashing: the children get SIGKILL from the kernel
  (``PR_SET_PDEATHSIG``) and the guardian (``local.guardian``) kills their groups and removes
  the directory;
- a component failing: the runner stops the rest and names it with its last log lines.

When Prometheus, Alertmanager or the blackbox exporter is missing, the stack says how to install
them and still runs the app (and the rest it can).

Usage (``make run ARGS="..."`` passes the flags; ``--help`` lists them with their variables)::

    python -m local [--app-port N] [--prometheus-port N] [--alertmanager-port N]
        [--webhook-port N] [--grafana-port N] [--blackbox-port N] [--traffic] [--traffic-rate R]
        [--scenario NAME] [--no-grafana] [--show-logs]

Every flag also reads an environment variable (``PORT_ENV``, ``TRAFFIC``, ``SCENARIO`` ...), so
``make run SCENARIO=error-burn`` works. ``python -m local`` installs the signal handlers before
importing this module (a Ctrl-C while importing is no traceback); ``python -m local.stack``
runs the same ``main``. The app itself reads its usual environment (e.g.
``FAULT_ERROR_RATIO=0.2`` for fault injection).

In tests, ``LocalStack`` is the in-process API: ``with LocalStack(...) as stack: ...``.
``local.setup`` holds the ports and the generated configuration files (pure
functions), ``local.processes`` the children, the binaries and the webhook receiver.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from alerts import alertmanager
from alerts.common import alert_prefix
from alerts.generate import render_rules_file
from local import scenarios, traffic
from local.kube_state import KubeStateMetrics
from local.processes import (
    Binaries,
    Child,
    Guardian,
    Output,
    WebhookReceiver,
    busy_ports,
    check_file,
    grafana_homepath,
    gunicorn_command,
    http_ok,
    prometheus_ui_links,
)
from local.setup import (
    HOST,
    LOCAL_TIMING,
    PORT_ENV,
    Ports,
    StackError,
    alertmanager_local_config,
    blackbox_config,
    grafana_dashboard_files,
    grafana_dashboard_provider,
    grafana_datasources,
    local_pod_name,
    probe_target,
    prometheus_config,
    with_local_urls,
    write_yaml,
)
from monitoring.config import MonitoringConfig, local_config

__all__ = ["PORT_ENV", "LocalStack", "Ports", "StackError", "main"]

GRAFANA_DASHBOARDS = Path("grafana") / "dashboards"
"""Where, under the state directory, the dashboards built from the config are written."""
STOP_TIMEOUT_SECONDS = 10.0
"""How long the children get to exit after SIGTERM before SIGKILL: with the kill and the
directory's removal the whole stop stays within 15 s (locally the app does not drain)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that stop the stack: Ctrl-C, ``kill``, the terminal closing."""
READY_TIMEOUT_SECONDS = 30.0
"""How long each component gets to answer its readiness endpoint at start."""

INSTALL_HINT = (
    "install them with `sudo apt-get install prometheus prometheus-alertmanager` "
    "(Debian/Ubuntu) or `brew install prometheus alertmanager` (macOS)"
)
GRAFANA_HINT = (
    "Grafana is not installed, so the dashboards are not served locally; to see them, install "
    "it (Debian/Ubuntu: add Grafana's apt repository, "
    "https://grafana.com/docs/grafana/latest/setup-grafana/installation/debian/, then "
    "`sudo apt-get install grafana`; macOS: `brew install grafana`) and run `make run` again: "
    "it provisions the datasource and the dashboards as the sidecar does"
)
BLACKBOX_HINT = (
    "the blackbox exporter is not installed, so nothing probes the app locally: "
    "{prefix}ServiceUnreachable cannot fire and {prefix}ProbeAbsent will; install it with "
    "`sudo apt-get install prometheus-blackbox-exporter` (Debian/Ubuntu) or "
    "`brew install blackbox_exporter` (macOS)"
)
PROMETHEUS_PAGES = ("alerts", "targets", "rules", "graph")
"""The Prometheus UI pages the banner links to (checked against the running server)."""


# --- the stack ------------------------------------------------------------------------------------
@dataclass
class LocalStack:
    """The local stack; ``start()`` then ``stop()``, or use it as a context manager.

    Attributes:
        config: the monitoring config the rules, routing and dashboards are generated from.
        ports: where everything listens (127.0.0.1).
        timing: Alertmanager's notification timing.
        app_env: extra environment for the app (e.g. ``{"FAULT_ERROR_RATIO": "0.2"}``); the
            app otherwise inherits this process's environment.
        traffic_rate: requests per second of the traffic generator; ``None`` = no traffic.
        grafana: start Grafana when its binary is found.
        show_logs: children write to our stdout instead of log files.
        out: where status lines and webhook notifications go.
        state_parent: where the temporary state directory is created (default: the system's).
    """

    config: MonitoringConfig = field(default_factory=local_config)
    ports: Ports = field(default_factory=Ports)
    timing: alertmanager.Timing = LOCAL_TIMING
    app_env: Mapping[str, str] = field(default_factory=dict)
    traffic_rate: float | None = None
    grafana: bool = True
    show_logs: bool = False
    out: IO[str] = sys.stdout
    state_parent: Path | None = None
    binaries: Binaries = field(default_factory=Binaries.find)
    scenario: scenarios.Scenario | None = None

    def __post_init__(self) -> None:
        # Every link (rules' dashboard_url, --web.external-url, Grafana's root URL) is local.
        self.config = with_local_urls(self.config, self.ports)
        self.state_dir: Path | None = None
        self.children: dict[str, Child] = {}
        self.guardian: Guardian | None = None
        self.prometheus_links: dict[str, str] = {}
        self.watch: scenarios.ScenarioWatch | None = None
        self.stop_reason = ""
        self.webhook: WebhookReceiver | None = None
        self.kube_state: KubeStateMetrics | None = None
        self._app_env: dict[str, str] = {}
        self.traffic: traffic.TrafficGenerator | None = None
        self.stop_requested = threading.Event()
        self.force_stop = threading.Event()
        self.notes: list[str] = []

    # --- addresses ------------------------------------------------------------------------------
    def url(self, component: str) -> str:
        """``http://127.0.0.1:<port>`` of ``component`` (a ``Ports`` field name)."""
        return f"http://{HOST}:{getattr(self.ports, component)}"

    @property
    def pod_name(self) -> str:
        """The local instance's ``pod`` label and ``POD_NAME``."""
        return local_pod_name(self.config)

    # --- start ----------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        """Generate and check the configs, start every component, wait until each is ready.

        Raises:
            StackError: a port is busy, a generated config is invalid, a dashboard cannot be
                built, or a component does not become ready within ``READY_TIMEOUT_SECONDS``
                (its log tail is in the message).
            ValueError: the monitoring config is inconsistent or the traffic rate out of bounds
                (``traffic.TrafficError``), before anything starts.
            InterruptedError: ``stop_requested`` was set while starting.
        """
        b = self.binaries
        have_prometheus = b.prometheus is not None
        have_alertmanager = b.alertmanager is not None
        # The probe only matters to a Prometheus that scrapes it.
        have_blackbox = have_prometheus and b.blackbox_exporter is not None
        if have_prometheus and not have_blackbox:
            self.notes.append(BLACKBOX_HINT.format(prefix=alert_prefix(self.config)))
        grafana_cmd = b.grafana if self.grafana and have_prometheus else None
        if self.grafana and have_prometheus and b.grafana is None:
            self.notes.append(GRAFANA_HINT)
        grafana_home = grafana_homepath(grafana_cmd) if grafana_cmd else None
        if grafana_cmd and grafana_home is None:
            self.notes.append(
                f"Grafana found ({grafana_cmd[0]}) but not its home directory (conf/defaults.ini);"
                " set GRAFANA_HOMEPATH to start it"
            )
            grafana_cmd = None
        missing = [
            n
            for n, p in (("prometheus", have_prometheus), ("alertmanager", have_alertmanager))
            if not p
        ]
        if missing:
            self.notes.append(
                f"{' and '.join(missing)} not found on PATH: {INSTALL_HINT}; starting the rest"
            )

        # A bad rate fails here, before anything starts (TrafficError names it).
        generator = (
            traffic.TrafficGenerator(self.url("app"), self.traffic_rate)
            if self.traffic_rate
            else None
        )
        wanted = ["app"]
        if have_prometheus:
            wanted += ["prometheus", "kube_state_metrics"]
        if have_blackbox:
            wanted.append("blackbox")
        if have_alertmanager:
            wanted += ["alertmanager", "webhook"]
        if grafana_cmd:
            wanted.append("grafana")
        busy = busy_ports(self.ports, tuple(wanted))
        if busy:
            raise StackError("ports in use on 127.0.0.1: " + "; ".join(busy))

        self.state_dir = Path(
            tempfile.mkdtemp(prefix=f"{self.config.app_name}-local-", dir=self.state_parent)
        )
        state = self.state_dir
        # Before the first child: whatever ends this process, the guardian cleans up after it.
        self.guardian = Guardian(state).start()

        # Configs first, checked before anything starts.
        rules = state / "rules.yml"
        rules.write_text(render_rules_file(self.config))
        if have_prometheus:
            prom_yml = write_yaml(
                state / "prometheus.yml",
                prometheus_config(
                    self.config,
                    self.ports,
                    rules,
                    alerting=have_alertmanager,
                    probing=have_blackbox,
                ),
            )
            if b.promtool:
                check_file([b.promtool, "check", "config", str(prom_yml)], "prometheus.yml")
                self._check_interrupted()
            else:
                self.notes.append("promtool not found: prometheus.yml not checked")
        if have_blackbox:
            blackbox_yml = write_yaml(state / "blackbox.yml", blackbox_config(self.config))
            check_file(
                [b.blackbox_exporter, f"--config.file={blackbox_yml}", "--config.check"],
                "blackbox.yml",
            )
            self._check_interrupted()
        if have_alertmanager:
            am_yml = write_yaml(
                state / "alertmanager.yml",
                alertmanager_local_config(self.config, self.ports, self.timing),
            )
            if b.amtool:
                check_file([b.amtool, "check-config", str(am_yml)], "alertmanager.yml")
                self._check_interrupted()
            else:
                self.notes.append("amtool not found: alertmanager.yml not checked")
        if grafana_cmd:
            # The dashboards' silence links point at this Alertmanager (self.config carries the
            # stack's own external URLs: local.setup.with_local_urls).
            dashboards = grafana_dashboard_files(self.config, state / GRAFANA_DASHBOARDS)
            for path, text in dashboards.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)

        # The app.
        env = dict(os.environ)
        env.setdefault("APP_ENV", "local")
        # No load balancer removes a local instance: a drain would only delay Ctrl-C.
        env.setdefault("SHUTDOWN_DRAIN_SECONDS", "0")
        env.update(
            {
                "HOST": HOST,
                "PORT": str(self.ports.app),
                "POD_NAME": self.pod_name,
                "PROMETHEUS_MULTIPROC_DIR": str(state / "app-multiproc"),
            }
        )
        env.update(self.app_env)
        self._app_env = env
        self._start("app", gunicorn_command(), env)
        self._wait_ready("app", self.url("app") + "/healthz")

        if have_alertmanager:
            self.webhook = WebhookReceiver(self.ports.webhook, self.out).start()
            self._start(
                "alertmanager",
                [
                    b.alertmanager,
                    f"--config.file={am_yml}",
                    f"--storage.path={state / 'alertmanager'}",
                    f"--web.listen-address={HOST}:{self.ports.alertmanager}",
                    # Links in notifications point here, not at this machine's host name.
                    f"--web.external-url={self.config.external_urls.alertmanager}",
                    "--cluster.listen-address=",  # empty: no gossip, a single local instance
                ],
            )
        if have_blackbox:
            self._start(
                "blackbox",
                [
                    b.blackbox_exporter,
                    f"--config.file={blackbox_yml}",
                    f"--web.listen-address={HOST}:{self.ports.blackbox}",
                ],
            )
        if have_prometheus:
            try:
                self.kube_state = KubeStateMetrics(
                    self.config, self.pod_name, self.ports.kube_state_metrics, HOST
                ).start()
            except OSError as error:  # taken since busy_ports looked
                raise StackError(
                    f"simulated kube-state-metrics cannot listen on "
                    f"{HOST}:{self.ports.kube_state_metrics}: {error}"
                ) from error
            self._start(
                "prometheus",
                [
                    b.prometheus,
                    f"--config.file={prom_yml}",
                    f"--storage.tsdb.path={state / 'prometheus'}",
                    f"--web.listen-address={HOST}:{self.ports.prometheus}",
                    f"--web.external-url={self.config.external_urls.prometheus}",
                ],
            )
        if grafana_cmd:
            self._start_grafana(grafana_cmd, grafana_home)

        if have_alertmanager:
            self._wait_ready("alertmanager", self.url("alertmanager") + "/-/ready")
        if have_blackbox:
            self._wait_ready("blackbox", self.url("blackbox") + "/-/healthy")
        if have_prometheus:
            self._wait_ready("prometheus", self.url("prometheus") + "/-/ready")
        if grafana_cmd:
            self._wait_ready("grafana", self.url("grafana") + "/api/health")
        if have_prometheus:
            self.prometheus_links = prometheus_ui_links(self.url("prometheus"))
        if generator is not None:
            self.traffic = generator.start()
        if self.scenario is not None and have_prometheus and self.webhook is not None:
            self.watch = scenarios.ScenarioWatch(
                self.scenario,
                self.config,
                self.url("prometheus"),
                self.webhook.notifications,
                self.webhook.arrivals,
                self.say,
                self.stop_app,
                self.timing.group_wait,
            )
        elif self.scenario is not None:
            self.notes.append(f"scenario {self.scenario.name} needs Prometheus and Alertmanager")
        return self

    def _start_grafana(self, command: tuple[str, ...], home: Path | None) -> None:
        state = self.state_dir
        provisioning = state / "grafana" / "provisioning"
        write_yaml(
            provisioning / "datasources" / "prometheus.yml",
            grafana_datasources(self.config, self.ports),
        )
        write_yaml(
            provisioning / "dashboards" / "demo-app.yml",
            grafana_dashboard_provider(self.config, state / GRAFANA_DASHBOARDS),
        )
        for empty in ("plugins", "alerting", "notifiers"):
            (provisioning / empty).mkdir(parents=True, exist_ok=True)
        overview = state / GRAFANA_DASHBOARDS / "overview.json"
        env = dict(os.environ)
        env.update(
            {
                "GF_PATHS_DATA": str(state / "grafana" / "data"),
                "GF_PATHS_LOGS": str(state / "grafana" / "logs"),
                "GF_PATHS_PLUGINS": str(state / "grafana" / "plugins"),
                "GF_PATHS_PROVISIONING": str(provisioning),
                "GF_SERVER_HTTP_ADDR": HOST,
                "GF_SERVER_HTTP_PORT": str(self.ports.grafana),
                # Links Grafana builds (and the alerts' dashboard_url) use the same root.
                "GF_SERVER_ROOT_URL": self.config.external_urls.grafana,
                # Local and bound to 127.0.0.1: anyone on this machine may look, not edit.
                "GF_AUTH_ANONYMOUS_ENABLED": "true",
                "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                "GF_ANALYTICS_REPORTING_ENABLED": "false",
                "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
                "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
                "GF_NEWS_NEWS_FEED_ENABLED": "false",
            }
        )
        if overview.is_file():
            env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] = str(overview)
        self._start("grafana", [*command, f"--homepath={home}"], env)

    def _start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Child:
        self._check_interrupted()
        assert self.state_dir is not None
        child = Child(name, argv, self.state_dir / f"{name}.log", env, self.show_logs)
        self.children[name] = child
        child.start()
        if self.guardian is not None and child.pid is not None:
            self.guardian.watch(child.pid)
        return child

    def _wait_ready(self, name: str, url: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        child = self.children[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_interrupted()
            if not child.running():
                raise StackError(
                    f"{name} exited with status {child.returncode()} at start; the last lines "
                    f"of its log ({child.log_path}):\n{child.log_tail()}"
                )
            if http_ok(url):
                return
            self.stop_requested.wait(0.2)
        raise StackError(f"{name} not ready within {timeout:g} s ({url}):\n{child.log_tail()}")

    def _check_interrupted(self) -> None:
        if self.stop_requested.is_set():
            raise InterruptedError("stop requested while starting")

    # --- running --------------------------------------------------------------------------------
    def banner(self) -> str:
        """What runs where, for the terminal."""
        lines = [f"{self.config.app_name} local stack (state in {self.state_dir}):"]
        app_pid = self.children["app"].pid if "app" in self.children else "-"
        lines.append(
            f"  app           {self.url('app')}/hello   (pod {self.pod_name}, pid {app_pid})"
        )
        if "prometheus" in self.children:
            links = self.prometheus_links
            if links:
                lines.append(f"  Prometheus    {links['alerts']}")
                others = ", ".join(links[p] for p in PROMETHEUS_PAGES if p != "alerts")
                lines.append(f"                {others}")
            else:
                lines.append(
                    f"  Prometheus    {self.url('prometheus')}   (its UI pages did not answer)"
                )
        if self.kube_state is not None:
            lines.append(
                f"  kube-state    {self.url('kube_state_metrics')}/metrics   "
                "(simulated: desired replicas, container restarts)"
            )
        if "blackbox" in self.children:
            lines.append(
                f"  blackbox      {self.url('blackbox')}   (probes "
                f"{probe_target(self.config, self.ports)} every {self.config.probe_interval})"
            )
        if "alertmanager" in self.children:
            lines.append(f"  Alertmanager  {self.url('alertmanager')}   (routing, silences)")
            lines.append(
                f"  webhook       {self.url('webhook')}/<receiver>   "
                "(prints each notification below as one JSON line)"
            )
        if "grafana" in self.children:
            lines.append(f"  Grafana       {self.url('grafana')}/dashboards   (anonymous viewer)")
        if self.traffic is not None:
            lines.append(f"  traffic       {self.traffic.rate:g} requests/s to the app")
        if not self.show_logs:
            lines.append(f"  logs          {self.state_dir}/<component>.log")
        if self.scenario is not None:
            lines.append(f"  scenario      {self.scenario.name}: {self.scenario.summary}")
        lines += [f"  note: {note}" for note in self.notes]
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)

    def say(self, message: str) -> None:
        """Print a status line to ``out``."""
        self.out.write(message + "\n")
        self.out.flush()

    def supervise(self) -> int:
        """Run until ``stop_requested`` or a monitoring component dies; return the exit status.

        The app exiting is reported but does not stop the stack: Prometheus then shows the
        "metrics gone" alert, which is one way to demonstrate alerting.
        """
        app_reported = False
        while not self.stop_requested.wait(0.5):
            if isinstance(self.out, Output) and self.out.closed_by_reader():
                return 0
            if self.watch is not None:
                self.watch.tick()
            for name, child in self.children.items():
                if child.running():
                    continue
                if name == "app":
                    if not app_reported and not (self.watch and self.watch.app_stopped_at):
                        app_reported = True
                        self.say(
                            f"the app exited (status {child.returncode()}); Prometheus will fire "
                            f"the metrics-gone alert after {self.config.metrics_absent_for}"
                        )
                    continue
                self.stop_reason = (
                    f"{name} exited with status {child.returncode()}; the last lines of its log "
                    f"({child.log_path}):\n{child.log_tail(15)}"
                )
                return 1
        return 0

    def stop_app(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """Stop only the app (SIGTERM, SIGKILL after ``timeout``); return its exit status."""
        child = self.children["app"]
        if self.traffic is not None:
            self.traffic.stop()
        child.terminate()
        child.wait(time.monotonic() + timeout, self.force_stop)
        child.kill()
        return child.returncode()

    def restart_app(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Restart the app's "container" as the kubelet does after a crash: kill it (SIGKILL),
        start the same command with the same environment and pod name, wait for /healthz, and
        count the restart in the simulated kube-state-metrics. Returns the restarts so far.

        Raises:
            StackError: the app does not come back within ``READY_TIMEOUT_SECONDS``.
        """
        child = self.children["app"]
        child.kill()
        child.wait(time.monotonic() + timeout, self.force_stop)
        restarts = self.kube_state.record_restart() if self.kube_state is not None else 0
        self._start("app", gunicorn_command(), self._app_env)
        self._wait_ready("app", self.url("app") + "/healthz")
        return restarts

    # --- stop -----------------------------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> str:
        """Stop everything: SIGTERM all children, SIGKILL what remains after ``timeout`` seconds
        (at once when ``force_stop`` is set); stop the webhook and remove the state directory.

        Returns:
            one line saying what was stopped and removed (or what is left, if anything).
        """
        started = time.monotonic()
        self.stop_requested.set()
        if self.traffic is not None:
            self.traffic.stop()
        for child in self.children.values():
            child.terminate()
        deadline = time.monotonic() + timeout
        slow = []
        for child in self.children.values():
            if not child.wait(deadline, self.force_stop) and not self.force_stop.is_set():
                slow.append(child.name)
        if slow:
            self.say(f"{', '.join(slow)} did not stop within {timeout:g} s of SIGTERM: killed")
        for child in self.children.values():
            child.kill()
        if self.webhook is not None:
            self.webhook.stop()
        if self.kube_state is not None:
            self.kube_state.stop()
        # Killed workers of a killed master are reaped by init, a moment later.
        settle = time.monotonic() + 3.0
        left = [c for c in self.children.values() if c.group_alive()]
        while left and time.monotonic() < settle:
            time.sleep(0.05)
            left = [c for c in left if c.group_alive()]
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if self.guardian is not None:
            self.guardian.done()
        took = time.monotonic() - started
        count = len(self.children)
        if left:
            names = ", ".join(c.name for c in left)
            return f"stopped with processes left running: {names} ({took:.1f} s)"
        removed = f", {self.state_dir} removed" if self.state_dir is not None else ""
        return f"stopped: all {count} processes ended{removed} ({took:.1f} s)"

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- command line ---------------------------------------------------------------------------------
FLAG_ENV = {
    "traffic": "TRAFFIC",
    "traffic_rate": traffic.RATE_ENV,
    "scenario": "SCENARIO",
    "no_grafana": "NO_GRAFANA",
    "show_logs": "SHOW_LOGS",
}
"""Flags other than the ports -> the environment variable giving their default."""
_FALSE = {"", "0", "false", "no", "off"}


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None):
    """The command line; every default comes from the environment (``PORT_ENV``, ``FLAG_ENV``).

    Returns:
        an ``argparse.Namespace``; exits with status 2 (argparse's usage error) on a bad flag or
        variable, naming it.
    """
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="make run ARGS=... / python -m local",
        description="Run the app, Prometheus, Alertmanager, a webhook receiver and (when "
        "installed) Grafana on 127.0.0.1, in the foreground. Ctrl-C stops everything. Each flag "
        "has an environment variable (shown in brackets); `make run VAR=value` sets it.",
    )
    try:
        defaults = Ports.from_env(env)
    except StackError as error:
        parser.error(str(error))
    for name, var in PORT_ENV.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}-port",  # dest stays <name>_port
            type=int,
            default=getattr(defaults, name),
            metavar="PORT",
            help=f"{name} port [${var}] (default {getattr(defaults, name)})",
        )

    def flag(name: str) -> bool:
        return env.get(FLAG_ENV[name], "").strip().lower() not in _FALSE

    parser.add_argument(
        "--traffic",
        action="store_true",
        default=flag("traffic"),
        help="also send a realistic request mix to the app [$TRAFFIC=1]",
    )
    parser.add_argument(
        "--traffic-rate",
        type=float,
        metavar="R",
        # a string default goes through `type` too: a bad $TRAFFIC_RATE is a usage error
        default=env.get(traffic.RATE_ENV) or str(traffic.DEFAULT_RATE),
        help=f"requests per second with --traffic [${traffic.RATE_ENV}] "
        f"(default {traffic.DEFAULT_RATE:g})",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(scenarios.SCENARIOS),
        default=env.get("SCENARIO") or None,
        help="run a fault scenario and show its progress until the page arrives [$SCENARIO]: "
        + scenarios.describe().replace("%", "%%"),
    )
    parser.add_argument(
        "--no-grafana",
        action="store_true",
        default=flag("no_grafana"),
        help="do not start Grafana [$NO_GRAFANA=1]",
    )
    parser.add_argument(
        "--show-logs",
        action="store_true",
        default=flag("show_logs"),
        help="children log to this terminal, not to files [$SHOW_LOGS=1]",
    )
    args = parser.parse_args(argv)
    if args.scenario is not None and args.scenario not in scenarios.SCENARIOS:
        # argparse checks `choices` only for values given on the command line, not defaults
        parser.error(
            f"invalid choice: {args.scenario!r} (SCENARIO; choose from "
            f"{', '.join(sorted(scenarios.SCENARIOS))})"
        )
    return args


def _stderr(message: str) -> None:
    """One line on stderr, where a terminal still sees it when stdout is a closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        print(f"local stack: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None, pending_signals: list[int] | None = None) -> int:
    """Run the stack in the foreground until a stop signal; return the exit status.

    Args:
        argv: the flags (default ``sys.argv[1:]``).
        pending_signals: stop signals received before this function installed its handlers
            (``local.__main__`` collects them while importing); each counts as received now.

    Returns:
        0 after a requested stop (signal, closed output), 1 when a component failed or the
        stack could not start (the message names it), 2 on a usage error (from argparse).
    """
    args = parse_args(argv)
    scenario = scenarios.SCENARIOS[args.scenario] if args.scenario else None
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in PORT_ENV})
    stack: LocalStack | None = None
    signals: list[int] = list(pending_signals or [])

    def on_closed(reason: str) -> None:
        if stack is not None:
            stack.stop_reason = stack.stop_reason or reason
            stack.stop_requested.set()

    out = Output(sys.stdout, on_closed)
    app_env = dict(scenario.app_env) if scenario else {}
    rate = args.traffic_rate if (args.traffic or (scenario and scenario.traffic)) else None
    stack = LocalStack(
        ports=ports,
        traffic_rate=rate,
        grafana=not args.no_grafana,
        show_logs=args.show_logs,
        out=out,
        app_env=app_env,
        scenario=scenario,
    )

    def on_signal(signum: int, frame: object) -> None:
        if stack.stop_requested.is_set():
            if not stack.force_stop.is_set():
                stack.force_stop.set()  # a second signal: no more waiting
                _stderr(f"{signal.Signals(signum).name} again: killing what is left now")
            return
        stack.stop_reason = stack.stop_reason or f"{signal.Signals(signum).name} received"
        stack.stop_requested.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    for signum in signals:
        on_signal(signum, None)
    status = 0
    try:
        if not stack.stop_requested.is_set():
            stack.start()
            stack.say(stack.banner())
            status = stack.supervise()
    except InterruptedError:
        pass
    except (StackError, ValueError) as error:
        stack.stop_reason = str(error)
        status = 1
    finally:
        if stack.children or stack.state_dir is not None:
            _stderr(
                f"stopping ({stack.stop_reason or 'requested'}); a second Ctrl-C kills at once"
                if status == 0
                else f"stopping: {stack.stop_reason}"
            )
            _stderr(stack.stop())
        else:
            if status:
                _stderr(stack.stop_reason)
            else:
                _stderr(f"{stack.stop_reason or 'stopped'} before anything started")
    return status


if __name__ == "__main__":
    sys.exit(main())
