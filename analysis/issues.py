"""What was missing, skipped or excluded: one :class:`Issue` per fact, collected while analysing.

Every rule that leaves data out (a file that cannot be read, a run without evaluations, a task
that not all compared algorithms have, runs truncated to equal counts, ...) records an Issue, so
the report can list exactly what was not used and why. Nothing is dropped silently.

Two classes of issue, told apart by kind here and nowhere else (:func:`is_problem`):

* **Problems** (:data:`KINDS` less :data:`NOT_DRAWN`): data left out of, or repaired for, the
  analysis (an unusable file, a damaged or unfinished run, runs dropped to equal counts, ...).
  The report's banner lists them as "Left out or repaired" (:func:`left_out_summary`).
* **Not drawn** (:data:`NOT_DRAWN`): something the report has no data to draw although every run
  and file was used, e.g. the scaling figure of runs at one model size, or a default pair of
  ``configs/analysis.yaml`` whose algorithm was not run. Expected, not damage: one quiet line
  (:func:`not_drawn_summary`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import pandas as pd

#: Columns of :func:`issues_table` (and of ``missing.csv``).
ISSUE_COLUMNS: tuple[str, ...] = ("kind", "algo", "task", "seeds", "path", "detail")

# Kinds, in the order the report lists them.
SKIPPED_FILE = "skipped file"
BAD_DIRECTORY = "bad directory"
RUN_PROBLEM = "run not finished"
NO_EVAL = "no evaluation"
NON_FINITE = "evaluation with a non-finite score"
NO_EVAL_AT_STEP = "no evaluation at or below the step"
FEWER_EVALS = "fewer evaluations than --last-k"
DUPLICATE_ROWS = "duplicated rows averaged"
BAD_METADATA = "unusable config.yaml field"
PARAMETERS_DIFFER = "parameter counts differ between runs"
UNKNOWN_TASK = "task not in any suite"
OUTSIDE_SUITE = "task outside the suite"
ALGO_EXCLUDED = "algorithm left out"
TASK_NOT_SHARED = "task not shared by all compared algorithms"
SEEDS_TRUNCATED = "runs dropped to equalise runs per task"
CURVE_FILL = "curve points from the nearest earlier evaluation"
PAIR_SKIPPED = "probability of improvement skipped"
FIGURE_SKIPPED = "figure or table skipped"
GROUP_INCOMPLETE = "left out of a group's aggregates: lacks some of its tasks"
# Not problems (see the module docstring): nothing to draw.
SCALING_ONE_SIZE = "scaling figure not drawn: one model size per algorithm"
SCALING_NO_COUNTS = "scaling figure not drawn: no parameter counts recorded"
OFF_SCALING = "off the scaling figure: parameter-free"
PAIR_NOT_RUN = "default pair not computed: algorithm not in these runs"
GROUP_NOT_RUN = "not in a group's aggregates: none of its tasks"
GROUP_EMPTY = "group not aggregated: no algorithm has all of its tasks"
#: Kinds that are no problem -> their phrase in :func:`not_drawn_summary` ({n}: rows, {algos}: their algo names).
NOT_DRAWN: dict[str, str] = {
    SCALING_ONE_SIZE: "the scaling figure (one model size per algorithm)",
    SCALING_NO_COUNTS: "the scaling figure (no run records a parameter count)",
    OFF_SCALING: "{algos} on the scaling figure (parameter-free)",
    PAIR_NOT_RUN: "{n} default {pairs} (algorithms not in these runs: {algos})",
    GROUP_NOT_RUN: "{algos} in the aggregates of the groups where they have no task",
    GROUP_EMPTY: "{n} group {aggregates} (no algorithm has all of the group's tasks)",
}
KINDS: tuple[str, ...] = (
    BAD_DIRECTORY,
    SKIPPED_FILE,
    BAD_METADATA,
    RUN_PROBLEM,
    NO_EVAL,
    NON_FINITE,
    NO_EVAL_AT_STEP,
    FEWER_EVALS,
    DUPLICATE_ROWS,
    UNKNOWN_TASK,
    OUTSIDE_SUITE,
    ALGO_EXCLUDED,
    TASK_NOT_SHARED,
    SEEDS_TRUNCATED,
    CURVE_FILL,
    PAIR_SKIPPED,
    PARAMETERS_DIFFER,
    FIGURE_SKIPPED,
    GROUP_INCOMPLETE,
    *NOT_DRAWN,
)


@dataclass(frozen=True)
class Issue:
    """One thing left out of (or repaired for) the analysis; ``detail`` is one line."""

    kind: str
    detail: str
    algo: str = ""
    task: str = ""
    seeds: str = ""
    path: str = ""


def seeds_text(seeds: Iterable[int]) -> str:
    """``1, 2, 5`` (sorted)."""
    return ", ".join(str(int(s)) for s in sorted(seeds))


def issues_table(issues: Iterable[Issue]) -> pd.DataFrame:
    """A table with the columns :data:`ISSUE_COLUMNS`, ordered by kind (as :data:`KINDS`), algo, task."""
    rows = [asdict(i) for i in issues]
    table = pd.DataFrame(rows, columns=list(ISSUE_COLUMNS)).drop_duplicates(ignore_index=True)
    order = {k: n for n, k in enumerate(KINDS)}
    table["_order"] = table["kind"].map(lambda k: order.get(k, len(order)))
    table = table.sort_values(["_order", "algo", "task", "path"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def is_problem(kind: str) -> bool:
    """True for data left out or repaired; False for a kind of :data:`NOT_DRAWN` (nothing to draw)."""
    return kind not in NOT_DRAWN


def problems(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of an :func:`issues_table` that are problems (:func:`is_problem`)."""
    return table[[is_problem(k) for k in table["kind"]]]


def not_drawn(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of an :func:`issues_table` that are not problems: nothing to draw."""
    return table[[not is_problem(k) for k in table["kind"]]]


def left_out_summary(table: pd.DataFrame) -> str:
    """``2 run not finished; 1 skipped file``: the problems of ``table`` counted by kind; "" if none."""
    counts = problems(table)["kind"].value_counts()
    return "; ".join(f"{counts[k]} {k}" for k in [*KINDS, *sorted(set(counts.index) - set(KINDS))] if k in counts)


def not_drawn_summary(table: pd.DataFrame) -> str:
    """``the scaling figure (one model size per algorithm); 3 default pairs (algorithms not in these
    runs: diffusion, mbdpo-noanchor, mppi)``: the :data:`NOT_DRAWN` rows of ``table``; "" if none."""
    parts = []
    absent = not_drawn(table)
    for kind, phrase in NOT_DRAWN.items():
        rows = absent[absent["kind"] == kind]
        if len(rows):
            algos = sorted({a.strip() for cell in rows["algo"] for a in str(cell).split(",") if a.strip()})
            parts.append(
                phrase.format(
                    n=len(rows),
                    pairs="pair" if len(rows) == 1 else "pairs",
                    aggregates="aggregate" if len(rows) == 1 else "aggregates",
                    algos=", ".join(algos),
                )
            )
    return "; ".join(dict.fromkeys(parts))  # one scaling phrase even if two reasons were recorded
