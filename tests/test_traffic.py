"""The traffic generator: target check, request mix and the rate bounds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from local import traffic
from local.traffic import MIX, TrafficError, TrafficGenerator, check_target


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:5000",
        "http://example.com:5000",
        "http://localhost:5000",
        "http://10.0.0.1:5000",
        "http://127.0.0.1",
        "http://127.0.0.1:5000/hello",
        "http://127.0.0.1:99999",
    ],
)
def test_only_the_local_app_is_a_target(url):
    with pytest.raises(TrafficError):
        check_target(url)


def test_a_local_url_is_accepted():
    assert check_target("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"


@pytest.mark.parametrize("rate", [0, -1, traffic.MAX_RATE + 1])
def test_rate_is_bounded(rate):
    with pytest.raises(TrafficError, match="rate"):
        TrafficGenerator("http://127.0.0.1:5000", rate=rate)


def classify(path: str, client) -> str:
    """What the app answers to ``path``, by status class of the mix."""
    status = client.get(path).status_code
    parts = urlsplit(path)
    if parts.path == "/hello" and "name" in parse_qs(parts.query, keep_blank_values=True):
        return {200: "hello_name", 400: "bad_request"}[status]
    return {(200, "/hello"): "hello", (200, "/"): "index"}.get((status, parts.path), str(status))


def test_the_mix_matches_its_weights_and_the_app_answers_as_intended(client):
    """Draws follow the weights (within 2 points) and each kind gets the intended answer."""
    generator = TrafficGenerator("http://127.0.0.1:5000", seed=7)
    draws = 5000
    kinds = Counter(classify(generator.next_path(), client) for _ in range(draws))
    kinds["not_found"] = kinds.pop("404", 0)
    assert set(kinds) == {k.name for k in MIX}
    for kind in MIX:
        assert abs(100 * kinds[kind.name] / draws - kind.weight) < 2, kinds


def test_the_invalid_names_are_invalid_and_the_names_valid(client):
    """The mix's names get 200 from the real app and its invalid names 400."""
    for name in traffic.NAMES:
        assert client.get("/hello", query_string={"name": name}).status_code == 200, name
    for name in traffic.INVALID_NAMES:
        assert client.get("/hello", query_string={"name": name}).status_code == 400, name


class _Server:
    """A local HTTP server answering 200 after ``delay`` seconds, counting requests."""

    def __init__(self, delay: float = 0.0) -> None:
        self.count = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.count += 1
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_requests_follow_the_rate():
    """20 requests/s for 1 s: about 20 requests, answered 200."""
    server = _Server()
    try:
        generator = TrafficGenerator(server.url, rate=20, seed=1)
        generator.run_for(1.0)
        time.sleep(0.3)  # the last answers
    finally:
        server.close()
    assert 17 <= server.count <= 21
    assert generator.snapshot()["200"] == server.count


def test_a_slow_app_gets_no_backlog():
    """All slots busy: due requests are skipped, never queued."""
    server = _Server(delay=1.5)
    try:
        generator = TrafficGenerator(server.url, rate=20, concurrency=1, seed=1)
        generator.run_for(1.0)
    finally:
        server.close()
    assert server.count == 1
    assert generator.skipped >= 15


def test_bad_rate_from_the_environment_is_a_usage_error(monkeypatch, capsys):
    """TRAFFIC_RATE=abc ends with argparse's message and exit 2, not a traceback."""
    monkeypatch.setenv(traffic.RATE_ENV, "abc")
    with pytest.raises(SystemExit) as raised:
        traffic.main(["--duration", "0"])
    assert raised.value.code == 2
    assert "invalid float value: 'abc'" in capsys.readouterr().err
