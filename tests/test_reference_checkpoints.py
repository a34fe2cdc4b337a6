"""Checkpoint files written by the reference codes' own ``save`` (TD-MPC2, MBDPO; the committed
reduced-width fixtures of tools/parity/make_reference_checkpoints.py) used like our own: each is a
Pretrained with a synthesised config, evaluated on a real task, reported with where its weights came
from, and fine-tuned; the file is only read. Bad files are in tests/test_bad_input.py."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reference_checkpoints"
# file -> (format, key layout, multi-task, the tasks it is evaluated on)
FILES = {
    "tdmpc2_mt80.pt": ("tdmpc2", "current", True, ("mw-reach", "cartpole-balance")),
    "tdmpc2_cartpole-balance.pt": ("tdmpc2", "current", False, ("cartpole-balance",)),
    "tdmpc2_cartpole-balance_flat.pt": ("tdmpc2", "flat", False, ("cartpole-balance",)),
    "mbdpo_mt80.pt": ("mbdpo", "current", True, ("mw-push",)),
    # no _action_masks: its tasks' action dims come from the 80 environments (built once, ~45 s)
    "tdmpc2_mt80_flat.pt": ("tdmpc2", "flat", True, ("mw-reach",)),
}
SLOW_FILES = ("tdmpc2_mt80_flat.pt",)
# the planner of tests/helpers.py's TINY_ALGO (and its 4 denoising steps for the diffusion planner)
TINY_PLANNER = {"num_samples": 32, "num_elites": 4, "num_pi_trajs": 4, "iterations": 2, "diffusion_steps": 4}


def _stamp(path: Path) -> tuple[str, int, int]:
    """What must not change when a file is only read: its bytes, size and modification time."""
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns


@pytest.fixture(scope="module")
def stamps() -> dict[str, tuple[str, int, int]]:
    return {name: _stamp(FIXTURES / name) for name in FILES}


def test_every_committed_reference_file_is_tested():
    assert sorted(p.name for p in FIXTURES.glob("*.pt")) == sorted(FILES)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FILES else n for n in FILES])
def test_a_reference_file_is_a_pretrained_model(name, stamps):
    from harness.evaluate import build_agent
    from harness.training.pretrained import find_pretrained

    fmt, layout, multitask, tasks = FILES[name]
    path = FIXTURES / name
    pre = find_pretrained(str(path), tasks=tasks[:1])
    assert pre.reference is not None and pre.reference.format == fmt and pre.reference.model.layout == layout
    assert pre.algo == fmt and pre.multitask == multitask
    run = pre.config["run"]
    if multitask:
        assert (run["mode"], run["suite"], run["task"]) == ("offline", "mt80", "multitask") and len(pre.tasks) == 80
    else:
        assert (run["mode"], run["suite"], pre.tasks) == ("online", "none", tasks)
    sha = stamps[name][0]
    prov = pre.provenance()
    assert (prov["path"], prov["sha256"], prov["bytes"]) == (str(path), sha, path.stat().st_size)
    assert (prov["format"], prov["layout"], prov["inferred"]["multitask"]) == (fmt, layout, multitask)
    assert pre.origin == f"{fmt} file {name} {sha[:12]}"

    state = pre.state()  # our own checkpoints' shape: fine-tuning and evaluation need no special case
    assert set(state["agent"]) == {"model", "energy", "score_net"}
    assert (state["agent"]["energy"] is not None) == (fmt == "mbdpo") and state["step"] == 0
    agent = build_agent(pre, state, "cpu")
    assert agent.env_spec.multitask == multitask and agent.env_spec.obs_dim == pre.reference.model.obs_dim
    for key, value in state["agent"]["model"].items():  # loaded exactly as converted
        assert agent.model.state_dict()[key].equal(value), key
    assert _stamp(path) == stamps[name]


def _evaluate(out: Path, name: str, tasks: tuple[str, ...]) -> Path:
    """``name`` evaluated for 1 episode per task with the tiny planner (the file's own model)."""
    from harness.evaluate import Request, evaluate_plan, plan

    request = Request(checkpoints=(str(FIXTURES / name),), tasks=tasks, suite=None, episodes=1, out=out, threads=1)
    p = plan(request, request.checkpoints[0])
    p.pretrained.config["algo"]["planner"] = dict(TINY_PLANNER)
    assert evaluate_plan(p, request, say=lambda *a: None)
    return p.path


def _check_evaluated(out: Path, path: Path, name: str, tasks: tuple[str, ...], stamp: tuple[str, int, int]) -> None:
    fmt, layout, multitask, _ = FILES[name]
    sha, size, _ = stamp
    suite, task_dir = ("mt80", "multitask") if multitask else ("none", tasks[0])
    assert path == out / suite / task_dir / fmt / f"reference-{fmt}-{Path(name).stem}+eval-{sha[:8]}" / "seed_1"
    rows = list(csv.DictReader(open(path / "eval.csv")))
    assert [(r["task"], int(r["step"]), r["algo"]) for r in rows] == [(t, 0, fmt) for t in tasks]
    assert all(int(r["length"]) == (100 if r["task"].startswith("mw-") else 500) for r in rows)
    config = yaml.safe_load((path / "config.yaml").read_text())
    pre = config["pretrained"]
    assert (pre["path"], pre["sha256"], pre["bytes"], pre["format"], pre["layout"]) == (
        str(FIXTURES / name),
        sha,
        size,
        fmt,
        layout,
    )
    assert pre["inferred"]["multitask"] == multitask and pre["inferred"]["has_energy"] == (fmt == "mbdpo")
    assert config["run"]["mode"] == ("offline" if multitask else "online") and config["evaluation"]["step"] == 0
    assert config["num_parameters"] > 0 and {r["variant"] for r in rows} == {config["variant"]}
    assert (path / "done.json").exists()
    assert _stamp(FIXTURES / name) == stamp  # only read


def test_evaluate_a_multitask_reference_file_on_one_of_its_tasks(stamps, tmp_path):
    name, tasks = "tdmpc2_mt80.pt", ("mw-reach",)
    _check_evaluated(tmp_path, _evaluate(tmp_path, name, tasks), name, tasks, stamps[name])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, stamps) -> tuple[Path, dict[str, Path]]:
    """Every fixture evaluated on its tasks (FILES)."""
    out = tmp_path_factory.mktemp("evaluations")
    return out, {name: _evaluate(out, name, tasks) for name, (_, _, _, tasks) in FILES.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FILES))
def test_evaluate_each_reference_file_on_real_tasks(name, evaluated, stamps):
    out, paths = evaluated
    _check_evaluated(out, paths[name], name, FILES[name][3], stamps[name])


@pytest.mark.slow
def test_the_report_says_where_the_weights_came_from(evaluated, stamps, tmp_path):
    from analysis.report import main as report_main

    out, paths = evaluated
    assert report_main([str(out), "--out", str(tmp_path / "report"), "--reps", "100"]) == 0
    listed = {r["run"]: r for r in csv.DictReader(open(tmp_path / "report" / "runs.csv"))}
    for name, path in paths.items():
        row = listed[str(path.relative_to(out))]
        assert row["pretrained"] == f"{FILES[name][0]} file {name} {stamps[name][0][:12]}", row
    assert (
        f"tdmpc2 file tdmpc2_mt80.pt {stamps['tdmpc2_mt80.pt'][0][:12]}"
        in (tmp_path / "report" / "report.md").read_text()
    )


@pytest.mark.slow
def test_a_done_evaluation_is_skipped(evaluated, capsys):
    from harness.evaluate import main as evaluate_main

    out, paths = evaluated
    name = "tdmpc2_cartpole-balance.pt"
    stamp = (paths[name] / "eval.csv").stat().st_mtime_ns
    args = [f"checkpoint={FIXTURES / name}", "task=cartpole-balance", "episodes=1", f"out={out}"]
    assert evaluate_main(args) == 0 and "already evaluated" in capsys.readouterr().out
    assert (paths[name] / "eval.csv").stat().st_mtime_ns == stamp


def test_format_decides_how_a_file_is_read(stamps, tmp_path):
    from harness.training.pretrained import PretrainedError, find_pretrained

    name = "tdmpc2_cartpole-balance.pt"
    # a reference file beside a config.yaml is ours unless format= says otherwise
    beside = tmp_path / "run"
    beside.mkdir()
    shutil.copy(FIXTURES / name, beside / name)
    (beside / "config.yaml").write_text("run: {algo: tdmpc2, task: cartpole-balance, seed: 1}\n")
    assert find_pretrained(str(beside / name)).reference is None
    assert find_pretrained(str(beside / name), "tdmpc2", ("cartpole-balance",)).reference is not None
    with pytest.raises(PretrainedError, match="no readable config.yaml"):
        find_pretrained(str(FIXTURES / name), "ours")
    with pytest.raises(PretrainedError, match="format=mbdpo reads a checkpoint file, not a directory"):
        find_pretrained(str(beside), "mbdpo")
    assert _stamp(FIXTURES / name) == stamps[name]


# ----------------------------------------------------------------------------- fine-tuning
def _suite_tasks(suite: str) -> tuple[str, ...]:
    from configs.suites import get_suite

    return get_suite(suite).tasks


def _finetune(path: Path, runs_dir: Path, task: str, algo: str, steps: int) -> list[str]:
    from tests.helpers import tiny_algo

    tiny = [t for t in tiny_algo(algo) if not t.startswith(("algo.model.", "algo.seed_steps"))]
    return [
        "mode=finetune",
        f"checkpoint={path}",
        f"task={task}",
        f"algo={algo}",
        f"runs_dir={runs_dir}",
        f"steps={steps}",
        f"eval_every={steps}",
        "eval_episodes=1",
        "logger=none",
        "threads=1",
        *tiny,
    ]


# Meta-World targets for the multi-task files: their 100-step episodes give a few updates in 200 steps
# (a fine-tune updates from the step after its first episode); each key layout and format once
@pytest.mark.slow
@pytest.mark.parametrize(
    "name, task, algo, steps",
    [
        ("tdmpc2_mt80.pt", "mw-reach", "tdmpc2", 200),  # a known task: a new row copied from its own
        ("mbdpo_mt80.pt", "mw-push", "mbdpo", 200),
        ("tdmpc2_mt80_flat.pt", "mw-door-lock", "tdmpc2", 200),  # MBDPO's map: from mw-door-open's row
        ("tdmpc2_cartpole-balance_flat.pt", "cartpole-swingup", "tdmpc2-pi", 520),
    ],
)
def test_finetune_a_reference_file(name, task, algo, steps, stamps, tmp_path):
    from harness.config import parse_overrides
    from harness.run import execute

    fmt, layout, multitask, _ = FILES[name]
    res = execute(parse_overrides(_finetune(FIXTURES / name, tmp_path, task, algo, steps)), verbose=False)
    path = Path(res["path"])
    rows = list(csv.DictReader(open(path / "eval.csv")))
    assert [(int(r["step"]), r["task"]) for r in rows] == [(0, task), (steps, task)]
    config = yaml.safe_load((path / "config.yaml").read_text())
    assert config["run"]["mode"] == "finetune" and config["run"]["algo"] == algo
    pre = config["pretrained"]
    assert (pre["format"], pre["layout"], pre["sha256"]) == (fmt, layout, stamps[name][0])
    assert (pre["task_id"] is None) == (not multitask)
    if multitask:  # MBDPO's rule: a new row, copied from the mapped source task's (else the task's own)
        from harness.training.pretrained import default_source_task

        source = default_source_task(task) or task
        assert pre["new_task_row"] and pre["source_task_id"] == _suite_tasks("mt80").index(source)
    assert _stamp(FIXTURES / name) == stamps[name]  # only read

    from harness.evaluate import Request, plan  # the fine-tuned model knows the file's tasks and its target

    known = plan(Request(checkpoints=(str(path),), tasks=None, suite=None, out=tmp_path / "ev"), str(path)).tasks
    assert known == (tuple(dict.fromkeys((*_suite_tasks("mt80"), task))) if multitask else (task,))


def test_weights_origin_reads_config_yaml_only():
    from analysis.provenance import weights_origin

    reference = {"pretrained": {"path": "/data/mt80-48M.pt", "format": "tdmpc2", "sha256": "ab" * 32}}
    assert weights_origin(reference) == f"tdmpc2 file mt80-48M.pt {'ab' * 6}"
    ours = {"run": {"mode": "finetune", "checkpoint": "/runs/x/final.pt"}, "pretrained": {"path": "/runs/x/final.pt"}}
    assert weights_origin(ours) == "/runs/x/final.pt"
    assert weights_origin({"run": {"mode": "finetune", "checkpoint": "/runs/y"}}) == "/runs/y"  # before pretrained:
    assert weights_origin({"run": {"mode": "online"}}) == "" and weights_origin(None) == ""
