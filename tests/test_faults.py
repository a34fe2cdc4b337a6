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
    for stale in (".checkpoint.prev.pt.tmp", ".eval.csv.abcdefgh.tmp"):  # of an attempt killed mid-write
        (path / stale).write_bytes(b"x")
    run_mod.execute(ov, verbose=False)
    assert seen["step"] == 500
    assert not list(path.glob(".*.tmp"))  # removed under the run's lock
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
    with pytest.raises(OSError):  # an error that names no file: the run directory
        with RunStatus(rd, 100, say=lambda *a, **k: None):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert rd.status()["error"] == f"no space left on device: {tmp_path}"


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


def test_status_json_saying_running_beside_done_json_is_done_and_repaired(finished, tmp_path, capsys):
    """Issue 26, item 4: done.json wins over a contradicting status.json in RunDir.state, status and
    the sweep, and a relaunch sets status.json to done instead of starting a job that never ends."""
    root = tmp_path / "runs"
    shutil.copytree(finished, root)
    path = _only_run(root)
    eval_before = (path / "eval.csv").read_bytes()
    st = json.loads((path / "status.json").read_text())
    (path / "status.json").write_text(json.dumps({**st, "state": "running"}))
    assert RunDir(path).state() == "done"
    (sweep_dir,) = (root / "sweeps").iterdir()
    (row,) = sweep_rows(sweep_dir)
    assert row.state == "done" and row.note.startswith("done (done.json; status.json said running")
    proc = subprocess.run([sys.executable, "-m", "harness.status", str(root)], capture_output=True, text=True)
    assert proc.returncode == 0 and "status.json said running" in proc.stdout and "interrupted" not in proc.stdout
    from analysis.results import load_statuses

    (status_row,) = load_statuses(root).itertuples()
    assert status_row.state == "done" and "status.json said running" in status_row.error
    capsys.readouterr()
    assert sweep_mod.main(_sweep(root)) == 0
    out = capsys.readouterr().out
    assert "status.json set to done (status.json said running" in out and "0 to launch" in out
    assert "sweep finished: 1/1 done" in out or "1 already done" in out
    st = RunDir(path).status()
    assert st["state"] == "done" and st["replaced"]["state"] == "running" and "repaired" in st
    assert (path / "eval.csv").read_bytes() == eval_before and not (path / "attempts").exists()
    assert sweep_rows(sweep_dir)[0].note == ""


def test_damage_after_the_end_is_reported_and_repaired_from_final_pt(finished, tmp_path, capsys):
    """Issue 26, item 3: an eval.csv cut short or deleted after the run finished is named by status,
    the sweep and the report, and a relaunch restores it from final.pt byte for byte (never
    retraining; the damaged file kept beside); a truncated final.pt is flagged; what cannot be
    repaired is said in one line and left in place."""
    import warnings

    from analysis.errors import ResultsWarning
    from analysis.results import load_results, load_statuses

    root = tmp_path / "runs"
    shutil.copytree(finished, root)
    path = _only_run(root)
    marker = json.loads((path / "done.json").read_text())
    assert marker["final_bytes"] == (path / "final.pt").stat().st_size
    good = (path / "eval.csv").read_bytes()
    (sweep_dir,) = (root / "sweeps").iterdir()
    os.truncate(path / "eval.csv", len(good) - 20)
    (row,) = sweep_rows(sweep_dir)
    rows = marker["eval_rows"]
    assert row.state == "done"
    assert row.note == (
        f"done, but eval.csv is damaged ({rows - 1} of {rows} rows, the last one cut off; done.json's sha256 differs); "
        "a relaunch restores it from final.pt"
    )
    shutil.copytree(path, tmp_path / "other" / path.relative_to(root))  # the report: skipped, saying why
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Exception, match="eval.csv is damaged"):
            load_results(tmp_path / "other")
    assert any("restores it from final.pt" in str(w.message) for w in caught if w.category is ResultsWarning)
    (status_row,) = load_statuses(tmp_path / "other").itertuples()
    assert status_row.state == "done" and status_row.eval_rows == 0 and "eval.csv is damaged" in status_row.error

    capsys.readouterr()
    assert sweep_mod.main(_sweep(root)) == 0  # the sweep repairs it (and launches nothing)
    out = capsys.readouterr().out
    assert "restored from final.pt" in out and "0 to launch" in out
    assert (path / "eval.csv").read_bytes() == good and not (path / "attempts").exists()
    (aside,) = path.glob("eval.csv.damaged-*")
    assert aside.read_bytes() == good[:-20]
    assert sweep_rows(sweep_dir)[0].note == ""

    # deleted: harness.run restores it
    (path / "eval.csv").unlink()
    assert "eval.csv is missing (done.json promises" in sweep_rows(sweep_dir)[0].note
    args = [*BASE, *TINY_ALGO, "seed=1", "suite=none", f"runs_dir={root}"]
    assert run_mod.execute(parse_overrides(args))["skipped"]
    assert (path / "eval.csv").read_bytes() == good and "restored from final.pt" in capsys.readouterr().out

    # final.pt truncated: flagged by status; eval.csv damaged too: cannot be restored, said once, left in place
    final = (path / "final.pt").read_bytes()
    os.truncate(path / "final.pt", len(final) - 100)
    assert "final.pt is truncated or damaged" in sweep_rows(sweep_dir)[0].note
    assert run_mod.execute(parse_overrides(args))["skipped"]
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "final.pt" in x]
    assert "final.pt is truncated or damaged" in line and "eval.csv is intact" in line and "not retrained" in line
    (path / "eval.csv").write_bytes(good[:-20])
    before = sorted(p.name for p in path.iterdir())
    assert run_mod.execute(parse_overrides(args))["skipped"]
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "cannot restore" in x]
    assert "final.pt is truncated or damaged" in line and "not retrained" in line
    assert sorted(p.name for p in path.iterdir()) == before and (path / "eval.csv").read_bytes() == good[:-20]

    # a done.json written before it recorded final.pt's size still works (a cheap zip check instead)
    (path / "final.pt").write_bytes(final)
    (path / "done.json").write_text(json.dumps({k: v for k, v in marker.items() if k != "final_bytes"}))
    assert "a relaunch restores it from final.pt" in sweep_rows(sweep_dir)[0].note
    assert run_mod.execute(parse_overrides(args))["skipped"] and (path / "eval.csv").read_bytes() == good

    # nothing damaged but a temporary file a killed write left: the sweep's relaunch removes it
    (path / ".checkpoint.prev.pt.tmp").write_bytes(b"x")
    assert sweep_mod.main(_sweep(root)) == 0 and not list(path.glob(".*.tmp"))


def test_no_temporary_file_is_left_in_a_run_directory(tmp_path):
    """Issue 26, item 6: keeping the previous checkpoint when checkpoint.pt and checkpoint.prev.pt are
    one file (after a resume from the previous one, or a checkpoint write that failed) leaves no
    .checkpoint.prev.pt.tmp; stale temporary files of our own writes are removed, nothing else."""
    rd = RunDir(tmp_path)
    atomic_torch_save({"step": 1}, rd.checkpoint_path)
    rd.keep_previous_checkpoint()  # a checkpoint write that then failed: checkpoint.pt is the previous one
    rd.keep_previous_checkpoint()
    atomic_torch_save({"step": 2}, rd.checkpoint_path)
    os.truncate(rd.checkpoint_path, 10)
    rd.set_aside_unreadable_checkpoint()  # a resume from the previous checkpoint
    rd.keep_previous_checkpoint()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.prev.pt",
        "checkpoint.pt",
        "checkpoint.unreadable.pt",
    ]
    ours = [".checkpoint.prev.pt.tmp", ".eval.csv.k3_9abcd.tmp", ".status.json.a1b2c3d4.tmp", ".final.pt.x1y2z3.tmp"]
    others = [".notes.a1b2c3d4.tmp", ".eval.csv.tmp", "eval.csv.tmp", ".eval.csv.k3_9abcd.tmp.keep", ".eval.csv.A.tmp"]
    (tmp_path / "train").mkdir()
    for name in ours + others:
        (tmp_path / name).write_text("x")
    (tmp_path / "train" / ".train.csv.abcdefgh.tmp").write_text("x")
    assert sorted(p.name for p in rd.remove_stale_tmp()) == sorted([*ours, ".train.csv.abcdefgh.tmp"])
    assert all((tmp_path / name).exists() for name in others) and not list((tmp_path / "train").iterdir())
