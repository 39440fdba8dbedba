"""``make bench``'s slow-client section: probes answered while hostile clients are connected.

Issue 12's attacker model (``tests.support.slow_clients``): 64 header-drip and 16 body-drip
connections for 30 s, reconnecting at once when closed, in a process of its own on the same
cores as the server. Meanwhile a prober asks ``/healthz``, ``/readiness`` (1 s timeout) and
``/hello`` (2 s) every 0.3 s. A quiet run of the same prober first gives the baseline, side by
side on the same machine. Then 256 idle keep-alive connections are opened and new requests
must still be answered.

Targets: >= 97.5 % of probes and >= 95 % of ``/hello`` answered under attack; with the idle
connections open, >= 97.5 % of everything.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.support import slow_clients
from tests.support.server import GunicornServer

ATTACK_SECONDS = 30.0
QUIET_SECONDS = 10.0


def _line(label: str, results: slow_clients.ProbeResults) -> str:
    hello = results.share("/hello") * 100
    probes = results.probes_share() * 100
    sent = sum(results.sent.values())
    return f"{label:>28}: probes {probes:5.1f} %  /hello {hello:5.1f} %  ({sent} asked)"


def run(workdir: Path) -> dict[str, float]:
    """Measure and print; return the shares (0-1) the targets apply to."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = GunicornServer(workdir, multiproc_dir=workdir / "mp")
    server.log_path = Path("/dev/null")
    with server.start():
        quiet = slow_clients.probe(server.base_url, QUIET_SECONDS)
        print(_line("slow clients: quiet", quiet))
        attacker = slow_clients.start_attacker("127.0.0.1", server.port, ATTACK_SECONDS)
        try:
            time.sleep(1.0)  # every slow connection open before the first probe
            attacked = slow_clients.probe(server.base_url, ATTACK_SECONDS - 2)
        finally:
            attacker.wait(ATTACK_SECONDS + 30)
        stats = attacker.stdout.read().strip()
        print(_line("slow clients: under attack", attacked) + f"  attacker {stats}")
        idle = slow_clients.open_idle_keepalive("127.0.0.1", server.port, 256)
        try:
            with_idle = slow_clients.probe(server.base_url, 3.0)
        finally:
            for sock in idle:
                sock.close()
        print(_line("slow clients: 256 idle k-a", with_idle))
    shares = {
        "attack_probes": attacked.probes_share(),
        "attack_hello": attacked.share("/hello"),
        "idle_all": min(with_idle.probes_share(), with_idle.share("/hello")),
    }
    verdict = (
        shares["attack_probes"] >= 0.975
        and shares["attack_hello"] >= 0.95
        and shares["idle_all"] >= 0.975
    )
    print(
        "slow clients: targets probes >= 97.5 %, /hello >= 95 %, idle >= 97.5 %: "
        + ("met" if verdict else "NOT MET")
    )
    return shares
