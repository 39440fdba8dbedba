"""Helpers shared by the manifest and image tests (tests/test_k8s.py, tests/test_dockerfile.py).

Everything here reads the committed files through the real tools: ``kubectl kustomize`` renders
``k8s/``, ``make`` evaluates Makefile variables, the Dockerfile is parsed line by line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, require_binary

K8S_DIR = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
VALUES = ROOT / "monitoring" / "values.yaml"
STORAGE_CLASS = ROOT / "monitoring" / "storageclass-gp3.yaml"
KUBERNETES_VERSION = "1.35"
"""The Kubernetes minor the manifests are validated against (EKS, Terraform issue)."""


def render(directory: Path = K8S_DIR) -> list[dict[str, Any]]:
    """Objects rendered by ``kubectl kustomize <directory>``, in output order.

    Fails the test with kubectl's message when kustomize cannot render the directory.
    """
    kubectl = require_binary("kubectl", hint="kubectl ships kustomize (`kubectl kustomize`)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single object of ``kind``; fails the test when there are none or several."""
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def app_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's app container (the only container of the pod)."""
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the pod is expected to run exactly one container"
    return containers[0]


def settings(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The app's settings: the data of the ConfigMap the container's ``envFrom`` names."""
    refs = [ref["configMapRef"]["name"] for ref in app_container(objects).get("envFrom", [])]
    assert len(refs) == 1, f"expected one ConfigMap in envFrom, got {refs}"
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == refs[0]]
    assert maps, f"envFrom names ConfigMap {refs[0]!r}, which kustomize does not render"
    return maps[0]["data"]


_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<suffix>m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_SUFFIX = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity(value: str | int) -> Decimal:
    """A Kubernetes resource quantity in base units (cores or bytes): ``"50m"`` -> 0.05.

    Raises:
        ValueError: not a plain decimal quantity with one of the usual suffixes.
    """
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"unsupported Kubernetes quantity: {value!r}")
    return Decimal(match["number"]) * _SUFFIX[match["suffix"]]


def make_variable(name: str) -> str:
    """The value of Makefile variable ``name`` as make expands it (recursive ones included)."""
    make = require_binary("make")
    probe = f"__print_variable:\n\t@echo '$({name})'\n"
    result = subprocess.run(
        [make, "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "__print_variable"],
        input=probe,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"make could not print {name}: {result.stderr}"
    return result.stdout.strip()


def project_version() -> str:
    """The release version from pyproject.toml (the image tag and APP_VERSION)."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def serve_command() -> list[str]:
    """argv of the Makefile's ``serve`` recipe without ``exec`` and the venv path.

    That recipe is the production server command; the image's CMD must be the same.
    """
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^serve:.*\n\t(?P<recipe>.+)$", text, flags=re.MULTILINE)
    assert match, "the Makefile has no `serve` target"
    argv = shlex.split(match["recipe"])
    if argv[0] == "exec":
        argv = argv[1:]
    argv[0] = argv[0].rsplit("/", 1)[-1]
    return argv


def values() -> dict[str, Any]:
    """monitoring/values.yaml, parsed."""
    return yaml.safe_load(VALUES.read_text())
