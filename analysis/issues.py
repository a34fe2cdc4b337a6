"""What was missing, skipped or excluded: one :class:`Issue` per fact, collected while analysing.

Every rule that leaves data out (a file that cannot be read, a run without evaluations, a task
that not all compared algorithms have, runs truncated to equal counts, ...) records an Issue, so
the report can list exactly what was not used and why. Nothing is dropped silently.
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
