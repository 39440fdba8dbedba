"""Every way ``make run`` (``python -m local``) can end leaves nothing behind.

Each test starts the real runner (app, Prometheus, Alertmanager, webhook; no Grafana) on free
ports with its state under a test directory, ends it one way, and checks: every process it
started (guardian included) is gone and the state directory removed within 15 s
(``END_BOUND_SECONDS``, the issue's bound), one line on stderr says so, and no traceback or
false message appears. A stack starts in about 3-5 s here; the file runs in about a minute.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from local.setup import PORT_ENV, Ports
from tests.conftest import ROOT
from tests.e2e.test_local_stack import prometheus_binaries

pytestmark = pytest.mark.e2e

END_BOUND_SECONDS = 15.0
START_BOUND_SECONDS = 60.0
STOPPED = re.compile(
    r"^local stack: stopped: all \d+ processes ended, \S+ removed \(\d+\.\d s\)$", re.M
)
"""The one line a clean stop prints on stderr (the count grows with the stack's components)."""


class Runner:
    """``python -m local --no-grafana`` in a session of its own, state under ``tmp/``."""

    def __init__(self, tmp_path: Path, stdout: int | None = subprocess.PIPE) -> None:
        prometheus_binaries()
        self.ports = Ports.free()
        self.state_parent = tmp_path / "tmp"
        self.state_parent.mkdir()
        self.stderr_path = tmp_path / "stderr.txt"
        env = {**os.environ, **{v: str(getattr(self.ports, n)) for n, v in PORT_ENV.items()}}
        env["TMPDIR"] = str(self.state_parent)
        for var in ("SCENARIO", "TRAFFIC"):
            env.pop(var, None)
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local", "--no-grafana"],
                cwd=ROOT,
                env=env,
                stdout=stdout,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        self.banner = ""
        self.descendants: list[psutil.Process] = []

    def wait_banner(self) -> str:
        """Read stdout up to the banner's last line; remember every descendant process."""
        deadline = time.monotonic() + START_BOUND_SECONDS
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops everything"):
                self.banner = "".join(lines)
                self.snapshot()
                return self.banner
        raise AssertionError(f"no banner: {''.join(lines)}{self.stderr()}")

    def snapshot(self) -> list[psutil.Process]:
        """The runner's descendants now (children, gunicorn workers, the guardian)."""
        self.descendants = psutil.Process(self.process.pid).children(recursive=True)
        return self.descendants

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def assert_ended_cleanly(self, since: float, status: int | None = 0) -> float:
        """Within the bound: the runner exited (with ``status``), every descendant is gone, the
        state directory is removed. Returns the seconds it took."""
        remaining = END_BOUND_SECONDS - (time.monotonic() - since)
        if status is not None:
            assert self.process.wait(max(remaining, 0.1)) == status, self.stderr()
        remaining = END_BOUND_SECONDS - (time.monotonic() - since)
        _gone, alive = psutil.wait_procs(self.descendants, timeout=max(remaining, 0.1))
        assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"
        while list(self.state_parent.iterdir()) and time.monotonic() - since < END_BOUND_SECONDS:
            time.sleep(0.05)
        assert not list(self.state_parent.iterdir()), "state directory not removed"
        took = time.monotonic() - since
        assert took <= END_BOUND_SECONDS
        text = self.stderr()
        assert "Traceback" not in text, text
        assert "did not stop within" not in text, text
        return took

    def kill(self) -> None:
        """Clean up after a failed test: the runner's group and whatever it left."""
        for process in [*self.descendants]:
            try:
                process.kill()
            except psutil.Error:
                continue
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@pytest.fixture
def runner(tmp_path):
    started = Runner(tmp_path)
    yield started
    started.kill()


@pytest.mark.parametrize(
    "how", ["SIGINT", "SIGTERM", "SIGHUP to the group"], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_one_signal_ends_everything(runner, how):
    """Ctrl-C, SIGTERM to the runner alone, or SIGHUP to its process group (terminal closed)."""
    banner = runner.wait_banner()
    assert requests.get(f"http://127.0.0.1:{runner.ports.app}/hello", timeout=5).ok
    names = " ".join(" ".join(p.cmdline()) for p in runner.descendants)
    assert "gunicorn" in names and "prometheus" in names and "alertmanager" in names
    assert "local.guardian" in names
    assert f"http://127.0.0.1:{runner.ports.prometheus}" in banner
    started = time.monotonic()
    if how == "SIGHUP to the group":
        os.killpg(runner.process.pid, signal.SIGHUP)
    else:
        runner.process.send_signal(signal.Signals[how])
    took = runner.assert_ended_cleanly(started)
    assert STOPPED.search(runner.stderr()), runner.stderr()
    print(f"{how}: everything gone in {took:.1f} s")


def test_the_banners_prometheus_links_answer(runner):
    """Each printed Prometheus page answers 200 (Debian's 2.42 serves them under /classic/)."""
    banner = runner.wait_banner()
    base = f"http://127.0.0.1:{runner.ports.prometheus}"
    links = [w for w in banner.split() if w.startswith(base + "/")]
    pages = {link.rstrip(",").rsplit("/", 1)[1] for link in links}
    assert pages == {"alerts", "targets", "rules", "graph"}, banner
    for link in links:
        assert requests.get(link.rstrip(","), timeout=5).status_code == 200, link
    alertmanager = f"http://127.0.0.1:{runner.ports.alertmanager}"
    assert requests.get(alertmanager, timeout=5).status_code == 200


def test_a_second_ctrl_c_kills_at_once_without_a_false_timeout(runner):
    runner.wait_banner()
    started = time.monotonic()
    runner.process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    runner.process.send_signal(signal.SIGINT)
    runner.assert_ended_cleanly(started)
    assert STOPPED.search(runner.stderr()), runner.stderr()


@pytest.mark.parametrize("moment", ["while importing", "while checking the configs"])
def test_ctrl_c_while_starting_is_no_traceback(runner, moment):
    """The first second: no traceback, no config blamed, nothing left behind."""
    if moment == "while importing":
        time.sleep(0.15)
    else:
        deadline = time.monotonic() + 30
        while not any(runner.state_parent.glob("*/rules.yml")) and time.monotonic() < deadline:
            time.sleep(0.005)
    runner.snapshot()
    started = time.monotonic()
    runner.process.send_signal(signal.SIGINT)
    runner.process.communicate(timeout=END_BOUND_SECONDS)
    runner.assert_ended_cleanly(started)
    text = runner.stderr()
    assert "is invalid" not in text, text
    assert text.startswith("local stack: "), text


def test_a_closed_stdout_ends_everything(tmp_path):
    """``make run | head -n 3``: the reader leaves after the banner; the stack stops."""
    runner = Runner(tmp_path)
    try:
        for _ in range(3):
            runner.process.stdout.readline()
        runner.snapshot()
        started = time.monotonic()
        runner.process.stdout.close()
        runner.assert_ended_cleanly(started)
        assert "output closed" in runner.stderr()
        assert STOPPED.search(runner.stderr()), runner.stderr()
    finally:
        runner.kill()


def test_sigkill_of_the_runner_takes_its_children_and_state_along(runner):
    """``kill -9``: PR_SET_PDEATHSIG and the guardian end every process and remove the state."""
    runner.wait_banner()
    workers = [p for p in runner.descendants if "gunicorn" in " ".join(p.cmdline())]
    assert len(workers) >= 2, "expected gunicorn's master and its workers"
    started = time.monotonic()
    runner.process.kill()
    runner.process.wait(5)
    took = runner.assert_ended_cleanly(started, status=None)
    assert "the runner ended without stopping" in runner.stderr(), runner.stderr()
    print(f"SIGKILL: everything gone in {took:.1f} s")


def test_a_failed_component_is_named_with_its_last_log_lines(runner):
    """Prometheus killed under the stack: the runner stops everything, exits 1 and says so."""
    runner.wait_banner()
    (prometheus,) = [p for p in runner.descendants if p.name() == "prometheus"]
    started = time.monotonic()
    prometheus.kill()
    runner.assert_ended_cleanly(started, status=1)
    text = runner.stderr()
    assert "prometheus exited with status -9" in text, text
    assert "the last lines of its log" in text and "msg=" in text, text
