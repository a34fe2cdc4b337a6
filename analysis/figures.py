"""Figures: sample efficiency (IQM vs environment steps) and aggregate-metric intervals.

Figures are built on ``matplotlib.figure.Figure`` (Agg canvas) rather than pyplot, so importing
this module never changes the global matplotlib backend and works without a display. Colours
come from :func:`algo_palette`, keyed by the sorted algo labels, so an algo has the same colour
in every figure of one report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.aggregates import METRIC_TITLES, METRICS

Colour = tuple[float, float, float]
_STYLE = "whitegrid"


def algo_palette(labels: Iterable[str]) -> dict[str, Colour]:
    """One colour per algo label: seaborn's colour-blind palette in sorted-label order."""
    labels = sorted(set(labels))
    colours = sns.color_palette("colorblind" if len(labels) <= 10 else "husl", len(labels))
    return dict(zip(labels, colours))


def plot_sample_efficiency(
    curves: pd.DataFrame,
    palette: Mapping[str, Colour] | None = None,
    *,
    title: str | None = None,
    ylabel: str = "IQM normalised score (0-100)",
) -> Figure:
    """IQM score vs environment steps with a shaded confidence band, one line per algo.

    ``curves`` has the columns algo, step, value, ci_low, ci_high
    (:func:`analysis.aggregates.iqm_curves`).
    """
    palette = dict(palette or algo_palette(curves["algo"]))
    with sns.axes_style(_STYLE):
        fig = _figure(figsize=(6.4, 4.2))
        ax = fig.add_subplot()
    for label, rows in curves.groupby("algo", sort=True):
        rows = rows.sort_values("step")
        colour = palette[label]
        ax.plot(rows["step"], rows["value"], color=colour, marker="o", markersize=3, linewidth=2,
                label=label)
        ax.fill_between(rows["step"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2,
                        linewidth=0)
    ax.set_xlabel("Environment steps")
    ax.set_ylabel(ylabel)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    if title:
        ax.set_title(title)
    if len(curves):
        ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return fig


def plot_aggregates(
    aggregates: pd.DataFrame,
    palette: Mapping[str, Colour] | None = None,
    *,
    metrics: Sequence[str] = METRICS,
) -> Figure:
    """One panel per metric: the point estimate (tick) and its confidence interval (bar) per algo.

    ``aggregates`` has the columns algo, metric, value, ci_low, ci_high
    (:func:`analysis.aggregates.compute_aggregates`).
    """
    labels = sorted(aggregates["algo"].unique())
    palette = dict(palette or algo_palette(labels))
    with sns.axes_style(_STYLE):
        fig = _figure(figsize=(3.0 * len(metrics), 0.5 * len(labels) + 1.4))
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        rows = aggregates[aggregates["metric"] == metric].set_index("algo")
        for y, label in enumerate(labels):
            if label not in rows.index:
                continue
            row = rows.loc[label]
            ax.barh(y, row["ci_high"] - row["ci_low"], left=row["ci_low"], height=0.6,
                    color=palette[label], alpha=0.75)
            ax.vlines(row["value"], y - 0.3, y + 0.3, color="black", linewidth=2)
        title = METRIC_TITLES.get(metric, metric)
        ax.set_title(title + (" (lower is better)" if metric == "optimality_gap" else ""), fontsize=10)
        ax.set_xlabel("Normalised score")
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats``; returns the written paths."""
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=150, bbox_inches="tight")
        written.append(target)
    return written


def _figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig
