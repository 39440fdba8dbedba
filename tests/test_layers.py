"""Dependencies run one way: app <- monitoring (config) <- alerts, dashboards <- local.

Each project package has a layer; a module may import its own layer and the ones below, never
one above. The source of the order: ``../shared/DESIGN.md`` ("Dependencies run one way") and the
kubernetes-mixin layout (config -> alerts/dashboards -> the mixin that renders them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS: dict[str, int] = {
    "app": 0,  # the service and its metric catalog
    "monitoring": 1,  # config as data: selectors, thresholds, series names
    "alerts": 2,  # generators: rules, promtool tests, Alertmanager routing
    "dashboards": 2,  # generators: Grafana JSON and sidecar ConfigMaps
    "local": 3,  # the local-stack runner and CLIs
}


def project_imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """The project packages a module imports, as ``(line, dotted name)`` pairs.

    Relative imports are resolved against the module's own package. Imports of anything that is
    not a project package (stdlib, third party) are left out.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(root).parts[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [package if node.level else (node.module or "")]
        else:
            continue
        found.extend((node.lineno, name) for name in names if name.split(".")[0] in LAYERS)
    return found


def layer_violations(root: Path = ROOT) -> list[str]:
    """Every import from a lower layer into a higher one, as ``file:line: a -> b`` lines."""
    violations = []
    for package, layer in LAYERS.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, name in project_imports(path, root):
                target = name.split(".")[0]
                if LAYERS[target] > layer:
                    rel = path.relative_to(root)
                    violations.append(
                        f"{rel}:{line}: {package} (layer {layer}) imports {name} "
                        f"(layer {LAYERS[target]})"
                    )
    return violations


def test_no_module_imports_a_higher_layer():
    """No app/config/generator module imports something above it (e.g. monitoring -> local)."""
    assert layer_violations() == []


def test_every_project_package_has_a_layer():
    """A new top-level Python package must be placed in the order before it can be imported."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(LAYERS)


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("monitoring", "from local import traffic\n", "monitoring (layer 1) imports local"),
        ("app", "import alerts.common\n", "app (layer 0) imports alerts.common"),
        ("alerts", "from local.stack import LocalStack\n", "alerts (layer 2) imports local"),
    ],
)
def test_an_upward_import_is_reported(tmp_path, package, source, expected):
    """The check itself fails on an upward import (it is not vacuous)."""
    for name in LAYERS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / package / "bad.py").write_text(source)
    violations = layer_violations(tmp_path)
    assert len(violations) == 1
    assert expected in violations[0]
    assert violations[0].startswith(f"{package}/bad.py:1:")
