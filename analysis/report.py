"""Benchmark report: ``python -m analysis.report [RUNS_DIR] --out DIR [--suite S] [--step N]
[--last-k K] [--baselines DIR [DIR ...]] [--pair X Y] [--algos PATTERN ...] [--reps N] [--group-reps N]
[--seed N]``
(``--pair X Y`` names one pair; repeat it for more pairs).

Writes into DIR:

* ``report.html``: one self-contained page (figures embedded, tables, every run's config and
  commit, what was missing); ``report.md``: the same in Markdown, linking the figures;
* ``aggregates.csv``: algo, metric, value, ci_low, ci_high (IQM, median, mean, optimality gap with
  stratified-bootstrap 95% CIs on the compared tasks; :mod:`analysis.aggregates`);
* ``group_aggregates.csv``: the same per group of the suite (``--suite paper-104``: DMControl,
  Meta-World, MyoSuite, ManiSkill2, Locomotion), with the columns group, title, step, tasks, algo,
  runs, metric, value, ci_low, ci_high (:mod:`analysis.groups`; header only for a suite without groups);
* ``probability_of_improvement.csv``, ``performance_profiles.csv``, ``sample_efficiency.csv``,
  ``per_task.csv``, ``results.csv`` (the tidy table: one row per evaluation), ``missing.csv``
  (everything left out, and why), ``runs.csv`` (each run's commit, mode, observations and parameter count),
  ``scaling.csv`` (IQM per algorithm and parameter count; :mod:`analysis.scaling`);
* figures as PNG and SVG: ``aggregates``, ``performance_profiles``, ``probability_of_improvement``,
  ``sample_efficiency``, ``per_task``, ``scaling`` when some algorithm has two or more sizes, and
  ``aggregates_<group>`` for each group with aggregates.

Bad arguments or unusable results print one line ``analysis.report: error: ...`` and exit with
status 2 (no traceback). Files that cannot be used print ``analysis.report: warning: ...`` naming
them, and the report is still made from the rest.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from analysis.aggregates import DEFAULT_CURVE_REPS, DEFAULT_REPS, METRIC_TITLES, METRICS
from analysis.caveats import few_runs_note, fewest_runs, interval_text, runs_per_task
from analysis.errors import AnalysisError, ResultsWarning
from analysis.figures import (
    plot_aggregates,
    plot_improvement,
    plot_per_task,
    plot_performance_profiles,
    plot_sample_efficiency,
    plot_scaling,
    save_figure,
)
from analysis.htmlpage import render_html
from analysis.issues import left_out_summary, not_drawn_summary
from analysis.markdown import render_markdown
from analysis.narrative import build_document, improvement_cells
from analysis.pipeline import Analysis, Settings, analyse
from analysis.scaling import scaling_colours
from analysis.settings import load_config

PROG = "analysis.report"
#: ``--help``'s description (the usage line above it lists the options).
DESCRIPTION = (
    "Benchmark report: aggregate metrics, performance profiles, probability of improvement, "
    "sample-efficiency curves and per-task scores (rliable, 95% bootstrap CIs) of the runs in "
    "RUNS_DIR and any published baselines, written to --out as report.html, report.md, CSVs and figures."
)


@dataclass
class Report:
    """What :func:`write_report` computed and wrote."""

    out_dir: Path
    analysis: Analysis
    files: list[Path] = field(default_factory=list)

    @property
    def step(self) -> int:
        return self.analysis.selection.step

    @property
    def tasks(self) -> list[str]:
        return self.analysis.comparison.tasks

    @property
    def aggregates(self) -> pd.DataFrame:
        return self.analysis.aggregates

    @property
    def per_task(self) -> pd.DataFrame:
        return self.analysis.per_task

    @property
    def issues(self) -> pd.DataFrame:
        return self.analysis.issues


def write_report(
    runs_dir: str | Path | None,
    out_dir: str | Path,
    *,
    baselines: Sequence[str | Path] = (),
    command: str | None = None,
    settings: Settings | None = None,
    **options,
) -> Report:
    """Analyse ``runs_dir`` (and ``baselines``) and write the report files into ``out_dir``.

    ``options`` are :class:`~analysis.pipeline.Settings` fields (step, reps, seed, ...) when no
    ``settings`` is given. Raises :class:`AnalysisError` if nothing can be analysed.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AnalysisError(f"output path is not a directory: {out_dir}")
    settings = settings or Settings(**options)
    analysis = analyse(runs_dir, baselines, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir=out_dir, analysis=analysis)
    write = report.files.append

    write(_csv(analysis.aggregates, out_dir / "aggregates.csv"))
    write(_csv(analysis.groups.table, out_dir / "group_aggregates.csv"))
    write(_csv(analysis.improvement, out_dir / "probability_of_improvement.csv"))
    write(_csv(analysis.profiles, out_dir / "performance_profiles.csv"))
    write(_csv(analysis.curves, out_dir / "sample_efficiency.csv"))
    write(_csv(analysis.per_task, out_dir / "per_task.csv"))
    write(_csv(analysis.tidy, out_dir / "results.csv"))
    write(_csv(analysis.issues, out_dir / "missing.csv"))
    write(_csv(analysis.provenance.drop(columns=["config", "note"]), out_dir / "runs.csv"))
    write(_csv(analysis.scaling.table, out_dir / "scaling.csv"))

    figures = _figures(analysis, out_dir, report.files)
    document = build_document(analysis, figures, command)
    (out_dir / "report.md").write_text(render_markdown(document))
    write(out_dir / "report.md")
    (out_dir / "report.html").write_text(render_html(document, out_dir))
    write(out_dir / "report.html")
    return report


def _figures(analysis: Analysis, out_dir: Path, files: list[Path]) -> set[str]:
    palette = analysis.palette
    compared_note = few_runs_note(runs_per_task(analysis.comparison.matrices), code=False)
    made = {}
    if len(analysis.aggregates):
        made["aggregates"] = plot_aggregates(analysis.aggregates, palette, note=compared_note)
        made["performance_profiles"] = plot_performance_profiles(analysis.profiles, palette, note=compared_note)
    if len(analysis.curves):
        made["sample_efficiency"] = plot_sample_efficiency(
            analysis.curves,
            palette,
            step=analysis.selection.step,
            title=f"Sample efficiency ({_count(len(analysis.comparison.tasks), 'task')})",
            note=compared_note,
        )
    poi = analysis.improvement
    if len(poi):
        made["probability_of_improvement"] = plot_improvement(
            poi,
            palette,
            labels=improvement_cells(poi),
            note=few_runs_note(fewest_runs([*zip(poi["x"], poi["runs_x"]), *zip(poi["y"], poi["runs_y"])]), code=False),
        )
    if analysis.scaling.shown:
        table = analysis.scaling.table
        made["scaling"] = plot_scaling(
            table,
            scaling_colours(analysis.scaling, palette),
            title=f"Scaling ({_count(len(analysis.comparison.tasks), 'task')})",
            note=few_runs_note(fewest_runs(zip(table["algo"], table["runs"])), code=False),
        )
    if len(analysis.per_task):
        made["per_task"] = plot_per_task(analysis.per_task)
    for group in analysis.groups.groups:
        if group.shown:
            made[f"aggregates_{group.name}"] = plot_aggregates(
                group.aggregates,
                palette,
                note=few_runs_note(runs_per_task(group.comparison.matrices), code=False),
                title=f"{group.title} ({_count(len(group.tasks), 'task')}, step {group.step:,})",
            )
    for name, fig in made.items():
        files += save_figure(fig, out_dir / f"{name}.png")
    return set(made)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _csv(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


class _UsageError(Exception):
    """A command-line error (reported on one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


#: upper bounds of the numeric options: bootstrap replications are held in memory at once;
#: numpy's seeds are below 2**32; steps beyond 2**53 are not whole in float64 (eval tables)
MAX_REPS = 1_000_000
MAX_SEED = 2**32 - 1
MAX_STEP = 2**53


def _int_at_least(minimum: int, maximum: int = 2**31 - 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum}, got {value}")
        return value

    return parse


def parse_step(text: str) -> int:
    """An environment step: ``1000000``, ``1e6``, ``1_000_000`` or ``2.5e5`` (a whole number >= 0)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a step such as 1000000 or 1e6, got {text!r}") from None
    if not value.is_integer() or value < 0 or value > MAX_STEP:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps from 0 to {MAX_STEP}, got {text!r}")
    return int(value)


def _out_problem(out: Path) -> str | None:
    """Why ``--out`` cannot be (or become) a directory, or None; a missing one is created and removed
    again to find out (``os.access`` says yes to root everywhere, then ``mkdir /proc/x`` fails)."""
    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe == out:
        return None if out.is_dir() else f"output path is not a directory: {out}"
    if not probe.is_dir():
        return f"output path is under a file: {probe}"
    first = out
    while first.parent != probe:
        first = first.parent
    try:
        first.mkdir()
        first.rmdir()
    except FileExistsError:
        pass
    except OSError as exc:
        return f"--out {out}: cannot create {first} ({exc.strerror or exc})"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m {PROG}", description=DESCRIPTION)
    parser.add_argument(
        "runs_dir",
        type=Path,
        nargs="?",
        default=None,
        help="our results directory (docs/results-format.md); optional with --baselines",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for the report files")
    parser.add_argument("--suite", default=None, help="only this suite's tasks (configs/suites.yaml)")
    parser.add_argument(
        "--step",
        type=parse_step,
        default=None,
        help="compare at this env step, e.g. 1e6 (each run: nearest eval at or below); "
        "default: the last step every compared run has reached",
    )
    parser.add_argument(
        "--last-k",
        type=_int_at_least(1),
        default=None,
        metavar="K",
        help="score each run by the mean of its last K evals at or below the step",
    )
    parser.add_argument(
        "--baselines",
        type=Path,
        action="extend",
        nargs="+",
        default=[],
        metavar="DIR",
        help="published results (checkouts holding results/<algo>/<task>.csv): "
        "--baselines A B or --baselines A --baselines B",
    )
    parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        default=[],
        metavar=("X", "Y"),
        help="also compute P(X > Y) for the algorithm labels X and Y: one pair per --pair, "
        "repeat the flag for more pairs (--pair A B --pair C D)",
    )
    parser.add_argument(
        "--algos",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="only these algorithm labels (exact or fnmatch patterns, e.g. 'mbdpo*' "
        "'tdmpc2 (published)'); also lifts configs/analysis.yaml's baseline exclusions",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="analysis settings YAML (default configs/analysis.yaml)"
    )
    parser.add_argument(
        "--reps",
        type=_int_at_least(1, MAX_REPS),
        default=DEFAULT_REPS,
        help=f"bootstrap replications for aggregate CIs (default {DEFAULT_REPS})",
    )
    for name, what in (
        ("curve", "per curve"),
        ("profile", "per performance profile"),
        ("poi", "per probability of improvement"),
        ("group", "per group's aggregates (suites with groups, e.g. paper-104)"),
    ):
        parser.add_argument(
            f"--{name}-reps",
            type=_int_at_least(1, MAX_REPS),
            default=None,
            help=f"bootstrap replications {what} (default min(reps, {DEFAULT_CURVE_REPS}))",
        )
    parser.add_argument("--seed", type=_int_at_least(0, MAX_SEED), default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--task-bootstrap",
        action="store_true",
        help="resample tasks as well as runs (rliable's task_bootstrap): intervals then "
        "also cover the choice of tasks; worth it with few tasks",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 usage or results error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        problem = _out_problem(args.out)
        if problem:
            raise _UsageError(problem)
        settings = Settings(
            step=args.step,
            last_k=args.last_k,
            suite=args.suite,
            reps=args.reps,
            curve_reps=args.curve_reps,
            profile_reps=args.profile_reps,
            poi_reps=args.poi_reps,
            group_reps=args.group_reps,
            seed=args.seed,
            task_bootstrap=args.task_bootstrap,
            algos=tuple(args.algos),
            pairs=tuple(tuple(p) for p in args.pair),
            config=load_config(args.config),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = write_report(
                args.runs_dir,
                args.out,
                baselines=args.baselines,
                settings=settings,
                command=f"python -m {PROG} " + shlex.join(argv),
            )
    except (_UsageError, AnalysisError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a failed write (a full disk), after the checks: one line, exit 1
        where = exc.filename or args.out
        what = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
        print(f"{PROG}: error: {what}: {where}", file=sys.stderr)
        return 1
    for w in caught:  # unusable files etc. on one line each; other warnings as Python shows them
        if issubclass(w.category, ResultsWarning):
            print(f"{PROG}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for issue in report.analysis.requested_pair_issues:
        print(f"{PROG}: warning: {issue.detail}", file=sys.stderr)
    _print_summary(report)
    return 0


def _print_summary(report: Report) -> None:
    a = report.analysis
    agg = a.aggregates
    print(
        f"Compared {len(a.comparison.labels)} algorithm(s) on {len(a.comparison.tasks)} shared task(s) "
        f"at step {a.selection.step}."
    )
    if len(agg):
        labels = sorted(agg["algo"].unique())
        width = max(len(name) for name in labels)
        for label in labels:
            rows = agg[agg["algo"] == label].set_index("metric")
            runs = a.comparison.matrices[label].shape[0]
            cells = "  ".join(
                f"{METRIC_TITLES[m]} "
                + interval_text(rows.at[m, "value"], rows.at[m, "ci_low"], rows.at[m, "ci_high"], [runs])
                for m in METRICS
            )
            print(f"  {label:<{width}}  ({runs} runs/task)  {cells}")
    shown = [g for g in a.groups.groups if g.shown]
    if shown:
        print("Groups, IQM [95% CI]:")
    for group in shown:
        rows = group.aggregates[group.aggregates["metric"] == "iqm"]
        cells = "; ".join(
            f"{r.algo} " + interval_text(r.value, r.ci_low, r.ci_high, [group.comparison.matrices[r.algo].shape[0]])
            for r in rows.itertuples(index=False)
        )
        print(f"  {group.title} ({_count(len(group.tasks), 'task')}, step {group.step}): {cells}")
    poi = a.improvement
    for row, cell in zip(poi.itertuples(index=False), improvement_cells(poi)):
        print(f"  P({row.x} > {row.y}) = {cell} on {row.tasks} task(s)")
    runs = fewest_runs(
        [*runs_per_task(a.comparison.matrices).items(), *zip(poi["x"], poi["runs_x"]), *zip(poi["y"], poi["runs_y"])]
    )
    note = few_runs_note(runs, code=False)
    if note:
        print(f"Note: {note}")
    left_out = left_out_summary(a.issues)
    if left_out:
        print(
            f"Left out or repaired: {left_out}: see 'Missing and excluded' in "
            f"{report.out_dir / 'report.html'} (missing.csv)"
        )
    absent = not_drawn_summary(a.issues)
    if absent:
        print(f"Not drawn (no data for them): {absent}.")
    print(f"Wrote {len(report.files)} file(s) to {report.out_dir}:")
    for path in report.files:
        print(f"  {path}")


if __name__ == "__main__":
    sys.exit(main())
