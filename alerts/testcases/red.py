"""promtool tests of the 5xx ratio and p99 latency alerts (API routes only)."""

from __future__ import annotations

from prometheus_client.utils import floatToGoString

from alerts.common import alert_prefix
from alerts.red import LATENCY_QUANTILE
from alerts.testcases import (
    TestFile,
    alert_check,
    counter,
    expected_alert,
    humanize_duration,
    humanize_percentage,
    minutes,
    relabel,
    runbook,
    series,
)
from alerts.testcases.availability import pod_labels
from app import metric_names
from monitoring.config import MonitoringConfig

API_ROUTE = "/hello"
"""An API route of the app (counted by the SLIs)."""
PER_MINUTE = 1000
ONSET_RED = 10
"""Minute at which errors start in the RED window-length case."""
"""Requests per minute per pod and route in the scenarios."""


def requests(
    config: MonitoringConfig, pod: int, route: str, status: int, per_minute: float, steps: int
) -> dict:
    """A request counter series growing ``per_minute`` each minute."""
    labels = {**pod_labels(config, pod), "method": "GET", "route": route, "status": str(status)}
    return {
        "series": series(metric_names.HTTP_REQUESTS, labels),
        "values": counter(per_minute, steps),
    }


def histogram(
    config: MonitoringConfig, pod: int, route: str, per_bucket: dict[float, float], steps: int
) -> list[dict]:
    """Duration histogram series: ``per_bucket`` maps a bucket's upper bound (seconds, may be
    ``inf``) to the requests per minute that land in that bucket.

    ``le`` is spelled as the app (prometheus_client) exposes it.
    """
    labels = {**pod_labels(config, pod), "method": "GET", "route": route}
    name = metric_names.HTTP_REQUEST_DURATION
    out = []
    for edge in (*metric_names.HTTP_DURATION_BUCKETS, float("inf")):
        bucket = {**labels, "le": floatToGoString(edge)}
        cumulative = sum(n for upper, n in per_bucket.items() if upper <= edge)
        out.append(
            {"series": series(f"{name}_bucket", bucket), "values": counter(cumulative, steps)}
        )
    total = sum(per_bucket.values())
    out.append({"series": series(f"{name}_count", labels), "values": counter(total, steps)})
    return out


def histogram_steps(
    config: MonitoringConfig, pod: int, route: str, steps: list[dict[float, float]]
) -> list[dict]:
    """Like ``histogram``, but with per-step bucket counts: ``steps[i]`` maps a bucket's upper
    bound to the requests landing in it between samples i and i + 1."""
    labels = {**pod_labels(config, pod), "method": "GET", "route": route}
    name = metric_names.HTTP_REQUEST_DURATION

    def values(pick) -> str:
        total, out = 0.0, ["0"]
        for step in steps:
            total += sum(n for upper, n in step.items() if pick(upper))
            out.append(str(int(total)) if total.is_integer() else repr(total))
        return " ".join(out)

    result = [
        {
            "series": series(f"{name}_bucket", {**labels, "le": floatToGoString(edge)}),
            "values": values(lambda upper, edge=edge: upper <= edge),
        }
        for edge in (*metric_names.HTTP_DURATION_BUCKETS, float("inf"))
    ]
    result.append({"series": series(f"{name}_count", labels), "values": values(lambda _: True)})
    return result


def _error_ratio(config: MonitoringConfig, prefix: str) -> list[dict]:
    name = f"{prefix}HttpErrorRatioHigh"
    wait = minutes(config.error_ratio_for)
    steps = 2 * wait + 5
    threshold = config.error_ratio_warning
    above, below = threshold * 1.02, threshold * 0.98

    def firing(value: float) -> list[dict]:
        return [
            expected_alert(
                {"job": config.job, "namespace": config.namespace, "severity": "warning"},
                f"{config.job} answers too many API requests with 5xx",
                f"{humanize_percentage(value)} of the API requests to job {config.job} in "
                f"namespace {config.namespace} failed with a 5xx over the last "
                f"{config.rate_window}, for more than {config.error_ratio_for} (threshold "
                f"{threshold * 100:g}%).",
                runbook(config, name),
            )
        ]

    # Ratio of sums: pod 0 fails 3x the threshold on 1000 req/min, pod 1 serves 3000 req/min
    # cleanly: 3*t*1000 / 4000 = 0.75 t overall, while the mean of the pods' ratios is 1.5 t.
    bad0 = 3 * threshold * PER_MINUTE
    healthz, metrics = metric_names.ROUTE_HEALTHZ, metric_names.ROUTE_METRICS
    return [
        {
            "name": f"{name}: {humanize_percentage(above)} of API requests fail",
            "interval": "1m",
            "input_series": [
                requests(config, 0, API_ROUTE, 200, PER_MINUTE * (1 - above), steps),
                requests(config, 0, API_ROUTE, 500, PER_MINUTE * above, steps),
                requests(config, 0, healthz, 200, PER_MINUTE, steps),
            ],
            "alert_rule_test": [
                alert_check(wait, name, []),
                alert_check(1 + wait, name, firing(above)),
            ],
        },
        {
            "name": f"{name}: {humanize_percentage(below)}, just under the threshold",
            "interval": "1m",
            # Another job's and namespace's failing requests must not count.
            "input_series": [
                requests(config, 0, API_ROUTE, 200, PER_MINUTE * (1 - below), steps),
                requests(config, 0, API_ROUTE, 500, PER_MINUTE * below, steps),
                *relabel([requests(config, 0, API_ROUTE, 500, PER_MINUTE, steps)], job="other"),
                *relabel([requests(config, 0, API_ROUTE, 500, PER_MINUTE, steps)], namespace="o"),
            ],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
        {
            # Errors (3x the threshold) start at minute 10: over the 5m window the ratio
            # crosses the threshold at 12 (at 11 it is 0.7x under both closed and left-open
            # ranges), so the alert cannot fire at 11 + for; a shorter window would.
            "name": f"{name}: errors from minute {ONSET_RED}: not firing before the window fills",
            "interval": "1m",
            "input_series": [
                requests(config, 0, API_ROUTE, 200, PER_MINUTE * (1 - 3 * threshold), steps),
                {
                    **requests(config, 0, API_ROUTE, 500, 0, steps),
                    "values": f"0+0x{ONSET_RED - 1} "
                    + counter(3 * threshold * PER_MINUTE, steps - ONSET_RED),
                },
            ],
            "alert_rule_test": [alert_check(ONSET_RED + 1 + wait, name, [])],
        },
        {
            "name": f"{name}: an outage where every API request fails",
            "interval": "1m",
            "input_series": [requests(config, 0, API_ROUTE, 503, PER_MINUTE, steps)],
            "alert_rule_test": [alert_check(1 + wait, name, firing(1.0))],
        },
        {
            "name": f"{name}: an outage under a scanner's 404 flood on <unmatched> still fires",
            "interval": "1m",
            "input_series": [
                requests(config, 0, API_ROUTE, 503, PER_MINUTE, steps),
                requests(config, 1, metric_names.ROUTE_UNMATCHED, 404, 100 * PER_MINUTE, steps),
            ],
            "alert_rule_test": [alert_check(1 + wait, name, firing(1.0))],
        },
        {
            "name": f"{name}: ratio of sums below the threshold; failing probes do not count",
            "interval": "1m",
            "input_series": [
                requests(config, 0, API_ROUTE, 200, PER_MINUTE - bad0, steps),
                requests(config, 0, API_ROUTE, 500, bad0, steps),
                requests(config, 1, API_ROUTE, 200, 3 * PER_MINUTE, steps),
                requests(config, 1, healthz, 500, 10 * PER_MINUTE, steps),
                requests(config, 1, metrics, 500, 10 * PER_MINUTE, steps),
            ],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
        {
            "name": f"{name}: an idle service (no requests, 0/0) does not fire",
            "interval": "1m",
            "input_series": [
                requests(config, 0, API_ROUTE, 200, 0, steps),
                requests(config, 0, API_ROUTE, 500, 0, steps),
            ],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
    ]


def _latency(config: MonitoringConfig, prefix: str) -> list[dict]:
    name = f"{prefix}HttpLatencyP99High"
    wait = minutes(config.latency_for)
    steps = 2 * wait + 5
    threshold = config.latency_p99_warning_seconds
    edges = (0.0, *metric_names.HTTP_DURATION_BUCKETS)
    # The bucket (low, high] just above the threshold, and (lower, at] just at or below it.
    slow_index = next(i for i, e in enumerate(edges) if e >= threshold)
    if slow_index + 1 >= len(edges) or slow_index == 0:
        raise ValueError(f"latency threshold {threshold}s needs finite buckets on both sides")
    low, high = edges[slow_index], edges[slow_index + 1]
    at = max(e for e in edges if e <= threshold)
    lower = edges[edges.index(at) - 1]
    # Just above: (q - 0.01 %) of the requests at or below `low`, the rest in (low, high]. The
    # quantile's rank q*N then falls 0.01 % of N into the slow bucket, and histogram_quantile
    # interpolates linearly inside it: low + (high - low) * 0.01 % / (1 - q + 0.01 %), within
    # 1.5 % of the threshold (so a threshold 10 % higher is caught).
    share_fast = LATENCY_QUANTILE - 0.0001
    slow = {low: PER_MINUTE * share_fast, high: PER_MINUTE * (1 - share_fast)}
    p99 = low + (high - low) * 0.0001 / (1 - share_fast)
    firing = [
        expected_alert(
            {"job": config.job, "namespace": config.namespace, "severity": "warning"},
            f"{config.job} answers API requests slowly",
            f"The p99 latency of the API requests to job {config.job} in namespace "
            f"{config.namespace} has been {humanize_duration(p99)} over the last "
            f"{config.rate_window}, for more than {config.latency_for} (threshold "
            f"{threshold:g}s).",
            runbook(config, name),
        )
    ]
    # Just below: every request in (lower, at]: p99 = lower + (at - lower) * q < at <= threshold.
    fast = {at: PER_MINUTE}
    slow_probe = histogram(config, 1, metric_names.ROUTE_HEALTHZ, {float("inf"): PER_MINUTE}, steps)
    # Slow for long, then the last two minutes fast: the rate window still holds 3 slow minutes
    # (p99 high) while one half as long would hold only the fast ones. Its first step carries
    # the mean of the rest (half slow, half fast), so 3.x (which drops that step and
    # extrapolates) reads the same p99: half of the window's requests in (low, high].
    window = minutes(config.rate_window)
    all_slow, all_fast = {high: PER_MINUTE}, {at: PER_MINUTE}
    recent = [all_fast, all_fast] + [all_slow] * (window - 3)
    recent.append({high: PER_MINUTE / 2, at: PER_MINUTE / 2})
    ending = [all_slow] * (wait + 5) + recent[::-1]
    slow_share = (window - 2 - 0.5) / window  # of the window's requests, in (low, high]
    p99_ending = low + (high - low) * (LATENCY_QUANTILE - (1 - slow_share)) / slow_share
    ending_alert = [
        {
            **firing[0],
            "exp_annotations": {
                **firing[0]["exp_annotations"],
                "description": firing[0]["exp_annotations"]["description"].replace(
                    humanize_duration(p99), humanize_duration(p99_ending)
                ),
            },
        }
    ]
    return [
        {
            "name": (
                f"{name}: slow, then fast for the last 2 minutes: the {config.rate_window} "
                f"window still holds the slow ones ({humanize_duration(p99_ending)})"
            ),
            "interval": "1m",
            "input_series": histogram_steps(config, 0, API_ROUTE, ending),
            "alert_rule_test": [alert_check(len(ending), name, ending_alert)],
        },
        {
            "name": f"{name}: p99 just above the threshold ({humanize_duration(p99)})",
            "interval": "1m",
            "input_series": histogram(config, 0, API_ROUTE, slow, steps)
            + histogram(config, 1, API_ROUTE, slow, steps),
            "alert_rule_test": [
                alert_check(wait, name, []),
                alert_check(1 + wait, name, firing),
            ],
        },
        {
            "name": f"{name}: every request in ({lower:g}s, {at:g}s]; slow probes do not count",
            "interval": "1m",
            # Another job's and namespace's slow requests must not count.
            "input_series": histogram(config, 0, API_ROUTE, fast, steps)
            + slow_probe
            + relabel(histogram(config, 0, API_ROUTE, slow, steps), job="other")
            + relabel(histogram(config, 0, API_ROUTE, slow, steps), namespace="o"),
            "alert_rule_test": [alert_check(steps, name, [])],
        },
        {
            "name": f"{name}: an idle service (no requests, NaN quantile) does not fire",
            "interval": "1m",
            "input_series": histogram(config, 0, API_ROUTE, {high: 0}, steps),
            "alert_rule_test": [alert_check(steps, name, [])],
        },
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """The RED test file."""
    prefix = alert_prefix(config)
    return [TestFile("red", _error_ratio(config, prefix) + _latency(config, prefix))]
