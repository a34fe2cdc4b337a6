"""The report's content, written once as a :class:`~analysis.document.Document` from an
:class:`~analysis.pipeline.Analysis`; :mod:`analysis.markdown` and :mod:`analysis.htmlpage` render it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.aggregates import METRIC_TITLES, METRICS, OPTIMALITY_GAP_GAMMA
from analysis.caveats import few_runs_note, fewest_runs, interval_text, runs_per_task
from analysis.document import Bullets, Details, Document, Figure, Heading, Para, Table
from analysis.groups import RULE as GROUPS_RULE
from analysis.issues import PAIR_NOT_RUN, PAIR_SKIPPED, left_out_summary, not_drawn, not_drawn_summary, problems
from analysis.pipeline import Analysis
from analysis.provenance import UNKNOWN
from analysis.ragged import RULE as RAGGED_RULE
from analysis.scaling import RULE as SCALING_RULE
from analysis.scores import CURVE_RULE
from analysis.table import is_published

TITLE = "Benchmark report"
PUBLISHED_RULE = (
    "Published baselines (`--baselines DIR`, `results/<algo>/<task>.csv`) are labelled "
    "`<algo> (published)`, drawn dashed (hatched bars), and normalised like our runs "
    "(`configs/suites.yaml`): DMControl `reward` is the episode return, score = return / 10; for the "
    "success families (Meta-World, MyoSuite, ManiSkill2) `success` in [0, 1] (TD-MPC2, TD-MPC, SAC, "
    "DreamerV3) and `reward` in percent (MBDPO) give score = success x 100. A file's name is mapped to "
    "our task name by `published_names` (`myo-hand-reach.csv` is `myo-reach`). Repeated (step, seed) "
    "rows are averaged; tasks named by no suite are left out (listed below)."
)


MODE_RULE = (
    "Training mode (`run.mode` in each run's `config.yaml`; absent: online): runs trained offline "
    "are labelled `X (offline)`, fine-tuned runs `X (finetuned)`, beside the from-scratch online "
    "`X` (X includes any variant). A multi-task run (directory `<suite>/multitask/...`) is one run "
    "over the tasks its `eval.csv` rows name."
)
FINETUNE_RULE = (
    "A fine-tuned curve starts at its step-0 evaluation, the pretrained model's score before any fine-tuning update."
)


def build_document(analysis: Analysis, figures: set[str], command: str | None = None) -> Document:
    """The report of ``analysis``; ``figures`` are the figure names actually written."""
    doc = Document(TITLE)
    _header(doc, analysis, command)
    _algorithms(doc, analysis)
    _aggregates(doc, analysis, figures)
    _groups(doc, analysis, figures)
    _profiles(doc, analysis, figures)
    _improvement(doc, analysis, figures)
    _curves(doc, analysis, figures)
    _scaling(doc, analysis, figures)
    _per_task(doc, analysis, figures)
    _method(doc, analysis)
    _missing(doc, analysis)
    _runs(doc, analysis)
    _sources(doc, analysis)
    return doc


def _header(doc: Document, a: Analysis, command: str | None) -> None:
    s, sel, cmp_ = a.settings, a.selection, a.comparison
    where = []
    if a.runs_dir is not None:
        where.append(f"Our runs: `{a.runs_dir}`.")
    if a.baseline_dirs:
        where.append("Published baselines: " + ", ".join(f"`{d}`" for d in a.baseline_dirs) + ".")
    if s.suite:
        where.append(f"Suite: `{s.suite}`.")
    if command:
        where.append(f"Command: `{command}`.")
    doc.add(Para(" ".join(where)))
    if s.step is None and not sel.limited_by:
        step = f"Compared at environment step **{sel.step:,}**, every run's last evaluation (`--step` chooses another)"
    elif s.step is None:
        step = (
            f"Compared at environment step **{sel.step:,}**, the last step every compared run has "
            f"reached (the last evaluation of {sel.limited_by}; `--step` chooses another)"
        )
    else:
        step = f"Compared at the requested environment step **{sel.step:,}**"
    if s.last_k:
        step += f"; each run's score is the mean of its last {s.last_k} evaluations at or below it"
    else:
        step += "; each run's score is its evaluation there, or its nearest earlier one"
    labels = cmp_.labels
    if cmp_.empty:
        summary = (
            f"{len(labels)} algorithm(s) share no task, so there is no comparison; see the "
            "per-task table and 'Missing and excluded'."
        )
    else:
        summary = (
            f"Compared {len(labels)} algorithm(s) ({', '.join(f'`{name}`' for name in labels)}) on the "
            f"{len(cmp_.tasks)} task(s) they all have ({_listing(cmp_.tasks)})."
        )
    doc.add(Para(summary + " " + step + "."))
    left_out = left_out_summary(a.issues)
    if left_out:
        doc.add(
            Para(
                f"Left out or repaired: {left_out}. Details under [Missing and excluded](#missing-and-excluded).",
                note=True,
            )
        )
    absent = not_drawn_summary(a.issues)
    if absent:  # expected absences, no problem: a plain line
        doc.add(Para(f"Not drawn (no data for them): {absent}."))


def _algorithms(doc: Document, a: Analysis) -> None:
    doc.add(Heading("Algorithms"))
    scores = a.selection.scores
    rows = []
    for label in a.labels:
        own = scores[scores["label"] == label]
        compared = a.comparison.matrices.get(label)
        rows.append(
            {
                "algo": label,
                "source": "published" if is_published(label) else "our runs",
                "tasks": own["task"].nunique(),
                "runs": len(own),
                "compared tasks": len(a.comparison.tasks) if compared is not None else 0,
                "runs per compared task": compared.shape[0] if compared is not None else "",
                "eval steps used": _span(own["step"]) if len(own) else "",
            }
        )
    doc.add(
        Table(
            pd.DataFrame(rows),
            caption="Tasks and runs each algorithm has at the step; "
            "the comparison uses the shared tasks and equal runs per task (see 'How the data "
            "were handled').",
        )
    )


def _aggregates(doc: Document, a: Analysis, figures: set[str]) -> None:
    doc.add(Heading("Aggregate metrics", anchor="aggregates"))
    if a.aggregates.empty:
        doc.add(Para("Not computed: the algorithms share no task.", note=True))
        return
    s = a.settings
    ci = "task-and-run" if s.task_bootstrap else "stratified (runs resampled within each task)"
    doc.add(
        Para(
            f"Point estimate [95% CI], {ci} bootstrap, {s.reps:,} replications, seed {s.seed} (rliable). "
            f"On {len(a.comparison.tasks)} task(s). Higher is better, except the optimality gap "
            f"(threshold {OPTIMALITY_GAP_GAMMA:g}), where lower is better. Data: `aggregates.csv`."
        )
    )
    runs = runs_per_task(a.comparison.matrices)
    agg = a.aggregates
    table = agg.assign(
        cell=[
            interval_text(v, lo, hi, [runs[algo]])
            for algo, v, lo, hi in zip(agg["algo"], agg["value"], agg["ci_low"], agg["ci_high"])
        ]
    )
    table = table.pivot(index="algo", columns="metric", values="cell")[list(METRICS)]
    doc.add(Table(table.rename(columns=METRIC_TITLES).reset_index()))
    _few_runs(doc, runs)
    if len(a.comparison.tasks) < 5 and not s.task_bootstrap:
        doc.add(
            Para(
                f"Only {len(a.comparison.tasks)} task(s): these intervals cover the choice of "
                "runs, not of tasks; `--task-bootstrap` also resamples tasks.",
                note=True,
            )
        )
    if "aggregates" in figures:
        doc.add(
            Figure(
                "aggregates",
                "Aggregate metrics with 95% confidence intervals",
                "Bars: 95% CIs; black ticks: point estimates; hatched: published.",
            )
        )


def _groups(doc: Document, a: Analysis, figures: set[str]) -> None:
    if not a.groups.groups:
        return
    doc.add(Heading("Aggregate metrics by group", anchor="groups"))
    s = a.settings
    names = ", ".join(g.title for g in a.groups.groups)
    doc.add(
        Para(
            f"The aggregates of each group of suite `{s.suite}` ({names}) on its own, as the papers' "
            "figures report them: each group compares the algorithms that have all of its tasks, at its "
            "own step (the last step every compared run of the group has reached, or `--step`), with "
            f"the bootstrap of the aggregates above (seed {s.seed}) at {s.group_reps:,} replications "
            "(`--group-reps`). Data: `group_aggregates.csv`."
        )
    )
    rows, runs = [], {}
    for g in a.groups.groups:
        if not g.shown:
            continue
        for label, matrix in g.comparison.matrices.items():
            runs[label] = min(runs.get(label, matrix.shape[0]), matrix.shape[0])
        agg = g.aggregates.set_index(["algo", "metric"])
        for label in sorted(g.comparison.matrices):
            n = g.comparison.matrices[label].shape[0]
            row = {"group": g.title, "tasks": len(g.tasks), "step": f"{g.step:,}", "algo": label, "runs per task": n}
            for m in METRICS:
                v, lo, hi = (agg.at[(label, m), c] for c in ("value", "ci_low", "ci_high"))
                row[METRIC_TITLES[m]] = interval_text(v, lo, hi, [n])
            rows.append(row)
    if rows:
        doc.add(Table(pd.DataFrame(rows)))
        _few_runs(doc, runs)
    outside = []
    for g in a.groups.groups:
        if g.shown and g.limited_by and s.step is None:
            outside.append(f"{g.title}: compared at step {g.step:,}, the last evaluation of {g.limited_by}.")
        if not g.shown:
            outside.append(f"{g.title}: not aggregated, no algorithm has all of its {len(g.tasks)} tasks.")
        for label, why in sorted(g.left_out.items()):
            outside.append(f"{g.title}: `{label}` left out, {why}.")
    if outside:
        doc.add(Para("Steps and algorithms left out, by group:"), Bullets(tuple(outside)))
    for g in a.groups.groups:
        name = f"aggregates_{g.name}"
        if name in figures:
            doc.add(Figure(name, f"{g.title}: aggregate metrics with 95% confidence intervals"))


def _profiles(doc: Document, a: Analysis, figures: set[str]) -> None:
    doc.add(Heading("Performance profiles", anchor="profiles"))
    if "performance_profiles" not in figures:
        doc.add(Para("Not drawn: the algorithms share no task.", note=True))
        return
    doc.add(
        Para(
            f"Fraction of runs (over the {len(a.comparison.tasks)} compared tasks) whose score "
            f"exceeds each threshold, with 95% CI bands ({a.settings.profile_reps:,} bootstrap "
            "replications; rliable's score distributions). Data: `performance_profiles.csv`."
        )
    )
    _few_runs(doc, runs_per_task(a.comparison.matrices))
    doc.add(Figure("performance_profiles", "Performance profiles"))


def _improvement(doc: Document, a: Analysis, figures: set[str]) -> None:
    doc.add(Heading("Probability of improvement", anchor="improvement"))
    poi = a.improvement
    doc.add(
        Para(
            "P(X > Y): the probability that a run of X scores higher than a run of Y on a task "
            "(ties count one half), averaged over the tasks the two share, with a 95% CI "
            f"({a.settings.poi_reps:,} bootstrap replications resampling each algorithm's runs within "
            "each task, rliable). Above 0.5 favours X. Pairs: `configs/analysis.yaml`, `--pair`, and "
            "each fine-tuned algorithm against the same algorithm trained from scratch "
            "(`X (finetuned)` vs `X`) where both are present. Data: `probability_of_improvement.csv`."
        )
    )
    if len(poi):
        table = pd.DataFrame(
            {
                "comparison": [f"P({x} > {y})" for x, y in zip(poi["x"], poi["y"])],
                "tasks": poi["tasks"],
                "runs X": poi["runs_x"],
                "runs Y": poi["runs_y"],
                "P(X > Y) [95% CI]": improvement_cells(poi),
            }
        )
        doc.add(Table(table))
        _few_runs(doc, fewest_runs([*zip(poi["x"], poi["runs_x"]), *zip(poi["y"], poi["runs_y"])]))
        if "probability_of_improvement" in figures:
            doc.add(Figure("probability_of_improvement", "Probability of improvement"))
    skipped = a.issues[a.issues["kind"] == PAIR_SKIPPED]["detail"]
    if len(skipped):
        doc.add(Para("Pairs not computed:"), Bullets(tuple(skipped)))
    not_run = a.issues[a.issues["kind"] == PAIR_NOT_RUN]["detail"]
    if len(not_run):
        doc.add(
            Para("Default pairs not computed, their algorithms not being in these runs: " + "; ".join(not_run) + ".")
        )


def _curves(doc: Document, a: Analysis, figures: set[str]) -> None:
    doc.add(Heading("Sample efficiency", anchor="curves"))
    if "sample_efficiency" not in figures:
        doc.add(Para("Not drawn; see 'Missing and excluded'.", note=True))
        return
    doc.add(
        Para(
            f"IQM normalised score over environment steps with 95% CI bands "
            f"({a.settings.curve_reps:,} bootstrap replications), on the compared tasks and runs. "
            f"{CURVE_RULE} {FINETUNE_RULE} The dotted line marks the step of the tables. "
            "Data: `sample_efficiency.csv`."
        )
    )
    _few_runs(doc, runs_per_task(a.comparison.matrices))
    doc.add(Figure("sample_efficiency", "Sample efficiency: IQM score vs environment steps"))


def _scaling(doc: Document, a: Analysis, figures: set[str]) -> None:
    doc.add(Heading("Scaling", anchor="scaling"))
    result = a.scaling
    if not result.shown:
        reasons = [i.detail for i in result.issues if i.detail.startswith("scaling figure absent: ")]
        if reasons:  # nothing to draw: say why here
            doc.add(Para("Not drawn: " + reasons[-1].removeprefix("scaling figure absent: ") + "."))
        else:
            doc.add(Para("Not drawn; the reason is under [Missing and excluded](#missing-and-excluded).", note=True))
        return
    table = result.table
    s = a.settings
    doc.add(
        Para(
            f"IQM normalised score against the number of trained parameters (`num_parameters` in "
            f"each run's `config.yaml`), with 95% CIs ({'task-and-run' if s.task_bootstrap else 'stratified'} "
            f"bootstrap, {s.reps:,} replications, seed {s.seed}), on the {len(a.comparison.tasks)} "
            "compared task(s) at the step. Published baselines record no parameter counts and are "
            "not shown. Data: `scaling.csv`."
        ),
        Table(
            pd.DataFrame(
                {
                    "algo": table["algo"],
                    "parameters": [_parameters(n) for n in table["num_parameters"]],
                    "variant(s)": table["variants"],
                    "runs per task": table["runs"],
                    "tasks": table["tasks"],
                    "IQM [95% CI]": [
                        interval_text(v, lo, hi, [n])
                        for v, lo, hi, n in zip(table["iqm"], table["ci_low"], table["ci_high"], table["runs"])
                    ],
                }
            )
        ),
    )
    if "scaling" in figures:
        doc.add(
            Figure(
                "scaling",
                "Scaling: IQM score vs trained parameters",
                "Error bars: 95% CIs; log x axis; one line per algorithm.",
            )
        )
    _few_runs(doc, fewest_runs(zip(table["algo"], table["runs"])))


def improvement_cells(poi: pd.DataFrame) -> list[str]:
    """``0.00 [0.00, 0.00] (zero width: ...)`` per row of the probability-of-improvement table."""
    columns = (poi[c] for c in ("value", "ci_low", "ci_high", "runs_x", "runs_y"))
    return [interval_text(v, lo, hi, [nx, ny], digits=2) for v, lo, hi, nx, ny in zip(*columns)]


def _few_runs(doc: Document, runs: dict[str, int]) -> None:
    """The few-runs caveat (:mod:`analysis.caveats`) as a note, where it applies."""
    note = few_runs_note(runs)
    if note:
        doc.add(Para(note, note=True))


def _per_task(doc: Document, a: Analysis, figures: set[str]) -> None:
    doc.add(Heading("Per task", anchor="per-task"))
    per_task = a.per_task
    cells = per_task.assign(
        cell=[
            f"{m:.1f}" + ("" if np.isnan(s) else f" ± {s:.1f}") + f" ({n})"
            for m, s, n in zip(per_task["mean"], per_task["std"], per_task["runs"])
        ]
    )
    grid = cells.pivot(index="task", columns="algo", values="cell").reset_index()
    compared = set(a.comparison.tasks)
    grid.insert(1, "compared", [t in compared for t in grid["task"]])
    doc.add(
        Para(
            "Mean ± standard deviation (runs) of the score at the step, over every run each "
            "algorithm has (not only the compared ones); empty: the algorithm has no run on the "
            "task. Data: `per_task.csv`."
        ),
        Table(grid.fillna("")),
    )
    if "per_task" in figures:
        doc.add(Figure("per_task", "Per-task mean scores"))


def _method(doc: Document, a: Analysis) -> None:
    s = a.settings
    doc.add(Heading("How the data were handled", anchor="method"))
    doc.add(
        Bullets(
            (
                "Scores are normalised to 0-100 by `configs/suites.yaml` (DMControl: return / 10; Meta-World, "
                "MyoSuite, ManiSkill2: success x 100); an evaluation's score is the mean over its episodes.",
                a.selection.rule_text(),
                RAGGED_RULE,
                *([GROUPS_RULE.format(reps=f"{s.group_reps:,}")] if a.groups.groups else []),
                CURVE_RULE,
                MODE_RULE,
                SCALING_RULE,
                PUBLISHED_RULE,
                f"Bootstrap: rliable 1.2 with NumPy's global RNG seeded with {s.seed} before each algorithm's "
                "(or pair's) call, so every interval is reproducible with rliable directly, e.g. "
                "`np.random.seed(seed); rly.get_interval_estimates({algo: scores}, func, reps=reps)`; "
                f"replications: aggregates {s.reps:,}, profiles {s.profile_reps:,}, curves {s.curve_reps:,}, "
                f"probability of improvement {s.poi_reps:,}; task bootstrap {'on' if s.task_bootstrap else 'off'}.",
            )
        )
    )


def _missing(doc: Document, a: Analysis) -> None:
    doc.add(Heading("Missing and excluded", anchor="missing-and-excluded"))
    left_out, absent = problems(a.issues), not_drawn(a.issues)
    if left_out.empty:
        doc.add(Para("Nothing left out or repaired: every run and file found was used."))
    else:
        doc.add(
            Para(
                "Everything left out of, or repaired for, the analysis, and why. Where one kind of "
                f"item repeats for one algorithm on more than {_GROUP} tasks, it is shown once here; "
                "`missing.csv` has every row."
            ),
            Table(_grouped(left_out).rename(columns={"seeds": "seed(s)"})),
        )
    if len(absent):
        doc.add(
            Para("Not drawn, no data for them (not a problem; also in `missing.csv`):"),
            Table(absent[["kind", "algo", "detail"]].reset_index(drop=True)),
        )


_GROUP = 5


def _grouped(issues: pd.DataFrame) -> pd.DataFrame:
    """Issues with more than _GROUP rows of one (kind, algo) collapsed into one row."""
    rows = []
    for (_, _), group in issues.groupby(["kind", "algo"], sort=False):
        if len(group) <= _GROUP:
            rows += group.to_dict("records")
            continue
        first = group.iloc[0].to_dict()
        seeds = sorted(
            {s.strip() for cell in group["seeds"] for s in str(cell).split(",") if s.strip()}, key=lambda s: (len(s), s)
        )
        first.update(
            task=f"{group['task'].nunique()} tasks",
            seeds=", ".join(seeds),
            path="",
            detail=f"{first['detail']} (and {len(group) - 1} more like it)",
        )
        rows.append(first)
    return pd.DataFrame(rows, columns=issues.columns)


def _runs(doc: Document, a: Analysis) -> None:
    doc.add(Heading("Runs: configuration and commit", anchor="runs"))
    prov = a.provenance
    if prov.empty:
        doc.add(
            Para(
                "No run directory with a `config.yaml`."
                if a.runs_dir is not None
                else "No runs of our own in this report."
            )
        )
        return
    states = {}
    if len(a.statuses):
        states = {str(p): s for p, s in zip(a.statuses["run_dir"], a.statuses["state"])}
    table = pd.DataFrame(
        {
            "run": prov["run"],
            "algo": prov["label"],
            "task": prov["task"],
            "seed": prov["seed"],
            "state": [states.get(str(a.runs_dir / r), "no status.json") if a.runs_dir else "" for r in prov["run"]],
            "mode": prov["mode"],
            "parameters": [_parameters(n) for n in prov["num_parameters"]],
            "commit": prov["commit"],
        }
    )
    if "pretrained" in prov and (prov["pretrained"] != "").any():  # where fine-tuned / evaluated weights came from
        table.insert(table.columns.get_loc("parameters"), "weights from", prov["pretrained"].to_numpy())
    unknown = int((prov["commit"] == UNKNOWN).sum())
    doc.add(
        Para(
            f"{len(prov)} run(s) under `{a.runs_dir}`; the exact configuration of each is its "
            "`config.yaml` (shown below in the HTML report)."
        )
    )
    if unknown:
        doc.add(
            Para(
                f"{unknown} run(s) record no commit (no `commit` field in their `config.yaml`): shown as `unknown`.",
                note=True,
            )
        )
    doc.add(Table(table))
    for row in prov.itertuples(index=False):
        doc.add(Details(f"{row.run} (commit {row.commit})", row.config))


def _sources(doc: Document, a: Analysis) -> None:
    if not a.baseline_dirs:
        return
    doc.add(Heading("Published sources", anchor="sources"))
    doc.add(
        Para(
            "Published results carry no per-run configuration; their provenance is the folder "
            "they were read from and the commit checked out there (`unknown` if not a git clone)."
        ),
        Table(a.sources),
    )


def _parameters(n: object) -> str:
    """``4,972,000 (5.0M)``; "" where unknown."""
    if n is None or pd.isna(n):
        return ""
    n = int(n)
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n:,} ({n / scale:.1f}{unit})"
    return f"{n:,}"


def _span(steps: pd.Series) -> str:
    low, high = int(steps.min()), int(steps.max())
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _listing(items: list[str], limit: int = 10) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
