"""Sweeps: ``python -m harness.sweep suite=dmc-smoke algo=[tdmpc2] seeds=3 steps=20000``.

Expands (task x algorithm x seed) into runs and executes them through submitit:
``launcher=local`` (default; subprocesses, at most ``max_parallel`` at once) or ``launcher=debug``
(in this process, for tests). Runs already done are skipped; every other key is passed to each run
(``steps=...``, ``algo.model.size=1`` ...).

Sweep-only keys: suite, task (one or a list, instead of a suite), algo (one or a list),
seeds (N -> seeds 1..N) or seed (one or a list), launcher, max_parallel, threads_per_run.
"""
from __future__ import annotations

import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from configs.suites import UnknownNameError, get_suite
from harness.config import ConfigError, parse_value, resolve_run, split_overrides
from harness.rundir import RunDir, atomic_write_text, now, run_dir
from harness.run import execute

LAUNCHERS = ("local", "debug")
SWEEP_KEYS = ("suite", "task", "algo", "seeds", "seed", "launcher", "max_parallel", "threads_per_run")


@dataclass
class PlannedRun:
    overrides: dict[str, Any]
    path: Path
    label: str


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def expand(overrides: dict[str, Any]) -> tuple[list[PlannedRun], dict[str, Any]]:
    """The grid of runs (validated) and the sweep-level settings."""
    opts = {k: overrides[k] for k in SWEEP_KEYS if k in overrides}
    common = {k: v for k, v in overrides.items() if k not in SWEEP_KEYS}
    suite = opts.get("suite")
    if "task" in opts:
        tasks = [str(t) for t in _as_list(opts["task"])]
    elif suite is not None:
        try:
            tasks = list(get_suite(str(suite)).tasks)
        except UnknownNameError as exc:
            raise ConfigError(str(exc)) from None
    else:
        raise ConfigError("a sweep needs suite=NAME or task=[...]")
    algos = [str(a) for a in _as_list(opts.get("algo", "tdmpc2"))]
    if "seed" in opts:
        seeds = [int(s) for s in _as_list(opts["seed"])]
    else:
        n = int(opts.get("seeds", 1))
        if n < 1:
            raise ConfigError(f"bad value {n!r} for seeds; expected a positive number of seeds")
        seeds = list(range(1, n + 1))
    launcher = str(opts.get("launcher", "local"))
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {launcher!r}; valid: {', '.join(LAUNCHERS)}")
    runs = []
    for task, algo, seed in itertools.product(tasks, algos, seeds):
        ov = {**common, "task": task, "algo": algo, "seed": seed, "suite": suite or "none"}
        if "threads_per_run" in opts:
            ov["threads"] = int(opts["threads_per_run"])
        r = resolve_run(ov)  # fails at once on a bad name, key or value
        path = run_dir(r.run.runs_dir, r.run.suite, task, algo, r.variant, seed)
        runs.append(PlannedRun(ov, path, f"{task} {algo}[{r.variant}] seed {seed}"))
    settings = {"launcher": launcher, "max_parallel": int(opts.get("max_parallel", 2))}
    return runs, settings


def _progress_line(runs: list[PlannedRun]) -> str:
    counts: dict[str, int] = {}
    steps = total = 0
    for r in runs:
        st = RunDir(r.path).status() or {}
        counts[st.get("state", "pending")] = counts.get(st.get("state", "pending"), 0) + 1
        steps += max(int(st.get("step", 0)), 0) if st.get("state") != "done" else int(st.get("total_steps", 0))
        total += int(st.get("total_steps", 0)) or 0
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    pct = f" | {100 * steps / total:.0f}% of started runs' steps" if total else ""
    return f"[{time.strftime('%H:%M:%S')}] {parts}{pct}"


def launch(runs: list[PlannedRun], settings: dict[str, Any], sweep_dir: Path) -> dict[str, int]:
    todo = [r for r in runs if RunDir(r.path).state() != "done"]
    skipped = len(runs) - len(todo)
    print(f"sweep: {len(runs)} runs, {skipped} already done, {len(todo)} to run ({settings['launcher']} launcher)")
    if settings["launcher"] == "debug":
        executor: submitit.Executor = submitit.DebugExecutor(folder=sweep_dir / "submitit")
    else:
        executor = submitit.LocalExecutor(folder=sweep_dir / "submitit")
        executor.update_parameters(timeout_min=7 * 24 * 60)
    failed = 0
    pending = list(todo)
    active: list[tuple[PlannedRun, submitit.Job]] = []
    max_parallel = max(1, settings["max_parallel"]) if settings["launcher"] == "local" else 1
    last_print = 0.0
    while pending or active:
        while pending and len(active) < max_parallel:
            r = pending.pop(0)
            active.append((r, executor.submit(execute, r.overrides, False)))
        for r, job in list(active):
            if job.done():
                active.remove((r, job))
                try:
                    res = job.result()
                    print(f"  done    {r.label}: final score {res.get('final_score', float('nan')):.1f}")
                except Exception as exc:
                    failed += 1
                    first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                    print(f"  FAILED  {r.label}: {first[:200]} (see {r.path}/status.json)")
        if time.time() - last_print > 30 and (pending or active):
            print(_progress_line(runs), flush=True)
            last_print = time.time()
        if active:
            time.sleep(0.5)
    done = sum(RunDir(r.path).state() == "done" for r in runs)
    print(f"sweep finished: {done}/{len(runs)} done, {failed} failed")
    return {"runs": len(runs), "done": done, "failed": failed, "skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        overrides = {k: parse_value(v) for k, v in split_overrides(argv).items()}
        runs, settings = expand(overrides)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs_dir = Path(str(overrides.get("runs_dir", "runs")))
    sweep_dir = runs_dir / "sweeps" / time.strftime("%Y%m%d-%H%M%S")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"created": now(), "argv": argv, "runs": [{"path": str(r.path), "overrides": r.overrides} for r in runs]}
    atomic_write_text(sweep_dir / "manifest.json", json.dumps(manifest, indent=1, default=str) + "\n")
    summary = launch(runs, settings, sweep_dir)
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
