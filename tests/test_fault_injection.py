"""Fault injection on a tiny local sweep (issue 12): two identical sweeps started at once, then
kill -9 of random processes (the sweep, a job's submitit controller, a worker) at random moments,
a relaunch after each, and a Ctrl-C; at the end every run is done, each once, and its results equal
an uninterrupted sweep's byte for byte (no eval step lost or duplicated)."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.rundir import RunDir
from harness.status import sweep_rows
from harness.sweep import main as sweep_main
from tests.helpers import TINY_ALGO

pytestmark = pytest.mark.slow

# two runs of two episodes each: a checkpoint at the first episode end (step 500), evaluations at
# 500 and 1000
SWEEP = [
    "task=cartpole-balance",
    "seeds=2",
    "steps=1000",
    "eval_every=500",
    "eval_episodes=1",
    "eval_at_start=false",
    "log_every=250",
    "checkpoint_every=500",
    "launcher=local",
    "max_parallel=2",
    "threads_per_run=1",
    *TINY_ALGO,
]


def _command(runs_dir: Path) -> list[str]:
    return [sys.executable, "-m", "harness.sweep", *SWEEP, f"runs_dir={runs_dir}"]


def _launch(runs_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        _command(runs_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _runs(runs_dir: Path) -> list[Path]:
    return sorted(runs_dir.glob("none/*/*/*/seed_*"))


def _processes(runs_dir: Path) -> dict[str, list[int]]:
    """Live processes of this sweep by kind: a job's submitit controller, a worker (the process
    named in a run's status.json)."""
    kinds: dict[str, list[int]] = {"controller": [], "worker": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(runs_dir) in cmd and "harness.launchers controller" in cmd:
            kinds["controller"].append(int(entry.name))
    for run in _runs(runs_dir):
        st = RunDir(run).status() or {}
        pid = (st.get("job") or {}).get("pid")
        if st.get("state") == "running" and pid and Path(f"/proc/{pid}").exists():
            kinds["worker"].append(int(pid))
    return kinds


def _end(proc: subprocess.Popen, timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out


def _jobs_per_run(runs_dir: Path) -> dict[int, int]:
    (sweep_dir,) = (runs_dir / "sweeps").iterdir()
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    count: dict[int, int] = {}
    for launch in manifest.get("launches", []):
        for job in launch["jobs"]:
            for i in job["runs"]:
                count[i] = count.get(i, 0) + 1
    return count


def _wait_until(predicate, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, str]:
    runs_dir = tmp_path_factory.mktemp("uninterrupted")
    assert sweep_main([*SWEEP, f"runs_dir={runs_dir}"]) == 0
    return {run.name: (run / "eval.csv").read_text() for run in _runs(runs_dir)}


def test_kills_ctrl_c_and_concurrent_launches_lose_and_duplicate_nothing(tmp_path, uninterrupted):
    rng = random.Random(12)
    t0 = time.monotonic()
    runs_dir = tmp_path / "runs"
    log: list[str] = []

    # 1. two identical sweeps at once: each run is submitted once
    first, second = _launch(runs_dir), _launch(runs_dir)
    _wait_until(lambda: len(_processes(runs_dir)["worker"]) == 2, 180, "both runs to start")
    assert _jobs_per_run(runs_dir) == {0: 1, 1: 1}

    # 2. kill -9 of random processes at random moments, a relaunch after each
    # (each kind in turn, at random moments: early ones cost a restart from step 0, later ones
    # come after the checkpoint at step 500 and cost a resume from it)
    sweeps = [first, second]
    killed: list[str] = []
    for trial, planned in enumerate(("worker", "controller", "sweep", "worker")):
        time.sleep(rng.uniform(2.0, 12.0))  # within a run even on a quiet machine (1000 steps in ~20 s)
        alive = {k: v for k, v in _processes(runs_dir).items() if v}
        alive["sweep"] = [p.pid for p in sweeps if p.poll() is None]
        kinds = [k for k, v in alive.items() if v]
        if not kinds:
            break
        kind = planned if planned in kinds else rng.choice(kinds)
        pid = rng.choice(alive[kind])
        killed.append(kind)
        log.append(f"{time.monotonic() - t0:.0f}s trial {trial}: kill -9 {kind} {pid}")
        os.kill(pid, signal.SIGKILL)
        for p in sweeps:  # a sweep whose job lost its worker ends by itself; one still waiting is killed too
            _end(p, timeout=20)
        sweeps = [_launch(runs_dir)]

    # 3. Ctrl-C: every running run checkpoints at its next episode end, the sweep exits 130
    (sweep,) = sweeps
    _wait_until(lambda: _processes(runs_dir)["worker"] or sweep.poll() is not None, 120, "a worker")
    if sweep.poll() is None:
        sweep.send_signal(signal.SIGINT)
        out = _end(sweep, timeout=240)
        log.append(f"{time.monotonic() - t0:.0f}s Ctrl-C: exit {sweep.returncode}")
        assert sweep.returncode in (0, 130), out
        for run in _runs(runs_dir):
            st = RunDir(run).status() or {}
            assert st.get("state") in ("done", "interrupted"), (run, st, out)
            if st["state"] == "interrupted":
                assert st["checkpoint_step"] == st["step"] and st["step"] % 500 == 0, st

    # 4. relaunch until done (a run killed before its first checkpoint restarts from step 0)
    for _ in range(3):
        out = _end(_launch(runs_dir), timeout=600)
        if all(RunDir(r).state() == "done" for r in _runs(runs_dir)):
            break
    rows = sweep_rows(next((runs_dir / "sweeps").iterdir()))
    assert [r.state for r in rows] == ["done", "done"], (log, out)
    got = {run.name: (run / "eval.csv").read_text() for run in _runs(runs_dir)}
    assert got == uninterrupted, log
    assert "worker" in killed, log  # the campaign did interrupt training
    interrupted = [RunDir(r).status()["resumes"] + len(list((r / "attempts").glob("*"))) for r in _runs(runs_dir)]
    assert sum(interrupted) >= 1, log
    log.append(f"{time.monotonic() - t0:.0f}s: every run done")
    print("\n".join([*log, f"restarts + resumes per run: {interrupted}"]))  # shown with pytest -s
    for text in got.values():  # one row per evaluation step: none lost, none twice
        assert [int(r["step"]) for r in csv.DictReader(text.splitlines())] == [500, 1000]


# --- kill -9 of an offline run, a fine-tune run and an export (issue 26) --------------------------
MT = "mt-smoke"


def _tiny(algo: str, *drop: str) -> list[str]:
    from tests.helpers import tiny_algo

    return [t for t in tiny_algo(algo) if not t.startswith(("algo.seed_steps", *drop))]


def _kill_after_checkpoint(args: list[str], at_least: int, delay: float) -> tuple[threading.Thread, list[str]]:
    """Start ``python -m harness.run ARGS`` and, from a thread, kill it with SIGKILL ``delay`` seconds
    after it wrote a checkpoint at step ``at_least`` or later (so that a relaunch resumes from it,
    mid-training). Returns the thread and a list that gets what happened (or the failure)."""
    from harness.config import parse_overrides
    from harness.resolve import resolve_run

    path = resolve_run(parse_overrides(args)).path
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.run", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    said: list[str] = []

    def kill() -> None:
        def checkpointed() -> bool:
            st = RunDir(path).status() or {}
            return (st.get("checkpoint_step") or 0) >= at_least or proc.poll() is not None

        try:
            _wait_until(checkpointed, 400, f"a checkpoint at step {at_least} in {path}")
            time.sleep(delay)
        finally:
            proc.kill()
            out, _ = proc.communicate()
        st = RunDir(path).status() or {}
        if proc.returncode != -signal.SIGKILL or st.get("state") != "running":
            said.append(f"not killed mid-run: exit {proc.returncode}, {st}, {out[-2000:]}")
        else:
            said.append(f"kill -9 after the checkpoint at step {st.get('checkpoint_step')}")

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread, said


def _export_killed_after_its_first_chunk(argv: list[str]) -> subprocess.Popen:
    """``python -m harness.export ARGV`` that kills itself (SIGKILL) right after writing its first chunk."""
    code = (
        "import os, signal, sys, torch\n"
        "save = torch.save\n"
        "def save_then_die(*a, **k):\n"
        "    save(*a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = save_then_die\n"
        "from harness.export import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_kill_9_of_offline_and_finetune_runs_and_of_an_export(tmp_path):
    """An offline run and a fine-tune run killed with SIGKILL mid-training (after a checkpoint) and
    relaunched end with the uninterrupted run's eval.csv byte for byte; an export killed mid-write
    leaves no dataset, and running it again succeeds and leaves no temporary directory. (Each killed
    process runs beside the uninterrupted run it is compared with.)"""
    from harness.config import parse_overrides
    from harness.data.dataset_writer import export_runs
    from harness.export import main as export_main
    from harness.run import execute
    from tests.helpers import stopped_run

    rng = random.Random(26)
    online = stopped_run(tmp_path / "online", "cartpole-balance", 1, MT)  # one real 500-step episode
    dataset = tmp_path / "data"
    export_runs([tmp_path / "online"], MT, dataset)
    out = tmp_path / "exported" / "data"
    export_argv = [str(online), "--suite", MT, "--out", str(out), "--episodes-per-chunk", "1"]
    export = _export_killed_after_its_first_chunk(export_argv)

    # offline: a checkpoint every 20 updates, the evaluation of every task at the end
    offline = [
        "mode=offline",
        f"suite={MT}",
        f"dataset={dataset}",
        "steps=60",
        "eval_every=60",
        "eval_at_start=false",
        "checkpoint_every=20",
        "eval_episodes=1",
        "logger=none",
        "threads=1",
        "algo=tdmpc2-pi",
        *_tiny("tdmpc2-pi"),
        "algo.batch_size=16",
    ]
    cut_args = [*offline, f"runs_dir={tmp_path / 'off-cut'}"]
    killer, log = _kill_after_checkpoint(cut_args, 20, rng.uniform(0.0, 0.3))
    whole = Path(execute(parse_overrides([*offline, f"runs_dir={tmp_path / 'off-whole'}"]), verbose=False)["path"])
    killer.join()
    assert log and log[-1].startswith("kill -9"), log
    res = execute(parse_overrides(cut_args), verbose=False)
    assert res["resumed_from"] and res["resumed_from"] >= 20, log
    assert (Path(res["path"]) / "eval.csv").read_bytes() == (whole / "eval.csv").read_bytes(), log

    # fine-tune of the offline model on cartpole-balance: a checkpoint at the first episode end (500)
    finetune = [
        "mode=finetune",
        f"checkpoint={whole}",
        "task=cartpole-balance",
        "algo=tdmpc2-pi",
        "steps=520",
        "eval_every=520",
        "checkpoint_every=500",
        "eval_at_start=false",
        "eval_episodes=1",
        "logger=none",
        "threads=1",
        *_tiny("tdmpc2-pi", "algo.model.size"),
    ]
    cut_args = [*finetune, f"runs_dir={tmp_path / 'ft-cut'}"]
    killer, said = _kill_after_checkpoint(cut_args, 500, rng.uniform(0.0, 0.3))
    ft_whole = Path(execute(parse_overrides([*finetune, f"runs_dir={tmp_path / 'ft-whole'}"]), verbose=False)["path"])
    killer.join()
    log += said
    assert said and said[-1].startswith("kill -9"), log
    res = execute(parse_overrides(cut_args), verbose=False)
    assert res["resumed_from"] == 500, log
    assert (Path(res["path"]) / "eval.csv").read_bytes() == (ft_whole / "eval.csv").read_bytes(), log
    for run in (whole, ft_whole, Path(res["path"])):  # finished: no temporary file left
        assert not list(run.rglob("*.tmp")), run

    # the export killed right after its first chunk: no dataset; run again, it succeeds and cleans up
    export.communicate(timeout=300)
    assert export.returncode == -signal.SIGKILL
    assert not out.exists()  # no half-written dataset
    assert [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]  # it did die mid-write
    assert export_main(export_argv) == 0 and (out / "dataset.json").is_file()
    left = [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    assert not left, f"the rerun left the killed export's temporary directory: {left}"
    print("\n".join(log))  # shown with pytest -s
