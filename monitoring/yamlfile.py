"""Deterministic YAML for generated files: keys in insertion order, multi-line strings as blocks.

Generated files are committed and compared with a fresh generation, so the output must not
depend on dict ordering accidents or line wrapping; PromQL keeps its line breaks (``|`` blocks)
so diffs stay readable.
"""

from __future__ import annotations

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings as literal blocks and indenting sequences."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent list items under their key (``key:\\n  - item``), as kubectl writes them."""
        super().increase_indent(flow, False)


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(data: object, header: str = "") -> str:
    """YAML text of ``data`` (one document), preceded by ``header`` lines as ``#`` comments.

    Args:
        data: dicts, lists, strings, numbers and booleans.
        header: text for a comment block at the top (each line prefixed with ``# ``).

    Returns:
        The document, ending with a newline.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return "\n".join([*lines, body]) if lines else body
