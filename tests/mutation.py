"""Mutation testing of the generated rules: do the promtool tests pin every clause?

``make mutate`` (``python -m tests.mutation``) builds mutants of every alerting and recording
rule in ``alerts/generated/<app>.rules.yaml``, runs the promtool test files that test the
mutated rule's group on each, and prints the share killed (a test failed) and the survivors.

Mutant kinds (issue 18), each applied at every place it fits:

- ``drop-operand``: drop each operand of ``and``/``or``/``unless`` (with its operator);
- ``swap-setop``: ``and`` <-> ``or``;
- ``flip-comparison``: ``>`` <-> ``<``, ``>=`` <-> ``<=``, ``==`` <-> ``!=``;
- ``threshold-x1.1`` / ``threshold-x0.9``: each non-zero number literal times 1.1 and 0.9;
- ``for-half`` / ``for-double``: each ``for:``;
- ``drop-matcher``: each label matcher;
- ``range-half``: each range selector ``[d]`` -> ``[d/2]``;
- ``swap-label``: each ``slo``/``metric_name`` value (in matchers and in a record's labels) for
  every other value of that label used in the file.

A mutant that promtool refuses to load (``check rules`` fails) is *invalid*, reported apart and
left out of the score. A mutant proved *equivalent* (``equivalence``, on the parsed expression: a
dropped matcher that vector matching restores, a matcher dropped in a ratio's zero fill, a
threshold with no whole number between it and its mutant on a whole-number side) is reported
apart, not run, and left out
of the score too. Mutations are textual on the PromQL (strings, ``{...}`` and ``[...]``
are skipped where they do not apply): the rules are generated in a regular layout, and a few
lines of tokenising are simpler than a PromQL printer (promql_parser parses but cannot print a
changed tree).

Speed: a mutant runs only the test files that mention a rule of its group (alert or record
name), with one worker per core. ``--sample`` runs the fixed CI sample: for every rule and
every kind that applies to it, the first mutant of that kind (so every rule and every kind is
covered); the full set is the default.

Exit code: 0 when the score is at least ``--min-score`` (default 0.95), 1 below, 2 on a usage
or setup error.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import yaml

from alerts import generate
from app import metric_names
from monitoring.config import CONFIG, duration_seconds

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "alerts" / "tests"
SWAP_LABELS = ("slo", "metric_name")
KINDS = (
    "drop-operand",
    "swap-setop",
    "flip-comparison",
    "threshold-x1.1",
    "threshold-x0.9",
    "for-half",
    "for-double",
    "drop-matcher",
    "range-half",
    "swap-label",
)


@dataclass(frozen=True)
class Mutant:
    """One changed rule: ``group``/``index`` locate it in the rules file."""

    group: str
    index: int
    rule_name: str
    kind: str
    detail: str
    rule: dict
    original_expr: str = ""
    """The rule's expression before the mutation (for ``equivalence``)."""

    def key(self) -> str:
        """A stable one-line id, e.g. ``demo-app.slo/DemoAppX#3 drop-matcher: job=...``."""
        return f"{self.group}/{self.rule_name}#{self.index} {self.kind}: {self.detail}"


# --- tokenising -------------------------------------------------------------------------------
def _code_spans(expr: str) -> list[tuple[int, int, str]]:
    """Split ``expr`` into spans ``(start, end, kind)``: ``str`` (a quoted string), ``sel``
    (``{...}``), ``range`` (``[...]``) or ``code`` (everything else)."""
    spans, i, start = [], 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'{[":
            if start < i:
                spans.append((start, i, "code"))
            close = {"{": "}", "[": "]"}.get(ch, ch)
            j = i + 1
            while j < len(expr) and expr[j] != close:
                if expr[j] == "\\":
                    j += 1
                elif ch in "{[" and expr[j] in "\"'":  # a string inside a selector
                    quote = expr[j]
                    j += 1
                    while expr[j] != quote:
                        j += 2 if expr[j] == "\\" else 1
                j += 1
            kind = {"{": "sel", "[": "range"}.get(ch, "str")
            spans.append((i, j + 1, kind))
            i = start = j + 1
            continue
        i += 1
    if start < len(expr):
        spans.append((start, len(expr), "code"))
    return spans


def _in_code(expr: str, pattern: str) -> Iterator[re.Match]:
    """Matches of ``pattern`` in the code spans of ``expr`` (not in strings or selectors),
    skipping words that are part of ``by (...)``/``on (...)`` label lists."""
    for start, end, kind in _code_spans(expr):
        if kind != "code":
            continue
        for match in re.finditer(pattern, expr[start:end]):
            yield _Shifted(match, start)


class _Shifted:
    """A regex match whose positions are shifted into the whole expression."""

    def __init__(self, match: re.Match, offset: int) -> None:
        self._m, self._o = match, offset

    def start(self, g: int = 0) -> int:
        return self._m.start(g) + self._o

    def end(self, g: int = 0) -> int:
        return self._m.end(g) + self._o

    def group(self, g: int = 0) -> str:
        return self._m.group(g)


def _depths(expr: str) -> list[int]:
    """Parenthesis depth at every character (outside strings/selectors counted as code)."""
    depth, out = 0, []
    kinds = ["code"] * len(expr)
    for start, end, kind in _code_spans(expr):
        for k in range(start, end):
            kinds[k] = kind
    for ch, kind in zip(expr, kinds, strict=True):
        if kind == "code" and ch == ")":
            depth -= 1
        out.append(depth)
        if kind == "code" and ch == "(":
            depth += 1
    return out


SETOP = r"\b(and|or|unless)\b(\s+(?:on|ignoring)\s*\([^)]*\))?"


def _setops(expr: str) -> list[tuple[int, int, str, int]]:
    """``(start, end, op, depth)`` of every set operator (with its ``on (...)``)."""
    depth = _depths(expr)
    ops = []
    for m in _in_code(expr, SETOP):
        # ``on (job)`` inside an aggregation's ``by (...)`` is not an operator: require code
        # before it that is not an aggregation keyword.
        ops.append((m.start(), m.end(), m.group(1), depth[m.start()]))
    return ops


def _operand_bounds(expr: str, ops: list, k: int) -> tuple[int, int, int, int]:
    """Left operand ``(ls, le)`` and right operand ``(rs, re)`` of set operator ``k``."""
    start, end, op, depth = ops[k]
    depths = _depths(expr)
    lower = {"or"} if op == "or" else {"and", "unless", "or"}
    # The scope: up to the enclosing parenthesis at this depth.
    ls = start
    while ls > 0 and not (
        depths[ls - 1] < depth or (expr[ls - 1] == "(" and depths[ls - 1] == depth - 1)
    ):
        ls -= 1
    rs_end = end
    while (
        rs_end < len(expr)
        and depths[rs_end] >= depth
        and not (expr[rs_end] == ")" and depths[rs_end] == depth - 1)
    ):
        rs_end += 1
    same = [o for o in ops if o[3] == depth and ls <= o[0] < rs_end and o[2] in lower]
    before = [o for o in same if o[1] <= start]
    after = [o for o in same if o[0] >= end]
    left_start = before[-1][1] if before else ls
    right_end = after[0][0] if after else rs_end
    return left_start, start, end, right_end


def _number(value: float) -> str:
    text = repr(round(value, 12))
    return text[:-2] if text.endswith(".0") else text


def _half_duration(duration: str) -> str:
    return f"{duration_seconds(duration) // 2}s"


def _double_duration(duration: str) -> str:
    return f"{duration_seconds(duration) * 2}s"


# --- mutants ----------------------------------------------------------------------------------
def expr_mutants(expr: str, label_values: dict[str, set[str]]) -> Iterator[tuple[str, str, str]]:
    """``(kind, detail, mutated expr)`` for every mutation of one PromQL expression."""
    ops = _setops(expr)
    for k, (start, _end, op, _) in enumerate(ops):
        ls, le, rs, re_ = _operand_bounds(expr, ops, k)
        left, right = expr[ls:le].strip(), expr[rs:re_].strip()
        yield "drop-operand", f"left of {op}: {_short(left)}", expr[:ls] + expr[rs:]
        yield "drop-operand", f"right of {op}: {_short(right)}", expr[:le] + expr[re_:]
        if op in ("and", "or"):
            other = "or" if op == "and" else "and"
            yield (
                "swap-setop",
                f"{op} -> {other} at {start}",
                expr[:start] + other + expr[start + len(op) :],
            )
    flips = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "!=", "!=": "=="}
    for m in _in_code(expr, r"(?<![=!<>])(>=|<=|==|!=|>|<)(?![=~])"):
        op = m.group(1)
        yield (
            "flip-comparison",
            f"{op} -> {flips[op]} at {m.start()}",
            expr[: m.start()] + flips[op] + expr[m.end() :],
        )
    for m in _in_code(expr, r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])"):
        value = float(m.group(1))
        if value == 0:
            continue  # 0 x 1.1 is 0: an equivalent mutant by construction
        for factor, kind in ((1.1, "threshold-x1.1"), (0.9, "threshold-x0.9")):
            new = _number(value * factor)
            yield kind, f"{m.group(1)} -> {new}", expr[: m.start()] + new + expr[m.end() :]
    for start, end, kind in _code_spans(expr):
        if kind == "range":
            inner = expr[start + 1 : end - 1]
            if re.fullmatch(r"\d+[smhdw]", inner):
                new = f"[{_half_duration(inner)}]"
                yield "range-half", f"[{inner}] -> {new}", expr[:start] + new + expr[end:]
        if kind == "sel":
            matchers = _split_matchers(expr[start + 1 : end - 1])
            for i, matcher in enumerate(matchers):
                rest = ", ".join(m for j, m in enumerate(matchers) if j != i)
                yield "drop-matcher", matcher, expr[:start] + "{" + rest + "}" + expr[end:]
                name, _, value = re.match(r"(\w+)\s*(=~|!~|!=|=)\s*(.*)", matcher).groups()
                if name in label_values and _ == "=":
                    current = value.strip("\"'")
                    for other in sorted(label_values[name] - {current}):
                        swapped = list(matchers)
                        swapped[i] = f'{name}="{other}"'
                        yield (
                            "swap-label",
                            f"{name}={current} -> {other}",
                            expr[:start] + "{" + ", ".join(swapped) + "}" + expr[end:],
                        )


def _split_matchers(inner: str) -> list[str]:
    """``job="a", route!~"x,y"`` -> ``['job="a"', 'route!~"x,y"']`` (commas in strings kept)."""
    parts, current, quote = [], "", None
    for ch in inner:
        if quote:
            current += ch
            if ch == quote and not current.endswith("\\" + quote):
                quote = None
        elif ch in "\"'":
            quote = ch
            current += ch
        elif ch == ",":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "..."


def label_values(groups: list[dict]) -> dict[str, set[str]]:
    """Values of the ``SWAP_LABELS`` used anywhere in the rules (matchers and record labels)."""
    values: dict[str, set[str]] = {name: set() for name in SWAP_LABELS}
    for g in groups:
        for rule in g["rules"]:
            for name in SWAP_LABELS:
                values[name].update(re.findall(rf'\b{name}="([^"]*)"', rule["expr"]))
                if name in rule.get("labels", {}) and "record" in rule:
                    values[name].add(rule["labels"][name])
    return {k: v for k, v in values.items() if len(v) > 1}


def mutants(groups: list[dict]) -> list[Mutant]:
    """Every distinct mutant of every rule, in file order (two mutations giving the same rule,
    e.g. dropping the middle operand of ``a or b or c`` from either side, count once)."""
    values = label_values(groups)
    result: list[Mutant] = []
    seen: set[str] = set()
    for g in groups:
        for index, rule in enumerate(g["rules"]):
            name = rule.get("alert") or rule["record"]

            def make(kind: str, detail: str, changed: dict, g=g, index=index, name=name) -> None:
                fingerprint = f"{g['name']}#{index}:" + yaml.safe_dump(changed, sort_keys=True)
                if changed != g["rules"][index] and fingerprint not in seen:
                    seen.add(fingerprint)
                    original = g["rules"][index]["expr"]
                    result.append(Mutant(g["name"], index, name, kind, detail, changed, original))

            for kind, detail, expr in expr_mutants(rule["expr"], values):
                make(kind, detail, {**rule, "expr": expr})
            if "for" in rule:
                for kind, fn in (("for-half", _half_duration), ("for-double", _double_duration)):
                    make(
                        kind,
                        f"for {rule['for']} -> {fn(rule['for'])}",
                        {**rule, "for": fn(rule["for"])},
                    )
            if "record" in rule:
                for label in SWAP_LABELS:
                    current = rule.get("labels", {}).get(label)
                    for other in sorted(values.get(label, set()) - {current}) if current else ():
                        labels = {**rule["labels"], label: other}
                        make(
                            "swap-label",
                            f"record label {label}={current} -> {other}",
                            {**rule, "labels": labels},
                        )
    return result


def sample(all_mutants: list[Mutant]) -> list[Mutant]:
    """The fixed CI sample: the first mutant of each kind for each rule."""
    seen, picked = set(), []
    for m in all_mutants:
        key = (m.group, m.index, m.kind)
        if key not in seen:
            seen.add(key)
            picked.append(m)
    return picked


# --- equivalent mutants ----------------------------------------------------------------------
PER_SERIES_FUNCTIONS = frozenset(
    (
        *("rate", "increase", "irate", "delta", "idelta", "deriv", "resets", "changes"),
        *("avg_over_time", "min_over_time", "max_over_time", "sum_over_time"),
        *("count_over_time", "last_over_time", "present_over_time", "quantile_over_time"),
        *("stddev_over_time", "abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2"),
        *("log10", "clamp", "clamp_min", "clamp_max", "predict_linear", "histogram_quantile"),
    )
)
"""Functions whose output series each come from one input series (or, for
``histogram_quantile``, from the series sharing all labels but ``le``), keeping its labels."""


def _is_scalar(node) -> bool:
    """A number or string literal, or an expression of literals only (e.g. ``(1 - 0.999)``)."""
    kind = type(node).__name__
    if kind in ("NumberLiteral", "StringLiteral"):
        return True
    if kind in ("ParenExpr", "UnaryExpr"):
        return _is_scalar(node.expr)
    if kind == "BinaryExpr":
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return False


def _service_scope(node, old, label: str, value: str) -> tuple[bool, bool]:
    """``(local, restricted)`` of a parsed, mutated PromQL node for the matcher ``label="value"``.

    ``old`` is the same node in the unmutated expression (the trees have the same shape: a
    dropped matcher changes one selector). *local*: the node's output series with
    ``label=value`` are the same as ``old``'s (an unchanged node; per-series functions,
    aggregations grouping by ``label`` and binary operators whose vector matching includes
    ``label`` over local operands; ``and``/``unless`` also when only their left operand
    changed, since their output is a subset of it). *restricted*: every output series carries
    ``label=value`` (a selector with that matcher; ``or`` needs both sides, ``unless`` its left,
    any other binary operator either side when it matches on ``label``). Anything else is
    neither: conservative, so a mutant is called equivalent only when it is.
    """
    kind = type(node).__name__
    unchanged = str(node) == str(old)
    if _is_scalar(node):
        return True, True  # no series: a binary operator takes the vector side's scope
    if kind == "MatrixSelector":
        node, old, kind = node.vector_selector, old.vector_selector, "VectorSelector"
    if kind == "VectorSelector":
        has = any(
            m.name == label and str(m.op) == "MatchOp.Equal" and m.value == value
            for m in node.matchers.matchers
        )
        return True, has and not node.matchers.or_matchers
    if kind in ("ParenExpr", "UnaryExpr"):
        return _service_scope(node.expr, old.expr, label, value)
    if kind == "Call":
        pairs = [(a, b) for a, b in zip(node.args, old.args, strict=True) if not _is_scalar(a)]
        if len(pairs) != 1 or node.func.name not in PER_SERIES_FUNCTIONS or label == "le":
            return unchanged, False
        return _service_scope(*pairs[0], label, value)
    if kind == "AggregateExpr":
        modifier = node.modifier
        if modifier is None or str(node.op) == "count_values":
            return unchanged, False
        by = str(modifier.type).endswith("By")
        if (label in modifier.labels) != by:
            return unchanged, False
        return _service_scope(node.expr, old.expr, label, value)
    if kind == "BinaryExpr":
        scalars = [_is_scalar(side) for side in (node.lhs, node.rhs)]
        left = _service_scope(node.lhs, old.lhs, label, value)
        right = _service_scope(node.rhs, old.rhs, label, value)
        if scalars[0] or scalars[1]:
            return left if scalars[1] else right
        matching = node.modifier.matching if node.modifier else None
        on_label = matching is None or (
            (label in matching.labels) == str(matching.type).endswith("Include")
        )
        op = str(node.op)
        if op in ("and", "unless") and str(node.rhs) == str(old.rhs):
            # A subset of the left operand's series, chosen by an unchanged right operand.
            return left[0], left[1] or (op == "and" and on_label and right[1])
        if not on_label:
            return unchanged, False
        local = left[0] and right[0]
        if op == "or":
            return local, left[1] and right[1]
        if op == "unless":
            return local, left[1]
        return local, left[1] or right[1]
    return unchanged, False


def _unparen(node):
    while type(node).__name__ == "ParenExpr":
        node = node.expr
    return node


def _only_the_zero_fill_changed(tree, original) -> bool:
    """Whether a mutant changed only ``X`` in ``(A or 0 * X) / D`` where ``X`` was ``D``.

    The SLO records' zero fill (``alerts.slo``): ``0 * X`` gives the numerator a 0 where ``A``
    (the 5xx rate) has no series. A dropped matcher widens ``X`` to ``X'``, whose label sets
    include ``X``'s; the division (one-to-one, no modifier) keeps only ``D``'s label sets,
    where ``X = D`` had a series, so ``X'`` has one too, and ``0 * X'`` is 0 there as ``0 * X``
    was (``X'`` is a sum of rates, finite). The output is unchanged.
    """
    t, o = _unparen(tree), _unparen(original)
    if not all(type(n).__name__ == "BinaryExpr" and str(n.op) == "/" for n in (t, o)):
        return False
    if t.modifier is not None or o.modifier is not None or str(t.rhs) != str(o.rhs):
        return False
    t_or, o_or = _unparen(t.lhs), _unparen(o.lhs)
    if not all(type(n).__name__ == "BinaryExpr" and str(n.op) == "or" for n in (t_or, o_or)):
        return False
    if (t_or.modifier and t_or.modifier.matching) or str(t_or.lhs) != str(o_or.lhs):
        return False
    t_zero, o_zero = _unparen(t_or.rhs), _unparen(o_or.rhs)
    for n in (t_zero, o_zero):
        if not (
            type(n).__name__ == "BinaryExpr"
            and str(n.op) == "*"
            and n.modifier is None
            and type(n.lhs).__name__ == "NumberLiteral"
            and n.lhs.val == 0
        ):
            return False
    return str(_unparen(o_zero.rhs)) == str(_unparen(o.rhs)) and str(t_zero.rhs) != str(o_zero.rhs)


INTEGER_METRICS = frozenset(("up", metric_names.READY))
"""Series whose samples are whole numbers: ``up`` (1 or 0, Prometheus') and the app's
readiness gauge (1 or 0, ``app.metric_names.READY``)."""
INTEGER_FUNCTIONS = frozenset(
    ("resets", "changes", "count_over_time", "absent", "absent_over_time")
)
"""Functions whose values are whole numbers whatever their input."""
COMPARISONS = {">": "<", "<": ">", ">=": "<=", "<=": ">="}
"""Ordering comparisons and their mirror (``c < x`` is ``x > c``)."""


def _returns_bool(node) -> bool:
    """A comparison with the ``bool`` modifier (its values are 0/1, it filters nothing)."""
    return bool(node.modifier and node.modifier.return_bool)


def _integer_valued(node) -> bool:
    """Whether every value ``node`` can take is a whole number (conservative: ``False`` when
    not proved). Counts, the ``INTEGER_FUNCTIONS``, the ``INTEGER_METRICS``, sums, maxima and
    minima of whole numbers, and a filtering comparison of a whole-number left side."""
    kind = type(node).__name__
    if kind == "NumberLiteral":
        return float(node.val).is_integer()
    if kind == "ParenExpr":
        return _integer_valued(node.expr)
    if kind == "VectorSelector":
        return node.name in INTEGER_METRICS
    if kind == "Call":
        return node.func.name in INTEGER_FUNCTIONS
    if kind == "AggregateExpr":
        op = str(node.op)
        return op == "count" or (op in ("sum", "max", "min") and _integer_valued(node.expr))
    if kind == "BinaryExpr":
        op = str(node.op)
        filtering = op in (*COMPARISONS, "==", "!=") and not _returns_bool(node)
        if filtering or op in ("and", "unless"):
            return _integer_valued(node.lhs)
        if op in ("+", "-", "*", "or"):
            return _integer_valued(node.lhs) and _integer_valued(node.rhs)
    return False


def _whole_number_threshold(tree, original) -> bool:
    """Whether the only change from ``original`` to ``tree`` is an ordering comparison's
    number ``c -> c'`` against a whole-number side, with no whole number between them: ``x <
    c`` holds for the same whole ``x`` as ``x < c'`` when ``ceil(c) == ceil(c')`` (``>=``
    likewise; ``>`` and ``<=`` with ``floor``), so the rule's output cannot differ."""
    kind = type(tree).__name__
    if kind != type(original).__name__ or str(tree) == str(original):
        return False
    if kind in ("ParenExpr", "UnaryExpr"):
        return _whole_number_threshold(tree.expr, original.expr)
    if kind == "AggregateExpr":
        return _whole_number_threshold(tree.expr, original.expr)
    if kind != "BinaryExpr":
        return False
    op = str(tree.op)
    same_lhs, same_rhs = str(tree.lhs) == str(original.lhs), str(tree.rhs) == str(original.rhs)
    if op in COMPARISONS and not _returns_bool(tree) and (same_lhs != same_rhs):
        number, new, other = (
            (original.rhs, tree.rhs, tree.lhs) if same_lhs else (original.lhs, tree.lhs, tree.rhs)
        )
        if type(number).__name__ == "NumberLiteral" and type(new).__name__ == "NumberLiteral":
            op = op if same_lhs else COMPARISONS[op]  # as ``other op number``
            edge = math.ceil if op in ("<", ">=") else math.floor
            return _integer_valued(other) and edge(number.val) == edge(new.val)
    if same_lhs:
        return _whole_number_threshold(tree.rhs, original.rhs)
    if same_rhs:
        return _whole_number_threshold(tree.lhs, original.lhs)
    return False


def equivalence(mutant: Mutant) -> str | None:
    """Why ``mutant`` is an equivalent mutant (no test can kill it), or ``None``.

    Two rules, proved on the parsed expression (promql_parser). First, any dropped matcher
    inside the zero fill of ``(A or 0 * X) / D`` with ``X`` the denominator
    (``_only_the_zero_fill_changed``). Second, a dropped equality matcher
    ``L="v"`` when the mutated expression is still *local* and *restricted* in ``L``
    (``_service_scope``). Local: the output series with ``L=v`` are computed from the same
    input series as before, so they are unchanged; restricted: no output series has another
    ``L`` (e.g. ``a{job="x"} / b{job="x"}`` with the matcher dropped on ``a``: one-to-one
    matching on all labels drops the other jobs' ``a`` series again). The rule's output is then
    the same series with the same values, so no alert or record can differ.
    """
    if mutant.kind not in ("drop-matcher", "threshold-x0.9", "threshold-x1.1"):
        return None
    try:
        tree = promql_parser.parse(mutant.rule["expr"])
        original = promql_parser.parse(mutant.original_expr)
    except Exception:  # promql_parser raises plain exceptions on bad input
        return None
    if mutant.kind != "drop-matcher":
        if _whole_number_threshold(tree, original):
            return (
                f"{mutant.detail} against a whole-number value: no whole number lies between "
                "the two thresholds"
            )
        return None
    if _only_the_zero_fill_changed(tree, original):
        return (
            f"{mutant.detail} dropped in the zero fill (0 * X) of (A or 0 * X) / X: the "
            "division keeps only X's label sets, where 0 * X is 0 either way"
        )
    found = re.fullmatch(r'(\w+)\s*=\s*"([^"]*)"', mutant.detail)
    if not found:
        return None
    label, value = found.groups()
    local, restricted = _service_scope(tree, original, label, value)
    if local and restricted:
        return (
            f"{label}={value} dropped on one operand; vector matching on {label} and the "
            f"other operands' {label}={value} matchers keep the same series"
        )
    return None


# --- running ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """One promtool test group as a file of its own (so a mutant stops at its first failure)."""

    source: str
    content: dict
    cost: float

    def text(self) -> str:
        return yaml.safe_dump(self.content, sort_keys=False)


def _samples(values: str) -> int:
    """Samples in a promtool ``values`` string (``a+bxn`` and ``axn`` expand to n + 1)."""
    count = 0
    for part in str(values).split():
        match = re.search(r"x(\d+)$", part)
        count += int(match.group(1)) + 1 if match else 1
    return count


def units(tests_dir: Path = TESTS_DIR) -> list[Unit]:
    """Every test group of every committed test file, cheapest first (cost: input samples
    times evaluations, a proxy of promtool's time)."""
    result = []
    for path in sorted(tests_dir.glob("*.test.yaml")):
        content = yaml.safe_load(path.read_text())
        interval = duration_seconds(content.get("evaluation_interval", "1m"))
        for i, test in enumerate(content["tests"]):
            samples = sum(_samples(s["values"]) for s in test.get("input_series", []))
            times = [
                c["eval_time"]
                for key in ("alert_rule_test", "promql_expr_test")
                for c in test.get(key, [])
            ]
            horizon = max((_seconds(t) for t in times), default=0)
            unit = {**content, "rule_files": ["rules.yaml"], "tests": [test]}
            result.append(Unit(f"{path.name}#{i}", unit, samples * (1 + horizon / interval)))
    return sorted(result, key=lambda u: u.cost)


def _seconds(duration: str) -> int:
    """Seconds of a promtool eval_time such as ``1h4m`` or ``90s``."""
    return sum(
        int(n) * duration_seconds(f"1{u}") for n, u in re.findall(r"(\d+)([smhdw])", duration)
    )


def readers(groups: list[dict]) -> dict[str, set[str]]:
    """Rule name -> the names of every rule that reads it, directly or through records."""
    direct: dict[str, set[str]] = {}
    names = [r.get("alert") or r["record"] for g in groups for r in g["rules"]]
    for g in groups:
        for rule in g["rules"]:
            for name in names:
                if re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", rule["expr"]):
                    direct.setdefault(name, set()).add(rule.get("alert") or rule["record"])
    closure: dict[str, set[str]] = {}
    for name in names:
        seen, todo = {name}, [name]
        while todo:
            for reader in direct.get(todo.pop(), set()):
                if reader not in seen:
                    seen.add(reader)
                    todo.append(reader)
        closure[name] = seen
    return closure


def relevant_units(mutant: Mutant, all_units: list[Unit], reads: dict[str, set[str]]) -> list[Unit]:
    """The units that mention the mutated rule or a rule reading it (cheapest first)."""
    names = reads.get(mutant.rule_name, {mutant.rule_name})
    pattern = re.compile("|".join(rf"(?<![\w:]){re.escape(n)}(?![\w:])" for n in names))
    return [u for u in all_units if pattern.search(u.text())]


def run_mutant(mutant: Mutant, groups: list[dict], tests: list[Unit], promtool: str) -> str:
    """``killed``, ``survived`` or ``invalid`` (promtool refuses the mutated rules)."""
    changed = copy.deepcopy(groups)
    target = next(g for g in changed if g["name"] == mutant.group)
    target["rules"][mutant.index] = mutant.rule
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": changed}, sort_keys=False))
        check = subprocess.run(
            [promtool, "check", "rules", str(rules)], capture_output=True, check=False
        )
        if check.returncode:
            return "invalid"
        for n, unit in enumerate(tests):
            path = Path(tmp) / f"unit{n}.test.yaml"
            path.write_text(unit.text())
            result = subprocess.run(
                [promtool, "test", "rules", str(path)], capture_output=True, check=False
            )
            if result.returncode:
                return "killed"
        return "survived"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sample", action="store_true", help="the fixed CI sample, not all")
    parser.add_argument("--min-score", type=float, default=0.95, help="fail under this share")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="parallel promtool runs"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--match", default="", help="only mutants whose id contains this text")
    parser.add_argument(
        "--skip-group", action="append", default=[], help="leave out a rule group (repeatable)"
    )
    args = parser.parse_args(argv)
    promtool = shutil.which("promtool")
    if promtool is None:
        print("mutation: promtool not found (apt-get install prometheus)", file=sys.stderr)
        return 2
    groups = yaml.safe_load(generate.rules_path(CONFIG).read_text())["groups"]
    chosen = mutants(groups)
    if args.sample:
        chosen = sample(chosen)
    chosen = [m for m in chosen if args.match in m.key() and m.group not in args.skip_group]
    if args.list:
        for m in chosen:
            print(m.key())
        print(f"{len(chosen)} mutants")
        return 0
    all_units, reads = units(), readers(groups)
    equivalent = [(m, why) for m in chosen if (why := equivalence(m))]
    chosen = [m for m in chosen if not equivalence(m)]
    began = time.monotonic()

    def run(m: Mutant) -> str:
        return run_mutant(m, groups, relevant_units(m, all_units, reads), promtool)

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        outcomes = list(pool.map(run, chosen))
    elapsed = time.monotonic() - began
    survivors = [m for m, o in zip(chosen, outcomes, strict=True) if o == "survived"]
    invalid = [m for m, o in zip(chosen, outcomes, strict=True) if o == "invalid"]
    valid = len(chosen) - len(invalid)
    killed = valid - len(survivors)
    score = killed / valid if valid else 1.0
    for m in invalid:
        print(f"invalid  {m.key()}")
    for m, why in equivalent:
        print(f"equivalent {m.key()}  ({why})")
    for m in survivors:
        print(f"SURVIVED {m.key()}")
    kinds = sorted({m.kind for m in chosen})
    print(
        f"mutation score: {killed}/{valid} killed = {score:.1%} ({len(invalid)} invalid and "
        f"{len(equivalent)} equivalent left out, not run; "
        f"kinds: {', '.join(kinds)}; {elapsed:.0f}s with {args.jobs} jobs)"
    )
    if score < args.min_score:
        print(f"mutation: score {score:.1%} is under {args.min_score:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
