"""Score matrices in rliable's format, built from the evaluation table of :mod:`analysis.results`.

rliable's contract: ``{algo_label: scores}`` with ``scores`` of shape ``(num_runs, num_tasks)``
(runs axis first; here a run is a seed), the task columns in one fixed order shared by all algos,
every value finite. For sample-efficiency curves a third axis holds the eval steps:
``(num_runs, num_tasks, num_steps)``.

One eval (a run evaluated at one step) may hold several episodes; its score is their mean.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.results import RUN_KEYS

DEFAULT_VARIANT = "default"
#: Columns that identify one run once the algorithm label is formed.
_RUN = ("label", "task", "seed")


def algo_label(algo: str, variant: str) -> str:
    """``algo`` for the default variant, else ``algo[variant]`` (e.g. ``mbdpo[planner.iterations=4-1a2b]``)."""
    return algo if variant == DEFAULT_VARIANT else f"{algo}[{variant}]"


def eval_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Mean score over the episodes of each eval.

    Returns one row per (algorithm label, task, seed, step) with the columns
    label, suite, algo, variant, task, seed, step, score, episodes. A NaN episode score makes
    the eval's score NaN (it is reported by the validation in :func:`score_matrices`, not
    silently dropped). Raises :class:`AnalysisError` on an empty table, or if one
    (label, task, seed) appears under more than one suite (filter the table by suite first).
    """
    if table.empty:
        raise AnalysisError("no evaluation rows to analyse")
    keys = [table[c] for c in (*RUN_KEYS, "step")]
    grouped = table["score"].groupby(keys, sort=True)
    per_eval = pd.DataFrame({
        "score": grouped.mean().where(~table["score"].isna().groupby(keys, sort=True).any()),
        "episodes": grouped.size(),
    }).reset_index()
    per_eval.insert(0, "label", [algo_label(a, v) for a, v in zip(per_eval["algo"], per_eval["variant"])])

    suites = per_eval.groupby(list(_RUN))["suite"].nunique()
    if (suites > 1).any():
        label, task, seed = suites[suites > 1].index[0]
        raise AnalysisError(
            f"run {label} / {task} / seed {seed} appears under several suites "
            f"({', '.join(sorted(per_eval['suite'].unique()))}); analyse one suite at a time "
            "(e.g. pass RUNS_DIR/<suite>)"
        )
    return per_eval[["label", "suite", "algo", "variant", "task", "seed", "step", "score", "episodes"]]


def select_step(per_eval: pd.DataFrame, step: int | None = None) -> tuple[pd.DataFrame, int]:
    """One eval per run: the eval at ``step``, or the nearest eval step below it.

    With ``step=None`` the step is the last eval step common to all runs (all algos and tasks),
    so every run is compared at the same point. Returns (one row of ``per_eval`` per run,
    step used: ``step`` as given, else the common step). Raises :class:`AnalysisError` if no
    step is common to all runs, or if a run has no eval at or below ``step``.
    """
    runs = per_eval.groupby(list(_RUN), sort=True)
    if step is None:
        common = _common_steps(per_eval["step"].groupby([per_eval[c] for c in _RUN]))
        if not common:
            raise AnalysisError(
                f"no eval step is common to all {runs.ngroups} runs; choose one with step=N "
                "(each run then uses its nearest eval step at or below N)"
            )
        step = max(common)
        selected = per_eval[per_eval["step"] == step]
    else:
        before = per_eval[per_eval["step"] <= step]
        late = sorted(set(runs.groups) - set(before.groupby(list(_RUN)).groups))
        if late:
            raise AnalysisError(
                f"{len(late)} run(s) have no eval at or below step {step}: {_describe(late)}"
            )
        selected = before.loc[before.groupby(list(_RUN))["step"].idxmax()]
    return selected.sort_values(list(_RUN)).reset_index(drop=True), int(step)


def score_matrices(
    table: pd.DataFrame, step: int | None = None
) -> tuple[dict[str, np.ndarray], list[str], int]:
    """rliable score matrices at one step.

    ``table`` is the evaluation table of :func:`analysis.results.load_results`. Returns
    (``{algo_label: array (num_runs, num_tasks)}``, tasks, step used). Tasks are sorted by name;
    column ``j`` of every matrix is ``tasks[j]``. Row ``i`` of a task's column is the run with the
    ``i``-th smallest seed of that task. The step is chosen by :func:`select_step`.

    Raises :class:`AnalysisError` if an algo lacks a task, has unequal numbers of runs per task
    (ragged seeds), or a score is not finite.
    """
    selected, step_used = select_step(eval_scores(table), step)
    _check_finite(selected)
    tasks = sorted(selected["task"].unique())
    matrices = {}
    for label, rows in selected.groupby("label", sort=True):
        runs_per_task = _check_runs_per_task(label, rows, tasks)
        matrix = np.empty((runs_per_task, len(tasks)))
        for j, task in enumerate(tasks):
            matrix[:, j] = rows[rows["task"] == task].sort_values("seed")["score"].to_numpy()
        matrices[label] = matrix
    check_score_dict(matrices, tasks)
    return matrices, tasks, step_used


@dataclass(frozen=True)
class ScoreCurve:
    """One algo's scores over training: ``scores[run, task, k]`` is the score at ``steps[k]``."""

    steps: np.ndarray  # (num_steps,), increasing
    scores: np.ndarray  # (num_runs, num_tasks, num_steps)


def score_curves(table: pd.DataFrame) -> tuple[dict[str, ScoreCurve], list[str]]:
    """Scores at every eval step common to all runs of each algo, for sample-efficiency curves.

    Returns (``{algo_label: ScoreCurve}``, tasks). Tasks are sorted and shared by all algos as in
    :func:`score_matrices`; steps are per algo (algos may evaluate on different schedules), and
    for each algo are the eval steps that all its runs have reached. ``curve.scores[..., k]`` is
    a (runs, tasks) matrix in rliable's format. Raises :class:`AnalysisError` as
    :func:`score_matrices` does, or if an algo's runs share no eval step.
    """
    per_eval = eval_scores(table)
    tasks = sorted(per_eval["task"].unique())
    curves = {}
    for label, rows in per_eval.groupby("label", sort=True):
        common = _common_steps(rows.groupby(["task", "seed"])["step"])
        if not common:
            raise AnalysisError(f"the runs of {label} share no eval step; cannot draw its curve")
        steps = np.array(sorted(common))
        rows = rows[rows["step"].isin(common)]
        _check_finite(rows)
        runs_per_task = _check_runs_per_task(label, rows[rows["step"] == steps[0]], tasks)
        scores = np.empty((runs_per_task, len(tasks), len(steps)))
        for j, task in enumerate(tasks):
            grid = rows[rows["task"] == task].pivot(index="seed", columns="step", values="score")
            scores[:, j, :] = grid.sort_index()[steps].to_numpy()
        for k, s in enumerate(steps):
            check_score_matrix(f"{label} at step {s}", scores[..., k], len(tasks))
        curves[label] = ScoreCurve(steps=steps, scores=scores)
    return curves, tasks


def check_score_dict(score_dict: dict[str, np.ndarray], tasks: list[str]) -> None:
    """Check rliable's contract for every matrix; raise :class:`AnalysisError` naming the algo."""
    if not score_dict:
        raise AnalysisError("no algorithm to compare")
    for label, matrix in score_dict.items():
        check_score_matrix(label, matrix, len(tasks))


def check_score_matrix(name: str, matrix: np.ndarray, num_tasks: int) -> None:
    """A (num_runs >= 1, num_tasks) float array with only finite values (runs axis first)."""
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise AnalysisError(f"scores of {name} must be a 2-D array (runs, tasks), got {np.shape(matrix)}")
    if matrix.shape[1] != num_tasks or matrix.shape[0] < 1:
        raise AnalysisError(
            f"scores of {name} have shape {matrix.shape}; expected (runs >= 1, {num_tasks} tasks)"
        )
    if not np.isfinite(matrix).all():
        bad = np.argwhere(~np.isfinite(matrix))[0]
        raise AnalysisError(f"scores of {name} are not all finite (run {bad[0]}, task {bad[1]})")


def _check_runs_per_task(label: str, rows: pd.DataFrame, tasks: list[str]) -> int:
    """The number of runs per task of ``label``, after checking it has every task, equally often."""
    seeds = rows.groupby("task")["seed"].apply(lambda s: sorted(s.unique()))
    missing = [t for t in tasks if t not in seeds.index]
    if missing:
        raise AnalysisError(f"{label} has no runs for task(s) {', '.join(missing)}")
    counts = seeds.map(len)
    if counts.nunique() > 1:
        detail = "; ".join(f"{t}: {len(s)} (seeds {', '.join(map(str, s))})" for t, s in seeds.items())
        raise AnalysisError(f"{label} has unequal numbers of runs per task (ragged seeds): {detail}")
    return int(counts.iloc[0])


def _check_finite(per_eval: pd.DataFrame) -> None:
    """Raise :class:`AnalysisError` naming the first eval whose score is NaN or infinite."""
    bad = per_eval[~np.isfinite(per_eval["score"].to_numpy(dtype=float))]
    if len(bad):
        first = bad.iloc[0]
        raise AnalysisError(
            f"{len(bad)} eval(s) have a non-finite score, e.g. {first['label']} / {first['task']} / "
            f"seed {first['seed']} at step {first['step']}: {first['score']}"
        )


def _common_steps(steps_per_run) -> set[int]:
    """Steps present in every group of a grouped ``step`` Series."""
    common: set[int] | None = None
    for _, steps in steps_per_run:
        common = set(steps) if common is None else common & set(steps)
    return {int(s) for s in common or ()}


def _describe(runs: Iterable[tuple], limit: int = 5) -> str:
    runs = list(runs)
    text = ", ".join(f"{label} / {task} / seed {seed}" for label, task, seed in runs[:limit])
    return text + (f", ... ({len(runs) - limit} more)" if len(runs) > limit else "")
