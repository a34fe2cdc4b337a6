"""Render a :class:`~analysis.document.Document` to one self-contained HTML file.

Self-contained: figures are embedded as base64 PNG data URIs (read from ``<name>.png`` in the
report directory), the style sheet is inline, and nothing is loaded from elsewhere, so the file can
be mailed or archived alone. Tables are plain HTML; long configs sit in collapsible blocks.
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.document import Bullets, Details, Document, Figure, Heading, Para, Table

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1.5em; color: #1d1d1f; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .2em; margin-top: 2em; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; font-size: 90%; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 85%; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f5f5f7; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: min(100%, 980px); height: auto; border: 1px solid #eee; }
figcaption { font-size: 85%; color: #555; margin-top: .3em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em .8em; }
details { margin: .15em 0; } summary { cursor: pointer; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: 80%; max-height: 30em; }
.caption { font-size: 90%; color: #444; }
"""


def render_html(document: Document, figure_dir: Path) -> str:
    """The document as an HTML page; each :class:`Figure` embeds ``figure_dir/<name>.png``."""
    body = [f"<h1>{_inline(document.title)}</h1>"]
    for block in document.blocks:
        if isinstance(block, Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            body.append(f"<h{block.level}{anchor}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            opening = '<p class="note">' if block.note else "<p>"
            body.append(f"{opening}{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            if block.caption:
                body.append(f'<p class="caption">{_inline(block.caption)}</p>')
            body.append(_table(block.frame, block.float_format) if len(block.frame) else "<p>(none)</p>")
        elif isinstance(block, Figure):
            body.append(_figure(block, figure_dir))
        elif isinstance(block, Details):
            body.append(
                f"<details><summary>{_inline(block.summary)}</summary><pre>{html.escape(block.text)}</pre></details>"
            )
        else:  # pragma: no cover - a new block type must be rendered here
            raise TypeError(f"unknown block {type(block).__name__}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(document.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _figure(block: Figure, figure_dir: Path) -> str:
    path = figure_dir / f"{block.name}.png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = f"<figcaption>{_inline(block.caption)}</figcaption>" if block.caption else ""
    return (
        f'<figure id="fig-{html.escape(block.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(block.alt)}">{caption}</figure>'
    )


def _table(frame: pd.DataFrame, float_format: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            text, numeric = _cell(value, float_format)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: object, float_format: str) -> tuple[str, bool]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "", False
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), False
    if isinstance(value, float):
        return float_format.format(value), True
    if isinstance(value, (int, np.integer)):
        return str(value), True
    return _inline(str(value)), False


def _inline(text: str) -> str:
    """Escape, then turn `code`, **bold** and [text](#anchor) links into tags."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\[([^\]]+)\]\((#[\w-]+)\)", r'<a href="\2">\1</a>', escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
