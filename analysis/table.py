"""The tidy results table: one row per evaluation, i.e. per (suite, task, algo, variant, seed, step).

Columns (:data:`TIDY_COLUMNS`):

* ``suite, task, algo, variant, seed, step``: the evaluation's identity;
* ``label``: the algorithm as reports name it: ``algo`` for the default variant, ``algo[variant]``
  otherwise, and ``algo (published)`` for published baselines (:mod:`analysis.baselines`); a run
  trained offline (``run.mode: offline`` in its ``config.yaml``) adds `` (offline)``, a fine-tuned
  one (``run.mode: finetune``) `` (finetuned)`` (:func:`run_label`);
* ``source``: ``runs`` (our run directories) or ``published``;
* ``return``: mean episode return (NaN where not published), ``score``: mean normalised score
  (0-100, ``configs/suites.yaml``), ``success``: mean success in [0, 1] (NaN for tasks without a
  success signal, i.e. DMControl); ``episodes``: episodes averaged (NaN where not published).

Our ``eval.csv`` files hold one row per episode; :func:`tidy_from_episodes` averages the episodes of
each evaluation. A NaN episode score makes that evaluation's score NaN, which the step selection
then reports (it is never averaged away).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from configs.results import DEFAULT_MODE, RUN_MODES

TIDY_COLUMNS: tuple[str, ...] = (
    "suite",
    "task",
    "algo",
    "variant",
    "label",
    "source",
    "seed",
    "step",
    "return",
    "score",
    "success",
    "episodes",
)
#: One run, once labelled.
RUN: tuple[str, ...] = ("label", "task", "seed")
DEFAULT_VARIANT = "default"
SOURCE_RUNS = "runs"
SOURCE_PUBLISHED = "published"
PUBLISHED_TAG = "published"


def algo_label(algo: str, variant: str) -> str:
    """``algo`` for the default variant, else ``algo[variant]`` (e.g. ``mbdpo[planner.iterations=4-1a2b]``)."""
    return algo if variant == DEFAULT_VARIANT else f"{algo}[{variant}]"


def run_label(algo: str, variant: str, mode: str = DEFAULT_MODE) -> str:
    """:func:`algo_label` plus the mode's label (configs/results.py RUN_MODES): ``mbdpo``,
    ``mbdpo[v] (finetuned)``, ``tdmpc2 (offline)``."""
    return algo_label(algo, variant) + RUN_MODES[mode].label


def from_scratch_label(label: str) -> str | None:
    """``X`` for the label ``X (finetuned)`` of a run that started from a checkpoint, else None."""
    for mode in RUN_MODES.values():
        suffix = mode.label
        if mode.from_checkpoint and suffix and label.endswith(suffix) and len(label) > len(suffix):
            return label[: -len(suffix)]
    return None


def published_label(algo: str, qualifier: str | None = None) -> str:
    """``tdmpc2 (published)``, or ``tdmpc2 (published, <qualifier>)`` to tell two sources apart."""
    return f"{algo} ({PUBLISHED_TAG})" if not qualifier else f"{algo} ({PUBLISHED_TAG}, {qualifier})"


def is_published(label: str) -> bool:
    return label.endswith(")") and f" ({PUBLISHED_TAG}" in label


def empty_tidy() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=list(TIDY_COLUMNS)))


def tidy_from_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """Our evaluation table (one row per episode, :func:`analysis.results.load_results`) -> tidy.

    (A run under several suite directories is kept under each; see :func:`check_one_suite_per_run`.)
    A ``mode`` column (``run.mode`` of each row's run, see configs/results.py RUN_MODES), where present, goes
    into the label (:func:`run_label`), so runs of one algorithm in different modes stay apart.
    """
    if episodes.empty:
        return empty_tidy()
    if "mode" in episodes.columns:
        labels = pd.Series(
            [run_label(a, v, m) for a, v, m in zip(episodes["algo"], episodes["variant"], episodes["mode"])],
            index=episodes.index,
        )
    else:
        labels = pd.Series(
            [algo_label(a, v) for a, v in zip(episodes["algo"], episodes["variant"])], index=episodes.index
        )
    keys = [
        *(episodes[c] for c in ("suite", "task", "algo", "variant")),
        labels.rename("label"),
        episodes["seed"],
        episodes["step"],
    ]
    columns = {}
    for column in ("return", "score", "success"):
        values = episodes[column]
        mean = values.groupby(keys, sort=True).mean()
        # NaN in any episode -> NaN for the evaluation (success is NaN throughout for DMControl).
        columns[column] = mean.where(~values.isna().groupby(keys, sort=True).any())
    columns["episodes"] = episodes["score"].groupby(keys, sort=True).size().astype(float)
    table = pd.DataFrame(columns).reset_index()
    table["source"] = SOURCE_RUNS
    return _typed(table[list(TIDY_COLUMNS)])


def check_one_suite_per_run(table: pd.DataFrame) -> None:
    """Raise :class:`AnalysisError` if one (label, task, seed) appears under several suites."""
    suites = table.groupby(list(RUN))["suite"].nunique()
    if (suites > 1).any():
        label, task, seed = suites[suites > 1].index[0]
        names = sorted(table.loc[(table["label"] == label) & (table["task"] == task), "suite"].unique())
        raise AnalysisError(
            f"run {label} / {task} / seed {seed} appears under several suites ({', '.join(names)}); "
            "choose one with --suite, or pass RUNS_DIR/<suite>"
        )


def concat_tidy(*tables: pd.DataFrame) -> pd.DataFrame:
    tables = [t for t in tables if len(t)]
    if not tables:
        return empty_tidy()
    table = pd.concat(tables, ignore_index=True)
    return _typed(table).sort_values([*RUN, "step"], kind="stable").reset_index(drop=True)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in ("suite", "task", "algo", "variant", "label", "source"):
        table[column] = table[column].astype(str) if len(table) else table[column].astype(object)
    for column in ("seed", "step"):
        table[column] = table[column].astype("int64")
    for column in ("return", "score", "success", "episodes"):
        table[column] = table[column].astype("float64")
    return table


def runs_of(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: label, task, seed, first and last eval step, number of evals."""
    grouped = table.groupby(list(RUN), sort=True)["step"]
    return pd.DataFrame(
        {
            "first_step": grouped.min(),
            "last_step": grouped.max(),
            "evals": grouped.size(),
        }
    ).reset_index()


def finite(values: pd.Series) -> np.ndarray:
    return np.isfinite(values.to_numpy(dtype=float))
