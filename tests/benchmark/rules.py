"""``make bench-rules``: what the SLO rules cost Prometheus on 30 days of data, 10 and 50 pods.

Not a test: it measures and prints. For each fleet size it

1. generates 30 days ending now of only the series the SLO rules read - the request counter per
   API route (``/``, ``/hello``) and status (200, 500), the SLO bucket (``le="0.25"``), ``+Inf``
   and ``_count`` - per pod, at 60 s resolution, with a diurnal traffic curve and four
   incidents (an availability outage, an error burst, a slow burn, a latency incident); written
   in daily OpenMetrics chunks and backfilled with ``promtool tsdb create-blocks-from
   openmetrics``;
2. starts the real Prometheus on the blocks and waits until its compaction settles;
3. backfills the recorded inputs the alternatives need with ``promtool tsdb
   create-blocks-from rules`` (60 s evaluation interval), restarts Prometheus on them;
4. times each SLO expression as an instant query at a fixed time (the data's end) with the
   query API's ``stats=all``: samples touched (load-independent) and evaluation time (median of
   ``--repeat`` runs; the machine's load moves it), beside its group's interval.

Variants of the 30-day SLI:

* ``exact``: the shipped rules (``alerts.slo.error_ratio_expr``): ratio of sums of
  ``rate(...[30d])`` over the raw counters;
* ``sloth``: ``avg_over_time`` of the recorded 5m ratio over 30d (Sloth's form): cheap, but an
  average of ratios weighs a quiet hour like a busy one;
* ``recorded-sums``: a cheaper exact form: the fast group records the per-service 5m rates of
  the bad and of all events; the 30d ratio is ``sum_over_time(bad[30d]) /
  sum_over_time(all[30d])`` - a ratio of sums again, weighting every request alike.

Scale: samples read grow linearly with resolution, so a 15 s scrape reads 4x the raw samples
of these 60 s figures (a 30 s scrape 2x); the report scales evaluation time by the same factor
to compare with the goal (<= 10 % of the group's interval at 50 pods). Prometheus 2.42 here;
3.x in clusters may differ (its query engine and chunk formats changed).

Usage: ``python -m tests.benchmark.rules [--pods 10,50] [--repeat 5] [--keep DIR]``.
Requires ``prometheus`` and ``promtool`` (Debian package ``prometheus``).
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

from alerts.slo import error_ratio_expr, fast_windows
from app import metric_names
from monitoring.config import MonitoringConfig, duration_seconds
from tests.support.server import free_port

CONFIG = MonitoringConfig()
DAYS = 30
STEP = 60  # seconds between samples
SCRAPE_SCALE = {"15s": 4, "30s": 2}
ROUTES = ("/", "/hello")
FAST_INTERVAL_SECONDS = 30  # kube-prometheus-stack's global evaluation interval (alerts/slo.py)
# (start day, start hour, hours, 5xx share, slow share): inside the 30 days.
INCIDENTS = (
    (3, 14, 0.5, 1.0, 0.0),  # a 30 min outage: every request fails
    (11, 2, 2.0, 0.2, 0.0),  # an error burst at night
    (17, 9, 12.0, 0.01, 0.0),  # a slow burn of 1 % errors over a working day
    (24, 18, 4.0, 0.0, 0.3),  # a latency incident: 30 % slower than the SLO bound
)
BASE_ERROR = 0.0003
BASE_SLOW = 0.004


def _shares(minute: int) -> tuple[float, float, float]:
    """(requests per minute per pod and route, 5xx share, slow share) at ``minute`` of 30 days."""
    day_phase = (minute % 1440) / 1440
    rpm = 300 * (1 + 0.7 * math.sin(2 * math.pi * (day_phase - 0.25)))  # busy afternoon
    errors, slow = BASE_ERROR, BASE_SLOW
    for day, hour, hours, error_share, slow_share in INCIDENTS:
        start = day * 1440 + hour * 60
        if start <= minute < start + hours * 60:
            errors, slow = max(errors, error_share), max(slow, slow_share)
    return rpm, errors, slow


def base_counters(minutes: int) -> list[tuple[float, float, float]]:
    """Cumulative (all, 5xx, slow) requests of one pod and route at the end of each minute."""
    total = bad = slow = 0.0
    out = []
    for minute in range(minutes):
        rpm, error_share, slow_share = _shares(minute)
        total += rpm
        bad += rpm * error_share
        slow += rpm * slow_share
        out.append((total, bad, slow))
    return out


def write_day(path: Path, day: int, start: int, pods: int, base: list) -> None:
    """One day of every series in OpenMetrics (families contiguous, timestamps in seconds).

    Pods differ by a factor of ``1 + (pod % 5) / 10``: the day's `` value timestamp`` lines are
    built once per factor and series kind and joined behind each series' labels (C-speed
    ``str.join``), so generation costs far less than promtool's parse.
    """
    sel = f'job="{CONFIG.app_name}",namespace="{CONFIG.namespace}"'
    le = next(s.latency_threshold_seconds for s in CONFIG.slos if s.latency_threshold_seconds)
    minutes = range(day * 1440, (day + 1) * 1440)
    # (family, label suffix, value of a cumulative (all, 5xx, slow) triple)
    kinds = (
        (metric_names.HTTP_REQUESTS, ',status="200"', lambda b: b[0] - b[1]),
        (metric_names.HTTP_REQUESTS, ',status="500"', lambda b: b[1]),
        (f"{metric_names.HTTP_REQUEST_DURATION}_bucket", f',le="{le}"', lambda b: b[0] - b[2]),
        (f"{metric_names.HTTP_REQUEST_DURATION}_bucket", ',le="+Inf"', lambda b: b[0]),
        (f"{metric_names.HTTP_REQUEST_DURATION}_count", "", lambda b: b[0]),
    )
    tails = {
        (factor_class, k): [
            f"{round(value(base[m]) * (1 + factor_class / 10))} {start + (m + 1) * STEP}\n"
            for m in minutes
        ]
        for factor_class in range(5)
        for k, (_, _, value) in enumerate(kinds)
    }
    with path.open("w") as out:
        for family in dict.fromkeys(kind[0] for kind in kinds):  # a family stays contiguous
            for k, (name, suffix, _) in enumerate(kinds):
                if name != family:
                    continue
                for pod in range(pods):
                    for route in ROUTES:
                        labels = f'{sel},pod="demo-app-{pod}",method="GET",route="{route}"'
                        prefix = f"{name}{{{labels}{suffix}}} "
                        out.write(prefix + prefix.join(tails[(pod % 5, k)]))
        out.write("# EOF\n")


class Prometheus:
    """The real Prometheus on a data directory (no scrape targets), on a free port."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log = data, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = data.parent / "prometheus.yml"
        config.write_text("global: {evaluation_interval: 1m}\n")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=400d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Prometheus not ready: {log.read_text()[-2000:]}")

    def metric(self, name: str) -> float:
        text = requests.get(self.url + "/metrics", timeout=10).text
        return sum(
            float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
        )

    def settle(self, quiet_seconds: float = 30, timeout: float = 900) -> None:
        """Wait until no compaction ran for ``quiet_seconds`` (the blocks are final)."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            figures = (
                self.metric("prometheus_tsdb_compactions_total"),
                self.metric("prometheus_tsdb_blocks_loaded"),
            )
            if figures != last:
                last, since = figures, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return
            time.sleep(2)

    def query(self, expr: str, at: float) -> dict:
        response = requests.get(
            self.url + "/api/v1/query",
            params={"query": expr, "time": at, "stats": "all"},
            timeout=600,
        )
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{expr}: {body.get('error')}")
        return body["data"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(120)


def measure(prom: Prometheus, expr: str, at: float, repeat: int) -> tuple[float, int, float]:
    """(value of the first series or NaN, samples touched, median evaluation seconds)."""
    runs = [prom.query(expr, at) for _ in range(repeat)]
    result = runs[0]["result"]
    value = float(result[0]["value"][1]) if result else float("nan")
    samples = int(runs[0]["stats"]["samples"]["totalQueryableSamples"])
    seconds = statistics.median(float(r["stats"]["timings"]["evalTotalTime"]) for r in runs)
    return value, samples, seconds


def alternative_rules() -> dict:
    """The recording rules the alternatives read, backfilled at the data's resolution."""
    rules = []
    api = "{" + CONFIG.selector + ", " + CONFIG.api_route_matcher + "}"
    for slo in CONFIG.slos:
        labels = {"slo": slo.name}
        rules.append(
            {
                "record": "slo:sli_error:ratio_rate5m",
                "expr": error_ratio_expr(CONFIG, slo, "5m"),
                "labels": labels,
            }
        )
        if slo.latency_threshold_seconds is None:
            total = metric_names.HTTP_REQUESTS
            bad = (
                f"sum by (job, namespace) (rate({total}{{{CONFIG.selector}, "
                f"{CONFIG.api_route_matcher}, {CONFIG.server_error_matcher}}}[5m]))"
            )
        else:
            total = f"{metric_names.HTTP_REQUEST_DURATION}_count"
            bucket = f"{metric_names.HTTP_REQUEST_DURATION}_bucket"
            bad = (
                f"sum by (job, namespace) (rate({total}{api}[5m])) - sum by (job, namespace) "
                f"(rate({bucket}{{{CONFIG.selector}, {CONFIG.api_route_matcher}, "
                f'le="{slo.latency_threshold_seconds}"}}[5m]))'
            )
        rules.append({"record": "slo:sli_events:rate5m", "expr": f"sum by (job, namespace) "
                      f"(rate({total}{api}[5m]))", "labels": labels})  # fmt: skip
        rules.append({"record": "slo:sli_bad_events:rate5m", "expr": bad, "labels": labels})
    return {"groups": [{"name": "bench-alternatives", "interval": f"{STEP}s", "rules": rules}]}


def variants(slo_name: str) -> dict[str, str]:
    sel = f'{{{CONFIG.selector}, slo="{slo_name}"}}'
    return {
        "sloth": f"avg_over_time(slo:sli_error:ratio_rate5m{sel}[30d])",
        "recorded-sums": (
            f"sum_over_time(slo:sli_bad_events:rate5m{sel}[30d])"
            f" / sum_over_time(slo:sli_events:rate5m{sel}[30d])"
        ),
    }


def run_fleet(workdir: Path, pods: int, end: int, repeat: int, days: int = DAYS) -> list[str]:
    """Backfill, start, measure one fleet size; return (and print) the report lines."""
    lines = []
    start = end - days * 86400
    data = workdir / "data"
    data.mkdir(parents=True)
    log = workdir / "prometheus.log"
    began = time.monotonic()
    base = base_counters(days * 1440)
    for day in range(days):
        chunk = workdir / f"day-{day:02d}.om"
        write_day(chunk, day, start, pods, base)
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(chunk), str(data)],
            check=True,
            capture_output=True,
        )
        chunk.unlink()
    backfill = time.monotonic() - began
    prom = Prometheus(data, log)
    try:
        prom.settle()
        rules_file = workdir / "alternatives.rules.yaml"
        rules_file.write_text(yaml.safe_dump(alternative_rules(), sort_keys=False))
        recorded = workdir / "recorded"
        began_rules = time.monotonic()
        subprocess.run(
            [
                "promtool", "tsdb", "create-blocks-from", "rules", f"--url={prom.url}",
                f"--start={start + 600}", f"--end={end}", f"--eval-interval={STEP}s",
                f"--output-dir={recorded}", str(rules_file),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        rules_seconds = time.monotonic() - began_rules
    finally:
        prom.stop()
    for block in recorded.iterdir():
        if block.is_dir():
            shutil.move(str(block), data / block.name)
    prom = Prometheus(data, log)
    try:
        prom.settle()
        series = int(prom.query("count({__name__=~'demo_app_.*'})", end)["result"][0]["value"][1])
        lines.append(
            f"[{pods} pods] {series} raw series x {days * 1440} samples; backfill "
            f"{backfill:.0f} s, rules backfill {rules_seconds:.0f} s"
        )
        scale = SCRAPE_SCALE[CONFIG.scrape_interval]
        fast = set(fast_windows(CONFIG))
        slow_interval = duration_seconds(CONFIG.slo_slow_rules_interval)
        exact_30d = {}
        for window in CONFIG.slo_windows():
            interval = FAST_INTERVAL_SECONDS if window in fast else slow_interval
            for slo in CONFIG.slos:
                value, samples, seconds = measure(
                    prom, error_ratio_expr(CONFIG, slo, window), end, repeat
                )
                if window == CONFIG.slo_period:
                    exact_30d[slo.name] = value
                scaled = seconds * scale
                lines.append(
                    f"[{pods} pods] exact {window:>4} {slo.name:>12}: {samples:>11,} samples, "
                    f"{seconds * 1e3:8.1f} ms; x{scale} ({CONFIG.scrape_interval} scrape) = "
                    f"{scaled * 1e3:8.1f} ms = {100 * scaled / interval:5.1f} % of {interval} s"
                )
        for slo in CONFIG.slos:
            for name, expr in variants(slo.name).items():
                value, samples, seconds = measure(prom, expr, end, repeat)
                exact = exact_30d[slo.name]
                lines.append(
                    f"[{pods} pods] {name:>13} 30d {slo.name:>12}: {samples:>11,} samples, "
                    f"{seconds * 1e3:8.1f} ms; SLI error ratio {value:.6f} vs exact {exact:.6f} "
                    f"({100 * (value - exact) / exact:+.2f} %)"
                )
    finally:
        prom.stop()
    for line in lines:
        print(line, flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", default="10,50")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--days", type=int, default=DAYS, help="less for a quick smoke run")
    parser.add_argument("--keep", type=Path, help="work here and keep the data (default: tmp)")
    args = parser.parse_args(argv)
    for binary in ("prometheus", "promtool"):
        if shutil.which(binary) is None:
            print(f"{binary} not found: apt-get install prometheus", file=sys.stderr)
            return 2
    end = int(time.time()) // 3600 * 3600  # a fixed, whole-hour evaluation time
    # tmpfs when there is one: promtool writes (and fsyncs) 360 two-hour blocks per fleet,
    # which on a shared VM disk costs minutes of waiting and measures nothing of interest.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="demo-app-bench-rules-", dir=shm) as tmp:
        root = args.keep or Path(tmp)
        for pods in (int(p) for p in args.pods.split(",")):
            run_fleet(root / f"pods-{pods}", pods, end, args.repeat, args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
