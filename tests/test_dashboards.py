"""The generated Grafana dashboards and their sidecar ConfigMaps.

Lint parity with Grafana's dashboard-linter (github.com/grafana/dashboard-linter, lint/rule_*.go,
read at commit 4d0844b): every rule of its default set is a test over the committed JSON, with
the same semantics unless an exception below says otherwise.

- template-datasource-rule: test_datasource_variable
- template-job-rule, template-instance-rule: test_namespace_and_pod_variables (exception 1)
- template-label-promql-rule: test_variable_queries_are_promql_over_allowed_series
- template-on-time-change-reload-rule: test_namespace_and_pod_variables
- panel-datasource-rule, panel-no-targets-rule: check_conventions, in
  test_every_panel_and_query_uses_the_datasource_variable_and_the_conventions
- panel-title-description-rule, panel-units-rule:
  test_every_panel_has_title_description_and_a_grafana_unit (every panel type, not only the
  linter's stat/timeseries/gauge)
- target-promql-rule: check_query (promql-parser) and
  test_every_query_is_accepted_by_prometheus_own_parser (promtool)
- target-rate-interval-rule: check_query (exception 2)
- target-job-rule, target-instance-rule: check_query (exception 1)
- target-counter-agg-rule: test_counters_are_aggregated_with_rate_or_increase (exception 3)
- uneditable-dashboard: test_dashboard_identity_and_schema

Deliberate exceptions:
1. job/instance -> namespace/pod. On Kubernetes a job is the Service (one per app) and an
   instance is a pod: the variables are ``namespace`` (single-valued, an equality, default from
   the config) and ``pod`` (multi, All); every selector filters ``namespace="$namespace"``, and
   ``pod=~"$pod"`` where the series has a pod label and the dashboard a pod variable (the SLO
   dashboard reads pod-aggregated recording rules and has none). The namespace and pod values
   come from ``up{job="<config.job>"}``, so the pickers offer only this app's pods.
2. Stricter than the linter: every range is ``$__rate_interval``, also under increase() and
   *_over_time (the linter allows any range there); the one offset is ``$__interval``.
3. Restarts: ``x - x offset $__interval`` counts each container restart once per step, exactly;
   increase() extrapolates and over ``$__rate_interval`` counted each restart in ~4 bars.

On top: modern panels only, unique ids, no overlaps, the incident-first layout (status row on
the first screen), schemaVersion from @grafana/schema 13.2.x and a ``tsc`` type check against
it, config-derived uids, thresholds and links, allowed metric names only, and committed output
equal to a fresh generation.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
import textwrap

import kubernetes_validate
import promql_parser
import pytest
import yaml
from grafanalib import formatunits

from alerts.common import alert_prefix, runbook_url
from alerts.slo import budget_alert_name
from app import metric_names as m
from dashboards import generate, panels
from monitoring import kubernetes_series as k8s
from monitoring.config import (
    CONFIG,
    SLO,
    duration_seconds,
    local_config,
    slo_error_ratio_record,
)
from tests.conftest import ROOT, require_binary, require_schemas
from tests.support.grafana import threshold_color

NAMES = sorted(CONFIG.dashboard_uids)
HISTOGRAMS = (m.HTTP_REQUEST_DURATION,)
HISTOGRAM_SERIES = {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
RECORDING_RULES = {slo_error_ratio_record(w) for w in CONFIG.slo_windows()}
ALLOWED_METRICS = set(m.ALL_METRICS) | HISTOGRAM_SERIES | RECORDING_RULES | set(k8s.ALLOWED)
WITHOUT_POD = set(k8s.WITHOUT_POD_LABEL) | RECORDING_RULES
VALID_UNITS = {v for k, v in vars(formatunits).items() if k.isupper() and isinstance(v, str)}
LEGACY_KEYS = {"fieldOptions", "rows", "span", "minSpan", "height", "style", "sharedCrosshair"}

# Sentinels substituted for the Grafana variables, so a test can see where each one went.
RATE_SENTINEL = "4242s"
INTERVAL_SENTINEL = "4343s"
NAMESPACE_SENTINEL = "NAMESPACE-VARIABLE"
POD_SENTINEL = "POD-VARIABLE"
KUBECTL_APPLY_ANNOTATION_LIMIT = 262144  # bytes: client-side apply stores the object in one


# --- helpers -------------------------------------------------------------------------------------
def load_generated(name: str) -> dict:
    return json.loads((generate.JSON_DIR / f"{name}.json").read_text())


@pytest.fixture(scope="module", params=NAMES)
def board(request) -> tuple[str, dict]:
    """(name, committed dashboard JSON) for each dashboard."""
    return request.param, load_generated(request.param)


def all_panels(panels_: list[dict]) -> list[dict]:
    result = []
    for panel in panels_:
        result.append(panel)
        result.extend(all_panels(panel.get("panels", [])))
    return result


def data_panels(data: dict) -> list[dict]:
    return [p for p in all_panels(data["panels"]) if p["type"] != "row"]


def rows_of(data: dict) -> dict[str, list[dict]]:
    """{row title: the panels after it, up to the next row} (rows are not collapsed here)."""
    result: dict[str, list[dict]] = {}
    current = None
    for panel in data["panels"]:
        if panel["type"] == "row":
            current = result.setdefault(panel["title"], [])
        else:
            assert current is not None, f"panel {panel['title']!r} is outside any row"
            current.append(panel)
    return result


def parse(expr: str) -> promql_parser.Expr:
    expanded = generate.expand_variables(
        expr,
        namespace=NAMESPACE_SENTINEL,
        pod=POD_SENTINEL,
        rate_interval=RATE_SENTINEL,
        interval=INTERVAL_SENTINEL,
    )
    assert "$" not in expanded, f"unexpanded Grafana variable in {expr!r}"
    return promql_parser.parse(expanded)


def nodes(expr: promql_parser.Expr, kind: type) -> list:
    found = []

    def visit(node):
        if isinstance(node, kind):
            found.append(node)

    promql_parser.walk(expr, visit)
    return found


def matchers(selector: promql_parser.VectorSelector) -> dict[str, tuple[str, str]]:
    return {mt.name: (str(mt.op), mt.value) for mt in selector.matchers.matchers}


def check_conventions(name: str, data: dict) -> list[str]:
    """Every per-query and per-panel rule; returns the problems found (empty = compliant)."""
    problems = []
    pod_variable = "pod" in variables(data)
    for panel in data_panels(data):
        where = f"{name}: panel {panel['title']!r}"
        if panel.get("datasource") != panels.DATASOURCE:
            problems.append(f"{where}: datasource {panel.get('datasource')} is not the variable")
        if not panel.get("targets"):
            problems.append(f"{where}: no queries")
        for target in panel.get("targets", []):
            if target.get("datasource") != panels.DATASOURCE:
                problems.append(f"{where}: query {target['refId']} datasource is not the variable")
            problems.extend(
                f"{where}: {p}" for p in check_query(target["expr"], pod_variable=pod_variable)
            )
    return problems


def check_query(expr: str, *, pod_variable: bool = True) -> list[str]:
    """Parse, allowed names, $__rate_interval ranges, $__interval offsets, namespace and (with
    ``pod_variable``) pod filters."""
    try:
        tree = parse(expr)
    except (ValueError, TypeError) as exc:  # promql_parser raises ValueError on syntax errors
        return [f"does not parse: {expr!r}: {exc}"]
    problems = []
    for matrix in nodes(tree, promql_parser.MatrixSelector):
        if matrix.range != promql_parser.parse_duration(RATE_SENTINEL):
            problems.append(f"range [{matrix.range}] is not $__rate_interval in {expr!r}")
    if nodes(tree, promql_parser.SubqueryExpr):
        problems.append(f"subquery in {expr!r}: use a recording rule")
    for selector in nodes(tree, promql_parser.VectorSelector):
        name = selector.name
        labels = matchers(selector)
        offset = selector.offset
        if offset and offset != promql_parser.parse_duration(INTERVAL_SENTINEL):
            problems.append(f"{name}: offset {offset} is not $__interval in {expr!r}")
        if name not in ALLOWED_METRICS:
            problems.append(f"metric {name!r} is neither the app's, a recording rule nor allowed")
        if labels.get("namespace") != ("MatchOp.Equal", NAMESPACE_SENTINEL):
            problems.append(f'{name}: no namespace="$namespace" filter in {expr!r}')
        pod_filter = labels.get("pod")
        if not pod_variable:
            if pod_filter is not None:
                problems.append(f"{name}: a pod filter on a dashboard without a pod variable")
        elif name not in WITHOUT_POD and pod_filter != ("MatchOp.Re", POD_SENTINEL):
            problems.append(f'{name}: no pod=~"$pod" filter in {expr!r}')
    return problems


# --- generation ----------------------------------------------------------------------------------
def test_committed_outputs_equal_a_fresh_generation():
    """`make dashboards` has been run: JSON and ConfigMaps match the sources, none is stale."""
    assert generate.differences(generate.render_all()) == []


def test_check_command_passes_on_the_committed_outputs():
    """The CLI's --check mode (what CI can run) agrees."""
    result = subprocess.run(
        [sys.executable, "-m", "dashboards.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_command_names_a_changed_and_a_stale_output(tmp_path):
    """--check exits 1 and lists a hand-edited file and a file no source produces any more."""
    json_dir, k8s_dir = tmp_path / "json", tmp_path / "k8s"
    args = ["--json-dir", str(json_dir), "--k8s-dir", str(k8s_dir)]
    assert generate.main(args) == 0
    assert generate.main([*args, "--check"]) == 0
    edited = json_dir / "overview.json"
    edited.write_text(edited.read_text().replace("Overview", "Overveiw"))
    stale = k8s_dir / f"old{generate.CONFIGMAP_SUFFIX}"
    stale.write_text("{}\n")
    assert generate.differences(
        generate.render_all(json_dir=json_dir, k8s_dir=k8s_dir), json_dir, k8s_dir
    ) == [
        str(edited),
        str(stale),
    ]
    assert generate.main([*args, "--check"]) == 1
    assert generate.main(args) == 0  # rewrites the edited file and removes the stale one
    assert not stale.exists()
    assert generate.main([*args, "--check"]) == 0


def test_generation_is_deterministic():
    """Two generations give byte-identical output (stable ids, key order, formatting)."""
    assert generate.render_all() == generate.render_all()


BAD_SOURCES = {
    "raises": ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
    "no_dashboard": ("def build(config):\n    pass\n", "defines no module-level `dashboard`"),
    "wrong_type": ("dashboard = {'title': 'x'}\n", "is a dict, not a grafanalib.core.Dashboard"),
    "no_build": (
        "from grafanalib.core import Dashboard\ndashboard = Dashboard(title='x', uid='x')\n",
        "defines no `build(config)` function",
    ),
    "build_raises": (
        """
        from grafanalib.core import Dashboard
        dashboard = Dashboard(title="x", uid="demo-app-overview")
        def build(config):
            raise KeyError("no such SLO")
        """,
        "build(config) raised KeyError: 'no such SLO'",
    ),
    "build_wrong_type": (
        """
        from grafanalib.core import Dashboard
        dashboard = Dashboard(title="x", uid="demo-app-overview")
        def build(config):
            return None
        """,
        "`build(config)` returned a NoneType, not a grafanalib.core.Dashboard",
    ),
    "legacy_graph": (
        """
        from grafanalib.core import Dashboard, Graph, Target, GridPos
        def build(config):
            return Dashboard(title="x", uid="demo-app-overview", panels=[
                Graph(title="old", targets=[Target(expr="up", refId="A")],
                      gridPos=GridPos(8, 8, 0, 0))
            ])
        dashboard = build(None)
        """,
        "has type 'graph'; only modern panels are allowed",
    ),
    "legacy_singlestat": (
        """
        from grafanalib.core import Dashboard, SingleStat, Target, GridPos
        def build(config):
            old = SingleStat(title="old", targets=[Target(expr="up", refId="A")])
            return Dashboard(title="x", uid="demo-app-overview", panels=[old])
        dashboard = build(None)
        """,
        "has type 'singlestat'",
    ),
    "wrong_uid": (
        """
        from grafanalib.core import Dashboard
        def build(config):
            return Dashboard(title="x", uid="other")
        dashboard = build(None)
        """,
        "uid is 'other', config.dashboard_uids says 'demo-app-overview'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_a_bad_source_is_reported_in_one_line_and_nothing_is_written(case, tmp_path, capsys):
    """Bad input: exit 1, the file and the reason on stderr, no traceback, no output files."""
    source, expected = BAD_SOURCES[case]
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / f"overview{generate.SUFFIX}").write_text(textwrap.dedent(source))
    out_dirs = ["--json-dir", str(tmp_path / "json"), "--k8s-dir", str(tmp_path / "k8s")]
    assert generate.main(["--source-dir", str(source_dir), *out_dirs]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert "overview" in err
    assert "Traceback" not in err
    assert not (tmp_path / "json").exists()
    assert not (tmp_path / "k8s").exists()


def test_a_source_without_a_uid_in_the_config_is_refused(tmp_path):
    """A new dashboard file needs its uid in CONFIG.dashboard_uids first."""
    (tmp_path / f"extra{generate.SUFFIX}").write_text(
        "from grafanalib.core import Dashboard\n"
        "def build(config):\n    return Dashboard(title='x', uid='x')\n"
        "dashboard = build(None)\n"
    )
    with pytest.raises(generate.DashboardError, match=r"'extra': no uid in config\.dashboard_uids"):
        generate.build_all(CONFIG, tmp_path)


def test_an_empty_source_directory_is_an_error(tmp_path):
    with pytest.raises(generate.DashboardError, match=r"no \*\.dashboard\.py files"):
        generate.build_all(CONFIG, tmp_path)


# --- the config given is the config used ---------------------------------------------------------
OTHER_NAMESPACE = "other-ns"
OTHER_ERROR_RATIO = 0.5
INVALID_CONFIGS = {
    # Cases MonitoringConfig.validate() catches: an objective outside (0, 1), a latency threshold
    # that is no bucket edge of the duration histogram (0.3 s lies between 0.25 and 0.5).
    "objective_1.5": (
        dataclasses.replace(CONFIG, slos=(SLO("availability", 1.5, "every request, and more"),)),
        "SLO availability: objective 1.5 is not in (0, 1)",
    ),
    "latency_threshold_0.3": (
        dataclasses.replace(
            CONFIG, slos=(SLO("latency", 0.99, "within 300 ms", latency_threshold_seconds=0.3),)
        ),
        "SLO latency: latency threshold 0.3s is not a bucket edge",
    ),
}


def test_a_different_config_gives_its_own_dashboards(tmp_path):
    """Generation builds from the config given: another namespace and error-ratio threshold show
    in the dashboard JSON (variable default, panel threshold) and in the ConfigMaps."""
    assert 0.3 not in m.HTTP_DURATION_BUCKETS  # the premise of INVALID_CONFIGS
    other = dataclasses.replace(
        CONFIG, namespace=OTHER_NAMESPACE, error_ratio_warning=OTHER_ERROR_RATIO
    )
    json_dir, k8s_dir = tmp_path / "json", tmp_path / "k8s"
    outputs = generate.render_all(other, json_dir=json_dir, k8s_dir=k8s_dir)
    default = generate.render_all(CONFIG, json_dir=json_dir, k8s_dir=k8s_dir)
    assert outputs[json_dir / "overview.json"] != default[json_dir / "overview.json"]

    overview = json.loads(outputs[json_dir / "overview.json"])
    (namespace,) = [v for v in overview["templating"]["list"] if v["name"] == "namespace"]
    assert namespace["current"]["value"] == OTHER_NAMESPACE
    error_panels = [
        p
        for p in data_panels(overview)
        if any(CONFIG.server_error_matcher in t["expr"] for t in p["targets"])
        and threshold_values(p)
    ]
    assert error_panels, "no error-ratio panel with thresholds"
    for panel in error_panels:
        assert threshold_values(panel)[-1] == OTHER_ERROR_RATIO, panel["title"]

    configmap = yaml.safe_load(outputs[k8s_dir / f"overview{generate.CONFIGMAP_SUFFIX}"])
    assert configmap["metadata"]["namespace"] == OTHER_NAMESPACE
    assert json.loads(configmap["data"]["demo-app-overview.json"]) == overview
    # The e2e hooks follow the config too: $namespace defaults to its namespace.
    expr = next(e for _, _, e in generate.all_queries(other) if "$namespace" in e)
    assert f'namespace="{OTHER_NAMESPACE}"' in generate.expand_variables(expr, config=other)


def test_the_local_config_gives_the_local_dashboards():
    """build_all(local_config()): no HPA panels (no kube-state-metrics HPA series, no requests),
    the HA minimum 1 in the ready panel, and every query rule still holds."""
    local = generate.build_all(local_config())["overview"]
    kubernetes = generate.build_all(CONFIG)["overview"]
    local_exprs = " ".join(t["expr"] for p in data_panels(local) for t in p["targets"])
    assert k8s.HPA_MAX_REPLICAS not in local_exprs
    assert k8s.HPA_MAX_REPLICAS in " ".join(
        t["expr"] for p in data_panels(kubernetes) for t in p["targets"]
    )
    (ready,) = [p for p in data_panels(local) if p["title"] == "Ready pods vs desired"]
    assert threshold_values(ready) == [local_config().ha_min_ready]
    assert k8s.POD_CONTAINER_RESOURCE_REQUESTS not in local_exprs
    # The firing-alerts query lists each alert's runbook: locally there are no HPA alerts.
    local_queries = {e for _, _, e in generate.all_queries(local_config()) if "runbook" not in e}
    assert local_queries < {expr for _, _, expr in generate.all_queries(CONFIG)}
    assert check_conventions("overview (local)", local) == []


def test_the_module_level_dashboard_is_build_of_the_default_config():
    """grafanalib's contract (``dashboard``) and generation (``build(config)``) agree."""
    for name, path in generate.sources().items():
        spec = importlib.util.spec_from_file_location(f"source_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert generate.dashboard_json(module.dashboard, name) == generate.dashboard_json(
            module.build(CONFIG), name
        )


@pytest.mark.parametrize("case", sorted(INVALID_CONFIGS))
def test_an_invalid_config_is_refused_and_nothing_is_written(case, tmp_path, capsys):
    """validate() runs first: exit 1 with its message, no traceback, no output files."""
    config, expected = INVALID_CONFIGS[case]
    out_dirs = ["--json-dir", str(tmp_path / "json"), "--k8s-dir", str(tmp_path / "k8s")]
    for check in ([], ["--check"]):
        assert generate.main([*out_dirs, *check], config=config) == 1
        err = capsys.readouterr().err
        assert err.startswith("dashboards: invalid monitoring config:")
        assert expected in err
        assert "Traceback" not in err
    assert not (tmp_path / "json").exists()
    assert not (tmp_path / "k8s").exists()
    for function in (generate.build_all, generate.all_queries, generate.variable_queries):
        with pytest.raises(generate.DashboardError, match=re.escape(expected)):
            function(config)


def test_the_command_refuses_an_invalid_monitoring_config(tmp_path):
    """`python -m dashboards.generate` with monitoring.config.CONFIG replaced by an invalid one
    (objective 1.5): exit 1, the problem on stderr, nothing written."""
    json_dir, k8s_dir = tmp_path / "json", tmp_path / "k8s"
    script = textwrap.dedent(
        f"""
        import dataclasses, runpy, sys
        import monitoring.config as c
        c.CONFIG = dataclasses.replace(
            c.CONFIG, slos=(dataclasses.replace(c.CONFIG.slos[0], objective=1.5),)
        )
        sys.argv = ["generate", "--json-dir", {str(json_dir)!r}, "--k8s-dir", {str(k8s_dir)!r}]
        runpy.run_module("dashboards.generate", run_name="__main__")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "objective 1.5 is not in (0, 1)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not json_dir.exists() and not k8s_dir.exists()


# --- dashboard-level conventions -----------------------------------------------------------------
def test_every_configured_dashboard_has_a_source():
    assert sorted(generate.sources()) == NAMES


def test_dashboard_identity_and_schema(board):
    """Stable uid from the config, Grafana 13.2's schemaVersion, read-only, no legacy keys."""
    name, data = board
    assert data["uid"] == CONFIG.dashboard_uids[name]
    assert data["schemaVersion"] == generate.SCHEMA_VERSION == 42
    assert data["title"].startswith(CONFIG.dashboard_folder)
    assert data["description"]
    assert data["editable"] is False  # dashboard-linter: uneditable-dashboard
    assert "id" not in data

    def keys(value):
        if isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from keys(item)
        elif isinstance(value, list):
            for item in value:
                yield from keys(item)

    assert LEGACY_KEYS.isdisjoint(keys(data))


def test_panels_are_modern_with_unique_ids(board):
    """Only React panels Grafana 11-13 ship; no Angular Graph/SingleStat; ids unique."""
    _, data = board
    everything = all_panels(data["panels"])
    assert {p["type"] for p in everything} <= set(generate.MODERN_PANEL_TYPES)
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) and i > 0 for i in ids)


def test_panels_do_not_overlap_and_fit_the_grid(board):
    _, data = board
    boxes = [(p["title"], p["gridPos"]) for p in all_panels(data["panels"])]
    for title, pos in boxes:
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0, title
        assert pos["x"] + pos["w"] <= panels.GRID_WIDTH, title
    for i, (title_a, a) in enumerate(boxes):
        for title_b, b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, f"{title_a!r} overlaps {title_b!r}"


def variables(data: dict) -> dict[str, dict]:
    return {v["name"]: v for v in data["templating"]["list"]}


def test_datasource_variable(board):
    """template-datasource-rule: one prometheus datasource variable `datasource`."""
    _, data = board
    sources = [v for v in data["templating"]["list"] if v["type"] == "datasource"]
    assert len(sources) == 1
    variable = sources[0]
    assert variable["name"] == "datasource"
    assert variable["label"] == "Data source"
    assert variable["query"] == "prometheus"
    assert variable["current"]["value"] == CONFIG.grafana_datasource_uid


def test_namespace_and_pod_variables(board):
    """The linter's job/instance rules, for namespace/pod: query variables on the datasource
    variable, reloaded on time-range change; namespace single-valued (default from the config),
    pod multi-valued with All - present whenever a query filters on it."""
    name, data = board
    found = variables(data)
    namespace = found["namespace"]
    assert namespace["type"] == "query"
    assert namespace["multi"] is False
    assert namespace["current"]["value"] == CONFIG.namespace
    query_vars = [v for v in found.values() if v["type"] == "query"]
    for variable in query_vars:
        assert variable["datasource"] == panels.DATASOURCE, variable["name"]
        assert variable["refresh"] == 2, variable["name"]  # template-on-time-change-reload-rule
        assert "definition" not in variable  # not in Grafana 13.2's VariableModel
    uses_pod = any('"$pod"' in t["expr"] for p in data_panels(data) for t in p["targets"])
    assert ("pod" in found) == uses_pod, f"{name}: pod variable present iff a query uses it"
    if uses_pod:
        assert found["pod"]["multi"] is True
        assert found["pod"]["includeAll"] is True
        assert found["pod"]["current"]["value"] == ["$__all"]


def test_variable_queries_are_promql_over_allowed_series():
    """template-label-promql-rule: the selector inside label_values() parses and is allowed."""
    found = generate.variable_queries()
    assert {(name, var) for name, var, _, _ in found} >= {(n, "namespace") for n in NAMES}
    for name, variable, selector, label in found:
        tree = parse(selector)
        names = {s.name for s in nodes(tree, promql_parser.VectorSelector)}
        assert names <= ALLOWED_METRICS, (name, variable)
        assert label == variable, (name, variable)
        job = [matchers(s).get("job") for s in nodes(tree, promql_parser.VectorSelector)]
        assert job == [("MatchOp.Equal", CONFIG.job)], (name, variable)


# --- panel-level conventions ---------------------------------------------------------------------
def test_every_panel_has_title_description_and_a_grafana_unit(board):
    """panel-title-description-rule and panel-units-rule (units from grafanalib.formatunits)."""
    _, data = board
    for panel in data_panels(data):
        assert panel["title"].strip(), panel
        assert panel["description"].strip(), panel["title"]
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit in VALID_UNITS, f"{panel['title']!r}: unit {unit!r}"
    for row in (p for p in data["panels"] if p["type"] == "row"):
        assert row["title"].strip()


def test_every_description_says_what_bad_looks_like(board):
    """For the person at 3 a.m.: each panel's description (the question it answers) also says
    what a bad reading is, in a sentence starting with "Bad:"."""
    _, data = board
    missing = [p["title"] for p in data_panels(data) if "Bad:" not in p["description"]]
    assert missing == []
    questions = [p["title"] for p in data_panels(data) if "?" not in p["description"]]
    assert questions == []


def test_every_panel_and_query_uses_the_datasource_variable_and_the_conventions(board):
    """panel-datasource-rule, target-promql-rule, target-rate-interval-rule, allowed metric
    names, namespace/pod filters - all problems listed at once."""
    name, data = board
    assert check_conventions(name, data) == []


def test_thresholds_are_well_formed(board):
    """Base step null, then strictly ascending values; time series draw them when set."""
    _, data = board
    for panel in data_panels(data):
        field_config = panel["fieldConfig"]
        all_steps = [field_config["defaults"]["thresholds"]["steps"]] + [
            prop["value"]["steps"]
            for override in field_config["overrides"]
            for prop in override["properties"]
            if prop["id"] == "thresholds"
        ]
        for steps in all_steps:
            assert steps[0]["value"] is None, panel["title"]
            values = [s["value"] for s in steps[1:]]
            assert values == sorted(set(values)), panel["title"]
            assert all(isinstance(s["color"], str) and s["color"] for s in steps)
        if panel["type"] == "timeseries":
            shown = field_config["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
            assert shown == (len(all_steps[0]) > 1), panel["title"]


def threshold_values(panel: dict) -> list[float]:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]]


def test_limit_and_target_panels_show_the_configured_thresholds():
    """Every panel that shows a limit or target draws it from CONFIG (no repeated literals)."""
    by_title = {p["title"]: p for p in data_panels(load_generated("overview"))}
    latency_slo = next(s for s in CONFIG.slos if s.latency_threshold_seconds is not None)
    expected = {
        "Ready pods vs desired": [CONFIG.ha_min_ready],
        "5xx error ratio (API routes)": [CONFIG.error_ratio_warning],
        "Latency p50 / p95 / p99 (API routes)": [
            latency_slo.latency_threshold_seconds,
            CONFIG.latency_p99_warning_seconds,
        ],
        "CPU per pod (% of limit)": [CONFIG.cpu_warning_percent],
        "Memory per pod (% of limit)": [CONFIG.memory_warning_percent],
        "CPU per pod (% of request, HPA target)": [CONFIG.hpa_cpu_target_percent],
        "Memory per pod (% of request, HPA target)": [CONFIG.hpa_memory_target_percent],
        "HPA replicas: current, desired, min, max": [CONFIG.hpa_max_replicas],
    }
    assert {title: threshold_values(by_title[title]) for title in expected} == expected


def test_hpa_utilization_panels_divide_cadvisor_usage_by_kube_state_metrics_requests():
    """The HPA's utilization is relative to requests, not limits."""
    by_title = {p["title"]: p for p in data_panels(load_generated("overview"))}
    usage = {
        "CPU per pod (% of request, HPA target)": (k8s.CONTAINER_CPU_USAGE, "cpu"),
        "Memory per pod (% of request, HPA target)": (k8s.CONTAINER_MEMORY_WORKING_SET, "memory"),
    }
    for title, (usage_metric, resource) in usage.items():
        (target,) = by_title[title]["targets"]
        tree = parse(target["expr"])
        assert str(tree.op) == "/", target["expr"]
        numerator = {s.name for s in nodes(tree.lhs, promql_parser.VectorSelector)}
        denominator = nodes(tree.rhs, promql_parser.VectorSelector)
        assert numerator == {usage_metric}
        assert [s.name for s in denominator] == [k8s.POD_CONTAINER_RESOURCE_REQUESTS]
        assert matchers(denominator[0])["resource"] == ("MatchOp.Equal", resource)


def test_every_overview_question_has_a_panel():
    """The issue's list: availability, traffic, errors, latency, resources, HPA, alerts."""
    data = load_generated("overview")
    used = {
        s.name
        for p in data_panels(data)
        for t in p["targets"]
        for s in nodes(parse(t["expr"]), promql_parser.VectorSelector)
    }
    assert {
        m.READY,
        m.UPTIME,
        k8s.POD_CONTAINER_RESTARTS,
        k8s.DEPLOYMENT_SPEC_REPLICAS,
        m.HTTP_REQUESTS,
        f"{m.HTTP_REQUEST_DURATION}_bucket",
        m.CPU_USAGE_PERCENT,
        m.CPU_THROTTLED_PERIODS,
        m.MEMORY_USAGE_PERCENT,
        k8s.CONTAINER_CPU_USAGE,
        k8s.CONTAINER_MEMORY_WORKING_SET,
        k8s.HPA_CURRENT_REPLICAS,
        k8s.HPA_DESIRED_REPLICAS,
        k8s.HPA_MIN_REPLICAS,
        k8s.HPA_MAX_REPLICAS,
        k8s.ALERTS,
        k8s.UP,
        slo_error_ratio_record(CONFIG.slo_period),
    } <= used
    quantiles = [
        call.args[0].val
        for p in data_panels(data)
        for t in p["targets"]
        for call in nodes(parse(t["expr"]), promql_parser.Call)
        if call.func.name == "histogram_quantile"
    ]
    assert sorted(quantiles) == [0.5, 0.95, 0.99, 0.99]  # overall, and p99 by route


def test_slo_rows_compute_budget_and_burn_rate_from_the_objectives():
    """Per SLO: burn rate = ratio / (1 - objective) for every recorded window; budget remaining
    = 1 - ratio_30d / (1 - objective); SLI threshold at the objective; burn thresholds from the
    burn-rate alert factors."""
    rows = rows_of(load_generated("slo"))
    assert len(rows) == len(CONFIG.slos)
    for slo in CONFIG.slos:
        (row,) = [r for t, r in rows.items() if t.startswith(f"SLO {slo.name}:")]
        by_title = {p["title"]: p for p in row}
        for target in by_title["Burn rate per window"]["targets"]:
            tree = parse(target["expr"])
            assert str(tree.op) == "/"
            assert tree.rhs.val == pytest.approx(1 - slo.objective)
            (selector,) = nodes(tree.lhs, promql_parser.VectorSelector)
            assert selector.name == slo_error_ratio_record(target["legendFormat"])
            assert matchers(selector)["slo"] == ("MatchOp.Equal", slo.name)
        burn_windows = [t["legendFormat"] for t in by_title["Burn rate per window"]["targets"]]
        assert burn_windows == list(CONFIG.slo_windows())
        red_from = {
            o["matcher"]["options"]: o["properties"][0]["value"]["steps"][-1]["value"]
            for o in by_title["Burn rate per window"]["fieldConfig"]["overrides"]
        }
        # red from the lowest factor of the burn-rate alerts that use the window
        lowest: dict[str, float] = {}
        for alert in CONFIG.burn_rate_windows:
            for window in (alert.long, alert.short):
                lowest[window] = min(lowest.get(window, alert.factor), alert.factor)
        assert {w: red_from[w] for w in lowest} == lowest

        (budget,) = by_title[f"Error budget remaining ({CONFIG.slo_period})"]["targets"]
        tree = parse(budget["expr"])
        assert tree.lhs.val == 1
        ratio = tree.rhs.expr  # 1 - (ratio / budget)
        assert ratio.rhs.val == pytest.approx(1 - slo.objective)
        assert ratio.lhs.name == slo_error_ratio_record(CONFIG.slo_period)
        assert threshold_values(by_title["SLI over time"]) == [slo.objective]


def test_all_queries_lists_every_target_and_expands_to_plain_promql():
    """The e2e hook: every query, runnable against Prometheus once variables are expanded."""
    queries = generate.all_queries()
    expected = sum(len(p["targets"]) for n in NAMES for p in data_panels(load_generated(n)))
    assert len(queries) == expected
    assert {name for name, _, _ in queries} == set(NAMES)
    for _, _, expr in queries:
        expanded = generate.expand_variables(expr, namespace=CONFIG.namespace)
        assert "$" not in expanded
        promql_parser.parse(expanded)
        assert "[5m]" in expanded or "[" not in expanded


# --- house-style helpers -------------------------------------------------------------------------
def test_steps_refuse_unordered_thresholds():
    with pytest.raises(ValueError, match="strictly ascending"):
        panels.steps((2.0, "red"), (1.0, "orange"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"description": ""}, "a title and a description are required"),
        ({"unit": ""}, "a unit is required"),
        ({"targets": []}, "at least one query is required"),
        ({"width": 25}, "does not fit the grid"),
    ],
)
def test_panel_helpers_refuse_incomplete_panels(kwargs, message):
    args = {
        "title": "t",
        "description": "d",
        "targets": [panels.target("up")],
        "unit": panels.units.SHORT,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        panels.timeseries(**args)


def test_number_formats_float_noise_away():
    assert panels.number(1 - 0.999) == "0.001"
    assert panels.number(0.99 * 100) == "99"


def test_expand_variables_leaves_unknown_variables():
    expr = 'x{namespace="$namespace", a="${other}"}[$__rate_interval]'
    assert generate.expand_variables(expr, namespace="ns") == 'x{namespace="ns", a="${other}"}[5m]'


def test_a_gauge_is_normalised_to_the_modern_shape():
    """grafanalib's GaugePanel puts the reducer in fieldConfig; Grafana reads it in options."""
    from grafanalib.core import GaugePanel, GridPos

    gauge = GaugePanel(
        title="g",
        description="d",
        targets=[panels.target("up")],
        format=panels.units.PERCENT_FORMAT,
        gridPos=GridPos(4, 4, 0, 0),
        id=1,
    )
    raw = json.loads(json.dumps(gauge.to_json_data(), cls=generate.DashboardEncoder))
    panel = generate._panel(raw, "test")
    assert panel["options"]["reduceOptions"]["calcs"] == ["mean"]
    assert panel["options"]["showThresholdMarkers"] is True
    assert "calcs" not in panel["fieldConfig"]["defaults"]
    assert "showThresholdMarkers" not in panel["fieldConfig"]
    assert panel["fieldConfig"]["defaults"]["unit"] == "percent"


# --- ConfigMaps ----------------------------------------------------------------------------------
def configmap(name: str) -> dict:
    return yaml.safe_load((generate.K8S_DIR / f"{name}{generate.CONFIGMAP_SUFFIX}").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_configmap_carries_the_exact_json_for_the_sidecar(name):
    """Label and folder annotation the sidecar reads; namespace from the config; the data is
    byte-for-byte the committed JSON under <uid>.json."""
    manifest = configmap(name)
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "ConfigMap"
    metadata = manifest["metadata"]
    assert metadata["name"] == generate.configmap_name(name)
    assert metadata["namespace"] == CONFIG.namespace
    assert metadata["labels"][CONFIG.grafana_dashboard_label] == "1"  # a string, not int 1
    assert metadata["annotations"] == {CONFIG.dashboard_folder_annotation: CONFIG.dashboard_folder}
    text = (generate.JSON_DIR / f"{name}.json").read_text()
    assert manifest["data"] == {f"{CONFIG.dashboard_uids[name]}.json": text}
    size = len(json.dumps(manifest).encode())
    assert size < KUBECTL_APPLY_ANNOTATION_LIMIT, "too big for kubectl apply's annotation"


def test_the_sidecar_settings_match_kube_prometheus_stack_defaults():
    """The chart's Grafana sidecar watches the label/value we set; its datasource uid is ours;
    the subchart has no folder annotation by default (the values must set ours)."""
    schemas = require_schemas()
    chart = yaml.safe_load((schemas / "kube-prometheus-stack-88.5.3" / "values.yaml").read_text())
    sidecar = chart["grafana"]["sidecar"]
    assert sidecar["dashboards"]["label"] == CONFIG.grafana_dashboard_label
    assert sidecar["dashboards"]["labelValue"] == CONFIG.grafana_dashboard_label_value
    assert sidecar["datasources"]["uid"] == CONFIG.grafana_datasource_uid
    subchart_file = (
        schemas / "kube-prometheus-stack-88.5.3" / "grafana-subchart-12.11.1-values.yaml"
    )
    subchart = yaml.safe_load(subchart_file.read_text())
    assert subchart["sidecar"]["dashboards"]["folderAnnotation"] is None
    assert subchart["sidecar"]["dashboards"]["provider"]["foldersFromFilesStructure"] is False


@pytest.mark.manifests
@pytest.mark.parametrize("name", NAMES)
def test_configmap_validates_against_the_kubernetes_schema(name):
    kubernetes_validate.validate(configmap(name), kubernetes_validate.latest_version(), strict=True)


@pytest.mark.manifests
def test_kustomize_renders_every_dashboard_configmap():
    """k8s/dashboards is a kustomization the k8s/ tree can include as a directory."""
    kubectl = require_binary("kubectl", hint="apt-get install kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(generate.K8S_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["metadata"]["name"] for d in rendered) == sorted(
        generate.configmap_name(n) for n in NAMES
    )
    for document in rendered:
        name = (
            document["metadata"]["name"]
            .removeprefix(f"{CONFIG.app_name}-")
            .removesuffix("-dashboard")
        )
        assert document["data"] == configmap(name)["data"]


def test_docs_explain_every_panel():
    """docs/dashboards.md names each panel (what it answers), so it cannot drift silently when a
    panel is added or renamed."""
    readme = (ROOT / "docs" / "dashboards.md").read_text()
    section = readme.split("<!-- section: dashboards -->")[1].split(
        "<!-- /section: dashboards -->"
    )[0]
    missing = {p["title"] for name in NAMES for p in data_panels(load_generated(name))} - {
        title
        for title in (
            line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")
        )
    }
    assert missing == set()


# --- query semantics, evaluated by the real Prometheus engine (promtool test rules) --------------
OTHER_NAMESPACE = "someone-else"
ABSENT = f"{alert_prefix(CONFIG)}MetricsAbsent"


def series(metric: str, values: str, **labels: str) -> dict:
    """A promtool input series in CONFIG.namespace (unless ``namespace`` is given)."""
    labels = {"namespace": CONFIG.namespace, "job": CONFIG.job} | labels
    text = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{text}}}", "values": values}


def query(
    dashboard: str,
    title: str,
    *contains: str,
    pod: str = ".+",
    namespace: str = CONFIG.namespace,
    interval: str = "1m",
    legend: str | None = None,
) -> str:
    """The one query of panel ``title`` containing every string in ``contains`` (and with the
    legend ``legend``, when given), expanded (``pod``: the pod variable's value, a regex;
    ``interval``: ``$__interval``, the query step)."""
    found = [
        target["expr"]
        for panel in data_panels(load_generated(dashboard))
        if panel["title"] == title
        for target in panel["targets"]
        if all(c in target["expr"] for c in contains if not c.startswith("SLO_"))
        and (legend is None or target["legendFormat"] == legend)
    ]
    slo = [c.removeprefix("SLO_") for c in contains if c.startswith("SLO_")]
    if slo:  # the SLO dashboard's rows are per SLO: pick the row's panel
        found = [e for e in found if e in slo_row_exprs(slo[0])]
    assert len(found) == 1, (dashboard, title, contains, found)
    return generate.expand_variables(
        found[0], namespace=namespace, pod=pod, interval=interval, rate_interval="5m"
    )


def slo_row_exprs(slo_name: str) -> set[str]:
    rows = rows_of(load_generated("slo"))
    (row,) = [r for t, r in rows.items() if t.startswith(f"SLO {slo_name}:")]
    return {t["expr"] for p in row for t in p["targets"]}


def test_dashboard_queries_compute_what_their_panels_claim(tmp_path):
    """Synthetic series through Prometheus' own engine: probes excluded from the error ratio,
    cAdvisor's pod cgroup not double-counted against requests, other namespaces ignored,
    burn rate and budget per the SLO formulas. Values are chosen to be exact in binary."""
    promtool = require_binary("promtool", hint="apt-get install prometheus")
    hpa = {"horizontalpodautoscaler": CONFIG.hpa_name}
    api, probe = "/hello", m.ROUTE_HEALTHZ
    cpu, memory = {"resource": "cpu"}, {"resource": "memory"}
    inputs = [
        # traffic: 3/min OK + 1/min 5xx on an API route; probes (even failing) are not API traffic
        series(m.HTTP_REQUESTS, "0+3x20", pod="a", route=api, status="200", method="GET"),
        series(m.HTTP_REQUESTS, "0+1x20", pod="a", route=api, status="500", method="GET"),
        series(m.HTTP_REQUESTS, "0+60x20", pod="b", route=probe, status="503", method="GET"),
        series(m.HTTP_REQUESTS, "0+60x20", pod="x", route=api, status="500", namespace="ns2"),
        series(m.HTTP_REQUESTS, "0+3x20", pod="c", route=api, status="200", method="GET"),
        # readiness: a and b ready (one series per worker), c in another namespace
        series(m.READY, "1x20", pod="a", pid="1"),
        series(m.READY, "1x20", pod="a", pid="2"),
        series(m.READY, "1x20", pod="b"),
        series(m.READY, "1x20", pod="c", namespace=OTHER_NAMESPACE),
        series(k8s.DEPLOYMENT_SPEC_REPLICAS, "3x20", deployment=CONFIG.deployment_name),
        # latency: 3 of 4 requests/min within the latency SLO's bound
        series(f"{m.HTTP_REQUEST_DURATION}_bucket", "0+3x20", pod="a", route=api, le="0.25"),
        series(f"{m.HTTP_REQUEST_DURATION}_count", "0+4x20", pod="a", route=api),
        # CPU 0.25 cores in the container, the same again on the pod cgroup (container="")
        series(k8s.CONTAINER_CPU_USAGE, "0+15x20", pod="a", container="app"),
        series(k8s.CONTAINER_CPU_USAGE, "0+15x20", pod="a", container=""),
        series(k8s.CONTAINER_CPU_USAGE, "0+6x20", pod="a", container="POD"),
        series(k8s.POD_CONTAINER_RESOURCE_REQUESTS, "0.5x20", pod="a", container="app", **cpu),
        series(k8s.POD_CONTAINER_RESOURCE_LIMITS, "2x20", pod="a", container="app", **cpu),
        series(k8s.CONTAINER_MEMORY_WORKING_SET, "268435456x20", pod="a", container="app"),
        series(k8s.CONTAINER_MEMORY_WORKING_SET, "536870912x20", pod="a", container=""),
        series(
            k8s.POD_CONTAINER_RESOURCE_REQUESTS, "1073741824x20", pod="a", container="app", **memory
        ),
        # restarts: one per minute in pod a's app container, none in its sidecar
        series(k8s.POD_CONTAINER_RESTARTS, "0+1x20", pod="a", container="app"),
        series(k8s.POD_CONTAINER_RESTARTS, "2x20", pod="a", container="sidecar"),
        # scrape health: a up, b down (c is in another namespace)
        series(k8s.UP, "1x20", pod="a"),
        series(k8s.UP, "0x20", pod="b"),
        # CFS: 10 periods/s, 1 of them throttled (the counters are the app's, per pod)
        series(m.CPU_PERIODS, "0+600x20", pod="a"),
        series(m.CPU_THROTTLED_PERIODS, "0+60x20", pod="a"),
        series(m.CPU_PERIODS, "0x20", pod="b"),  # no CPU quota: no period elapses
        series(m.CPU_THROTTLED_PERIODS, "0x20", pod="b"),
        # HPA
        series(k8s.HPA_CURRENT_REPLICAS, "4x20", **hpa),
        series(k8s.HPA_MAX_REPLICAS, "10x20", **hpa),
        # alerts: one firing here, one pending here, one firing elsewhere
        series(k8s.ALERTS, "1x20", alertname="A", alertstate="firing", severity="warning"),
        series(k8s.ALERTS, "1x20", alertname="B", alertstate="pending", severity="warning"),
        series(k8s.ALERTS, "1x20", alertname="C", alertstate="firing", namespace="ns2"),
    ]
    cases = [
        (query("overview", "5xx error ratio (API routes)", pod="a"), "{}", 0.25),
        (query("overview", "5xx error ratio (API routes)", pod="c"), "{}", 0),  # not "no data"
        (query("overview", "Ready pods vs desired", m.READY), "{}", 2),
        # no pod reports at all (a namespace without series): 0, not "no data"
        (query("overview", "Ready pods vs desired", m.READY, namespace="gone"), "{}", 0),
        (query("overview", "Ready pods vs desired", k8s.DEPLOYMENT_SPEC_REPLICAS), "{}", 3),
        (query("overview", "Targets up vs expected"), "{}", 1 / 3),
        (query("overview", "5xx error ratio by route", pod="a"), f'{{route="{api}"}}', 0.25),
        (query("overview", "5xx error ratio by route", pod="c"), f'{{route="{api}"}}', 0),
        (query("overview", "CPU per pod (% of request, HPA target)"), '{pod="a"}', 50),
        (query("overview", "Memory per pod (% of request, HPA target)"), '{pod="a"}', 25),
        # one restart per minute: 1 per 1m step ($__interval), 5 over a 5m one - never 4x
        (query("overview", "Container restarts"), '{pod="a"}', 1),
        (query("overview", "Container restarts", interval="5m"), '{pod="a"}', 5),
        (query("overview", "CPU throttling per pod"), '{pod="a"}', 0.1),  # and nothing for b
        (query("overview", "HPA replicas: current, desired, min, max", "current"), "{}", 4),
        (
            # firing ones of this namespace only; a known alert gets its runbook URL
            query("overview", "Firing alerts"),
            [
                (
                    f'ALERTS{{alertname="A", alertstate="firing", job="{CONFIG.job}", '
                    f'namespace="{CONFIG.namespace}", severity="warning"}}',
                    1,
                ),
                (
                    f'ALERTS{{alertname="{ABSENT}", alertstate="firing", job="{CONFIG.job}", '
                    f'namespace="{CONFIG.namespace}", severity="critical", '
                    f'runbook="{runbook_url(CONFIG, ABSENT)}"}}',
                    1,
                ),
            ],
            None,
        ),
    ]
    inputs.append(
        series(k8s.ALERTS, "1x20", alertname=ABSENT, alertstate="firing", severity="critical")
    )
    for slo in CONFIG.slos:
        budget = float(panels.number(slo.error_budget))  # what the query divides by
        slo_labels = {"slo": slo.name}
        inputs.append(series(slo_error_ratio_record("1h"), f"{2 * budget}x20", **slo_labels))
        inputs.append(series(slo_error_ratio_record("30d"), f"{budget / 2}x20", **slo_labels))
        for_slo = f'slo="{slo.name}"'
        burn_1h = query("slo", "Burn rate per window", for_slo, slo_error_ratio_record("1h") + "{")
        labels = f'{{job="{CONFIG.job}", namespace="{CONFIG.namespace}", slo="{slo.name}"}}'
        cases.append((burn_1h, labels, 2.0))  # burn rate = ratio / (1 - objective)
        remaining = query("slo", f"Error budget remaining ({CONFIG.slo_period})", for_slo)
        cases.append((remaining, labels, 0.5))  # half the budget spent over the period
        # half the budget left, burning at 2x: half of a period at 1x is a quarter at 2x
        exhaustion = query("slo", "Time to exhaustion at the 1h burn", for_slo)
        cases.append((exhaustion, labels, duration_seconds(CONFIG.slo_period) / 4))
        firing = query("slo", "SLO alerts firing", budget_alert_name(CONFIG, slo), "critical")
        cases.append((firing, "{}", 0))  # none firing: 0, not "no data"
    # good events per minute: availability 3 + 3 OK of 7 API requests (the SLO dashboard sums
    # all pods); latency 3 of 4 within the bound
    events = (
        ("availability", "good", 6),
        ("availability", "total", 7),
        ("availability", "bad", 1),
        ("latency", "good", 3),
        ("latency", "bad", 1),
    )
    for slo_name, legend, value in events:
        events_query = query("slo", "Good and total events", f"SLO_{slo_name}", legend=legend)
        # per minute, rounded: 1/60 per second is not exact in binary
        cases.append((f"round(60 * ({events_query}), 0.001)", "{}", value))
    rules_test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": sample_labels, "value": sample_value}
                            for sample_labels, sample_value in (
                                labels if isinstance(labels, list) else [(labels, value)]
                            )
                        ],
                    }
                    for expr, labels, value in cases
                ],
            }
        ],
    }
    path = tmp_path / "dashboard_queries_test.yaml"
    path.write_text(yaml.safe_dump(rules_test, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_is_accepted_by_prometheus_own_parser(tmp_path):
    """promql-parser follows Prometheus 2.45; promtool checks with the installed Prometheus
    (2.42 here, the oldest the project supports) that each expanded query and variable selector
    is valid PromQL."""
    promtool = require_binary("promtool", hint="apt-get install prometheus")
    exprs = [
        generate.expand_variables(e, namespace=CONFIG.namespace)
        for _, _, e in generate.all_queries()
    ]
    exprs += [
        generate.expand_variables(s, namespace=CONFIG.namespace)
        for _, _, s, _ in generate.variable_queries()
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "queries.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_per_pod_single_value_panels_query_the_latest_value_only(board):
    """A stat/gauge/bar gauge with a tile per pod queries instantly: a range query would keep a
    tile for every pod deleted within the time range (rollouts, scale-downs)."""
    _, data = board
    for panel in data_panels(data):
        if panel["type"] not in {"stat", "gauge", "bargauge"}:
            continue
        for target in panel["targets"]:
            if "{{pod}}" in target.get("legendFormat", ""):
                assert target.get("instant") is True, panel["title"]


# --- incident-first layout, links and annotations ------------------------------------------------
FIRST_SCREEN_Y = 9  # grid units: the row header + ~300 px of tiles (30 px a unit)


def first_screen(data: dict) -> dict[str, dict]:
    return {p["title"]: p for p in data_panels(data) if p["gridPos"]["y"] < FIRST_SCREEN_Y}


def test_the_overview_answers_is_it_broken_on_the_first_screen():
    """The status row: SLO budget and burn rate, firing alerts, scrape health, ready vs desired,
    all starting above y 9; RED per route follows before the rest."""
    data = load_generated("overview")
    assert set(first_screen(data)) == {
        f"Error budget left ({CONFIG.slo_period})",
        "Burn rate (1h)",
        "Firing alerts",
        "Targets up vs expected",
        "Ready pods vs desired",
    }
    rows = list(rows_of(data))
    assert rows[:3] == [
        "Status: is it broken?",
        "Requests, errors and latency (RED) by route",
        "Availability",
    ]
    by_route = [
        p["title"]
        for p in rows_of(data)[rows[1]]
        if all("route" in t["expr"] and "by (route" in t["expr"] for t in p["targets"])
    ]
    assert by_route == [
        "Requests per second by route and status",
        "5xx error ratio by route",
        "Latency p99 by route",
    ]


def test_the_status_tiles_are_coloured_by_the_alert_thresholds():
    """Budget red once spent; burn rate red from the fastest page's factor; ready red at 0
    (a total outage) and below the HA minimum, green from it; scrape health red below 100 %."""
    tiles = first_screen(load_generated("overview"))
    page = next(b for b in CONFIG.burn_rate_windows if b.severity == "critical")
    steps = {t: p["fieldConfig"]["defaults"]["thresholds"]["steps"] for t, p in tiles.items()}
    budget = steps[f"Error budget left ({CONFIG.slo_period})"]
    assert threshold_color(budget, -0.01) == "red" and threshold_color(budget, 0.5) == "green"
    burn = steps["Burn rate (1h)"]
    assert [threshold_color(burn, v) for v in (0.5, 1.0, page.factor)] == [
        "green",
        "orange",
        "red",
    ]
    ready = steps["Ready pods vs desired"]
    assert threshold_color(ready, 0) == "red"
    assert threshold_color(ready, CONFIG.ha_min_ready - 1) == "red"
    assert threshold_color(ready, CONFIG.ha_min_ready) == "green"
    assert threshold_color(steps["Targets up vs expected"], 0.99) == "red"
    assert threshold_color(steps["Targets up vs expected"], 1.0) == "green"
    # one tile per SLO in both SLO tiles
    for title in (f"Error budget left ({CONFIG.slo_period})", "Burn rate (1h)"):
        legends = [t["legendFormat"] for t in tiles[title]["targets"]]
        assert legends == [s.name for s in CONFIG.slos]


def test_every_alert_row_links_its_runbook_and_a_silence():
    """The firing-alerts table attaches each generated alert's runbook URL (the same as its
    runbook_url annotation) and links the alert name to Alertmanager's new-silence form."""
    from alerts.generate import build_rule_groups

    panel = first_screen(load_generated("overview"))["Firing alerts"]
    (target,) = panel["targets"]
    alerts = {
        r["alert"]: r["annotations"]["runbook_url"]
        for g in build_rule_groups(CONFIG)
        for r in g["rules"]
        if "alert" in r
    }
    calls = [
        c
        for c in nodes(parse(target["expr"]), promql_parser.Call)
        if c.func.name == "label_replace"
    ]
    attached = {c.args[4].val: c.args[2].val for c in calls}
    assert attached == alerts
    overrides = panel["fieldConfig"]["overrides"]
    links = {o["matcher"]["options"]: o["properties"][0]["value"] for o in overrides}
    assert links["runbook"] == [
        {"targetBlank": True, "title": "Open the runbook", "url": "${__value.raw}"}
    ]
    (silence,) = links["alertname"]
    assert silence["url"].startswith(f"{CONFIG.external_urls.alertmanager}/#/silences/new?filter=")
    assert "${__data.fields.alertname}" in silence["url"] and "$namespace" in silence["url"]


def test_dashboards_link_each_other_and_alertmanager_and_mark_deploys(board):
    """Links: the folder's other dashboards with time range and variables, Alertmanager's
    silences; annotations: the built-in one and deploys from the app's version label."""
    _, data = board
    folder, silences = data["links"]
    assert folder["type"] == "dashboards" and folder["tags"] == [CONFIG.app_name]
    assert folder["keepTime"] is True and folder["includeVars"] is True
    assert silences["type"] == "link"
    assert silences["url"].startswith(CONFIG.external_urls.alertmanager + "/#/silences/new")
    builtin, deploys = data["annotations"]["list"]
    assert builtin["builtIn"] == 1
    assert deploys["datasource"] == panels.DATASOURCE
    tree = parse(deploys["target"]["expr"])
    selectors = nodes(tree, promql_parser.VectorSelector)
    assert {s.name for s in selectors} == {m.INFO}
    for selector in selectors:
        assert matchers(selector)["namespace"] == ("MatchOp.Equal", NAMESPACE_SENTINEL)
    assert "version" in deploys["titleFormat"]


COUNTER_EXCEPTIONS = {("overview", "Container restarts")}
"""target-counter-agg-rule exceptions (module docstring, exception 3)."""


def test_counters_are_aggregated_with_rate_or_increase(board):
    """target-counter-agg-rule, its semantics exactly: a selector of a *_total series must be
    the range of a rate(), irate() or increase() call."""
    name, data = board
    offenders = set()
    for panel in data_panels(data):
        for target in panel["targets"]:
            tree = parse(target["expr"])
            wrapped = [
                call.args[0].vector_selector.name
                for call in nodes(tree, promql_parser.Call)
                if call.func.name in {"rate", "irate", "increase"}
                and isinstance(call.args[0], promql_parser.MatrixSelector)
            ]
            counters = [
                s.name
                for s in nodes(tree, promql_parser.VectorSelector)
                if s.name.endswith("_total")
            ]
            # every counter selector is one of the wrapped ones (counted, as names repeat)
            if sorted(counters) != sorted(n for n in wrapped if n.endswith("_total")):
                offenders.add((name, panel["title"]))
    assert offenders == {e for e in COUNTER_EXCEPTIONS if e[0] == name}


def test_slo_burn_rate_pairs_draw_their_alert_thresholds():
    """One panel per burn-rate alert: its long and short window, dashed at its factor."""
    for slo in CONFIG.slos:
        row = {p["title"]: p for p in rows_of(load_generated("slo"))[slo_row_title(slo.name)]}
        for burn in CONFIG.burn_rate_windows:
            (panel,) = [
                p for t, p in row.items() if t.startswith(f"Burn rate {burn.long} / {burn.short} ")
            ]
            assert threshold_values(panel) == [burn.factor]
            assert [t["legendFormat"] for t in panel["targets"]] == [burn.long, burn.short]
        assert CONFIG.slo_period in slo_row_title(slo.name)


def slo_row_title(slo_name: str) -> str:
    (title,) = [t for t in rows_of(load_generated("slo")) if t.startswith(f"SLO {slo_name}:")]
    return title


# --- Grafana's own types: tsc against @grafana/schema --------------------------------------------
@pytest.mark.manifests
def test_the_json_type_checks_against_grafana_schema_and_uses_its_schema_version():
    """tsc --noEmit over every committed dashboard typed as @grafana/schema's Dashboard (13.2.x,
    pinned) and over controls.ts, whose deliberate mistakes must fail; schemaVersion is the
    package's defaultDashboard.schemaVersion."""
    from dashboards import typecheck

    npm = require_binary("npm", hint="apt-get install nodejs npm")
    check_dir = typecheck.SCHEMA_CHECK_DIR
    tsc = check_dir / "node_modules" / ".bin" / "tsc"
    if not tsc.is_file():  # .ci/run installs it; a developer's first run does it here
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=check_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert installed.returncode == 0, f"npm ci in {check_dir} failed:\n{installed.stderr}"
    node = require_binary("node", "/usr/bin/nodejs", hint="apt-get install nodejs")
    default = subprocess.run(
        [node, "-e", "console.log(require('@grafana/schema').defaultDashboard.schemaVersion)"],
        cwd=check_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(default.stdout) == generate.SCHEMA_VERSION
    pinned = json.loads((check_dir / "package-lock.json").read_text())["packages"]
    assert pinned["node_modules/@grafana/schema"]["version"].startswith("13.2.")
    typecheck.GENERATED_TS.parent.mkdir(exist_ok=True)
    typecheck.GENERATED_TS.write_text(
        typecheck.render_typescript({n: load_generated(n) for n in NAMES})
    )
    result = subprocess.run(
        [str(tsc), "--noEmit", "-p", str(check_dir)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
