"""launcher=slurm against a real Slurm cluster (tools/slurm/start_cluster.sh starts one on this machine).

Skipped with a reason when no cluster answers; with MBDPO_REQUIRE_SLURM=1 (set by .ci/run) they fail
instead, so that CI cannot pass without having run them.
"""

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from analysis.report import main as report_main
from harness.status import sweep_rows, watch
from harness.sweep import main as sweep_main
from tests.helpers import TINY_ALGO

pytestmark = pytest.mark.slurm

JOB = ["threads_per_run=1", "slurm.cpus_per_task=1", "slurm.mem_gb=2", "slurm.job_name=mbdpo-test"]


def _cluster_problem() -> str | None:
    for tool in ("sinfo", "sbatch", "srun", "sacct", "scontrol"):
        if not shutil.which(tool):
            return f"Slurm client '{tool}' not installed (start a local cluster: tools/slurm/start_cluster.sh)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20).stdout
        nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout.split()
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"Slurm not answering ({exc})"
    if "UP" not in ping:
        return "no Slurm controller is up (start one: tools/slurm/start_cluster.sh)"
    if not any(s.rstrip("*~#") in ("idle", "mixed", "allocated", "completing") for s in nodes):
        return f"no usable Slurm node (states: {nodes})"
    if acct.returncode != 0:
        return "Slurm accounting (sacct) unavailable: cancelled jobs could not be told apart from lost ones"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    problem = _cluster_problem()
    if problem:
        if os.environ.get("MBDPO_REQUIRE_SLURM") == "1":
            pytest.fail(f"MBDPO_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)


def _sweep_dir(runs_dir: Path) -> Path:
    (d,) = (runs_dir / "sweeps").iterdir()
    return d


def _manifest(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "manifest.json").read_text())


def _wait_rows(sweep_dir: Path, predicate, timeout: float, what: str, seen: set | None = None):
    end = time.time() + timeout
    while time.time() < end:
        rows = sweep_rows(sweep_dir)
        if seen is not None:
            seen.update(r.state for r in rows)
        if predicate(rows):
            return rows
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {[(r.index, r.state, r.step) for r in rows]}")


def test_array_sweep_cancel_one_task_then_relaunch(tmp_path):
    runs_dir = tmp_path / "runs"
    # long enough that the victim cannot finish between scancel and its SIGKILL (KillWait, set in
    # tools/slurm/start_cluster.sh): at 300 steps a fast machine finished it first (CI, stop 17)
    steps = 1000
    args = [
        "task=[cartpole-balance,reacher-easy]",
        "seeds=2",
        "launcher=slurm",
        f"runs_dir={runs_dir}",
        *JOB,
        "slurm.array_parallelism=2",
        "slurm.timeout_min=10",
        f"steps={steps}",
        f"eval_every={steps}",
        "eval_episodes=1",
        "eval_at_start=false",
        "log_every=50",
        *TINY_ALGO,
    ]
    t = time.time()
    assert sweep_main(args) == 0
    assert time.time() - t < 60, "submission must return at once"
    sweep_dir = _sweep_dir(runs_dir)
    (launch,) = _manifest(sweep_dir)["launches"]
    assert len({j["array_job_id"] for j in launch["jobs"]}) == 1, "one array job per sweep"
    assert [j["array_task_id"] for j in launch["jobs"]] == [0, 1, 2, 3]
    assert [j["runs"] for j in launch["jobs"]] == [[0], [1], [2], [3]]

    # cancel array task 1 while its run trains
    seen: set = set()
    _wait_rows(sweep_dir, lambda rows: rows[1].state == "running" and rows[1].step >= 50, 180, "run 1 training", seen)
    victim = launch["jobs"][1]["job_id"]
    subprocess.run(["scancel", victim], check=True)
    rows = _wait_rows(sweep_dir, lambda rows: rows[1].state == "cancelled", 120, "run 1 shown as cancelled", seen)
    assert "pending" in seen and "running" in seen

    # relaunch at once: the others (queued, running or done) are left alone, only the cancelled one is submitted
    assert sweep_main(args) == 0
    launches = _manifest(sweep_dir)["launches"]
    assert len(launches) == 2 and [j["runs"] for j in launches[1]["jobs"]] == [[1]]
    rows = watch(sweep_dir, interval=2, timeout=300, live=False)
    assert [r.state for r in rows] == ["done"] * 4, [(r.state, r.note) for r in rows]

    # a third launch finds nothing to do and changes nothing
    before = {p: p.stat().st_mtime_ns for p in runs_dir.rglob("eval.csv")}
    assert sweep_main(args) == 0
    assert _manifest(sweep_dir)["launches"][2]["jobs"] == []
    assert before == {p: p.stat().st_mtime_ns for p in runs_dir.rglob("eval.csv")}

    # nothing ran twice to completion; the cancelled attempt is kept, not overwritten
    for r in rows:
        path = Path(r.path)
        st = json.loads((path / "status.json").read_text())
        assert st["state"] == "done" and st["step"] == steps
        assert len(list(csv.DictReader((path / "eval.csv").open()))) == 1
        attempts = sorted((path / "attempts").glob("*/status.json")) if (path / "attempts").exists() else []
        if r.index == 1:
            assert len(attempts) == 1 and json.loads(attempts[0].read_text())["state"] == "running"
            assert st["job"]["job_id"] == launches[1]["jobs"][0]["job_id"]
        else:
            assert attempts == []
    state = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "State", "-j", victim], capture_output=True, text=True
    ).stdout
    assert state.startswith("CANCELLED"), state

    # and the sweep is reported: 2 tasks x 2 seeds at the last step
    out = tmp_path / "report"
    assert report_main([str(runs_dir), "--out", str(out), "--reps", "200"]) == 0
    per_task = list(csv.DictReader((out / "per_task.csv").open()))
    assert {r["task"] for r in per_task} == {"cartpole-balance", "reacher-easy"}
    assert "tdmpc2" in (out / "aggregates.csv").read_text()


def test_time_limit_requeues_and_resumes_exactly(tmp_path):
    """timeout_min=2: Slurm sends SIGUSR2 100 s before the limit, the run checkpoints at its next
    episode end, submitit requeues the job, the run resumes; its result equals an uninterrupted run's."""
    common = [
        "task=cartpole-balance",
        "seed=1",
        "launcher=slurm",
        *JOB,
        "steps=3000",  # 6 episodes: a quiet machine runs 1500 steps within the 20 s before SIGUSR2
        "eval_every=1500",
        "eval_episodes=1",
        "eval_at_start=false",
        "log_every=100",
        "checkpoint_every=500",
        *TINY_ALGO,
    ]
    limited, reference = tmp_path / "limited", tmp_path / "reference"
    # SIGUSR2 about 20 s into each job; the run then has up to 75 s (harness.sweep.grace_seconds) to
    # reach its episode end (500 steps); a loaded 2-core CI machine needs about 50 s for one episode
    assert sweep_main([*common, f"runs_dir={limited}", "slurm.timeout_min=2", "slurm.signal_delay_s=100"]) == 0
    assert sweep_main([*common, f"runs_dir={reference}", "slurm.timeout_min=30"]) == 0
    seen: set = set()
    (row,) = _wait_rows(
        _sweep_dir(limited),
        lambda rows: rows[0].state in ("done", "failed", "cancelled", "timeout"),
        900,
        "the time-limited run to end",
        seen,
    )
    assert row.state == "done", row
    assert row.resumes >= 1 and "requeued" in seen, (row, seen)
    (ref,) = watch(_sweep_dir(reference), interval=2, timeout=300, live=False)
    assert ref.state == "done" and ref.resumes == 0
    got, want = Path(row.path, "eval.csv").read_text(), Path(ref.path, "eval.csv").read_text()
    assert got == want
    job_id = _manifest(_sweep_dir(limited))["launches"][0]["jobs"][0]["job_id"]

    def history() -> list[str]:
        return subprocess.run(
            ["sacct", "--duplicates", "-X", "-n", "-P", "-o", "State", "-j", job_id.split("_")[0]],
            capture_output=True,
            text=True,
        ).stdout.split()

    # the run's own files say done at once; accounting (slurmdbd) records the job's end a little later
    end = time.time() + 60
    while time.time() < end and history()[-1:] != ["COMPLETED"]:
        time.sleep(2)
    assert "REQUEUED" in history() and history()[-1] == "COMPLETED", history()
