"""Small builders shared by the rule areas: alert and record dicts, names, numbers, matchers.

A rule is plain data (the dict Prometheus reads from a rules file), so the generator can write it
both as a plain rules file and inside a PrometheusRule, and tests can inspect it.
"""

from __future__ import annotations

import re
import textwrap

from prometheus_client.utils import floatToGoString

from monitoring.config import MonitoringConfig

SEVERITIES = ("critical", "warning", "info")
"""Allowed values of an alert's ``severity`` label (the Alertmanager routes match on them)."""


def alert_prefix(config: MonitoringConfig) -> str:
    """CamelCase alert-name prefix from ``config.app_name``: ``demo-app`` -> ``DemoApp``."""
    return "".join(
        part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", config.app_name) if part
    )


def runbook_anchor(alertname: str) -> str:
    """The ``docs/runbooks.md`` heading anchor of an alert: GitHub's slug of ``## <alertname>``.

    GitHub lowercases a heading and keeps letters, digits, ``-`` and ``_``; alert names are
    CamelCase identifiers, so the slug is simply the lowercased name.
    """
    return alertname.lower()


def runbook_url(config: MonitoringConfig, alertname: str) -> str:
    """Absolute runbook URL of an alert: ``config.runbook_base_url`` + ``#`` + its anchor."""
    return f"{config.runbook_base_url}#{runbook_anchor(alertname)}"


def promql(text: str) -> str:
    """Normalise a (possibly indented, multi-line) PromQL snippet: dedent, strip, no blank lines."""
    lines = textwrap.dedent(text).strip().splitlines()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def number(value: float) -> str:
    """A PromQL number literal: ``2`` for integral values, else Python's shortest repr (``0.999``).

    ``repr`` round-trips exactly, unlike ``%g`` which would turn 0.9999999 into ``1``.
    """
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def percent_text(ratio: float) -> str:
    """A ratio 0-1 as text for descriptions: ``0.05`` -> ``5%``, ``0.0144`` -> ``1.44%``."""
    return f"{ratio * 100:.4g}%"


def le_matcher(bound_seconds: float) -> str:
    """A PromQL matcher selecting the classic histogram bucket ``le == bound_seconds``.

    The ``le`` label is a string, so it must be spelled exactly as stored:
    - prometheus_client (the app) exposes bounds with ``floatToGoString``: ``0.25``, ``1.0``;
    - Prometheus 2.x stores the exposed text as is, so a Go client's ``1`` stays ``1``;
    - Prometheus 3.x normalises ``le`` on ingestion to the float spelling (``1`` -> ``1.0``).
    For 0.25 every spelling agrees (``le="0.25"``); for whole numbers they differ, so the matcher
    becomes a regex accepting both (``le=~"1|1\\.0"``), which selects one series either way.
    """
    spellings = {floatToGoString(bound_seconds)}
    if float(bound_seconds).is_integer():
        spellings.add(str(int(bound_seconds)))
    if len(spellings) == 1:
        return f'le="{spellings.pop()}"'
    alternatives = "|".join(re.escape(s).replace("\\", "\\\\") for s in sorted(spellings))
    return f'le=~"{alternatives}"'


def selector(config: MonitoringConfig, *extra: str) -> str:
    """Label matchers ``{job=..., namespace=..., <extra>}`` for the app's own series."""
    return "{" + ", ".join((config.selector, *extra)) + "}"


def alert(
    name: str,
    *,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    for_: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict:
    """An alerting rule as the dict a rules file holds (``runbook_url`` is added by the generator).

    Args:
        name: the alert name (``alertname``).
        expr: PromQL; whitespace is normalised with ``promql``.
        severity: one of ``SEVERITIES``.
        summary: one line, Go template allowed.
        description: with the offending labels and the value rendered readably.
        for_: Prometheus duration the condition must hold; ``None`` fires at once.
        labels: extra static labels.

    Raises:
        ValueError: unknown severity.
    """
    if severity not in SEVERITIES:
        raise ValueError(f"alert {name}: severity {severity!r} is not one of {SEVERITIES}")
    rule: dict = {"alert": name, "expr": promql(expr)}
    if for_ is not None:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, **(labels or {})}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def record(name: str, expr: str, labels: dict[str, str] | None = None) -> dict:
    """A recording rule as the dict a rules file holds."""
    rule: dict = {"record": name, "expr": promql(expr)}
    if labels:
        rule["labels"] = dict(labels)
    return rule


def group(
    config: MonitoringConfig, area: str, rules: list[dict], interval: str | None = None
) -> dict:
    """A rule group named ``<app_name>.<area>``; ``interval`` (a Prometheus duration) overrides
    the global evaluation interval, ``None`` keeps it."""
    result: dict = {"name": f"{config.app_name}.{area}"}
    if interval is not None:
        result["interval"] = interval
    result["rules"] = rules
    return result
