"""``make bench``'s churn section: the cost of a scrape as workers die (``app.compaction``).

One instrumented server (2 workers). Each "death" is: a few requests to the worker set (so the
dying worker's files hold real series), then kill -9 of one idle worker, then a wait for its
replacement. ``/metrics`` median and p99 and the multiprocess directory's size are measured
fresh, after 500 and after 2,000 deaths, in one run, each beside a fresh control server.
Target (issue 13): after 2,000 deaths the scrape costs <= 2x fresh + 5 ms. Without compaction
the directory would hold ~2 files (27 KiB) per death and the scrape read them all (1.47 s after
2,000 deaths, issue 13).

Usage: ``python -m tests.benchmark.churn [--deaths 500,2000] [--scrapes 200]``; ``make bench``
runs it after the throughput section (``tests.benchmark.run``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.server import GunicornServer

WORKERS = 2


def scrape_latency(servers: list[GunicornServer], scrapes: int) -> list[tuple[float, float]]:
    """(median, p99) of ``scrapes`` ``/metrics`` requests per server, seconds.

    The servers' scrapes alternate, so the load of a shared machine hits each alike.
    """
    sessions = [requests.Session() for _ in servers]
    latencies: list[list[float]] = [[] for _ in servers]
    for _ in range(scrapes):
        for server, session, out in zip(servers, sessions, latencies, strict=True):
            begin = time.perf_counter()
            session.get(server.url("/metrics"), timeout=30).raise_for_status()
            out.append(time.perf_counter() - begin)
    result = []
    for out in latencies:
        out.sort()
        result.append((statistics.median(out), out[max(0, int(len(out) * 0.99) - 1)]))
    return result


def directory_size(directory: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) of the ``*.db`` files in ``directory``."""
    files = [directory / name for name in os.listdir(directory) if name.endswith(".db")]
    stats = [path.stat() for path in files]
    return len(files), sum(s.st_size for s in stats), sum(s.st_blocks * 512 for s in stats)


def die_once(server: GunicornServer, number: int) -> None:
    """Traffic on a few routes and statuses, then kill -9 one worker and wait for its successor."""
    for path in ("/hello", "/", "/healthz"):
        server.get(path)
    if number % 5 == 0:
        server.get("/no-such-page")  # a 404 series under <unmatched>
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        pids = [p for p in server.worker_pids() if p != victim]
        if len(pids) == WORKERS:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no replacement for worker {victim}:\n{server.log()[-2000:]}")
        time.sleep(0.005)
    server.wait_healthy()


def run(workdir: Path, checkpoints: list[int], scrapes: int) -> list[str]:
    """Measure fresh and at each checkpoint (cumulative deaths); return the report lines.

    A second, never-churned server (the control, same traffic once) is scraped alternately
    with the churned one at every checkpoint: the ratio churned/control is what churn costs,
    whatever else the machine does meanwhile.
    """
    servers = []
    for name in ("churned", "control"):
        server = GunicornServer(
            workdir / name, env={"WEB_CONCURRENCY": str(WORKERS), "LOG_LEVEL": "WARNING"}
        )
        (workdir / name).mkdir(parents=True, exist_ok=True)
        server.log_path = Path("/dev/null")
        servers.append(server.start())
    churned = servers[0]
    lines = []
    try:
        for server in servers:
            for path in ("/hello", "/", "/healthz", "/no-such-page"):
                server.get(path)
        deaths = 0
        last = None
        for target in [0, *checkpoints]:
            begin = time.monotonic()
            while deaths < target:
                deaths += 1
                die_once(churned, deaths)
            churn_seconds = time.monotonic() - begin
            (median, p99), (fresh, fresh_p99) = scrape_latency(servers, scrapes)
            files, size, allocated = directory_size(churned.multiproc_dir)
            lines.append(
                f"churn: after {deaths:5d} deaths: /metrics median {median * 1e3:6.2f} ms, "
                f"p99 {p99 * 1e3:6.2f} ms (fresh control: {fresh * 1e3:6.2f} / "
                f"{fresh_p99 * 1e3:6.2f} ms, ratio {median / fresh:.2f}); {files} .db files, "
                f"{size / 1024:.0f} KiB apparent, {allocated / 1024:.0f} KiB allocated"
                + (f" ({churn_seconds:.0f} s of churn)" if deaths else "")
            )
            print(lines[-1], flush=True)
            last = (deaths, median, fresh)
        deaths, median, fresh = last
        budget = 2 * fresh + 0.005
        verdict = "met" if median <= budget else "MISSED"
        lines.append(
            f"churn: after {deaths} deaths {median * 1e3:.2f} ms; target <= 2x fresh + 5 ms = "
            f"{budget * 1e3:.2f} ms: {verdict}"
        )
        print(lines[-1], flush=True)
    finally:
        for server in servers:
            server.kill()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deaths", default="500,2000", help="cumulative checkpoints")
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args(argv)
    checkpoints = sorted(int(n) for n in args.deaths.split(","))
    with tempfile.TemporaryDirectory(prefix="demo-app-churn-") as tmp:
        run(Path(tmp), checkpoints, args.scrapes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
