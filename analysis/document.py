"""A report as a list of blocks, written once (:mod:`analysis.narrative`) and rendered twice:
to Markdown (:mod:`analysis.markdown`) and to self-contained HTML (:mod:`analysis.htmlpage`).

Inline text may use ``code`` and **bold** (Markdown syntax); the HTML renderer converts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Para:
    text: str
    note: bool = False  # rendered as a highlighted note


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    float_format: str = "{:.1f}"
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # file stem in the output directory: <name>.png / <name>.svg
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Details:
    """A collapsible block of preformatted text (HTML only; Markdown shows ``md_text``)."""

    summary: str
    text: str
    md_text: str = ""


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> "Document":
        self.blocks.extend(blocks)
        return self
