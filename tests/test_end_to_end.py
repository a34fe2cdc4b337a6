"""End to end: a tiny sweep through submitit's debug launcher, then the rliable report."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.report import main as report_main
from harness.sweep import main as sweep_main
from tests.helpers import TINY_ALGO

TINY_RUN = ["steps=300", "eval_every=150", "eval_episodes=1", "eval_at_start=false", "log_every=100", *TINY_ALGO]


HEAD = (
    subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    or "unknown"
)


def _runs(root: Path):
    return sorted(root.glob("*/*/*/*/seed_*"))


@pytest.mark.slow
def test_tiny_sweep_then_report(tmp_path):
    runs_dir = tmp_path / "runs"
    args = [
        "suite=dmc-smoke",
        "task=[cartpole-balance,reacher-easy]",
        "algo=[tdmpc2]",
        "seeds=2",
        "launcher=debug",
        f"runs_dir={runs_dir}",
        *TINY_RUN,
    ]
    assert sweep_main(args) == 0
    runs = _runs(runs_dir)
    assert len(runs) == 4
    for run in runs:
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "done" and status["step"] == 300
        rows = list(csv.DictReader((run / "eval.csv").open()))
        assert sorted({int(r["step"]) for r in rows}) == [150, 300]
        assert len(rows) == 2  # 2 evals x 1 episode (test_resume.py has evaluations of 2)
        for r in rows:
            assert float(r["score"]) == pytest.approx(float(r["return"]) / 10)
            assert 0 < int(r["length"]) == 500
        git = yaml.safe_load((run / "config.yaml").read_text())["git"]
        assert git["commit"] == HEAD and isinstance(git["dirty"], bool)  # the code behind the numbers
        assert list((run / "train").rglob("*.csv")), "TorchRL CSV logger wrote nothing"
    # the run directory is a function of the run's identity
    parts = runs[0].relative_to(runs_dir).parts
    assert parts[:3] == ("dmc-smoke", "cartpole-balance", "tdmpc2") and parts[4] == "seed_1"
    assert parts[3].startswith("batch_size=32,model.enc_dim=64")  # the overridden algorithm fields
    assert len({r.parent.name for r in runs}) == 1  # one variant, named the same for every run

    # relaunching skips finished runs and changes nothing
    before = {p: p.stat().st_mtime_ns for p in runs_dir.rglob("eval.csv")}
    assert sweep_main(args) == 0
    assert before == {p: p.stat().st_mtime_ns for p in runs_dir.rglob("eval.csv")}

    out = tmp_path / "report"
    assert report_main([str(runs_dir), "--out", str(out), "--reps", "500"]) == 0
    agg = list(csv.DictReader((out / "aggregates.csv").open()))
    assert {r["metric"] for r in agg} >= {"iqm", "median", "mean", "optimality_gap"}
    for r in agg:
        assert float(r["ci_low"]) <= float(r["value"]) + 1e-9 <= float(r["ci_high"]) + 2e-9
    assert (out / "sample_efficiency.png").stat().st_size > 1000
    assert "IQM" in (out / "report.md").read_text() or "iqm" in (out / "report.md").read_text()
    assert HEAD in (out / "report.html").read_text()  # each run's commit, as recorded by the harness


def test_failed_run_is_marked_failed_not_done(tmp_path, monkeypatch):
    import harness.run as run_mod

    def boom(*a, **k):
        raise RuntimeError("simulated crash in training")

    monkeypatch.setattr(run_mod, "train", boom)
    with pytest.raises(RuntimeError):
        run_mod.execute(
            {"task": "cartpole-balance", "algo": "tdmpc2", "runs_dir": str(tmp_path), "steps": 10}, verbose=False
        )
    (run,) = _runs(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed"
    assert "simulated crash" in status["error"] and "Traceback" in status["traceback"]
    # a new attempt keeps the failed one's files
    monkeypatch.setattr(run_mod, "train", lambda *a, **k: [])
    run_mod.execute(
        {"task": "cartpole-balance", "algo": "tdmpc2", "runs_dir": str(tmp_path), "steps": 10}, verbose=False
    )
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    archived = json.loads((run / "attempts" / "1" / "status.json").read_text())
    assert archived["state"] == "failed"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["task=cartpole-balanse"], "unknown task 'cartpole-balanse'"),
        (["algo=tdmcp2"], "unknown algorithm 'tdmcp2'"),
        (["stepz=10"], "unknown config key 'stepz'"),
        (["algo.planner.num_sample=5"], "unknown config key 'algo.planner.num_sample'"),
        (["steps=many"], "bad value 'many' for steps"),
        (["device=tpu"], "bad device"),
        (["just-a-word"], "expected key=value"),
    ],
)
def test_bad_input_fails_at_once_with_one_line(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing written: not even runs/ in the working directory
    from harness.run import main as run_main

    assert run_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_sweep_input(tmp_path, capsys):
    proc = subprocess.run(
        [sys.executable, "-m", "harness.sweep", "suite=dmc-smok", f"runs_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "unknown suite 'dmc-smok'; valid:" in proc.stderr and "dmc-smoke" in proc.stderr
    # the same path in this process (the subprocess above shows `python -m` exits with its code)
    assert sweep_main(["suite=dmc-smoke", "launcher=slurmm", f"runs_dir={tmp_path}"]) == 2
    assert "unknown launcher 'slurmm'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
