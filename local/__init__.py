"""The local stack and the command-line tools: the top layer.

``local.stack`` (``make run``) starts the app, Prometheus, Alertmanager and Grafana on 127.0.0.1
with configuration built by the generators (``alerts``, ``dashboards``) from
``monitoring.config``; ``local.traffic`` (``make traffic``) sends a request mix to the app.
Nothing outside ``local`` and ``tests`` imports this package.
"""
