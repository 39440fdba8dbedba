"""A small client of the Prometheus and Alertmanager HTTP APIs for the e2e tests.

Every wait is bounded: it polls until a deadline and then fails with what it last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests


class Prometheus:
    """The HTTP API v1 of one Prometheus server at ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _get(self, path: str, **params: Any) -> Any:
        response = requests.get(self.base_url + path, params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector ``expr`` evaluates to now: ``[{"metric": {...}, "value": [t, v]}]``.

        Raises:
            AssertionError: Prometheus rejects the query (message included) or it is no vector.
        """
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        if data["resultType"] not in ("vector", "matrix"):
            raise AssertionError(f"{expr}: unexpected result type {data['resultType']}")
        return data["result"]

    def wait_for(
        self,
        expr: str,
        deadline: float,
        accept: Callable[[list[dict]], bool] = bool,
    ) -> list[dict]:
        """Poll ``expr`` until ``accept(result)`` (default: non-empty) or ``deadline`` (monotonic).

        Raises:
            AssertionError: the deadline passed; the message holds the last result.
        """
        while True:
            result = self.query(expr)
            if accept(result):
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"{expr}: not satisfied in time; last result {result}")
            time.sleep(1.0)

    def alerts(self) -> list[dict]:
        """Active (pending and firing) alerts: ``[{"labels", "state", "activeAt", ...}]``."""
        return self._get("/api/v1/alerts")["alerts"]

    def rule_groups(self) -> list[dict]:
        """Loaded rule groups with their rules' health and last evaluation."""
        return self._get("/api/v1/rules")["groups"]

    def targets(self) -> list[dict]:
        """Active scrape targets with their labels and health."""
        return self._get("/api/v1/targets")["activeTargets"]


def sample_value(sample: dict) -> float:
    """The float value of one instant-vector sample."""
    return float(sample["value"][1])
