"""Scaling: each algorithm's IQM score against its number of trained parameters (:data:`RULE`).

The parameter count of a run is the top-level ``num_parameters`` of its ``config.yaml``
(:func:`analysis.provenance.run_settings`). Published baselines record none and are left out.

* **Points.** Labels are grouped by algorithm without the variant (``mbdpo[model.size=1-..]`` and
  ``mbdpo[model.size=5-..]`` are both ``mbdpo``; a mode suffix stays: ``mbdpo (finetuned)`` is
  its own algorithm). A label's parameter count is the median ``num_parameters`` of its compared
  runs (single-task models differ slightly by the task's observation and action sizes; listed
  when they differ). Labels of one algorithm with the same count are one point: their score
  matrices are stacked as more runs. The ``variants`` column names them.
* **Scores.** The matrices are the comparison's (:mod:`analysis.ragged`: the tasks all compared
  algorithms share, equal runs per task), scored at the report's step; the IQM and its 95%
  stratified-bootstrap interval are rliable's, seeded as every other interval of the report
  (:mod:`analysis.aggregates`), so a point made of one label equals that label's IQM in
  ``aggregates.csv``.
* **Shown** only when some algorithm has points at two or more parameter counts; otherwise the
  reason is one issue (and the table is empty). A parameter-free algorithm (``num_parameters: 0``,
  e.g. ``random``) has no place on the log axis: left out, and listed only when the figure is drawn.
  These absences (one model size, no counts recorded, parameter-free) are "not drawn" issues, no
  problem (:mod:`analysis.issues`); runs without a count beside runs with one are a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rliable import metrics

from analysis.aggregates import CONFIDENCE, interval_estimates
from analysis.issues import (
    ALGO_EXCLUDED,
    FIGURE_SKIPPED,
    OFF_SCALING,
    PARAMETERS_DIFFER,
    SCALING_NO_COUNTS,
    SCALING_ONE_SIZE,
    Issue,
)
from analysis.ragged import Comparison
from analysis.table import run_label

#: Columns of ``scaling.csv``.
SCALING_COLUMNS: tuple[str, ...] = (
    "algo",
    "num_parameters",
    "variants",
    "runs",
    "tasks",
    "iqm",
    "ci_low",
    "ci_high",
)
#: Columns of the per-run table the pipeline passes in (one row per run of our own and task).
RUN_INFO_COLUMNS: tuple[str, ...] = (
    "label",
    "task",
    "seed",
    "run",
    "algo",
    "variant",
    "mode",
    "checkpoint",
    "num_parameters",
)
RULE = (
    "Scaling: runs are grouped by algorithm without the variant (a mode suffix such as "
    "`(finetuned)` stays) and by parameter count (`num_parameters` in each run's `config.yaml`; "
    "a variant's count is the median over its compared runs). Variants of one algorithm with the "
    "same count are one point, their runs pooled. Each point is the IQM over the compared tasks "
    "and runs at the step, with its 95% stratified-bootstrap CI (rliable, seeded like the "
    "aggregates). Drawn only when some algorithm has two or more parameter counts."
)


@dataclass
class Scaling:
    """The scaling table (:data:`SCALING_COLUMNS`), whether to show it, and the labels per algo."""

    table: pd.DataFrame
    shown: bool
    labels: dict[str, list[str]] = field(default_factory=dict)  # algo -> its labels in the table
    issues: list[Issue] = field(default_factory=list)


def empty_scaling(issues: list[Issue] | None = None) -> Scaling:
    return Scaling(pd.DataFrame(columns=list(SCALING_COLUMNS)), False, {}, list(issues or []))


def scaling(
    comparison: Comparison,
    run_info: pd.DataFrame,
    *,
    reps: int,
    seed: int | None = 0,
    task_bootstrap: bool = False,
    confidence: float = CONFIDENCE,
) -> Scaling:
    """The scaling table of ``comparison``'s labels, from ``run_info`` (:data:`RUN_INFO_COLUMNS`)."""
    if comparison.empty:
        return empty_scaling([Issue(FIGURE_SKIPPED, "scaling figure absent: the algorithms share no task")])
    info = run_info.set_index(["label", "task", "seed"]) if len(run_info) else None
    issues: list[Issue] = []
    counts: dict[tuple[str, str], dict[str, int]] = {}  # (algo, mode) -> {label: parameter count}
    variants: dict[str, str] = {}
    unrecorded, parameter_free = [], []
    for label in comparison.labels:
        keys = [(label, task, s) for task, seeds in zip(comparison.tasks, comparison.seeds[label]) for s in seeds]
        rows = info.reindex(keys).dropna(subset=["algo"]) if info is not None else None
        if rows is None or rows.empty:
            continue  # published, or not a run of our own
        values = rows["num_parameters"].dropna().astype("int64")
        algo, mode = rows["algo"].iloc[0], rows["mode"].iloc[0]
        if values.empty:
            unrecorded.append(label)
            continue
        if (values == 0).all():
            parameter_free.append(label)
            continue
        if len(values) < len(rows):
            issues.append(
                Issue(
                    PARAMETERS_DIFFER,
                    f"{len(rows) - len(values)} of {len(rows)} compared run(s) "
                    "record no num_parameters; the count is the median of the others",
                    algo=label,
                )
            )
        count = int(np.median(values))
        if values.nunique() > 1:
            issues.append(
                Issue(
                    PARAMETERS_DIFFER,
                    f"num_parameters differs between its compared runs "
                    f"({values.min():,}-{values.max():,}); the scaling figure uses the median, "
                    f"{count:,}",
                    algo=label,
                )
            )
        counts.setdefault((algo, mode), {})[label] = count
        variants[label] = rows["variant"].iloc[0]

    distinct = {run_label(a, "default", m): sorted(set(c.values())) for (a, m), c in counts.items()}
    if not any(len(v) >= 2 for v in distinct.values()):
        if not counts:
            reason = (
                "no compared run of our own"
                + (" with trained parameters" if parameter_free else "")
                + " records num_parameters (the top-level field of its "
                "config.yaml; runs written before it existed have none)"
            )
        else:
            reason = (
                "no algorithm has compared runs at two or more parameter counts ("
                + "; ".join(
                    f"{name}: {', '.join(f'{n:,}' for n in values)}" for name, values in sorted(distinct.items())
                )
                + ")"
            )
        if parameter_free:
            reason += f"; parameter-free (num_parameters 0): {', '.join(parameter_free)}"
        kind = SCALING_ONE_SIZE if counts else SCALING_NO_COUNTS  # nothing to draw, not a problem
        return empty_scaling([*issues, Issue(kind, f"scaling figure absent: {reason}")])
    for label in unrecorded:
        issues.append(
            Issue(ALGO_EXCLUDED, "left out of the scaling figure: no compared run records num_parameters", algo=label)
        )
    for label in parameter_free:
        issues.append(
            Issue(
                OFF_SCALING,
                "left out of the scaling figure: parameter-free (num_parameters 0), no place on its log axis",
                algo=label,
            )
        )

    def iqm(scores: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(scores)])

    rows, labels_of = [], {}
    for (algo, mode), by_label in sorted(counts.items()):
        name = run_label(algo, "default", mode)
        labels_of[name] = sorted(by_label)
        for count in sorted(set(by_label.values())):
            members = sorted(name for name, c in by_label.items() if c == count)
            matrix = np.vstack([comparison.matrices[name] for name in members])
            point, interval = interval_estimates(
                f"{name} @ {count}",
                matrix,
                iqm,
                reps=reps,
                seed=seed,
                task_bootstrap=task_bootstrap,
                confidence=confidence,
            )
            rows.append(
                (
                    name,
                    count,
                    ", ".join(variants[name] for name in members),
                    matrix.shape[0],
                    matrix.shape[1],
                    float(point[0]),
                    float(interval[0, 0]),
                    float(interval[1, 0]),
                )
            )
    table = pd.DataFrame(rows, columns=list(SCALING_COLUMNS))
    return Scaling(table=table, shown=True, labels=labels_of, issues=issues)


def scaling_colours(result: Scaling, palette: dict) -> dict:
    """Per scaling algorithm: its own label's colour if the report has it, else its first label's."""
    return {name: palette.get(name, palette[labels[0]]) for name, labels in result.labels.items()}
