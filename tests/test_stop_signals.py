"""Signals end harness.run and harness.evaluate in one line, never a traceback, with nothing
half-written (harness.stop): in-process checks of the handler's phases, then real processes of a
tiny run (resumed, SIGTERM then SIGINT: stop at once, exit 130, the checkpoint kept; a signal while
torch loads: exit 130, nothing written) and of an evaluation of its checkpoint (SIGINT: exit 130,
no eval.csv)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import stop
from harness.evaluate import DEFAULT_THREADS, parse_request
from harness.training.trainer import slow_cpu_hint
from tests.helpers import signal_handlers_kept, stopped_run, stopped_run_args

ROOT = Path(__file__).resolve().parents[1]
#: exit 130; or killed by SIGINT, which a shell also shows as 130 (harness.stop while torch loads; and
#: CPython ends that way when a KeyboardInterrupt has passed through some C code, e.g. while the
#: trainer builds its envs)
INTERRUPTED = (130, -signal.SIGINT)


def _kill_self(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.01)  # the handler runs in the main thread at the next bytecode


def test_handler_phases_in_process():
    with signal_handlers_kept():
        try:
            # a run: the first SIGTERM asks for a checkpoint, the second raises, a third is let pass
            stop.install_stop_handlers("prog", "checkpointing")
            _kill_self(signal.SIGTERM)
            assert stop.stop_requested()
            with pytest.raises(KeyboardInterrupt):
                _kill_self(signal.SIGINT)
            _kill_self(signal.SIGTERM)  # while the outcome is recorded: no second KeyboardInterrupt
            assert stop.signals_received() == ["SIGTERM", "SIGINT", "SIGTERM"]
            assert stop.stopped_at_once_line("x").startswith("stopped at once (SIGTERM, then SIGINT): x")
            stop.clear_stop()

            # an evaluation: the first Ctrl-C raises; once leaving, nothing raises
            stop.install_stop_handlers("prog")
            with pytest.raises(KeyboardInterrupt):
                _kill_self(signal.SIGINT)
            stop.install_stop_handlers("prog")
            stop.leaving()
            _kill_self(signal.SIGINT)
            assert stop.stopped_at_once_line("y") == "stopped at once (SIGINT): y"

            # SIGUSR2 only asks; a Preempted (the checkpoint is saved) ends the work: no raise after it
            stop.install_stop_handlers("prog", "checkpointing")
            _kill_self(signal.SIGUSR2)
            assert stop.stop_requested()
            stop.Preempted(500)
            _kill_self(signal.SIGTERM)
        finally:
            stop.clear_stop()


def test_evaluate_default_threads_and_the_slow_cpu_hint():
    assert DEFAULT_THREADS == 1 and parse_request(["checkpoint=x"]).threads == 1
    assert parse_request(["checkpoint=x", "threads=0"]).threads == 0  # torch's default, as for harness.run
    line = slow_cpu_hint("cpu", "", 1.2, 500, 10)
    assert "1.2 s" in line and "10 min" in line and "preset=laptop" in line and "\n" not in line
    assert slow_cpu_hint("cpu", "laptop", 1.2, 500, 10) is None  # a preset: no hint
    assert slow_cpu_hint("cuda", "", 1.2, 500, 10) is None
    assert slow_cpu_hint("cpu", "", 0.05, 500, 10) is None  # 25 s: not worth a line


def _catches_sigterm(pid: int) -> bool:
    """The process has installed its SIGTERM handler (harness.stop_while_starting)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        pass
    return False


def _wait(predicate, proc, what: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _status(path: Path) -> dict:
    try:
        return json.loads((path / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to see the handler installed")
def test_a_signal_while_torch_loads_is_one_line_and_writes_nothing(tmp_path):
    proc = _start(["harness.run", "task=cartpole-balance", "threads=1", f"runs_dir={tmp_path / 'runs'}"])
    _wait(lambda: _catches_sigterm(proc.pid), proc, "the handler", timeout=60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in INTERRUPTED, err
    assert err.strip() == "stopped at once (SIGINT): harness.run had not started; nothing written"
    assert not (tmp_path / "runs").exists()


def test_run_and_evaluate_stop_in_one_line(tmp_path):
    # a run stopped at its first episode end, as by a first SIGTERM (in this process: cheaper)
    runs = tmp_path / "runs"
    path = stopped_run(runs, "cartpole-balance", 1, "none")
    run = ["harness.run", *stopped_run_args(runs, "cartpole-balance", 1, "none")]

    # 1. resumed, then SIGTERM and SIGINT: stop at once, exit 130; the checkpoint stays for the next resume
    proc = _start(run)
    _wait(lambda: _status(path).get("resumes") == 1 and _status(path).get("state") == "running", proc, "the resume")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in INTERRUPTED, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped at once (SIGTERM, then SIGINT): no checkpoint written now; run the same command")
    assert "again to resume from step 500" in last
    st = _status(path)
    assert st["state"] == "interrupted" and st["checkpoint_step"] == 500 and "KeyboardInterrupt" in st["error"]
    assert (path / "checkpoint.pt").exists() and _leftovers(runs) == []

    # 2. an evaluation of that checkpoint, Ctrl-C while it evaluates: exit 130, one line, no eval.csv
    out = tmp_path / "evaluations"
    proc = _start(["harness.evaluate", f"checkpoint={path}", "episodes=1", f"out={out}"])
    _wait(lambda: any(_status(p).get("state") == "running" for p in out.rglob("seed_1")), proc, "the evaluation")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in INTERRUPTED, err
    (line,) = err.strip().splitlines()
    assert line.startswith("stopped at once (SIGINT): ") and "not evaluated (no eval.csv written)" in line
    assert not list(out.rglob("eval.csv")) and _leftovers(out) == []
    assert [_status(p)["state"] for p in out.rglob("seed_1")] == ["interrupted"]
