"""Score matrices and curves in rliable's format, from a results table.

* :func:`score_matrices`: ``{label: array (runs, tasks)}`` at one step, by the step rule of
  :mod:`analysis.selection` and the ragged-data rule of :mod:`analysis.ragged`.
* :func:`score_curves`: per label a ``(runs, tasks, steps)`` array for sample-efficiency curves,
  on the comparison's tasks and runs. Step grid rule (:data:`CURVE_RULE`): per algorithm, its
  evaluation steps from the latest first evaluation to the earliest last evaluation among its
  runs; where a run was not evaluated at a grid step (evaluation schedules differ), its nearest
  earlier evaluation is used, the same rule as for a single step, and the number of such points
  is reported.

Both accept the tidy table of :mod:`analysis.table` or our per-episode table of
:func:`analysis.results.load_results`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from analysis.contract import check_score_dict, check_score_matrix
from analysis.errors import AnalysisError
from analysis.issues import CURVE_FILL, FIGURE_SKIPPED, Issue
from analysis.ragged import Comparison, compare
from analysis.selection import Selection, drop_non_finite, select
from analysis.table import algo_label, check_one_suite_per_run, tidy_from_episodes

__all__ = [
    "CURVE_RULE",
    "ScoreCurve",
    "ScoreMatrices",
    "algo_label",
    "as_tidy",
    "check_score_dict",
    "check_score_matrix",
    "score_curves",
    "score_matrices",
]

CURVE_RULE = (
    "Curves: per algorithm, IQM over runs and tasks at each of its evaluation steps from the latest "
    "first evaluation to the earliest last evaluation among its runs (the compared tasks and runs "
    "only); where a run was not evaluated at such a step, its nearest earlier evaluation is used."
)


def as_tidy(table: pd.DataFrame) -> pd.DataFrame:
    """The tidy table (:mod:`analysis.table`) of ``table`` (tidy already, or per episode)."""
    tidy = table if "label" in table.columns else tidy_from_episodes(table)
    if tidy.empty:
        raise AnalysisError("no evaluation rows to analyse")
    check_one_suite_per_run(tidy)
    return tidy


@dataclass
class ScoreMatrices:
    """rliable matrices at one step, with the selection and comparison they come from."""

    selection: Selection
    comparison: Comparison

    @property
    def matrices(self) -> dict[str, np.ndarray]:
        return self.comparison.matrices

    @property
    def tasks(self) -> list[str]:
        return self.comparison.tasks

    @property
    def step(self) -> int:
        return self.selection.step

    @property
    def issues(self) -> list[Issue]:
        return [*self.selection.issues, *self.comparison.issues]


def score_matrices(
    table: pd.DataFrame, step: int | None = None, *, last_k: int | None = None, labels: Iterable[str] | None = None
) -> ScoreMatrices:
    """rliable matrices of ``labels`` (default: all) at ``step`` (default: see analysis.selection).

    Raises :class:`AnalysisError` if nothing can be selected or the algorithms share no task.
    """
    tidy = as_tidy(table)
    if labels is not None:
        tidy = tidy[tidy["label"].isin(list(labels))]
    selection = select(tidy, step, last_k)
    comparison = compare(selection.scores, sorted(selection.scores["label"].unique()))
    if comparison.empty:
        raise AnalysisError(f"the algorithms {', '.join(comparison.labels)} share no task")
    return ScoreMatrices(selection=selection, comparison=comparison)


@dataclass(frozen=True)
class ScoreCurve:
    """One algo's scores over training: ``scores[run, task, k]`` is the score at ``steps[k]``."""

    steps: np.ndarray  # (num_steps,), increasing
    scores: np.ndarray  # (num_runs, num_tasks, num_steps)
    filled: int = 0  # entries taken from a run's nearest earlier evaluation
    seeds: list[list[int]] = field(default_factory=list)  # per task, the seed of each row


def score_curves(
    table: pd.DataFrame,
    tasks: list[str] | None = None,
    seeds: Mapping[str, list[list[int]]] | None = None,
    *,
    max_step: int | None = None,
) -> tuple[dict[str, ScoreCurve], list[str], list[Issue]]:
    """Per label, scores at its curve grid (see :data:`CURVE_RULE`) on ``tasks``.

    ``tasks`` defaults to the tasks all labels share; ``seeds`` (label -> per task the seeds, as in
    :attr:`analysis.ragged.Comparison.seeds`) picks the runs, by default the ragged rule on the
    runs' last evaluations. ``max_step`` cuts the grids. Returns (curves, tasks, issues); a label
    whose runs share no span of steps gets an issue instead of a curve.
    """
    tidy, issues = drop_non_finite(as_tidy(table))
    if seeds is None:
        last = tidy.sort_values("step").groupby(["label", "task", "seed"], as_index=False).last()
        if tasks is not None:
            last = last[last["task"].isin(tasks)]
        chosen = compare(last, sorted(last["label"].unique()), note_unshared=False)
        tasks, seeds = chosen.tasks, chosen.seeds
    if not tasks:
        raise AnalysisError("no task shared by all algorithms: no curve to draw")
    curves = {}
    for label in sorted(seeds):
        curve, problem = _curve(label, tidy[tidy["label"] == label], tasks, seeds[label], max_step)
        if curve is None:
            issues.append(Issue(FIGURE_SKIPPED, f"no sample-efficiency curve: {problem}", algo=label))
            continue
        curves[label] = curve
        if curve.filled:
            total = curve.scores.size
            issues.append(
                Issue(
                    CURVE_FILL,
                    f"{curve.filled} of {total} curve points use the run's nearest earlier "
                    "evaluation (runs evaluated on different schedules)",
                    algo=label,
                )
            )
    return curves, list(tasks), issues


def _curve(
    label: str, rows: pd.DataFrame, tasks: list[str], seeds: list[list[int]], max_step: int | None
) -> tuple[ScoreCurve | None, str]:
    runs = {key: group.sort_values("step") for key, group in rows.groupby(["task", "seed"])}
    wanted = [(task, seed) for task, task_seeds in zip(tasks, seeds) for seed in task_seeds]
    missing = [key for key in wanted if key not in runs]
    if missing:
        return None, f"run {missing[0][0]} / seed {missing[0][1]} has no evaluation"
    start = max(int(runs[key]["step"].min()) for key in wanted)
    stop = min(int(runs[key]["step"].max()) for key in wanted)
    if max_step is not None:
        stop = min(stop, int(max_step))
    steps = np.array(sorted({int(s) for key in wanted for s in runs[key]["step"] if start <= s <= stop}))
    if not len(steps):
        return None, (
            f"its runs share no span of evaluation steps (latest first evaluation {start}, earliest last one {stop})"
        )
    n = len(seeds[0])
    scores = np.empty((n, len(tasks), len(steps)))
    filled = 0
    for j, (task, task_seeds) in enumerate(zip(tasks, seeds)):
        for i, seed in enumerate(task_seeds):
            run = runs[(task, seed)]
            run_steps = run["step"].to_numpy()
            index = np.searchsorted(run_steps, steps, side="right") - 1
            scores[i, j, :] = run["score"].to_numpy(dtype=float)[index]
            filled += int((run_steps[index] != steps).sum())
    for k, s in enumerate(steps):
        check_score_matrix(f"{label} at step {s}", scores[..., k], len(tasks))
    return ScoreCurve(steps=steps, scores=scores, filled=filled, seeds=[list(s) for s in seeds]), ""
