"""One score per run: the step rule (:data:`RULE`).

* ``step=S`` (``--step 1e6``): each run's score is its evaluation at S, or its nearest evaluation
  below S. With ``last_k=K`` (``--last-k K``) it is the mean of its last K evaluations at or below
  S (fewer where the run has fewer; listed).
* Default S: the last step that every compared run has reached, i.e. the smallest last-evaluation
  step among the runs on the tasks all algorithms share (among all runs if they share none).
  Runs evaluated on a common schedule are thus compared at their last common evaluation step.
* A run with no evaluation at or below S is left out (listed). An evaluation whose score is not
  finite (a NaN episode) is left out (listed), never averaged away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.errors import AnalysisError
from analysis.issues import FEWER_EVALS, NO_EVAL_AT_STEP, NON_FINITE, Issue, seeds_text
from analysis.ragged import shared_tasks
from analysis.table import RUN, finite

RULE = (
    "Each run is scored at one environment step S: its evaluation at S, or its nearest evaluation "
    "below S ({last_k}). Unless --step is given, S is the last step every compared run has reached "
    "(the smallest last-evaluation step among the runs on the tasks all algorithms share). A run "
    "with no evaluation at or below S is left out and listed."
)
#: Columns of :attr:`Selection.scores`.
SELECTED_COLUMNS: tuple[str, ...] = ("label", "source", "suite", "task", "seed", "score", "step", "evals")


@dataclass
class Selection:
    """One row per run (:data:`SELECTED_COLUMNS`): its score at ``step`` and the step(s) used."""

    scores: pd.DataFrame
    step: int
    requested: int | None
    last_k: int | None
    issues: list[Issue] = field(default_factory=list)
    limited_by: str = ""  # with the default step: the run whose last evaluation sets it ("" if all end there)

    def rule_text(self) -> str:
        k = (
            f"with --last-k {self.last_k}: the mean of its last {self.last_k} evaluations at or below S"
            if self.last_k
            else "one evaluation per run"
        )
        return RULE.format(last_k=k)


def drop_non_finite(table: pd.DataFrame) -> tuple[pd.DataFrame, list[Issue]]:
    """Evaluations with a finite score, and one issue per label listing the others."""
    ok = finite(table["score"])
    issues = []
    for label, rows in table[~ok].groupby("label", sort=True):
        first = rows.iloc[0]
        issues.append(
            Issue(
                NON_FINITE,
                f"{len(rows)} evaluation(s) with a non-finite score left out, e.g. {first['task']} / seed "
                f"{first['seed']} at step {first['step']}: {first['score']}",
                algo=label,
                task=", ".join(sorted(rows["task"].unique())),
            )
        )
    return table[ok], issues


def default_step(table: pd.DataFrame) -> int:
    """The smallest last-evaluation step among the runs on the tasks all labels share."""
    return _default_step(table)[0]


def _default_step(table: pd.DataFrame) -> tuple[int, str]:
    """(default step, the run that sets it: ``label / task / seed N``, or "" when every run ends there)."""
    if table.empty:
        raise AnalysisError("no evaluation to choose a step from")
    tasks = shared_tasks(table, table["label"].unique()) or sorted(table["task"].unique())
    rows = table[table["task"].isin(tasks)]
    last = rows.groupby(list(RUN))["step"].max()
    label, task, seed = last.idxmin()
    return int(last.min()), "" if last.nunique() == 1 else f"{label} / {task} / seed {seed}"


def select(table: pd.DataFrame, step: int | None = None, last_k: int | None = None) -> Selection:
    """Apply the step rule to a tidy table (:mod:`analysis.table`); see the module docstring."""
    if last_k is not None and last_k < 1:
        raise AnalysisError(f"last_k must be >= 1, got {last_k}")
    table, issues = drop_non_finite(table)
    if table.empty:
        raise AnalysisError("no evaluation with a finite score to analyse")
    step_used, limited_by = _default_step(table) if step is None else (int(step), "")

    before = table[table["step"] <= step_used].sort_values([*RUN, "step"])
    late = table.groupby(list(RUN)).size().index.difference(before.groupby(list(RUN)).size().index)
    for label, runs in pd.DataFrame(list(late), columns=list(RUN)).groupby("label", sort=True):
        first = table[(table["label"] == label)].groupby(["task", "seed"])["step"].min()
        examples = "; ".join(
            f"{t} seed {s} (first at {first[(t, s)]})" for t, s in zip(runs["task"][:3], runs["seed"][:3])
        )
        issues.append(
            Issue(
                NO_EVAL_AT_STEP,
                f"{len(runs)} run(s) with no evaluation at or below step {step_used} left out: {examples}"
                + (" ..." if len(runs) > 3 else ""),
                algo=label,
                task=", ".join(sorted(runs["task"].unique())),
                seeds=seeds_text(runs["seed"].unique()),
            )
        )
    if before.empty:
        raise AnalysisError(f"no run has an evaluation at or below step {step_used}")

    k = last_k or 1
    tail = before.groupby(list(RUN), sort=True).tail(k)
    grouped = tail.groupby(list(RUN), sort=True)
    scores = pd.DataFrame(
        {
            "source": grouped["source"].first(),
            "suite": grouped["suite"].first(),
            "score": grouped["score"].mean(),
            "step": grouped["step"].max(),
            "evals": grouped.size(),
        }
    ).reset_index()
    if last_k:
        short = scores[scores["evals"] < last_k]
        for label, runs in short.groupby("label", sort=True):
            issues.append(
                Issue(
                    FEWER_EVALS,
                    f"{len(runs)} run(s) have fewer than {last_k} evaluations at or below step {step_used}; "
                    f"their score is the mean of the {int(runs['evals'].min())}-{int(runs['evals'].max())} they have",
                    algo=label,
                    task=", ".join(sorted(runs["task"].unique())),
                )
            )
    scores = scores[list(SELECTED_COLUMNS)].astype({"seed": "int64", "step": "int64", "evals": "int64"})
    return Selection(scores=scores, step=step_used, requested=step, last_k=last_k, issues=issues, limited_by=limited_by)


def steps_used(selection: Selection) -> pd.DataFrame:
    """Per label: the smallest and largest evaluation step its runs' scores come from."""
    grouped = selection.scores.groupby("label", sort=True)["step"]
    return pd.DataFrame({"min_step": grouped.min(), "max_step": grouped.max()}).reset_index()
