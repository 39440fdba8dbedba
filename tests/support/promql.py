"""Metric names in PromQL expressions, read with promql-parser (the Rust parser's bindings).

Used by the e2e tests to check that every series a rule or a dashboard reads exists.
"""

from __future__ import annotations

import promql_parser

from app import metric_names

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names_in(expr: str) -> set[str]:
    """Every metric name selected by ``expr`` (vector and range selectors, subqueries included).

    A selector names its metric either as ``name{...}`` or with a ``__name__="name"`` matcher.

    Raises:
        ValueError: ``expr`` does not parse (the parser's message), or a selector has no exact
            metric name (e.g. ``{__name__=~"a|b"}``), which no existence check could resolve.
    """
    names: set[str] = set()
    problems: list[str] = []

    def visit(node: object) -> None:
        if not isinstance(node, promql_parser.VectorSelector):
            return
        if node.name:
            names.add(node.name)
            return
        exact = [
            m.value
            for m in node.matchers.matchers
            if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
        ]
        if not exact:
            problems.append(f"selector without an exact metric name: {node}")
        names.update(exact)

    promql_parser.walk(promql_parser.parse(expr), visit)
    if problems:
        raise ValueError(f"{expr!r}: " + "; ".join(problems))
    return names


def app_series_names() -> set[str]:
    """Every series name the app exposes as PromQL sees it (histograms with their suffixes)."""
    names = set(metric_names.ALL_METRICS)
    names |= {metric_names.HTTP_REQUEST_DURATION + suffix for suffix in HISTOGRAM_SUFFIXES}
    return names
