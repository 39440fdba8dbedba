"""The mutation tester (tests/mutation.py): its mutants, its sample, and the CI score."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from alerts import generate
from monitoring.config import CONFIG
from tests import mutation
from tests.conftest import ROOT, require_binary

GROUPS = yaml.safe_load(generate.rules_path(CONFIG).read_text())["groups"]


def _kinds(expr: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for kind, _, mutated in mutation.expr_mutants(expr, {"slo": {"a", "b"}}):
        result.setdefault(kind, []).append(mutated)
    return result


def test_every_kind_of_the_issue_is_generated_on_a_small_expression():
    """drop-operand, swap-setop, flip-comparison, thresholds, matchers, ranges, label swaps."""
    expr = 'x{job="j", slo="a"}[5m] > 14.4\nand on (job)\ny{route!~"a|b"} == 0'
    kinds = _kinds(expr)
    assert kinds["drop-operand"] == ['\ny{route!~"a|b"} == 0', 'x{job="j", slo="a"}[5m] > 14.4\n']
    assert kinds["swap-setop"] == [expr.replace("and on", "or on")]
    assert set(kinds["flip-comparison"]) == {
        expr.replace("> 14.4", "< 14.4"),
        expr.replace("== 0", "!= 0"),
    }
    assert kinds["threshold-x1.1"] == [expr.replace("14.4", "15.84")]
    assert kinds["threshold-x0.9"] == [expr.replace("14.4", "12.96")]
    assert kinds["range-half"] == [expr.replace("[5m]", "[150s]")]
    assert set(kinds["drop-matcher"]) == {
        expr.replace('job="j", ', ""),
        expr.replace(', slo="a"', ""),
        expr.replace('{route!~"a|b"}', "{}"),
    }
    assert kinds["swap-label"] == [expr.replace('slo="a"', 'slo="b"')]


def test_matchers_inside_strings_and_selectors_are_not_comparisons():
    """`!=` in a label matcher and `>` inside a regex string are left alone."""
    kinds = _kinds('x{status!="499", route=~">x"} > 1')
    assert kinds["flip-comparison"] == ['x{status!="499", route=~">x"} < 1']


def test_the_sample_covers_every_rule_and_every_kind_that_applies():
    """CI runs the fixed sample: each (rule, kind) pair of the full set appears in it."""
    every = mutation.mutants(GROUPS)
    sample = mutation.sample(every)
    assert {(m.group, m.index, m.kind) for m in every} == {
        (m.group, m.index, m.kind) for m in sample
    }
    rules = {(g["name"], i) for g in GROUPS for i, _ in enumerate(g["rules"])}
    assert {(m.group, m.index) for m in sample} == rules
    assert {m.kind for m in sample} == set(mutation.KINDS)


def _dropped(expr: str, matcher: str) -> mutation.Mutant:
    """The generator's drop-matcher mutant of ``expr`` dropping ``matcher`` where it occurs
    first."""
    mutated = next(
        changed
        for kind, detail, changed in mutation.expr_mutants(expr, {})
        if kind == "drop-matcher" and detail == matcher
    )
    rule = {"alert": "X", "expr": mutated}
    return mutation.Mutant("g", 0, "X", "drop-matcher", matcher, rule, expr)


@pytest.mark.parametrize(
    ("expr", "matcher"),
    [
        ('a{job="x"} / b{job="x"}', 'job="x"'),
        (
            'sum by (job) (rate(a{job="x"}[5m])) / sum by (job) (rate(b{job="x"}[5m])) > 0.1',
            'job="x"',
        ),
        (
            '(sum by (job) (rate(a{job="x"}[5m])) or 0 * sum by (job) (rate(b{job="x"}[5m])))'
            ' / sum by (job) (rate(b{job="x"}[5m]))',
            'job="x"',
        ),
        ('a{job="x", slo="s"} / (1 - 0.999) > 14.4 and b{job="x", slo="s"} > 1', 'slo="s"'),
        ('a{job="x", slo="s"} > 1 and b{slo="s"} > 1 and on (job) c{job="x"}', 'slo="s"'),
        ('max by (job) (a{job="x"}) == 0 and on (job) max by (job) (b{job="x"}) > 0', 'job="x"'),
    ],
)
def test_a_matcher_dropped_where_matching_restores_it_is_equivalent(expr, matcher):
    """Vector matching on the label and another operand's matcher keep the same series."""
    assert mutation.equivalence(_dropped(expr, matcher))


@pytest.mark.parametrize(
    "expr",
    [
        'a{job="x"} or b{job="x"}',  # or: the other jobs' a series stay
        'a{job="x"} unless b{job="x"}',  # unless: the left side is not filtered by b
        'sum(rate(a{job="x"}[5m])) / sum(rate(b{job="x"}[5m]))',  # sums over every job
        'a{job="x"} / on (instance) b{job="x"}',  # matching ignores job
        'a{job="x"} / ignoring (job) b{job="x"}',
        'a{job="x"} > 1 and on (namespace) b{job="x"}',
        'sum by (job) (a{job="x"}) > 1',  # nothing else restricts job
        'absent(a{job="x"})',
        'a{job="x"} and b{job="y"}',  # the other operand keeps another job, not x
    ],
)
def test_a_matcher_dropped_where_nothing_restores_it_is_not_equivalent(expr):
    """Equivalence is claimed only when proved: these mutants can be killed."""
    assert mutation.equivalence(_dropped(expr, 'job="x"')) is None


ZERO_FILL = (
    '(sum by (job) (rate(a{job="x", status=~"5.."}[5m]))'
    ' or 0 * sum by (job) (rate(a{job="x", route!~"/healthz", status!="499"}[5m])))'
    ' / sum by (job) (rate(a{job="x", route!~"/healthz", status!="499"}[5m]))'
)


def _mutated(expr: str, mutated: str, matcher: str) -> mutation.Mutant:
    return mutation.Mutant(
        "g", 0, "X", "drop-matcher", matcher, {"record": "r", "expr": mutated}, expr
    )


@pytest.mark.parametrize("matcher", [', status!="499"', ', route!~"/healthz"'])
def test_a_matcher_dropped_in_the_zero_fill_is_equivalent(matcher):
    """``(A or 0 * X) / X``: a wider ``X`` in the zero fill changes nothing the division keeps."""
    zero, rest = ZERO_FILL.split(" or 0 * ")
    mutated = f"{zero} or 0 * {rest.replace(matcher, '', 1)}"
    assert mutated != ZERO_FILL
    assert mutation.equivalence(_mutated(ZERO_FILL, mutated, matcher.lstrip(", ")))


@pytest.mark.parametrize(
    ("expr", "mutated"),
    [
        # The same matcher dropped in the denominator: it now counts the 499s.
        (ZERO_FILL, ZERO_FILL[::-1].replace('"994"=!sutats ,', "", 1)[::-1]),
        # A zero fill over another series than the denominator's: a wider one adds 0s where
        # the numerator had none.
        (
            '(sum by (job) (rate(a{job="x", status=~"5.."}[5m]))'
            ' or 0 * sum by (job) (rate(b{job="x", status!="499"}[5m])))'
            ' / sum by (job) (rate(a{job="x"}[5m]))',
            '(sum by (job) (rate(a{job="x", status=~"5.."}[5m]))'
            ' or 0 * sum by (job) (rate(b{job="x"}[5m])))'
            ' / sum by (job) (rate(a{job="x"}[5m]))',
        ),
    ],
)
def test_a_matcher_dropped_outside_an_exact_zero_fill_is_not_equivalent(expr, mutated):
    """Only the zero fill of the denominator itself is proved equivalent."""
    assert mutated != expr
    assert mutation.equivalence(_mutated(expr, mutated, 'status!="499"')) is None


def _threshold(expr: str, old: str, new: str) -> mutation.Mutant:
    kind = "threshold-x0.9" if float(new) < float(old) else "threshold-x1.1"
    # The number compared: at the end, or else at the start (``2 > count(...)``).
    mutated = expr[: -len(old)] + new if expr.endswith(old) else expr.replace(old, new, 1)
    assert mutated != expr
    return mutation.Mutant(
        "g", 0, "X", kind, f"{old} -> {new}", {"alert": "X", "expr": mutated}, expr
    )


@pytest.mark.parametrize(
    ("expr", "old", "new"),
    [
        ('count by (job) (up{job="x"} == 1) < 2', "2", "1.8"),
        ('max by (pod) (resets(demo_app_uptime_seconds{job="x"}[30m])) >= 3', "3", "2.7"),
        ('sum by (job) (max by (job, pod) (demo_app_ready{job="x"})) < 2', "2", "1.8"),
        ('2 > count by (job) (up{job="x"})', "2", "1.8"),  # the number on the left
        ('sum by (job) (changes(up{job="x"}[10m])) > 3', "3", "3.3"),
    ],
)
def test_a_threshold_with_no_whole_number_between_is_equivalent_on_whole_numbers(expr, old, new):
    """A count compared with 2 or with 1.8 holds for the same counts."""
    assert mutation.equivalence(_threshold(expr, old, new))


@pytest.mark.parametrize(
    ("expr", "old", "new"),
    [
        ('count by (job) (up{job="x"} == 1) < 2', "2", "2.2"),  # 2 < 2.2
        ('sum by (job) (rate(a_total{job="x"}[5m])) >= 3', "3", "2.7"),  # not whole numbers
        ('max by (pod) (demo_app_cpu_usage_percent{job="x"}) >= 3', "3", "2.7"),
        ('count by (job) (up{job="x"}) == 3', "3", "2.7"),  # == 2.7 never holds
        ('count by (job) (up{job="x"}) > bool 2', "2", "1.8"),  # bool: compares, keeps all
        ('2 > count by (job) (up{job="x"})', "2", "2.2"),
    ],
)
def test_a_threshold_with_a_whole_number_between_or_a_fraction_side_is_not_equivalent(
    expr, old, new
):
    """Equivalence is claimed only when no value of the compared side tells them apart."""
    assert mutation.equivalence(_threshold(expr, old, new)) is None


def test_a_mutant_runs_only_tests_naming_its_rule_or_a_reader():
    """An alert's mutant runs the test groups naming it; a record's, also its readers'."""
    units, reads = mutation.units(), mutation.readers(GROUPS)
    absent = next(m for m in mutation.mutants(GROUPS) if m.rule_name == "DemoAppMetricsAbsent")
    chosen = mutation.relevant_units(absent, units, reads)
    assert chosen and all("DemoAppMetricsAbsent" in u.text() for u in chosen)
    assert "DemoAppAvailabilityErrorBudgetBurn" in reads["slo:sli_error:ratio_rate5m"]


@pytest.mark.mutation
def test_mutation_score_of_the_ci_sample_reaches_95_percent():
    """`python -m tests.mutation --sample` kills >= 95 % of its non-equivalent mutants (exit 0):
    every rule group, the SLO groups included (about 6 min on 2 cores)."""
    require_binary("promtool", hint="apt-get install prometheus")
    result = subprocess.run(
        [sys.executable, "-m", "tests.mutation", "--sample"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
