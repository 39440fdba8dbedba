"""JSON log lines, the access line, and request-id binding, through the test client."""

import json
import logging

import pytest


@pytest.fixture
def logged(make_app, capsys):
    """Open an app client; return it and a function giving the JSON records written since.

    The app is built when the test calls this (not during fixture set-up): the log handler
    binds sys.stdout at configuration time, and capsys swaps sys.stdout only for the test call.
    """

    def open_client():
        client = make_app().test_client()
        capsys.readouterr()

        def records():
            out = capsys.readouterr().out
            return [json.loads(line) for line in out.splitlines() if line.strip()]

        return client, records

    return open_client


def test_access_line_per_request(logged):
    """One access line per request with method, path, route, status, duration, client, id."""
    client, records = logged()
    response = client.get("/hello?name=Bo")
    [line] = records()
    assert line["logger"] == "app.access"
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert line["method"] == "GET"
    assert line["path"] == "/hello"
    assert line["route"] == "/hello"
    assert line["status"] == 200
    assert isinstance(line["duration_seconds"], float)
    assert line["client"] == "127.0.0.1"
    assert line["request_id"] == response.headers["X-Request-ID"]


def test_valid_request_id_is_used_and_echoed(logged):
    """A valid X-Request-ID is echoed and bound to the request's lines."""
    client, records = logged()
    response = client.get("/", headers={"X-Request-ID": "abc.DEF-123_x"})
    assert response.headers["X-Request-ID"] == "abc.DEF-123_x"
    assert [r["request_id"] for r in records()] == ["abc.DEF-123_x"]


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", 'quote"d', "ünï"])
def test_invalid_request_id_is_replaced_and_never_logged(logged, bad):
    """An invalid X-Request-ID is replaced by a generated one and never reaches the logs."""
    client, records = logged()
    response = client.get("/", headers={"X-Request-ID": bad})
    generated = response.headers["X-Request-ID"]
    assert generated != bad and len(generated) == 32
    lines = records()
    assert all(bad not in json.dumps(r) for r in lines)
    assert [r["request_id"] for r in lines] == [generated]


def test_request_id_does_not_leak_into_later_lines(logged):
    """After a request, lines logged outside any request carry no request id."""
    client, records = logged()
    client.get("/", headers={"X-Request-ID": "first-request"})
    logging.getLogger("gunicorn.error").info("a server line")
    client.get("/")
    lines = records()
    assert lines[0]["request_id"] == "first-request"
    assert lines[1]["logger"] == "gunicorn.error" and "request_id" not in lines[1]
    assert lines[2]["request_id"] != "first-request"


def test_error_lines_are_json_with_exception(make_app, capsys):
    """An unhandled exception is logged as one JSON line with the traceback inside."""
    app = make_app()

    @app.get("/boom")
    def boom():
        raise ValueError("kaput")

    client = app.test_client()
    capsys.readouterr()
    client.get("/boom", headers={"X-Request-ID": "boom-1"})
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    error = next(r for r in lines if r["logger"] == "app.errors")
    assert error["level"] == "error"
    assert "ValueError: kaput" in error["exception"]
    assert error["request_id"] == "boom-1"
    access = next(r for r in lines if r["logger"] == "app.access")
    assert access["status"] == 500


@pytest.mark.parametrize("bad", ["abc\n", "x" * 129, "", None, "a b"])
def test_request_id_from_rejects_whole_value_only(bad):
    """Validation covers the whole value: a trailing newline is not "1-128 of A-Za-z0-9._-"."""
    from app.instrumentation import request_id_from

    generated = request_id_from(bad)
    assert generated != bad and len(generated) == 32
    assert request_id_from("ok-1.2_3") == "ok-1.2_3"
