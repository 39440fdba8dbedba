"""The API's routes and JSON errors, through Flask's test client."""

from datetime import datetime

import pytest

from app import routes


def test_index_lists_every_endpoint(client):
    """GET / names the service, version, environment and each endpoint with a description."""
    body = client.get("/").get_json()
    assert body["service"] == "demo-app"
    assert body["version"] == "9.9.9"
    assert body["environment"] == "test"
    assert set(body["endpoints"]) == {"/", "/hello", "/healthz", "/readiness", "/metrics"}
    assert all(isinstance(text, str) and text for text in body["endpoints"].values())


def test_hello_greets_with_metadata(client):
    """GET /hello returns message, hostname, version, environment, UTC timestamp, request id."""
    response = client.get("/hello?name=Ada Lovelace-1_x")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["message"] == "Hello, Ada Lovelace-1_x!"
    assert body["hostname"] == "test-pod"
    assert body["version"] == "9.9.9"
    assert body["environment"] == "test"
    assert body["timestamp"].endswith("Z")  # UTC, written like the log lines' timestamps
    assert datetime.fromisoformat(body["timestamp"]).utcoffset().total_seconds() == 0
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_hello_without_name(client):
    """No name greets the world."""
    assert client.get("/hello").get_json()["message"] == "Hello, World!"


@pytest.mark.parametrize(
    "name",
    ["", "x" * 65, "<script>", "a/b", "Zoë", "tab\there", "semi;colon", "dot.", "abc\n", "a\x00"],
)
def test_hello_rejects_invalid_names(client, name):
    """A name outside 1-64 of letters, digits, space, - and _ is a 400 JSON error."""
    response = client.get("/hello", query_string={"name": name})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["status"] == 400
    assert "name" in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_hello_accepts_64_characters(client):
    """Exactly 64 allowed characters is still valid."""
    assert client.get("/hello", query_string={"name": "a" * 64}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/path", 404), ("POST", "/hello", 405), ("DELETE", "/", 405)],
)
def test_http_errors_are_json(client, method, path, status):
    """404 and 405 are JSON errors with the matching status, never HTML."""
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.content_type == "application/json"
    error = response.get_json()["error"]
    assert error["status"] == status
    assert error["message"]
    assert "<html" not in response.get_data(as_text=True).lower()


def test_405_names_the_allowed_methods(client):
    """A 405 keeps the Allow header."""
    assert "GET" in client.post("/hello").headers["Allow"]


def test_unhandled_exception_is_a_json_500_without_traceback(make_app):
    """An exception in a view is a 500 JSON error; the traceback stays out of the response."""
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["status"] == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_healthz(client):
    """Liveness is a constant 200 {"status": "ok"}."""
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readiness_waits_for_min_uptime(make_app):
    """503 until the minimum uptime has passed since the server start, 200 after."""
    import time

    app = make_app(readiness_min_uptime_seconds=60.0, server_started_at=time.time())
    response = app.test_client().get("/readiness")
    assert response.status_code == 503
    assert response.get_json()["status"] == "starting"
    started_long_ago = make_app(readiness_min_uptime_seconds=60.0, server_started_at=1.0)
    assert started_long_ago.test_client().get("/readiness").status_code == 200


def test_readiness_503_once_shutdown_begins(make_app, tmp_path):
    """The shutdown marker (written by the master on SIGTERM) flips readiness to 503."""
    app = make_app(multiproc_dir=tmp_path)
    client = app.test_client()
    assert client.get("/readiness").status_code == 200
    app.config["SERVER_STATE"].begin_shutdown()
    response = client.get("/readiness")
    assert (response.status_code, response.get_json()["status"]) == (503, "shutting_down")


def test_fault_injection_errors(make_app):
    """FAULT_ERROR_RATIO=1 makes every /hello a JSON 500; other routes are untouched."""
    client = make_app(fault_error_ratio=1.0).test_client()
    response = client.get("/hello")
    assert response.status_code == 500
    assert "injected fault" in response.get_json()["error"]["message"]
    assert client.get("/").status_code == 200


def test_fault_injection_latency(make_app):
    """FAULT_LATENCY_RATIO=1 delays every /hello by FAULT_LATENCY_SECONDS."""
    import time

    client = make_app(fault_latency_ratio=1.0, fault_latency_seconds=0.2).test_client()
    start = time.perf_counter()
    assert client.get("/hello").status_code == 200
    assert time.perf_counter() - start >= 0.2


def test_slow_route_only_with_test_setting(make_app):
    """/_test/slow exists only when the test-only setting enables it."""
    assert make_app().test_client().get("/_test/slow?seconds=0").status_code == 404
    enabled = make_app(test_routes_enabled=True).test_client()
    assert enabled.get("/_test/slow?seconds=0").get_json() == {"slept_seconds": 0.0}
    assert enabled.get("/_test/slow?seconds=99").status_code == 400


def test_endpoint_descriptions_match_routes(make_app):
    """Every documented endpoint is a real GET route of the app, and vice versa."""
    app = make_app()
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert rules == set(routes.ENDPOINTS)
