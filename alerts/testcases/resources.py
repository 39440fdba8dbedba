"""promtool tests of the CPU and memory alerts (percent of the container limit)."""

from __future__ import annotations

from alerts.common import alert_prefix
from alerts.testcases import (
    TestFile,
    alert_check,
    constant,
    expected_alert,
    humanize_percentage,
    minutes,
    relabel,
    runbook,
    series,
)
from alerts.testcases.availability import pod_labels
from app import metric_names
from monitoring.config import MonitoringConfig


def _usage_tests(
    config: MonitoringConfig,
    name: str,
    metric: str,
    threshold_percent: float,
    for_: str,
    summary: str,
    description: str,
) -> list[dict]:
    """Pod 0 just above the threshold, pod 1 exactly at it, pod 2 just below."""
    wait = minutes(for_)
    high = threshold_percent + min(1.0, (100 - threshold_percent) / 2)
    levels = (high, threshold_percent, threshold_percent * 0.99)
    pods = [pod_labels(config, i) for i in range(len(levels))]
    hot = pods[0]["pod"]
    firing = [
        expected_alert(
            {"job": config.job, "namespace": config.namespace, "pod": hot, "severity": "warning"},
            summary.format(pod=hot),
            description.format(pod=hot, value=humanize_percentage(high / 100)),
            runbook(config, name),
        )
    ]
    inputs = [
        {"series": series(metric, p), "values": constant(level, 2 * wait)}
        for p, level in zip(pods, levels, strict=True)
    ]
    return [
        {
            "name": f"{name}: above {threshold_percent:g}% for longer than {for_}",
            "interval": "1m",
            # Another job's and namespace's hot pod must not fire.
            "input_series": inputs
            + relabel(inputs[:1], job="some-other-job")
            + relabel(inputs[:1], namespace="some-other-namespace"),
            "alert_rule_test": [
                alert_check(wait - 1, name, []),
                alert_check(wait, name, firing),
                alert_check(2 * wait, name, firing),
            ],
        }
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """The resources test file."""
    prefix = alert_prefix(config)
    where = f"Pod {{pod}} of job {config.job} in namespace {config.namespace}"
    cpu = _usage_tests(
        config,
        f"{prefix}CpuUsageHigh",
        metric_names.CPU_USAGE_PERCENT,
        config.cpu_warning_percent,
        config.cpu_warning_for,
        "{pod} uses most of its CPU limit",
        f"{where} has used {{value}} of its container CPU limit (without a limit: of the CPUs "
        f"it may run on) for more than {config.cpu_warning_for} (threshold "
        f"{config.cpu_warning_percent:g}%): the kernel throttles it and responses slow down.",
    )
    memory = _usage_tests(
        config,
        f"{prefix}MemoryUsageHigh",
        metric_names.MEMORY_USAGE_PERCENT,
        config.memory_warning_percent,
        config.memory_warning_for,
        "{pod} is close to its memory limit",
        f"{where} has used {{value}} of its container memory limit for more than "
        f"{config.memory_warning_for} (threshold {config.memory_warning_percent:g}%): at the "
        "limit the kernel OOM-kills the container (OOMKilled, then a restart).",
    )
    return [TestFile("resources", cpu + memory)]
