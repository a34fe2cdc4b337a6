"""What the tools say about faults (issue 12): a finished run is never retrained because a file is
unreadable, a damaged checkpoint is reported and the previous one used, disk full is a failure,
a live orphan worker is running, result files are group-readable, a moved runs_dir still works."""

import errno
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import harness.run as run_mod
import harness.sweep as sweep_mod
from harness.checkpoint_file import atomic_torch_save
from harness.config import parse_overrides
from harness.resolve import resolve_run
from harness.rundir import RunDir, RunStatus, atomic_write_text
from harness.status import sweep_rows
from tests.helpers import TINY_ALGO

BASE = ["task=cartpole-balance", "steps=10", "eval_every=10", "eval_episodes=1", "logger=none", "threads=1"]


def _sweep(tmp_path, *extra):
    return [*BASE, *TINY_ALGO, "seeds=1", "launcher=debug", f"runs_dir={tmp_path}", *extra]


def _only_run(tmp_path) -> Path:
    (path,) = tmp_path.glob("*/*/*/*/seed_1")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real tiny sweep of one run, finished."""
    root = tmp_path_factory.mktemp("finished")
    assert sweep_mod.main(_sweep(root)) == 0
    return root


def test_finished_run_keeps_final_state_and_a_done_marker(finished):
    path = _only_run(finished)
    assert (path / "done.json").exists() and not (path / "checkpoint.pt").exists()
    final = torch.load(path / "final.pt", weights_only=False)
    assert final["step"] == 10 and "replay" in final["agent"]
    # group-readable result files (mkstemp alone makes them 0600)
    for name in ("eval.csv", "status.json", "config.yaml", "final.pt", "done.json"):
        assert stat.S_IMODE((path / name).stat().st_mode) & 0o040, name


def test_done_run_with_corrupt_status_is_reported_and_never_retrained(finished, tmp_path, capsys):
    root = tmp_path / "runs"
    shutil.copytree(finished, root)  # also: a copied runs_dir (the manifest holds the old absolute paths)
    path = _only_run(root)
    eval_before = (path / "eval.csv").read_bytes()
    (path / "status.json").write_text('{"state": "do')  # cut off
    assert RunDir(path).state() == "done"
    (sweep_dir,) = (root / "sweeps").iterdir()
    (row,) = sweep_rows(sweep_dir)
    assert row.state == "done" and "status.json unreadable" in row.note and row.path == str(path)
    capsys.readouterr()
    assert sweep_mod.main(_sweep(root)) == 0
    out = capsys.readouterr().out
    assert "status.json unreadable" in out and "not retrained" in out and "0 to launch" in out
    assert (path / "eval.csv").read_bytes() == eval_before and not (path / "attempts").exists()
    # the relaunch repaired status.json (done.json wins); the unreadable one is kept beside
    assert RunDir(path).status()["state"] == "done" and "status.json unreadable" in RunDir(path).status()["repaired"]
    (kept,) = path.glob("status.json.unreadable-*")
    assert kept.read_text() == '{"state": "do'
    kept.unlink()
    # harness.run directly: skipped too, with the reason
    res = run_mod.execute(parse_overrides([*BASE, *TINY_ALGO, "seed=1", "suite=none", f"runs_dir={root}"]))
    assert res["state"] == "done"
    (path / "status.json").write_text('{"state": "do')
    # runs written before done.json: a complete eval.csv is the evidence
    (path / "done.json").unlink()
    assert RunDir(path).state() == "done"
    # nothing says it finished: "unreadable", not "not started"
    (path / "eval.csv").write_bytes(eval_before[:-5])
    (row,) = sweep_rows(sweep_dir)
    assert row.state == "unreadable" and "status.json unreadable" in row.note
    # a status.json of the wrong shape is unreadable too (no traceback)
    (path / "status.json").write_text("[1, 2]")
    assert sweep_rows(sweep_dir)[0].state == "unreadable"
    proc = subprocess.run([sys.executable, "-m", "harness.status", str(root)], capture_output=True, text=True)
    assert proc.returncode == 0 and "unreadable" in proc.stdout and "Traceback" not in proc.stderr


def _fake_checkpoint(path: Path, overrides: dict, step: int) -> None:
    atomic_torch_save({"format": 1, "step": step, "run": resolve_run(overrides).to_dict()}, path)


def test_damaged_checkpoint_is_reported_and_the_previous_one_used(tmp_path, monkeypatch):
    ov = parse_overrides([*BASE, "seed=1", f"runs_dir={tmp_path}"])
    path = resolve_run(ov).path
    path.mkdir(parents=True)
    rd = RunDir(path)
    _fake_checkpoint(rd.checkpoint_path, ov, 500)
    rd.keep_previous_checkpoint()  # as Trainer.checkpoint does before writing the next one
    _fake_checkpoint(rd.checkpoint_path, ov, 1000)
    size = rd.checkpoint_path.stat().st_size
    rd.write_status("running", 1000, 2000, checkpoint_step=1000, checkpoint_bytes=size, previous_checkpoint_step=500)
    data = rd.checkpoint_path.read_bytes()
    os.truncate(rd.checkpoint_path, len(data) // 2)  # in place, as `truncate -s` does
    manifest = {"runs": [{"path": str(path), "label": "r"}], "launches": [], "runs_dir": str(tmp_path)}
    sweep_dir = tmp_path / "sweeps" / "x"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "manifest.json").write_text(json.dumps(manifest))
    (row,) = sweep_rows(sweep_dir)
    assert row.state == "interrupted" and "truncated" in row.note
    assert "resumes from the previous checkpoint at step 500" in row.note

    seen = {}

    def fake_train(resolved, rundir, resume_from=None, **kw):
        seen["step"] = resume_from["step"] if resume_from else None
        seen["status"] = rundir.status()
        seen["set_aside"] = (rundir.path / "checkpoint.unreadable.pt").exists()
        return []

    monkeypatch.setattr(run_mod, "train", fake_train)
    run_mod.execute(ov, verbose=False)
    assert seen["step"] == 500
    assert "resumed from the previous checkpoint at step 500" in seen["status"]["restart_reason"]
    assert seen["set_aside"] and not (path / "checkpoint.unreadable.pt").exists()  # removed once finished

    # both unreadable: restarted from scratch, and status.json says why
    path2 = resolve_run({**ov, "seed": 2}).path
    path2.mkdir(parents=True)
    (path2 / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut")
    RunDir(path2).write_status("interrupted", 500, 2000, checkpoint_step=500)
    manifest["runs"] = [{"path": str(path2), "label": "r2"}]
    (sweep_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "restarts from scratch" in sweep_rows(sweep_dir)[0].note
    run_mod.execute({**ov, "seed": 2}, verbose=False)
    assert seen["step"] is None and "restarted from scratch" in seen["status"]["restart_reason"]
    assert (path2 / "attempts" / "1" / "checkpoint.pt").exists()  # kept, not deleted


def test_disk_full_is_a_failure_naming_the_path(tmp_path):
    rd = RunDir(tmp_path)
    with pytest.raises(OSError):
        with RunStatus(rd, 100, say=lambda *a, **k: None):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "eval.csv"))
    st = rd.status()
    assert st["state"] == "failed" and st["error"] == f"no space left on device: {tmp_path / 'eval.csv'}"


def test_disk_full_during_a_checkpoint_write_names_the_checkpoint(tmp_path, monkeypatch):
    """torch.save reports a failed write as a RuntimeError ("unexpected pos"); the checkpoint writer
    turns it back into ENOSPC naming the file, and the previous checkpoint is untouched."""
    import io

    from harness import checkpoint_file as ckpt_mod

    path = tmp_path / "checkpoint.pt"
    atomic_torch_save({"step": 1}, path)
    before = path.read_bytes()

    class FullDisk(io.FileIO):  # a file system with 4 kB left
        def write(self, data):
            if self.tell() + len(data) > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(ckpt_mod.os, "fdopen", lambda fd, mode: FullDisk(fd, "wb"))
    rd = RunDir(tmp_path)
    with pytest.raises(OSError) as caught:
        with RunStatus(rd, 100, say=lambda *a, **k: None):
            atomic_torch_save({"x": torch.zeros(100_000)}, path)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert rd.status()["state"] == "failed" and rd.status()["error"] == f"no space left on device: {path}"
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "status.json",
    ]  # no temporary file left behind


def test_live_orphan_worker_is_running(tmp_path):
    path = tmp_path / "s" / "t" / "a" / "v" / "seed_1"
    job = {"kind": "local", "job_id": "999999999", "host": socket.gethostname(), "pid": os.getpid()}
    RunDir(path).write_status("running", 5, 10, job=job)
    manifest = {"runs": [{"path": str(path), "label": "r"}], "runs_dir": str(tmp_path)}
    launch = {"launcher": "local", "host": socket.gethostname(), "jobs": [{"job_id": "999999999", "runs": [0]}]}
    manifest["launches"] = [launch]
    sweep_dir = tmp_path / "sweeps" / "x"
    sweep_dir.mkdir(parents=True)
    atomic_write_text(sweep_dir / "manifest.json", json.dumps(manifest))
    (row,) = sweep_rows(sweep_dir)
    assert row.state == "running" and f"worker pid {os.getpid()}" in row.note
