"""Three clustered Alertmanagers on 127.0.0.1, fed by one real Prometheus: one notification each.

What production runs (``monitoring/values.yaml``: 3 Alertmanager replicas in one gossip mesh,
every Prometheus replica sending to all three) reproduced with the Debian binaries:

- three ``prometheus-alertmanager`` processes clustered with ``--cluster.listen-address`` /
  ``--cluster.peer`` on free ports, with short gossip, probe and settle timings so the mesh
  forms and notices a dead peer within seconds (the production defaults are minutes);
- one ``prometheus`` scraping a test-controlled exporter (prometheus_client) and the three
  Alertmanagers, with one alert per ``case`` label of the exporter's gauge, sending to all three;
- a capture receiver: each Alertmanager posts to ``/<its index>``, so the test knows which peer
  delivered a notification.

The phases, in one test (the mesh is built once; ~40 s on an idle machine):

1. the mesh has settled (every peer sees 3 members); alert ``before`` fires: it is delivered
   exactly once, although three Alertmanagers received it from Prometheus;
2. the peer that delivered it is killed (SIGKILL, between notifications); alert ``after`` fires:
   still exactly once, by a survivor; the survivors count the dead peer as failed
   (``alertmanager_cluster_failed_peers``, the series of the chart's
   AlertmanagerClusterFailedPeers alert, docs/production-readiness.md);
3. in flight: alert ``inflight`` fires and the receiver holds the delivering peer's request
   open; that peer is killed before it can record the notification in the mesh, so the last
   survivor sends it again after its ``--cluster.peer-timeout`` turn. It arrives at least once
   and at most twice: Alertmanager is at-least-once, and this is the duplicate it allows.

"Exactly once" is checked over a quiet period after the first delivery longer than the last
peer's turn (its position x ``PEER_TIMEOUT``) plus margin, the window in which a duplicate
would have been sent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from local.processes import Child, http_ok
from local.setup import HOST, free_port
from tests.conftest import require_binary
from tests.support.prometheus import Prometheus, sample_value

pytestmark = pytest.mark.e2e

PEERS = 3
PEER_TIMEOUT_SECONDS = 3
"""``--cluster.peer-timeout``: the peer at position p of the mesh waits p x this before it
sends a notification no other peer has recorded yet (production: the default 15 s)."""
QUIET_SECONDS = PEERS * PEER_TIMEOUT_SECONDS + 3
"""How long to watch for a duplicate after the first delivery: every peer's turn has passed."""
ALERT = "MeshTestAlert"
TRIGGER = "mesh_test_trigger"
START_TIMEOUT_SECONDS = 30
DELIVERY_TIMEOUT_SECONDS = 30


class CaptureReceiver:
    """A webhook receiver counting notifications per ``case`` and per sending peer.

    A POST to ``/<peer index>`` is one notification (Alertmanager's webhook payload); one alert
    per group, so each notification carries the ``case`` label of its only alert. ``hold(case)``
    makes the receiver keep the request of that case open until ``release()``: the sender is
    then mid-notification, not yet acknowledged.
    """

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, int]] = []  # (case, peer index), in arrival order
        self._changed = threading.Condition()
        self._hold: str | None = None
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.loads(body)
                case = payload["groupLabels"].get("case", "?")
                receiver._record(case, int(self.path.strip("/")))
                if case == receiver._hold:
                    receiver._released.wait(30)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet: the test reports what it counted."""

        self.port = free_port()
        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _record(self, case: str, peer: int) -> None:
        with self._changed:
            self.deliveries.append((case, peer))
            self._changed.notify_all()

    def hold(self, case: str) -> None:
        """Keep the requests delivering ``case`` open until ``release()``."""
        self._hold = case

    def release(self) -> None:
        """Answer the held requests."""
        self._released.set()

    def senders(self, case: str) -> list[int]:
        """The peers that delivered ``case``, in arrival order."""
        with self._changed:
            return [peer for c, peer in self.deliveries if c == case]

    def wait_first(self, case: str, timeout: float) -> int:
        """The peer that delivered ``case`` first; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(c == case for c, _ in self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no notification for {case!r} in {timeout}s: {self.deliveries}")
                self._changed.wait(remaining)
        return self.senders(case)[0]

    def stop(self) -> None:
        """Release held requests and close the socket."""
        self.release()
        self._server.shutdown()
        self._server.server_close()


def alertmanager_config(receiver_url: str) -> dict:
    """One webhook receiver; one group per ``case``, sent 1 s after it forms, never repeated."""
    return {
        "route": {
            "receiver": "capture",
            "group_by": ["alertname", "case"],
            "group_wait": "1s",
            "group_interval": "10m",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "capture",
                "webhook_configs": [{"url": receiver_url, "send_resolved": False}],
            }
        ],
    }


class Mesh:
    """Three clustered Alertmanagers, a Prometheus sending to all three, an exporter, a receiver."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.web = [free_port() for _ in range(PEERS)]
        self.cluster = [free_port() for _ in range(PEERS)]
        self.receiver = CaptureReceiver()
        self.registry = CollectorRegistry()
        self.trigger = Gauge(
            TRIGGER, "1 = the test's alert for this case fires", ["case"], registry=self.registry
        )
        self.exporter_port = free_port()
        self.exporter, _ = start_http_server(self.exporter_port, HOST, self.registry)
        self.prometheus_port = free_port()
        self.children: list[Child] = []
        self.alertmanagers: list[Child] = []

    def start(self) -> Mesh:
        binary = require_binary(
            "prometheus-alertmanager",
            shutil.which("alertmanager") or "",
            hint="apt-get install prometheus-alertmanager",
        )
        for index in range(PEERS):
            # Each peer posts to its own path, so the receiver knows who delivered; the group
            # key and the receiver name (what the notification log dedups on) are the same.
            url = f"http://{HOST}:{self.receiver.port}/{index}"
            config = self.state / f"alertmanager-{index}.yml"
            config.write_text(yaml.safe_dump(alertmanager_config(url)))
            peers = [
                f"--cluster.peer={HOST}:{port}" for i, port in enumerate(self.cluster) if i != index
            ]
            argv = [
                binary,
                f"--config.file={config}",
                f"--storage.path={self.state / f'data-{index}'}",
                f"--web.listen-address={HOST}:{self.web[index]}",
                f"--cluster.listen-address={HOST}:{self.cluster[index]}",
                *peers,
                f"--cluster.peer-timeout={PEER_TIMEOUT_SECONDS}s",
                "--cluster.settle-timeout=3s",
                "--cluster.gossip-interval=50ms",
                "--cluster.pushpull-interval=2s",
                "--cluster.probe-interval=200ms",
                "--cluster.probe-timeout=100ms",
                "--log.level=debug",
            ]
            child = self._start(f"alertmanager-{index}", argv)
            self.alertmanagers.append(child)
        self._start("prometheus", self._prometheus_argv())
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for index in range(PEERS):
            self._wait(f"{self.am_url(index)}/-/ready", deadline, self.alertmanagers[index])
        self._wait(f"http://{HOST}:{self.prometheus_port}/-/ready", deadline, self.children[-1])
        return self

    def _start(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, self.state / f"{name}.log").start()
        self.children.append(child)
        return child

    def _prometheus_argv(self) -> list[str]:
        binary = require_binary("prometheus", hint="apt-get install prometheus")
        rules = self.state / "rules.yml"
        rules.write_text(
            yaml.safe_dump(
                {
                    "groups": [
                        {
                            "name": "mesh-test",
                            "rules": [{"alert": ALERT, "expr": f"{TRIGGER} > 0"}],
                        }
                    ]
                }
            )
        )
        alertmanagers = [f"{HOST}:{port}" for port in self.web]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            # Like the operator's config: every Alertmanager of the mesh gets every alert.
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]},
            "scrape_configs": [
                {
                    "job_name": "exporter",
                    "static_configs": [{"targets": [f"{HOST}:{self.exporter_port}"]}],
                },
                {"job_name": "alertmanager", "static_configs": [{"targets": alertmanagers}]},
            ],
        }
        path = self.state / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        return [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={self.state / 'prometheus'}",
            f"--web.listen-address={HOST}:{self.prometheus_port}",
        ]

    def _wait(self, url: str, deadline: float, child: Child) -> None:
        while not http_ok(url):
            if not child.running() or time.monotonic() > deadline:
                pytest.fail(f"{child.name} did not become ready at {url}:\n{child.log_tail()}")
            time.sleep(0.2)

    def am_url(self, index: int) -> str:
        return f"http://{HOST}:{self.web[index]}"

    def cluster_status(self, index: int) -> dict:
        """``/api/v2/status``'s ``cluster`` of peer ``index``: ``status`` and ``peers``."""
        return requests.get(f"{self.am_url(index)}/api/v2/status", timeout=5).json()["cluster"]

    def wait_settled(self, alive: list[int], timeout: float) -> None:
        """Until every peer in ``alive`` is ``ready`` and sees exactly ``alive`` as members."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {i: self.cluster_status(i) for i in alive}
            if all(s["status"] == "ready" and len(s["peers"]) == len(alive) for s in seen.values()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the mesh did not settle on {len(alive)} peers: {seen}")
            time.sleep(0.2)

    def kill(self, index: int) -> None:
        """SIGKILL Alertmanager ``index`` (no graceful leave: the mesh must notice by itself)."""
        child = self.alertmanagers[index]
        os.kill(child.pid, signal.SIGKILL)
        child.process.wait(10)

    def stop(self) -> None:
        self.receiver.stop()
        self.exporter.shutdown()
        for child in self.children:
            child.kill()


@pytest.fixture
def mesh(tmp_path):
    """The started mesh; everything is killed at the end."""
    require_binary("prometheus", hint="apt-get install prometheus")
    built = Mesh(tmp_path)
    try:
        yield built.start()
    finally:
        built.stop()


def exactly_once(mesh: Mesh, case: str) -> int:
    """Fire ``case``, wait for its delivery and a quiet period; returns the delivering peer."""
    mesh.trigger.labels(case=case).set(1)
    sender = mesh.receiver.wait_first(case, DELIVERY_TIMEOUT_SECONDS)
    time.sleep(QUIET_SECONDS)
    senders = mesh.receiver.senders(case)
    assert senders == [sender], f"{case!r} was delivered {len(senders)} times, by {senders}"
    return sender


def test_a_mesh_of_three_delivers_once_and_keeps_doing_so_when_a_peer_dies(mesh):
    """Once with 3 peers; once after the delivering peer is killed; an in-flight one <= twice."""
    everyone = list(range(PEERS))
    mesh.wait_settled(everyone, START_TIMEOUT_SECONDS)

    first = exactly_once(mesh, "before")

    mesh.kill(first)
    alive = [i for i in everyone if i != first]
    after = exactly_once(mesh, "after")
    assert after in alive

    # The survivors count the killed peer as failed: the signal of AlertmanagerClusterFailedPeers.
    prom = Prometheus(f"http://{HOST}:{mesh.prometheus_port}")
    failed = prom.wait_for(
        'alertmanager_cluster_failed_peers{job="alertmanager"} >= 1',
        time.monotonic() + 20,
        accept=lambda result: len(result) == len(alive),
    )
    assert {sample_value(s) for s in failed} == {1.0}

    # In flight: the receiver holds the delivering peer's request; that peer dies before it can
    # record the notification, so the last survivor's turn sends it again.
    mesh.receiver.hold("inflight")
    mesh.trigger.labels(case="inflight").set(1)
    holder = mesh.receiver.wait_first("inflight", DELIVERY_TIMEOUT_SECONDS)
    mesh.kill(holder)
    mesh.receiver.release()
    (last,) = [i for i in alive if i != holder]
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while last not in mesh.receiver.senders("inflight") and time.monotonic() < deadline:
        time.sleep(0.2)
    senders = mesh.receiver.senders("inflight")
    assert Counter(senders) == Counter({holder: 1, last: 1}), senders
    assert len(mesh.receiver.deliveries) == 4, mesh.receiver.deliveries
