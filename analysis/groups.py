"""Aggregates of each group of a suite on its own (:data:`RULE`), as the papers' figures report them.

A suite may name groups (``groups`` in ``configs/suites.yaml``; ``paper-104``: DMControl, Meta-World,
MyoSuite, ManiSkill2, Locomotion). A report on such a suite gives, besides the aggregates on the
tasks all algorithms share, the IQM, median, mean and optimality gap of every group:

* **Algorithms.** A group compares the algorithms that have every one of its tasks; one that lacks
  some is left out of that group (listed, with the tasks it lacks), one that has none of them is
  simply not in it (one quiet line).
* **Step.** Each group's runs are scored by the report's step rule (:mod:`analysis.selection`) on the
  group's own tasks and algorithms: at ``--step`` when given, else at the last step every compared
  run of the group has reached, so each group is compared at its own budget (DMControl's runs are
  longer than Meta-World's). An algorithm with no evaluation at or below that step on some task of
  the group is left out of it (listed).
* **Bootstrap.** ``group_reps`` replications (``--group-reps``; default ``min(reps, 2000)``, as
  for curves and profiles: 25 bootstraps of 50,000 replications would add minutes to a report).
* **Runs.** The matrices are built by :mod:`analysis.ragged`'s rule (each task cut to the
  algorithm's smallest run count, lowest seeds kept), and the aggregates computed and seeded as
  :mod:`analysis.aggregates` does (each algorithm's bootstrap seeded on its own), so a group's
  interval is rliable's on that matrix::

      np.random.seed(seed)
      rliable.library.get_interval_estimates({label: matrix}, aggregate_func(), reps=reps)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.aggregates import AGGREGATE_COLUMNS, compute_aggregates
from analysis.errors import AnalysisError
from analysis.issues import GROUP_EMPTY, GROUP_INCOMPLETE, GROUP_NOT_RUN, NON_FINITE, Issue
from analysis.ragged import Comparison, compare
from analysis.selection import select
from configs.suites import get_suite

RULE = (
    "Groups (a suite's `groups` in `configs/suites.yaml`, e.g. paper-104's DMControl, Meta-World, "
    "MyoSuite, ManiSkill2 and Locomotion): each group compares the algorithms that have every one of "
    "its tasks (an algorithm lacking some is left out of that group and listed), scored by the step "
    "rule on the group alone (at --step, else at the last step every compared run of the group has "
    "reached), with the same run rule and bootstrap seeding as the aggregates ({reps} replications, "
    "--group-reps)."
)
#: Bootstrap replications of a group's aggregates unless ``--group-reps`` says otherwise (at most ``--reps``).
DEFAULT_GROUP_REPS: int = 2_000
#: Columns of ``group_aggregates.csv`` (:attr:`GroupAggregates.table`): the group, its title, the
#: step it was compared at, its task count, then :data:`analysis.aggregates.AGGREGATE_COLUMNS` with
#: ``runs`` (runs per task) after ``algo``.
GROUP_COLUMNS: tuple[str, ...] = (
    "group",
    "title",
    "step",
    "tasks",
    "algo",
    "runs",
    "metric",
    "value",
    "ci_low",
    "ci_high",
)


@dataclass
class Group:
    """One group: its tasks, and (when some algorithm has them all) its step, comparison and aggregates."""

    name: str
    title: str
    tasks: tuple[str, ...]
    step: int | None = None
    limited_by: str = ""  # with the default step: the run whose last evaluation sets it ("" if all end there)
    comparison: Comparison | None = None
    aggregates: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(AGGREGATE_COLUMNS)))
    left_out: dict[str, str] = field(default_factory=dict)  # label -> why it is not in the group

    @property
    def shown(self) -> bool:
        return len(self.aggregates) > 0


@dataclass
class GroupAggregates:
    """Every group of a suite (none for a suite without groups), as one table and one by one."""

    groups: list[Group] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        frames = []
        for g in self.groups:
            if not g.shown:
                continue
            runs = {label: m.shape[0] for label, m in g.comparison.matrices.items()}
            frame = g.aggregates.assign(group=g.name, title=g.title, step=g.step, tasks=len(g.tasks))
            frames.append(frame.assign(runs=frame["algo"].map(runs))[list(GROUP_COLUMNS)])
        if not frames:
            return pd.DataFrame(columns=list(GROUP_COLUMNS))
        return pd.concat(frames, ignore_index=True)


def group_aggregates(
    tidy: pd.DataFrame,
    suite: str | None,
    *,
    step: int | None = None,
    last_k: int | None = None,
    reps: int,
    seed: int | None,
    task_bootstrap: bool = False,
) -> GroupAggregates:
    """The aggregates of each group of ``suite`` on the tidy table (see the module docstring)."""
    result = GroupAggregates()
    if suite is None:
        return result
    for name in get_suite(suite).groups:
        spec = get_suite(name)
        group = Group(name=name, title=spec.title, tasks=spec.tasks)
        result.groups.append(group)
        result.issues += _aggregate(
            group, tidy, step, last_k, dict(reps=reps, seed=seed, task_bootstrap=task_bootstrap)
        )
    return result


def _aggregate(group: Group, tidy: pd.DataFrame, step: int | None, last_k: int | None, boot: dict) -> list[Issue]:
    """Fill ``group`` in place; returns its issues."""
    issues: list[Issue] = []
    rows = tidy[tidy["task"].isin(group.tasks)]
    have = rows.groupby("label")["task"].agg(lambda s: set(s.unique()))
    complete = []
    for label in sorted(tidy["label"].unique()):
        own = have.get(label, set())
        if not own:
            issues.append(Issue(GROUP_NOT_RUN, f"none of the {group.title} group's tasks", algo=label))
            continue
        lacking = [t for t in group.tasks if t not in own]
        if lacking:
            group.left_out[label] = f"lacks {len(lacking)} of its {len(group.tasks)} tasks: {_listing(lacking)}"
        else:
            complete.append(label)
    selection = None
    if complete:
        try:
            selection = select(rows[rows["label"].isin(complete)], step, last_k)
        except AnalysisError as exc:
            group.left_out.update({label: str(exc) for label in complete})
            complete = []
    if selection is not None:
        group.step, group.limited_by = selection.step, selection.limited_by
        # non-finite evaluations are listed once, by the report's own selection
        issues += [_in_group(group, i) for i in selection.issues if i.kind != NON_FINITE]
        scored = selection.scores.groupby("label")["task"].agg(lambda s: set(s.unique()))
        for label in complete:
            lacking = [t for t in group.tasks if t not in scored.get(label, set())]
            if lacking:
                group.left_out[label] = (
                    f"no evaluation at or below step {selection.step} on {len(lacking)} of its tasks: "
                    f"{_listing(lacking)}"
                )
        complete = [label for label in complete if label not in group.left_out]
    for label, why in sorted(group.left_out.items()):
        issues.append(Issue(GROUP_INCOMPLETE, f"left out of the {group.title} group's aggregates: {why}", algo=label))
    if not complete:
        group.step, group.limited_by = None, ""
        issues.append(
            Issue(
                GROUP_EMPTY,
                f"{group.title} ({group.name}, {len(group.tasks)} tasks): no algorithm has all of its tasks"
                + (" at the step" if group.left_out else ""),
            )
        )
        return issues
    comparison = compare(selection.scores, complete, note_unshared=False)
    issues += [_in_group(group, i) for i in comparison.issues]
    group.comparison = comparison
    group.aggregates = compute_aggregates(comparison.matrices, **boot)
    return issues


def _in_group(group: Group, issue: Issue) -> Issue:
    return Issue(issue.kind, f"{group.title} group: {issue.detail}", issue.algo, issue.task, issue.seeds, issue.path)


def _listing(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
