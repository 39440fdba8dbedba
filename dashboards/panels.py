"""House style for this project's Grafana dashboards: small wrappers around grafanalib.

Every ``*.dashboard.py`` builds its panels through these helpers, so that all of them share:

- one datasource: the ``datasource`` template variable (``DATASOURCE``), defaulting to the
  provisioned Prometheus uid from ``CONFIG.grafana_datasource_uid``;
- the ``namespace`` and ``pod`` variables and a selector helper (``app_selector``) that filters
  every query on them;
- a title, a description and a unit on every panel (a ``ValueError`` otherwise);
- thresholds built from config values (``steps``), shown as dashed lines on time series;
- a grid layout computed from rows of sized panels (``dashboard``), and stable panel ids.

grafanalib emits the JSON of old Grafana versions in places (nulls, Angular-era keys, a
``fieldOptions`` block on bar gauges); ``dashboards.generate`` normalises that to the shape
Grafana 13.2 writes (schemaVersion 42). Units are Grafana unit ids from
``grafanalib.formatunits``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from urllib.parse import quote

import attr
from grafanalib import core as g
from grafanalib import formatunits as units

from app import metric_names as m
from monitoring import kubernetes_series as k8s
from monitoring.config import MonitoringConfig

__all__ = [
    "DATASOURCE",
    "DATASOURCE_VARIABLE",
    "GRID_WIDTH",
    "NAMESPACE_VARIABLE",
    "POD_VARIABLE",
    "Row",
    "app_selector",
    "bar_gauge",
    "budget_steps",
    "burn_rate_steps",
    "dashboard",
    "deploy_annotation",
    "field_links",
    "fixed_color",
    "namespace_selector",
    "number",
    "overrides_thresholds",
    "silence_url",
    "silences_link",
    "stat",
    "steps",
    "table",
    "target",
    "timeseries",
    "units",
]

DATASOURCE_VARIABLE = "datasource"
NAMESPACE_VARIABLE = "namespace"
POD_VARIABLE = "pod"
DATASOURCE = {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}
"""The datasource reference every panel and query carries (the template variable)."""

GRID_WIDTH = 24
"""Grafana's grid is 24 columns wide; a height unit is 30 px."""

EVEN_SPEND = 1.0
"""Burn rate at which an error budget lasts exactly the SLO period (by definition)."""

BASE_COLOR = "green"
"""The colour of a value below every threshold."""

Threshold = tuple[float, str]
"""A threshold step: (value from which it applies, colour)."""


def number(value: float) -> str:
    """A float as PromQL and Grafana show it: ``0.0010000000000000009`` -> ``"0.001"``.

    Six significant digits: SLO objectives and thresholds have at most four.
    """
    return f"{value:.6g}"


def namespace_selector(*matchers: str, job: str | None = None) -> str:
    """Label matchers ``{namespace="$namespace", ...}`` for a series without a ``pod`` label.

    Args:
        matchers: further matchers, e.g. ``'slo="latency"'``.
        job: adds ``job="<job>"`` when given (the app's series and recording rules carry it).
    """
    parts = [f'namespace="${NAMESPACE_VARIABLE}"']
    if job is not None:
        parts.insert(0, f'job="{job}"')
    parts.extend(matchers)
    return "{" + ", ".join(parts) + "}"


def app_selector(*matchers: str, job: str | None = None) -> str:
    """Label matchers for a series with a ``pod`` label: namespace and pod variables first.

    ``pod=~"$pod"`` is a regex match because the pod variable is multi-valued (Grafana expands
    a selection to ``(a|b)``); ``namespace`` is single-valued, so an equality.
    """
    return namespace_selector(f'pod=~"${POD_VARIABLE}"', *matchers, job=job)


def steps(*thresholds: Threshold, base: str = BASE_COLOR) -> list[dict]:
    """Grafana threshold steps: ``base`` below the first value, then each (value, colour).

    Raises:
        ValueError: the values are not strictly ascending (Grafana would re-sort them and the
            colours would no longer mean what the caller wrote).
    """
    values = [value for value, _ in thresholds]
    if values != sorted(set(values)):
        raise ValueError(f"threshold values must be strictly ascending, got {values}")
    return [{"color": base, "value": None}] + [
        {"color": color, "value": value} for value, color in thresholds
    ]


def overrides_thresholds(by_name: dict[str, list[dict]]) -> list[dict]:
    """Field overrides giving the field (series) called ``name`` its own threshold ``steps``."""
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "thresholds", "value": {"mode": "absolute", "steps": s}}],
        }
        for name, s in by_name.items()
    ]


def fixed_color(name: str, color: str = "text") -> dict:
    """A field override giving the field (series) ``name`` one colour, whatever its value
    (e.g. the "desired" count beside a thresholded "ready" count)."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
    }


def field_links(name: str, links: Sequence[tuple[str, str]]) -> dict:
    """A field override making each cell of column ``name`` open ``(title, url)`` links.

    ``url`` may use Grafana's data-link variables, e.g. ``${__value.raw}`` (the cell) or
    ``${__data.fields.alertname}`` (another column of the row).
    """
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {
                "id": "links",
                "value": [{"title": t, "url": u, "targetBlank": True} for t, u in links],
            }
        ],
    }


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> g.Target:
    """A Prometheus query; ``legend`` is a Grafana legend format such as ``"{{pod}}"``.

    ``instant`` asks for the latest value only (stat and table panels); ``table`` returns one
    row per series with its labels as columns. The refId is assigned by the panel helper.
    """
    return g.Target(
        expr=expr,
        legendFormat=legend,
        instant=instant,
        format=g.TABLE_TARGET_FORMAT if table else g.TIME_SERIES_TARGET_FORMAT,
        datasource=DATASOURCE,
    )


def _common(
    title: str, description: str, targets: Sequence[g.Target], width: int, height: int
) -> dict:
    """The arguments every data panel shares; checks title, description, targets and size."""
    if not title.strip() or not description.strip():
        raise ValueError(f"panel {title!r}: a title and a description are required")
    if not targets:
        raise ValueError(f"panel {title!r}: at least one query is required")
    if not 0 < width <= GRID_WIDTH or height <= 0:
        raise ValueError(f"panel {title!r}: size {width}x{height} does not fit the grid")
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": [
            attr.evolve(t, refId=ref)
            for t, ref in zip(targets, string.ascii_uppercase, strict=False)
        ],
        "gridPos": g.GridPos(h=height, w=width, x=0, y=0),
    }


def _unit(title: str, unit: str) -> str:
    if not unit:
        raise ValueError(f"panel {title!r}: a unit is required (a grafanalib.formatunits id)")
    return unit


def timeseries(
    title: str,
    description: str,
    targets: Sequence[g.Target],
    *,
    unit: str,
    thresholds: list[dict] | None = None,
    width: int = 12,
    height: int = 8,
    bars: bool = False,
    min_value: int | None = None,
    decimals: int | None = None,
) -> g.TimeSeries:
    """A time series panel; ``thresholds`` (from ``steps``) are drawn as dashed lines.

    The legend is a table with the last and maximum value, so a reader gets exact figures.
    """
    return g.TimeSeries(
        **_common(title, description, targets, width, height),
        unit=_unit(title, unit),
        thresholds=thresholds or steps(),
        thresholdsStyleMode="dashed" if thresholds else "off",
        drawStyle="bars" if bars else "line",
        fillOpacity=50 if bars else 10,
        showPoints="never",
        legendDisplayMode="table",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        valueMin=min_value,
        valueDecimals=decimals,
    )


def stat(
    title: str,
    description: str,
    targets: Sequence[g.Target],
    *,
    unit: str,
    thresholds: list[dict] | None = None,
    width: int = 6,
    height: int = 6,
    decimals: int | None = None,
    no_value: str | None = None,
    overrides: list[dict] | None = None,
    graph: bool = True,
    mappings: list[dict] | None = None,
) -> g.Stat:
    """A stat panel showing each series' last value, coloured by ``thresholds``.

    ``overrides`` are Grafana field overrides (``overrides_thresholds``, ``fixed_color``);
    ``graph`` False drops the sparkline (small status tiles read better without it);
    ``mappings`` are Grafana value mappings (value or range -> text and colour).
    """
    return g.Stat(
        **_common(title, description, targets, width, height),
        format=_unit(title, unit),
        thresholds=thresholds or steps(),
        reduceCalc="lastNotNull",
        colorMode="value" if thresholds else "none",
        graphMode="area" if graph else "none",
        decimals=decimals,
        noValue=no_value,
        overrides=overrides or [],
        mappings=mappings or [],
    )


def bar_gauge(
    title: str,
    description: str,
    targets: Sequence[g.Target],
    *,
    unit: str,
    thresholds: list[dict] | None = None,
    overrides: list[dict] | None = None,
    min_value: float = 0,
    max_value: float | None = None,
    width: int = 8,
    height: int = 8,
    decimals: int | None = None,
) -> g.BarGauge:
    """A horizontal bar gauge, one bar per series (last value); ``max_value`` None = auto."""
    return g.BarGauge(
        **_common(title, description, targets, width, height),
        format=_unit(title, unit),
        thresholds=thresholds or steps(),
        calc="lastNotNull",
        displayMode=g.GAUGE_DISPLAY_MODE_GRADIENT,
        min=min_value,
        max=max_value,
        decimals=decimals,
        extraJson={"fieldConfig": {"overrides": overrides or []}},
    )


def table(
    title: str,
    description: str,
    targets: Sequence[g.Target],
    *,
    unit: str,
    hidden_columns: Iterable[str] = ("Time", "Value", "__name__"),
    width: int = 24,
    height: int = 8,
    overrides: list[dict] | None = None,
) -> g.Table:
    """A table of instant query results, one row per series; ``hidden_columns`` are dropped.

    ``overrides``: field overrides, e.g. ``field_links`` to make a column's cells links.
    """
    organize = {"id": "organize", "options": {"excludeByName": dict.fromkeys(hidden_columns, True)}}
    return g.Table(
        **_common(title, description, targets, width, height),
        unit=_unit(title, unit),
        thresholds=steps(),
        transformations=[organize],
        overrides=overrides or [],
    )


# --- dashboard, variables and layout --------------------------------------------------------------
Row = tuple[str, Sequence[g.Panel]]
"""A dashboard section: a row title and its panels, laid out left to right, wrapping at 24."""


def _layout(rows: Sequence[Row]) -> list[g.Panel]:
    """Row panels followed by their panels, with gridPos x/y packed left to right.

    Raises:
        ValueError: a panel has no size (built without these helpers).
    """
    result: list[g.Panel] = []
    y = 0
    for title, panels in rows:
        result.append(g.RowPanel(title=title, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        x = 0
        line_height = 0
        for panel in panels:
            pos = panel.gridPos
            if pos is None:
                raise ValueError(
                    f"panel {panel.title!r} has no size; build it with dashboards.panels"
                )
            if x + pos.w > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            result.append(attr.evolve(panel, gridPos=g.GridPos(h=pos.h, w=pos.w, x=x, y=y)))
            x += pos.w
            line_height = max(line_height, pos.h)
        y += line_height
    return result


def _variables(config: MonitoringConfig, *, pod: bool) -> g.Templating:
    """The ``datasource``, ``namespace`` and (when ``pod``) ``pod`` variables.

    Namespaces and pods are the label values of ``up`` for the app's job: ``up`` exists for every
    scraped pod, also one whose /metrics fails - the pod a reader most needs to see.
    """
    up_selector = f'{k8s.UP}{{job="{config.job}"}}'
    variables = [
        g.Template(
            name=DATASOURCE_VARIABLE,
            label="Data source",
            query="prometheus",
            type="datasource",
            default=config.grafana_datasource_uid,
        ),
        g.Template(
            name=NAMESPACE_VARIABLE,
            label=NAMESPACE_VARIABLE,
            query=f"label_values({up_selector}, namespace)",
            dataSource=DATASOURCE,
            default=config.namespace,
            refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
        ),
    ]
    if pod:
        pod_selector = f'{k8s.UP}{{job="{config.job}", namespace="${NAMESPACE_VARIABLE}"}}'
        variables.append(
            g.Template(
                name=POD_VARIABLE,
                label=POD_VARIABLE,
                query=f"label_values({pod_selector}, pod)",
                dataSource=DATASOURCE,
                default="$__all",
                includeAll=True,
                multi=True,
                refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
            )
        )
    return g.Templating(list=variables)


def dashboard(
    name: str,
    title: str,
    description: str,
    rows: Sequence[Row],
    config: MonitoringConfig,
    *,
    pod_variable: bool = True,
    time_from: str = "now-6h",
    refresh: str = "1m",
    annotations: Sequence[dict] = (),
    links: Sequence[g.DashboardLink] = (),
) -> g.Dashboard:
    """A dashboard in the house style, its uid taken from ``config.dashboard_uids[name]``.

    Args:
        name: the file's name (``overview`` for ``overview.dashboard.py``).
        rows: the sections, top to bottom.
        pod_variable: add the ``pod`` variable (only when some query has a pod label).
        time_from: default time range start, e.g. ``"now-6h"``; it ends now.
        annotations: annotation queries (``deploy_annotation``) drawn on every time series.
        links: further dashboard links (e.g. ``silences_link``), after the link to the other
            dashboards of the folder (same time range and variables).

    Raises:
        ValueError: ``name`` has no uid in ``config.dashboard_uids``.
    """
    if name not in config.dashboard_uids:
        known = ", ".join(sorted(config.dashboard_uids))
        raise ValueError(f"dashboard {name!r} has no uid in config.dashboard_uids ({known})")
    board = g.Dashboard(
        title=title,
        description=description,
        uid=config.dashboard_uids[name],
        tags=[config.app_name],
        panels=_layout(rows),
        templating=_variables(config, pod=pod_variable),
        annotations=g.Annotations(list=[_BUILT_IN_ANNOTATION, *annotations]),
        time=g.Time(time_from, "now"),
        refresh=refresh,
        editable=False,  # provisioned from git: edits in the UI would be lost
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        timezone="utc",
        links=[
            g.DashboardLink(
                title=config.dashboard_folder,
                tags=[config.app_name],
                asDropdown=True,
                includeVars=True,
                keepTime=True,
            ),
            *links,
        ],
    )
    return board.auto_panel_ids()


_BUILT_IN_ANNOTATION = {
    # What Grafana adds to every dashboard (annotations made in the UI and Grafana alerts);
    # written out so the JSON is what Grafana would save.
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def deploy_annotation(config: MonitoringConfig) -> dict:
    """An annotation marking each rollout of a new version, from the app's own metrics.

    ``demo_app_info`` carries the ``version`` label; a version that exists now but did not
    ``config.rate_window`` ago is a deploy (or a rollback), drawn as a region of that length
    with the version as its title. Works wherever the app is scraped (no kube-state-metrics).
    The query lives in ``target`` with ``titleFormat``/``tagKeys`` beside it: the shape the
    Prometheus data source writes since Grafana 10 (it moves a legacy top-level ``expr``
    there on load).
    """
    info = m.INFO + namespace_selector(job=config.job)
    expr = (
        f"count by (version) ({info})"
        f" unless count by (version) ({info} offset {config.rate_window})"
    )
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "purple",
        "name": "Deploys",
        "target": {"expr": expr, "interval": config.rate_window, "refId": "Anno"},
        "tagKeys": "version",
        "titleFormat": "deploy {{version}}",
        "textFormat": f"version {{{{version}}}} first seen (checked every {config.rate_window})",
        "useValueForTime": False,
    }


def silences_link(config: MonitoringConfig) -> g.DashboardLink:
    """A link to Alertmanager's "new silence" page, pre-filled for the dashboard's namespace."""
    return g.DashboardLink(
        title="Silence alerts (Alertmanager)",
        type="link",
        uri=silence_url(config, f'namespace="${NAMESPACE_VARIABLE}"'),
        icon="bolt",
        targetBlank=True,
        tooltip="Open Alertmanager's new-silence form for this namespace",
    )


def silence_url(config: MonitoringConfig, *matchers: str) -> str:
    """Alertmanager UI's new-silence form with ``matchers`` (e.g. ``'alertname="X"'``) filled
    in; ``config.external_urls.alertmanager`` is its address. Grafana expands variables in it."""
    # URL-encode the matchers but keep Grafana's variables (`$namespace`, `${__data...}`) as
    # they are, or Grafana would not find them to interpolate.
    parts = re.split(r"(\$\{[^}]+\}|\$\w+)", "{" + ", ".join(matchers) + "}")
    encoded = "".join(part if part.startswith("$") else quote(part, safe="") for part in parts)
    return f"{config.external_urls.alertmanager}/#/silences/new?filter={encoded}"


BUDGET_LOW = 0.25
"""Share of the error budget left below which a budget tile turns orange: a warning before it
is spent (red below 0), with a quarter of the period's budget still to react with."""


def budget_steps() -> list[dict]:
    """Threshold steps for an error budget remaining (ratio): red below 0 (spent), orange below
    ``BUDGET_LOW``, else green."""
    return steps((0.0, "orange"), (BUDGET_LOW, "green"), base="red")


def burn_rate_steps(config: MonitoringConfig, window: str) -> list[dict]:
    """Threshold steps for a burn rate over ``window``: orange from an even spend (1), red from
    the lowest burn-rate alert factor whose long or short window is ``window`` (the alert fires
    when both its windows exceed the factor; SRE workbook, "Alerting on SLOs")."""
    factors = [b.factor for b in config.burn_rate_windows if window in (b.long, b.short)]
    factor = min(factors, default=EVEN_SPEND)
    if factor > EVEN_SPEND:
        return steps((EVEN_SPEND, "orange"), (factor, "red"))
    return steps((factor, "red"))
