"""The generated parts of the docs: tables of contents, the configuration reference, link checks.

``make docs`` (``python -m local.docs``) rewrites, in place:

- every page's table of contents: the ``##`` and ``###`` headings of ``README.md`` and
  ``docs/*.md``, written between ``<!-- toc -->`` and ``<!-- /toc -->`` (a page without the
  markers is left alone; add them below the page's title to give it a table of contents);
- ``docs/configuration.md``: every field of ``monitoring.config.MonitoringConfig`` with its
  Kubernetes value (``CONFIG``), its local value (``local_config()``) where that differs, and
  the comments beside it in ``monitoring/config.py``, grouped under the module's
  ``# --- <topic> ---`` banners.

``python -m local.docs --check`` writes nothing and exits 1 naming every stale file (the tests
call the same functions). ``link_problems()`` lists the internal links and anchors that do not
resolve. Anchors follow GitHub's rule (``github_slug``), which is what the links are read with.

Own code rather than a library: the Markdown TOC tools on PyPI (e.g. ``md-toc``) would add a
dependency for ~30 lines and none of them reads the config module's comments.

It sits in ``local/`` (the top layer) because it imports the monitoring config and writes files
for people, like the other command-line tools.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import io
import re
import sys
import tokenize
from collections.abc import Iterable
from pathlib import Path

from monitoring import config as config_module

ROOT = Path(__file__).resolve().parent.parent
CONFIG_SOURCE = Path(config_module.__file__)
CONFIG_REFERENCE = ROOT / "docs" / "configuration.md"
TOC_START = "<!-- toc -->"
TOC_END = "<!-- /toc -->"
TOC_LEVELS = (2, 3)
"""Heading levels listed in a table of contents (``##`` and ``###``)."""

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
_BANNER = re.compile(r"^\s*# -+ (.+?) -*\s*$")


# --- headings and anchors ---------------------------------------------------------------------
def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: Markdown markup dropped, lowercase, punctuation
    other than ``-`` and ``_`` dropped, each space a hyphen (``"`make run` flags"`` ->
    ``"make-run-flags"``). Duplicates get ``-1``, ``-2`` ... (``headings`` does that)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _outside_code(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    """``(index, line)`` of the lines outside fenced code blocks."""
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield index, line


def headings(markdown: str) -> list[tuple[int, str, str]]:
    """Every heading outside code blocks as ``(level 1-6, text, anchor)``, in order.

    Anchors are unique per page as on GitHub: the second "Tests" is ``tests-1``.
    """
    found, seen = [], {}
    for _index, line in _outside_code(markdown.splitlines()):
        match = _HEADING.match(line)
        if not match:
            continue
        text = match.group(2)
        slug = github_slug(text)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.append((len(match.group(1)), text, slug if count == 0 else f"{slug}-{count}"))
    return found


def anchors(markdown: str) -> set[str]:
    """Every anchor a link may point at: the headings' and explicit ``<a id="...">`` ones."""
    return {a for _l, _t, a in headings(markdown)} | set(_HTML_ANCHOR.findall(markdown))


# --- tables of contents -----------------------------------------------------------------------
def table_of_contents(markdown: str) -> str:
    """The page's TOC as a Markdown list of its ``TOC_LEVELS`` headings (``""`` when none)."""
    items = []
    for level, text, anchor in headings(markdown):
        if level in TOC_LEVELS:
            label = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
            items.append(f"{'  ' * (level - TOC_LEVELS[0])}- [{label}](#{anchor})")
    return "\n".join(items)


def with_table_of_contents(markdown: str) -> str:
    """``markdown`` with the text between its TOC markers replaced by a fresh TOC.

    A page without ``TOC_START`` is returned unchanged.

    Raises:
        ValueError: ``TOC_START`` without a ``TOC_END`` after it.
    """
    start = markdown.find(TOC_START)
    if start < 0:
        return markdown
    end = markdown.find(TOC_END, start)
    if end < 0:
        raise ValueError(f"{TOC_START} without {TOC_END}")
    toc = table_of_contents(markdown[:start] + markdown[end:])
    body = f"{TOC_START}\n{toc}\n{TOC_END}" if toc else f"{TOC_START}\n{TOC_END}"
    return markdown[:start] + body + markdown[end + len(TOC_END) :]


def pages(root: Path = ROOT) -> list[Path]:
    """The pages the docs tooling covers: ``README.md`` and ``docs/*.md``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# --- the configuration reference --------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FieldDoc:
    """One ``MonitoringConfig`` field as the reference shows it.

    Attributes:
        section: the ``# --- <topic> ---`` banner above it (``""`` before the first one).
        name: the field name.
        annotation: its type as written in the source.
        comment: the comment lines just above it and the comment on its line, joined.
    """

    section: str
    name: str
    annotation: str
    comment: str


def config_fields(source: str) -> list[FieldDoc]:
    """The fields of class ``MonitoringConfig`` in ``source`` (the config module's text).

    Raises:
        ValueError: the source has no class ``MonitoringConfig``.
    """
    tree = ast.parse(source)
    cls = next(
        (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MonitoringConfig"),
        None,
    )
    if cls is None:
        raise ValueError("monitoring/config.py has no class MonitoringConfig")
    lines = source.splitlines()
    comments: dict[int, str] = {}  # 1-based line -> comment text without "#"
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    docs, section, previous_end = [], "", cls.lineno
    for node in cls.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        above: list[str] = []
        for number in range(previous_end + 1, node.lineno):
            text = comments.get(number, "")
            banner = _BANNER.match(text)
            if banner:
                section, above = banner.group(1), []
            elif text and lines[number - 1].lstrip().startswith("#"):
                above.append(_comment_text(text))
            else:
                above = []  # a blank line ends a comment block
        inline = [
            _comment_text(comments[n])
            for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
            if n in comments
        ]
        comment = " ".join(c for c in [*above, *inline] if c)
        docs.append(FieldDoc(section, node.target.id, ast.unparse(node.annotation), comment))
        previous_end = node.end_lineno or node.lineno
    return docs


def _comment_text(comment: str) -> str:
    """A comment without its ``#`` and without lint suppressions (``noqa: X - reason``)."""
    text = re.sub(r"\bnoqa:.*$", "", comment.lstrip("#"))
    return text.strip().rstrip("#").strip()


def _format_value(value: object) -> str:
    """A config value for a table cell."""
    if dataclasses.is_dataclass(value):
        parts = [f"{f.name}={getattr(value, f.name)!r}" for f in dataclasses.fields(value)]
        return f"{type(value).__name__}({', '.join(parts)})"
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        return "<br>".join(_format_value(v) for v in value)
    if isinstance(value, dict):
        return "<br>".join(f"`{k}`: `{v}`" for k, v in value.items())
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def config_reference(source: str | None = None) -> str:
    """The text of ``docs/configuration.md``, generated from ``monitoring/config.py``."""
    source = CONFIG_SOURCE.read_text() if source is None else source
    kubernetes, local = config_module.CONFIG, config_module.local_config()
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `make docs` (python -m local.docs) from monitoring/config.py: edit the",
        "     comments there, not this file. tests/test_docs.py fails when it is stale. -->",
        "",
        "Every selector, threshold, window and name the generated alerts, dashboards, manifests",
        "and the local stack read comes from one object, `monitoring.config.MonitoringConfig`.",
        "`CONFIG` is the Kubernetes configuration; `local_config()` derives the local stack's",
        "variant (`make run`); the *local* column shows its value where it differs.",
        "Durations are Prometheus durations; `_percent` is 0-100, `_ratio` 0-1, `_seconds`",
        "seconds. Print one value with `python -m monitoring.config FIELD`.",
        "",
        TOC_START,
        TOC_END,
    ]
    current = None
    for doc in config_fields(source):
        if doc.section != current:
            current = doc.section
            out += [
                "",
                f"## {doc.section or 'General'}",
                "",
                "| field | Kubernetes | local | what it is |",
                "|---|---|---|---|",
            ]
        value, local_value = getattr(kubernetes, doc.name), getattr(local, doc.name)
        local_cell = "" if local_value == value else _format_value(local_value)
        comment = doc.comment.replace("|", "\\|") or f"({doc.annotation})"
        out.append(f"| `{doc.name}` | {_format_value(value)} | {local_cell} | {comment} |")
    out += [
        "",
        "## Objects inside the config",
        "",
        *_class_doc(config_module.SLO),
        "",
        *_class_doc(config_module.BurnRateWindow),
    ]
    return with_table_of_contents("\n".join(out) + "\n")


def _class_doc(cls: type) -> list[str]:
    """A dataclass's docstring as a Markdown subsection."""
    doc = (cls.__doc__ or "").strip().splitlines()
    body = [line[4:] if line.startswith("    ") else line for line in doc]
    return [f"### `{cls.__name__}`", "", "```text", *body, "```"]


# --- checks -----------------------------------------------------------------------------------
def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every file ``make docs`` writes -> its fresh text (unchanged pages are included)."""
    files = {}
    for path in pages(root):
        try:
            files[path] = with_table_of_contents(path.read_text())
        except ValueError as error:
            raise ValueError(f"{path.relative_to(root)}: {error}") from error
    if root == ROOT:
        files[CONFIG_REFERENCE] = config_reference()
    return files


def stale(root: Path = ROOT) -> list[Path]:
    """The files whose committed text differs from a fresh generation."""
    return [p for p, text in generated(root).items() if not p.is_file() or p.read_text() != text]


def link_problems(root: Path = ROOT) -> list[str]:
    """Internal links of ``pages(root)`` that do not resolve, one ``file:line: link`` each.

    A link resolves when its file exists (relative to the page) and, if it has an anchor into
    a Markdown page, that page has the anchor. External links (``scheme:``) are not checked.
    Links inside code blocks and inline code are ignored.
    """
    problems = []
    for page in pages(root):
        text = page.read_text()
        for index, line in _outside_code(text.splitlines()):
            for target in _LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue
                path_part, _, anchor = target.partition("#")
                dest = (page.parent / path_part).resolve() if path_part else page
                where = f"{page.relative_to(root)}:{index + 1}: {target}"
                if not dest.exists():
                    problems.append(f"{where} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
                    problems.append(f"{where} (no heading #{anchor} in {dest.name})")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Regenerate the docs' generated parts, or with ``--check`` report the stale ones."""
    parser = argparse.ArgumentParser(
        prog="python -m local.docs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"stale: {path.relative_to(ROOT)} (run `make docs`)", file=sys.stderr)
        broken = link_problems()
        for problem in broken:
            print(f"broken link: {problem}", file=sys.stderr)
        return 1 if old or broken else 0
    try:
        files = generated()
    except ValueError as error:
        print(f"local.docs: {error}", file=sys.stderr)
        return 1
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
