"""Suites (``configs/suites.yaml``) and the listing CLI (``python -m harness.list``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from configs.errors import UnknownNameError
from configs.suites import (
    family_names,
    family_suite,
    get_suite,
    normalised_score,
    published_only_reason,
    published_task_name,
    suite_names,
    task_family,
)
from envs import get_task, task_names
from envs.dmc_custom import TASKS as CUSTOM_TASKS
from harness.list import main

ROOT = Path(__file__).resolve().parents[1]

# --- suites ---------------------------------------------------------------------------------------

SIZES = {
    "dmc": 39,
    "dmc-mt30": 30,
    "metaworld-mt50": 50,
    "metaworld-mt10": 10,
    "mt80": 80,
    "dmc-smoke": 3,
    "metaworld-smoke": 3,
    "mt-smoke": 3,
    "myosuite": 10,
    "locomotion": 7,
    "maniskill2": 5,
    "paper-104": 104,
    "visual": 10,
    "visual-tdmpc2": 12,
}


def test_suite_sizes_and_versions():
    assert set(SIZES) <= set(suite_names())
    for name in suite_names():
        suite = get_suite(name)
        assert suite.version >= 1 and suite.description
        assert len(suite.tasks) == len(set(suite.tasks)) == SIZES.get(name, len(suite.tasks))


@pytest.mark.parametrize("suite", suite_names())
def test_every_suite_task_is_registered_or_published_only(suite):
    for task in get_suite(suite).tasks:
        if published_only_reason(task) is None:
            get_task(task)  # raises, listing the valid names, if not
        else:
            with pytest.raises(UnknownNameError):
                get_task(task)  # a published-only task has no env


def test_paper_104_is_its_groups():
    paper = get_suite("paper-104")
    groups = [get_suite(g) for g in paper.groups]
    assert [g.title for g in groups] == ["DMControl", "Meta-World", "MyoSuite", "ManiSkill2", "Locomotion"]
    assert all(set(g.tasks) <= set(paper.tasks) for g in groups)
    assert sorted(paper.tasks) == sorted(groups[0].tasks + groups[1].tasks + groups[2].tasks + groups[3].tasks)
    assert set(get_suite("locomotion").tasks) <= set(get_suite("dmc").tasks)
    assert [published_only_reason(t) is not None for t in paper.tasks].count(True) == 5
    assert "Vulkan" in published_only_reason("lift-cube") and published_only_reason("myo-reach") is None


def test_published_names_map_to_suite_tasks():
    assert published_task_name("myo-hand-pen-twirl-hard") == "myo-pen-twirl-hard"
    assert published_task_name("myo-reach") == "myo-reach" and published_task_name("mw-reach") == "mw-reach"
    for name in ("reach", "pose", "obj-hold", "key-turn", "pen-twirl"):
        for hard in ("", "-hard"):
            assert published_task_name(f"myo-hand-{name}{hard}") in get_suite("myosuite").tasks


def test_suites_are_the_published_task_sets():
    dmc, mt30, mt50 = (get_suite(s).tasks for s in ("dmc", "dmc-mt30", "metaworld-mt50"))
    assert sorted(dmc) == task_names("dmc")
    assert sorted(mt50) == task_names("metaworld")
    assert get_suite("mt80").tasks == mt30 + mt50  # TD-MPC2's MT80: MT30, then MT50
    assert mt30[19:] == tuple(CUSTOM_TASKS) and not set(mt30[:19]) & set(CUSTOM_TASKS)
    assert mt30[:5] == ("walker-stand", "walker-walk", "walker-run", "cheetah-run", "reacher-easy")
    assert mt50[:3] == ("mw-assembly", "mw-basketball", "mw-button-press-topdown")
    assert get_suite("metaworld-mt10").tasks == (
        "mw-reach",
        "mw-push",
        "mw-pick-place",
        "mw-door-open",
        "mw-drawer-open",
        "mw-drawer-close",
        "mw-button-press-topdown",
        "mw-peg-insert-side",
        "mw-window-open",
        "mw-window-close",
    )
    assert set(get_suite("dmc-smoke").tasks) <= set(dmc)
    assert set(get_suite("metaworld-smoke").tasks) <= set(mt50)


def test_normalised_scores_are_0_to_100():
    assert normalised_score("cheetah-run-backwards", 1000.0) == 100  # return / 10
    assert normalised_score("walker-walk", 512.0) == pytest.approx(51.2)
    assert normalised_score("mw-reach", 1234.0, success=1.0) == 100  # success x 100
    assert normalised_score("mw-reach", 1234.0, success=0.0) == 0


def test_every_task_has_its_registered_family_declared_in_suites_yaml():
    """A task's family (and score normalisation) is declared in configs/suites.yaml; it must be the
    family the task is registered under in envs, for every registered task and every suite's task."""
    assert family_names() == ["dmc", "maniskill2", "metaworld", "myosuite"]
    for task in task_names():
        assert task_family(task) == get_task(task).family, task
    for suite in suite_names():
        for task in get_suite(suite).tasks:
            if published_only_reason(task) is None:
                assert task_family(task) == get_task(task).family, (suite, task)
            else:
                assert task_family(task) == "maniskill2", (suite, task)
    assert family_suite("metaworld") == "metaworld-mt50"
    assert normalised_score("myo-pose", 0.0, success=1.0) == 100  # success x 100


def test_a_task_of_no_declared_family_gets_no_normalisation():
    with pytest.raises(UnknownNameError, match="no task family.*families: dmc \\(suite dmc\\)"):
        normalised_score("maniskill-pick-cube", 100.0)


# --- the CLI --------------------------------------------------------------------------------------


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    "suite, n", [("dmc", 39), ("metaworld-mt50", 50), ("mt80", 80), ("dmc-mt30", 30), ("myosuite", 10)]
)
def test_tasks_of_a_suite(capsys, suite, n):
    assert main(["tasks", suite]) == 0
    assert _lines(capsys) == list(get_suite(suite).tasks) and n == len(get_suite(suite).tasks)


def test_all_tasks(capsys):
    assert main(["tasks"]) == 0
    assert _lines(capsys) == task_names() and len(task_names()) == 99


def test_suites(capsys):
    assert main(["suites"]) == 0
    lines = _lines(capsys)
    assert lines[0].split()[:3] == ["suite", "version", "tasks"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(suite_names())
    assert rows["mt80"][1:3] == ["v1", "80"] and "MT80" in " ".join(rows["mt80"][3:])


def test_algorithms(capsys):
    import algorithms

    assert main(["algorithms"]) == 0
    lines = _lines(capsys)
    names = algorithms.algorithm_names()
    assert [line.split()[0] for line in lines[1:]] == names
    assert algorithms.get_algorithm("tdmpc2").description in lines[1 + names.index("tdmpc2")]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tasks", "dmc-mt31"], "unknown suite 'dmc-mt31'; valid: dmc, dmc-mt30"),
        (["suite"], "unknown command 'suite'"),
        (["tasks", "dmc", "mt80"], "too many arguments"),
        ([], "usage:"),
    ],
)
def test_errors_are_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err and captured.err.count("\n") == 1


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.list", "tasks", "metaworld-mt50"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 50
    proc = subprocess.run(
        [sys.executable, "-m", "harness.list", "tasks", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown suite 'nope'; valid: dmc,")
