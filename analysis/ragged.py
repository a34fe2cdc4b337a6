"""Ragged data -> rliable score matrices, by one documented rule (:data:`RULE`).

rliable wants ``{label: array (runs, tasks)}``: the same task columns for every algorithm compared,
and a full matrix, i.e. the same number of runs on every task of one algorithm. Real results are
ragged (an algorithm lacks a task, a task lacks a seed), so:

* **Tasks.** An algorithm's own per-task numbers use every task and run it has. A comparison
  between algorithms (aggregates, performance profiles, sample-efficiency curves) uses only the
  tasks that *all* compared algorithms have; a probability of improvement uses the tasks the two
  algorithms of its pair share. Every task left out is listed, per algorithm.
* **Runs.** Where an algorithm has more runs on some compared tasks than on others, every task is
  cut to its smallest count, keeping the runs with the lowest seeds; the dropped runs are listed.
  Nothing is padded or imputed, so no NaN ever enters a matrix.

Row ``i`` of a task's column is the run with the ``i``-th smallest kept seed; columns follow
``tasks`` (sorted). Different algorithms may have different numbers of runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.contract import check_score_dict
from analysis.errors import AnalysisError
from analysis.issues import SEEDS_TRUNCATED, TASK_NOT_SHARED, Issue, seeds_text

RULE = (
    "Each algorithm's per-task table uses every task and run it has. Comparisons across algorithms "
    "(aggregates, performance profiles, sample-efficiency curves) use only the tasks all compared "
    "algorithms have; each probability of improvement uses the tasks its two algorithms share. "
    "rliable's stratified bootstrap needs the same number of runs on every task of an algorithm: "
    "where an algorithm has more runs on some compared tasks, each task keeps its runs with the "
    "lowest seeds, down to the smallest count. Nothing is padded or imputed; every task and run "
    "left out is listed under 'Missing and excluded'."
)


@dataclass
class Comparison:
    """rliable matrices for ``labels`` on their shared ``tasks``, and what the rule left out."""

    labels: list[str]
    tasks: list[str]
    matrices: dict[str, np.ndarray]
    seeds: dict[str, list[list[int]]]  # label -> per task (column order) the seeds of its rows
    issues: list[Issue] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.tasks


def shared_tasks(table: pd.DataFrame, labels: Iterable[str]) -> list[str]:
    """Sorted tasks for which every one of ``labels`` has at least one row in ``table``."""
    labels = list(labels)
    tasks_of = table.groupby("label")["task"].agg(lambda s: set(s.unique()))
    common: set[str] | None = None
    for label in labels:
        tasks = tasks_of.get(label, set())
        common = set(tasks) if common is None else common & tasks
    return sorted(common or ())


def compare(selected: pd.DataFrame, labels: Sequence[str], *, note_unshared: bool = True) -> Comparison:
    """Apply the rule to ``selected`` (one row per run: label, task, seed, score) for ``labels``.

    Returns an empty :class:`Comparison` (no tasks) if the algorithms share no task. Issues: the
    tasks each algorithm has beyond the shared ones (if ``note_unshared``), and dropped runs.
    """
    labels = sorted(labels)
    tasks = shared_tasks(selected, labels)
    issues: list[Issue] = []
    if note_unshared:
        issues += _unshared(selected, labels, tasks)
    matrices, seeds = {}, {}
    if tasks:
        for label in labels:
            rows = selected[(selected["label"] == label) & selected["task"].isin(tasks)]
            matrices[label], seeds[label], dropped = build_matrix(label, rows, tasks)
            issues += dropped
        check_score_dict(matrices, tasks)
    return Comparison(labels=labels, tasks=tasks, matrices=matrices, seeds=seeds, issues=issues)


def build_matrix(label: str, rows: pd.DataFrame, tasks: list[str]) -> tuple[np.ndarray, list[list[int]], list[Issue]]:
    """(runs, tasks) matrix of one algorithm, its seeds per task, and an issue per dropped run set."""
    by_task = {task: group.sort_values("seed") for task, group in rows.groupby("task")}
    missing = [t for t in tasks if t not in by_task]
    if missing:
        raise AnalysisError(f"{label} has no runs for task(s) {', '.join(missing)}")
    duplicated = rows.duplicated(["task", "seed"])
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise AnalysisError(f"{label} / {first['task']} / seed {first['seed']} has more than one score")
    counts = {t: len(by_task[t]) for t in tasks}
    n = min(counts.values())
    issues = []
    matrix = np.empty((n, len(tasks)))
    seeds = []
    for j, task in enumerate(tasks):
        group = by_task[task]
        matrix[:, j] = group["score"].to_numpy(dtype=float)[:n]
        kept = [int(s) for s in group["seed"].to_numpy()[:n]]
        seeds.append(kept)
        if counts[task] > n:
            dropped = group["seed"].to_numpy()[n:]
            issues.append(
                Issue(
                    SEEDS_TRUNCATED,
                    f"{counts[task]} runs on {task}, but only {n} on some other compared task "
                    f"({_fewest(counts, n)}); kept seeds {seeds_text(kept)}",
                    algo=label,
                    task=task,
                    seeds=seeds_text(dropped),
                )
            )
    return matrix, seeds, issues


def _unshared(selected: pd.DataFrame, labels: list[str], tasks: list[str]) -> list[Issue]:
    issues = []
    shared = set(tasks)
    for label in labels:
        own = sorted(set(selected.loc[selected["label"] == label, "task"]) - shared)
        if own:
            others = [other for other in labels if other != label]
            issues.append(
                Issue(
                    TASK_NOT_SHARED,
                    f"{len(own)} task(s) not in the comparison (some of {', '.join(others)} lack them): "
                    f"{_listing(own)}",
                    algo=label,
                )
            )
    return issues


def _fewest(counts: dict[str, int], n: int) -> str:
    fewest = [t for t, c in counts.items() if c == n]
    return fewest[0] + (f" and {len(fewest) - 1} more" if len(fewest) > 1 else "")


def _listing(items: list[str], limit: int = 12) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
