"""One run: ``python -m harness.run algo=tdmpc2 task=cartpole-balance seed=1 steps=20000``.

Writes the resolved config, the eval table and a status marker into the run directory
(docs/results-format.md). A run already marked done is skipped, never overwritten; the files of an
earlier unfinished attempt are kept under ``attempts/<k>/``.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from harness.config import ConfigError, parse_value, resolve_run, split_overrides
from harness.metric_logger import make_metric_logger
from harness.rundir import RunDir, run_dir
from harness.train import train


def run_path_for(overrides: dict[str, Any]) -> Path:
    r = resolve_run(overrides)
    return run_dir(r.run.runs_dir, r.run.suite, r.run.task, r.run.algo, r.variant, r.run.seed)


def execute(overrides: dict[str, Any], verbose: bool = True) -> dict[str, Any]:
    """Run (or skip) one configured run; returns {"state", "path", "final_score"}. Used by the sweep."""
    resolved = resolve_run(overrides)
    run = resolved.run
    path = run_dir(run.runs_dir, run.suite, run.task, run.algo, resolved.variant, run.seed)
    rundir = RunDir(path)
    if rundir.state() == "done":
        if verbose:
            print(f"[skip] {path} is already done")
        return {"state": "done", "path": str(path), "skipped": True}
    previous = rundir.archive_previous_attempt()
    if previous and verbose:
        print(f"[keep] earlier attempt moved to {previous}")
    path.mkdir(parents=True, exist_ok=True)
    rundir.write_config(resolved.to_dict())
    rundir.write_status("running", 0, run.steps)
    name = f"{run.task}-{run.algo}-{resolved.variant}-s{run.seed}"
    log = make_metric_logger(run.logger, path, name)

    def progress(step: int) -> None:
        rundir.write_status("running", step, run.steps)
        if verbose:
            print(f"[{name}] step {step}/{run.steps}", flush=True)

    try:
        rows = train(resolved, rundir, log=log, progress=progress)
    except BaseException as exc:  # recorded, then re-raised: a failed run never looks finished
        rundir.write_status("failed", -1, run.steps, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        raise
    rundir.write_status("done", run.steps, run.steps)
    last = [r for r in rows if r["step"] == run.steps]
    final = sum(r["score"] for r in last) / max(len(last), 1)
    if verbose:
        print(f"[done] {name}: final score {final:.1f} ({path})")
    return {"state": "done", "path": str(path), "final_score": final, "skipped": False}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        overrides = {k: parse_value(v) for k, v in split_overrides(argv).items()}
        resolve_run(overrides)  # fail fast on a bad key, name or value
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    execute(overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
