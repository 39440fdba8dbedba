"""``make bench-series``: Prometheus' heap per series of this app, measured, not a rule of thumb.

1. Starts the real server (cgroup v2 tree with limits), hits every route with every status as
   ``tests/integration/test_series_budget.py`` does, and keeps one ``/metrics`` body: one pod.
2. Serves that body on 127.0.0.1 and starts the real Prometheus (``GOGC=20`` so its heap
   tracks the live set) scraping only itself; reads ``go_memstats_heap_inuse_bytes`` and
   ``prometheus_tsdb_head_series`` (medians of several readings) after it settled.
3. Reloads the configuration with ``--pods`` synthetic pods (one target each, the same body,
   a distinct ``pod`` label), waits ``--seconds`` of scrapes and reads the figures again.

Bytes per series = heap difference / head series difference. It includes the head's chunks of
the samples scraped so far (``--seconds`` at a 5 s interval), the index and the label strings,
and grows a little as the head chunk fills (up to 120 samples) before the 2 h head compaction.

Usage: ``python -m tests.benchmark.series_memory [--pods 200] [--seconds 120]``.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.integration.test_series_budget import exercise_every_route
from tests.support.cgroups import write_v2_tree
from tests.support.server import GunicornServer, free_port

INTERVAL = "5s"


def one_pod_exposition(workdir: Path) -> bytes:
    """The ``/metrics`` body of one pod after every route was hit with every status."""
    cgroup = write_v2_tree(workdir / "cgroup")
    env = {"DEMO_APP_CGROUP_ROOT": str(cgroup), "FAULT_ERROR_RATIO": "0.5"}
    with GunicornServer(workdir, env={**env, "SHUTDOWN_DRAIN_SECONDS": "30"}) as srv:
        return exercise_every_route(srv).encode()


def serve(body: bytes) -> int:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return port


def write_config(path: Path, prometheus_port: int, pod_port: int, pods: int) -> None:
    lines = [
        f"global: {{scrape_interval: {INTERVAL}, evaluation_interval: {INTERVAL}}}",
        "scrape_configs:",
        "  - job_name: prometheus",
        f"    static_configs: [{{targets: ['127.0.0.1:{prometheus_port}']}}]",
    ]
    if pods:
        lines += ["  - job_name: demo-app", "    static_configs:"]
        lines += [
            f"      - {{targets: ['127.0.0.1:{pod_port}'], labels: {{pod: demo-app-{n}}}}}"
            for n in range(pods)
        ]
    path.write_text("\n".join(lines) + "\n")


def figures(url: str, readings: int = 10) -> tuple[float, float]:
    """Medians of (heap in use bytes, head series) over ``readings`` 2 s apart."""
    heap, series = [], []
    for _ in range(readings):
        text = requests.get(url + "/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith("go_memstats_heap_inuse_bytes "):
                heap.append(float(line.split()[1]))
            elif line.startswith("prometheus_tsdb_head_series "):
                series.append(float(line.split()[1]))
        time.sleep(2)
    return statistics.median(heap), statistics.median(series)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="demo-app-bench-series-") as tmp:
        workdir = Path(tmp)
        body = one_pod_exposition(workdir)
        pod_port = serve(body)
        port = free_port()
        config = workdir / "prometheus.yml"
        write_config(config, port, pod_port, 0)
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            env={**os.environ, "GOGC": "20"},
            stdout=(workdir / "prometheus.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            time.sleep(30)
            heap_before, series_before = figures(url)
            write_config(config, port, pod_port, args.pods)
            requests.post(url + "/-/reload", timeout=30).raise_for_status()
            time.sleep(args.seconds)
            heap_after, series_after = figures(url)
        finally:
            process.terminate()
            process.wait(60)
    per_pod = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    added = series_after - series_before
    print(f"one pod exports {per_pod} series (+5 per target from Prometheus: up, scrape_*)")
    print(
        f"head series {series_before:.0f} -> {series_after:.0f} (+{added:.0f}, {args.pods} pods); "
        f"heap in use {heap_before / 2**20:.1f} -> {heap_after / 2**20:.1f} MiB"
    )
    print(
        f"heap per series: {(heap_after - heap_before) / added:.0f} bytes "
        f"(after {args.seconds} s of {INTERVAL} scrapes, GOGC=20, Prometheus 2.42)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
