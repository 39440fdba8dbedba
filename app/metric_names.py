"""The metric catalog: every metric name the app exports, defined once.

The alert and dashboard generators import these names, so renaming a metric here breaks
generation (and its tests) instead of silently breaking production queries.

The design's five names (``UPTIME`` .. ``INFO``) are the users' interface and keep their
historic units (percent 0-100 for the two usage figures). Everything added since follows the
Prometheus conventions: base units, ``_total`` for counters, ``_seconds``/``_bytes``.
"""

from __future__ import annotations

PREFIX = "demo_app"

# --- the design's five ------------------------------------------------------------------------
UPTIME = f"{PREFIX}_uptime_seconds"
"""Gauge, seconds since the gunicorn master started (same clock as readiness)."""
CPU_USAGE_PERCENT = f"{PREFIX}_cpu_usage_percent"
"""Gauge, percent (0-100) of the container's CPU limit used over the recent window."""
MEMORY_USAGE_PERCENT = f"{PREFIX}_memory_usage_percent"
"""Gauge, percent (0-100) of the container's memory limit used by its working set."""
READY = f"{PREFIX}_ready"
"""Gauge, 1 when /readiness answers 200, else 0."""
INFO = f"{PREFIX}_info"
"""Gauge with value 1 and labels ``version`` and ``env``."""

# --- HTTP RED metrics -------------------------------------------------------------------------
HTTP_REQUESTS = f"{PREFIX}_http_requests_total"
"""Counter of finished requests, labels ``method``, ``route``, ``status``."""
HTTP_REQUEST_DURATION = f"{PREFIX}_http_request_duration_seconds"
"""Histogram of request durations in seconds, labels ``method``, ``route``."""

# --- container figures in base units ----------------------------------------------------------
MEMORY_USAGE_BYTES = f"{PREFIX}_memory_usage_bytes"
"""Gauge, the container's working set in bytes (usage minus inactive file cache)."""
MEMORY_LIMIT_BYTES = f"{PREFIX}_memory_limit_bytes"
"""Gauge, the container's memory limit in bytes; absent when unlimited."""
CPU_USAGE_SECONDS = f"{PREFIX}_cpu_usage_seconds_total"
"""Counter, CPU time consumed by the container, seconds."""
CPU_LIMIT_CORES = f"{PREFIX}_cpu_limit_cores"
"""Gauge, the container's CPU limit in cores (quota / period); absent when unlimited."""
CPU_THROTTLED_SECONDS = f"{PREFIX}_cpu_throttled_seconds_total"
"""Counter, time the container was throttled by its CFS quota, seconds."""
CPU_THROTTLED_PERIODS = f"{PREFIX}_cpu_throttled_periods_total"
"""Counter, CFS periods in which the container was throttled."""
CPU_PERIODS = f"{PREFIX}_cpu_periods_total"
"""Counter, CFS enforcement periods elapsed (the denominator of the throttled share)."""

# --- the exporter's own health (issue 12) ----------------------------------------------------
COLLECTOR_ERRORS = f"{PREFIX}_collector_errors_total"
"""Counter of scrape-time figures left out because they could not be read, label ``figure``
(a family name, or ``container`` when the whole cgroup read failed)."""

# --- label values -----------------------------------------------------------------------------
ROUTE_UNMATCHED = "<unmatched>"
"""The ``route`` label value of every request that matched no URL rule (404s, scanners)."""
ROUTE_REJECTED = "<rejected>"
"""The ``route`` label value of a request gunicorn refused before the app (400 malformed request
line or header, 414 URI too long, 431 header too large, invalid method): excluded from SLIs."""
STATUS_CLIENT_CLOSED = "499"
"""The ``status`` label value of a response the client did not receive (it disconnected first),
after nginx's convention. Its duration still goes into the latency histogram."""
METHOD_OTHER = "OTHER"
"""The ``method`` label value of any HTTP method outside the standard set."""

ROUTE_HEALTHZ = "/healthz"
ROUTE_READINESS = "/readiness"
ROUTE_METRICS = "/metrics"
NON_API_ROUTES = (ROUTE_HEALTHZ, ROUTE_READINESS, ROUTE_METRICS)
"""Probe and scrape routes: counted under their own route, excluded from SLIs."""

HTTP_DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Histogram bucket upper bounds, seconds: an API answering in ~1 ms up to 10 s."""

ALL_METRICS = (
    UPTIME,
    CPU_USAGE_PERCENT,
    MEMORY_USAGE_PERCENT,
    READY,
    INFO,
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    MEMORY_USAGE_BYTES,
    MEMORY_LIMIT_BYTES,
    CPU_USAGE_SECONDS,
    CPU_LIMIT_CORES,
    CPU_THROTTLED_SECONDS,
    CPU_THROTTLED_PERIODS,
    CPU_PERIODS,
    COLLECTOR_ERRORS,
)
"""Every metric name the app exposes, as PromQL spells it (a histogram without its
``_bucket``/``_sum``/``_count`` suffixes)."""
