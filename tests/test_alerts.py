"""The generated alerting and recording rules: fresh, valid, unit-tested, documented."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import promql_parser
import pytest
import yaml

from alerts import generate, testcases
from alerts import slo as slo_rules
from alerts.common import le_matcher
from alerts.testcases import slo as slo_cases
from app import metric_names
from monitoring import kubernetes_series
from monitoring.config import (
    CONFIG,
    SLO,
    duration_seconds,
    local_config,
    slo_error_ratio_record,
)
from tests.conftest import ROOT, require_binary, require_schemas

RULES_FILE = generate.rules_path(CONFIG)
PROMETHEUS_RULE = generate.prometheus_rule_path(CONFIG)
TESTS_DIR = ROOT / "alerts" / "tests"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
HINT = "apt-get install prometheus"


def promtool() -> str:
    return require_binary("promtool", hint=HINT)


def load_rules(path: Path = RULES_FILE) -> list[dict]:
    """Every rule of a rules file, flattened."""
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict]:
    return [r for r in load_rules() if "alert" in r]


def promtool_tests() -> list[dict]:
    """Every test group of every committed promtool test file."""
    groups = []
    for path in sorted(TESTS_DIR.glob("*.test.yaml")):
        groups += yaml.safe_load(path.read_text())["tests"]
    return groups


# --- generation -------------------------------------------------------------------------------
def test_generated_files_equal_a_fresh_generation():
    """Every committed output (rules, PrometheusRule, promtool tests, Alertmanager) is current."""
    stale = [str(p.relative_to(ROOT)) for p in generate.stale_files(CONFIG)]
    assert stale == [], f"stale generated files (run `make alerts`): {stale}"


def test_generate_check_mode_reports_fresh_outputs():
    """`python -m alerts.generate --check` exits 0 on the committed tree."""
    result = subprocess.run(
        [sys.executable, "-m", "alerts.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_invalid_config_fails_with_a_precise_message():
    """A latency threshold off the bucket edges is refused, naming the SLO and the buckets."""
    bad = dataclasses.replace(
        CONFIG,
        slos=(SLO(name="latency", objective=0.99, text="x", latency_threshold_seconds=0.3),),
    )
    with pytest.raises(
        ValueError, match=r"SLO latency: latency threshold 0.3s is not a bucket edge"
    ):
        generate.build_rule_groups(bad)


_WINDOWS = CONFIG.burn_rate_windows


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"slos": (SLO(name="availability", objective=0.9, text="x"),)},
            r"SLO availability, burn-rate window 1h/5m: threshold 14\.4 x \(1 - 0\.9\) = 1\.44 "
            r"is >= 1",
        ),
        ({"error_ratio_warning": 1.0}, r"error_ratio_warning must be a ratio in \(0, 1\), got 1"),
        ({"error_ratio_warning": 0.0}, r"error_ratio_warning must be a ratio in \(0, 1\), got 0"),
        ({"latency_p99_warning_seconds": 0.0}, r"latency_p99_warning_seconds must be > 0, got 0"),
        ({"cpu_warning_for": "10 min"}, r"cpu_warning_for: '10 min' is not a simple Prometheus"),
        ({"slo_period": "1mo"}, r"slo_period: '1mo' is not a simple Prometheus duration"),
        ({"rate_window": "0m"}, r"rate_window: '0m' must be longer than 0"),
        ({"scrape_interval": ""}, r"scrape_interval: '' is not a simple Prometheus duration"),
        (
            {"burn_rate_windows": (dataclasses.replace(_WINDOWS[0], long="5m", short="1h"),)},
            r"burn-rate window 5m/1h: the short window must be shorter than the long one",
        ),
        (
            {"burn_rate_windows": (dataclasses.replace(_WINDOWS[0], for_="2 m"),)},
            r"burn-rate window 1h/5m: for: '2 m' is not a simple Prometheus duration",
        ),
        (
            {"hpa_min_replicas": 5, "hpa_max_replicas": 3},
            r"hpa_min_replicas \(5\) must be >= 1 and <= hpa_max_replicas \(3\)",
        ),
    ],
)
def test_config_that_makes_alerts_impossible_is_refused(overrides, message):
    """validate() names the field (and SLO and window) of each value no alert could work with."""
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(CONFIG, **overrides).validate()


def test_generate_writes_nothing_for_an_invalid_config(monkeypatch, capsys):
    """`python -m alerts.generate` on an impossible config exits 2 with the message, no file."""
    written = []
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: written.append(self))
    impossible = (SLO(name="availability", objective=0.9, text="x"),)
    monkeypatch.setattr(generate, "CONFIG", dataclasses.replace(CONFIG, slos=impossible))
    assert generate.main([]) == 2
    assert written == []
    err = capsys.readouterr().err
    assert err.startswith("alerts.generate: invalid monitoring config:")
    assert "SLO availability, burn-rate window 1h/5m: threshold 14.4 x (1 - 0.9) = 1.44" in err


def test_every_duration_field_is_validated():
    """The duration fields found by suffix are exactly the config's duration strings."""
    durations = {
        f.name
        for f in dataclasses.fields(CONFIG)
        if isinstance(getattr(CONFIG, f.name), str)
        and re.fullmatch(r"\d+[smhdw]", getattr(CONFIG, f.name))
    }
    assert set(CONFIG.duration_fields()) == durations


# --- promtool ---------------------------------------------------------------------------------
def test_promtool_check_rules():
    """`promtool check rules` accepts the generated rules file."""
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES_FILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass():
    """`promtool test rules` passes every test file (firing and non-firing cases, records)."""
    files = sorted(str(p) for p in TESTS_DIR.glob("*.test.yaml"))
    assert files, "no promtool test files"
    result = subprocess.run(
        [promtool(), "test", "rules", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_test_files_reference_the_generated_rules_file():
    """Each promtool test file loads the committed rules file (not a copy)."""
    for path in TESTS_DIR.glob("*.test.yaml"):
        rule_files = yaml.safe_load(path.read_text())["rule_files"]
        assert [(path.parent / f).resolve() for f in rule_files] == [RULES_FILE.resolve()]


def _matches(rule: dict, expected: dict) -> bool:
    """Whether an exp_alerts entry belongs to ``rule`` (its static labels all match)."""
    return all(expected["exp_labels"].get(k) == v for k, v in rule["labels"].items())


def test_every_alert_rule_has_a_firing_and_a_non_firing_case():
    """Coverage: each alerting rule (name + static labels) fires in one check and not in another."""
    checks = [c for t in promtool_tests() for c in t.get("alert_rule_test", [])]
    missing = []
    for rule in alert_rules():
        mine = [c for c in checks if c["alertname"] == rule["alert"]]
        fires = any(any(_matches(rule, e) for e in c["exp_alerts"]) for c in mine)
        quiet = any(not any(_matches(rule, e) for e in c["exp_alerts"]) for c in mine)
        if not (fires and quiet):
            missing.append(f"{rule['alert']} {rule['labels']}: fires={fires} quiet={quiet}")
    assert missing == []


def test_firing_cases_state_every_annotation():
    """Every expected alert lists summary, description, runbook_url and dashboard_url (exact)."""
    for test in promtool_tests():
        for check in test.get("alert_rule_test", []):
            for expected in check["exp_alerts"]:
                assert set(expected["exp_annotations"]) == {
                    "summary",
                    "description",
                    "runbook_url",
                    "dashboard_url",
                }
                assert "severity" in expected["exp_labels"]


def test_every_recording_rule_is_checked_by_a_promql_expr_test():
    """Each (record, slo) pair appears in at least one promql_expr_test expression."""
    exprs = [e["expr"] for t in promtool_tests() for e in t.get("promql_expr_test", [])]
    for rule in load_rules():
        if "record" in rule:
            needle = f'{rule["record"]}{{slo="{rule["labels"]["slo"]}"}}'
            assert any(needle in expr for expr in exprs), f"untested record {needle}"


def test_slo_records_follow_the_shared_contract():
    """One record per SLO and window of CONFIG.slo_windows(), named by slo_error_ratio_record."""
    records = {(r["record"], r["labels"]["slo"]) for r in load_rules() if "record" in r}
    expected = {
        (slo_error_ratio_record(w), slo.name) for w in CONFIG.slo_windows() for slo in CONFIG.slos
    }
    assert records == expected


# --- rule content -----------------------------------------------------------------------------
def test_every_alert_has_severity_annotations_and_an_absolute_runbook_url():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"]
        assert annotations["runbook_url"] == f"{CONFIG.runbook_base_url}#{rule['alert'].lower()}"
        assert annotations["runbook_url"].startswith("https://")


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found = []

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def _route_kept(matcher: str, route: str) -> bool:
    """Whether the PromQL ``route`` matcher keeps ``route`` (regexes are fully anchored)."""
    (parsed,) = promql_parser.parse(f"x{{{matcher}}}").matchers.matchers
    assert parsed.name == "route" and parsed.op == promql_parser.MatchOp.NotRe
    return re.fullmatch(parsed.value, route) is None


def test_api_routes_are_the_matched_url_rules_other_than_probes_and_metrics():
    """The SLI scope: every URL rule of the app except probes and /metrics; never <unmatched>."""
    from app import create_app

    rules = {r.rule for r in create_app().url_map.iter_rules()}
    matcher = CONFIG.api_route_matcher
    candidates = rules | {metric_names.ROUTE_UNMATCHED}
    kept = {route for route in candidates if _route_kept(matcher, route)}
    assert kept == rules - set(metric_names.NON_API_ROUTES)
    assert not _route_kept(matcher, metric_names.ROUTE_UNMATCHED)


def test_api_route_matcher_escapes_regex_metacharacters(monkeypatch):
    """Excluded routes are literals: a ``.`` or ``|`` in one matches only itself."""
    monkeypatch.setattr(metric_names, "NON_API_ROUTES", ("/a.b", "/c|d", "/e\\f"))
    matcher = CONFIG.api_route_matcher
    for excluded in ("/a.b", "/c|d", "/e\\f", metric_names.ROUTE_UNMATCHED):
        assert not _route_kept(matcher, excluded), excluded
    for kept in ("/aXb", "/c", "d", "/hello"):
        assert _route_kept(matcher, kept), kept


def test_every_series_read_is_known():
    """Expressions parse, and read only the app's metrics, allowed Kubernetes series, or records."""
    suffixes = ("", "_bucket", "_count", "_sum")
    known = {name + s for name in metric_names.ALL_METRICS for s in suffixes}
    known |= set(kubernetes_series.ALLOWED)
    known |= {r["record"] for r in load_rules() if "record" in r}
    for rule in load_rules():
        for selector in _selectors(rule["expr"]):
            assert selector.name in known, (
                f"{rule.get('alert', rule.get('record'))}: {selector.name}"
            )


def test_app_series_are_scoped_to_the_job_and_namespace():
    """Every selector of an app metric or record filters on job and namespace."""
    app_names = (*metric_names.ALL_METRICS, "slo:")
    for rule in load_rules():
        for selector in _selectors(rule["expr"]):
            if selector.name.startswith(app_names):
                text = str(selector)
                assert f'job="{CONFIG.job}"' in text and f'namespace="{CONFIG.namespace}"' in text


def test_no_kube_prometheus_stack_alert_is_recreated():
    """Names of kube-prometheus-stack's own alerts are not reused."""
    theirs = {
        "TargetDown",
        "KubePodCrashLooping",
        "KubePodNotReady",
        "KubeHpaMaxedOut",
        "KubeHpaReplicasMismatch",
        "Watchdog",
        "InfoInhibitor",
    }
    assert not {r["alert"] for r in alert_rules()} & theirs


@pytest.mark.parametrize(
    ("bound", "stored"), [(0.25, ["0.25"]), (1.0, ["1", "1.0"]), (2.5, ["2.5"])]
)
def test_le_matcher_selects_the_bucket_under_prometheus_2_and_3_spellings(tmp_path, bound, stored):
    """le_matcher(bound) selects exactly one series whichever way the le label is spelled."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups: []\n")
    tests = []
    for spelling in stored:
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'h_bucket{{le="{spelling}"}}', "values": "1x5"},
                    {"series": 'h_bucket{le="0.5"}', "values": "1x5"},
                    {"series": 'h_bucket{le="10.0"}', "values": "1x5"},
                ],
                "promql_expr_test": [
                    {
                        "expr": f"count(h_bucket{{{le_matcher(bound)}}})",
                        "eval_time": "1m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            }
        )
    test_file = tmp_path / "le.test.yaml"
    test_file.write_text(json.dumps({"rule_files": [str(rules)], "tests": tests}))
    result = subprocess.run(
        [promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the PrometheusRule -----------------------------------------------------------------------
def test_prometheusrule_validates_against_the_crd_schema():
    schema_path = (
        require_schemas() / "prometheus-operator-v0.93.0/jsonschema/prometheusrule_v1.json"
    )
    schema = json.loads(schema_path.read_text())
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    # Not jsonschema.validate(): it first checks the schema against the meta-schema, which
    # rejects the CRD's Go-style pattern '^(?i)(abort|warn)?$' (an inline flag Python's re does
    # not accept mid-pattern). The validator itself only compiles patterns of fields present.
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(manifest)]
    assert errors == []


def test_prometheusrule_is_selected_by_kube_prometheus_stack():
    """Labelled release=<helm release>, in the app's namespace, with the same groups."""
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"]["labels"]["release"] == CONFIG.helm_release
    assert manifest["metadata"]["namespace"] == CONFIG.namespace
    assert manifest["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text())["groups"]


# --- runbooks ---------------------------------------------------------------------------------
def _github_slug(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _runbook_sections() -> dict[str, str]:
    text = RUNBOOKS.read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {_github_slug(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_runbook_url_points_at_an_existing_section():
    sections = _runbook_sections()
    for rule in alert_rules():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in sections, f"docs/runbooks.md has no heading for #{anchor}"


def test_runbook_url_base_is_the_repository_runbooks_file():
    assert CONFIG.runbook_base_url.endswith("/docs/runbooks.md")
    assert RUNBOOKS.is_file()


def test_runbook_commands_inside_the_pod_use_only_what_the_image_has():
    """``kubectl exec <pod> -- <program>`` runs in the python:slim image, which has Python but
    neither wget nor curl (the Dockerfile's own HEALTHCHECK uses Python for the same reason)."""
    assert "slim" in (ROOT / "Dockerfile").read_text()
    programs = re.findall(r"kubectl [^`]*\bexec\b[^`]*? -- (\S+)", RUNBOOKS.read_text())
    assert programs, "the runbooks have no kubectl exec command to check"
    assert set(programs) == {"python"}, programs


def test_every_runbook_section_says_meaning_confirmation_and_mitigation():
    sections = _runbook_sections()
    for rule in alert_rules():
        body = sections[rule["alert"].lower()]
        for part in ("**Meaning.**", "**How to confirm.**", "**Mitigation.**"):
            assert part in body, f"{rule['alert']}: runbook lacks {part}"


# --- other configs (the local stack) ----------------------------------------------------------
def test_local_config_rules_are_valid_and_kubernetes_free(tmp_path):
    """The local stack's rules: no HPA alert, HA minimum 1, shortened metrics-absent `for:`."""
    config = local_config(metrics_absent_for="30s")
    path = tmp_path / "local.rules.yaml"
    path.write_text(generate.render_rules_file(config))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = {r["alert"]: r for r in load_rules(path) if "alert" in r}
    assert not any("Hpa" in name for name in rules)
    assert rules["DemoAppMetricsAbsent"]["for"] == "30s"
    assert rules["DemoAppTooFewReadyInstances"]["expr"].endswith("< 1")
    for rule in load_rules(path):
        for selector in _selectors(rule["expr"]):
            assert selector.name not in kubernetes_series.KUBERNETES_ONLY


def test_local_config_promtool_tests_pass(tmp_path):
    """The test builders follow the config: the local variant's own tests pass too."""
    config = local_config()
    rules = tmp_path / "generated" / "local.rules.yaml"
    rules.parent.mkdir()
    rules.write_text(generate.render_rules_file(config))
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    files = []
    for name, text in testcases.render_all(config, rules, tests_dir).items():
        if name.startswith("slo"):
            continue  # identical to the Kubernetes config's SLO rules; slow
        (tests_dir / name).write_text(text)
        files.append(str(tests_dir / name))
    result = subprocess.run(
        [promtool(), "test", "rules", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_carry_the_long_window_request_guard_and_tickets_do_not():
    """Each page requires its long window to hold more than 1 / (factor * (1 - objective))
    API requests (SRE workbook, low-traffic services); tickets carry no guard."""
    burns = [r for r in alert_rules() if r["alert"].endswith("ErrorBudgetBurn")]
    pages = [r for r in burns if r["labels"]["severity"] == "critical"]
    assert pages
    for rule in pages:
        slo = next(
            s for s in CONFIG.slos if slo_rules.budget_alert_name(CONFIG, s) == rule["alert"]
        )
        burn = next(b for b in CONFIG.burn_rate_windows if b.long == rule["labels"]["long_window"])
        guard = f"[{burn.long}])) > 1 / ({burn.factor:g} * (1 - {slo.objective:g}))"
        assert rule["expr"].endswith(guard), rule["expr"]
        assert "(increase(" in rule["expr"]
    assert all("increase(" not in r["expr"] for r in burns if r not in pages)


def test_guard_stops_a_single_bad_request_and_nothing_more():
    """With just enough requests to pass the guard, one bad request stays at or under the page
    threshold; with one request fewer (guard fails) it would exceed it: the guard is the
    tightest one that stops a single bad request (70/167 requests for 99.9 %, 7/17 for 99 %)."""
    for burn in (b for b in CONFIG.burn_rate_windows if b.severity == "critical"):
        for slo in CONFIG.slos:
            threshold = burn.factor * slo.error_budget
            fewest = math.floor(slo_rules.min_requests(slo, burn)) + 1  # smallest n > minimum
            assert 1 / fewest <= threshold < 1 / (fewest - 1), (slo.name, burn)
    assert (
        math.ceil(slo_rules.min_requests(CONFIG.slo("availability"), CONFIG.burn_rate_windows[0]))
        == 70
    )


def test_a_total_outage_at_12_requests_a_minute_pages():
    """The reviewer's case: every API request fails at 12/min (0.2/s). The old short-window
    guard (0.25 requests/s) never paged; now both pages fire once their long window holds
    enough requests (the promtool case checks the exact minutes)."""
    for slo in CONFIG.slos:
        traffic, steps = slo_cases.low_traffic_outage(slo)
        pages = slo_cases.first_page(CONFIG, slo, traffic, steps)
        shorts = {b.short for b in CONFIG.burn_rate_windows if b.severity == "critical"}
        assert set(pages) == shorts, (slo.name, pages)
    availability = CONFIG.slo("availability")
    traffic, steps = slo_cases.low_traffic_outage(availability)
    assert slo_cases.first_page(CONFIG, availability, traffic, steps) == {"5m": 8, "30m": 29}


# --- SLO rule groups: fast (pages) and slow (long windows, tickets) ----------------------------
def _slo_groups() -> dict[str, dict]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return {g["name"]: g for g in groups if g["name"].startswith(f"{CONFIG.app_name}.slo")}


def _windows_read(expr: str) -> set[str]:
    """The windows of the SLO records an expression reads, e.g. {"1h", "5m"}."""
    prefix = re.escape(slo_error_ratio_record(""))
    return set(re.findall(prefix + r"(\w+)\{", expr))


def test_page_group_holds_no_long_window_and_reads_only_its_own_records():
    """The 14.4x page is not delayed by the 30d rate (172,800 samples per series at a 15 s
    scrape): its group records windows up to 6h only, at the global interval, and every page
    reads records of that group, so it sees this evaluation's ratios."""
    fast = _slo_groups()[f"{CONFIG.app_name}.slo"]
    assert "interval" not in fast
    recorded = {r["record"] for r in fast["rules"] if "record" in r}
    longest_page = max(
        duration_seconds(b.long) for b in CONFIG.burn_rate_windows if b.severity == "critical"
    )
    assert recorded and all(
        duration_seconds(r.removeprefix(slo_error_ratio_record(""))) <= longest_page
        for r in recorded
    )
    alerts = [r for r in fast["rules"] if "alert" in r]
    assert alerts and all(r["labels"]["severity"] == "critical" for r in alerts)
    for rule in alerts:
        assert {slo_error_ratio_record(w) for w in _windows_read(rule["expr"])} <= recorded


def test_slow_group_holds_the_long_windows_and_the_tickets_at_its_interval():
    slow = _slo_groups()[f"{CONFIG.app_name}.slo-long"]
    assert slow["interval"] == CONFIG.slo_slow_rules_interval
    assert duration_seconds(CONFIG.slo_slow_rules_interval) < 5 * 60  # within the 5m lookback
    recorded = {r["record"] for r in slow["rules"] if "record" in r}
    assert slo_error_ratio_record(CONFIG.slo_period) in recorded
    alerts = [r for r in slow["rules"] if "alert" in r]
    assert alerts and all(r["labels"]["severity"] == "warning" for r in alerts)
    windows = set(CONFIG.slo_windows())
    fast = {r["record"] for r in _slo_groups()[f"{CONFIG.app_name}.slo"]["rules"] if "record" in r}
    assert recorded | fast == {slo_error_ratio_record(w) for w in windows}
    assert not recorded & fast


def test_ticket_tests_run_at_the_slow_groups_interval():
    """promtool 2.42 ignores a group's interval and evaluates every group at the test file's
    evaluation_interval, so the ticket cases need a file evaluated at the slow interval, with
    the fast group first (a ticket reads its short window from it)."""
    content = yaml.safe_load((ROOT / "alerts" / "tests" / "slo-long.test.yaml").read_text())
    assert content["evaluation_interval"] == CONFIG.slo_slow_rules_interval
    assert content["group_eval_order"] == list(_slo_groups())
    tickets = [b for b in CONFIG.burn_rate_windows if b.severity != "critical"]
    names = [t["name"] for t in content["tests"]]
    # fires, silent, the short window alone (checked at two times, a test each), and each
    # window alone just under its threshold (a recent and an old burn)
    assert len(names) == 6 * len(tickets) * len(CONFIG.slos)
    for slo, ticket in itertools.product(CONFIG.slos, tickets):
        prefix = f"{slo_rules.budget_alert_name(CONFIG, slo)} {ticket.long}/"
        ours = [n for n in names if n.startswith(prefix)]
        assert sum("recent burn" in n for n in ours) == sum("old burn" in n for n in ours) == 1
    assert all(f"every {CONFIG.slo_slow_rules_interval}" in n for n in names)


def test_promtool_ignores_a_group_interval_in_unit_tests(tmp_path):
    """The premise of the slo-long test file, checked against the installed promtool: a record
    of time() in an ``interval: 5m`` group is re-evaluated at every 1m test evaluation."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n- name: g\n  interval: 5m\n  rules:\n  - record: t\n    expr: time()\n"
    )
    (tmp_path / "t.yaml").write_text(
        "rule_files: [r.yaml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n"
        "  input_series: []\n  promql_expr_test:\n  - expr: t\n    eval_time: 3m\n"
        "    exp_samples: [{labels: t, value: 180}]\n"
    )
    result = subprocess.run(
        [promtool(), "test", "rules", "t.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- issue 18: validation messages, any sane SLO, outage pages ------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"rate_window": "30s"},
            "rate_window: 30s is shorter than 4 scrape intervals (4 x 15s): rate() and "
            "avg_over_time() need samples",
        ),
        (
            {"probe_window": "45s"},
            "probe_window: 45s is shorter than 4 probe intervals (4 x 15s)",
        ),
        (
            {"burn_rate_windows": (dataclasses.replace(_WINDOWS[0], short="30s"),)},
            "burn-rate window 1h/30s: short window 30s is shorter than 4 scrape intervals "
            "(4 x 15s)",
        ),
        (
            {"slo_period": "2d"},
            "burn-rate window 3d/6h: long window 3d is longer than slo_period 2d: the SLO "
            "period must hold every burn-rate window",
        ),
        (
            {"slos": (SLO(name="availability", objective=1.0, text="x"),)},
            "SLO availability: objective 1.0 is not in (0, 1)",
        ),
        (
            {"slos": (SLO(name="availability", objective=0.0, text="x"),)},
            "SLO availability: objective 0.0 is not in (0, 1)",
        ),
        (
            {"probe_min_success_ratio": 1.5},
            "probe_min_success_ratio must be a ratio in (0, 1], got 1.5",
        ),
        ({"outage_min_up_ratio": 0}, "outage_min_up_ratio must be a ratio in (0, 1], got 0"),
    ],
)
def test_validation_states_each_problem_in_one_line(overrides, message):
    """Each problem is one line of the error naming the field and the values (exact text)."""
    with pytest.raises(ValueError) as err:
        dataclasses.replace(CONFIG, **overrides).validate()
    lines = [line.strip() for line in str(err.value).splitlines()[1:]]
    assert message in lines, lines


def test_validation_lists_every_problem_at_once():
    """Two bad fields give two lines, not the first one only."""
    bad = dataclasses.replace(CONFIG, rate_window="30s", probe_min_success_ratio=2.0)
    with pytest.raises(ValueError) as err:
        bad.validate()
    assert len(str(err.value).splitlines()) == 3


SANE_SLOS = [(o, p) for o in (0.99, 0.995, 0.999, 0.9995) for p in ("7d", "28d", "30d")]


@pytest.mark.parametrize(("objective", "period"), SANE_SLOS)
def test_any_sane_objective_and_period_generate_and_texts_follow(objective, period):
    """Objectives 0.99 ... 0.9995 and periods 7d/28d/30d generate every output (including the
    promtool cases' own scenario checks) and no text repeats the default objective."""
    slos = tuple(dataclasses.replace(s, objective=objective) for s in CONFIG.slos)
    config = dataclasses.replace(CONFIG, slos=slos, slo_period=period)
    files = generate.outputs(config)
    rules = next(t for p, t in files.items() if p == generate.rules_path(config))
    assert "99.9 %" not in rules or objective == 0.999
    assert f"{objective * 100:g} %" in rules
    assert f"of the {period} error budget left lasts" in rules


@pytest.mark.parametrize(("objective", "period"), [(0.99, "7d"), (0.995, "28d"), (0.9995, "30d")])
def test_other_objectives_pass_their_own_promtool_tests(tmp_path, objective, period):
    """The generated rules and promtool cases of other SLOs pass promtool (SLO files only)."""
    slos = tuple(dataclasses.replace(s, objective=objective) for s in CONFIG.slos)
    config = dataclasses.replace(CONFIG, slos=slos, slo_period=period)
    rules = tmp_path / "generated" / "rules.yaml"
    rules.parent.mkdir()
    rules.write_text(generate.render_rules_file(config))
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    files = []
    for name, text in testcases.render_all(config, rules, tests_dir).items():
        if name in ("slo.test.yaml", "slo-long.test.yaml"):
            (tests_dir / name).write_text(text)
            files.append(str(tests_dir / name))
    result = subprocess.run(
        [promtool(), "test", "rules", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_availability_totals_leave_out_499_and_latency_keeps_it():
    """A 499 (client closed) is neither good nor bad for availability; latency counts it."""
    records = [r for r in load_rules() if "record" in r]
    for rule in records:
        if rule["labels"]["slo"] == "availability":
            assert rule["expr"].count('status!="499"') == 2, rule["expr"]
        else:
            assert "499" not in rule["expr"]


def test_burn_rate_alerts_return_the_burn_rate():
    """The value of a burn-rate alert is error ratio / (1 - objective): its text states it."""
    for rule in alert_rules():
        if rule["alert"].endswith("ErrorBudgetBurn"):
            first = rule["expr"].splitlines()[0]
            assert re.search(r"\} / \(1 - [\d.]+\) > [\d.]+$", first), first
            assert '$value | printf "%.1f"' in rule["annotations"]["description"]
