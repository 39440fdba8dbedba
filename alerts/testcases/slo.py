"""promtool tests of the SLO recording rules and the multi-window, multi-burn-rate alerts.

Expected values come from a small model of the scenario, not from PromQL: traffic is a list of
per-step (total, bad) API request counts; the error ratio over a window is (bad requests in the
window) / (all requests in the window), computed with exact fractions from the cumulative
counts; an alert fires at T when its condition held at every evaluation from T - ``for`` to T.

The model equals Prometheus' ``rate`` ratios because every counter starts at 0 (so ``rate``
does not extrapolate before the first sample), windows are whole steps (their start is a sample)
and evaluations fall on samples (no extrapolation at the end): both sides of each ratio are then
the plain differences of the counters. Ratios are compared as ``round(ratio * 1e6)`` because
promtool compares floats exactly; the generator refuses scenarios where a ratio sits within
1e-9 of an alert threshold or of a rounding edge, so the tests cannot be flaky.

Range semantics: the model counts the sample at the window's start (closed ranges, Prometheus 2.x,
whose promtool 2.42 runs these tests). Prometheus 3 ranges are left-open: the start sample drops
out and ``rate`` extrapolates the rest of the window over that step instead. Every asserted value
is made the same under both: constant-ratio scenarios are linear; ``recency_counts`` builds
varying ones whose windows each start with an average step; and the scenarios whose traffic
changes inside a window (outage, low traffic, budget left, short window only, the hourly
windows) are split into one test per check time, each with ``boundary_proof`` applied at that
time (every exported counter's first step of every window set to the mean of the window's other
steps). ``tests/test_range_boundaries.py`` checks the committed files for exactly that. What is
not modelled under 3.x: the verdicts of the evaluations before a check time, which an alert's
``for`` depends on; they have wide margins in these scenarios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from prometheus_client.utils import floatToGoString

from alerts.slo import (
    PAGE_SEVERITY,
    budget_alert_name,
    fast_windows,
    min_requests,
    traffic_guarded,
)
from alerts.slo import groups as slo_groups
from alerts.testcases import (
    TestFile,
    alert_check,
    expected_alert,
    humanize_duration,
    humanize_percentage,
    minutes,
    relabel,
    runbook,
    series,
)
from alerts.testcases.availability import pod_labels
from alerts.testcases.red import API_ROUTE
from app import metric_names
from monitoring.config import SLO, MonitoringConfig, duration_seconds, slo_error_ratio_record

SCALE = 1_000_000
"""Records are compared as ``round(ratio * SCALE)`` (parts per million)."""
PER_STEP = 100_000
"""API requests per step in the burn-rate scenarios (large, so small ratios stay exact)."""


# --- the scenario model --------------------------------------------------------------------------
@dataclass
class Traffic:
    """API requests per step: ``total[i]``/``bad[i]`` arrive between sample i and i+1.

    ``bad_from``: the step from which the bad-requests counter exists (it starts at 0 there);
    before that the app has not yet exported a 5xx series.
    """

    total: list[Fraction]
    bad: list[Fraction]
    bad_from: int = 0
    _prefixes: dict[int, list[Fraction]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def phases(cls, *phases: tuple[int, float, float], bad_from: int = 0) -> Traffic:
        """Build from ``(steps, total per step, bad per step)`` phases."""
        total, bad = [], []
        for steps, per_step, bad_per_step in phases:
            total += [Fraction(per_step)] * steps
            bad += [Fraction(bad_per_step)] * steps
        return cls(total, bad, bad_from)

    def cumulative(self, counts: list[Fraction], step: int) -> Fraction:
        """Counter value at sample ``step`` (the sum of the counts before it)."""
        key = id(counts)
        prefix = self._prefixes.get(key)
        if prefix is None or len(prefix) != len(counts) + 1:
            prefix = [Fraction(0)]
            for count in counts:
                prefix.append(prefix[-1] + count)
            self._prefixes[key] = prefix
        return prefix[min(max(step, 0), len(counts))]

    def count(self, step: int, window_steps: int) -> Fraction:
        """Requests in the window ending at sample ``step`` (what ``increase`` gives here:
        counters start at 0 and windows are whole steps, so it does not extrapolate)."""
        start = max(step - window_steps, 0)
        return self.cumulative(self.total, step) - self.cumulative(self.total, start)

    def ratio(self, step: int, window_steps: int) -> Fraction | None:
        """Error ratio over the window ending at sample ``step``; ``None`` when 0/0 (NaN)."""
        start = max(step - window_steps, 0)
        total = self.cumulative(self.total, step) - self.cumulative(self.total, start)
        bad = self.cumulative(self.bad, step) - self.cumulative(self.bad, start)
        return None if total == 0 else bad / total


def _check_margin(value: Fraction, edge: float, what: str) -> None:
    """Refuse a scenario whose value is within 1e-9 (relative) of ``edge``: it could flake."""
    if abs(float(value) - edge) <= 1e-9 * max(abs(edge), 1e-12):
        raise ValueError(f"test scenario too close to an edge: {what} = {float(value)} ~ {edge}")


def _counter_values(counts: list[Fraction], start: int = 0) -> str:
    """promtool values of a counter from per-step counts, absent before sample ``start``.

    ``counts[i]`` arrives between samples i and i+1; the counter is 0 at sample ``start``. Runs
    of equal increments become one ``a+bxk`` segment (k+1 samples).
    """
    increments = counts[start:]
    values = [Fraction(0)]
    for increment in increments:
        values.append(values[-1] + increment)
    parts = [f"_x{start}"] if start else []
    reached = 0.0  # the float promtool holds at the previous sample
    i = 0
    while i < len(values):
        # promtool expands ``a+bxk`` by repeated float addition, which can end a segment an ulp
        # above the next one's exact start: a drop that rate() would read as a counter reset.
        # So a segment never starts below where the float sum of the previous one ended.
        first = max(float(values[i]), reached)
        text = str(int(first)) if first.is_integer() else repr(first)
        if i == len(increments):  # the last sample on its own
            parts.append(text)
            break
        j = i
        while j < len(increments) and increments[j] == increments[i]:
            j += 1
        parts.append(f"{text}+{_num(increments[i])}x{j - i}")
        reached = float(text)
        for _ in range(j - i):
            reached += float(_num(increments[i]))
        i = j + 1
    return " ".join(parts)


def _num(value: Fraction) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _series(
    config: MonitoringConfig,
    slo: SLO,
    traffic: Traffic,
    pod: int = 0,
    route: str = API_ROUTE,
    good_status: int = 200,
) -> list[dict]:
    """The app's series carrying ``traffic`` for one SLO's SLI.

    ``good_status``: the status of the non-5xx requests (e.g. 404 for unmatched traffic).
    """
    labels = {**pod_labels(config, pod), "method": "GET", "route": route}
    if slo.latency_threshold_seconds is None:
        good = [t - b for t, b in zip(traffic.total, traffic.bad, strict=True)]
        ok = {**labels, "status": str(good_status)}
        failed = {**labels, "status": "500"}
        return [
            {"series": series(metric_names.HTTP_REQUESTS, ok), "values": _counter_values(good)},
            {
                "series": series(metric_names.HTTP_REQUESTS, failed),
                "values": _counter_values(traffic.bad, traffic.bad_from),
            },
        ]
    fast = [t - b for t, b in zip(traffic.total, traffic.bad, strict=True)]
    name = metric_names.HTTP_REQUEST_DURATION
    bucket = {**labels, "le": floatToGoString(slo.latency_threshold_seconds)}
    return [
        {"series": series(f"{name}_bucket", bucket), "values": _counter_values(fast)},
        {"series": series(f"{name}_count", labels), "values": _counter_values(traffic.total)},
    ]


def _client_closed(config: MonitoringConfig, traffic: Traffic, pod: int = 0) -> list[dict]:
    """API requests the client gave up on (``status="499"``, one per step of ``traffic.total``):
    the availability SLI leaves them out, so a dropped ``status!="499"`` matcher shows."""
    labels = {
        **pod_labels(config, pod),
        "method": "GET",
        "route": API_ROUTE,
        "status": metric_names.STATUS_CLIENT_CLOSED,
    }
    return [
        {
            "series": series(metric_names.HTTP_REQUESTS, labels),
            "values": _counter_values(traffic.total),
        }
    ]


def _other_buckets(
    config: MonitoringConfig, slo: SLO, traffic: Traffic, pod: int = 0
) -> list[dict]:
    """The latency histogram's other buckets beside the SLO's (``_series`` exports only that
    one): a faster bucket with half the fast requests and ``+Inf`` with all of them, as the app
    exports a full histogram. A dropped ``le`` matcher then sums every bucket."""
    name = metric_names.HTTP_REQUEST_DURATION
    labels = {**pod_labels(config, pod), "method": "GET", "route": API_ROUTE}
    fast = [t - b for t, b in zip(traffic.total, traffic.bad, strict=True)]
    faster = floatToGoString(slo.latency_threshold_seconds / 2)
    return [
        {
            "series": series(f"{name}_bucket", {**labels, "le": faster}),
            "values": _counter_values([f / 2 for f in fast]),
        },
        {
            "series": series(f"{name}_bucket", {**labels, "le": "+Inf"}),
            "values": _counter_values(traffic.total),
        },
    ]


def _outside_the_sli(config: MonitoringConfig, slo: SLO, steps: int, per_minute: int) -> list[dict]:
    """Requests the SLI and the page guard must not count, ``per_minute`` of each: kubelet
    probes on ``/healthz`` (fast, 200) and, for availability, API requests closed by the
    client (499). Enough of them to pass any page's guard alone, so a page guard with a
    dropped ``route`` or ``status`` matcher pages on them."""
    noise = Traffic.phases((steps, per_minute, 0))
    result = _series(config, slo, noise, 2, metric_names.ROUTE_HEALTHZ)
    if slo.latency_threshold_seconds is None:
        result = result[:1] + _client_closed(config, noise, 2)  # no 5xx series for the probes
    return result


# --- recording rules -----------------------------------------------------------------------------
def _record_check(
    config: MonitoringConfig, slo: SLO, window: str, ratio: Fraction, eval_time: str
) -> dict:
    scaled = ratio * SCALE
    _check_margin(scaled - int(scaled), 0.5, f"{slo.name} {window} rounding")
    selector = f'{{slo="{slo.name}"}}'
    return {
        "expr": f"round({slo_error_ratio_record(window)}{selector} * {SCALE})",
        "eval_time": eval_time,
        "exp_samples": [
            {
                "labels": series(
                    "", {"job": config.job, "namespace": config.namespace, "slo": slo.name}
                ),
                "value": round(scaled),
            }
        ],
    }


def _records_constant(config: MonitoringConfig) -> list[dict]:
    """Constant traffic on two pods; failing, slow probes on the side must not count, and
    neither must a scanner's fast 404s on ``<unmatched>`` (ten times the API traffic), which
    would otherwise dilute the ratios tenfold, nor requests the client closed (499). The
    latency histogram carries its other buckets too (``_other_buckets``)."""
    steps = 65
    ratios = {slo.name: Fraction(2 + 28 * i, 1000) for i, slo in enumerate(config.slos)}
    inputs, checks = [], []
    for slo in config.slos:
        traffic = Traffic.phases((steps, 1000, ratios[slo.name] * 1000))
        probe = Traffic.phases((steps, 500, 500))  # every probe fails and is slow
        scanner = Traffic.phases((steps, 20_000, 0))  # fast 404s, never a 5xx
        inputs += _series(config, slo, traffic, 0) + _series(config, slo, traffic, 1)
        for pod in (0, 1):
            if slo.latency_threshold_seconds is None:
                # 300 a step closed by the client: left out, or the ratios dilute by 30 %.
                inputs += _client_closed(config, Traffic.phases((steps, 300, 0)), pod)
            else:
                inputs += _other_buckets(config, slo, traffic, pod)
        # Another job's and namespace's failing API traffic must not enter our records.
        failing = _series(config, slo, Traffic.phases((steps, 1000, 500)), 0)
        inputs += relabel(failing, job="some-other-job")
        inputs += relabel(failing, namespace="some-other-namespace")
        inputs += _series(config, slo, probe, 1, metric_names.ROUTE_HEALTHZ)
        inputs += _series(config, slo, scanner, 0, metric_names.ROUTE_UNMATCHED, good_status=404)
        for window in config.slo_windows():
            window_steps = duration_seconds(window) // 60
            checks.append(
                _record_check(config, slo, window, traffic.ratio(steps, window_steps), f"{steps}m")
            )
    return [
        {
            "name": (
                "SLO records: constant error ratios over API routes; probes and "
                "unmatched 404s excluded"
            ),
            "interval": "1m",
            "input_series": inputs,
            "promql_expr_test": checks,
        }
    ]


def recency_counts(steps: int, windows: list[int], high: Fraction, low: Fraction) -> list[Fraction]:
    """Per-step counts, oldest first, whose rate over each of ``windows`` (in steps) differs
    from that over half of it, and does not depend on the window's first step.

    The two most recent steps carry ``high``, the others ``low``, except the first step of each
    window ``w`` (the ``w``-th most recent), which carries the mean of the ``w - 1`` steps after
    it. So the increase over ``w`` steps is ``w / (w - 1)`` times that over ``w - 1``: exactly
    what Prometheus 3 reads, whose ranges leave out the sample at the window's start and
    extrapolate the rest's rate over that step; 2.x counts the step itself. Both read the same
    rate, while every shorter window reads a higher one.
    """
    recent = [high, high] + [low] * (steps - 2)  # recent[i]: the (i + 1)-th most recent step
    for w in sorted(windows):
        if 2 < w <= steps:
            recent[w - 1] = sum(recent[: w - 1], Fraction(0)) / (w - 1)
    return recent[::-1]


def boundary_proof(slo: SLO, traffic: Traffic, at: int, windows: list[int]) -> Traffic:
    """``traffic`` with each window's first step (ending at sample ``at``) set to the mean of the
    window's other steps, on every series the app exports for ``slo``.

    The exported series are the good and the 5xx counters (availability) or the fast bucket and
    ``_count`` (latency). With each one's first step average over its window, Prometheus 3
    (which drops the sample at the window's start and extrapolates the rest over that step)
    reads the same rates at ``at`` as 2.x, so every value asserted at ``at`` holds under both
    (``recency_counts`` builds the same property into one shape). A series that starts inside
    the window (the 5xx counter's ``bad_from``) has no sample at its start and is left alone.
    Windows of fewer than 3 steps cannot be fixed this way and are skipped.
    """
    good = [t - b for t, b in zip(traffic.total, traffic.bad, strict=True)]
    availability = slo.latency_threshold_seconds is None
    second = list(traffic.bad) if availability else list(traffic.total)
    starts = (0, traffic.bad_from if availability else 0)
    for counts, start in zip((good, second), starts, strict=True):
        for w in sorted(set(windows)):
            first = at - w
            if w >= 3 and first >= start and at <= len(counts):
                counts[first] = sum(counts[first + 1 : at], Fraction(0)) / (w - 1)
    if availability:
        total = [g + b for g, b in zip(good, second, strict=True)]
        return Traffic(total, second, traffic.bad_from)
    return Traffic(second, [t - g for t, g in zip(second, good, strict=True)], traffic.bad_from)


def _split_per_check(
    config: MonitoringConfig,
    slo: SLO,
    traffic: Traffic,
    times,
    name: str,
    checks_at,
    extra: list[dict] | None = None,
) -> list[dict]:
    """One test per check time ``t``, each on ``boundary_proof(traffic, t)`` over every window
    the SLO rules read, with ``checks_at(traffic, t)`` as its alert checks. ``extra``: input
    series added unchanged (constant-rate ones, boundary-proof as they are)."""
    windows = [duration_seconds(w) // 60 for w in config.slo_windows()]
    tests = []
    for t in sorted(times):
        proof = boundary_proof(slo, traffic, t, windows)
        tests.append(
            {
                "name": f"{name} (checked at {t}m)",
                "interval": "1m",
                "input_series": _series(config, slo, proof) + list(extra or []),
                "alert_rule_test": checks_at(proof, t),
            }
        )
    return tests


def _records_recency(config: MonitoringConfig) -> list[dict]:
    """Requests and errors concentrated in the last minutes (both counters from
    ``recency_counts``, so boundary-proof): each fast window records its own ratio, and a window
    of the wrong length on any one selector (e.g. half) is caught."""
    windows = [duration_seconds(w) // 60 for w in fast_windows(config)]
    steps = max(windows) + 40
    inputs, checks = [], []
    for i, slo in enumerate(config.slos):
        scale = Fraction(slo.error_budget).limit_denominator(10**6)
        total = recency_counts(steps, windows, Fraction(3000), Fraction(1000))
        bad = recency_counts(steps, windows, 3000 * 47 * scale, 1000 * scale * 7 / (13 * (i + 2)))
        traffic = Traffic(total, bad)
        inputs += _series(config, slo, traffic)
        for window in fast_windows(config):
            ratio = traffic.ratio(steps, duration_seconds(window) // 60)
            checks.append(_record_check(config, slo, window, ratio, f"{steps}m"))
    return [
        {
            "name": "SLO records: traffic and errors in the last minutes, each fast window its own",
            "interval": "1m",
            "input_series": inputs,
            "promql_expr_test": checks,
        }
    ]


def _gone_check_time(last: int, window: int, step: int) -> int | None:
    """An evaluation (a multiple of ``step``) after the last sample ``last`` at which a range of
    ``window`` still holds two samples (the last two) and half of it none: in ``(last + window /
    2, last + window - step]``, or ``None`` when the resolution ``step`` leaves no such time."""
    earliest = -(-(last + window // 2 + 1) // step) * step
    latest = last + window - step
    return earliest if earliest <= latest else None


def _records_after_the_last_scrape(
    config: MonitoringConfig, step: int, windows: list[str], name: str
) -> list[dict]:
    """Availability without any 5xx series, after the app's last scrape (a stale marker): each
    window's record stays 0 while the window still holds the last samples (``or 0 * total``
    over the same window), and none would with that term over half the window."""
    tests = []
    last = 10 * step
    for slo in (s for s in config.slos if s.latency_threshold_seconds is None):
        traffic = Traffic.phases((last // step, 1000, 0), bad_from=last // step)
        inputs = _series(config, slo, traffic)[:1]
        inputs[0]["values"] += " stale"
        checks = []
        for window in windows:
            at = _gone_check_time(last, duration_seconds(window), step)
            if at is not None:
                checks.append(_record_check(config, slo, window, Fraction(0), f"{at}s"))
        if checks:
            tests.append(
                {
                    "name": f"SLO records: {slo.name} without 5xx after the last scrape {name}",
                    "interval": f"{step}s",
                    "input_series": inputs,
                    "promql_expr_test": checks,
                }
            )
    return tests


def _records_no_errors_yet(config: MonitoringConfig) -> list[dict]:
    """Traffic without any 5xx series: availability's ratio is 0, not missing."""
    availability = [s for s in config.slos if s.latency_threshold_seconds is None]
    tests = []
    for slo in availability:
        traffic = Traffic.phases((30, 1000, 0), bad_from=30)  # the 5xx series never appears
        # _series writes the 5xx series from bad_from = the last sample, value 0: drop it.
        inputs = _series(config, slo, traffic)[:1]
        tests.append(
            {
                "name": f"SLO records: {slo.name} with traffic but no 5xx series yet is 0",
                "interval": "1m",
                "input_series": inputs,
                "promql_expr_test": [
                    _record_check(config, slo, w, Fraction(0), "30m") for w in config.slo_windows()
                ],
            }
        )
    return tests


def _idle(config: MonitoringConfig) -> list[dict]:
    """No requests at all: the ratios are NaN (0/0), and no burn alert fires."""
    steps = 4 * 60
    inputs = []
    for slo in config.slos:
        inputs += _series(config, slo, Traffic.phases((steps, 0, 0)))
    shortest = slo_error_ratio_record(config.slo_windows()[0])
    return [
        {
            "name": "SLO: an idle service records NaN (x != x) and pages nobody",
            "interval": "1m",
            "input_series": inputs,
            "promql_expr_test": [
                {
                    "expr": f"count({shortest} != {shortest})",
                    "eval_time": f"{steps}m",
                    "exp_samples": [{"labels": "{}", "value": len(config.slos)}],
                }
            ],
            "alert_rule_test": [
                alert_check(steps, budget_alert_name(config, slo), []) for slo in config.slos
            ],
        }
    ]


# --- burn-rate alerts ----------------------------------------------------------------------------
def _firing(
    config: MonitoringConfig,
    slo: SLO,
    traffic: Traffic,
    at: int,
    guarded: bool = True,
    every: int = 1,
) -> list[dict]:
    """The burn alerts of ``slo`` firing at minute ``at`` according to the model.

    ``every``: the rules are evaluated every ``every`` minutes (at 0, every, 2 * every, ...);
    ``at`` must be one of those evaluations. ``guarded=False`` models the rules without the
    low-traffic guard (to prove a scenario needs it). The guard: a page's long window holds
    more than ``min_requests`` requests.
    """
    if at % every:
        raise ValueError(f"minute {at} is not an evaluation (every {every} minutes)")
    alerts = []
    name = budget_alert_name(config, slo)
    period_steps = duration_seconds(config.slo_period) // 60
    for burn in config.burn_rate_windows:
        threshold = burn.factor * slo.error_budget
        long_steps = duration_seconds(burn.long) // 60
        short_steps = duration_seconds(burn.short) // 60

        def holds(
            step: int,
            burn=burn,
            threshold=threshold,
            long_steps=long_steps,
            short_steps=short_steps,
        ) -> bool:
            ratios = (traffic.ratio(step, long_steps), traffic.ratio(step, short_steps))
            for ratio, window in zip(ratios, (burn.long, burn.short), strict=True):
                if ratio is not None:
                    _check_margin(ratio, threshold, f"{slo.name} ratio over {window}")
            if guarded and traffic_guarded(burn):
                fewest = min_requests(slo, burn)
                count = traffic.count(step, long_steps)
                _check_margin(count, fewest, f"requests over {burn.long}")
                if not count > fewest:
                    return False
            return all(r is not None and r > threshold for r in ratios)

        streak = 0
        for step in range(at, -1, -every):
            if not holds(step):
                break
            streak += 1
        # Active since at - (streak - 1) * every; firing once active for `for` minutes.
        if (streak - 1) * every < minutes(burn.for_):
            continue
        value = burn_rate(traffic.ratio(at, long_steps), slo)
        # The period's record the description reads: a ticket's own group evaluates it just
        # before the ticket; a page's group runs first, so it reads the previous evaluation's.
        period_step = at if burn.severity != PAGE_SEVERITY else at - every
        alerts.append(
            expected_alert(
                {
                    "job": config.job,
                    "namespace": config.namespace,
                    "slo": slo.name,
                    "severity": burn.severity,
                    "long_window": burn.long,
                    "short_window": burn.short,
                },
                f"{config.job} burns its {slo.name} error budget {_factor(burn.factor)}x too fast",
                f"SLO {slo.name} of job {config.job} in namespace {config.namespace} "
                f"({slo.description}): over the last {burn.long} the error budget burned "
                f"{one_decimal(value)}x as fast as the SLO allows (this alert: over "
                f"{_factor(burn.factor)}x, over the last {burn.short} too); at that rate "
                f"{remaining_text(config, slo, traffic.ratio(period_step, period_steps), value)}.",
                runbook(config, name),
            )
        )
    return alerts


def _factor(factor: float) -> str:
    return str(int(factor)) if float(factor).is_integer() else repr(float(factor))


def burn_rate(ratio: Fraction, slo: SLO) -> float:
    """The alert's value: error ratio / (1 - objective), in float as Prometheus divides."""
    return float(ratio) / (1 - slo.objective)


def one_decimal(value: float) -> str:
    """``printf "%.1f"``; refuses a value whose rounding float noise could flip."""
    _check_margin(Fraction(value * 10) % 1, 0.5, "burn rate printed to 0.1")
    return f"{value:.1f}"


def remaining_text(
    config: MonitoringConfig, slo: SLO, period_ratio: Fraction | None, value: float
) -> str:
    """The description's text on the budget left (``alerts.slo.remaining_budget_template``).

    ``period_ratio``: the error ratio over the SLO period the template reads (``None``: no
    record, or NaN); ``value``: the alert's burn rate. Left = ``1 - ratio / (1 - objective)``
    as Prometheus computes it in floats; the duration ``round(period * left / value)`` from the
    ``%f``-printed operands. Refuses values within float noise of an edge (0 left, a rounding).
    """
    period = config.slo_period
    if period_ratio is None:
        return f"what is left of the {period} error budget is unknown (no {period} SLI yet)"
    left = 1 - float(period_ratio) / (1 - slo.objective)
    _check_margin(Fraction(left), 0.0, "error budget left")
    if not left > 0:
        return f"the {period} error budget is already spent"
    _check_margin(Fraction(left * 1e6) % 1, 0.5, "budget left printed with %f")
    quotient = duration_seconds(period) * float(f"{left:.6f}") / float(f"{value:.6f}")
    _check_margin(Fraction(quotient) % 1, 0.5, "budget duration rounding")
    lasts = humanize_duration(math.floor(quotient + 0.5))
    return f"the {humanize_percentage(left)} of the {period} error budget left lasts {lasts}"


def _burn_scenarios(config: MonitoringConfig, pages: bool, every: int = 1) -> list[dict]:
    """Per SLO and page (``pages``) or ticket burn window: 1 % over its threshold (fires) and 1 %
    under (does not), with the rules evaluated every ``every`` minutes (the test file's
    evaluation interval)."""
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        for burn in config.burn_rate_windows:
            if (burn.severity == PAGE_SEVERITY) != pages:
                continue
            wait = minutes(burn.for_)
            # The ratio is measurable (two samples) from minute 1, so from the evaluation at
            # `every`: the alert is active then and fires `for` later exactly; check then and
            # one evaluation before.
            after = every + wait
            before = after - every
            steps = after + 5
            for factor, verdict in ((1.01, "fires"), (0.99, "does not fire")):
                ratio = Fraction(burn.factor * slo.error_budget * factor)
                traffic = Traffic.phases((steps, PER_STEP, ratio * PER_STEP))
                checks = [
                    alert_check(t, name, _firing(config, slo, traffic, t, every=every))
                    for t in (before, after)
                ]
                others = _elsewhere(config, slo, steps) if factor < 1 else []
                tests.append(
                    {
                        "name": (
                            f"{name} {burn.long}/{burn.short} x{_factor(burn.factor)}: "
                            f"{humanize_percentage(float(ratio))} errors {verdict}"
                            f" (rules evaluated every {every}m)"
                        ),
                        "interval": "1m",
                        "input_series": _series(config, slo, traffic) + others,
                        "alert_rule_test": checks,
                    }
                )
    return tests


def _short_window_only(config: MonitoringConfig, every: int) -> list[dict]:
    """Per ticket: a burn at 1.3x its threshold that started recently (its short window burns
    for longer than ``for``, its long window stays under): no ticket, since both windows must
    burn. The data (twice the burn, healthy before it) can be shorter than the long window,
    whose ratio is then 0.65x its threshold."""
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        for burn in (b for b in config.burn_rate_windows if b.severity != PAGE_SEVERITY):
            burning = minutes(burn.short) + minutes(burn.for_) + 3 * every
            steps = (
                2 * burning
            )  # shorter than the long window: its ratio is 1.3 / 2 of the threshold
            steps += -steps % every
            ratio = Fraction(burn.factor * slo.error_budget * 1.3).limit_denominator(10**6)
            traffic = Traffic.phases(
                (steps - burning, PER_STEP, 0), (burning, PER_STEP, ratio * PER_STEP)
            )
            long_ratio = traffic.ratio(steps, minutes(burn.long))
            if not long_ratio < burn.factor * slo.error_budget:
                raise ValueError(f"{name} {burn.long}: the long window burns too")
            tests += _split_per_check(
                config,
                slo,
                traffic,
                (steps - 2 * every, steps),
                (
                    f"{name} {burn.long}/{burn.short}: only the {burn.short} window burns: "
                    f"no ticket (rules evaluated every {every}m)"
                ),
                lambda tr, t, slo=slo, name=name: [
                    alert_check(t, name, _firing(config, slo, tr, t, every=every))
                ],
            )
    return tests


ONE_WINDOW_UNDER = Fraction(95, 100)
"""The window kept under its threshold in ``_one_window_under``, as a share of the threshold:
inside (0.9, 1), so a threshold mutated by 0.9 (``tests/mutation.py``) fires there."""


def _one_window_under(config: MonitoringConfig, pages: bool, every: int = 1) -> list[dict]:
    """Per SLO and page (``pages``) or ticket burn window, two burns where one window stays
    just under its threshold (``ONE_WINDOW_UNDER`` of it) over the whole ``for`` while the
    other is over it: no alert, since both windows must burn.

    - *recent burn*: ``short + 3 * every`` minutes at 1.2x the threshold after half as long
      at the rate that brings the data's ratio to 0.95x, then ``for`` at 0.95x: the long
      window (longer than the data, so it reads all of it: counters start at 0) stays at
      0.95x, while the short window falls from 1.2x to no less than 1.07x;
    - *old burn*: a quarter of the recent minutes at 3x, then ``short + for + 3 * every``
      minutes at 0.95x: the short window at 0.95x, the long one over 1.3x.

    Raises ``ValueError`` if a window leaves its band at an evaluation of the ``for``.
    """
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        for burn in config.burn_rate_windows:
            if (burn.severity == PAGE_SEVERITY) != pages:
                continue
            wait, short = minutes(burn.for_), minutes(burn.short)
            threshold = Fraction(burn.factor * slo.error_budget).limit_denominator(10**6)

            def bad(share: Fraction, threshold=threshold) -> int:
                return round(threshold * share * PER_STEP)

            # Phase lengths in minutes, each shape's total a whole number of evaluations.
            high = short + 3 * every
            start = -(-high // 2)
            start += -(start + high + wait) % every
            old = (ONE_WINDOW_UNDER * (start + high) - Fraction(12, 10) * high) / start
            under = short + wait + 3 * every
            first = -(-under // 4)
            first += -(first + under) % every
            shapes = {
                "recent burn": (
                    "long",
                    [
                        (start, PER_STEP, bad(old)),
                        (high, PER_STEP, bad(Fraction(12, 10))),
                        (wait, PER_STEP, bad(ONE_WINDOW_UNDER)),
                    ],
                ),
                "old burn": (
                    "short",
                    [
                        (first, PER_STEP, bad(Fraction(3))),
                        (under, PER_STEP, bad(ONE_WINDOW_UNDER)),
                    ],
                ),
            }
            for shape, (window_under, phases) in shapes.items():
                steps = sum(p[0] for p in phases)
                traffic = Traffic.phases(*phases)

                def checks(
                    tr, t, slo=slo, burn=burn, threshold=threshold, wait=wait, wu=window_under
                ):
                    for step in range(t - wait, t + 1, every):
                        for window, duration in (("long", burn.long), ("short", burn.short)):
                            share = tr.ratio(step, minutes(duration)) / threshold
                            low, up = (0.92, 0.98) if window == wu else (1.02, math.inf)
                            if not low < share < up:
                                raise ValueError(
                                    f"{slo.name} {duration} at {step}m: {float(share):.3f}x "
                                    f"the threshold, outside ({low}, {up})"
                                )
                    if pages:
                        return _minute_checks(config, slo, tr, [t])
                    return [
                        alert_check(
                            t,
                            budget_alert_name(config, slo),
                            _firing(config, slo, tr, t, every=every),
                        )
                    ]

                tests += _split_per_check(
                    config,
                    slo,
                    traffic,
                    (steps,),
                    (
                        f"{name} {burn.long}/{burn.short} x{_factor(burn.factor)}: {shape}, "
                        f"the {window_under} window at {float(ONE_WINDOW_UNDER)}x its threshold:"
                        f" no alert (rules evaluated every {every}m)"
                    ),
                    checks,
                )
    return tests


def _elsewhere(config: MonitoringConfig, slo: SLO, steps: int) -> list[dict]:
    """Another job's and namespace's burning SLO beside ours, for the silent burn cases: their
    records at a ratio of 1 and their API traffic, all failing (the rules record only our job,
    so these input records stand for another app's). A dropped ``job`` or ``namespace``
    matcher in a burn-rate rule then makes it fire for them."""
    result = []
    for key in ("job", "namespace"):
        labels = {"job": config.job, "namespace": config.namespace, "slo": slo.name}
        labels[key] = f"some-other-{key}"
        for window in config.slo_windows():
            record = series(slo_error_ratio_record(window), labels)
            result.append({"series": record, "values": f"1x{steps}"})
        failing = _series(config, slo, Traffic.phases((steps, PER_STEP, PER_STEP)))
        result += relabel(failing, **{key: f"some-other-{key}"})
    return result


def slow_every(config: MonitoringConfig) -> int:
    """Minutes between evaluations of the slow SLO group, as the test model uses them.

    A sub-minute ``config.slo_slow_rules_interval`` (the local stack's 5 s) counts as 1: the
    inputs change once a minute, so evaluating more often changes no alert state at a minute.
    Raises ``ValueError`` for an interval above a minute that is not whole minutes.
    """
    if duration_seconds(config.slo_slow_rules_interval) < 60:
        return 1
    return minutes(config.slo_slow_rules_interval)


def _minute_checks(
    config: MonitoringConfig, slo: SLO, traffic: Traffic, times: list[int]
) -> list[dict]:
    """``alert_check``s for a 1-minute test file, where promtool evaluates every group (also
    the slow one) every minute. Refuses a check whose tickets would differ when the slow group
    runs at its real ``config.slo_slow_rules_interval``: such a check would pass in promtool
    and still misstate production (the ticket cadence is tested in ``slo-long``)."""
    every = slow_every(config)

    def tickets(alerts: list[dict]) -> list[list]:
        return sorted(
            sorted(a["exp_labels"].items())
            for a in alerts
            if a["exp_labels"]["severity"] != PAGE_SEVERITY
        )

    name = budget_alert_name(config, slo)
    checks = []
    for t in times:
        expected = _firing(config, slo, traffic, t)
        real = _firing(config, slo, traffic, t - t % every, every=every)
        if tickets(expected) != tickets(real):
            raise ValueError(f"{name} at {t}m: the tickets depend on the slow group's cadence")
        checks.append(alert_check(t, name, expected))
    return checks


def _outage(config: MonitoringConfig) -> list[dict]:
    """An hour of clean traffic (no 5xx series at all), then every API request fails."""
    tests = []
    for slo in config.slos:
        if slo.latency_threshold_seconds is not None:
            continue
        name = budget_alert_name(config, slo)
        healthy, failing = 60, 30
        traffic = Traffic.phases((healthy, 1000, 0), (failing, 1000, 1000), bad_from=healthy)
        times = (healthy, healthy + 2, healthy + 4, healthy + failing)
        tests += _split_per_check(
            config,
            slo,
            traffic,
            times,
            f"{name}: every request fails after an hour without any 5xx series",
            lambda tr, t, slo=slo: _minute_checks(config, slo, tr, [t]),
        )
    return tests


def low_traffic_rates(config: MonitoringConfig, slo: SLO) -> tuple[float, float]:
    """Requests a minute of the two low-traffic scenarios, from the tightest page's guard.

    With ``n = min_requests`` of the page with the shortest long window (69.4 requests in 1h
    at 99.9 % and 14.4x): 0.45 ``n`` per long window (the guard blocks, while one bad
    request alone would cross the threshold) and 2.2 ``n`` (the guard passes and one bad
    request, a ratio of 1/2.2n, stays under the threshold). Derived, so any objective has both.
    """
    pages = [b for b in config.burn_rate_windows if traffic_guarded(b)]
    page = min(pages, key=lambda b: duration_seconds(b.long))
    per_minute = min_requests(slo, page) / minutes(page.long)
    # 0.45 and 2.2, not 0.5 and 2: a round share could land a ratio exactly on a threshold.
    return per_minute * 0.45, per_minute * 2.2


def _low_traffic(config: MonitoringConfig) -> list[dict]:
    """A quiet service whose single request after an hour fails: no page.

    At the lower rate (``low_traffic_rates``: 0.52 requests a minute at 99.9 %), the rules
    without the low-traffic guard would page (1 of ~32 requests over 1h: far above 14.4x of a
    99.9 % SLO); the guard (the 1h window must hold more than ``min_requests`` = 69.4 requests)
    stops it. The generator refuses a config for which that case would not page unguarded (the
    case would be moot). At the higher rate (2.5 a minute) the guard passes (153 > 69.4) and
    the ratio itself (1/153) stays under the threshold.

    The quiet service also answers kubelet probes and has clients that give up (499s), 30 a
    minute of each (``_outside_the_sli``): enough to pass every guard, so the guard must count
    API requests only. Checked also at minute 64, while a 1h page on them would fire.
    """
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        healthy, after = 60, 30
        times = list(range(healthy + 1, healthy + after + 1, 6))
        low, high = low_traffic_rates(config, slo)
        for per_minute in (low, high):
            traffic = Traffic.phases(
                (healthy, per_minute, 0), (1, max(per_minute, 1), 1), (after, per_minute, 0)
            )
            steps = healthy + 1 + after
            noise = _outside_the_sli(config, slo, steps, 30) if per_minute == low else []
            checked = sorted(set(times) | {healthy + 4}) if per_minute == low else times
            would_page = [
                a
                for t in times
                for a in _firing(config, slo, traffic, t, guarded=False)
                if a["exp_labels"]["severity"] == PAGE_SEVERITY
            ]
            if per_minute == low and not would_page:
                raise ValueError(f"{name}: the low-traffic scenario would not page even unguarded")
            tests += _split_per_check(
                config,
                slo,
                traffic,
                checked,
                f"{name}: {per_minute:.3g} request(s) a minute, one of them fails: no page"
                + (" (probes and 499s beside them)" if noise else ""),
                lambda tr, t, slo=slo: _minute_checks(config, slo, tr, [t]),
                noise,
            )
    return tests


OUTAGE_PER_MINUTE = 12
"""API requests a minute in the low-traffic outage scenario (0.2/s)."""


def first_page(config: MonitoringConfig, slo: SLO, traffic: Traffic, until: int) -> dict[str, int]:
    """``{short window: first minute its page fires}`` per the model, up to minute ``until``.

    For scenarios where a page, once firing, stays firing up to ``until`` (a burn or outage
    that goes on): a bisection per page (the model costs O(minutes) per minute evaluated).
    Raises ``ValueError`` when the found minute is not the first (the scenario is not of that
    kind).
    """

    def pages(t: int) -> set[str]:
        return {
            a["exp_labels"]["short_window"]
            for a in _firing(config, slo, traffic, t)
            if a["exp_labels"]["severity"] == PAGE_SEVERITY
        }

    first: dict[str, int] = {}
    for short in sorted(pages(until)):
        low, high = 0, until  # pages(high) holds short
        while low < high:
            middle = (low + high) // 2
            if short in pages(middle):
                high = middle
            else:
                low = middle + 1
        if low and short in pages(low - 1):
            raise ValueError(f"{slo.name} {short}: the page does not stay firing")
        first[short] = low
    return first


def low_traffic_outage(slo: SLO) -> tuple[Traffic, int]:
    """Every API request fails, 12 a minute, for 2 hours (the service's first requests)."""
    steps = 120
    return Traffic.phases((steps, OUTAGE_PER_MINUTE, OUTAGE_PER_MINUTE)), steps


def _low_traffic_outage(config: MonitoringConfig) -> list[dict]:
    """A quiet service in a total outage pages: as soon as the long window holds more than
    ``min_requests`` requests and the rule's ``for`` has passed (99.9 % at 14.4x: 72 > 69.4
    requests at minute 6, firing at 8; at 6x: 168 > 166.7 at minute 14, firing at 29).
    Checked at each page's first firing minute, the minute before, and the end."""
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        traffic, steps = low_traffic_outage(slo)
        first = first_page(config, slo, traffic, steps)
        if not first:
            raise ValueError(f"{name}: a total outage at {OUTAGE_PER_MINUTE}/min never pages")
        times = sorted({t for f in first.values() for t in (f - 1, f)} | {steps})
        tests.append(
            {
                "name": (
                    f"{name}: every request fails at {OUTAGE_PER_MINUTE} a minute: pages once "
                    "the long window holds enough requests"
                ),
                "interval": "1m",
                "input_series": _series(config, slo, traffic),
                "alert_rule_test": _minute_checks(config, slo, traffic, times),
            }
        )
    return tests


def _budget_left(config: MonitoringConfig) -> list[dict]:
    """A burn after a busy, healthy afternoon: the page states the share of the period's budget
    left and how long it lasts at the measured burn rate (``remaining_text``), and the share
    shrinks while the burn goes on. 4h at 8,000 requests a minute without errors, then 70
    minutes at 1,000 a minute burning 20.8x: the 14.4x page fires once the busy hour has left
    its 1h window; the slower windows stay quiet."""
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        healthy, burning = 4 * 60, 70
        ratio = Fraction(208, 10) * Fraction(slo.error_budget).limit_denominator(10**6)
        traffic = Traffic.phases((healthy, 8000, 0), (burning, 1000, ratio * 1000))

        def _clear(t: int, slo=slo, traffic=traffic) -> bool:
            """Whether minute ``t`` is clear of printing edges (a burn of x.x5...)."""
            try:
                _firing(config, slo, traffic, t)
            except ValueError:
                return False
            return True

        first = first_page(config, slo, traffic, healthy + burning)
        if not first:
            raise ValueError(f"{name}: a 20.8x burn never pages")
        start, end = min(first.values()), healthy + burning
        middle = next((t for t in range(start + 5, end) if _clear(t)), None)
        times = {start - 1, start, end} | ({middle} if middle else set())
        tests += _split_per_check(
            config,
            slo,
            traffic,
            times,
            f"{name}: a 20.8x burn after a busy afternoon states the budget left",
            lambda tr, t, slo=slo: _minute_checks(config, slo, tr, [t]),
        )
    return tests


def _quiet_outage_guard(config: MonitoringConfig) -> list[dict]:
    """Per guarded page: a total outage at 1.55x the requests its guard needs over the long
    window (``min_requests`` / long window per minute): the page fires once the long window
    holds enough requests, though half the window never would (it holds 0.775x)."""
    tests = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        for burn in (b for b in config.burn_rate_windows if traffic_guarded(b)):
            per_minute = Fraction(min_requests(slo, burn) * 1.55 / minutes(burn.long))
            per_minute = per_minute.limit_denominator(10**4)
            steps = minutes(burn.long) + minutes(burn.for_) + 30
            traffic = Traffic.phases((steps, per_minute, per_minute))
            first = first_page(config, slo, traffic, steps).get(burn.short)
            if first is None or first <= minutes(burn.long) // 2:
                raise ValueError(f"{name} {burn.long}: the quiet outage does not test the guard")
            tests.append(
                {
                    "name": (
                        f"{name} {burn.long}/{burn.short}: every request fails at "
                        f"{float(per_minute):.3g} a minute: pages once {burn.long} holds enough"
                    ),
                    "interval": "1m",
                    "input_series": _series(config, slo, traffic),
                    "alert_rule_test": _minute_checks(
                        config, slo, traffic, sorted({first - 1, first, steps})
                    ),
                }
            )
    return tests


# --- long windows at hourly resolution -----------------------------------------------------------
def _long_windows(config: MonitoringConfig) -> list[dict]:
    """31 days of hourly samples whose error ratio changes so every window >= 2h differs.

    Hour h (1-based, counted back from the end) carries more errors the more recent it is, and
    the first day (outside the 30-day window) a lot: a window of the wrong length is caught.
    Each window's first hour is then made average (``boundary_proof``), so 3.x reads the same.
    """
    hour = 3600
    period_hours = duration_seconds(config.slo_period) // hour
    total_hours = period_hours + 24
    windows = [w for w in config.slo_windows() if duration_seconds(w) >= 2 * hour]

    def errors_per_hour(age: int) -> int:
        """Bad requests per 1000 in the hour ``age`` hours before the end (1 = the last)."""
        for limit, errors in ((2, 50), (6, 30), (24, 10), (72, 4), (period_hours, 1)):
            if age <= limit:
                return errors
        return 200

    inputs, checks = [], []
    for i, slo in enumerate(config.slos):
        bad = [Fraction(errors_per_hour(total_hours - h) * (i + 1)) for h in range(total_hours)]
        steps = [duration_seconds(w) // hour for w in windows]
        traffic = boundary_proof(
            slo, Traffic([Fraction(1000)] * total_hours, bad), total_hours, steps
        )
        inputs += _series(config, slo, traffic)
        for window in windows:
            ratio = traffic.ratio(total_hours, duration_seconds(window) // hour)
            checks.append(_record_check(config, slo, window, ratio, f"{total_hours}h"))
    return [
        {
            "name": "SLO records: windows from 2h to the SLO period, hourly samples",
            "interval": "1h",
            "input_series": inputs,
            "promql_expr_test": checks,
        }
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """Three files: minute resolution (records, pages, outages), the tickets at the slow group's
    interval, and hourly samples (the long windows).

    promtool 2.42 ignores a rule group's ``interval`` in unit tests: every group is evaluated at
    the file's ``evaluation_interval`` (checked: a ``time()`` record in an ``interval: 5m``
    group reads 180 at 3m). So the tickets, which live in the slow group, have their own file
    evaluated every ``config.slo_slow_rules_interval``; in the minute file every ticket state
    checked is refused unless it is the same at the slow cadence (``_minute_checks``). Record
    values do not depend on the cadence (each is a function of the samples at its evaluation).

    A ticket reads its short-window record (2h, 6h) from the fast group. promtool evaluates
    groups in a random order, so the files fix it, fast group first: in production the fast
    group runs every 30 s, so the record a ticket reads is at most that old, which the model
    treats as current (the slow file would otherwise see it one 4m evaluation late at random).
    """
    minute_tests = (
        _records_constant(config)
        + _records_recency(config)
        + _records_after_the_last_scrape(config, 60, list(fast_windows(config)), "(minutes)")
        + _records_no_errors_yet(config)
        + _idle(config)
        + _burn_scenarios(config, pages=True)
        + _outage(config)
        + _one_window_under(config, pages=True)
        + _low_traffic(config)
        + _low_traffic_outage(config)
        + _budget_left(config)
        + _quiet_outage_guard(config)
    )
    every = slow_every(config)
    order = tuple(g["name"] for g in slo_groups(config))
    return [
        TestFile("slo", minute_tests, group_eval_order=order),
        TestFile(
            "slo-long",
            _burn_scenarios(config, pages=False, every=every)
            + _short_window_only(config, every)
            + _one_window_under(config, pages=False, every=every),
            evaluation_interval=f"{every}m",
            group_eval_order=order,
        ),
        TestFile(
            "slo-windows",
            _long_windows(config)
            + _records_after_the_last_scrape(
                config,
                3600,
                [w for w in config.slo_windows() if w not in fast_windows(config)],
                "(hours)",
            ),
            evaluation_interval="1h",
        ),
    ]
