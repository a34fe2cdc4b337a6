"""Markdown: a pipe-table writer (no extra dependency) and the renderer of a
:class:`~analysis.document.Document` to ``report.md``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.document import Bullets, Details, Document, Figure, Heading, Para, Table


def markdown_table(table: pd.DataFrame, float_format: str = "{:.1f}") -> str:
    """``table`` (columns as header, index ignored) as a pipe table; floats with ``float_format``."""
    header = [_cell(c, float_format) for c in table.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, float_format) for v in row) + " |")
    return "\n".join(lines)


def render_markdown(document: Document) -> str:
    """The document as GitHub Markdown; figures link to ``<name>.png`` next to ``report.md``."""
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Para):
            lines += [("> " if block.note else "") + block.text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [block.caption, ""]
            lines += [markdown_table(block.frame, block.float_format) if len(block.frame) else "(none)", ""]
        elif isinstance(block, Figure):
            lines += [f"![{block.alt}]({block.name}.png)", ""]
            if block.caption:
                lines += [block.caption, ""]
        elif isinstance(block, Details):
            if block.md_text:
                lines += [block.md_text, ""]
        else:  # pragma: no cover - a new block type must be rendered here
            raise TypeError(f"unknown block {type(block).__name__}")
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: object, float_format: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, float):
        return float_format.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")
