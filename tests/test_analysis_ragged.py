"""Ragged data: missing seeds, different evaluation grids, tasks missing for some algorithms.

Each case is handled by the documented rule (analysis/selection.py, analysis/ragged.py,
analysis/scores.py) and reported as an issue; no NaN ever reaches rliable.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import issues as kinds
from analysis.contract import check_score_dict
from analysis.pipeline import Settings, analyse
from analysis.ragged import compare
from analysis.scores import as_tidy, score_curves, score_matrices
from analysis.selection import select
from analysis.settings import AnalysisConfig
from tests.helpers import table_from, write_run

NO_PAIRS = AnalysisConfig()


def test_different_eval_grids_use_the_nearest_earlier_eval():
    values = {("a", "t", s): {1000: 10.0 + s, 2000: 20.0 + s, 3000: 30.0 + s} for s in (0, 1)}
    values.update({("b", "t", s): {1500: 15.0 + s, 3000: 35.0 + s} for s in (0, 1)})
    table = table_from(values)
    assert score_matrices(table).step == 3000
    result = score_matrices(table, step=2500)
    np.testing.assert_array_equal(result.matrices["a"][:, 0], [20.0, 21.0])
    np.testing.assert_array_equal(result.matrices["b"][:, 0], [15.0, 16.0])
    assert result.issues == []
    steps = select(as_tidy(table), step=2500).scores.groupby("label")["step"].max()
    assert steps.to_dict() == {"a": 2000, "b": 1500}


def test_curve_grid_is_the_union_of_steps_within_the_common_span():
    values = {
        ("b", "t", 0): {0: 0.0, 1500: 15.0, 3000: 30.0},
        ("b", "t", 1): {0: 1.0, 1000: 11.0, 2000: 21.0, 3000: 31.0, 4000: 41.0},
    }
    curves, tasks, issues = score_curves(table_from(values))
    curve = curves["b"]
    np.testing.assert_array_equal(curve.steps, [0, 1000, 1500, 2000, 3000])  # 4000: seed 0 never got there
    np.testing.assert_array_equal(curve.scores[:, 0, :], [[0.0, 0.0, 15.0, 15.0, 30.0], [1.0, 11.0, 11.0, 21.0, 31.0]])
    assert curve.filled == 3
    [issue] = issues
    assert issue.kind == kinds.CURVE_FILL and issue.detail.startswith("3 of 10 curve points")


def test_runs_without_a_common_span_get_no_curve_but_an_issue():
    values = {("a", "t", 0): {1000: 1.0}, ("a", "t", 1): {2000: 2.0}}
    curves, _, issues = score_curves(table_from(values))
    assert curves == {}
    assert issues[0].kind == kinds.FIGURE_SKIPPED and "share no span" in issues[0].detail


def test_missing_seed_truncates_to_the_lowest_seeds_of_every_task():
    values = {("a", t, s): {10: 10.0 * s + (t == "t2")} for t in ("t1", "t2", "t3") for s in (1, 2, 3)}
    del values[("a", "t2", 2)]
    result = score_matrices(table_from(values))
    assert result.matrices["a"].shape == (2, 3)  # (runs, tasks): not transposed
    np.testing.assert_array_equal(result.matrices["a"], [[10.0, 11.0, 10.0], [20.0, 31.0, 20.0]])
    assert result.comparison.seeds["a"] == [[1, 2], [1, 3], [1, 2]]
    dropped = {(i.task, i.seeds) for i in result.issues if i.kind == kinds.SEEDS_TRUNCATED}
    assert dropped == {("t1", "3"), ("t3", "3")}


def test_pairs_use_the_tasks_the_two_share():
    values = {("a", t, s): {1: 50.0 + s} for t in ("t1", "t2") for s in (0, 1)}
    values.update({("b", t, s): {1: 10.0 + s} for t in ("t1", "t2") for s in (0, 1)})
    values.update({("c", "t1", s): {1: 5.0} for s in (0, 1)})
    selection = select(as_tidy(table_from(values)))
    assert compare(selection.scores, ["a", "b", "c"]).tasks == ["t1"]
    assert compare(selection.scores, ["a", "b"]).tasks == ["t1", "t2"]


def test_random_ragged_results_never_give_nan(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "runs"
    for algo in ("mbdpo", "tdmpc2", "mppi"):
        for task in ("cartpole-balance", "reacher-easy", "cup-catch"):
            if rng.random() < 0.2:
                continue  # a task this algo lacks
            for seed in range(1, int(rng.integers(1, 5)) + 1):
                every = int(rng.choice([500, 1000]))
                last = int(rng.choice([2000, 3000]))
                write_run(root, task, algo, seed, {s: [float(rng.uniform(0, 100))] for s in range(0, last + 1, every)})
    a = analyse(root, settings=Settings(reps=100, config=NO_PAIRS))
    if a.comparison.tasks:
        check_score_dict(a.comparison.matrices, a.comparison.tasks)
        assert np.isfinite(a.aggregates[["value", "ci_low", "ci_high"]].to_numpy(float)).all()
        assert np.isfinite(a.curves[["value", "ci_low", "ci_high"]].to_numpy(float)).all()
    assert np.isfinite(a.per_task["mean"]).all()
    # A NaN in the tables is only a documented one: success for DMControl, std of a single run.
    assert a.tidy["score"].notna().all() and a.tidy["success"].isna().all()
    assert (a.per_task["std"].isna() == (a.per_task["runs"] == 1)).all()


def test_run_with_no_evals_and_a_failed_run_are_listed(tmp_path):
    root = tmp_path / "runs"
    for seed in (1, 2):
        write_run(root, "cup-catch", "mbdpo", seed, {0: [10.0], 1000: [20.0]})
    write_run(root, "cup-catch", "mbdpo", 3, {}, state="failed", error="ValueError: boom\nTraceback ...")
    empty = root / "dmc-smoke" / "reacher-easy" / "mbdpo" / "default" / "seed_1"
    empty.mkdir(parents=True)
    (empty / "config.yaml").write_text("run: {task: reacher-easy}\n")
    a = analyse(root, settings=Settings(reps=100, config=NO_PAIRS))
    issues = a.issues.set_index(["kind", "seeds"])
    assert issues.loc[(kinds.RUN_PROBLEM, "3"), "detail"] == "failed at step 0 of 3000: ValueError: boom"
    assert (kinds.NO_EVAL, "3") in issues.index
    assert (kinds.NO_EVAL, "1") in issues.index  # config.yaml only
    assert a.comparison.matrices["mbdpo"].shape == (2, 1)


@pytest.mark.parametrize("step", [None, 1000])
def test_analysis_issues_are_all_known_kinds(tmp_path, step):
    root = tmp_path / "runs"
    write_run(root, "cup-catch", "mbdpo", 1, {0: [1.0], 1000: [2.0]})
    a = analyse(root, settings=Settings(reps=50, step=step))
    assert set(a.issues["kind"]) <= set(kinds.KINDS)
