"""The whole analysis behind a report, as data: :func:`analyse` -> :class:`Analysis`.

Order: load our runs (:mod:`analysis.results`; each run's training mode and parameter count from
its ``config.yaml``, :mod:`analysis.provenance`, the mode going into its label) and the published
baselines (:mod:`analysis.baselines`) into one tidy table; restrict it to a suite and to the chosen
algorithms; score every run at one step (:mod:`analysis.selection`); build the rliable matrices
on the shared tasks (:mod:`analysis.ragged`); then the aggregates, performance profiles,
sample-efficiency curves, scaling (:mod:`analysis.scaling`), the aggregates of each group of the
suite (:mod:`analysis.groups`) and probabilities of improvement (rliable; each ``X (finetuned)`` is
paired with ``X``), and the per-task table.
Everything left out on the way is an :class:`~analysis.issues.Issue` in ``Analysis.issues``.
Writing files is :mod:`analysis.report`'s job.
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.aggregates import DEFAULT_CURVE_REPS, DEFAULT_REPS, compute_aggregates, iqm_curves
from analysis.baselines import SOURCE_COLUMNS, load_baselines
from analysis.errors import AnalysisError, ResultsWarning
from analysis.figures import algo_palette
from analysis.groups import DEFAULT_GROUP_REPS, GroupAggregates, group_aggregates
from analysis.improvement import DEFAULT_POI_REPS, POI_COLUMNS, improvement_table
from analysis.issues import (
    ALGO_EXCLUDED,
    BAD_DIRECTORY,
    BAD_METADATA,
    DUPLICATE_ROWS,
    FIGURE_SKIPPED,
    NO_EVAL,
    OUTSIDE_SUITE,
    PAIR_SKIPPED,
    RUN_PROBLEM,
    SKIPPED_FILE,
    Issue,
    issues_table,
    seeds_text,
)
from analysis.profiles import DEFAULT_PROFILE_REPS, PROFILE_COLUMNS, performance_profiles
from analysis.provenance import DEFAULT_OBS, PROVENANCE_COLUMNS, run_provenance
from analysis.ragged import Comparison, compare
from analysis.results import STATUS_COLUMNS, check_runs_dir, load_results, load_statuses
from analysis.scaling import RUN_INFO_COLUMNS, Scaling, empty_scaling, scaling
from analysis.scores import score_curves
from analysis.selection import Selection, select
from analysis.settings import AnalysisConfig, load_config, resolve_pairs
from analysis.suites import restrict_to_suite, suite_observations, suite_tasks
from analysis.table import (
    algo_label,
    check_one_suite_per_run,
    concat_tidy,
    empty_tidy,
    from_scratch_label,
    is_published,
    run_label,
    tidy_from_episodes,
)
from configs.results import DEFAULT_MODE, MULTITASK_DIR, RUN_MODES

PER_TASK_COLUMNS: tuple[str, ...] = (
    "algo",
    "task",
    "published",
    "compared",
    "runs",
    "seeds",
    "mean",
    "std",
    "step_min",
    "step_max",
)


@dataclass
class Settings:
    """What a report computes; ``None`` reps default to ``min(reps, 2000)``."""

    step: int | None = None
    last_k: int | None = None
    suite: str | None = None
    reps: int = DEFAULT_REPS
    curve_reps: int | None = None
    profile_reps: int | None = None
    poi_reps: int | None = None
    group_reps: int | None = None
    seed: int | None = 0
    task_bootstrap: bool = False
    algos: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    config: AnalysisConfig = field(default_factory=load_config)

    def __post_init__(self) -> None:
        self.curve_reps = min(self.reps, DEFAULT_CURVE_REPS) if self.curve_reps is None else self.curve_reps
        self.profile_reps = min(self.reps, DEFAULT_PROFILE_REPS) if self.profile_reps is None else self.profile_reps
        self.poi_reps = min(self.reps, DEFAULT_POI_REPS) if self.poi_reps is None else self.poi_reps
        self.group_reps = min(self.reps, DEFAULT_GROUP_REPS) if self.group_reps is None else self.group_reps
        for name in ("reps", "curve_reps", "profile_reps", "poi_reps", "group_reps"):
            if getattr(self, name) < 1:
                raise AnalysisError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.suite is not None:
            suite_tasks(self.suite)  # unknown suite -> AnalysisError listing the valid ones


@dataclass
class Analysis:
    runs_dir: Path | None
    baseline_dirs: list[Path]
    settings: Settings
    tidy: pd.DataFrame
    selection: Selection
    comparison: Comparison
    aggregates: pd.DataFrame
    profiles: pd.DataFrame
    curves: pd.DataFrame
    improvement: pd.DataFrame
    per_task: pd.DataFrame
    statuses: pd.DataFrame
    provenance: pd.DataFrame
    sources: pd.DataFrame
    issues: pd.DataFrame
    palette: dict
    requested_pair_issues: list[Issue] = field(default_factory=list)
    run_info: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(RUN_INFO_COLUMNS)))
    scaling: Scaling = field(default_factory=empty_scaling)
    groups: GroupAggregates = field(default_factory=GroupAggregates)

    @property
    def labels(self) -> list[str]:
        return sorted(self.tidy["label"].unique())


def analyse(
    runs_dir: str | Path | None, baselines: Sequence[str | Path] = (), settings: Settings | None = None
) -> Analysis:
    """Run the analysis (see the module docstring). Raises :class:`AnalysisError` if nothing is left."""
    settings = settings or Settings()
    baselines = [Path(b) for b in baselines]
    if runs_dir is None and not baselines:
        raise AnalysisError("nothing to analyse: give a runs directory and/or --baselines DIR")
    issues: list[Issue] = []
    runs_dir = Path(runs_dir) if runs_dir is not None else None

    kind = suite_observations(settings.suite)  # a visual suite: pixel runs and published pixel folders only
    own, statuses, provenance, run_info = _load_own(runs_dir, bool(baselines), issues, settings.suite)
    pixels = settings.config.baseline_pixels_suffix if kind == "rgb" else None
    exclude = () if settings.algos or pixels else settings.config.baseline_exclude
    published = load_baselines(baselines, suite=settings.suite, exclude=exclude, pixels_suffix=pixels)
    issues += published.issues

    own, suite_issues = restrict_to_suite(own, settings.suite)
    issues += suite_issues
    tidy = concat_tidy(own, published.table)
    tidy = _choose_algos(tidy, settings.algos, issues)
    if tidy.empty:
        problems = "; ".join(i.detail for i in issues[:3])
        raise AnalysisError("nothing to analyse" + (f": {problems}" if problems else ""))
    check_one_suite_per_run(tidy)

    selection = select(tidy, settings.step, settings.last_k)
    issues += selection.issues
    labels = sorted(selection.scores["label"].unique())
    comparison = compare(selection.scores, labels)
    issues += comparison.issues

    empty = pd.DataFrame(columns=["algo", "metric", "value", "ci_low", "ci_high"])
    aggregates, profiles = empty, pd.DataFrame(columns=list(PROFILE_COLUMNS))
    curves = pd.DataFrame(columns=["algo", "step", "value", "ci_low", "ci_high"])
    if comparison.empty:
        issues.append(
            Issue(
                FIGURE_SKIPPED,
                f"no task is shared by all {len(labels)} algorithms "
                f"({', '.join(labels)}): no aggregates, performance profiles or curves; "
                "choose algorithms with --algos or a suite with --suite",
            )
        )
    else:
        boot = dict(seed=settings.seed, task_bootstrap=settings.task_bootstrap)
        aggregates = compute_aggregates(comparison.matrices, reps=settings.reps, **boot)
        profiles = performance_profiles(comparison.matrices, reps=settings.profile_reps, **boot)
        try:
            score_curve, _, curve_issues = score_curves(tidy, comparison.tasks, comparison.seeds)
            issues += curve_issues
            curves = iqm_curves(score_curve, reps=settings.curve_reps, **boot)
            issues += _late_finetune_curves(score_curve)
        except AnalysisError as exc:
            issues.append(Issue(FIGURE_SKIPPED, f"sample-efficiency curves skipped: {exc}"))

    groups = group_aggregates(
        tidy,
        settings.suite,
        step=settings.step,
        last_k=settings.last_k,
        reps=settings.group_reps,
        seed=settings.seed,
        task_bootstrap=settings.task_bootstrap,
    )
    issues += groups.issues
    result = scaling(
        comparison, run_info, reps=settings.reps, seed=settings.seed, task_bootstrap=settings.task_bootstrap
    )
    issues += result.issues
    found = sorted(tidy["label"].unique())  # before runs were left out at the step
    improvement, requested = _improvement(selection, labels, found, settings, issues)
    return Analysis(
        runs_dir=runs_dir,
        baseline_dirs=baselines,
        settings=settings,
        tidy=tidy,
        selection=selection,
        comparison=comparison,
        aggregates=aggregates,
        profiles=profiles,
        curves=curves,
        improvement=improvement,
        per_task=per_task_table(selection, comparison),
        statuses=statuses,
        provenance=provenance,
        sources=published.sources,
        issues=issues_table(issues),
        palette=algo_palette(tidy["label"].unique()),
        requested_pair_issues=requested,
        run_info=run_info,
        scaling=result,
        groups=groups,
    )


def per_task_table(selection: Selection, comparison: Comparison) -> pd.DataFrame:
    """Per (algo, task): every run it has at the step (not only the compared ones)."""
    rows = []
    shared = set(comparison.tasks)
    for (label, task), group in selection.scores.groupby(["label", "task"], sort=True):
        scores = group["score"].to_numpy(dtype=float)
        rows.append(
            (
                label,
                task,
                is_published(label),
                task in shared,
                len(scores),
                seeds_text(group["seed"]),
                float(np.mean(scores)),
                float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
                int(group["step"].min()),
                int(group["step"].max()),
            )
        )
    return pd.DataFrame(rows, columns=list(PER_TASK_COLUMNS))


def _load_own(runs_dir: Path | None, have_baselines: bool, issues: list[Issue], suite: str | None = None):
    statuses = pd.DataFrame(columns=list(STATUS_COLUMNS))
    provenance = pd.DataFrame(columns=list(PROVENANCE_COLUMNS))
    run_info = pd.DataFrame(columns=list(RUN_INFO_COLUMNS))
    if runs_dir is None:
        return empty_tidy(), statuses, provenance, run_info
    try:
        root = check_runs_dir(runs_dir)
    except AnalysisError as exc:
        if not have_baselines:
            raise
        warnings.warn(str(exc), ResultsWarning, stacklevel=3)
        issues.append(Issue(BAD_DIRECTORY, str(exc), path=str(runs_dir)))
        return empty_tidy(), statuses, provenance, run_info
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = None
        try:
            episodes = load_results(root, with_run=True)
        except AnalysisError as exc:
            error, episodes = exc, None
        statuses = load_statuses(root)
        provenance = run_provenance(root)
    for w in caught:  # re-issue for the caller, keeping each warning's category
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if issubclass(w.category, ResultsWarning):
            text = str(w.message)
            kind = SKIPPED_FILE if text.startswith("skipping") else DUPLICATE_ROWS
            issues.append(Issue(kind, text))
    if error is not None:
        if not have_baselines:
            raise error
        warnings.warn(str(error), ResultsWarning, stacklevel=3)
        issues.append(Issue(BAD_DIRECTORY, str(error), path=str(root)))
    issues += _run_issues(statuses, provenance, root)
    if episodes is None:
        return empty_tidy(), statuses, provenance, run_info
    episodes, run_info = _with_run_settings(episodes, provenance, issues, suite)
    return tidy_from_episodes(episodes), statuses, provenance, run_info


def _with_run_settings(
    episodes: pd.DataFrame, provenance: pd.DataFrame, issues: list[Issue], suite: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our episodes with each run's ``mode`` (from its config.yaml), and one row per run and task.

    Left out, and listed: runs whose ``run.mode`` is unknown, rows of a multi-task run that name
    no task (``task`` = ``multitask``), runs learnt from other observations than ``suite``'s
    (configs/suites.yaml ``obs``: pixel runs in a state suite's report, state runs in a visual
    one's), and a run found in two directories under one label (the directory read last is kept).
    """
    settings = provenance.set_index("run")[["mode", "obs", "checkpoint", "num_parameters", "note"]]
    for row in provenance[provenance["note"] != ""].itertuples(index=False):
        issues.append(
            Issue(
                BAD_METADATA,
                row.note,
                algo=row.label,
                task=row.task,
                seeds="" if pd.isna(row.seed) else str(row.seed),
                path=row.run,
            )
        )
    joined = settings.reindex(episodes["run"])
    episodes = episodes.assign(
        mode=joined["mode"].fillna(DEFAULT_MODE).to_numpy(),
        obs=joined["obs"].fillna(DEFAULT_OBS).to_numpy(),
        checkpoint=joined["checkpoint"].fillna("").to_numpy(),
        num_parameters=joined["num_parameters"].to_numpy(),
    )
    bad_mode = ~episodes["mode"].isin(list(RUN_MODES))
    for run, rows in episodes[bad_mode].groupby("run", sort=True):
        issues.append(
            Issue(
                RUN_PROBLEM,
                f"left out: run.mode {rows['mode'].iloc[0]!r} in its config.yaml is not one of {', '.join(RUN_MODES)}",
                algo=algo_label(rows["algo"].iloc[0], rows["variant"].iloc[0]),
                seeds=str(rows["seed"].iloc[0]),
                path=run,
            )
        )
    nameless = episodes["task"] == MULTITASK_DIR
    for run, rows in episodes[nameless & ~bad_mode].groupby("run", sort=True):
        issues.append(
            Issue(
                RUN_PROBLEM,
                f"{len(rows)} eval.csv row(s) left out: task {MULTITASK_DIR!r}; a "
                "multi-task run's rows name their task",
                seeds=str(rows["seed"].iloc[0]),
                path=run,
            )
        )
    kind = suite_observations(suite)
    other_obs = (episodes["obs"] != (kind or "")) & ~bad_mode & ~nameless & (kind is not None)
    for (algo, variant, mode, obs), rows in episodes[other_obs].groupby(["algo", "variant", "mode", "obs"], sort=True):
        runs = sorted(rows["run"].unique())
        issues.append(
            Issue(
                OUTSIDE_SUITE,
                f"{len(runs)} run(s) left out: learnt from {obs} observations; suite {suite} is learnt from "
                f"{kind} (configs/suites.yaml obs)",
                algo=run_label(algo, variant, mode),
                path=", ".join(runs[:3]) + (f", ... ({len(runs) - 3} more)" if len(runs) > 3 else ""),
            )
        )
    episodes = episodes[~bad_mode & ~nameless & ~other_obs]

    # One run (label, task, seed) in two directories, e.g. a multi-task run and a single-task one.
    label = [run_label(a, v, m) for a, v, m in zip(episodes["algo"], episodes["variant"], episodes["mode"])]
    episodes = episodes.assign(label=label)
    per_run = episodes.groupby(["suite", "label", "task", "seed"])["run"].agg(lambda r: sorted(set(r)))
    keep = {}
    for (suite, lab, task, seed), runs in per_run.items():
        keep[(suite, lab, task, seed)] = runs[-1]
        if len(runs) > 1:
            issues.append(
                Issue(
                    DUPLICATE_ROWS,
                    f"{lab} / {task} / seed {seed} is in {len(runs)} run directories "
                    f"({', '.join(runs)}); kept {runs[-1]}",
                    algo=lab,
                    task=task,
                    seeds=str(seed),
                    path=", ".join(runs[:-1]),
                )
            )
    if (per_run.str.len() > 1).any():
        chosen = [keep[k] for k in zip(episodes["suite"], episodes["label"], episodes["task"], episodes["seed"])]
        episodes = episodes[episodes["run"].to_numpy() == np.array(chosen, dtype=object)]

    run_info = episodes.drop_duplicates(["suite", "label", "task", "seed"])[list(RUN_INFO_COLUMNS)].reset_index(
        drop=True
    )
    run_info["num_parameters"] = pd.to_numeric(run_info["num_parameters"]).astype("Int64")
    return episodes.drop(columns=["label", "obs", "checkpoint", "num_parameters", "run"]), run_info


def _run_issues(statuses: pd.DataFrame, provenance: pd.DataFrame, root: Path) -> list[Issue]:
    """Runs that failed, are still running, or have no evaluation."""
    issues = []
    labels = dict(zip(provenance["run"], provenance["label"]))  # with the mode's suffix
    for row in statuses.itertuples(index=False):
        label = "" if row.algo is None else labels.get(_relative(row.run_dir, root), algo_label(row.algo, row.variant))
        where = dict(
            algo=label,
            task=row.task or "",
            seeds="" if pd.isna(row.seed) else str(row.seed),
            path=_relative(row.run_dir, root),
        )
        if row.state != "done":
            progress = (
                ""
                if pd.isna(row.step)
                else f" at step {row.step}" + ("" if pd.isna(row.total_steps) else f" of {row.total_steps}")
            )
            error = f": {_first_line(row.error)}" if isinstance(row.error, str) and row.error.strip() else ""
            issues.append(Issue(RUN_PROBLEM, f"{row.state}{progress}{error}", **where))
        if row.eval_rows == 0:
            damaged = row.state == "done" and isinstance(row.error, str) and "eval.csv is" in row.error
            detail = row.error if damaged else "no readable evaluation row (eval.csv missing, empty or skipped)"
            issues.append(Issue(NO_EVAL, detail, **where))
    with_status = {_relative(p, root) for p in statuses["run_dir"]}
    for row in provenance.itertuples(index=False):
        if row.run not in with_status and not (root / row.run / "eval.csv").is_file():
            issues.append(
                Issue(
                    NO_EVAL,
                    "config.yaml but no status.json and no eval.csv",
                    algo=row.label,
                    task=row.task,
                    seeds="" if pd.isna(row.seed) else str(row.seed),
                    path=row.run,
                )
            )
    return issues


def _choose_algos(tidy: pd.DataFrame, patterns: Sequence[str], issues: list[Issue]) -> pd.DataFrame:
    """Labels equal to, or matching (fnmatch), one of ``patterns``; all labels if none given."""
    if not patterns:
        return tidy
    labels = sorted(tidy["label"].unique())

    def matches(label: str, pattern: str) -> bool:
        return label == pattern or fnmatch.fnmatchcase(label, pattern)

    for pattern in patterns:
        if not any(matches(name, pattern) for name in labels):
            issues.append(
                Issue(ALGO_EXCLUDED, f"--algos {pattern!r} matches no algorithm (algorithms: {', '.join(labels)})")
            )
    keep = [name for name in labels if any(matches(name, p) for p in patterns)]
    for label in sorted(set(labels) - set(keep)):
        issues.append(Issue(ALGO_EXCLUDED, "not selected by --algos", algo=label))
    return tidy[tidy["label"].isin(keep)].reset_index(drop=True)


def _improvement(
    selection: Selection, labels: list[str], found: list[str], settings: Settings, issues: list[Issue]
) -> tuple[pd.DataFrame, list[Issue]]:
    aliases = dict(settings.config.aliases)
    configured, configured_issues = resolve_pairs(settings.config.pairs, labels, aliases, found=found)
    requested, requested_issues = resolve_pairs(settings.pairs, labels, aliases)
    issues += configured_issues + requested_issues
    rows = []
    for x, y in dict.fromkeys([*configured, *requested, *finetune_pairs(labels)]):
        pair = compare(selection.scores, [x, y], note_unshared=False)
        if pair.empty:
            issue = Issue(PAIR_SKIPPED, f"P({x} > {y}): the two share no task")
            issues.append(issue)
            if (x, y) in requested:
                requested_issues.append(issue)
            continue
        issues += [Issue(i.kind, f"for P({x} > {y}): {i.detail}", i.algo, i.task, i.seeds, i.path) for i in pair.issues]
        rows.append((x, y, pair.tasks, pair.matrices[x], pair.matrices[y]))
    if not rows:
        return pd.DataFrame(columns=list(POI_COLUMNS)), requested_issues
    return improvement_table(rows, reps=settings.poi_reps, seed=settings.seed), requested_issues


def _late_finetune_curves(curves: dict) -> list[Issue]:
    """A fine-tuned curve starts at its step-0 evaluation (the pretrained model); say where it cannot."""
    return [
        Issue(
            FIGURE_SKIPPED,
            f"fine-tuned curve starts at step {int(curve.steps[0]):,}, not 0: some "
            "compared run has no step-0 evaluation (the pretrained model's score)",
            algo=label,
        )
        for label, curve in curves.items()
        if from_scratch_label(label) is not None and len(curve.steps) and curve.steps[0] > 0
    ]


def finetune_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """(``X (finetuned)``, ``X``) for every fine-tuned label whose from-scratch label ``X`` is there too."""
    present = set(labels)
    return [(label, from_scratch_label(label)) for label in sorted(present) if from_scratch_label(label) in present]


def _relative(path: object, root: Path) -> str:
    try:
        return str(Path(str(path)).relative_to(root))
    except ValueError:
        return str(path)


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


__all__ = ["Analysis", "PER_TASK_COLUMNS", "SOURCE_COLUMNS", "Settings", "analyse", "finetune_pairs", "per_task_table"]
