"""docs/architecture.dot names every component that exists (not the rendered image's bytes).

Components are found in the repository, not listed by hand: the processes the local stack
starts (``LocalStack._start("<name>", ...)`` in ``local/stack.py``), the Alertmanager receivers,
the Kubernetes kinds in ``k8s/`` and the cluster parts the config and Terraform name.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from alerts import alertmanager
from monitoring.config import CONFIG
from tests.conftest import ROOT, require_binary

DOT = ROOT / "docs" / "architecture.dot"
SVG = ROOT / "docs" / "architecture.svg"

KINDS = {
    # drawn: the node id that stands for the kind
    "Service": "service",
    "ServiceMonitor": "servicemonitor",
    "PrometheusRule": "prometheusrule",
    "HorizontalPodAutoscaler": "hpa",
    "Deployment": "gunicorn",  # the pod's processes
    "ConfigMap": "sidecar",  # the dashboard ConfigMaps the sidecar loads
    "Probe": "blackbox",  # the blackbox exporter probing the Service
    # not drawn: no arrow of requests or signals passes through them
    "Namespace": None,
    "ServiceAccount": None,
    "NetworkPolicy": None,
    "PodDisruptionBudget": None,
    "Role": None,  # the Grafana sidecar's read-only ConfigMap access (no signal passes)
    "RoleBinding": None,
    "Kustomization": None,
}
"""Every Kubernetes kind in k8s/ -> its node in the picture, or None (deliberately left out)."""


def nodes(dot=None) -> dict[str, str]:
    """Node id -> label text of the .dot file (default ``DOT``)."""
    text = (dot or DOT).read_text()
    return {m[0]: m[1] for m in re.findall(r'^\s*(\w+)\s*\[label="([^"]*)"', text, re.M)}


def undrawn_processes(dot=None) -> set[str]:
    """Processes the local stack starts (``_start("<name>"``) without a node in the picture."""
    started = set(re.findall(r'_start\(\s*"(\w+)"', (ROOT / "local" / "stack.py").read_text()))
    assert {"app", "prometheus", "alertmanager", "grafana"} <= started
    return started - set(nodes(dot))


def test_every_process_the_local_stack_starts_is_drawn():
    assert undrawn_processes() == set(), "add them to docs/architecture.dot"
    assert "webhook" in nodes()  # the local receiver thread


def test_every_receiver_is_drawn():
    wanted = set(alertmanager.RECEIVERS) - {alertmanager.NULL}  # null notifies nobody
    assert wanted <= set(nodes()), wanted - set(nodes())


def test_every_kubernetes_kind_is_drawn_or_deliberately_left_out():
    kinds = set()
    for path in (ROOT / "k8s").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kinds.add(doc["kind"])
    unknown = kinds - set(KINDS)
    assert not unknown, (
        f"new kinds: draw them in docs/architecture.dot or list them here: {unknown}"
    )
    drawn = {KINDS[k] for k in kinds if KINDS[k]}
    assert drawn <= set(nodes()), drawn - set(nodes())


def test_the_cluster_parts_the_monitoring_reads_are_drawn():
    labels = " ".join(nodes().values())
    assert CONFIG.kube_state_metrics_job in labels
    assert "metrics-server" in (ROOT / "terraform" / "addons.tf").read_text()
    for node in ("metrics_server", "kubelet", "kube_state_metrics", "grafana", "client"):
        assert node in nodes()


def test_the_committed_svg_is_rendered_from_the_source():
    """`make diagram` output is committed: its nodes are the source's (titles, not bytes)."""
    if shutil.which("dot") is None:
        require_binary("dot", hint="apt-get install graphviz")
    svg_titles = set(
        re.findall(r'<g id="node\d+" class="node">\s*<title>(\w+)</title>', SVG.read_text())
    )
    assert svg_titles == set(nodes()), "run `make diagram`"
    fresh = subprocess.run(
        ["dot", "-Tsvg", str(DOT)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert set(re.findall(r"<title>(\w+)</title>", fresh)) >= set(nodes())


@pytest.mark.parametrize("name", ["app", "prometheus"])
def test_a_missing_component_is_noticed(tmp_path, name):
    """The check is not vacuous: the source without a node fails it."""
    stripped = tmp_path / "architecture.dot"
    stripped.write_text(re.sub(rf"^\s*{name}\s*\[label=.*$", "", DOT.read_text(), flags=re.M))
    assert undrawn_processes(stripped) == {name}
