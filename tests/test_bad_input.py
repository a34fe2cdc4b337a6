"""Bad input (issue 12, item 6): one ``error:`` line on stderr naming the bad key or value, exit
status 2, no traceback, and nothing created under runs_dir. In-process through each command's
``main(argv)`` (they fail before any env is built); a few in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

RUN = ["task=cartpole-balance", "steps=10", "eval_every=10", "eval_episodes=1", "logger=none"]
SWEEP = [*RUN, "launcher=debug"]

# (command, arguments, what the message must name); {runs} is the runs_dir, {file} a plain file
CASES = [
    ("run", ["algo.planner.temperature=-1"], "planner.temperature"),
    ("run", ["algo.batch_size=-5"], "batch_size"),
    ("run", ["algo.planner.num_samples=0"], "planner.num_samples"),
    ("run", ["algo.planner.num_elites=0"], "planner.num_elites"),
    ("run", ["algo.lr=0"], "lr"),
    ("run", ["algo.batch_size=abc"], "algo.batch_size"),
    ("run", ["seed=-1"], "seed"),
    ("run", ["seed=abc"], "seed"),
    ("run", ["steps=0"], "steps"),
    ("run", ["eval_episodes=-2"], "eval_episodes"),
    ("run", ["checkpoint_every=-1"], "checkpoint_every"),
    ("run", ["log_every=0"], "log_every"),
    ("run", ["threads=-1"], "threads"),
    ("run", ["device=tpu"], "tpu"),
    ("run", ["logger=foo"], "logger"),
    ("run", ["task=no-such-task"], "no-such-task"),
    ("run", ["algo=no-such-algo"], "no-such-algo"),
    ("run", ["obs=depth"], "obs"),
    ("run", ["obs=rgb", "algo=sac"], "obs=rgb"),  # no pixel encoder
    ("run", ["obs=rgb", "algo.model.num_channels=8"], "model.num_channels=8"),  # 8 x 16 != latent 512
    ("run", ["obs=rgb", "algo.buffer_storage=disk"], "buffer_storage"),
    ("run", ["stepz=10"], "stepz"),
    ("run", ["steps"], "steps"),
    ("run", ["runs_dir={file}"], "runs_dir"),
    ("run", ["runs_dir={file}/sub"], "runs_dir"),
    ("sweep", ["seeds=abc"], "seeds"),
    ("sweep", ["seeds=0"], "seeds"),
    ("sweep", ["seed=[1,x]"], "seed"),
    ("sweep", ["seed=-1"], "seed"),
    ("sweep", ["max_parallel=0"], "max_parallel"),
    ("sweep", ["max_parallel=two"], "max_parallel"),
    ("sweep", ["threads_per_run=x"], "threads_per_run"),
    ("sweep", ["launcher=cloud"], "cloud"),
    ("sweep", ["algo=[tdmpc2,nope]"], "nope"),
    ("sweep", ["wait=maybe"], "wait"),
    ("sweep", ["algo.planner.temperature=-1"], "planner.temperature"),
    ("sweep", ["runs_dir={file}"], "runs_dir"),
    ("sweep", ["suite=no-such-suite", "task=null"], "no-such-suite"),
    ("sweep", ["algo=[]"], "algo=[]"),
    ("sweep", ["task=[]"], "task=[]"),
    ("sweep", ["seed=[]"], "seed=[]"),
    ("sweep", ["steps=[10,20]"], "steps=[10,20]"),  # two runs in one run directory (it does not name steps)
    # issue 26, item 8: values the code cannot hold, paths that cannot be made, parser errors
    ("run", ["steps=99999999999999999999"], "steps"),
    ("run", ["seed=99999999999999999999"], "seed"),
    ("run", ["eval_every=1", "steps=100000000"], "eval_every"),
    ("run", ["algo.batch_size=99999999999999999999"], "algo.batch_size"),
    ("run", ["runs_dir=/proc/x"], "runs_dir"),
    ("sweep", ["runs_dir=/proc/x"], "runs_dir"),
    ("sweep", ["slurm.mem_gb=nan", "launcher=slurm"], "slurm.mem_gb"),
    ("sweep", ["seeds=99999999999999999999"], "seeds"),
    ("sweep", ["max_parallel=99999999999999999999"], "max_parallel"),
    ("sweep", ["threads_per_run=-1"], "threads_per_run"),
    ("run", ["task=!!python/object/apply:os.system [echo hacked]"], "for task: not a valid value"),
    ("run", ["task=\udcff\udcfe"], "for task"),  # bytes that are not UTF-8, as Python hands them over
    ("run", ["algo.planner={num_samples: 8, bogus: 1}"], "'algo.planner.bogus'"),
    ("run", ["algo.planner={num_samples: x}"], "'x' for algo.planner.num_samples"),
    ("run", ["algo.lr=nan"], "nan for algo.lr: must be a finite number"),
]


def _cli(name: str):
    import analysis.report
    import harness.export
    import harness.run
    import harness.status
    import harness.sweep

    return {
        "run": harness.run.main,
        "sweep": harness.sweep.main,
        "status": harness.status.main,
        "report": analysis.report.main,
        "export": harness.export.main,
    }[name]


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def _check(capsys, code, needle):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err


@pytest.mark.parametrize("cmd,args,needle", CASES, ids=[f"{c}:{' '.join(a)}" for c, a, _ in CASES])
def test_bad_command_line(tmp_path, capsys, cmd, args, needle):
    runs = tmp_path / "runs"
    plain = tmp_path / "a-file"
    plain.write_text("not a directory\n")
    args = [a.replace("{runs}", str(runs)).replace("{file}", str(plain)) for a in args]  # not format: {a: 1} values
    if not any(a.startswith("runs_dir=") for a in args):
        args.append(f"runs_dir={runs}")
    if args[0].startswith("suite=") and cmd == "sweep":
        args = [a for a in args if a != "task=null"]
        base = [a for a in SWEEP if not a.startswith("task=")]
    else:
        base = RUN if cmd == "run" else [*SWEEP, "task=[cartpole-balance]"]
    code = _cli(cmd)([*base, *args])
    _check(capsys, code, needle)
    assert not runs.exists()


def _sweep_dir(tmp_path: Path) -> Path:
    d = tmp_path / "runs" / "sweeps" / "s-1"
    d.mkdir(parents=True)
    return d


@pytest.mark.parametrize(
    "content,needle",
    [
        ('{"runs": [', "unreadable"),
        ('{"runs": 3}', "wrong shape"),
        ("[]", "wrong shape"),
        ('{"runs": [{"path": "/x"}], "launches": [{"jobs": 5}]}', "wrong shape"),
    ],
)
def test_bad_manifest(tmp_path, capsys, content, needle):
    d = _sweep_dir(tmp_path)
    (d / "manifest.json").write_text(content)
    before = _tree(tmp_path / "runs")
    _check(capsys, _cli("status")([str(d)]), needle)
    _check(capsys, _cli("status")([str(tmp_path / "runs")]), needle)
    assert _tree(tmp_path / "runs") == before


def test_corrupt_manifest_stops_the_sweep(tmp_path, capsys):
    import harness.sweep as sweep_mod
    from harness.config import parse_overrides

    args = [*SWEEP, "task=[cartpole-balance]", f"runs_dir={tmp_path / 'runs'}"]
    runs, settings = sweep_mod.expand(parse_overrides(args))
    d = tmp_path / "runs" / "sweeps" / sweep_mod.sweep_id(runs, settings)
    d.mkdir(parents=True)
    (d / "manifest.json").write_text('{"runs": [')
    _check(capsys, _cli("sweep")(args), "manifest.json is unreadable")
    assert _tree(tmp_path / "runs") == ["sweeps", "sweeps/" + d.name, f"sweeps/{d.name}/manifest.json"]


def test_status_bad_arguments(tmp_path, capsys):
    _check(capsys, _cli("status")([str(tmp_path / "nothing")]), "no sweep manifest")
    d = _sweep_dir(tmp_path)
    (d / "manifest.json").write_text(json.dumps({"runs": [], "launches": []}))
    _check(capsys, _cli("status")([str(d), "--interval", "0"]), "--interval")


def test_status_of_the_wrong_shape_is_reported_not_a_traceback(tmp_path, capsys):
    run = tmp_path / "runs" / "s" / "t" / "a" / "v" / "seed_1"
    run.mkdir(parents=True)
    (run / "status.json").write_text('{"state": 7}')
    d = _sweep_dir(tmp_path)
    (d / "manifest.json").write_text(json.dumps({"runs": [{"path": str(run)}], "launches": []}))
    assert _cli("status")([str(d)]) == 0
    assert "status.json has the wrong shape" in capsys.readouterr().out


def test_cut_off_eval_csv_is_named_not_used(tmp_path):
    import warnings

    from analysis.results import ResultsWarning, load_statuses
    from tests.helpers import write_run

    path = write_run(tmp_path, "cup-catch", "mbdpo", 1, {0: [1.0], 100: [2.0]})
    (path / "eval.csv").write_bytes((path / "eval.csv").read_bytes()[:-4])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_statuses(tmp_path)["eval_rows"].tolist() == [0]
        from analysis.results import _read_eval_csv

        assert _read_eval_csv(path / "eval.csv") is None
    assert any(issubclass(w.category, ResultsWarning) and "cut off" in str(w.message) for w in caught)


def _fresh(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


@pytest.mark.parametrize("module", ["harness.run", "harness.sweep", "harness.export"])
def test_mujoco_gl_without_its_library_is_one_line(tmp_path, module):
    import ctypes.util

    if ctypes.util.find_library("OSMesa"):
        pytest.skip("libOSMesa is installed here")
    proc = _fresh([module, *RUN, f"runs_dir={tmp_path / 'runs'}"], {"MUJOCO_GL": "osmesa"})
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and "libosmesa6" in err, err
    assert not (tmp_path / "runs").exists()


def test_read_only_runs_dir(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a 0555 directory is writable")
        _check(capsys, _cli("run")([*RUN, f"runs_dir={ro}/runs"]), "not writable")
        _check(capsys, _cli("sweep")([*SWEEP, "task=[cartpole-balance]", f"runs_dir={ro}"]), "not writable")
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------------------- checkpoint files (issue 24)
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference_checkpoints"
SINGLE = REFERENCE / "tdmpc2_cartpole-balance.pt"  # TD-MPC2's own save: single-task, reduced widths
MULTI = REFERENCE / "tdmpc2_mt80.pt"
FINETUNE = ["mode=finetune", "task=reacher-easy", "steps=10", "eval_every=10", "eval_episodes=1", "logger=none"]

# (command, arguments, what the message must name); {x} is a bad file made by _bad_files
CHECKPOINT_CASES = [
    ("evaluate", ["checkpoint={text}", "task=cartpole-balance"], "not a torch.save file"),
    ("evaluate", ["checkpoint={random_dict}", "task=cartpole-balance"], "not a TD-MPC2 or MBDPO model"),
    ("evaluate", ["checkpoint={sb3_zip}", "task=cartpole-balance"], "a zip archive but not a torch.save file"),
    ("evaluate", ["checkpoint={truncated}", "task=cartpole-balance"], "truncated or damaged"),
    ("evaluate", ["checkpoint={termination}", "task=cartpole-balance"], "termination head"),
    ("evaluate", ["checkpoint={ours_alone}"], "our own checkpoint.pt / final.pt are read with their run's config.yaml"),
    ("evaluate", [f"checkpoint={SINGLE}", "task=cartpole-balance", "format=tdmpc3"], "bad value 'tdmpc3' for format"),
    ("evaluate", [f"checkpoint={SINGLE}"], "single-task tdmpc2 model and names no task: give task=NAME"),
    ("evaluate", [f"checkpoint={SINGLE}", "task=walker-run"], "task=walker-run has 24 observations and 6 actions"),
    ("evaluate", [f"checkpoint={MULTI}", "task=humanoid-run"], "task 'humanoid-run': the model of checkpoint="),
    ("evaluate", [f"checkpoint={REFERENCE / 'mbdpo_mt80.pt'}", "format=tdmpc2"], "use format=mbdpo"),
    ("evaluate", ["checkpoint=[/nonexistent/batch_size=8,model.enc_dim=32/seed_1]"], "quote paths that hold commas"),
    ("run", [*FINETUNE, "checkpoint={truncated}"], "truncated or damaged"),
    ("run", [*FINETUNE, "checkpoint={termination}", "task=cartpole-balance"], "termination head"),
    ("run", [*FINETUNE, f"checkpoint={MULTI}", "algo.model.size=1"], "match no model size"),
    ("run", [*FINETUNE, f"checkpoint={MULTI}", "algo=mbdpo"], "has no F (the energy anchor), which algo=mbdpo needs"),
    ("run", [*FINETUNE, f"checkpoint={REFERENCE / 'mbdpo_mt80.pt'}"], "which algo=tdmpc2 lacks; use algo=mbdpo"),
    ("run", [*FINETUNE, f"checkpoint={MULTI}", "format=pt"], "bad value 'pt' for format"),
    ("run", [*FINETUNE, f"checkpoint={SINGLE}"], "task=reacher-easy has 6 observations and 2 actions"),
    ("run", [*FINETUNE, f"checkpoint={MULTI}", "finetune.freeze=[encoder,encoder]"], "encoder listed twice"),
    ("run", [*RUN, "format=tdmpc2"], "format=tdmpc2 is only read by mode=finetune"),
]


def _bad_files(tmp: Path) -> dict[str, Path]:
    import zipfile

    import torch

    tmp.mkdir()
    files = {name: tmp / f"{name}.pt" for name in ("text", "random_dict", "truncated", "termination")}
    files["text"].write_text("not a checkpoint\n")
    torch.save({"step": 3, "weights": torch.zeros(2)}, files["random_dict"])
    files["sb3_zip"] = tmp / "ppo.zip"
    with zipfile.ZipFile(files["sb3_zip"], "w") as z:  # what Stable-Baselines3's save writes
        for name in ("data", "policy.pth", "_stable_baselines3_version"):
            z.writestr(name, "{}")
    data = SINGLE.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    state = torch.load(SINGLE, weights_only=True)  # TD-MPC2's episodic=true head
    state["model"]["_termination.0.weight"] = torch.zeros(4, 16)
    torch.save(state, files["termination"])
    files["ours_alone"] = tmp / "final.pt"  # one of our checkpoints without its run's config.yaml
    torch.save({"format": 1, "rng": {"numpy": np.random.get_state()}}, files["ours_alone"])
    return files


@pytest.mark.parametrize(
    "cmd,args,needle", CHECKPOINT_CASES, ids=[f"{c}:{' '.join(a)[-60:]}" for c, a, _ in CHECKPOINT_CASES]
)
def test_bad_checkpoint_file(tmp_path, capsys, cmd, args, needle):
    from harness.evaluate import main as evaluate_main

    files = _bad_files(tmp_path / "files")
    stamps = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (SINGLE, MULTI)}
    out = tmp_path / "out"
    args = [a.format(**files) for a in args]
    main = evaluate_main if cmd == "evaluate" else _cli(cmd)
    _check(capsys, main([*args, f"out={out}" if cmd == "evaluate" else f"runs_dir={out}"]), needle)
    assert not out.exists()  # nothing created
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in stamps} == stamps  # the files only read


# ----------------------------------------------------------------------------- issue 26: items 1 and 8
def _program(name: str):
    import harness.bench
    import harness.data.replay_memory_bench
    import harness.evaluate
    import harness.list

    return {
        "evaluate": harness.evaluate.main,
        "bench": harness.bench.main,
        "memory-bench": harness.data.replay_memory_bench.main,
        "list": harness.list.main,
    }.get(name) or _cli(name)


# (program, arguments, what the message must name); {out} is a path under tmp_path, {runs} a missing one
EXPORT = ["{runs}", "--suite", "mt-smoke", "--out", "{out}"]
OPTION_CASES = [
    ("export", [*EXPORT, "--episodes-per-chunk", "0"], "--episodes-per-chunk 0: must be a whole number from 1 to"),
    ("export", [*EXPORT, "--episodes-per-chunk=-1"], "--episodes-per-chunk -1"),
    ("export", [*EXPORT, "--episodes-per-chunk", "x"], "--episodes-per-chunk x"),
    ("export", [*EXPORT, "--episodes-per-chunk", "99999999999999999999"], "--episodes-per-chunk 9999"),
    ("export", ["{runs}", "--out", "{out}"], "--suite"),  # argparse's own error, in one line
    ("export", ["{runs}", "--suite", "mt-smoke", "--out", "/proc/x"], "/proc/x"),
    ("status", ["{out}", "--interval", "nan"], "--interval nan"),
    ("status", ["{out}", "--timeout", "-1"], "--timeout -1"),
    ("memory-bench", ["--transitions", "0", "--dir", "{out}"], "--transitions 0"),
    ("bench", ["algo=tdmpc2", "obs_dim=0"], "obs_dim"),
    ("bench", ["algo=tdmpc2", "--repeats", "99999999999999999999"], "repeats"),
    ("bench", ["algo=tdmpc2", "sizes=[7]"], "sizes"),
    ("bench", ["algo=tdmpc2", "threads=-1"], "threads"),
    ("bench", ["algo=[]"], "algo=[]"),
    ("list", [], "no command given"),
    ("evaluate", [f"checkpoint={SINGLE}", "task=cartpole-balance", "out=/proc/x"], "for out"),
    ("evaluate", [f"checkpoint={SINGLE}", "task=cartpole-balance", "seed=99999999999999999999", "out={out}"], "seed"),
    ("evaluate", [f"checkpoint={SINGLE}", "task=cartpole-balance", "episodes=0", "out={out}"], "episodes"),
    ("report", ["{runs}", "--out", "{out}", "--seed", "99999999999999999999"], "--seed"),
    ("report", ["{runs}", "--out", "/proc/x"], "--out /proc/x: cannot create /proc/x"),
]


@pytest.mark.parametrize("cmd,args,needle", OPTION_CASES, ids=[f"{c}:{' '.join(a[-2:])}" for c, a, _ in OPTION_CASES])
def test_numeric_options_have_ranges(tmp_path, capsys, cmd, args, needle):
    """Every program's numeric options are range-checked before anything is written (issue 26,
    item 1: --episodes-per-chunk 0 wrote chunk files until the disk was full)."""
    out = tmp_path / "out"
    args = [a.replace("{out}", str(out)).replace("{runs}", str(tmp_path / "runs")) for a in args]
    _check(capsys, _program(cmd)(args), needle)
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_a_checkpoint_listed_twice_is_evaluated_once():
    from harness.evaluate import parse_request

    request = parse_request([f"checkpoint=[{SINGLE},{MULTI},{SINGLE}]"])
    assert request.checkpoints == (str(SINGLE), str(MULTI))
    assert request.notes == (f"[dup] checkpoint={SINGLE} listed twice; evaluating it once",)


def _chunk(path: Path, episodes: int = 1) -> Path:
    import torch
    from tensordict import TensorDict

    obs, action, reward = torch.zeros(episodes, 501, 17), torch.zeros(episodes, 501, 6), torch.zeros(episodes, 501)
    action[:, 0], reward[:, 0] = float("nan"), float("nan")
    task = torch.zeros(episodes, 501, dtype=torch.int64)
    torch.save(TensorDict(obs=obs, action=action, reward=reward, task=task, batch_size=[episodes, 501]), path)
    return path


OFFLINE = ["mode=offline", "suite=mt-smoke", "steps=10", "eval_every=10", "eval_episodes=1", "logger=none"]


@pytest.mark.parametrize("damage", ["garbage chunk", "corrupt dataset.json", "another suite's dataset"])
def test_a_bad_dataset_is_refused_before_the_run_starts(tmp_path, capsys, damage):
    """mode=offline reads the dataset's manifest and every chunk's header in its check: one line,
    exit 2, no run directory (was a DatasetError traceback and a failed run)."""
    data = tmp_path / "data"
    data.mkdir()
    _chunk(data / "chunk_0.pt")
    (data / "dataset.json").write_text(json.dumps({"suite": "mt-smoke", "suite_version": 1}))
    suite = "mt-smoke"
    if damage == "garbage chunk":
        (data / "chunk_1.pt").write_bytes(os.urandom(3000))
        needle = "chunk_1.pt: unreadable"
    elif damage == "corrupt dataset.json":
        (data / "dataset.json").write_text('{"suite": "mt-sm')
        needle = "dataset.json: unreadable"
    else:
        suite, needle = "dmc-smoke", "made for suite 'mt-smoke'"
    runs = tmp_path / "runs"
    before = _tree(data)
    args = [*OFFLINE, f"suite={suite}", f"dataset={data}", f"runs_dir={runs}"]
    _check(capsys, _cli("run")(args), needle)
    assert not runs.exists() and _tree(data) == before  # no run directory, no .memmap


def test_finetune_from_random_bytes_beside_a_config_is_one_line(tmp_path, capsys):
    ours = tmp_path / "pretrained"
    ours.mkdir()
    run = {"algo": "tdmpc2", "task": "cartpole-balance", "mode": "online", "suite": "none", "seed": 1}
    (ours / "config.yaml").write_text(json.dumps({"run": run, "algo": {}}))  # JSON is YAML
    (ours / "final.pt").write_bytes(os.urandom(3000))
    runs = tmp_path / "runs"
    args = [*FINETUNE, "task=cartpole-balance", f"checkpoint={ours}", f"runs_dir={runs}"]
    _check(capsys, _cli("run")(args), "final.pt is truncated or damaged")
    assert not runs.exists()


def test_a_second_identical_run_while_the_first_runs_is_one_line(tmp_path, capsys):
    """The run directory's lock is held (as by a first harness.run): the second says so in one
    line naming the directory and the holder, exit 2, and touches nothing."""
    from harness.config import parse_overrides
    from harness.resolve import resolve_run
    from harness.rundir import RunDir
    from tests.helpers import signal_handlers_kept

    args = [*RUN, f"runs_dir={tmp_path / 'runs'}"]
    path = resolve_run(parse_overrides(args)).path
    with RunDir(path).lock(owner={"pid": 424242, "note": "the first run"}), signal_handlers_kept():
        before = _tree(path)
        code = _cli("run")(args)
        err = capsys.readouterr().err.strip()
        assert _tree(path) == before == [".lock"]
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(path) in err and "in use by another process" in err and "424242" in err, err


# ----------------------------------------------------------------------------- issue 28: published-only tasks
MANISKILL2 = "lift-cube, pick-cube, stack-cube, pick-ycb, turn-faucet"
PUBLISHED_ONLY_CASES = [
    ("run", ["task=lift-cube", "runs_dir={out}"], "task=lift-cube is published-only: "),
    ("run", ["mode=finetune", "task=pick-ycb", "checkpoint={out}", "runs_dir={out}"], "task=pick-ycb is pub"),
    ("run", ["mode=offline", "suite=maniskill2", "dataset={out}", "runs_dir={out}"], f"its 5 tasks ({MANISKILL2})"),
    ("sweep", ["suite=maniskill2", "algo=[tdmpc2,mbdpo]", "runs_dir={out}"], f"its 5 tasks ({MANISKILL2}) are"),
    ("sweep", ["suite=paper-104", "runs_dir={out}"], f"suite=paper-104: 5 of its 104 tasks ({MANISKILL2}) are"),
    ("sweep", ["task=[cartpole-balance,turn-faucet]", "runs_dir={out}"], "1 of its 2 tasks (turn-faucet) is"),
    ("sweep", ["mode=offline", "suite=maniskill2", "dataset={out}", "runs_dir={out}"], "suite=maniskill2: its 5"),
    ("evaluate", [f"checkpoint={SINGLE}", "task=stack-cube", "out={out}"], "task=stack-cube is published-only"),
    ("evaluate", [f"checkpoint={SINGLE}", "suite=maniskill2", "out={out}"], "suite=maniskill2: its 5 tasks"),
    ("bench", ["algo=tdmpc2", "mode=offline", "suite=paper-104"], "suite=paper-104: 5 of its 104 tasks"),
    ("export", ["{runs}", "--suite", "maniskill2", "--out", "{out}"], "suite=maniskill2: its 5 tasks"),
]


@pytest.mark.parametrize(
    "cmd,args,needle", PUBLISHED_ONLY_CASES, ids=[f"{c}:{' '.join(a[:2])}" for c, a, _ in PUBLISHED_ONLY_CASES]
)
def test_published_only_tasks_are_refused_by_every_program(tmp_path, capsys, cmd, args, needle):
    """ManiSkill2's tasks are in suites for their published curves only: every program that would
    build or run one says in one line which tasks and why (configs/suites.yaml's reason), exit 2,
    before anything is read or written (issue 28)."""
    from configs.suites import published_only_reason

    reason = published_only_reason("lift-cube")
    assert reason and "Vulkan" in reason and published_only_reason("cartpole-balance") is None
    out = tmp_path / "out"
    args = [a.replace("{out}", str(out)).replace("{runs}", str(tmp_path / "runs")) for a in args]
    code = _program(cmd)(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and needle in err and " ".join(reason.split()) in err, err
    assert not list(tmp_path.iterdir())  # no run, sweep, dataset or evaluation directory
