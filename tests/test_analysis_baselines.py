"""Published baselines: both reference schemas, bad files, merging, and reports that include them.

The fixtures mimic the files of nicklashansen/tdmpc2 and Edmond1Cheng/MBDPO exactly (header, value
scale, seed order, float formatting); their data are small and synthetic.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rliable import library as rly
from rliable import metrics

from analysis import issues as kinds
from analysis.baselines import load_baselines
from analysis.errors import ResultsWarning
from analysis.report import main, write_report
from tests.helpers import (
    PUBLISHED_STEPS,
    mbdpo_repo,
    own_runs,
    rliable_direct,
    tdmpc2_repo,
    write_published,
    write_run,
)

STEPS = PUBLISHED_STEPS


def rows(table: pd.DataFrame, label: str, task: str) -> pd.DataFrame:
    return table[(table["label"] == label) & (table["task"] == task)].sort_values(["seed", "step"])


# --------------------------------------------------------------------------------------- parsing
def test_tdmpc2_schema(tmp_path: Path):
    data = load_baselines([tdmpc2_repo(tmp_path / "tdmpc2")], exclude=["*-pixels"])
    table = data.table
    assert set(table["label"]) == {"tdmpc2 (published)", "sac (published)"}
    assert set(table["source"]) == {"published"} and set(table["variant"]) == {"default"}
    cup = rows(table, "tdmpc2 (published)", "cup-catch")
    assert list(cup["seed"]) == [1, 1, 1, 2, 2, 2, 3, 3, 3]  # seeds 3, 2, 1 in the file
    np.testing.assert_allclose(cup["score"], [0.0, 98.67, 98.06, 0.0, 98.37, 97.7, 0.0, 97.33, 97.8])
    np.testing.assert_allclose(cup["return"], cup["score"] * 10)
    assert cup["success"].isna().all() and cup["episodes"].isna().all()
    assert set(cup["suite"]) == {"dmc"}
    mw = rows(table, "tdmpc2 (published)", "mw-assembly")
    np.testing.assert_allclose(mw["score"], [0.0, 20.0, 90.0, 0.0, 40.0, 100.0, 10.0, 30.0, 80.0])
    np.testing.assert_allclose(mw["success"], mw["score"] / 100)
    assert mw["return"].isna().all() and set(mw["suite"]) == {"metaworld-mt50"}

    myo = rows(table, "tdmpc2 (published)", "myo-reach")  # read from myo-hand-reach.csv
    np.testing.assert_allclose(myo["score"], [0.0, 50.0])
    assert set(myo["suite"]) == {"myosuite"}

    by_kind = {i.kind: i for i in data.issues}
    assert sorted(by_kind) == sorted([kinds.UNKNOWN_TASK, kinds.ALGO_EXCLUDED])
    assert by_kind[kinds.UNKNOWN_TASK].detail.endswith("named by no suite (configs/suites.yaml): walker-fly")
    assert by_kind[kinds.ALGO_EXCLUDED].algo == "tdmpc2-pixels (published)"
    assert list(data.sources["label"]) == ["sac (published)", "tdmpc2 (published)"]
    assert set(data.sources["commit"]) == {"unknown"}  # not a git clone


def test_mbdpo_schema_meta_world_reward_is_percent(tmp_path: Path):
    data = load_baselines([mbdpo_repo(tmp_path / "MBDPO")], exclude=["*-pixels"])
    mw = rows(data.table, "mbdpo (published)", "mw-assembly")
    np.testing.assert_allclose(mw["score"], [0.0, 50.0, 70.0, 0.0, 0.0, 90.0, 0.0, 30.0, 100.0])
    np.testing.assert_allclose(mw["success"], mw["score"] / 100)
    cup = rows(data.table, "mbdpo (published)", "cup-catch")
    assert cup["score"].max() == pytest.approx(100.0)  # return 1000 -> 100
    assert "tdmpc2-pixels (published)" not in set(data.table["label"])
    excluded = [i for i in data.issues if i.kind == kinds.ALGO_EXCLUDED]
    assert [i.algo for i in excluded] == ["tdmpc2-pixels (published)"]
    assert "README" not in " ".join(i.detail for i in data.issues)


def test_same_folder_in_two_repositories_is_read_once(tmp_path: Path):
    dirs = [tdmpc2_repo(tmp_path / "tdmpc2"), mbdpo_repo(tmp_path / "MBDPO")]
    data = load_baselines(dirs, exclude=["*-pixels"])
    assert sorted(data.table["label"].unique()) == ["mbdpo (published)", "sac (published)", "tdmpc2 (published)"]
    assert len(rows(data.table, "tdmpc2 (published)", "cup-catch")) == 9  # not 18
    notes = data.sources.set_index(["label", "directory"])["note"]
    assert notes[("tdmpc2 (published)", str(dirs[1]))].startswith("same data")
    unknown = [i for i in data.issues if i.kind == kinds.UNKNOWN_TASK and i.algo == "tdmpc2 (published)"]
    assert len(unknown) == 1  # the second, identical copy adds no new fact


def test_differing_folder_of_the_same_name_gets_its_own_label(tmp_path: Path):
    first = tdmpc2_repo(tmp_path / "tdmpc2")
    second = tmp_path / "fork"
    write_published(second, "tdmpc2", "cup-catch", {1: {0: 0.0, 100000: 10.0, 200000: 20.0}})
    data = load_baselines([first, second], exclude=["*-pixels"])
    assert "tdmpc2 (published, fork)" in set(data.table["label"])
    assert rows(data.table, "tdmpc2 (published, fork)", "cup-catch")["score"].max() == pytest.approx(2.0)


def test_duplicated_step_seed_rows_are_averaged_and_reported(tmp_path: Path):
    path = tmp_path / "results" / "tdmpc" / "walker-walk-backwards.csv"
    path.parent.mkdir(parents=True)
    # As TD-MPC's published file: a second block repeats (step, seed) pairs with other values.
    path.write_text("step,reward,seed\n0,26.2,1\n100000,565.0,1\n0,28.2,1\n100000,596.4,1\n200000,600.0,1\n")
    data = load_baselines([tmp_path])
    table = rows(data.table, "tdmpc (published)", "walker-walk-backwards")
    np.testing.assert_allclose(table["score"], [2.72, 58.07, 60.0])
    [issue] = data.issues
    assert issue.kind == kinds.DUPLICATE_ROWS and str(path) in issue.detail and "4 rows repeat 2" in issue.detail


@pytest.mark.parametrize(
    "name, text, reason",
    [
        (
            "cup-catch",
            "step,return,seed\n0,1.0,1\n",
            "header step,return,seed is not step,reward,seed or step,success,seed",
        ),
        ("cup-catch", "step,reward,seed\n0,abc,1\n", "bad value 'abc' in column 'reward' (line 2): not a valid number"),
        ("cup-catch", "step,reward,seed\n0,1200.0,1\n", "outside [0, 1000] (episode return)"),
        ("cup-catch", "step,reward,seed\n0.5,10.0,1\n", "bad value '0.5' in column 'step'"),
        (
            "cup-catch",
            "step,success,seed\n0,1.0,1\n",
            "a 'success' column is not a known schema for dmc task cup-catch",
        ),
        ("mw-reach", "step,success,seed\n0,1.5,1\n", "outside [0, 1] (success rate in [0, 1])"),
        ("mw-reach", "step,reward,seed\n0,150.0,1\n", "outside [0, 100] (success rate in percent)"),
        ("myo-hand-reach", "step,success,seed\n0,1.01,1\n", "outside [0, 1] (success rate in [0, 1])"),
        ("myo-reach", "step,reward,seed\n0,-1.0,1\n", "outside [0, 100] (success rate in percent)"),
        ("lift-cube", "step,success,seed\n0,2.0,1\n", "outside [0, 1] (success rate in [0, 1])"),
        ("lift-cube", "step,reward,seed\n0,100.5,1\n", "outside [0, 100] (success rate in percent)"),
        ("myo-pose", "step,return,seed\n0,1.0,1\n", "is not step,reward,seed or step,success,seed"),
        ("mw-reach", "", "unreadable CSV (EmptyDataError"),
        ("mw-reach", "step,reward,seed\n0,nan,1\n", "not a valid number"),
    ],
)
def test_bad_file_is_skipped_with_a_warning_naming_it(tmp_path: Path, name: str, text: str, reason: str):
    write_published(tmp_path, "algo", "cartpole-balance", {1: {0: 0.0, 100000: 900.0}})
    bad = tmp_path / "results" / "algo" / f"{name}.csv"
    bad.write_text(text)
    with pytest.warns(ResultsWarning, match=f"skipping {bad}"):
        data = load_baselines([tmp_path])
    [issue] = data.issues
    assert issue.kind == kinds.SKIPPED_FILE and issue.path == str(bad) and reason in issue.detail
    assert set(data.table["task"]) == {"cartpole-balance"}  # the rest still loads


def test_myosuite_and_maniskill2_in_both_schemas_read_to_the_same_scores(tmp_path: Path):
    # TD-MPC2, TD-MPC, SAC, DreamerV3: `success` in [0, 1], MyoSuite files named myo-hand-*;
    # MBDPO: `reward` in percent, MyoSuite files named as our tasks.
    success = {1: {0: 0.0, 100000: 0.3, 200000: 0.9}, 2: {0: 0.1, 100000: 0.5, 200000: 1.0}}
    percent = {seed: {step: 100 * v for step, v in by_step.items()} for seed, by_step in success.items()}
    for task, published in (("myo-reach-hard", "myo-hand-reach-hard"), ("lift-cube", "lift-cube")):
        write_published(tmp_path, "tdmpc2", published, success, column="success")
        write_published(tmp_path, "mbdpo", task, percent)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped, nothing to warn about
        data = load_baselines([tmp_path], suite="paper-104")
    assert data.issues == []
    table = data.table
    assert sorted(table["task"].unique()) == ["lift-cube", "myo-reach-hard"]
    assert set(table["suite"]) == {"paper-104"}
    expected = [0.0, 30.0, 90.0, 10.0, 50.0, 100.0]  # seed 1 then seed 2, steps in order
    for label in ("tdmpc2 (published)", "mbdpo (published)"):
        for task in ("myo-reach-hard", "lift-cube"):
            got = rows(table, label, task)
            np.testing.assert_allclose(got["score"], expected)
            np.testing.assert_allclose(got["success"], np.array(expected) / 100)
            assert got["return"].isna().all()
    # Without a suite, a published task is reported under its family's full suite.
    by_task = load_baselines([tmp_path]).table.groupby("task")["suite"].agg(set)
    assert by_task.to_dict() == {"lift-cube": {"maniskill2"}, "myo-reach-hard": {"myosuite"}}


@pytest.mark.parametrize("order", [("myo-reach", "myo-hand-reach"), ("myo-hand-reach", "myo-reach")])
def test_a_file_and_its_published_name_in_one_folder_is_a_conflict(tmp_path: Path, order: tuple[str, str]):
    values = {"myo-reach": {1: {0: 0.0, 100000: 80.0}}, "myo-hand-reach": {1: {0: 0.0, 100000: 0.2}}}
    for name in order:  # the files' creation order does not matter
        column = "success" if name.startswith("myo-hand") else "reward"
        write_published(tmp_path, "mbdpo", name, values[name], column=column)
    alias = tmp_path / "results" / "mbdpo" / "myo-hand-reach.csv"
    with pytest.warns(ResultsWarning, match=f"skipping {alias}: myo-hand-reach.csv and myo-reach.csv both hold"):
        data = load_baselines([tmp_path])
    [issue] = data.issues
    assert (issue.kind, issue.task, issue.path) == (kinds.SKIPPED_FILE, "myo-reach", str(alias))
    assert issue.detail.endswith("task myo-reach; kept myo-reach.csv")
    np.testing.assert_allclose(rows(data.table, "mbdpo (published)", "myo-reach")["score"], [0.0, 80.0])


def test_header_only_file_and_bad_directories(tmp_path: Path):
    write_published(tmp_path / "repo", "algo", "cartpole-balance", {1: {0: 0.0}})
    (tmp_path / "repo" / "results" / "algo" / "reacher-easy.csv").write_text("step,reward,seed\n")
    (tmp_path / "empty").mkdir()
    with pytest.warns(ResultsWarning) as caught:
        data = load_baselines([tmp_path / "repo", tmp_path / "nope", tmp_path / "empty"])
    messages = [str(w.message) for w in caught]
    assert any("no evaluation rows in" in m and "reacher-easy.csv" in m for m in messages)
    assert f"baselines directory not found: {tmp_path / 'nope'}" in messages
    assert f"no results/<algo>/<task>.csv under {tmp_path / 'empty'}" in messages
    assert [i.kind for i in data.issues] == [kinds.NO_EVAL, kinds.BAD_DIRECTORY, kinds.BAD_DIRECTORY]
    assert len(data.table) == 1


def test_suite_restricts_published_tasks(tmp_path: Path):
    data = load_baselines([tdmpc2_repo(tmp_path)], suite="dmc-smoke", exclude=["*-pixels"])
    assert set(data.table["task"]) == {"cup-catch"} and set(data.table["suite"]) == {"dmc-smoke"}
    outside = [i for i in data.issues if i.kind == kinds.OUTSIDE_SUITE]
    assert [i.algo for i in outside] == ["tdmpc2 (published)"]
    assert "2 task(s) not in suite dmc-smoke" in outside[0].detail  # mw-assembly, myo-reach


def published_matrix(table: pd.DataFrame, label: str, tasks: list[str], step: int) -> np.ndarray:
    """(seeds, tasks) at ``step``, built independently of analysis.ragged."""
    at = table[(table["label"] == label) & (table["step"] == step)]
    return np.stack([at[at["task"] == t].sort_values("seed")["score"].to_numpy() for t in tasks], axis=1)


def test_report_on_published_results_only_matches_rliable(tmp_path: Path, capsys):
    dirs = [tdmpc2_repo(tmp_path / "tdmpc2"), mbdpo_repo(tmp_path / "MBDPO")]
    out = tmp_path / "out"
    argv = ["--out", str(out), "--reps", "300", "--seed", "5", "--baselines", str(dirs[0]), str(dirs[1])]
    assert main(argv) == 0
    aggregates = pd.read_csv(out / "aggregates.csv")
    assert sorted(aggregates["algo"].unique()) == ["mbdpo (published)", "sac (published)", "tdmpc2 (published)"]
    # sac has cup-catch only, so the comparison is on cup-catch; at the last step all runs reached.
    table = load_baselines(dirs, exclude=["*-pixels"]).table
    for label in ("mbdpo (published)", "tdmpc2 (published)"):
        points, intervals = rliable_direct(published_matrix(table, label, ["cup-catch"], 200000), 300, 5)
        got = aggregates[aggregates["algo"] == label]
        np.testing.assert_allclose(got["value"], points)
        np.testing.assert_allclose(got[["ci_low", "ci_high"]].T, intervals)
    # P(mbdpo > tdmpc2): configs/analysis.yaml's pair, found under the published labels, on the 2
    # tasks the two share (not only the one all three share), as rliable computes it.
    poi = pd.read_csv(out / "probability_of_improvement.csv").iloc[0]
    assert (poi["x"], poi["y"], poi["tasks"]) == ("mbdpo (published)", "tdmpc2 (published)", 2)
    tasks = ["cup-catch", "mw-assembly"]
    x = published_matrix(table, "mbdpo (published)", tasks, 200000)
    y = published_matrix(table, "tdmpc2 (published)", tasks, 200000)
    np.random.seed(5)
    points, intervals = rly.get_interval_estimates(
        {"p": (x, y)}, metrics.probability_of_improvement, reps=min(300, 2000)
    )
    assert poi["value"] == pytest.approx(points["p"])
    np.testing.assert_allclose([poi["ci_low"], poi["ci_high"]], np.ravel(intervals["p"]))

    report = (out / "report.md").read_text()
    assert "mw-assembly" in report and "sac (published)" in report
    html = (out / "report.html").read_text()
    assert "(published)" in html and "Published sources" in html
    missing = pd.read_csv(out / "missing.csv")
    assert {kinds.UNKNOWN_TASK, kinds.ALGO_EXCLUDED, kinds.TASK_NOT_SHARED} <= set(missing["kind"])
    assert "step 200000" in capsys.readouterr().out


def test_report_with_our_runs_and_baselines_on_one_suite(tmp_path: Path):
    runs = own_runs(tmp_path / "runs")
    repo = tdmpc2_repo(tmp_path / "tdmpc2")
    # Ragged published data: seed 3 of tdmpc2's cup-catch lacks its last eval.
    write_published(
        repo,
        "tdmpc2",
        "cup-catch",
        {
            1: {0: 0.0, 100000: 986.7, 200000: 980.6},
            2: {0: 0.0, 100000: 983.7, 200000: 977.0},
            3: {0: 0.0, 100000: 973.3},
        },
    )
    report = write_report(
        runs, tmp_path / "out", baselines=[repo], suite="dmc-smoke", reps=200, step=200000, pairs=(("mbdpo", "tdmpc2"),)
    )
    a = report.analysis
    assert a.comparison.tasks == ["cup-catch"]  # tdmpc2/sac have no cartpole-balance runs
    assert set(a.comparison.labels) == {"mbdpo", "sac (published)", "tdmpc2 (published)"}
    # tdmpc2's seed 3 is scored by its nearest earlier eval (100k), as the rule says.
    np.testing.assert_allclose(np.sort(a.comparison.matrices["tdmpc2 (published)"][:, 0]), [97.33, 97.7, 98.06])
    per_task = a.per_task.set_index(["algo", "task"])
    assert not per_task.loc[("mbdpo", "cartpole-balance"), "compared"]
    assert per_task.loc[("tdmpc2 (published)", "cup-catch"), "step_min"] == 100000
    poi = a.improvement.iloc[0]
    assert (poi["x"], poi["y"]) == ("mbdpo", "tdmpc2 (published)")
    assert poi["value"] == 0.0  # our synthetic mbdpo (~60) never beats tdmpc2 (~98)
    not_shared = a.issues[a.issues["kind"] == kinds.TASK_NOT_SHARED]
    assert list(not_shared["algo"]) == ["mbdpo"] and "cartpole-balance" in not_shared["detail"].iloc[0]
    assert (a.issues["kind"] == kinds.OUTSIDE_SUITE).any()  # mw-assembly is not in dmc-smoke
    palette = a.palette
    assert set(palette) == {"mbdpo", "sac (published)", "tdmpc2 (published)"}


def test_empty_runs_dir_with_baselines_still_reports(tmp_path: Path, capsys):
    (tmp_path / "runs").mkdir()
    repo = tdmpc2_repo(tmp_path / "tdmpc2")
    assert (
        main(
            [
                str(tmp_path / "runs"),
                "--out",
                str(tmp_path / "out"),
                "--baselines",
                str(repo),
                "--reps",
                "100",
                "--algos",
                "tdmpc2*",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert f"warning: no eval.csv found under {tmp_path / 'runs'}" in err
    aggregates = pd.read_csv(tmp_path / "out" / "aggregates.csv")
    # --algos picks labels (and lifts the pixel exclusion): tdmpc2 and tdmpc2-pixels.
    assert sorted(aggregates["algo"].unique()) == ["tdmpc2 (published)", "tdmpc2-pixels (published)"]
    missing = pd.read_csv(tmp_path / "out" / "missing.csv")
    assert "sac (published)" in set(missing.loc[missing["kind"] == kinds.ALGO_EXCLUDED, "algo"])


def test_unknown_pair_on_the_command_line_warns(tmp_path: Path, capsys):
    repo = tdmpc2_repo(tmp_path / "tdmpc2")
    assert (
        main(
            [
                "--out",
                str(tmp_path / "out"),
                "--baselines",
                str(repo),
                "--reps",
                "100",
                "--pair",
                "tdmpc2",
                "nosuch",
                "--pair",
                "tdmpc2",
                "sac",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "warning: P(tdmpc2 > nosuch): no results for nosuch" in err
    poi = pd.read_csv(tmp_path / "out" / "probability_of_improvement.csv")
    assert list(zip(poi["x"], poi["y"])) == [("tdmpc2 (published)", "sac (published)")]
    assert poi["value"].iloc[0] == 1.0


def test_a_visual_suite_reads_the_pixel_folders_and_only_pixel_runs(tmp_path: Path):
    """--suite visual: results/<algo>-pixels as `<algo> (published)`, the state folders left out and
    listed, and of our runs only those learnt from pixels (config.yaml run.obs); --suite dmc the
    reverse. A pixel run and a state run of one task never share a label."""
    from analysis.pipeline import Settings, analyse

    steps = {0: 0.0, 100000: 1.0}
    repo = tmp_path / "repo"
    for folder, value in (("tdmpc2", 800.0), ("tdmpc2-pixels", 500.0), ("mbdpo-pixels", 600.0), ("sac", 300.0)):
        write_published(repo, folder, "cheetah-run", {s: {k: v * value for k, v in steps.items()} for s in (1, 2)})
    runs = tmp_path / "runs"
    for seed in (1, 2):
        write_run(runs, "cheetah-run", "tdmpc2", seed, {0: [1.0], 100000: [70.0]}, suite="dmc")
        pixel = write_run(
            runs, "cheetah-run", "tdmpc2", seed, {0: [1.0], 100000: [40.0]}, variant="rgb", suite="visual"
        )
        (pixel / "config.yaml").write_text("run: {task: cheetah-run, algo: tdmpc2, obs: rgb}\nvariant: rgb\n")
    expected = {
        "visual": ({"tdmpc2[rgb]": 40.0, "tdmpc2 (published)": 50.0, "mbdpo (published)": 60.0}, "tdmpc2"),
        "dmc": ({"tdmpc2": 70.0, "tdmpc2 (published)": 80.0, "sac (published)": 30.0}, "tdmpc2[rgb]"),
    }
    for suite, (scores, left_out) in expected.items():
        a = analyse(runs, [repo], Settings(suite=suite, reps=50))
        final = a.tidy[a.tidy["step"] == 100000].groupby("label")["score"].mean()
        assert final.to_dict() == pytest.approx(scores), suite
        issues = a.issues
        excluded = issues[issues["kind"] == kinds.ALGO_EXCLUDED]["detail"]
        folders = ["sac", "tdmpc2"] if suite == "visual" else ["mbdpo-pixels", "tdmpc2-pixels"]
        assert [d.split()[2] for d in excluded] == folders, list(excluded)
        if suite == "visual":  # not the label of the pixel folder read in its place
            assert list(issues[issues["kind"] == kinds.ALGO_EXCLUDED]["algo"]) == [
                "sac (published, state)",
                "tdmpc2 (published, state)",
            ]
        other = issues[(issues["kind"] == kinds.OUTSIDE_SUITE) & (issues["algo"] == left_out)]["detail"]
        assert list(other) == [
            f"2 run(s) left out: learnt from {'state' if suite == 'visual' else 'rgb'} observations; suite {suite} "
            f"is learnt from {'rgb' if suite == 'visual' else 'state'} (configs/suites.yaml obs)"
        ]
    mixed = analyse(runs, [], Settings(reps=50))  # no suite: both kept, under their own labels
    assert set(mixed.tidy["label"]) == {"tdmpc2", "tdmpc2[rgb]"}
