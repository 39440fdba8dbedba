"""RED alerts on API routes: the 5xx ratio and the p99 latency.

Both are ratios/quantiles of sums over all instances (``sum by (job, namespace)`` before the
division or ``histogram_quantile``), never averages of per-instance figures. An idle service
yields 0/0 = NaN and NaN compares false, so it cannot fire; an outage where every request fails
yields a ratio of 1 and fires.
"""

from __future__ import annotations

from alerts.common import alert, alert_prefix, group, number, selector
from app import metric_names
from monitoring.config import MonitoringConfig

SERVICE_LABELS = "job, namespace"
LATENCY_QUANTILE = 0.99
"""The quantile of ``latency_p99_warning_seconds`` (p99, as the field's name says)."""


def rules(config: MonitoringConfig) -> list[dict]:
    """The 5xx ratio and p99 latency alerts over ``config.rate_window``."""
    prefix = alert_prefix(config)
    api = selector(config, config.api_route_matcher)
    errors = selector(config, config.api_route_matcher, config.server_error_matcher)
    window = config.rate_window
    requests = metric_names.HTTP_REQUESTS
    return [
        alert(
            f"{prefix}HttpErrorRatioHigh",
            expr=f"""
                sum by ({SERVICE_LABELS}) (rate({requests}{errors}[{window}]))
                /
                sum by ({SERVICE_LABELS}) (rate({requests}{api}[{window}]))
                > {number(config.error_ratio_warning)}
            """,
            for_=config.error_ratio_for,
            severity="warning",
            summary="{{ $labels.job }} answers too many API requests with 5xx",
            description=(
                "{{ $value | humanizePercentage }} of the API requests to job {{ $labels.job }} "
                "in namespace {{ $labels.namespace }} failed with a 5xx over the last "
                f"{window}, for more than {config.error_ratio_for} (threshold "
                f"{config.error_ratio_warning * 100:g}%)."
            ),
        ),
        alert(
            f"{prefix}HttpLatencyP99High",
            expr=f"""
                histogram_quantile(
                  {number(LATENCY_QUANTILE)},
                  sum by ({SERVICE_LABELS}, le) (
                    rate({metric_names.HTTP_REQUEST_DURATION}_bucket{api}[{window}])
                  )
                ) > {number(config.latency_p99_warning_seconds)}
            """,
            for_=config.latency_for,
            severity="warning",
            summary="{{ $labels.job }} answers API requests slowly",
            description=(
                "The p99 latency of the API requests to job {{ $labels.job }} in namespace "
                "{{ $labels.namespace }} has been {{ $value | humanizeDuration }} over the last "
                f"{window}, for more than {config.latency_for} (threshold "
                f"{config.latency_p99_warning_seconds:g}s)."
            ),
        ),
    ]


def groups(config: MonitoringConfig) -> list[dict]:
    """The area's rule groups."""
    return [group(config, "red", rules(config))]
