"""Tests of the analysis package: loading, rliable score matrices, aggregates, figures, report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rliable import metrics

from analysis import issues as kinds
from analysis.aggregates import METRICS, compute_aggregates, iqm_curves, seeded_global_rng
from analysis.contract import check_score_matrix
from analysis.errors import AnalysisError, ResultsWarning
from analysis.figures import algo_palette
from analysis.report import main, parse_step
from analysis.results import RESULT_COLUMNS, load_results, load_statuses
from analysis.scores import algo_label, score_curves, score_matrices
from tests.helpers import rliable_direct, table_from, write_run

REPO = Path(__file__).resolve().parents[1]
REPS = 500


def synthetic_score(algo: str, task: str, seed: int, step: int, episode: int) -> float:
    base = {"mbdpo": 30.0, "tdmpc2": 20.0}[algo] + {"cartpole-balance": 10.0, "reacher-easy": 0.0}[task]
    return base + 7.0 * seed + 10.0 * step / 1000 + 2.0 * episode


ALGOS = {"mbdpo": "default", "tdmpc2": "horizon=3-1a2b3c"}
TASKS = ("reacher-easy", "cartpole-balance")
SEEDS = (0, 1, 2)
STEPS = (1000, 2000, 3000)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """2 algos x 2 tasks x 3 seeds x 3 eval steps x 2 episodes, plus a failed and a running run."""
    root = tmp_path / "runs"
    for algo, variant in ALGOS.items():
        for task in TASKS:
            for seed in SEEDS:
                write_run(
                    root,
                    task,
                    algo,
                    seed,
                    variant=variant,
                    scores={step: [synthetic_score(algo, task, seed, step, e) for e in range(2)] for step in STEPS},
                )
    write_run(root, "cup-catch", "mbdpo", 0, {}, state="failed", error="RuntimeError: CUDA OOM")
    write_run(root, "cup-catch", "tdmpc2", 0, {}, state="running")
    return root


def expected_matrix(algo: str, step: int) -> np.ndarray:
    """(seeds, tasks sorted) of episode-mean scores, built independently of analysis.scores."""
    tasks = sorted(TASKS)
    return np.array([[np.mean([synthetic_score(algo, t, s, step, e) for e in range(2)]) for t in tasks] for s in SEEDS])


def metric(table: pd.DataFrame, name: str, algo: str = "a") -> pd.Series:
    return table[(table["algo"] == algo) & (table["metric"] == name)].iloc[0]


# ------------------------------------------------------------------------------ known answers
def test_iqm_of_one_to_eight_is_mean_of_middle_half():
    scores = np.arange(1.0, 9.0).reshape(8, 1)  # 8 runs, 1 task
    row = metric(compute_aggregates({"a": scores}, reps=REPS), "iqm")
    assert row["value"] == pytest.approx((3 + 4 + 5 + 6) / 4)  # 4.5: drop 1, 2 and 7, 8


def test_median_and_mean_are_of_per_task_means():
    scores = np.array([[0.0, 10.0, 100.0], [20.0, 30.0, 60.0]])  # task means 10, 20, 80
    table = compute_aggregates({"a": scores}, reps=REPS)
    assert metric(table, "median")["value"] == pytest.approx(20.0)
    assert metric(table, "mean")["value"] == pytest.approx(110.0 / 3)


def test_optimality_gap_by_hand():
    scores = np.array([[20.0, 60.0], [40.0, 80.0]])
    # gamma=50: clip to 20, 50, 40, 50 -> mean 40 -> gap 10.
    assert metric(compute_aggregates({"a": scores}, reps=REPS, gamma=50), "optimality_gap")["value"] == pytest.approx(
        10.0
    )
    # Default gamma is 100 (0-100 scores): nothing clipped -> mean 50 -> gap 50.
    assert metric(compute_aggregates({"a": scores}, reps=REPS), "optimality_gap")["value"] == pytest.approx(50.0)
    # Scores above 100 count as 100.
    above = np.array([[120.0, 80.0]])
    assert metric(compute_aggregates({"a": above}, reps=REPS), "optimality_gap")["value"] == pytest.approx(10.0)


def test_aggregates_table_is_tidy_and_sorted():
    rng = np.random.default_rng(0)
    table = compute_aggregates({"b": rng.uniform(0, 100, (4, 3)), "a": rng.uniform(0, 100, (5, 3))}, reps=REPS)
    assert list(table.columns) == ["algo", "metric", "value", "ci_low", "ci_high"]
    assert list(table["algo"]) == ["a"] * 4 + ["b"] * 4
    assert list(table["metric"]) == list(METRICS) * 2


def test_ci_contains_point_estimate():
    scores = np.random.default_rng(1).uniform(0, 100, (10, 5))
    table = compute_aggregates({"a": scores}, reps=2000)
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    assert (table["ci_high"] > table["ci_low"]).all()


def test_same_seed_same_cis_and_global_rng_untouched():
    scores = np.random.default_rng(2).uniform(0, 100, (6, 4))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = compute_aggregates({"a": scores}, reps=REPS, seed=7)
    second = compute_aggregates({"a": scores}, reps=REPS, seed=7)
    other = compute_aggregates({"a": scores}, reps=REPS, seed=8)
    pd.testing.assert_frame_equal(first, second)
    assert not np.array_equal(first[["ci_low", "ci_high"]], other[["ci_low", "ci_high"]])
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # caller's RNG restored


def test_algo_cis_do_not_depend_on_other_algos():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 100, (5, 3)), rng.uniform(0, 100, (5, 3))
    alone = compute_aggregates({"a": a}, reps=REPS, seed=1)
    together = compute_aggregates({"a": a, "b": b}, reps=REPS, seed=1)
    pd.testing.assert_frame_equal(alone, together[together["algo"] == "a"].reset_index(drop=True))


def test_matches_rliable_called_directly():
    scores = np.random.default_rng(4).uniform(0, 100, (5, 3))
    table = compute_aggregates({"a": scores}, reps=REPS, seed=11)
    points, intervals = rliable_direct(scores, REPS, 11)
    np.testing.assert_allclose(table["value"], points)
    np.testing.assert_allclose(table["ci_low"], intervals[0])
    np.testing.assert_allclose(table["ci_high"], intervals[1])


def test_seeded_global_rng_none_is_a_no_op():
    np.random.seed(5)
    with seeded_global_rng(None):
        inside = np.random.rand()
    np.random.seed(5)
    assert np.random.rand() == inside


# ------------------------------------------------------------------------------ score matrices
def test_runs_axis_first_and_tasks_sorted():
    # Every seed of a task has the same score; tasks differ. Runs axis first -> columns constant,
    # so resampling runs changes nothing (zero-width CI) and the median of task means is 15.
    # The swapped (tasks, runs) matrix would give median 36.7 and a wide CI.
    task_scores = {"t-d": 100.0, "t-a": 0.0, "t-c": 20.0, "t-b": 10.0}
    table = table_from({("a", t, s): {1000: v} for t, v in task_scores.items() for s in (0, 1, 2)})
    result = score_matrices(table)
    assert result.tasks == ["t-a", "t-b", "t-c", "t-d"] and result.step == 1000
    matrix = result.matrices["a"]
    assert matrix.shape == (3, 4)
    np.testing.assert_array_equal(matrix, np.tile([0.0, 10.0, 20.0, 100.0], (3, 1)))
    right = compute_aggregates({"a": matrix}, reps=REPS)
    swapped = compute_aggregates({"a": matrix.T.copy()}, reps=REPS)
    assert metric(right, "median")["value"] == pytest.approx(15.0)
    assert metric(swapped, "median")["value"] != pytest.approx(15.0)
    iqm_right, iqm_swapped = metric(right, "iqm"), metric(swapped, "iqm")
    assert iqm_right["ci_high"] - iqm_right["ci_low"] == pytest.approx(0.0)
    assert iqm_swapped["ci_high"] - iqm_swapped["ci_low"] > 1.0


def test_episode_scores_are_averaged_and_labels_carry_variant():
    table = table_from({("algo", "t", 0): {10: 0.0}})
    table = pd.concat([table, table.assign(episode=1, score=50.0)], ignore_index=True)
    table["variant"] = "lr=1e-3-abcd"
    matrices = score_matrices(table).matrices
    assert algo_label("algo", "default") == "algo"
    assert list(matrices) == ["algo[lr=1e-3-abcd]"]
    assert matrices["algo[lr=1e-3-abcd]"][0, 0] == pytest.approx(25.0)


def test_default_step_is_last_common_step():
    values = {("a", "t", s): {1000: 10.0 * s, 2000: 20.0 + s, 3000: 90.0} for s in (0, 1)}
    values[("a", "t", 2)] = {1000: 5.0, 2000: 25.0}  # still running: no eval at 3000 yet
    result = score_matrices(table_from(values))
    assert result.step == 2000 and result.issues == []
    np.testing.assert_array_equal(result.matrices["a"][:, 0], [20.0, 21.0, 25.0])


def test_given_step_uses_nearest_eval_at_or_below():
    values = {("a", "t", 0): {1000: 1.0, 2000: 2.0, 3000: 3.0}, ("b", "t", 0): {1500: 15.0, 3000: 30.0}}
    table = table_from(values)
    result = score_matrices(table, step=2600)
    assert result.step == 2600
    assert result.matrices["a"][0, 0] == 2.0 and result.matrices["b"][0, 0] == 15.0
    result = score_matrices(table, step=3000)
    assert result.matrices["a"][0, 0] == 3.0 and result.matrices["b"][0, 0] == 30.0
    assert score_matrices(table).step == 3000  # the last step both runs reached
    # b's only run has no eval at or below 1200: left out, and said so.
    result = score_matrices(table, step=1200)
    assert list(result.matrices) == ["a"] and result.matrices["a"][0, 0] == 1.0
    [issue] = result.issues
    assert issue.kind == kinds.NO_EVAL_AT_STEP and issue.algo == "b" and "t seed 0 (first at 1500)" in issue.detail


def test_last_k_is_the_mean_of_the_last_k_evals_at_or_below_the_step():
    values = {("a", "t", 0): {1000: 10.0, 2000: 20.0, 3000: 60.0, 4000: 99.0}, ("a", "t", 1): {3000: 30.0, 4000: 99.0}}
    result = score_matrices(table_from(values), step=3000, last_k=3)
    np.testing.assert_allclose(result.matrices["a"][:, 0], [30.0, 30.0])  # mean(10, 20, 60); only 30
    [issue] = result.issues
    assert issue.kind == kinds.FEWER_EVALS and "fewer than 3 evaluations at or below step 3000" in issue.detail
    assert score_matrices(table_from(values), last_k=2).matrices["a"][0, 0] == pytest.approx(79.5)


def test_parse_step_accepts_scientific_notation():
    assert parse_step("1e6") == 1_000_000 and parse_step("2.5e5") == 250_000
    assert parse_step("1_000_000") == 1_000_000 and parse_step("3000") == 3000
    for bad in ("1.5", "-1", "abc", "1e-3"):
        with pytest.raises(Exception, match="expected"):
            parse_step(bad)


def test_default_step_is_the_last_step_all_runs_reached():
    # Seed 1's first eval (1500) is after seed 0's last (1000): seed 1 cannot be scored at 1000.
    table = table_from({("a", "t", 0): {1000: 1.0}, ("a", "t", 1): {1500: 2.0}})
    result = score_matrices(table)
    assert result.step == 1000 and result.matrices["a"].shape == (1, 1)
    assert [i.kind for i in result.issues] == [kinds.NO_EVAL_AT_STEP]


def test_ragged_seeds_are_truncated_and_missing_tasks_excluded_never_nan():
    ragged = table_from({("a", "t1", 0): {1: 1.0}, ("a", "t1", 1): {1: 2.0}, ("a", "t2", 3): {1: 3.0}})
    result = score_matrices(ragged)
    np.testing.assert_array_equal(result.matrices["a"], [[1.0, 3.0]])  # lowest seed of t1 kept
    [issue] = result.issues
    assert issue.kind == kinds.SEEDS_TRUNCATED and issue.task == "t1" and issue.seeds == "1"
    missing = table_from({("a", "t1", 0): {1: 1.0}, ("a", "t2", 0): {1: 1.0}, ("b", "t1", 0): {1: 1.0}})
    result = score_matrices(missing)
    assert result.tasks == ["t1"] and {k: m.shape for k, m in result.matrices.items()} == {"a": (1, 1), "b": (1, 1)}
    [issue] = result.issues
    assert issue.kind == kinds.TASK_NOT_SHARED and issue.algo == "a" and "t2" in issue.detail
    disjoint = table_from({("a", "t1", 0): {1: 1.0}, ("b", "t2", 0): {1: 1.0}})
    with pytest.raises(AnalysisError, match="share no task"):
        score_matrices(disjoint)


def test_same_run_in_two_suites_is_an_error():
    table = table_from({("a", "t", 0): {1: 1.0}})
    table = pd.concat([table, table.assign(suite="other")], ignore_index=True)
    with pytest.raises(AnalysisError, match="a / t / seed 0 appears under several suites"):
        score_matrices(table)


def test_report_notes_few_runs(tmp_path: Path):
    for task in TASKS:
        write_run(tmp_path / "runs", task, "mbdpo", 0, {1000: [50.0]})
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--reps", "100"]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "fewer than 3 runs per task" in report
    # Nothing missing but the default pairs of configs/analysis.yaml (their algorithms are absent)
    # and the scaling figure (these runs record no num_parameters): both not drawn, no problem.
    missing = pd.read_csv(tmp_path / "out" / "missing.csv")
    assert set(missing["kind"]) == {kinds.PAIR_NOT_RUN, kinds.SCALING_NO_COUNTS}
    [skipped] = missing.loc[missing["kind"] == kinds.SCALING_NO_COUNTS, "detail"]
    assert skipped.startswith("scaling figure absent: no compared run of our own records num_parameters")


def test_non_finite_score_is_left_out_and_reported():
    table = table_from({("a", "t", 0): {1: np.nan, 2: 5.0}, ("a", "u", 0): {1: 1.0, 2: 2.0}})
    result = score_matrices(table, step=1)
    assert result.tasks == ["u"]  # t's only eval at or below step 1 is NaN
    detail = [i.detail for i in result.issues if i.kind == kinds.NON_FINITE]
    assert detail == ["1 evaluation(s) with a non-finite score left out, e.g. t / seed 0 at step 1: nan"]
    np.testing.assert_array_equal(score_matrices(table).matrices["a"], [[5.0, 2.0]])  # tasks t, u
    curves, _, issues = score_curves(table)
    np.testing.assert_array_equal(curves["a"].steps, [2])  # t's run starts at 2 once its NaN is gone
    assert kinds.NON_FINITE in [i.kind for i in issues]
    with pytest.raises(AnalysisError, match=r"not all finite \(run 1, task 0\)"):
        check_score_matrix("x", np.array([[1.0], [np.inf]]), 1)
    with pytest.raises(AnalysisError, match=r"shape \(1, 2\); expected \(runs >= 1, 1 tasks\)"):
        check_score_matrix("x", np.zeros((1, 2)), 1)


def test_score_curves_per_algo_common_steps():
    values = {("a", t, s): {1000: 1.0 + s, 2000: 2.0 + s, 3000: 3.0} for t in ("t1", "t2") for s in (0, 1)}
    values[("a", "t2", 1)] = {1000: 1.0, 2000: 3.0}
    values.update({("b", t, 0): {500: 5.0, 1500: 15.0} for t in ("t1", "t2")})
    curves, tasks, _ = score_curves(table_from(values))
    assert tasks == ["t1", "t2"]
    np.testing.assert_array_equal(curves["a"].steps, [1000, 2000])
    assert curves["a"].scores.shape == (2, 2, 2)  # runs, tasks, steps
    np.testing.assert_array_equal(curves["a"].scores[:, 0, 1], [2.0, 3.0])
    np.testing.assert_array_equal(curves["b"].steps, [500, 1500])
    table = iqm_curves(curves, reps=200)
    assert list(table.columns) == ["algo", "step", "value", "ci_low", "ci_high"]
    for label, curve in curves.items():
        rows = table[table["algo"] == label]
        expected = [metrics.aggregate_iqm(curve.scores[..., k]) for k in range(len(curve.steps))]
        np.testing.assert_allclose(rows["value"], expected)


def test_palette_is_keyed_by_sorted_labels():
    palette = algo_palette(["b", "a", "c"])
    assert list(palette) == ["a", "b", "c"]
    assert algo_palette(["c", "a", "b"]) == palette
    assert len(set(palette.values())) == 3


# ------------------------------------------------------------------------------ loading
def test_load_results_tidy_table(runs_dir: Path):
    table = load_results(runs_dir)
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert len(table) == 2 * 2 * 3 * 3 * 2
    assert table["success"].isna().all()
    assert table["seed"].dtype == np.int64 and table["score"].dtype == np.float64


def test_load_statuses(runs_dir: Path):
    statuses = load_statuses(runs_dir).set_index(["task", "algo", "seed"])
    assert statuses.loc[("cup-catch", "mbdpo", 0), "state"] == "failed"
    assert statuses.loc[("cup-catch", "mbdpo", 0), "error"] == "RuntimeError: CUDA OOM"
    assert statuses.loc[("cup-catch", "tdmpc2", 0), "eval_rows"] == 0
    assert statuses.loc[("reacher-easy", "tdmpc2", 1), "variant"] == "horizon=3-1a2b3c"
    assert statuses.loc[("reacher-easy", "mbdpo", 2), "eval_rows"] == 6


def test_archived_attempts_are_ignored(runs_dir: Path):
    run = runs_dir / "dmc-smoke" / "reacher-easy" / "mbdpo" / "default" / "seed_1"
    # As harness/rundir.py archives an earlier attempt: its files moved into attempts/1/.
    earlier = write_run(
        runs_dir.parent / "tmp", "reacher-easy", "mbdpo", 1, {1000: [0.0], 4000: [99.0]}, state="failed", error="killed"
    )
    (run / "attempts").mkdir()
    earlier.rename(run / "attempts" / "1")
    assert (run / "attempts" / "1" / "eval.csv").is_file()
    table = load_results(runs_dir)
    assert len(table) == 2 * 2 * 3 * 3 * 2 and 4000 not in set(table["step"])
    statuses = load_statuses(runs_dir)
    assert len(statuses) == 2 * 2 * 3 + 2 and "killed" not in set(statuses["error"])
    assert statuses.loc[statuses["run_dir"] == str(run), "attempts"].item() == 1
    # A run directory given as RUNS_DIR: its own archive is still ignored.
    assert len(load_results(run)) == 6


def test_missing_runs_dir(tmp_path: Path):
    with pytest.raises(AnalysisError, match=f"runs directory not found: {tmp_path / 'nope'}"):
        load_results(tmp_path / "nope")


def test_empty_runs_dir(tmp_path: Path):
    with pytest.raises(AnalysisError, match=f"no eval.csv found under {tmp_path}"):
        load_results(tmp_path)


def test_corrupted_csv_is_skipped_with_warning(runs_dir: Path):
    bad = runs_dir / "dmc-smoke" / "reacher-easy" / "mbdpo" / "default" / "seed_9" / "eval.csv"
    bad.parent.mkdir()
    bad.write_bytes(b'suite,task\n\x00\xff\xfe garbage,"unterminated\n')
    no_columns = runs_dir / "dmc-smoke" / "reacher-easy" / "mbdpo" / "default" / "seed_8" / "eval.csv"
    no_columns.parent.mkdir()
    no_columns.write_text("step,score\n1,2\n")
    with pytest.warns(ResultsWarning) as caught:
        table = load_results(runs_dir)
    messages = " ".join(str(w.message) for w in caught)
    assert str(bad) in messages and str(no_columns) in messages
    assert "missing column(s) suite, task, algo" in messages
    assert len(table) == 2 * 2 * 3 * 3 * 2


def test_bad_value_is_skipped_with_warning(runs_dir: Path):
    path = runs_dir / "dmc-smoke" / "reacher-easy" / "mbdpo" / "default" / "seed_0" / "eval.csv"
    text = path.read_text().splitlines()
    text[3] = text[3].replace(",500,", ",five hundred,")
    path.write_text("\n".join(text) + "\n")
    with pytest.warns(ResultsWarning, match=r"seed_0.*bad value 'five hundred' in column 'length' \(line 4\)"):
        table = load_results(runs_dir)
    assert len(table) == 2 * 2 * 3 * 3 * 2 - 6


def test_all_files_unreadable(tmp_path: Path):
    (tmp_path / "eval.csv").write_text("a,b\n1,2\n")
    with pytest.warns(ResultsWarning), pytest.raises(AnalysisError, match="no evaluation rows"):
        load_results(tmp_path)


# ------------------------------------------------------------------------------ report, end to end
def test_report_end_to_end(runs_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "report"
    assert main([str(runs_dir), "--out", str(out), "--reps", "1000", "--seed", "3"]) == 0
    for name in (
        "aggregates.csv",
        "per_task.csv",
        "sample_efficiency.png",
        "sample_efficiency.svg",
        "sample_efficiency.csv",
        "aggregates.png",
        "aggregates.svg",
        "report.md",
        "report.html",
        "performance_profiles.png",
        "performance_profiles.svg",
        "performance_profiles.csv",
        "per_task.png",
        "per_task.svg",
        "results.csv",
        "missing.csv",
        "runs.csv",
        "probability_of_improvement.csv",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name

    aggregates = pd.read_csv(out / "aggregates.csv")
    assert list(aggregates.columns) == ["algo", "metric", "value", "ci_low", "ci_high"]
    labels = {"mbdpo": "mbdpo", "tdmpc2": "tdmpc2[horizon=3-1a2b3c]"}
    assert sorted(aggregates["algo"].unique()) == sorted(labels.values())
    for algo, label in labels.items():
        points, intervals = rliable_direct(expected_matrix(algo, 3000), reps=1000, seed=3)
        rows = aggregates[aggregates["algo"] == label]
        assert list(rows["metric"]) == list(METRICS)
        np.testing.assert_allclose(rows["value"], points, rtol=1e-12)
        np.testing.assert_allclose(rows["ci_low"], intervals[0], rtol=1e-12)
        np.testing.assert_allclose(rows["ci_high"], intervals[1], rtol=1e-12)

    per_task = pd.read_csv(out / "per_task.csv")
    assert list(per_task.columns) == [
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
    ]
    row = per_task[(per_task["algo"] == "mbdpo") & (per_task["task"] == "cartpole-balance")].iloc[0]
    assert row["runs"] == 3 and row["seeds"] == "0, 1, 2" and not row["published"] and row["compared"]
    assert row["mean"] == pytest.approx(expected_matrix("mbdpo", 3000)[:, 0].mean())
    assert row["std"] == pytest.approx(expected_matrix("mbdpo", 3000)[:, 0].std(ddof=1))

    curve = pd.read_csv(out / "sample_efficiency.csv")
    assert sorted(curve["step"].unique()) == list(STEPS)

    results = pd.read_csv(out / "results.csv")  # the tidy table: one row per evaluation
    assert len(results) == 2 * 2 * 3 * 3 and set(results["source"]) == {"runs"}
    assert results["episodes"].eq(2).all()

    report = (out / "report.md").read_text()
    assert "**3,000**" in report
    assert "tdmpc2[horizon=3-1a2b3c]" in report
    assert "![Sample efficiency: IQM score vs environment steps](sample_efficiency.png)" in report
    assert "failed" in report and "RuntimeError: CUDA OOM" in report and "running" in report
    assert "cup-catch" in report
    # Default pairs of configs/analysis.yaml whose algorithms are absent are listed as skipped.
    assert "P(mbdpo > mbdpo-noanchor): no results for mbdpo-noanchor" in report
    missing = pd.read_csv(out / "missing.csv")
    failed = missing[(missing["kind"] == kinds.RUN_PROBLEM) & (missing["task"] == "cup-catch")]
    assert set(failed["algo"]) == {"mbdpo", "tdmpc2"}

    printed = capsys.readouterr().out
    assert "step 3000" in printed and str(out / "report.md") in printed


def test_report_with_step_and_corrupted_csv(runs_dir: Path, tmp_path: Path, capsys):
    bad = runs_dir / "dmc-smoke" / "reacher-easy" / "tdmpc2" / "other" / "seed_0" / "eval.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text('suite,task,algo\n"oops')
    out = tmp_path / "report"
    assert main([str(runs_dir), "--out", str(out), "--reps", "200", "--step", "2500"]) == 0
    err = capsys.readouterr().err
    assert f"warning: skipping {bad}" in err
    report = (out / "report.md").read_text()
    assert "requested environment step **2,500**" in report and "| 2,000 |" in report
    assert str(bad) in report
    per_task = pd.read_csv(out / "per_task.csv")
    row = per_task[(per_task["algo"] == "mbdpo") & (per_task["task"] == "reacher-easy")].iloc[0]
    assert row["mean"] == pytest.approx(expected_matrix("mbdpo", 2000)[:, 1].mean())


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}", "--out", "{out}"], "runs directory not found"),
        (["{empty}", "--out", "{out}"], "no eval.csv found under"),
        (["{empty}"], "the following arguments are required: --out"),
        (["{empty}", "--out", "{out}", "--reps", "0"], "must be >= 1"),
        (["{empty}", "--out", "{out}", "--step", "abc"], "expected a step"),
        (["--out", "{out}"], "nothing to analyse: give a runs directory and/or --baselines DIR"),
        (["{empty}", "--out", "{out}", "--suite", "nope"], "unknown suite 'nope'; valid: dmc"),
    ],
)
def test_report_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "out": tmp_path / "out"}
    assert main([a.format(**paths) for a in args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("analysis.report: error: ") and message in lines[0]


def test_module_runs_and_imports_no_torch(tmp_path: Path):
    code = (
        "import sys, analysis.report, analysis.figures; "
        "bad = [m for m in ('torch', 'torchrl', 'harness', 'algorithms', 'envs') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    result = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"analysis.report: error: runs directory not found: {tmp_path / 'nope'}"


# ------------------------------------------------------------------------------ provenance, HTML
def test_commit_is_read_from_config_or_unknown(tmp_path: Path):
    from analysis.provenance import commit_from_config, run_provenance

    assert commit_from_config({"commit": "abc123"}) == "abc123"
    assert commit_from_config({"run": {"git_commit": "def", "dirty": True}}) == "def+dirty"
    assert commit_from_config({"git": {"commit": "0123"}}) == "0123"
    assert commit_from_config({"run": {"task": "t"}}) == "unknown" and commit_from_config(None) == "unknown"
    run = write_run(tmp_path / "runs", "cup-catch", "mbdpo", 1, {0: [1.0]})
    (run / "config.yaml").write_text("commit: 1a2b3c\nrun: {task: cup-catch}\n")
    write_run(tmp_path / "runs", "cup-catch", "mbdpo", 2, {0: [1.0]})
    table = run_provenance(tmp_path / "runs").set_index("seed")
    assert table.loc[1, "commit"] == "1a2b3c" and table.loc[2, "commit"] == "unknown"
    assert (
        table.loc[1, "run"] == "dmc-smoke/cup-catch/mbdpo/default/seed_1"
        and "task: cup-catch" in table.loc[2, "config"]
    )


def test_git_commit_of_a_checkout(tmp_path: Path):
    from analysis.provenance import git_commit

    sha = "0123456789abcdef0123456789abcdef01234567"
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(sha + "\n")
    (tmp_path / "repo" / "results").mkdir()
    assert git_commit(tmp_path / "repo") == sha and git_commit(tmp_path / "repo" / "results") == sha
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/main\n")
    assert git_commit(tmp_path / "repo") == sha
    (git / "HEAD").write_text(sha[::-1] + "\n")  # detached
    assert git_commit(tmp_path / "repo") == sha[::-1]
    assert git_commit(tmp_path / "elsewhere") == "unknown"


def test_html_report_is_self_contained_with_configs_and_missing(runs_dir: Path, tmp_path: Path):
    import re

    out = tmp_path / "report"
    assert main([str(runs_dir), "--out", str(out), "--reps", "200", "--pair", "mbdpo", "tdmpc2[horizon=3-1a2b3c]"]) == 0
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and re.findall(r'(?:src|href)="(?!data:|#)', html) == []
    assert html.count('<img src="data:image/png;base64,') == 5
    for section in (
        "Aggregate metrics",
        "Performance profiles",
        "Probability of improvement",
        "Sample efficiency",
        "Per task",
        "How the data were handled",
        "Missing and excluded",
        "Runs: configuration and commit",
    ):
        assert f">{section}</h2>" in html, section
    assert "task: reacher-easy" in html and "(commit unknown)" in html  # each run's config.yaml
    assert "RuntimeError: CUDA OOM" in html
    assert "record no commit" in (out / "report.md").read_text()
    runs = pd.read_csv(out / "runs.csv")
    assert (
        list(runs.columns)
        == ["run", "label", "task", "seed", "commit", "mode", "obs", "checkpoint", "pretrained", "num_parameters"]
        and len(runs) == 14
    )
    assert set(runs["mode"]) == {"online"} and runs["num_parameters"].isna().all()  # old runs: neither field
    assert set(runs["obs"]) == {"state"}  # no run.obs: learnt from state, as every run before pixels
    assert runs["pretrained"].isna().all()  # no run started from pretrained weights


def test_per_task_heatmap_fits_long_variant_labels():
    """Run labels carry variant names (~80 characters): the figure must widen, not squeeze the axes."""
    import warnings

    from analysis.figures import plot_per_task

    long = "tdmpc2[batch_size=32,model.size=1,planner.iterations=2,planner.num_-ae69c4]"
    per_task = pd.DataFrame({"task": ["cartpole-balance", "reacher-easy"], "algo": [long, long], "mean": [30.0, 5.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib: "Tight layout not applied"
        plot_per_task(per_task)


def test_a_plain_name_in_a_pair_finds_its_only_variant():
    from analysis.settings import resolve_pairs

    labels = ["mbdpo[cpu]", "mbdpo-noanchor[cpu]", "tdmpc2[cpu]", "tdmpc2[cpu+horizon=5-1a2b3c]", "random"]
    pairs, issues = resolve_pairs([("mbdpo", "random"), ("mbdpo", "tdmpc2"), ("mbdpo", "mbdpo-noanchor")], labels)
    assert pairs == [("mbdpo[cpu]", "random"), ("mbdpo[cpu]", "mbdpo-noanchor[cpu]")]
    (issue,) = issues  # tdmpc2 has two variants here: the pair must name one
    assert "P(mbdpo > tdmpc2): no results for tdmpc2" in issue.detail
