"""The benchmark's comparison app: our app with its own instrumentation off and
prometheus_flask_exporter's defaults on (its gunicorn multiprocess flavour).

Loaded by gunicorn as ``tests.benchmark.pfe_app:create_pfe_app()`` with the same config module.
"""

from __future__ import annotations

import dataclasses


def create_pfe_app():
    """Our app, ``metrics_enabled=False``, instrumented by ``GunicornPrometheusMetrics``."""
    from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

    from app import create_app
    from app.settings import Settings

    app = create_app(dataclasses.replace(Settings.from_env(), metrics_enabled=False))
    GunicornPrometheusMetrics(app)  # the exporter's defaults: by method, path and status
    return app
