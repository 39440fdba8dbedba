"""How Grafana reads parts of a dashboard's JSON, for tests that check what a reader sees."""

from __future__ import annotations


def threshold_color(steps: list[dict], value: float) -> str:
    """The colour Grafana gives ``value`` under threshold ``steps`` (absolute mode): the colour
    of the last step whose value is <= ``value``; the first step (value null) is the base."""
    color = steps[0]["color"]
    for step in steps[1:]:
        if value >= step["value"]:
            color = step["color"]
    return color
