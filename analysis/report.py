"""Benchmark report: ``python -m analysis.report RUNS_DIR --out DIR [--step N] [--reps N] [--seed N]``.

Writes into DIR:

* ``aggregates.csv``: algo, metric, value, ci_low, ci_high (IQM, median, mean, optimality gap
  with stratified-bootstrap 95% CIs, see :mod:`analysis.aggregates`);
* ``per_task.csv``: algo, task, runs, mean, std of the score at the step used;
* ``sample_efficiency.png`` / ``.svg`` (IQM vs environment steps, 95% CI band) and its data
  ``sample_efficiency.csv``; ``aggregates.png`` / ``.svg`` (the four metrics with CIs);
* ``report.md``: what was compared, the step used, runs and tasks per algo, the tables, the
  figures, and the runs that failed, are still running or have no evaluation.

Bad arguments or unusable results print one line ``analysis.report: error: ...`` and exit with
status 2 (no traceback).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.aggregates import (
    DEFAULT_CURVE_REPS, DEFAULT_REPS, METRIC_TITLES, METRICS, OPTIMALITY_GAP_GAMMA,
    compute_aggregates, iqm_curves,
)
from analysis.errors import AnalysisError, ResultsWarning
from analysis.figures import algo_palette, plot_aggregates, plot_sample_efficiency, save_figure
from analysis.markdown import markdown_table
from analysis.results import check_runs_dir, load_results, load_statuses
from analysis.scores import eval_scores, score_curves, score_matrices, select_step

PROG = "analysis.report"


@dataclass
class Report:
    """What :func:`write_report` computed and wrote."""

    out_dir: Path
    step: int
    tasks: list[str]
    aggregates: pd.DataFrame
    per_task: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_report(
    runs_dir: str | Path,
    out_dir: str | Path,
    *,
    step: int | None = None,
    reps: int = DEFAULT_REPS,
    curve_reps: int | None = None,
    seed: int | None = 0,
    task_bootstrap: bool = False,
) -> Report:
    """Analyse ``runs_dir`` and write the report files into ``out_dir`` (created if needed).

    ``curve_reps`` (bootstrap replications per curve) defaults to ``min(reps, 2000)``. Files
    skipped while loading are re-issued as warnings and listed in the report. Raises
    :class:`AnalysisError` if the results cannot be analysed.
    """
    runs_dir = check_runs_dir(runs_dir)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AnalysisError(f"output path is not a directory: {out_dir}")
    curve_reps = min(reps, DEFAULT_CURVE_REPS) if curve_reps is None else curve_reps

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_results(runs_dir)
        statuses = load_statuses(runs_dir)
    for w in caught:  # re-issue for the caller, keeping each warning's category
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    messages = [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]

    matrices, tasks, step_used = score_matrices(table, step)
    selected, _ = select_step(eval_scores(table), step)
    aggregates = compute_aggregates(matrices, reps=reps, seed=seed, task_bootstrap=task_bootstrap)
    per_task = _per_task(matrices, tasks)
    palette = algo_palette(matrices)

    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir=out_dir, step=step_used, tasks=tasks, aggregates=aggregates,
                    per_task=per_task, warnings=messages)
    report.files.append(_write_csv(aggregates, out_dir / "aggregates.csv"))
    report.files.append(_write_csv(per_task, out_dir / "per_task.csv"))

    try:
        curves, _ = score_curves(table)
        curve_table = iqm_curves(curves, reps=curve_reps, seed=seed, task_bootstrap=task_bootstrap)
        curve_error = None
    except AnalysisError as exc:
        curve_table, curve_error = None, str(exc)
        warnings.warn(f"sample-efficiency figure skipped: {exc}", ResultsWarning, stacklevel=2)
    if curve_table is not None:
        report.files.append(_write_csv(curve_table, out_dir / "sample_efficiency.csv"))
        report.files += save_figure(
            plot_sample_efficiency(curve_table, palette, title=f"Sample efficiency ({len(tasks)} tasks)"),
            out_dir / "sample_efficiency.png",
        )
    report.files += save_figure(plot_aggregates(aggregates, palette), out_dir / "aggregates.png")

    markdown = _markdown(
        runs_dir=runs_dir, requested_step=step, step_used=step_used, tasks=tasks,
        matrices=matrices, selected=selected, aggregates=aggregates, per_task=per_task,
        statuses=statuses, messages=messages, curve_error=curve_error,
        settings=dict(reps=reps, curve_reps=curve_reps, seed=seed, task_bootstrap=task_bootstrap),
    )
    (out_dir / "report.md").write_text(markdown)
    report.files.append(out_dir / "report.md")
    return report


def _per_task(matrices: dict[str, np.ndarray], tasks: list[str]) -> pd.DataFrame:
    rows = []
    for label in sorted(matrices):
        for j, task in enumerate(tasks):
            column = matrices[label][:, j]
            std = float(np.std(column, ddof=1)) if len(column) > 1 else float("nan")
            rows.append((label, task, len(column), float(np.mean(column)), std))
    return pd.DataFrame(rows, columns=["algo", "task", "runs", "mean", "std"])


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def _markdown(
    *, runs_dir: Path, requested_step: int | None, step_used: int, tasks: list[str],
    matrices: dict[str, np.ndarray], selected: pd.DataFrame, aggregates: pd.DataFrame,
    per_task: pd.DataFrame, statuses: pd.DataFrame, messages: list[str], curve_error: str | None,
    settings: dict,
) -> str:
    labels = sorted(matrices)
    if requested_step is None:
        step_text = f"last eval step common to all runs: **{step_used}**"
    else:
        used = selected["step"]
        step_text = (f"requested step **{step_used}**; each run uses its nearest eval step at or "
                     f"below it (steps used: {used.min()} to {used.max()})")
    runs = pd.DataFrame([
        {
            "algo": label,
            "runs per task": matrices[label].shape[0],
            "tasks": matrices[label].shape[1],
            "suites": ", ".join(sorted(selected.loc[selected["label"] == label, "suite"].unique())),
            "seeds": ", ".join(map(str, sorted(selected.loc[selected["label"] == label, "seed"].unique()))),
        }
        for label in labels
    ])
    agg = aggregates.assign(
        cell=[f"{v:.1f} [{lo:.1f}, {hi:.1f}]" for v, lo, hi in
              zip(aggregates["value"], aggregates["ci_low"], aggregates["ci_high"])]
    ).pivot(index="algo", columns="metric", values="cell")[list(METRICS)]
    agg = agg.rename(columns=METRIC_TITLES).reset_index()
    tasks_table = per_task.assign(
        cell=[f"{m:.1f}" + ("" if np.isnan(s) else f" ± {s:.1f}")
              for m, s in zip(per_task["mean"], per_task["std"])]
    ).pivot(index="task", columns="algo", values="cell").reset_index()

    ci = "task-and-run" if settings["task_bootstrap"] else "stratified (runs within tasks)"
    lines = [
        "# Benchmark report",
        "",
        f"Results: `{runs_dir}`",
        "",
        f"Compared {len(labels)} algorithm(s) ({', '.join(f'`{l}`' for l in labels)}) "
        f"on {len(tasks)} task(s) ({', '.join(tasks)}).",
        "",
        f"Step (environment steps): {step_text}.",
        "",
        "Scores are normalised to 0-100 (`configs/suites.yaml`); each run's score is the mean over "
        "the episodes of one evaluation.",
        "",
        "## Runs",
        "",
        markdown_table(runs),
        "",
        "## Aggregate metrics",
        "",
        f"Point estimate [95% CI], {ci} bootstrap with {settings['reps']} replications, seed "
        f"{settings['seed']} (rliable). Higher is better, except the optimality gap "
        f"(threshold {OPTIMALITY_GAP_GAMMA:g}), where lower is better. Data: `aggregates.csv`.",
        "",
        markdown_table(agg),
        "",
    ]
    few = [label for label in labels if matrices[label].shape[0] < 3]
    if few:
        lines += [
            f"Note: {', '.join(f'`{l}`' for l in few)} {'has' if len(few) == 1 else 'have'} fewer "
            "than 3 runs per task; a bootstrap over so few runs gives narrow, unreliable intervals "
            "(a single run gives zero-width ones).",
            "",
        ]
    lines += [
        "![Aggregate metrics](aggregates.png)",
        "",
        "## Sample efficiency",
        "",
    ]
    if curve_error is None:
        lines += [
            f"IQM score at each eval step common to all runs of an algorithm, with a 95% CI band "
            f"({settings['curve_reps']} bootstrap replications). Data: `sample_efficiency.csv`.",
            "",
            "![Sample efficiency](sample_efficiency.png)",
        ]
    else:
        lines += [f"Not drawn: {curve_error}"]
    lines += [
        "",
        "## Per task",
        "",
        "Mean ± standard deviation over runs of the score at the step used. Data: `per_task.csv`.",
        "",
        markdown_table(tasks_table),
        "",
        "## Runs to check",
        "",
    ]
    lines += _problem_lines(statuses, runs_dir, messages)
    return "\n".join(lines) + "\n"


def _problem_lines(statuses: pd.DataFrame, runs_dir: Path, messages: list[str]) -> list[str]:
    """Runs that failed, are still running, or have no evaluation; and skipped files."""
    lines: list[str] = []
    if len(statuses):
        problems = statuses[(statuses["state"] != "done") | (statuses["eval_rows"] == 0)]
    else:
        problems = statuses
    if len(problems):
        table = pd.DataFrame({
            "run": [_relative(p, runs_dir) for p in problems["run_dir"]],
            "state": problems["state"].to_numpy(),
            "progress": [_progress(s, t) for s, t in zip(problems["step"], problems["total_steps"])],
            "eval rows": problems["eval_rows"].to_numpy(),
            "error": [_short(e) for e in problems["error"]],
        })
        lines += [markdown_table(table), ""]
    elif len(statuses):
        lines += [f"None: all {len(statuses)} run(s) with a status.json are done and have evaluations.", ""]
    else:
        lines += ["No status.json found, so run states are unknown.", ""]
    if messages:
        lines += ["Skipped while loading:", ""] + [f"- {m}" for m in messages] + [""]
    return lines


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _progress(step: object, total: object) -> str:
    if step is pd.NA or step is None:
        return ""
    return f"{step}/{total}" if total is not pd.NA and total is not None else str(step)


def _short(error: object, limit: int = 120) -> str:
    if error is None or (isinstance(error, float) and np.isnan(error)):
        return ""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _UsageError(Exception):
    """A command-line error (reported on one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m {PROG}", description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path, help="results directory (docs/results-format.md)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the report files")
    parser.add_argument("--step", type=_int_at_least(0), default=None,
                        help="compare at this env step (each run: nearest eval at or below); "
                             "default: last eval step common to all runs")
    parser.add_argument("--reps", type=_int_at_least(1), default=DEFAULT_REPS,
                        help=f"bootstrap replications for aggregate CIs (default {DEFAULT_REPS})")
    parser.add_argument("--curve-reps", type=_int_at_least(1), default=None,
                        help=f"bootstrap replications per curve (default min(reps, {DEFAULT_CURVE_REPS}))")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--task-bootstrap", action="store_true",
                        help="resample tasks as well as runs in the bootstrap")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 usage or results error)."""
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = write_report(
                args.runs_dir, args.out, step=args.step, reps=args.reps,
                curve_reps=args.curve_reps, seed=args.seed, task_bootstrap=args.task_bootstrap,
            )
    except (_UsageError, AnalysisError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    for w in caught:  # skipped files etc. on one line each; other warnings as Python shows them
        if issubclass(w.category, ResultsWarning):
            print(f"{PROG}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    _print_summary(report)
    return 0


def _print_summary(report: Report) -> None:
    agg = report.aggregates
    labels = sorted(agg["algo"].unique())
    runs = report.per_task.groupby("algo")["runs"].first()
    print(f"Compared {len(labels)} algorithm(s) on {len(report.tasks)} task(s) at step {report.step}.")
    width = max(len(l) for l in labels)
    for label in labels:
        rows = agg[agg["algo"] == label].set_index("metric")
        cells = "  ".join(
            f"{METRIC_TITLES[m]} {rows.at[m, 'value']:.1f} [{rows.at[m, 'ci_low']:.1f}, {rows.at[m, 'ci_high']:.1f}]"
            for m in METRICS
        )
        print(f"  {label:<{width}}  ({runs[label]} runs/task)  {cells}")
    print(f"Wrote {len(report.files)} file(s) to {report.out_dir}:")
    for path in report.files:
        print(f"  {path}")


if __name__ == "__main__":
    sys.exit(main())
