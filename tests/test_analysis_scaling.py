"""Scaling (IQM against num_parameters), multi-task runs and fine-tuned runs, on tiny fake run
directories written as docs/results-format.md describes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from rliable import library as rly
from rliable import metrics

from analysis import issues as kinds
from analysis.pipeline import Settings, analyse, finetune_pairs
from analysis.provenance import run_settings
from analysis.report import main
from analysis.results import RESULT_COLUMNS
from analysis.scaling import SCALING_COLUMNS
from tests.helpers import write_run

REPS = 200
TASKS = ("cartpole-balance", "reacher-easy")  # sorted: the column order of every matrix
SEEDS = (0, 1, 2)


def write_config(
    run_dir: Path,
    *,
    mode: str | None = None,
    checkpoint: str | None = None,
    num_parameters: int | None = None,
    variant: str | None = None,
) -> None:
    """config.yaml as the harness writes it (run fields, variant, algo), with the new fields."""
    run = {"task": run_dir.parts[-4], "seed": int(run_dir.name[5:])}
    if mode is not None:
        run["mode"] = mode
    if checkpoint is not None:
        run["checkpoint"] = checkpoint
    config = {"run": run, "variant": variant or run_dir.parts[-2], "algo": {"lr": 3e-4}}
    if num_parameters is not None:
        config["num_parameters"] = num_parameters
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def score(algo_offset: float, task: str, seed: int, step: int) -> float:
    return algo_offset + 5.0 * TASKS.index(task) + 3.0 * seed + 10.0 * step / 1000


def write_sized(
    root: Path,
    algo: str,
    variant: str,
    num_parameters: int | None,
    offset: float,
    tasks=TASKS,
    steps=(1000, 2000),
    params_by_task: dict | None = None,
) -> None:
    for task in tasks:
        for seed in SEEDS:
            run = write_run(
                root, task, algo, seed, variant=variant, scores={s: [score(offset, task, seed, s)] for s in steps}
            )
            n = params_by_task[task] if params_by_task else num_parameters
            write_config(run, num_parameters=n)


def matrix(offset: float, step: int = 2000) -> np.ndarray:
    return np.array([[score(offset, t, s, step) for t in TASKS] for s in SEEDS])


def iqm_direct(scores: np.ndarray, reps: int, seed: int) -> tuple[float, float, float]:
    np.random.seed(seed)
    points, intervals = rly.get_interval_estimates(
        {"x": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps
    )
    return float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0])


# ------------------------------------------------------------------------------------ scaling
def test_scaling_table_equals_rliable_iqm_and_is_drawn(tmp_path: Path):
    root = tmp_path / "runs"
    write_sized(root, "mbdpo", "model.size=1-aaaaaa", 1_000_000, 10.0)
    write_sized(root, "mbdpo", "planner.iterations=4-cccccc", 1_000_000, 20.0)  # same size: pooled
    write_sized(root, "mbdpo", "model.size=5-bbbbbb", 5_000_000, 30.0)
    write_sized(
        root,
        "tdmpc2",
        "default",
        None,
        0.0,  # one size; counts differ by task (obs dims)
        params_by_task={"cartpole-balance": 4_900_000, "reacher-easy": 5_100_000},
    )
    out = tmp_path / "out"
    assert main([str(root), "--out", str(out), "--reps", str(REPS), "--seed", "4"]) == 0

    table = pd.read_csv(out / "scaling.csv", keep_default_na=False)
    assert list(table.columns) == list(SCALING_COLUMNS)
    assert list(zip(table["algo"], table["num_parameters"])) == [
        ("mbdpo", 1_000_000),
        ("mbdpo", 5_000_000),
        ("tdmpc2", 5_000_000),
    ]
    expected = {
        ("mbdpo", 1_000_000): (
            np.vstack([matrix(10.0), matrix(20.0)]),
            "model.size=1-aaaaaa, planner.iterations=4-cccccc",
        ),
        ("mbdpo", 5_000_000): (matrix(30.0), "model.size=5-bbbbbb"),
        ("tdmpc2", 5_000_000): (matrix(0.0), "default"),
    }
    for row in table.itertuples(index=False):
        scores, variants = expected[(row.algo, row.num_parameters)]
        assert row.variants == variants and row.runs == scores.shape[0] and row.tasks == 2
        np.testing.assert_allclose([row.iqm, row.ci_low, row.ci_high], iqm_direct(scores, REPS, 4), rtol=1e-12)
    # A point of one label is that label's IQM in aggregates.csv (same bootstrap, same seed).
    aggregates = pd.read_csv(out / "aggregates.csv")
    iqm = aggregates[(aggregates["algo"] == "mbdpo[model.size=5-bbbbbb]") & (aggregates["metric"] == "iqm")].iloc[0]
    np.testing.assert_allclose(
        table.iloc[1][["iqm", "ci_low", "ci_high"]].astype(float),
        iqm[["value", "ci_low", "ci_high"]].astype(float),
        rtol=1e-12,
    )

    for name in ("scaling.png", "scaling.svg"):
        assert (out / name).stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "## Scaling" in report and "![Scaling: IQM score vs trained parameters](scaling.png)" in report
    assert "| mbdpo | 1,000,000 (1.0M) | model.size=1-aaaaaa, planner.iterations=4-cccccc | 6 | 2 |" in report
    html = (out / "report.html").read_text()
    assert '<figure id="fig-scaling"><img src="data:image/png;base64,' in html
    missing = pd.read_csv(out / "missing.csv")
    differ = missing[missing["kind"] == kinds.PARAMETERS_DIFFER]
    assert list(differ["algo"]) == ["tdmpc2"] and "4,900,000-5,100,000" in differ["detail"].iloc[0]
    assert "scaling figure absent" not in " ".join(missing["detail"])
    runs = pd.read_csv(out / "runs.csv")
    assert {"mode", "num_parameters"} <= set(runs.columns) and set(runs["mode"]) == {"online"}


def test_scaling_absent_with_one_size_says_why(tmp_path: Path):
    root = tmp_path / "runs"
    write_sized(root, "mbdpo", "default", 1_000_000, 10.0)
    write_sized(root, "tdmpc2", "default", None, 0.0)  # an old run: no num_parameters
    out = tmp_path / "out"
    assert main([str(root), "--out", str(out), "--reps", "50"]) == 0
    assert not (out / "scaling.png").exists()
    assert pd.read_csv(out / "scaling.csv").empty
    missing = pd.read_csv(out / "missing.csv")
    reason = missing[missing["detail"].str.startswith("scaling figure absent")]
    assert list(reason["kind"]) == [kinds.SCALING_ONE_SIZE]  # nothing to draw: not a problem
    assert reason["detail"].iloc[0] == (
        "scaling figure absent: no algorithm has compared runs at two or more parameter counts (mbdpo: 1,000,000)"
    )
    report = (out / "report.md").read_text()
    assert "## Scaling" in report and "scaling figure absent: no algorithm" in report


def test_scaling_absent_without_parameter_counts(tmp_path: Path):
    root = tmp_path / "runs"
    write_sized(root, "mbdpo", "default", None, 10.0)
    analysis = analyse(root, settings=Settings(reps=20))
    assert not analysis.scaling.shown
    assert any(
        d.startswith("scaling figure absent: no compared run of our own records num_parameters")
        for d in analysis.issues["detail"]
    )


def test_parameter_free_random_is_kept_off_the_log_axis_and_not_flagged(tmp_path: Path):
    root = tmp_path / "runs"
    write_sized(root, "mbdpo", "default", 1_000_000, 10.0)
    write_sized(root, "random", "default", 0, 0.0)  # harness.run writes num_parameters: 0 for it
    analysis = analyse(root, settings=Settings(reps=20))
    assert kinds.BAD_METADATA not in set(analysis.issues["kind"])
    assert set(analysis.provenance.loc[analysis.provenance["label"] == "random", "num_parameters"]) == {0}
    assert not analysis.scaling.shown and any(
        d.endswith("(mbdpo: 1,000,000); parameter-free (num_parameters 0): random") for d in analysis.issues["detail"]
    )
    write_sized(root, "mbdpo", "model.size=5-bbbbbb", 5_000_000, 30.0)  # now drawn: random left out, listed
    analysis = analyse(root, settings=Settings(reps=20))
    assert analysis.scaling.shown and "random" not in set(analysis.scaling.table["algo"])
    excluded = analysis.issues[(analysis.issues["kind"] == kinds.OFF_SCALING) & (analysis.issues["algo"] == "random")]
    assert list(excluded["detail"]) == [
        "left out of the scaling figure: parameter-free (num_parameters 0), no place on its log axis"
    ]


# ------------------------------------------------------------------------------- multi-task
def write_multitask(
    root: Path,
    algo: str,
    seed: int,
    by_task: dict[str, dict[int, float]],
    *,
    suite: str = "mt-smoke",
    mode: str = "offline",
) -> Path:
    run_dir = root / suite / "multitask" / algo / "default" / f"seed_{seed}"
    run_dir.mkdir(parents=True)
    rows = [
        {
            "suite": suite,
            "task": task,
            "algo": algo,
            "variant": "default",
            "seed": seed,
            "step": step,
            "episode": 0,
            "return": value * 10,
            "length": 500,
            "score": value,
            "success": "",
        }
        for task, by_step in by_task.items()
        for step, value in by_step.items()
    ]
    pd.DataFrame(rows, columns=list(RESULT_COLUMNS)).to_csv(run_dir / "eval.csv", index=False)
    (run_dir / "status.json").write_text('{"state": "done", "step": 2000, "total_steps": 2000}')
    write_config(run_dir, mode=mode, num_parameters=5_000_000)
    return run_dir


def test_multitask_run_is_one_run_over_its_tasks(tmp_path: Path):
    root = tmp_path / "runs"
    tasks = {"cartpole-balance": 70.0, "cheetah-run": 20.0, "reacher-easy": 50.0}
    write_multitask(root, "tdmpc2", 0, {t: {1000: v - 10, 2000: v} for t, v in tasks.items()})
    # An online single-task run with the same suite, algo, variant, seed and a shared task.
    write_run(root, "cartpole-balance", "tdmpc2", 0, {1000: [1.0], 2000: [2.0]}, suite="mt-smoke")
    analysis = analyse(root, settings=Settings(reps=20, algos=("tdmpc2 (offline)",)))
    assert "multitask" not in set(analysis.tidy["task"])
    assert analysis.comparison.tasks == sorted(tasks)
    np.testing.assert_array_equal(analysis.comparison.matrices["tdmpc2 (offline)"], [[70.0, 20.0, 50.0]])
    per_task = analysis.per_task.set_index("task")
    assert list(per_task["runs"]) == [1, 1, 1] and set(per_task["algo"]) == {"tdmpc2 (offline)"}
    [info] = analysis.provenance[analysis.provenance["task"] == "multitask"].itertuples(index=False)
    assert info.label == "tdmpc2 (offline)" and info.mode == "offline" and info.num_parameters == 5_000_000
    everything = analyse(root, settings=Settings(reps=20))  # both runs: apart, not merged
    runs = everything.selection.scores.groupby("label").size().to_dict()
    assert runs == {"tdmpc2": 1, "tdmpc2 (offline)": 3}
    assert kinds.DUPLICATE_ROWS not in set(everything.issues["kind"])


def test_multitask_rows_without_a_task_name_are_left_out(tmp_path: Path):
    root = tmp_path / "runs"
    write_multitask(root, "tdmpc2", 0, {"cartpole-balance": {1000: 5.0}, "multitask": {1000: 9.0}})
    analysis = analyse(root, settings=Settings(reps=20))
    assert set(analysis.tidy["task"]) == {"cartpole-balance"}
    assert any("task 'multitask'" in d for d in analysis.issues["detail"])


# ------------------------------------------------------------------------------- fine-tuning
PRETRAINED = {"cartpole-balance": 60.0, "reacher-easy": 40.0}


def write_finetune_study(root: Path, finetune_steps=(0, 1000, 2000)) -> None:
    for task in TASKS:
        for seed in SEEDS:
            write_run(root, task, "tdmpc2", seed, {s: [score(0.0, task, seed, s)] for s in (0, 1000, 2000)})
            # Its own directory (the variant component differs), the algorithm's variant in eval.csv
            # and config.yaml: labelled beside the from-scratch runs.
            run = write_run(
                root,
                task,
                "tdmpc2",
                seed,
                variant="default+finetune-1a2b3c",
                scores={s: [PRETRAINED[task] + seed + 10.0 * s / 1000] for s in finetune_steps},
            )
            frame = pd.read_csv(run / "eval.csv")
            frame.assign(variant="default").to_csv(run / "eval.csv", index=False)
            write_config(
                run, mode="finetune", checkpoint="runs/mt-smoke/multitask/tdmpc2/default/seed_0", variant="default"
            )


def test_finetuned_runs_are_labelled_paired_and_curve_starts_at_step_0(tmp_path: Path):
    root = tmp_path / "runs"
    write_finetune_study(root)
    out = tmp_path / "out"
    assert main([str(root), "--out", str(out), "--reps", str(REPS), "--poi-reps", "100"]) == 0
    aggregates = pd.read_csv(out / "aggregates.csv")
    assert sorted(aggregates["algo"].unique()) == ["tdmpc2", "tdmpc2 (finetuned)"]

    poi = pd.read_csv(out / "probability_of_improvement.csv")
    [row] = poi[(poi["x"] == "tdmpc2 (finetuned)") & (poi["y"] == "tdmpc2")].itertuples(index=False)
    assert row.value == 1.0 and row.tasks == 2 and row.runs_x == row.runs_y == 3  # beats every run

    curves = pd.read_csv(out / "sample_efficiency.csv")
    finetuned = curves[curves["algo"] == "tdmpc2 (finetuned)"].sort_values("step")
    assert list(finetuned["step"]) == [0, 1000, 2000]
    pretrained = np.array([[PRETRAINED[t] + s for t in TASKS] for s in SEEDS])
    assert finetuned["value"].iloc[0] == pytest.approx(metrics.aggregate_iqm(pretrained))
    assert list(curves[curves["algo"] == "tdmpc2"]["step"]) == [0, 1000, 2000]

    runs = pd.read_csv(out / "runs.csv")
    assert set(runs.loc[runs["mode"] == "finetune", "label"]) == {"tdmpc2 (finetuned)"}
    report = (out / "report.md").read_text()
    assert "P(tdmpc2 (finetuned) > tdmpc2)" in report
    assert not pd.read_csv(out / "missing.csv")["detail"].str.contains("fine-tuned curve").any()


def test_finetuned_curve_without_step_0_is_reported(tmp_path: Path):
    root = tmp_path / "runs"
    write_finetune_study(root, finetune_steps=(1000, 2000))
    analysis = analyse(root, settings=Settings(reps=20))
    detail = analysis.issues[analysis.issues["algo"] == "tdmpc2 (finetuned)"]["detail"]
    assert detail.str.startswith("fine-tuned curve starts at step 1,000, not 0").any()


def test_finetune_pairs_and_run_settings():
    labels = ["a", "a (finetuned)", "b[v] (finetuned)", "b[v]", "c (finetuned)", "d (published)"]
    assert finetune_pairs(labels) == [("a (finetuned)", "a"), ("b[v] (finetuned)", "b[v]")]
    assert run_settings({"run": {"task": "t"}}) == ("online", "", None, "")
    assert run_settings({"run": {"mode": "finetune", "checkpoint": "x"}, "num_parameters": 12}) == (
        "finetune",
        "x",
        12,
        "",
    )
    mode, _, n, note = run_settings({"run": {"mode": "finetune"}, "num_parameters": "big"})
    assert (mode, n) == ("finetune", None)
    assert note == "run.mode is finetune but run.checkpoint is missing; num_parameters 'big' is not a whole number >= 0"
    assert (
        run_settings({"run": {"mode": "pretrain"}})[3] == "run.mode 'pretrain' is not one of online, offline, finetune"
    )


def test_unknown_mode_leaves_the_run_out(tmp_path: Path):
    root = tmp_path / "runs"
    write_sized(root, "mbdpo", "default", 1_000, 10.0)
    odd = root / "dmc-smoke" / "reacher-easy" / "mbdpo" / "default" / "seed_2"
    write_config(odd, mode="pretrain")
    analysis = analyse(root, settings=Settings(reps=20))
    assert len(analysis.selection.scores) == 5
    kinds_of = analysis.issues.set_index("path")["kind"]
    assert set(kinds_of[str(odd.relative_to(root))]) == {kinds.BAD_METADATA, kinds.RUN_PROBLEM}
