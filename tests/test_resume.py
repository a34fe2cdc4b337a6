"""Preemption-safe resume on CPU: a run stopped by SIGUSR2, then killed, then resumed ends exactly
like the same run never interrupted (eval.csv and training logs byte for byte)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness.checkpoint_file import atomic_torch_save
from harness.config import parse_overrides
from harness.launchers import RunJob
from harness.run import execute, truncate_train_logs
from harness.rundir import RunDir
from tests.helpers import TINY_ALGO

# 700 steps: episodes end at 500 (checkpoint) and 700 (the end); evaluations at 300, 600 and 700,
# so one evaluation comes before the checkpoint and one between it and the end.
RUN = [
    "task=cartpole-balance",
    "seed=3",
    "steps=700",
    "eval_every=300",
    "eval_episodes=2",
    "eval_at_start=false",
    "log_every=100",
    "threads=1",
    "checkpoint_every=500",
    *TINY_ALGO,
]


def _overrides(runs_dir: Path) -> dict:
    return parse_overrides([*RUN, f"runs_dir={runs_dir}"])


def _run_dir(runs_dir: Path) -> Path:
    (path,) = runs_dir.glob("*/*/*/*/seed_3")
    return path


def _wait_for(predicate, timeout: float, what: str, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended (code {proc.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _status(path: Path) -> dict:
    return RunDir(path).status() or {}


def _eval_steps(path: Path) -> list[int]:
    if not (path / "eval.csv").exists():
        return []
    return [int(r["step"]) for r in csv.DictReader((path / "eval.csv").open())]


def _train_logs(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(p.parents[2])): p.read_text()
        for p in (path / "train").rglob("*.csv")
        if p.stem != "steps_per_second"
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("uninterrupted")
    execute(_overrides(runs_dir), verbose=False)
    return _run_dir(runs_dir)


@pytest.mark.slow
def test_signal_kill_resume_equals_uninterrupted(tmp_path, reference):
    cmd = [sys.executable, "-m", "harness.run", *RUN, f"runs_dir={tmp_path}"]
    # 1. SIGUSR2 (Slurm's warning before a time limit): checkpoint at the next episode end, exit 3
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(
        lambda: list(tmp_path.glob("*/*/*/*/seed_3/status.json")) and _status(_run_dir(tmp_path)).get("step", 0) >= 100,
        300,
        "the run to report step 100",
        proc,
    )
    path = _run_dir(tmp_path)
    proc.send_signal(signal.SIGUSR2)
    assert proc.wait(timeout=300) == 3, proc.stderr.read()
    st = _status(path)
    assert st["state"] == "interrupted" and st["step"] == 500 and st["checkpoint_step"] == 500
    assert (path / "checkpoint.pt").exists() and _eval_steps(path) == [300, 300]

    # 2. resume, then SIGKILL after it wrote the evaluation at 600 (after the checkpoint)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: 600 in _eval_steps(path), 300, "the evaluation at step 600", proc)
    proc.kill()
    proc.wait(timeout=60)
    assert _status(path)["state"] == "running" and _status(path)["resumes"] == 1  # as a hard kill leaves it
    assert _eval_steps(path) == [300, 300, 600, 600]

    # 3. resume again (in this process): from step 500; the rows for 600 are dropped and redone
    res = execute(_overrides(tmp_path), verbose=False)
    assert res["state"] == "done" and res["resumed_from"] == 500
    st = _status(path)
    assert st["state"] == "done" and st["step"] == 700 and st["resumes"] == 2
    assert not (path / "checkpoint.pt").exists() and not (path / "attempts").exists()

    # resumed == uninterrupted, byte for byte (returns are floats printed with full precision)
    assert (path / "eval.csv").read_text() == (reference / "eval.csv").read_text()
    logs, ref_logs = _train_logs(path), _train_logs(reference)
    assert logs.keys() == ref_logs.keys() and logs, sorted(logs)
    for name in logs:
        assert logs[name] == ref_logs[name], name  # each step once, same values
    # and the relaunch of a finished run changes nothing
    before = (path / "eval.csv").stat().st_mtime_ns
    assert execute(_overrides(tmp_path), verbose=False)["skipped"]
    assert (path / "eval.csv").stat().st_mtime_ns == before


def test_atomic_checkpoint_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint.pt"
    atomic_torch_save({"step": 1}, target)

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        atomic_torch_save({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=False) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left


def test_truncate_train_logs(tmp_path):
    scalars = tmp_path / "train" / "exp" / "scalars"
    (scalars / "train").mkdir(parents=True)
    (scalars / "eval").mkdir(parents=True)
    (scalars / "train" / "loss.csv").write_text("400,1.0\n500,2.0\n600,3.0\n")
    (scalars / "eval" / "score.csv").write_text("300,1.0\n500,2.0\n")
    truncate_train_logs(tmp_path / "train", 500)
    assert (scalars / "train" / "loss.csv").read_text() == "400,1.0\n500,2.0\n"
    assert (scalars / "eval" / "score.csv").read_text() == "300,1.0\n"  # evaluations at 500 come after the checkpoint


def test_second_process_on_the_same_run_is_refused(tmp_path):

    rd = RunDir(tmp_path / "run")
    with rd.lock():
        code = (
            "import sys; from harness.rundir import RunDir, RunBusyError\n"
            f"try:\n    RunDir({str(rd.path)!r}).lock().__enter__()\n"
            "except RunBusyError as e:\n    print(e); sys.exit(7)"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 7 and "in use by another process" in proc.stdout and str(os.getpid()) in proc.stdout
    with rd.lock():  # released
        pass


@pytest.mark.slow
def test_packed_runs_run_at_once_in_worker_processes(tmp_path):
    """runs_per_job=2: one job, two runs in two worker processes (here without submitit)."""
    runs = [{**_overrides(tmp_path), "seed": s, "steps": 50, "eval_every": 50, "eval_episodes": 1} for s in (1, 2)]
    results = RunJob(parallel=True)(runs)
    assert [r["state"] for r in results] == ["done", "done"]
    for s in (1, 2):
        (path,) = tmp_path.glob(f"*/*/*/*/seed_{s}")
        st = json.loads((path / "status.json").read_text())
        assert st["state"] == "done" and st["job"]["pid"] != os.getpid()


def test_stalled_requeues_counts_only_same_job_resumes_without_progress():
    from harness.run import stalled_requeues

    job = {"kind": "slurm", "job_id": "7_0"}
    stuck = {"job": job, "resumed_from": 500, "checkpoint_step": 500, "stalled_requeues": 1}
    assert stalled_requeues(stuck, job, 500) == 2  # the same job, back at step 500 again
    assert stalled_requeues({**stuck, "checkpoint_step": 1000}, job, 1000) == 0  # it got further
    assert stalled_requeues({**stuck, "resumed_from": None}, job, 500) == 0  # first resume after a fresh start
    assert stalled_requeues(stuck, {"kind": "slurm", "job_id": "8_0"}, 500) == 0  # a relaunch: a new job
    assert stalled_requeues(stuck, {"kind": "local", "job_id": "7_0"}, 500) == 0  # only Slurm requeues
    assert stalled_requeues(stuck, job, None) == 0  # no checkpoint: a fresh start
    assert stalled_requeues({}, job, 500) == 0


def test_a_run_stuck_in_requeues_fails_with_the_fix(tmp_path, monkeypatch):
    """The fourth requeue of one Slurm job from the same checkpoint fails the run (status failed,
    the checkpoint kept for a relaunch) instead of looping until max_requeues."""
    from harness.run import MAX_STALLED_REQUEUES, StalledRunError
    from tests.helpers import stopped_run, stopped_run_args

    path = stopped_run(tmp_path, "cartpole-balance", 1, "none")
    rundir = RunDir(path)
    status, _ = rundir.read_status()
    start = status["checkpoint_step"]
    monkeypatch.setenv("SLURM_JOB_ID", "41")  # the same job, requeued again
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    rundir.write_status(
        "interrupted",
        start,
        status["total_steps"],
        checkpoint_step=start,
        resumes=MAX_STALLED_REQUEUES,
        job={"kind": "slurm", "job_id": "41"},
        resumed_from=start,
        stalled_requeues=MAX_STALLED_REQUEUES - 1,
    )
    with pytest.raises(StalledRunError, match=f"from its checkpoint at step {start}"):
        execute(parse_overrides(stopped_run_args(tmp_path, "cartpole-balance", 1, "none")), verbose=False)
    after, _ = rundir.read_status()
    assert after["state"] == "failed" and "slurm.timeout_min" in after["error"], after
    assert rundir.checkpoint_path.exists()


def test_a_checkpoint_from_before_a_new_run_field_still_resumes(tmp_path):
    """A RunConfig or algorithm field added by an upgrade (here: preset, model.num_channels,
    buffer_storage) is taken at its default for a checkpoint written without it: the unfinished run
    resumes instead of starting afresh."""
    from harness import checkpoint_file as ckpt_mod
    from tests.helpers import stopped_run, stopped_run_args

    path = stopped_run(tmp_path, "cartpole-balance", 1, "none")
    state = ckpt_mod.load(path / "checkpoint.pt")
    del state["run"]["run"]["preset"]
    del state["run"]["algo"]["model"]["num_channels"], state["run"]["algo"]["buffer_storage"]  # algorithm fields too
    atomic_torch_save(state, path / "checkpoint.pt")
    RunDir(path).write_status("interrupted", 500, 1000, checkpoint_step=500)  # the new size is fine
    res = execute(parse_overrides(stopped_run_args(tmp_path, "cartpole-balance", 1, "none")), verbose=False)
    assert res["resumed_from"] == 500 and not (path / "attempts").exists()
