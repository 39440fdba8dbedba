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
temporary directory removed on exit. One Ctrl-C (SIGINT) or SIGTERM stops everything: each child
runs in its own process group and gets SIGTERM, then SIGKILL after ``STOP_TIMEOUT_SECONDS``; a
second signal skips the wait.

When Prometheus or Alertmanager is missing, the stack says how to install them and still runs
the app (and the rest it can).

Usage::

    python -m local.stack [--app-port N] [--prometheus-port N]
        [--alertmanager-port N] [--webhook-port N] [--grafana-port N] [--traffic] [--show-logs]

Every port also reads an environment variable (``PORT_ENV``), e.g. ``LOCAL_PROMETHEUS_PORT``.
The app itself reads its usual environment (e.g. ``FAULT_ERROR_RATIO=0.2`` for fault injection).

In tests, ``LocalStack`` is the in-process API: ``with LocalStack(...) as stack: ...``.
``local.setup`` holds the ports and the generated configuration files (pure
functions), ``local.processes`` the children, the binaries and the webhook receiver.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from alerts.generate import render_rules_file
from local import traffic
from local.kube_state import KubeStateMetrics
from local.processes import (
    Binaries,
    Child,
    WebhookReceiver,
    busy_ports,
    check_file,
    grafana_homepath,
    gunicorn_command,
    http_ok,
)
from local.setup import (
    HOST,
    LOCAL_TIMING,
    PORT_ENV,
    Ports,
    StackError,
    alertmanager_local_config,
    grafana_dashboard_files,
    grafana_dashboard_provider,
    grafana_datasources,
    local_pod_name,
    prometheus_config,
    write_yaml,
)
from monitoring.config import MonitoringConfig, local_config

__all__ = ["PORT_ENV", "LocalStack", "Ports", "StackError", "main"]

GRAFANA_DASHBOARDS = Path("grafana") / "dashboards"
"""Where, under the state directory, the dashboards built from the config are written."""
STOP_TIMEOUT_SECONDS = 15.0
"""How long the children get to exit after SIGTERM before SIGKILL (the app drains first)."""
READY_TIMEOUT_SECONDS = 30.0
"""How long each component gets to answer its readiness endpoint at start."""

INSTALL_HINT = (
    "install them with `sudo apt-get install prometheus prometheus-alertmanager` "
    "(Debian/Ubuntu) or `brew install prometheus alertmanager` (macOS)"
)


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

    def __post_init__(self) -> None:
        self.state_dir: Path | None = None
        self.children: dict[str, Child] = {}
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
        grafana_cmd = b.grafana if self.grafana and have_prometheus else None
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

        # Configs first, checked before anything starts.
        rules = state / "rules.yml"
        rules.write_text(render_rules_file(self.config))
        if have_prometheus:
            prom_yml = write_yaml(
                state / "prometheus.yml",
                prometheus_config(self.config, self.ports, rules, alerting=have_alertmanager),
            )
            if b.promtool:
                check_file([b.promtool, "check", "config", str(prom_yml)], "prometheus.yml")
            else:
                self.notes.append("promtool not found: prometheus.yml not checked")
        if have_alertmanager:
            am_yml = write_yaml(
                state / "alertmanager.yml",
                alertmanager_local_config(self.config, self.ports, self.timing),
            )
            if b.amtool:
                check_file([b.amtool, "check-config", str(am_yml)], "alertmanager.yml")
            else:
                self.notes.append("amtool not found: alertmanager.yml not checked")
        if grafana_cmd:
            # The dashboards' silence links point at this Alertmanager.
            shown = dataclasses.replace(
                self.config, alertmanager_external_url=self.url("alertmanager")
            )
            for path, text in grafana_dashboard_files(shown, state / GRAFANA_DASHBOARDS).items():
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
                    f"--web.external-url={self.url('alertmanager')}",
                    "--cluster.listen-address=",  # empty: no gossip, a single local instance
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
                    f"--web.external-url={self.url('prometheus')}",
                ],
            )
        if grafana_cmd:
            self._start_grafana(grafana_cmd, grafana_home)

        if have_alertmanager:
            self._wait_ready("alertmanager", self.url("alertmanager") + "/-/ready")
        if have_prometheus:
            self._wait_ready("prometheus", self.url("prometheus") + "/-/ready")
        if grafana_cmd:
            self._wait_ready("grafana", self.url("grafana") + "/api/health")
        if generator is not None:
            self.traffic = generator.start()
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
        return child.start()

    def _wait_ready(self, name: str, url: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        child = self.children[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_interrupted()
            if not child.running():
                raise StackError(
                    f"{name} exited with status {child.returncode()} at start:\n{child.log_tail()}"
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
            lines.append(
                f"  Prometheus    {self.url('prometheus')}/alerts   (targets, rules, graph)"
            )
        if self.kube_state is not None:
            lines.append(
                f"  kube-state    {self.url('kube_state_metrics')}/metrics   "
                "(simulated: desired replicas, container restarts)"
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
        lines += [f"  note: {note}" for note in self.notes]
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)

    def say(self, message: str) -> None:
        """Print a status line to ``out``."""
        print(message, file=self.out, flush=True)

    def supervise(self) -> int:
        """Run until ``stop_requested`` or a monitoring component dies; return the exit status.

        The app exiting is reported but does not stop the stack: Prometheus then shows the
        "metrics gone" alert, which is one way to demonstrate alerting.
        """
        app_reported = False
        while not self.stop_requested.wait(0.5):
            for name, child in self.children.items():
                if child.running():
                    continue
                if name == "app":
                    if not app_reported:
                        app_reported = True
                        self.say(
                            f"the app exited (status {child.returncode()}); Prometheus will fire "
                            f"the metrics-gone alert after {self.config.metrics_absent_for}"
                        )
                    continue
                self.say(
                    f"{name} exited with status {child.returncode()}; stopping.\n{child.log_tail()}"
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
    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop everything: SIGTERM all children, SIGKILL what remains after ``timeout`` seconds
        (at once when ``force_stop`` is set); stop the webhook and remove the state directory."""
        self.stop_requested.set()
        if self.traffic is not None:
            self.traffic.stop()
        for child in self.children.values():
            child.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            if not child.wait(deadline, self.force_stop):
                self.say(f"{child.name} did not stop within {timeout:g} s: killing it")
        for child in self.children.values():
            child.kill()
        if self.webhook is not None:
            self.webhook.stop()
        if self.kube_state is not None:
            self.kube_state.stop()
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- command line ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; port defaults come from the environment (``PORT_ENV``)."""
    parser = argparse.ArgumentParser(
        prog="python -m local.stack",
        description="Run the app, Prometheus, Alertmanager, a webhook receiver and (when "
        "installed) Grafana on 127.0.0.1, in the foreground. Ctrl-C stops everything.",
    )
    try:
        defaults = Ports.from_env()
    except StackError as error:
        parser.error(str(error))
    for name, var in PORT_ENV.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}-port",  # dest stays <name>_port
            type=int,
            default=getattr(defaults, name),
            help=f"default ${var} or {getattr(defaults, name)}",
        )
    parser.add_argument(
        "--traffic", action="store_true", help="also send a realistic request mix to the app"
    )
    parser.add_argument(
        "--traffic-rate",
        type=float,
        # a string default goes through `type` too: a bad $TRAFFIC_RATE is a usage error
        default=os.environ.get(traffic.RATE_ENV) or str(traffic.DEFAULT_RATE),
        help="requests per second with --traffic",
    )
    parser.add_argument("--no-grafana", action="store_true", help="do not start Grafana")
    parser.add_argument(
        "--show-logs", action="store_true", help="children log to this terminal, not to files"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM; return the exit status."""
    args = parse_args(argv)
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in PORT_ENV})
    stack = LocalStack(
        ports=ports,
        traffic_rate=args.traffic_rate if args.traffic else None,
        grafana=not args.no_grafana,
        show_logs=args.show_logs,
    )

    def on_signal(signum: int, frame: object) -> None:
        if stack.stop_requested.is_set():
            stack.force_stop.set()  # a second Ctrl-C: no more waiting
        stack.stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        stack.start()
        stack.say(stack.banner())
        status = stack.supervise()
    except InterruptedError:
        pass
    except (StackError, ValueError) as error:
        print(f"local stack: {error}", file=sys.stderr)
        status = 1
    finally:
        started = bool(stack.children)
        if started:
            stack.say("stopping...")
        stack.stop()
        if started:
            stack.say("stopped.")
    return status


if __name__ == "__main__":
    sys.exit(main())
