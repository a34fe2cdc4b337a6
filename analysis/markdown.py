"""A minimal Markdown table writer (GitHub pipe tables; no extra dependency)."""
from __future__ import annotations

import math

import pandas as pd


def markdown_table(table: pd.DataFrame, float_format: str = "{:.1f}") -> str:
    """``table`` (columns as header, index ignored) as a pipe table; floats with ``float_format``."""
    header = [str(c) for c in table.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, float_format) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: object, float_format: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return float_format.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")
