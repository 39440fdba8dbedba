"""The docs: generated parts current, every internal link and anchor resolving, a TOC per page."""

from __future__ import annotations

import dataclasses

import pytest

from local import docs
from monitoring.config import MonitoringConfig
from tests.conftest import ROOT


def test_generated_docs_are_current():
    """TOCs and docs/configuration.md match a fresh `make docs`."""
    assert [str(p.relative_to(ROOT)) for p in docs.stale()] == [], "run `make docs`"


def test_every_internal_link_and_anchor_resolves():
    assert docs.link_problems() == []


def test_every_page_has_a_table_of_contents():
    """README.md and each docs page carry the TOC markers, so `make docs` keeps them listed."""
    missing = [p.name for p in docs.pages() if docs.TOC_START not in p.read_text()]
    assert missing == []


def test_the_configuration_reference_names_every_field():
    text = (ROOT / "docs" / "configuration.md").read_text()
    for field in dataclasses.fields(MonitoringConfig):
        assert f"| `{field.name}` |" in text, field.name


def test_field_comments_and_banners_reach_the_reference():
    """A comment above a field, a trailing comment and a new banner section are all picked up."""
    source = """
@dataclass(frozen=True)
class MonitoringConfig:
    # --- identity ---
    # the app's name,
    # on two lines
    app_name: str = "x"
    job: str = "x"  # the Service name  # noqa: S105 - a name

    # --- webhooks (issue 99) ---
    hook: str = "y"
"""
    fields = docs.config_fields(source)
    assert [(f.section, f.name, f.comment) for f in fields] == [
        ("identity", "app_name", "the app's name, on two lines"),
        ("identity", "job", "the Service name"),
        ("webhooks (issue 99)", "hook", ""),
    ]


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("DemoAppCpuUsageHigh", "demoappcpuusagehigh"),
        ("Run it locally", "run-it-locally"),
        ("`make run` flags and variables", "make-run-flags-and-variables"),
        (
            "Deploying to EKS, part 1: the cluster (Terraform)",
            "deploying-to-eks-part-1-the-cluster-terraform",
        ),
        ("[docs](x.md) and more", "docs-and-more"),
    ],
)
def test_anchors_follow_githubs_rule(heading, slug):
    assert docs.github_slug(heading) == slug


def test_a_stale_toc_and_a_broken_link_are_reported(tmp_path):
    """The checks are not vacuous: a new heading makes the TOC stale, a bad anchor is named."""
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "a.md"
    page.write_text(
        f"# A\n\n{docs.TOC_START}\n{docs.TOC_END}\n\n## One\n\n```sh\n# not a heading\n```\n"
    )
    (tmp_path / "README.md").write_text(
        "# R\n\n[ok](docs/a.md#one) [bad](docs/a.md#two) [gone](docs/b.md) [web](https://x/#y)\n"
    )
    assert docs.stale(tmp_path) == [page]
    fresh = docs.generated(tmp_path)[page]
    assert "- [One](#one)\n" in fresh
    assert "not a heading" not in fresh.split(docs.TOC_END)[0]
    page.write_text(fresh)
    assert docs.stale(tmp_path) == []
    assert docs.link_problems(tmp_path) == [
        "README.md:3: docs/a.md#two (no heading #two in a.md)",
        "README.md:3: docs/b.md (no such file)",
    ]
    page.write_text(fresh + "\n## Two\n")
    assert docs.stale(tmp_path) == [page]
    assert docs.link_problems(tmp_path) == ["README.md:3: docs/b.md (no such file)"]


def test_the_readme_stays_a_front_door():
    """README.md at most 250 lines; the reference lives in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
