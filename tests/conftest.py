"""Shared fixtures: where external binaries and the offline schemas are, and how to miss them.

Tests that need an external binary (promtool, amtool, prometheus, kubectl, terraform, checkov,
wrk) call ``require_binary``: it returns the path, or skips with a clear reason - except under
``CI=true``, where a missing binary fails the run so a broken install step cannot go green.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SCHEMAS = SHARED / "schemas"
TOOLS_BIN = ROOT / ".venv-tools" / "bin"


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where nothing may be skipped for lack of a tool."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str, *candidates: str, hint: str = "") -> str:
    """Return the path of executable ``name`` (or of the first existing candidate path).

    Skips the calling test with a reason naming the binary and ``hint`` (how to install it);
    under CI=true it fails instead.
    """
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} not found on PATH" + (f" ({hint})" if hint else "")
    if in_ci():
        pytest.fail(f"{reason}; CI must install it (see .ci/run)")
    pytest.skip(reason)


def require_schemas() -> Path:
    """Return ``../shared/schemas``, or skip (fail under CI) when the folder is absent."""
    if not SCHEMAS.is_dir():
        reason = f"offline schemas not found at {SCHEMAS}"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return SCHEMAS


def checkov_binary() -> str:
    """The pinned checkov from the tool environment (``make tools``)."""
    return require_binary(
        "checkov", str(TOOLS_BIN / "checkov"), hint="run `make tools` to create .venv-tools"
    )


@pytest.fixture
def make_app(tmp_path):
    """Build an app from keyword settings (readiness immediate, cgroups from a fake v2 tree)."""
    from app import create_app
    from app.settings import Settings
    from tests.support.cgroups import write_v2_tree

    def build(**overrides):
        defaults = {
            "readiness_min_uptime_seconds": 0.0,
            "cgroup_root": write_v2_tree(tmp_path / "cgroup"),
            "hostname": "test-pod",
            "app_version": "9.9.9",
            "app_env": "test",
        }
        defaults.update(overrides)
        app = create_app(Settings(**defaults))
        app.test_client_class = _DeliveringClient
        return app

    return build


class _DeliveringClient(FlaskClient):
    """A test client that reads and closes every response, as a real server does: the app
    counts and logs a request once its response is delivered (app.instrumentation)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(make_app):
    """A Flask test client on an app with default test settings."""
    return make_app().test_client()
