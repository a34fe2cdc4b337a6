"""Per-group aggregates (analysis.groups) on a tiny paper-104-like set of published files, against
rliable called directly on matrices built here from the written values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import issues as kinds
from analysis.groups import GROUP_COLUMNS
from analysis.report import write_report
from configs.suites import get_suite, normalisation, published_task_name
from tests.helpers import rliable_direct, write_published

REPS, SEED = 150, 7
STEPS = (0, 100000, 200000)
#: our task -> TD-MPC2's file name (myo-reach -> myo-hand-reach)
TDMPC2_NAMES = {
    published_task_name(f"myo-hand-{t.removeprefix('myo-')}"): f"myo-hand-{t.removeprefix('myo-')}"
    for t in get_suite("myosuite").tasks
}


def write_algo(root: Path, algo: str, tasks, seeds, rng, *, percent: bool, stop: dict | None = None) -> dict:
    """Files for ``algo`` (return families: return; success families: success in [0, 1], or percent
    when ``percent``, MBDPO's schema); ``stop``: (task, seed) -> last step. Returns
    {(task, seed): {step: score}}, the scores the report should read."""
    scores = {}
    for task in tasks:
        is_return = normalisation(task).metric == "return"
        values = {}
        for seed in seeds:
            last = (stop or {}).get((task, seed), STEPS[-1])
            steps = [s for s in STEPS if s <= last]
            raw = np.round(rng.uniform(0, 1000 if is_return else 1, len(steps)), 1)
            if not is_return and percent:
                raw = np.round(raw * 100, 1)
            values[seed] = dict(zip(steps, raw))
            scores[(task, seed)] = {s: (v / 10 if is_return else v if percent else v * 100) for s, v in zip(steps, raw)}
        name = task if percent else TDMPC2_NAMES.get(task, task)
        write_published(root, algo, name, values, column="reward" if is_return or percent else "success")
    return scores


def matrix(scores: dict, tasks, seeds, step: int) -> np.ndarray:
    """(seeds, tasks) at ``step`` (every run here has an evaluation there), tasks sorted."""
    return np.array([[scores[(t, s)][step] for t in sorted(tasks)] for s in seeds])


def test_group_aggregates_equal_rliable_on_each_group(tmp_path: Path):
    rng = np.random.default_rng(0)
    paper = get_suite("paper-104").tasks
    # a: TD-MPC2's schema, 3 seeds everywhere. b: MBDPO's, seed 3 missing on cup-catch (its DMControl
    # matrix keeps seeds 1, 2) and seed 2 of lift-cube stopping at 100k (ManiSkill2 compared there).
    # c: 9 of MyoSuite's 10 tasks only (left out of MyoSuite, in no other group).
    a = write_algo(tmp_path, "tdmpc2", paper, (1, 2, 3), rng, percent=False)
    b = write_algo(
        tmp_path,
        "mbdpo",
        [t for t in paper if t != "cup-catch"],
        (1, 2, 3),
        rng,
        percent=True,
        stop={("lift-cube", 2): 100000},
    )
    b.update(write_algo(tmp_path, "mbdpo", ["cup-catch"], (1, 2), rng, percent=True))
    write_algo(tmp_path, "sac", get_suite("myosuite").tasks[:9], (1, 2, 3), rng, percent=False)

    report = write_report(
        None, tmp_path / "out", baselines=[tmp_path], suite="paper-104", reps=REPS, group_reps=REPS, seed=SEED
    )
    groups = {g.name: g for g in report.analysis.groups.groups}
    assert list(groups) == ["dmc", "metaworld-mt50", "myosuite", "maniskill2", "locomotion"]
    steps = {name: g.step for name, g in groups.items()}
    assert steps == {
        "dmc": 200000,
        "metaworld-mt50": 200000,
        "myosuite": 200000,
        "maniskill2": 100000,
        "locomotion": 200000,
    }
    assert groups["maniskill2"].limited_by == "mbdpo (published) / lift-cube / seed 2"
    expected_seeds = {("mbdpo", "dmc"): (1, 2)}
    for name, group in groups.items():
        assert sorted(group.comparison.matrices) == ["mbdpo (published)", "tdmpc2 (published)"]
        assert group.comparison.tasks == sorted(get_suite(name).tasks)
        for algo, scores in (("tdmpc2", a), ("mbdpo", b)):
            m = matrix(scores, group.tasks, expected_seeds.get((algo, name), (1, 2, 3)), group.step)
            points, intervals = rliable_direct(m, REPS, SEED)
            got = group.aggregates[group.aggregates["algo"] == f"{algo} (published)"]
            np.testing.assert_allclose(got["value"], points)
            np.testing.assert_allclose(got[["ci_low", "ci_high"]].T, intervals)
    assert groups["myosuite"].left_out == {"sac (published)": "lacks 1 of its 10 tasks: myo-pen-twirl-hard"}

    table = pd.read_csv(tmp_path / "out" / "group_aggregates.csv")
    assert tuple(table.columns) == GROUP_COLUMNS and len(table) == 5 * 2 * 4
    row = table[(table["group"] == "maniskill2") & (table["algo"] == "mbdpo (published)")].iloc[0]
    assert (row["title"], row["step"], row["tasks"], row["runs"]) == ("ManiSkill2", 100000, 5, 3)
    issues = report.issues
    incomplete = issues[issues["kind"] == kinds.GROUP_INCOMPLETE]
    assert list(incomplete["algo"]) == ["sac (published)"] and "MyoSuite" in incomplete["detail"].iloc[0]
    assert set(issues.loc[issues["kind"] == kinds.GROUP_NOT_RUN, "algo"]) == {"sac (published)"}
    truncated = issues[issues["kind"] == kinds.SEEDS_TRUNCATED]
    assert any(d.startswith("DMControl group: ") for d in truncated["detail"])
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Aggregate metrics by group" in md and "(aggregates_myosuite.png)" in md
    assert "MyoSuite: `sac (published)` left out, lacks 1 of its 10 tasks: myo-pen-twirl-hard." in md
    assert (tmp_path / "out" / "aggregates_locomotion.png").is_file()
