"""``make bench``: throughput, latency and memory of the production command under wrk.

Not a test: it measures and prints. One run alternates three configurations in several rounds
(so drift of a shared machine hits all alike) and reports medians and the median ratio:

* ``instrumented``: the app as shipped (RED metrics on);
* ``bare``: the same app with ``METRICS_ENABLED=false``;
* ``pfe``: the same app instrumented by prometheus_flask_exporter's defaults instead.

Then, on the instrumented server: ``/metrics`` latency after 100k requests, and the PSS memory
(proportional set size: shared pages divided among sharers, so master + workers add up) of
master plus workers after warm-up traffic. Then the slow-client figures
(``tests.benchmark.slow_clients``). Last, the churn section (``tests.benchmark.churn``):
``/metrics`` fresh and after 500 and 2,000 worker deaths.

Usage: ``python -m tests.benchmark.run [--rounds N] [--seconds S] [--connections C]``.
Requires ``wrk`` (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

from tests.benchmark import churn, slow_clients
from tests.support.server import GunicornServer

CONFIGS = {
    "instrumented": ({"METRICS_ENABLED": "true"}, None),
    "bare": ({"METRICS_ENABLED": "false"}, None),
    "pfe": ({}, "tests.benchmark.pfe_app:create_pfe_app()"),
}
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk(url: str, seconds: int, connections: int, threads: int = 2) -> tuple[float, float, int]:
    """Run wrk against ``url``: (requests/s, p99 latency in seconds, requests completed)."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    return rps, float(value) * _UNITS[unit], total


def start(workdir: Path, name: str) -> GunicornServer:
    env, app_uri = CONFIGS[name]
    server = GunicornServer(
        workdir / name, env={**env, "LOG_LEVEL": "INFO"}, multiproc_dir=workdir / name / "mp"
    )
    (workdir / name).mkdir(parents=True, exist_ok=True)
    if app_uri:
        server.extra_args = [app_uri]
    server.log_path = Path("/dev/null")
    return server.start()


def pss_bytes(server: GunicornServer) -> int:
    """PSS of the master plus its workers, bytes."""
    master = psutil.Process(server.process.pid)
    return sum(p.memory_full_info().pss for p in [master, *master.children()])


def _fmt(rps: float, p99_seconds: float) -> str:
    return f"{rps:8.0f} req/s  p99 {p99_seconds * 1e3:6.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="demo-app-bench-") as tmp:
        workdir = Path(tmp)
        for round_number in range(1, args.rounds + 1):
            for name in CONFIGS:
                with start(workdir / f"r{round_number}", name) as server:
                    wrk(server.url("/hello"), 2, args.connections)  # warm-up
                    rps, p99, _ = wrk(server.url("/hello"), args.seconds, args.connections)
                    results[name].append((rps, p99))
                    print(f"round {round_number} {name:>12}: {_fmt(rps, p99)}")

        print()
        median = {n: statistics.median(r for r, _ in v) for n, v in results.items()}
        median_p99 = {n: statistics.median(p for _, p in v) for n, v in results.items()}
        for name in CONFIGS:
            print(f"median  {name:>12}: {_fmt(median[name], median_p99[name])}")
        ratio_bare = statistics.median(
            i[0] / b[0] for i, b in zip(results["instrumented"], results["bare"], strict=True)
        )
        ratio_pfe = statistics.median(
            p[0] / b[0] for p, b in zip(results["pfe"], results["bare"], strict=True)
        )
        print(f"median ratio instrumented/bare: {ratio_bare:.3f} (target >= 0.95)")
        print(f"median ratio pfe/bare:          {ratio_pfe:.3f} (instrumented must not be lower)")

        with start(workdir / "metrics", "instrumented") as server:
            served = 0
            while served < 100_000:
                served += wrk(server.url("/hello"), 10, args.connections)[2]
            latencies = []
            for _ in range(200):
                begin = time.perf_counter()
                requests.get(server.url("/metrics"), timeout=10).raise_for_status()
                latencies.append(time.perf_counter() - begin)
            latencies.sort()
            median_ms = statistics.median(latencies) * 1e3
            p99_ms = latencies[int(len(latencies) * 0.99) - 1] * 1e3
            print(
                f"/metrics after {served} requests: median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms"
            )
            pss = pss_bytes(server)
            workers = len(server.worker_pids())
            mib = pss / 2**20
            print(f"PSS master + {workers} workers after warm-up: {mib:.1f} MiB (target <= 64)")

        print()
        slow_clients.run(workdir / "slow-clients")
        churn.run(workdir / "churn", [500, 2000], scrapes=200)  # worker deaths
    return 0


if __name__ == "__main__":
    sys.exit(main())
