"""Suites for the analysis: which tasks a report covers, and which suite a published task belongs to.

Suites and score normalisation are defined once, in ``configs/suites.yaml`` (read through
:mod:`configs.suites`, which is pure Python); this module only applies them.

* ``--suite S`` restricts a report to the tasks of S. Our runs of other tasks, and published
  tasks outside S, are left out (counted in the report). When the same run (label, task, seed)
  exists under several suite directories, the one under ``RUNS_DIR/S/`` is kept.
* Without ``--suite``, every task is kept. A published task gets the suite S when one is given,
  else the full suite of its family (declared in ``configs/suites.yaml``: ``dmc`` for DMControl,
  ``metaworld-mt50`` for Meta-World, ``myosuite``, ``maniskill2``; a published file's name is first
  mapped to our task name, ``myo-hand-reach`` -> ``myo-reach``, by ``published_names``).
  A published task in no suite at all is excluded (listed).
* A suite learnt from pixels (``obs: rgb``: ``visual``, ``visual-tdmpc2``) counts only our runs
  learnt from pixels (``run.obs`` in their config.yaml) and reads the published pixel folders
  (``results/<algo>-pixels``); a state suite counts only state runs and leaves those folders out.
* A suite with ``groups`` (``paper-104``: DMControl, Meta-World, MyoSuite, ManiSkill2, Locomotion)
  is also aggregated group by group (:mod:`analysis.groups`).
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from analysis.errors import AnalysisError
from analysis.issues import OUTSIDE_SUITE, Issue
from analysis.table import RUN
from configs.errors import UnknownNameError
from configs.suites import family_suite, get_suite, suite_names, task_family


@lru_cache(maxsize=None)
def known_tasks() -> frozenset[str]:
    """Every task named by some suite."""
    return frozenset(t for s in suite_names() for t in get_suite(s).tasks)


def suite_tasks(suite: str) -> tuple[str, ...]:
    """The tasks of ``suite``; :class:`AnalysisError` (listing the suites) for an unknown name."""
    try:
        return get_suite(suite).tasks
    except UnknownNameError as exc:
        raise AnalysisError(str(exc)) from None


def suite_observations(suite: str | None) -> str | None:
    """What ``suite``'s tasks are learnt from (configs/suites.yaml ``obs``: ``state``, or ``rgb`` for
    the visual suites); None without a suite (a report of every task keeps every run)."""
    if suite is None:
        return None
    try:
        return get_suite(suite).obs
    except UnknownNameError as exc:
        raise AnalysisError(str(exc)) from None


def published_suite(task: str, suite: str | None) -> str:
    """The suite a published ``task`` is reported under (see the module docstring)."""
    return suite if suite is not None else family_suite(task_family(task))


def restrict_to_suite(table: pd.DataFrame, suite: str | None) -> tuple[pd.DataFrame, list[Issue]]:
    """Rows of the tidy ``table`` whose task is in ``suite`` (all rows for ``suite=None``).

    Where one run appears under several suite directories, the rows under ``suite`` are kept.
    Returns (rows, issues: one per label counting the tasks left out).
    """
    if suite is None or table.empty:
        return table, []
    tasks = set(suite_tasks(suite))
    inside = table["task"].isin(tasks)
    issues = []
    for label, rows in table[~inside].groupby("label", sort=True):
        outside = sorted(rows["task"].unique())
        issues.append(
            Issue(
                OUTSIDE_SUITE,
                f"{len(outside)} task(s) not in suite {suite}: {_short_list(outside)}",
                algo=label,
            )
        )
    table = table[inside]
    # The same run under several suite directories: keep the one under `suite`.
    # (Several other suite directories and none for `suite`: all kept, and
    # analysis.table.check_one_suite_per_run then says so.)
    keys = [table[c] for c in RUN]
    per_run = table["suite"].groupby(keys).transform("nunique")
    has_suite = (table["suite"] == suite).groupby(keys).transform("any")
    table = table[(per_run == 1) | (table["suite"] == suite) | ~has_suite]
    return table.reset_index(drop=True), issues


def _short_list(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
