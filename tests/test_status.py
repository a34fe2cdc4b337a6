"""harness.status on run directories without a sweep (a runs_dir made by harness.run): every run
found, in the sweep's table, with its state, progress, latest return and damage; one line when a
directory holds neither a sweep nor a run. In-process, on synthetic run directories (no training)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile

import harness.status as status_mod
from harness.rundir import RunDir
from tests.helpers import write_run


def _set_status(run, **fields):
    st = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**st, **fields}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # ended and reaped: no process has it now (a reuse within the test is unlikely)


def _runs(root):
    """Five runs of a runs_dir made by harness.run, and files that are not runs."""
    here = socket.gethostname()
    done = write_run(root, "cartpole-balance", "tdmpc2", 1, {0: [1.0, 3.0], 3000: [50.0, 70.0]}, suite="none")
    live = write_run(root, "cartpole-balance", "mbdpo", 1, {0: [2.0]}, suite="none", state="running")
    _set_status(live, step=1200, job={"host": here, "pid": os.getpid()})  # this python process: alive
    dead = write_run(root, "cartpole-balance", "mbdpo", 2, {0: [2.0]}, suite="none", state="running")
    _set_status(dead, step=900, checkpoint_step=500, job={"host": here, "pid": _dead_pid()})
    with zipfile.ZipFile(dead / "checkpoint.pt", "w") as z:  # whole, as torch.save writes (a zip archive)
        z.writestr("data.pkl", b"x")
    broken = write_run(root, "cartpole-balance", "random", 1, {0: [3.5]}, suite="none")
    (broken / "status.json").write_text('{"state"')
    damaged = write_run(root, "cup-catch", "tdmpc2", 1, {0: [1.0], 3000: [9.0]}, suite="dmc-smoke")
    RunDir(damaged).write_done_marker()
    with open(damaged / "eval.csv", "a") as f:  # a row after the end, and a cut-off line (not read)
        f.write("dmc-smoke,cup-catch,tdmpc2,default,1,3000,1,500.0,500,50.0,\ndmc-smoke,cup-catch,tdm")
    # not runs: a sweep's folder, a run's own attempts/ and train/, a seed_ folder with no run file
    (root / "sweeps" / "s-1").mkdir(parents=True)
    (done / "attempts" / "seed_1").mkdir(parents=True)
    (done / "attempts" / "seed_1" / "status.json").write_text('{"state": "failed"}')
    (root / "none" / "cartpole-balance" / "sac" / "default" / "seed_1").mkdir(parents=True)
    return done, live, dead, broken, damaged


def test_status_shows_the_runs_of_a_runs_dir_without_a_sweep(tmp_path, capsys):
    root = tmp_path / "runs"
    done, live, dead, broken, damaged = _runs(root)
    assert status_mod.find_run_dirs(root) == sorted([done, live, dead, broken, damaged])
    assert status_mod.main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "(no sweep manifest: every run directory found there)" in out.splitlines()[0]
    rows = {r.path: r for r in status_mod.dir_rows(root)}
    row = rows[str(done)]
    assert (row.label, row.state, row.note, row.step, row.total_steps, row.last_eval_step, row.last_return) == (
        "cartpole-balance tdmpc2[default] seed 1",
        "done",
        "",
        3000,
        3000,
        3000,
        600.0,  # write_run's returns are 10x its scores: mean of 500 and 700
    )
    assert (rows[str(live)].state, rows[str(live)].step) == ("running", 1200)
    assert rows[str(live)].note == ""  # harness.run's own process trains: no job controller to speak of
    _set_status(live, job={"host": socket.gethostname(), "pid": os.getpid(), "kind": "local", "job_id": "1"})
    (row,) = [r for r in status_mod.dir_rows(root) if r.path == str(live)]  # a submitit job whose controller ended
    assert row.state == "running" and row.note.endswith("still trains (its job controller ended)"), row
    assert (rows[str(dead)].state, rows[str(dead)].step) == ("interrupted", 500)  # it goes on from its checkpoint
    assert "resumes from step 500" in rows[str(dead)].note
    (dead / "checkpoint.pt").write_bytes(b"PK cut")  # damaged: the relaunch restarts, and so does its progress
    (row,) = [r for r in status_mod.dir_rows(root) if r.path == str(dead)]
    assert (row.state, row.step) == ("interrupted", 0) and "restarts from scratch (step 0)" in row.note
    assert rows[str(broken)].state == "unreadable" and "status.json unreadable" in rows[str(broken)].note
    assert rows[str(broken)].last_return == 35.0
    bad = rows[str(damaged)]
    assert bad.label == "dmc-smoke: cup-catch tdmpc2[default] seed 1" and bad.state == "done"
    assert "eval.csv is damaged" in bad.note
    assert (bad.last_eval_step, bad.last_return) == (3000, 295.0)  # the appended row counts, the cut line not
    for r in rows.values():  # the table shows each run once, with its return
        assert out.count(r.label + " ") == 1, out
    assert "600.0 @3000" in out and "5 runs: 1 running, 2 done, 1 interrupted, 1 unreadable" in out
    # one part of the runs_dir, and one run directory
    assert status_mod.main([str(root / "dmc-smoke"), "--json"]) == 0
    assert [r["label"] for r in json.loads(capsys.readouterr().out)] == [bad.label]
    assert status_mod.main([str(done), "--wait", "--json"]) == 0  # done: --wait returns at once, exit 0
    assert [r["state"] for r in json.loads(capsys.readouterr().out)] == ["done"]


def test_status_prefers_a_sweep_and_lists_runs_on_request(tmp_path, capsys):
    root = tmp_path / "runs"
    done, *_ = _runs(root)
    sweep = root / "sweeps" / "s-1"
    (sweep / "manifest.json").write_text(json.dumps({"runs": [{"path": str(done), "label": "mine"}], "launches": []}))
    assert status_mod.main([str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sweep {sweep}\n") and "1 runs: 1 done" in out and "600.0 @3000" in out
    assert status_mod.main([str(root), "--runs"]) == 0
    assert "5 runs:" in capsys.readouterr().out


def test_status_of_a_directory_with_neither_a_sweep_nor_a_run_is_one_line(tmp_path, capsys):
    (tmp_path / "empty" / "none" / "task" / "algo" / "default" / "seed_1").mkdir(parents=True)  # no run file
    (tmp_path / "a-file").write_text("x\n")
    for path, extra, needle in [
        (tmp_path / "empty", [], "no sweep manifest and no run directory under"),
        (tmp_path / "missing", [], "no sweep manifest and no run directory under"),
        (tmp_path / "a-file", [], "no sweep manifest and no run directory under"),
        (tmp_path / "empty", ["--runs"], "no run directory under"),
    ]:
        assert status_mod.main([str(path), *extra]) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert len(err.splitlines()) == 1 and needle in err and str(path) in err, err
        assert "Traceback" not in err and captured.out == ""
    assert not (tmp_path / "missing").exists()
