"""The monitoring config: one object that alerts, dashboards, manifests and the local stack read.

Like a monitoring mixin's ``_config``, it holds every selector, threshold, ``for:`` duration,
SLO objective and window, HPA target, the Helm release name and the dashboard uids, so that no
generator repeats a literal. Metric names are not here: they come from ``app.metric_names``.

``CONFIG`` is the Kubernetes configuration; ``local_config()`` derives the single-instance local
stack's variant from it (HA minimum 1, no HPA, shorter ``for:`` durations for demos and tests).

Run ``python -m monitoring.config KEY`` to print one value (the Makefile reads the Helm release
name that way), e.g. ``python -m monitoring.config helm_release``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import urllib.parse
from dataclasses import dataclass, field

from app import metric_names


@dataclass(frozen=True)
class BurnRateWindow:
    """One multi-window, multi-burn-rate alert condition.

    Source: Google SRE workbook, "Alerting on SLOs", table 5-8 (recommended parameters for a
    30-day SLO): the alert fires when the error ratio over BOTH the long and the short window
    exceeds ``factor`` x (1 - objective).

    Attributes:
        long: long window, a Prometheus duration such as ``"1h"``.
        short: short window (1/12 of the long one), e.g. ``"5m"``.
        factor: burn rate, multiples of the error budget's even spend rate (1.0 = the budget
            lasts exactly the SLO period).
        severity: ``"critical"`` (page) or ``"warning"`` (ticket).
        for_: how long the condition must hold before the alert fires.
    """

    long: str
    short: str
    factor: float
    severity: str
    for_: str = "2m"


# SRE workbook table 5-8: 2 % of the budget in 1 h, 5 % in 6 h (page); 10 % in 1 d, 10 % in 3 d.
DEFAULT_BURN_RATE_WINDOWS = (
    BurnRateWindow(long="1h", short="5m", factor=14.4, severity="critical"),
    BurnRateWindow(long="6h", short="30m", factor=6.0, severity="critical", for_="15m"),
    BurnRateWindow(long="1d", short="2h", factor=3.0, severity="warning", for_="1h"),
    BurnRateWindow(long="3d", short="6h", factor=1.0, severity="warning", for_="3h"),
)


@dataclass(frozen=True)
class SLO:
    """A service level objective over API routes (``MonitoringConfig.api_route_matcher``).

    Attributes:
        name: short identifier used in rule names and labels (``availability``, ``latency``).
        objective: target share of good events, a ratio 0-1 (0.999 = 99.9 %).
        text: one sentence for dashboards and alert descriptions, a ``str.format`` template
            with ``{objective}`` and ``{threshold}`` (see ``description``).
        latency_threshold_seconds: for a latency SLO, the "fast enough" bound in seconds; it must
            be one of ``app.metric_names.HTTP_DURATION_BUCKETS`` so the SLI is exact.
    """

    name: str
    objective: float
    text: str
    latency_threshold_seconds: float | None = None

    @property
    def error_budget(self) -> float:
        """The allowed share of bad events, ratio 0-1 (``1 - objective``)."""
        return 1.0 - self.objective

    @property
    def objective_text(self) -> str:
        """The objective as people read it: ``0.999`` -> ``99.9 %``, ``0.9995`` -> ``99.95 %``."""
        return f"{self.objective * 100:.6g} %"

    @property
    def description(self) -> str:
        """``text`` with ``{objective}`` (``objective_text``) and ``{threshold}`` (the latency
        threshold, e.g. ``250 ms``) filled in, so no text repeats the config's numbers."""
        threshold = self.latency_threshold_seconds
        threshold_text = "" if threshold is None else _seconds_text(threshold)
        return self.text.format(objective=self.objective_text, threshold=threshold_text)


def _seconds_text(seconds: float) -> str:
    """``0.25`` -> ``250 ms``, ``1.0`` -> ``1 s``: a latency bound for descriptions."""
    if seconds < 1:
        return f"{seconds * 1000:.6g} ms"
    return f"{seconds:.6g} s"


@dataclass(frozen=True)
class MonitoringConfig:
    """Every selector, threshold and window the generated monitoring uses.

    Durations are Prometheus duration strings; thresholds state their unit in their name
    (``_percent`` is 0-100 as exported by the app, ``_ratio`` is 0-1, ``_seconds`` seconds).
    """

    # --- identity and selectors ----------------------------------------------------------------
    app_name: str = "demo-app"
    namespace: str = "demo-app"
    job: str = "demo-app"  # a ServiceMonitor's job label is the Service name
    helm_release: str = "kube-prometheus-stack"
    monitoring_namespace: str = "monitoring"
    runbook_base_url: str = "https://github.com/example-org/demo-app/blob/main/docs/runbooks.md"

    # --- availability --------------------------------------------------------------------------
    metrics_absent_for: str = "5m"
    restarts_threshold: int = 3  # uptime resets within restarts_window
    restarts_window: str = "30m"
    not_ready_for: str = "5m"  # start-up budget of one instance
    ha_min_ready: int = 2
    ha_min_ready_for: str = "10m"  # longer than a rolling update takes

    # --- resources (percent of the container limit, 0-100) ----------------------------------
    cpu_warning_percent: float = 80.0
    cpu_warning_for: str = "15m"
    memory_warning_percent: float = 90.0
    memory_warning_for: str = "10m"

    # --- HPA (Kubernetes only) ---------------------------------------------------------------
    hpa_enabled: bool = True
    hpa_name: str = "demo-app"
    deployment_name: str = "demo-app"  # kube-state-metrics' ``deployment`` label
    hpa_min_replicas: int = 2
    hpa_max_replicas: int = 10
    hpa_cpu_target_percent: int = 70  # of the container's CPU *request*
    hpa_memory_target_percent: int = 80  # of the container's memory *request*
    hpa_saturated_for: str = "15m"
    # kube-prometheus-stack scrapes kube-state-metrics under this job name (honorLabels keeps the
    # HPA's own ``namespace`` label on its series).
    kube_state_metrics_job: str = "kube-state-metrics"

    # --- container resources (Kubernetes; k8s/demo-app-deployment.yaml states the same) -------
    # The HPA's utilization is relative to the requests; the app's *_percent gauges to the limits.
    # The memory request is sized from the measured idle PSS (docs/kubernetes.md).
    cpu_request_cores: float = 0.05
    cpu_limit_cores: float = 0.2
    memory_request_bytes: int = 128 * 1024 * 1024
    memory_limit_bytes: int = 128 * 1024 * 1024
    scrape_interval: str = "15s"  # the ServiceMonitor's; rate windows need >= 4 of them

    # --- RED thresholds (API routes only: matched URL rules other than probes and /metrics) --
    error_ratio_warning: float = 0.05  # ratio 0-1 of 5xx responses
    error_ratio_for: str = "10m"
    latency_p99_warning_seconds: float = 1.0
    latency_for: str = "10m"
    rate_window: str = "5m"

    # --- SLOs --------------------------------------------------------------------------------
    slo_period: str = "30d"
    slos: tuple[SLO, ...] = (
        SLO(
            name="availability",
            objective=0.999,
            text="{objective} of API requests answer without a 5xx error",
        ),
        SLO(
            name="latency",
            objective=0.99,
            text="{objective} of API requests answer within {threshold}",
            latency_threshold_seconds=0.25,
        ),
    )
    burn_rate_windows: tuple[BurnRateWindow, ...] = DEFAULT_BURN_RATE_WINDOWS
    # The SLO rules are split in two groups (alerts/slo.py): windows up to the longest page
    # window (5m..6h) with the page alerts, evaluated at Prometheus' global interval (30 s in
    # kube-prometheus-stack), and the long windows (1d, 3d, 30d) with the ticket alerts, evaluated
    # every slo_slow_rules_interval: a 30d rate over 15 s scrapes reads 172,800 samples per
    # series, too costly every 30 s and it would delay the 14.4x page. 4m, not 5m: a record
    # written every 5m is older than Prometheus' 5m lookback while its next evaluation runs, so a
    # panel or query would see gaps. Tickets (for 1h/3h) lose nothing at a 4m cadence.
    slo_slow_rules_interval: str = "4m"
    # Low traffic: a burn-rate page also needs its long window to hold more than
    # 1 / (factor * (1 - objective)) API requests, derived per SLO and window by
    # alerts.slo.min_requests (SRE workbook, "Alerting on SLOs", low-traffic services): no field.

    # --- Alertmanager ------------------------------------------------------------------------
    # The Secret holding receiver credentials (PagerDuty routing key, Slack webhook URL, heartbeat
    # API key); kube-prometheus-stack mounts it via ``alertmanager.alertmanagerSpec.secrets`` at
    # ``/etc/alertmanager/secrets/<name>/``. Never committed: created out of band.
    alertmanager_secret_name: str = "alertmanager-receivers"  # noqa: S105 - a name, no secret

    # --- dashboards --------------------------------------------------------------------------
    dashboard_folder: str = "Demo App"
    dashboard_uids: dict[str, str] = field(
        default_factory=lambda: {"overview": "demo-app-overview", "slo": "demo-app-slo"}
    )
    grafana_datasource_uid: str = "prometheus"
    # The Grafana sidecar (kube-prometheus-stack's grafana.sidecar.dashboards) loads ConfigMaps
    # carrying this label and value (the chart's defaults); it files a dashboard in the Grafana
    # folder named by the annotation only when the chart sets ``folderAnnotation`` to this name
    # and ``provider.foldersFromFilesStructure: true`` (the subchart's default is null/false).
    grafana_dashboard_label: str = "grafana_dashboard"
    grafana_dashboard_label_value: str = "1"
    dashboard_folder_annotation: str = "grafana_folder"

    # --- notifications (issue 14) ------------------------------------------------------------
    # Where people reach Prometheus, Alertmanager and Grafana (an ingress, a port-forward): the
    # one value behind Prometheus' and Alertmanager's externalUrl, Grafana's root_url and every
    # link in a notification (docs/notifications.md). The default is a placeholder (example.com);
    # the local stack uses its 127.0.0.1 ports.
    external_urls: ExternalUrls = field(default_factory=lambda: ExternalUrls())
    # The dead man's switch: "webhook" (a vendor-neutral heartbeat URL such as healthchecks.io or
    # Dead Man's Snitch, read from the receivers' Secret) or "opsgenie" (Opsgenie heartbeat API,
    # until Opsgenie ends on 2027-04-05). alerts.alertmanager.HEARTBEAT_RECEIVERS lists them.
    heartbeat_receiver: str = "webhook"
    # Tickets also go by email (e.g. to a ticket system's intake address). The SMTP password is
    # the receivers' Secret key ``smtp-password``; an empty username sends without SMTP AUTH.
    notification_email_to: str = "demo-app-tickets@example.com"
    notification_email_from: str = "alertmanager@example.com"
    smtp_smarthost: str = "smtp.example.com:587"
    smtp_auth_username: str = "alertmanager"
    # --- monitoring stack: priority, HA, least privilege (issue 17) ---------------------------
    # PriorityClasses (monitoring/prerequisites/): the monitoring stack above the app, the app
    # above batch work, so node pressure evicts batch first and monitoring last.
    monitoring_priority_class: str = "monitoring"
    app_priority_class: str = "service"
    batch_priority_class: str = "batch"
    # Replicas (monitoring/values.yaml): two Prometheus in different zones, each with its own
    # volume; three Alertmanagers in one gossip mesh (a majority survives a zone).
    prometheus_replicas: int = 2
    alertmanager_replicas: int = 3
    # The jobs kube-prometheus-stack's ServiceMonitors give their own pods (the Service names,
    # ``<release>-prometheus`` / ``<release>-alertmanager``; the release contains the chart's
    # name, so the chart's fullname is the release name).
    prometheus_job: str = "kube-prometheus-stack-prometheus"
    alertmanager_job: str = "kube-prometheus-stack-alertmanager"
    # The StatefulSets the operator creates for them: ``prometheus-<CR>``, ``alertmanager-<CR>``.
    prometheus_statefulset: str = "prometheus-kube-prometheus-stack-prometheus"
    alertmanager_statefulset: str = "alertmanager-kube-prometheus-stack-alertmanager"
    replica_down_for: str = "5m"  # longer than a pod restart, shorter than the chart's 10m/15m
    # Grafana's ServiceAccount (set in values.yaml so the Roles' bindings can name it); its
    # dashboard sidecar reads ConfigMaps only, in these namespaces only, through Roles.
    grafana_service_account: str = "grafana"
    # --- outage paging: black-box probe, flapping-proof signals (issue 18) ---------------------
    # A crash loop (up for one scrape in ten) resets every ``for:`` on each flap and leaves
    # ``sum(...) < N`` without series; these alerts read signals that survive flapping: the
    # share of successful black-box probes over a window (the client's view through the
    # Service), the share of successful scrapes, and kube-state-metrics' object state.
    probe_job: str = "demo-app-probe"  # job label of probe_success (the Probe's jobName)
    probe_interval: str = "15s"  # how often the blackbox exporter probes the Service
    probe_window: str = "5m"  # avg_over_time(probe_success[...]): >= 4 probe intervals
    probe_min_success_ratio: float = 0.5  # ratio 0-1 of successful probes in probe_window
    probe_failing_for: str = "5m"  # with probe_window: a total outage pages in <= ~10 min
    probe_absent_for: str = "10m"  # the probe stopped reporting (exporter or Probe gone)
    outage_window: str = "5m"  # avg_over_time(up[...]) per instance
    outage_min_up_ratio: float = 0.5  # below it on every instance: all down or crash-looping
    outage_for: str = "5m"
    no_available_replicas_for: str = "5m"  # longer than one pod's start-up (not_ready_for)
    no_endpoints_for: str = "5m"
    kubernetes: bool = True  # kube-state-metrics series exist (not in the local stack)
    blackbox_module: str = "http_2xx"  # the blackbox exporter module probing the Service
    probe_path: str = "/readiness"  # the Service's ready-to-serve answer, what clients reach

    # --- derived -----------------------------------------------------------------------------
    @property
    def selector(self) -> str:
        """PromQL label matchers for the app's own series: ``job="...", namespace="..."``."""
        return f'job="{self.job}", namespace="{self.namespace}"'

    @property
    def api_route_matcher(self) -> str:
        """A ``route`` matcher that keeps API routes only: matched URL rules other than probes.

        Excluded: ``metric_names.NON_API_ROUTES`` (the probes and /metrics) and
        ``metric_names.ROUTE_UNMATCHED`` (404s of scanners, 405s) and
        ``metric_names.ROUTE_REJECTED`` (requests gunicorn refused before the app), so that
        unmatched or malformed traffic can neither dilute an SLI nor count as good events. Each
        value is regex-escaped (RE2 syntax) and then escaped again for the PromQL string literal,
        e.g.
        ``route!~"/healthz|/readiness|/metrics|<unmatched>|<rejected>"``.
        """
        routes = (
            *metric_names.NON_API_ROUTES,
            metric_names.ROUTE_UNMATCHED,
            metric_names.ROUTE_REJECTED,
        )
        excluded = "|".join(re.escape(r).replace("\\", "\\\\") for r in routes)
        return f'route!~"{excluded}"'

    @property
    def server_error_matcher(self) -> str:
        """A ``status`` matcher that keeps server errors (5xx), the bad events of availability."""
        return 'status=~"5.."'

    def slo_windows(self) -> tuple[str, ...]:
        """Every window an SLO error ratio is recorded over: the burn-rate windows and the period.

        Returned shortest first, without duplicates, e.g. ``("5m", "30m", "1h", ..., "30d")``.
        """
        windows = {w for b in self.burn_rate_windows for w in (b.long, b.short)}
        windows.add(self.slo_period)
        return tuple(sorted(windows, key=duration_seconds))

    def slo(self, name: str) -> SLO:
        """Return the SLO called ``name``; raises ``KeyError`` naming the known ones."""
        for slo in self.slos:
            if slo.name == name:
                return slo
        known = ", ".join(s.name for s in self.slos)
        raise KeyError(f"no SLO named {name!r}; known SLOs: {known}")

    def duration_fields(self) -> tuple[str, ...]:
        """Names of the fields holding a Prometheus duration: ``*_for``, ``*_window``,
        ``*_interval`` and ``*_period`` (e.g. ``cpu_warning_for``, ``rate_window``)."""
        suffixes = ("_for", "_window", "_interval", "_period")
        return tuple(f.name for f in dataclasses.fields(self) if f.name.endswith(suffixes))

    def validate(self) -> None:
        """Check the config's internal consistency, so that every generated alert can fire.

        Checked: every duration field (``duration_fields()``) and every burn-rate window and
        ``for:`` parse with ``duration_seconds`` (windows and intervals > 0); SLO objectives in
        (0, 1) and latency thresholds on a histogram bucket edge; for every SLO and burn-rate
        window, burn factor > 0, short window < long window, and the alert threshold
        ``factor * (1 - objective)`` < 1 (an error ratio never exceeds 1, so a higher threshold
        could never fire); ``error_ratio_warning`` in (0, 1); ``latency_p99_warning_seconds`` > 0;
        percent thresholds in (0, 100]; requests <= limits; ``ha_min_ready`` >= 1;
        1 <= ``hpa_min_replicas`` <= ``hpa_max_replicas``.

        Raises:
            ValueError: listing every problem found, one per line, each naming the field (and
                the SLO and burn-rate window where it applies).
        """
        problems = []
        for name in self.duration_fields():
            problems += _duration_problems(name, getattr(self, name), positive=name[-4:] != "_for")
        for slo in self.slos:
            if not 0.0 < slo.objective < 1.0:
                problems.append(f"SLO {slo.name}: objective {slo.objective} is not in (0, 1)")
            threshold = slo.latency_threshold_seconds
            if threshold is not None and threshold not in metric_names.HTTP_DURATION_BUCKETS:
                problems.append(
                    f"SLO {slo.name}: latency threshold {threshold}s is not a bucket edge of "
                    f"{metric_names.HTTP_REQUEST_DURATION}: {metric_names.HTTP_DURATION_BUCKETS}"
                )
        for burn in self.burn_rate_windows:
            where = f"burn-rate window {burn.long}/{burn.short}"
            window_problems = _duration_problems(f"{where}: long", burn.long, positive=True)
            window_problems += _duration_problems(f"{where}: short", burn.short, positive=True)
            problems += window_problems
            problems += _duration_problems(f"{where}: for", burn.for_, positive=False)
            if not window_problems and not (
                duration_seconds(burn.short) < duration_seconds(burn.long)
            ):
                problems.append(f"{where}: the short window must be shorter than the long one")
            if burn.factor <= 0:
                problems.append(f"{where}: burn factor must be > 0, got {burn.factor}")
            for slo in self.slos:
                if burn.factor * slo.error_budget >= 1.0:
                    problems.append(
                        f"SLO {slo.name}, {where}: threshold {burn.factor} x (1 - "
                        f"{slo.objective}) = {burn.factor * slo.error_budget:.4g} is >= 1, an "
                        "error ratio (0-1) never exceeds it: the alert could never fire; raise "
                        "the objective or lower the factor"
                    )
        if not 0.0 < self.error_ratio_warning < 1.0:
            problems.append(
                f"error_ratio_warning must be a ratio in (0, 1), got {self.error_ratio_warning}"
            )
        if not self.latency_p99_warning_seconds > 0:
            problems.append(
                f"latency_p99_warning_seconds must be > 0, got {self.latency_p99_warning_seconds}"
            )
        for name in ("cpu_warning_percent", "memory_warning_percent"):
            if not 0 < getattr(self, name) <= 100:
                problems.append(f"{name} must be in (0, 100], got {getattr(self, name)}")
        if not 0 < self.cpu_request_cores <= self.cpu_limit_cores:
            problems.append("cpu_request_cores must be > 0 and <= cpu_limit_cores")
        if not 0 < self.memory_request_bytes <= self.memory_limit_bytes:
            problems.append("memory_request_bytes must be > 0 and <= memory_limit_bytes")
        if self.ha_min_ready < 1:
            problems.append(f"ha_min_ready must be >= 1, got {self.ha_min_ready}")
        if not 1 <= self.hpa_min_replicas <= self.hpa_max_replicas:
            problems.append(
                f"hpa_min_replicas ({self.hpa_min_replicas}) must be >= 1 and <= "
                f"hpa_max_replicas ({self.hpa_max_replicas})"
            )
        problems += self._window_problems()
        if problems:
            raise ValueError("invalid monitoring config:\n  " + "\n  ".join(problems))

    # --- validation of windows and ratios (issue 18) -------------------------------------------
    def _window_problems(self) -> list[str]:
        """Windows too short for their sample interval, a period shorter than a burn window,
        ratios outside (0, 1]; ``[]`` when every duration involved parses (else the duration
        checks above report it).

        Source of the 4x rule: Prometheus' ``rate`` needs two samples in a window, and a
        window of at least 4 scrape intervals keeps it defined through one failed scrape
        (Robust Perception, "What range should I use with rate()?").
        """
        problems: list[str] = []
        try:
            scrape = duration_seconds(self.scrape_interval)
            probe = duration_seconds(self.probe_interval)
            period = duration_seconds(self.slo_period)
            bursts = [
                (b, duration_seconds(b.long), duration_seconds(b.short))
                for b in self.burn_rate_windows
            ]
            windows = {
                n: duration_seconds(getattr(self, n))
                for n in ("rate_window", "restarts_window", "outage_window")
            }
            probe_window = duration_seconds(self.probe_window)
        except (ValueError, TypeError):
            return problems
        for name, seconds in windows.items():
            if seconds < 4 * scrape:
                problems.append(
                    f"{name}: {getattr(self, name)} is shorter than 4 scrape intervals "
                    f"(4 x {self.scrape_interval}): rate() and avg_over_time() need samples"
                )
        if probe_window < 4 * probe:
            problems.append(
                f"probe_window: {self.probe_window} is shorter than 4 probe intervals "
                f"(4 x {self.probe_interval})"
            )
        for burn, long, short in bursts:
            where = f"burn-rate window {burn.long}/{burn.short}"
            if short < 4 * scrape:
                problems.append(
                    f"{where}: short window {burn.short} is shorter than 4 scrape intervals "
                    f"(4 x {self.scrape_interval})"
                )
            if long > period:
                problems.append(
                    f"{where}: long window {burn.long} is longer than slo_period "
                    f"{self.slo_period}: the SLO period must hold every burn-rate window"
                )
        for name in ("probe_min_success_ratio", "outage_min_up_ratio"):
            if not 0.0 < getattr(self, name) <= 1.0:
                problems.append(f"{name} must be a ratio in (0, 1], got {getattr(self, name)}")
        return problems

    @property
    def client_closed_matcher(self) -> str:
        """A ``status`` matcher dropping ``metric_names.STATUS_CLIENT_CLOSED`` (499): a response
        the client never received is neither a good nor a bad event of availability (the
        client gave up; its duration still counts against the latency SLO)."""
        return f'status!="{metric_names.STATUS_CLIENT_CLOSED}"'


def _duration_problems(name: str, value: object, *, positive: bool) -> list[str]:
    """``[]`` when ``value`` is a duration ``duration_seconds`` accepts (> 0 if ``positive``),
    else one message naming ``name``."""
    try:
        seconds = duration_seconds(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return [f"{name}: {value!r} is not a simple Prometheus duration (e.g. 5m, 1h, 30d)"]
    if positive and seconds == 0:
        return [f"{name}: {value!r} must be longer than 0"]
    return []


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(duration: str) -> int:
    """Seconds in a simple Prometheus duration such as ``"5m"`` or ``"30d"``.

    Raises:
        ValueError: the string is not a whole number followed by one of s, m, h, d, w.
    """
    number, unit = duration[:-1], duration[-1:]
    if not number.isdigit() or unit not in _UNIT_SECONDS:
        raise ValueError(f"not a simple Prometheus duration (e.g. 5m, 1h, 30d): {duration!r}")
    return int(number) * _UNIT_SECONDS[unit]


def slo_error_ratio_record(window: str) -> str:
    """Name of the recording rule holding an SLO's error ratio (0-1) over ``window``.

    One series per SLO, labelled ``slo`` (the SLO's name) plus ``job`` and ``namespace``, e.g.
    ``slo:sli_error:ratio_rate5m{slo="availability"}`` (the naming of Sloth and Pyrra).
    """
    return f"slo:sli_error:ratio_rate{window}"


# Defined before CONFIG, whose construction needs it.
# --- notifications (issue 14) ---------------------------------------------------------------------
@dataclass(frozen=True)
class ExternalUrls:
    """The URLs people reach the monitoring UIs at: absolute ``http(s)://host[:port][/path]``
    without a trailing slash, query or fragment.

    Prometheus builds each alert's "source" link (``generatorURL``) from ``prometheus``,
    Alertmanager its silence and alert links from ``alertmanager``; Grafana's ``root_url`` is
    ``grafana`` and dashboard links are ``<grafana>/d/<uid>``.

    Raises:
        ValueError: naming every URL that is not of that form.
    """

    prometheus: str = "https://prometheus.example.com"
    alertmanager: str = "https://alertmanager.example.com"
    grafana: str = "https://grafana.example.com"

    def __post_init__(self) -> None:
        problems = []
        for name in ("prometheus", "alertmanager", "grafana"):
            url = getattr(self, name)
            parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.query
                or parts.fragment
                or url.endswith("/")
            ):
                problems.append(
                    f"external_urls.{name}: {url!r} is not an absolute http(s) URL without a "
                    "trailing slash, query or fragment (e.g. https://grafana.example.com)"
                )
        if problems:
            raise ValueError("invalid external URLs:\n  " + "\n  ".join(problems))

    def dashboard(self, uid: str) -> str:
        """Absolute URL of the Grafana dashboard ``uid``: ``<grafana>/d/<uid>``."""
        return f"{self.grafana}/d/{uid}"


CONFIG = MonitoringConfig()
"""The Kubernetes (EKS + kube-prometheus-stack) configuration."""


LOCAL_INTERVAL = "5s"
"""The local stack's scrape interval and the slow SLO rule group's interval there."""


def local_config(**overrides: object) -> MonitoringConfig:
    """The single-instance local stack's variant of ``CONFIG`` (``make run`` and e2e tests).

    One instance, no HPA; the "metrics gone" alert waits ``1m`` instead of ``5m`` so a demo
    shows it quickly; Prometheus scrapes every ``5s`` (``LOCAL_INTERVAL``) and evaluates the slow
    SLO rule group as often, so panels and alerts react within seconds.
    Further overrides (e.g. shorter ``for:`` durations in tests) are keyword
    arguments naming ``MonitoringConfig`` fields.

    Raises:
        TypeError: an override names no field of ``MonitoringConfig``.
    """
    base = {
        "ha_min_ready": 1,
        "hpa_enabled": False,
        "metrics_absent_for": "1m",
        "scrape_interval": LOCAL_INTERVAL,
        # SLO panels read the 30d record: at 4m it could take minutes to appear locally.
        "slo_slow_rules_interval": LOCAL_INTERVAL,
        # Outage paging within a minute or two on a laptop (issue 18): probes every 5 s.
        "kubernetes": False,
        "probe_interval": LOCAL_INTERVAL,
        "probe_window": "1m",
        "probe_failing_for": "1m",
        "probe_absent_for": "2m",
        "outage_window": "1m",
        "outage_for": "1m",
    }
    base.update(overrides)
    return dataclasses.replace(CONFIG, **base)


def main(argv: list[str] | None = None) -> int:
    """Print the config value named by the single argument (for the Makefile)."""
    args = sys.argv[1:] if argv is None else argv
    fields = {f.name for f in dataclasses.fields(MonitoringConfig)}
    if len(args) != 1 or args[0] not in fields:
        print(
            "usage: python -m monitoring.config FIELD\nfields: " + ", ".join(sorted(fields)),
            file=sys.stderr,
        )
        return 2
    print(getattr(CONFIG, args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
