"""Figures: aggregate intervals, performance profiles, probability of improvement, sample
efficiency, scaling and per-task scores (seaborn styling on matplotlib).

Figures are built on ``matplotlib.figure.Figure`` (Agg canvas) rather than pyplot, so importing
this module never changes the global matplotlib backend and works without a display. Colours
come from :func:`algo_palette`, keyed by every algo label of one report (sorted), so an algo has the
same colour in every figure of that report. Published baselines (``... (published)``) are drawn
with dashed lines and hatched bars, so they cannot be mistaken for our own runs. A figure whose
intervals rest on few runs carries its caveat (``note``, :mod:`analysis.caveats`) drawn under it, so
the PNG or SVG says so when looked at alone.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.aggregates import METRIC_TITLES, METRICS
from analysis.table import is_published

Colour = tuple[float, float, float]
_STYLE = "whitegrid"
_CONTEXT = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9}
SCORE_LABEL = "Normalised score (0-100)"


def algo_palette(labels: Iterable[str]) -> dict[str, Colour]:
    """One colour per algo label: seaborn's colour-blind palette in sorted-label order."""
    labels = sorted(set(labels))
    colours = sns.color_palette("colorblind" if len(labels) <= 10 else "husl", len(labels))
    return dict(zip(labels, colours))


def line_style(label: str) -> str:
    return "--" if is_published(label) else "-"


def hatch(label: str) -> str | None:
    return "///" if is_published(label) else None


def plot_sample_efficiency(
    curves: pd.DataFrame,
    palette: Mapping[str, Colour] | None = None,
    *,
    title: str | None = None,
    ylabel: str = "IQM normalised score (0-100)",
    step: int | None = None,
    note: str = "",
) -> Figure:
    """IQM score vs environment steps with a shaded confidence band, one line per algo.

    ``curves`` has the columns algo, step, value, ci_low, ci_high
    (:func:`analysis.aggregates.iqm_curves`); ``step`` marks the step the aggregates compare at.
    """
    palette = dict(palette or algo_palette(curves["algo"]))
    fig, ax = _single(figsize=(7.0, 4.4))
    for label, rows in curves.groupby("algo", sort=True):
        rows = rows.sort_values("step")
        colour = palette[label]
        ax.plot(
            rows["step"],
            rows["value"],
            color=colour,
            linestyle=line_style(label),
            marker="o",
            markersize=3,
            linewidth=2,
            label=label,
        )
        ax.fill_between(rows["step"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2, linewidth=0)
    if step is not None:
        ax.axvline(step, color="0.3", linestyle=":", linewidth=1.2, label=f"compared at {step:,}")
    ax.set_xlabel("Environment steps")
    ax.set_ylabel(ylabel)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    if title:
        ax.set_title(title)
    if len(curves):
        ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return footnote(fig, note)


def plot_aggregates(
    aggregates: pd.DataFrame,
    palette: Mapping[str, Colour] | None = None,
    *,
    metrics: Sequence[str] = METRICS,
    note: str = "",
    title: str = "",
) -> Figure:
    """One panel per metric: the point estimate (tick) and its confidence interval (bar) per algo.

    ``aggregates`` has the columns algo, metric, value, ci_low, ci_high
    (:func:`analysis.aggregates.compute_aggregates`); ``title``, if any, is drawn above the panels.
    """
    labels = sorted(aggregates["algo"].unique())
    palette = dict(palette or algo_palette(labels))
    with sns.axes_style(_STYLE), sns.plotting_context(rc=_CONTEXT):
        fig = _figure(figsize=(3.0 * len(metrics) + 1.5, 0.5 * len(labels) + 1.4))
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        rows = aggregates[aggregates["metric"] == metric].set_index("algo")
        for y, label in enumerate(labels):
            if label not in rows.index:
                continue
            row = rows.loc[label]
            ax.barh(
                y,
                row["ci_high"] - row["ci_low"],
                left=row["ci_low"],
                height=0.6,
                color=palette[label],
                alpha=0.75,
                hatch=hatch(label),
                edgecolor="white",
            )
            ax.vlines(row["value"], y - 0.3, y + 0.3, color="black", linewidth=2)
        panel = METRIC_TITLES.get(metric, metric)
        ax.set_title(panel + (" (lower is better)" if metric == "optimality_gap" else ""), fontsize=10)
        ax.set_xlabel("Normalised score")
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return footnote(fig, note)


def plot_performance_profiles(
    profiles: pd.DataFrame, palette: Mapping[str, Colour] | None = None, *, note: str = ""
) -> Figure:
    """Fraction of runs with score > tau vs tau, with CI bands (columns algo, tau, value, ci_low, ci_high)."""
    palette = dict(palette or algo_palette(profiles["algo"]))
    fig, ax = _single(figsize=(7.0, 4.4))
    for label, rows in profiles.groupby("algo", sort=True):
        colour = palette[label]
        ax.plot(rows["tau"], rows["value"], color=colour, linestyle=line_style(label), linewidth=2, label=label)
        ax.fill_between(rows["tau"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2, linewidth=0)
    ax.set_xlabel(r"Normalised score threshold $\tau$")
    ax.set_ylabel(r"Fraction of runs with score > $\tau$")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 1.02)
    if len(profiles):
        ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return footnote(fig, note)


def plot_improvement(
    poi: pd.DataFrame,
    palette: Mapping[str, Colour] | None = None,
    *,
    labels: Sequence[str] = (),
    note: str = "",
) -> Figure:
    """P(X > Y) per pair: the CI (bar, in X's colour), the point estimate (black diamond, visible even
    at 0 or 1 with a zero-width CI) and its value written beside it (``labels``, one per row, e.g.
    :func:`analysis.caveats.interval_text`; default ``value [low, high]``); 0.5 = no difference."""
    palette = dict(palette or algo_palette([*poi["x"], *poi["y"]]))
    fig, ax = _single(figsize=(7.5, 0.75 * max(len(poi), 1) + 1.3))
    names = []
    for i, row in enumerate(poi.itertuples(index=False)):
        ax.barh(
            i,
            row.ci_high - row.ci_low,
            left=row.ci_low,
            height=0.6,
            color=palette[row.x],
            alpha=0.75,
            hatch=hatch(row.x),
            edgecolor="white",
        )
        ax.vlines(row.value, i - 0.3, i + 0.3, color="black", linewidth=2)
        ax.plot(row.value, i, marker="D", markersize=7, color="black", markeredgecolor="white", zorder=3)
        text = labels[i] if i < len(labels) else f"{row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
        left = row.value <= 0.5  # written above the bar, running towards the middle
        ax.annotate(
            text,
            (row.value, i - 0.3),
            xytext=(-4 if left else 4, 2),
            textcoords="offset points",
            ha="left" if left else "right",
            va="bottom",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )
        names.append(f"P({row.x} > {row.y})")
    ax.axvline(0.5, color="0.3", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.4, -0.75)  # inverted: the first pair on top; room for the value above it
    ax.set_xlim(-0.04, 1.04)  # a point at 0 or 1 stays clear of the frame
    ax.set_xlabel("Probability of improvement")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return footnote(fig, note)


def plot_scaling(
    scaling: pd.DataFrame,
    colours: Mapping[str, Colour] | None = None,
    *,
    title: str | None = None,
    note: str = "",
) -> Figure:
    """IQM score (95% CI as error bars) against trained parameters (log x axis), one line per algo.

    ``scaling`` has the columns algo, num_parameters, iqm, ci_low, ci_high
    (:func:`analysis.scaling.scaling`); ``colours`` maps each algo to its report colour.
    """
    colours = dict(colours or algo_palette(scaling["algo"]))
    fig, ax = _single(figsize=(7.0, 4.4))
    for label, rows in scaling.groupby("algo", sort=True):
        rows = rows.sort_values("num_parameters")
        x, y = rows["num_parameters"].to_numpy(dtype=float), rows["iqm"].to_numpy(dtype=float)
        errors = [y - rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float) - y]
        ax.errorbar(
            x,
            y,
            yerr=errors,
            color=colours[label],
            linestyle=line_style(label),
            marker="o",
            markersize=5,
            linewidth=2,
            capsize=4,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("Trained parameters (log scale)")
    ax.set_ylabel("IQM normalised score (0-100)")
    if title:
        ax.set_title(title)
    if len(scaling):
        ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return footnote(fig, note)


def plot_per_task(per_task: pd.DataFrame) -> Figure:
    """Heatmap of the mean score per task (rows) and algo (columns), 0-100, annotated."""
    grid = per_task.pivot(index="task", columns="algo", values="mean")
    grid = grid.reindex(sorted(grid.index), axis=0).reindex(sorted(grid.columns), axis=1)
    height = 0.28 * len(grid.index) + 1.8
    longest = max((len(str(c)) for c in grid.columns), default=0)  # rotated labels (variants are long)
    width = max(1.1 * len(grid.columns) + 3.0, 0.07 * longest + 0.1 * max(map(len, grid.index), default=0) + 2.0)
    height += 0.05 * longest
    with sns.axes_style("white"), sns.plotting_context(rc=_CONTEXT):
        fig = _figure(figsize=(width, height))
        ax = fig.add_subplot()
        sns.heatmap(
            grid,
            ax=ax,
            vmin=0,
            vmax=100,
            cmap="viridis",
            annot=len(grid.index) <= 60,
            fmt=".0f",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            cbar_kws={"label": "Mean normalised score"},
            mask=grid.isna(),
        )
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelrotation=30)
    for text in ax.get_xticklabels():
        text.set_horizontalalignment("right")
    ax.set_title("Per-task mean score (blank: no runs)")
    fig.tight_layout()
    return fig


def footnote(fig: Figure, note: str) -> Figure:
    """``note`` (if any) drawn under the figure, wrapped to its width; saving with a tight bounding box
    keeps it in the file."""
    if note:
        width = max(40, int(fig.get_figwidth() * 14))  # characters per line at 8 pt
        fig.text(0.01, 0.0, textwrap.fill(note, width), ha="left", va="top", fontsize=8, color="#8a5a00")
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


def _single(figsize: tuple[float, float]):
    with sns.axes_style(_STYLE), sns.plotting_context(rc=_CONTEXT):
        fig = _figure(figsize=figsize)
        ax = fig.add_subplot()
    return fig, ax


def _figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig
