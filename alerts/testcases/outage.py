"""promtool tests of the outage pages: crash loop, total outage, rolling update, one restart.

Inputs are written as Prometheus sees them: ``up`` is 0 after a failed scrape (never stale),
the app's own series get a ``stale`` marker at a failed scrape and come back with the next
successful one, ``probe_success`` is 0 when the blackbox exporter's probe fails, and
kube-state-metrics' series describe the Deployment and the Endpoints.

Expected states come from a small model (``Signal``, ``_states``), not from PromQL: the share
of 1-samples in each window, evaluated every minute, under BOTH range semantics - closed
(Prometheus 2.x: a sample at ``t - range`` is in) and left-open (3.x: it is out). The
generator refuses a scenario in which the two disagree on any evaluation that decides a
checked state, so every assertion holds under both (range-boundary-proof by slack: each
condition sits clear of its threshold whichever edge sample counts). For the same reason the
descriptions of these alerts carry no ``$value`` (a share of 20 or 21 samples differs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alerts.common import alert_prefix, percent_text
from alerts.testcases import TestFile, alert_check, expected_alert, minutes, runbook, series
from alerts.testcases.availability import pod_labels
from app import metric_names
from monitoring import kubernetes_series as ks
from monitoring.config import MonitoringConfig, duration_seconds

STEP = 5
"""Seconds between samples of ``up`` and ``probe_success`` in these tests: many samples per
window, so a share near a threshold can sit between the threshold x 0.9 and x 1.1."""
MINUTES = 30
"""Length of every scenario, minutes."""
ONSET = 5
"""Minute at which an outage starts (healthy before)."""


@dataclass(frozen=True)
class Signal:
    """A 0/1 series sampled every ``STEP`` seconds from t=0; ``None`` = no sample (stale)."""

    values: tuple[float | None, ...]

    @classmethod
    def build(cls, fn: Callable[[int], float | None]) -> Signal:
        """From ``fn(sample index)`` for the scenario's ``MINUTES``."""
        return cls(tuple(fn(i) for i in range(MINUTES * 60 // STEP + 1)))

    def share(self, at: int, window: int, left_open: bool) -> float | None:
        """``avg_over_time`` at second ``at`` over ``window`` seconds; None without samples."""
        lo = at - window
        picked = [
            v
            for i, v in enumerate(self.values)
            if v is not None and (lo < i * STEP if left_open else lo <= i * STEP) and i * STEP <= at
        ]
        return sum(picked) / len(picked) if picked else None

    def promtool(self, stale_gaps: bool = False) -> str:
        """promtool values: ``_`` for no sample, or ``stale`` when ``stale_gaps`` (an app
        series after a failed scrape)."""
        gap = "stale" if stale_gaps else "_"
        return " ".join(gap if v is None else _num(v) for v in self.values)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def pattern(share: float, phase: float = 0.0) -> Callable[[int], int]:
    """Sample i is 1 for a share ``share`` of samples, evenly spread (Bresenham)."""
    return lambda i: int((i + 1) * share + phase) - int(i * share + phase)


def _states(
    signals: list[Signal], window: str, threshold: float, aggregate: Callable, for_: str
) -> list[bool]:
    """Per minute 0..MINUTES: does the alert fire? ``aggregate`` (max or mean) of the
    per-series shares < ``threshold`` for ``for_``. Raises ``ValueError`` where closed and
    left-open ranges disagree on the condition."""
    win, wait = duration_seconds(window), minutes(for_)
    active: list[bool] = []
    for minute in range(MINUTES + 1):
        verdicts = set()
        for left_open in (False, True):
            shares = [s.share(minute * 60, win, left_open) for s in signals]
            shares = [x for x in shares if x is not None]
            verdicts.add(bool(shares) and aggregate(shares) < threshold)
        if len(verdicts) != 1:
            raise ValueError(f"outage test at {minute}m depends on the range's left edge")
        active.append(verdicts.pop())
    firing = []
    for minute in range(MINUTES + 1):
        streak = 0
        while streak <= minute and active[minute - streak]:
            streak += 1
        firing.append(streak - 1 >= wait)
    return firing


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _checks(name: str, firing: list[bool], alert: list[dict]) -> list[dict]:
    """The first firing minute and the minute before, or (never firing) a few minutes."""
    if True in firing:
        first = firing.index(True)
        return [alert_check(first - 1, name, []), alert_check(first, name, alert)]
    return [alert_check(m, name, []) for m in (ONSET + 5, ONSET + 10, MINUTES)]


def _probe_labels(config: MonitoringConfig, job: str | None = None) -> dict[str, str]:
    """A Probe's series: ``job`` = the Probe's jobName, ``instance`` = the probed URL."""
    return {
        "job": job or config.probe_job,
        "namespace": config.namespace,
        "instance": f"http://{config.job}.{config.namespace}.svc{config.probe_path}",
    }


class Outage:
    """Scenario builder: per-pod ``up``, the probe, optional kube-state-metrics series."""

    def __init__(self, config: MonitoringConfig) -> None:
        self.config = config
        self.prefix = alert_prefix(config)

    # --- expected alerts -----------------------------------------------------------------------
    def unreachable(self, probe: list[Signal]) -> tuple[str, list[bool], list[dict]]:
        c = self.config
        name = f"{self.prefix}ServiceUnreachable"
        firing = _states(
            probe, c.probe_window, c.probe_min_success_ratio, _mean, c.probe_failing_for
        )
        alert = expected_alert(
            {"job": c.probe_job, "namespace": c.namespace, "severity": "critical"},
            f"{c.namespace}: clients cannot reach the service",
            f"Fewer than {percent_text(c.probe_min_success_ratio)} of the black-box probes of "
            f"the service in namespace {c.namespace} succeeded over the last {c.probe_window}, "
            f"for more than {c.probe_failing_for}: clients get errors or no answer.",
            runbook(c, name),
        )
        return name, firing, [alert]

    def all_down(self, ups: list[Signal]) -> tuple[str, list[bool], list[dict]]:
        c = self.config
        name = f"{self.prefix}AllInstancesDown"
        firing = _states(ups, c.outage_window, c.outage_min_up_ratio, max, c.outage_for)
        alert = expected_alert(
            {"job": c.job, "namespace": c.namespace, "severity": "critical"},
            f"{c.job}: every instance is down or crash-looping",
            f"Every instance of job {c.job} in namespace {c.namespace} answered fewer than "
            f"{percent_text(c.outage_min_up_ratio)} of its scrapes over the last "
            f"{c.outage_window}, for more than {c.outage_for}: every instance is down or "
            "restarting in a loop.",
            runbook(c, name),
        )
        return name, firing, [alert]

    # --- input series --------------------------------------------------------------------------
    def inputs(self, ups: list[Signal], probe: list[Signal], others: bool = True) -> list[dict]:
        """``up`` and the app's uptime gauge per pod (stale after a failed scrape), the probe;
        with ``others``, a failing job and probe elsewhere that must not count."""
        c = self.config
        result = []
        for i, up in enumerate(ups):
            labels = pod_labels(c, i)
            result.append({"series": series("up", labels), "values": up.promtool()})
            uptime = Signal(tuple(None if v == 0 else 1.0 for v in up.values))
            result.append(
                {
                    "series": series(metric_names.UPTIME, labels),
                    "values": uptime.promtool(stale_gaps=True),
                }
            )
        for signal in probe:
            result.append(
                {"series": series(ks.PROBE_SUCCESS, _probe_labels(c)), "values": signal.promtool()}
            )
        if others:
            down = Signal.build(lambda i: 0).promtool()
            result += [
                {"series": series("up", {**pod_labels(c, 0), "job": "other"}), "values": down},
                {
                    "series": series("up", {**pod_labels(c, 0), "namespace": "other"}),
                    "values": down,
                },
                {
                    "series": series(ks.PROBE_SUCCESS, _probe_labels(c, job="other-probe")),
                    "values": down,
                },
                {
                    "series": series(ks.PROBE_SUCCESS, {**_probe_labels(c), "namespace": "other"}),
                    "values": down,
                },
            ]
        return result

    def test(self, title: str, ups: list[Signal], probe: list[Signal], **kw) -> dict:
        """One promtool test group checking both flapping-proof pages."""
        checks = []
        for name, firing, alert in (self.unreachable(probe), self.all_down(ups)):
            checks += _checks(name, firing, alert)
        return {
            "name": title,
            "interval": f"{STEP}s",
            "input_series": self.inputs(ups, probe, **kw),
            "alert_rule_test": checks,
        }


def _at(minute: float) -> int:
    """The sample index at ``minute``."""
    return round(minute * 60 / STEP)


def _scenarios(config: MonitoringConfig) -> list[dict]:
    o = Outage(config)
    pods = max(config.ha_min_ready + 1, 3)
    healthy = Signal.build(lambda i: 1)
    onset = _at(ONSET)

    def crash_loop(phase: float) -> Signal:
        # Up for one scrape in ten from the onset: the container starts, serves, dies.
        loop = pattern(0.1, phase)
        return Signal.build(lambda i: 1 if i < onset else loop(i))

    def near(share: float, phase: float = 0.0) -> Signal:
        p = pattern(share, phase)
        return Signal.build(lambda i: 1 if i < onset else p(i))

    def replaced(pod: int) -> tuple[Signal, Signal]:
        # Rolling update: the new pod starts 1 min before the old one stops (maxSurge).
        start, stop = _at(ONSET + 2 * pod), _at(ONSET + 2 * pod + 1)
        old = Signal.build(lambda i: 1 if i <= stop else None)
        new = Signal.build(lambda i: 1 if i >= start else None)
        return old, new

    rolling = [s for p in range(pods) for s in replaced(p)]
    one_restarting = [crash_loop(0.0)] + [healthy] * (pods - 1)
    probe_loop = near(0.1, 0.05)
    # The shares 47.5 % / 52.5 % sit 5 % from the 50 % threshold: a window must hold enough
    # samples (>= 40) for every window to land on the same side under both range semantics.
    fewest = min(duration_seconds(w) for w in (config.probe_window, config.outage_window))
    near_threshold = fewest // STEP >= 40
    return (
        [
            o.test(
                f"crash loop: every pod up 1 scrape in 10 from {ONSET}m, probes fail: pages",
                [crash_loop(k / pods) for k in range(pods)],
                [probe_loop],
            ),
            o.test(
                "total outage: every scrape and probe fails from the onset: pages",
                [near(0.0)] * pods,
                [near(0.0)],
            ),
            o.test(
                "no endpoints: no pod left to scrape, every probe fails: the probe pages",
                [Signal.build(lambda i: 1 if i < onset else None)] * pods,
                [near(0.0)],
            ),
        ]
        + (
            [
                o.test(
                    "just under the minimum shares (47.5 % of probes and scrapes succeed): pages",
                    [near(0.475, 0.3)] + [near(0.2)] * (pods - 1),
                    [near(0.475, 0.3)],
                ),
                o.test(
                    "just over the minimum shares (52.5 % succeed): silent",
                    [near(0.525, 0.3)] + [near(0.2)] * (pods - 1),
                    [near(0.525, 0.3)],
                ),
            ]
            if near_threshold
            else []
        )
        + [
            o.test(
                "rolling update: pods replaced one by one, probes succeed: silent",
                rolling,
                [healthy],
            ),
            o.test(
                "one pod crash-looping, the others serve: silent",
                one_restarting,
                [healthy],
            ),
            o.test("healthy: every scrape and probe succeeds: silent", [healthy] * pods, [healthy]),
        ]
    )


def _probe_absent(config: MonitoringConfig) -> list[dict]:
    name = f"{alert_prefix(config)}ProbeAbsent"
    wait = minutes(config.probe_absent_for)
    steps = 2 * wait
    firing = [
        expected_alert(
            {"job": config.probe_job, "namespace": config.namespace, "severity": "warning"},
            f"{config.namespace}: the black-box probe of the service stopped reporting",
            f"No {ks.PROBE_SUCCESS} series of job {config.probe_job} in namespace "
            f"{config.namespace} for more than {config.probe_absent_for}: the blackbox exporter "
            f"or its Probe is gone, and {alert_prefix(config)}ServiceUnreachable cannot fire.",
            runbook(config, name),
        )
    ]
    others = [
        {
            "series": series(ks.PROBE_SUCCESS, _probe_labels(config, "other-probe")),
            "values": f"1x{steps}",
        },
        {
            "series": series(ks.PROBE_SUCCESS, {**_probe_labels(config), "namespace": "other"}),
            "values": f"1x{steps}",
        },
    ]
    ours = {"series": series(ks.PROBE_SUCCESS, _probe_labels(config)), "values": f"0x{steps}"}
    return [
        {
            "name": f"{name}: only other jobs' and namespaces' probes report",
            "interval": "1m",
            "input_series": others,
            "alert_rule_test": [alert_check(wait - 1, name, []), alert_check(wait, name, firing)],
        },
        {
            "name": f"{name}: the probe reports (even failing): silent",
            "interval": "1m",
            "input_series": [ours],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
    ]


def _kube_state(config: MonitoringConfig) -> list[dict]:
    """NoAvailableReplicas and NoEndpoints from kube-state-metrics' series (30 s scrapes)."""
    if not config.kubernetes:
        return []
    prefix = alert_prefix(config)
    ksm = {"job": config.kube_state_metrics_job, "namespace": config.namespace}
    dep = {**ksm, "deployment": config.deployment_name}
    other_dep = {**ksm, "deployment": "other"}
    steps = 2 * MINUTES
    at = 2 * ONSET  # 30 s samples

    def gauge(before: float, after: float) -> str:
        return f"{_num(before)}x{at - 1} {_num(after)}x{steps - at}"

    reps = f"{prefix}NoAvailableReplicas"
    wait = minutes(config.no_available_replicas_for)
    reps_alert = [
        expected_alert(
            {
                "namespace": config.namespace,
                "deployment": config.deployment_name,
                "severity": "critical",
            },
            f"{config.deployment_name} has no available replica",
            f"Deployment {config.deployment_name} in namespace {config.namespace} has had no "
            f"available replica for more than {config.no_available_replicas_for} although it "
            "wants some: every pod is failing to start, crash-looping or not ready.",
            runbook(config, reps),
        )
    ]

    def deployment(available: str, spec: str) -> list[dict]:
        return [
            {"series": series(ks.DEPLOYMENT_AVAILABLE_REPLICAS, dep), "values": available},
            {"series": series(ks.DEPLOYMENT_SPEC_REPLICAS, dep), "values": spec},
            # Another Deployment of the namespace, scaled to 3 with none available.
            {"series": series(ks.DEPLOYMENT_AVAILABLE_REPLICAS, other_dep), "values": f"0x{steps}"},
            {"series": series(ks.DEPLOYMENT_SPEC_REPLICAS, other_dep), "values": f"3x{steps}"},
            # Another scrape job's healthy view of it must not hide ours (nor count alone).
            {
                "series": series(ks.DEPLOYMENT_AVAILABLE_REPLICAS, {**dep, "job": "other"}),
                "values": f"3x{steps}",
            },
            {
                "series": series(ks.DEPLOYMENT_SPEC_REPLICAS, {**dep, "job": "other"}),
                "values": f"3x{steps}",
            },
        ]

    eps = f"{prefix}NoEndpoints"
    ep_wait = minutes(config.no_endpoints_for)
    ep = {**ksm, "endpoint": config.job}
    ep_alert = [
        expected_alert(
            {"namespace": config.namespace, "endpoint": config.job, "severity": "critical"},
            f"Service {config.job} has no ready endpoint",
            f"The Endpoints of Service {config.job} in namespace {config.namespace} have held no "
            f"ready address for more than {config.no_endpoints_for}: the Service sends clients "
            "nowhere.",
            runbook(config, eps),
        )
    ]

    def endpoints(ready_until_onset: bool, not_ready: bool = True) -> list[dict]:
        result = [{"series": series(ks.ENDPOINT_INFO, ep), "values": f"1x{steps}"}]
        for i in range(3):
            ip = {"ip": f"10.0.0.{i + 10}"}
            ready = f"1x{at - 1} stale" if ready_until_onset else f"1x{steps}"
            result.append(
                {
                    "series": series(ks.ENDPOINT_ADDRESS, {**ep, **ip, "ready": "true"}),
                    "values": ready,
                }
            )
            if not_ready:
                result.append(
                    {
                        "series": series(ks.ENDPOINT_ADDRESS, {**ep, **ip, "ready": "false"}),
                        "values": f"_x{at} 1x{steps - at}",
                    }
                )
        # Other Services' Endpoints without ready addresses must not count.
        result.append(
            {
                "series": series(ks.ENDPOINT_INFO, {**ep, "endpoint": "other"}),
                "values": f"1x{steps}",
            }
        )
        # Nor another scrape job's ready address of ours.
        result.append(
            {
                "series": series(
                    ks.ENDPOINT_ADDRESS, {**ep, "job": "other", "ip": "10.2.0.1", "ready": "true"}
                ),
                "values": f"1x{steps}",
            }
        )
        # A ready address of another Service must not satisfy ours.
        result.append(
            {
                "series": series(
                    ks.ENDPOINT_ADDRESS,
                    {**ep, "endpoint": "other2", "ip": "10.1.0.1", "ready": "true"},
                ),
                "values": f"1x{steps}",
            }
        )
        return result

    elsewhere_only = [
        {"series": series(ks.ENDPOINT_INFO, {**ep, "job": "other"}), "values": f"1x{steps}"},
        {"series": series(ks.ENDPOINT_INFO, {**ep, "namespace": "other"}), "values": f"1x{steps}"},
    ]
    return [
        {
            "name": f"{eps}: only another job's and namespace's Endpoints, no address: silent",
            "interval": "30s",
            "input_series": elsewhere_only,
            "alert_rule_test": [alert_check(ONSET + 2 * ep_wait, eps, [])],
        },
        {
            "name": f"{reps}: 0 of 3 available from {ONSET}m (crash loop)",
            "interval": "30s",
            "input_series": deployment(gauge(3, 0), f"3x{steps}"),
            "alert_rule_test": [
                alert_check(ONSET + wait - 1, reps, []),
                alert_check(ONSET + wait, reps, reps_alert),
            ],
        },
        {
            "name": f"{reps}: scaled to 0 on purpose (spec 0): silent",
            "interval": "30s",
            "input_series": deployment(gauge(3, 0), gauge(3, 0)),
            "alert_rule_test": [alert_check(ONSET + 2 * wait, reps, [])],
        },
        {
            "name": f"{reps}: rolling update, 2 of 3 available for a while: silent",
            "interval": "30s",
            "input_series": deployment(gauge(3, 2), f"3x{steps}"),
            "alert_rule_test": [alert_check(ONSET + 2 * wait, reps, [])],
        },
        {
            "name": f"{eps}: every address turns not ready at {ONSET}m",
            "interval": "30s",
            "input_series": endpoints(ready_until_onset=True),
            "alert_rule_test": [
                alert_check(ONSET + ep_wait - 1, eps, []),
                alert_check(ONSET + ep_wait, eps, ep_alert),
            ],
        },
        {
            "name": f"{eps}: ready addresses stay (some not ready too): silent",
            "interval": "30s",
            "input_series": endpoints(ready_until_onset=False),
            "alert_rule_test": [alert_check(ONSET + 2 * ep_wait, eps, [])],
        },
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """Two files: ``outage`` (probe and scrape shares, 5 s samples) and ``outage-kube``."""
    return [
        TestFile("outage", _scenarios(config) + _probe_absent(config)),
        TestFile("outage-kube", _kube_state(config)),
    ]
