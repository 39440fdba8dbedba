"""promtool tests of the availability alerts (metrics gone, restarts, readiness, HA minimum)."""

from __future__ import annotations

from alerts.common import alert_prefix
from alerts.testcases import (
    TestFile,
    alert_check,
    constant,
    counter,
    expected_alert,
    go_value,
    minutes,
    runbook,
    series,
)
from app import metric_names
from monitoring.config import MonitoringConfig


def pod_labels(config: MonitoringConfig, index: int) -> dict[str, str]:
    """Labels of one scraped instance as the ServiceMonitor (or the local stack) attaches them."""
    return {
        "job": config.job,
        "namespace": config.namespace,
        "service": config.job,
        "pod": f"{config.app_name}-{index}",
        "instance": f"10.0.0.{index + 10}:5000",
    }


def elsewhere(labels: dict[str, str], key: str) -> dict[str, str]:
    """``labels`` with ``key`` (``job`` or ``namespace``) set to another job's or namespace's."""
    return {**labels, key: f"some-other-{key}"}


def _metrics_absent(config: MonitoringConfig, prefix: str) -> list[dict]:
    name = f"{prefix}MetricsAbsent"
    wait = minutes(config.metrics_absent_for)
    steps = 2 * wait + 5
    firing = [
        expected_alert(
            {"job": config.job, "namespace": config.namespace, "severity": "critical"},
            f"{config.job}: the app's metrics are gone",
            f"No target of job {config.job} in namespace {config.namespace} has been up, or its "
            f"{metric_names.UPTIME} series have been absent, for more than "
            f"{config.metrics_absent_for}: every other alert of the app is blind.",
            runbook(config, name),
        )
    ]
    checks = [alert_check(wait - 1, name, []), alert_check(wait, name, firing)]
    pods = [pod_labels(config, i) for i in range(2)]
    other_job = {**pods[0], "job": "some-other-job"}
    other_ns = {**pods[0], "namespace": "some-other-namespace"}

    def gauge(name: str, labels: dict, value: float) -> dict:
        return {"series": series(name, labels), "values": constant(value, steps)}

    def uptime(labels: dict) -> dict:
        return {"series": series(metric_names.UPTIME, labels), "values": counter(60, steps, 60)}

    # Each case makes exactly one of the three clauses true, so a test fails when any clause
    # is dropped, and others' series sit beside ours so a dropped matcher shows. (Where a case
    # keeps the uptime series of a down target, it stands for one that has not gone stale.)
    return [
        {
            "name": f"{name}: every target of the job is down (up == 0)",
            "interval": "1m",
            "input_series": [gauge("up", p, 0) for p in pods] + [uptime(p) for p in pods],
            "alert_rule_test": checks,
        },
        {
            "name": f"{name}: no target at all (the ServiceMonitor stopped matching)",
            "interval": "1m",
            "input_series": [
                gauge("up", other_job, 1),
                gauge("up", other_ns, 1),
                uptime(pods[0]),
            ],
            "alert_rule_test": checks,
        },
        {
            "name": f"{name}: targets up but the app's series are gone",
            "interval": "1m",
            "input_series": [gauge("up", p, 1) for p in pods]
            + [uptime(other_job), uptime(other_ns)],
            "alert_rule_test": checks,
        },
        {
            "name": f"{name}: one healthy target is quiet; others' down targets do not count",
            "interval": "1m",
            "input_series": [
                gauge("up", pods[0], 1),
                uptime(pods[0]),
                gauge("up", other_job, 0),
                gauge("up", other_ns, 0),
            ],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
    ]


def _restarting(config: MonitoringConfig, prefix: str) -> list[dict]:
    name = f"{prefix}RestartingRepeatedly"
    threshold = config.restarts_threshold
    window = minutes(config.restarts_window)
    gap = window // (threshold + 1)  # minutes between restarts: all fit in one window
    if gap < 2:
        raise ValueError(f"restarts_window {config.restarts_window} too short for the test")
    restarting, steady = pod_labels(config, 0), pod_labels(config, 1)
    # Uptime grows 60 s per minute and drops to 0 at each restart: restarts at gap, 2*gap, ...
    segments = [counter(60, gap - 1, 60)]
    segments += [counter(60, gap - 1, 0) for _ in range(threshold - 1)]
    segments.append(counter(60, 3 * gap, 0))
    at_threshold = threshold * gap + 1  # the threshold-th reset happened at threshold * gap
    firing = [
        expected_alert(
            {
                "job": config.job,
                "namespace": config.namespace,
                "pod": restarting["pod"],
                "severity": "warning",
            },
            f"{restarting['pod']} restarts repeatedly",
            f"Pod {restarting['pod']} of job {config.job} in namespace {config.namespace} "
            f"restarted {go_value(threshold)} times in the last {config.restarts_window} "
            f"(threshold {threshold}).",
            runbook(config, name),
        )
    ]
    return [
        {
            "name": f"{name}: {threshold} uptime resets within {config.restarts_window}",
            "interval": "1m",
            "input_series": [
                {"series": series(metric_names.UPTIME, restarting), "values": " ".join(segments)},
                {"series": series(metric_names.UPTIME, steady), "values": counter(60, 5 * gap)},
                # Another job's and namespace's pods restarting just as often must not count.
                {
                    "series": series(metric_names.UPTIME, elsewhere(restarting, "job")),
                    "values": " ".join(segments),
                },
                {
                    "series": series(metric_names.UPTIME, elsewhere(restarting, "namespace")),
                    "values": " ".join(segments),
                },
            ],
            "alert_rule_test": [
                # one reset short of the threshold
                alert_check(at_threshold - gap, name, []),
                alert_check(at_threshold, name, firing),
            ],
        }
    ]


def _not_ready(config: MonitoringConfig, prefix: str) -> list[dict]:
    name = f"{prefix}InstanceNotReady"
    budget = minutes(config.not_ready_for)
    stuck, fine = pod_labels(config, 0), pod_labels(config, 1)
    firing = [
        expected_alert(
            {
                "job": config.job,
                "namespace": config.namespace,
                "pod": stuck["pod"],
                "severity": "warning",
            },
            f"{stuck['pod']} is not ready",
            f"Pod {stuck['pod']} of job {config.job} in namespace {config.namespace} has "
            f"answered /readiness with an error for more than {config.not_ready_for}, longer "
            "than its start-up budget; it receives no traffic.",
            runbook(config, name),
        )
    ]
    return [
        {
            "name": f"{name}: one pod not ready for longer than {config.not_ready_for}",
            "interval": "1m",
            "input_series": [
                {"series": series(metric_names.READY, stuck), "values": constant(0, 2 * budget)},
                {"series": series(metric_names.READY, fine), "values": constant(1, 2 * budget)},
                # Another job's and namespace's stuck pods must not count.
                {
                    "series": series(metric_names.READY, elsewhere(stuck, "job")),
                    "values": constant(0, 2 * budget),
                },
                {
                    "series": series(metric_names.READY, elsewhere(stuck, "namespace")),
                    "values": constant(0, 2 * budget),
                },
            ],
            "alert_rule_test": [
                alert_check(budget - 1, name, []),
                alert_check(budget, name, firing),
            ],
        }
    ]


def _too_few_ready(config: MonitoringConfig, prefix: str) -> list[dict]:
    name = f"{prefix}TooFewReadyInstances"
    wait = minutes(config.ha_min_ready_for)
    steps = 2 * wait
    pods = [pod_labels(config, i) for i in range(config.ha_min_ready + 1)]

    def readiness(ready_count: int) -> list[dict]:
        return [
            {
                "series": series(metric_names.READY, p),
                "values": constant(1 if i < ready_count else 0, steps),
            }
            for i, p in enumerate(pods)
        ]

    ready = config.ha_min_ready - 1
    firing = [
        expected_alert(
            {"job": config.job, "namespace": config.namespace, "severity": "critical"},
            f"{config.job} has fewer ready instances than its HA minimum",
            f"Only {go_value(ready)} instance(s) of job {config.job} in namespace "
            f"{config.namespace} have been ready for more than {config.ha_min_ready_for}, fewer "
            f"than the HA minimum of {config.ha_min_ready}: one more failure takes the service "
            "down.",
            runbook(config, name),
        )
    ]
    return [
        {
            "name": f"{name}: {ready} of {len(pods)} pods ready",
            "interval": "1m",
            "input_series": readiness(ready),
            "alert_rule_test": [
                alert_check(wait - 1, name, []),
                alert_check(wait, name, firing),
            ],
        },
        {
            "name": f"{name}: exactly the HA minimum ({config.ha_min_ready}) ready does not fire",
            "interval": "1m",
            # Another job's and namespace's pods, none ready, must not count.
            "input_series": readiness(config.ha_min_ready)
            + [
                {
                    "series": series(metric_names.READY, elsewhere(p, key)),
                    "values": constant(0, steps),
                }
                for p in pods
                for key in ("job", "namespace")
            ],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """The availability test file."""
    prefix = alert_prefix(config)
    tests = (
        _metrics_absent(config, prefix)
        + _restarting(config, prefix)
        + _not_ready(config, prefix)
        + _too_few_ready(config, prefix)
    )
    return [TestFile("availability", tests)]
