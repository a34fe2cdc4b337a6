"""One run: ``python -m harness.run algo=tdmpc2 task=cartpole-balance seed=1 steps=20000``.

Writes the resolved config, the eval table and a status marker into the run directory
(docs/results-format.md). A run already marked done is skipped, never overwritten. A run with a
``checkpoint.pt`` (interrupted, preempted, timed out, or failed after a checkpoint) resumes from it
and ends exactly as if it had never stopped; otherwise the files of an earlier unfinished attempt
are kept under ``attempts/<k>/`` and the run starts afresh. SIGUSR2 (Slurm's warning before a time
limit), Ctrl-C or SIGTERM (``timeout``) save a checkpoint at the next episode end and exit with status 3;
a second Ctrl-C or SIGTERM stops at once (status 130; the run resumes from its last checkpoint), as
does a signal while the program starts (nothing written). Each ends in one line (harness.stop).

``--show-config`` prints the resolved configuration, each value with the layer that set it
(defaults, configs/algos/*.yaml, the algorithm's changes, preset, mode, command line), and exits;
``--show-config=algo.planner`` only the fields under that key. Nothing is written.
"""

from __future__ import annotations

import harness.stop_while_starting  # noqa: F401  (first: a signal while torch loads ends in one line)

# isort: split

import dataclasses
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from harness import checkpoint_file as ckpt_mod
from harness import finished_run, stop
from harness.checkpoint_file import CheckpointError
from harness.cli import FAILED, INTERRUPTED, command_line, disk_full_errors, one_line_errors
from harness.code_version import code_version
from harness.config import ConfigError, ResolvedRun, RunConfig, algo_defaults, check_runs_dir, parse_overrides
from harness.data.errors import DatasetError
from harness.modes import get_mode
from harness.resolve import SHOW_CONFIG, resolve_run, show_config
from harness.rundir import (
    CHECKPOINT,
    DONE,
    PREVIOUS_CHECKPOINT,
    RunBusyError,
    RunDir,
    RunStatus,
    atomic_write_text,
    job_identity,
)
from harness.training.metric_logger import make_metric_logger
from harness.training.trainer import Trainer, train

#: a Slurm job requeued this many times in a row from the same checkpoint, each time ending before it
#: wrote a newer one, fails instead of being requeued again (it would loop until max_requeues)
MAX_STALLED_REQUEUES = 3


class StalledRunError(RuntimeError):
    """The run's job keeps being requeued without getting past its checkpoint."""


def stalled_requeues(previous: dict[str, Any], job: dict[str, Any], start: int | None) -> int:
    """How many requeues in a row of this same Slurm job resumed from checkpoint step ``start`` and
    ended without a newer checkpoint (``previous``: the last attempt's status.json; 0 if that attempt
    was another job, a fresh start, or got further). A relaunch is a new job and starts from 0."""
    same_job = job.get("kind") == "slurm" and (previous.get("job") or {}).get("job_id") == job.get("job_id")
    if start is None or not same_job or previous.get("resumed_from") != start:
        return 0
    if previous.get("checkpoint_step") != start:
        return 0
    return int(previous.get("stalled_requeues") or 0) + 1


#: run fields that may differ between the attempt that wrote a checkpoint and the one resuming it
RESUME_FREE_KEYS = ("runs_dir", "device", "threads", "logger", "log_every", "checkpoint_every")


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    # a field added to RunConfig or to the algorithm's config after the checkpoint was written
    # counts as its default there, so an upgrade does not turn every unfinished run into a fresh start
    run = {**dataclasses.asdict(RunConfig()), **config.get("run", {})}
    run = {k: v for k, v in run.items() if k not in RESUME_FREE_KEYS}
    algo = config.get("algo")
    if isinstance(algo, dict):
        try:
            algo = with_defaults(OmegaConf.to_container(algo_defaults(run["algo"])), algo)
        except Exception:  # an algorithm no longer registered: compared as written
            pass
    return {"run": run, "variant": config.get("variant"), "algo": algo}


def with_defaults(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with the keys it lacks (at any depth) taken from ``defaults``."""
    out = dict(given)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = with_defaults(value, out[key])
    return out


def _resumable_checkpoint(rundir: RunDir, resolved: ResolvedRun, say) -> tuple[dict[str, Any] | None, str | None]:
    """(the checkpoint to resume from, why the latest one was not used): checkpoint.pt if it is
    readable and was written by the same configuration, else checkpoint.prev.pt (the one before it)
    if that is; (None, why) when the run must start afresh, (None, None) when it never had one."""
    if not rundir.checkpoint_path.exists() and not rundir.previous_checkpoint_path.exists():
        return None, None
    state, problem = (None, f"{CHECKPOINT} is missing")
    if rundir.checkpoint_path.exists():
        state, problem = ckpt_mod.read_or_problem(rundir.checkpoint_path)
    if state is not None and _comparable(state["run"]) != _comparable(resolved.to_dict()):
        diff = _config_diff(_comparable(state["run"]), _comparable(resolved.to_dict()))
        say(
            f"[warn] the checkpoint in {rundir.path} was written with another configuration ({diff}); "
            "starting afresh (the earlier attempt is kept under attempts/)"
        )
        return None, f"the checkpoint was written with another configuration ({diff})"
    if state is not None:
        return state, None
    if rundir.previous_checkpoint_path.exists():
        prev, prev_problem = ckpt_mod.read_or_problem(rundir.previous_checkpoint_path)
        if prev is not None and _comparable(prev["run"]) == _comparable(resolved.to_dict()):
            say(f"[warn] {rundir.path}: {problem}; resuming from the previous checkpoint (step {prev['step']})")
            rundir.set_aside_unreadable_checkpoint()
            return prev, f"{problem}; resumed from the previous checkpoint at step {prev['step']}"
        problem += f", and so is {PREVIOUS_CHECKPOINT}" if prev is None else f"; {PREVIOUS_CHECKPOINT} does not fit"
    say(f"[warn] {rundir.path}: {problem}; starting afresh (the earlier attempt is kept under attempts/)")
    return None, f"{problem}; restarted from scratch"


def _config_diff(a: dict, b: dict, prefix: str = "") -> str:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            sub = _config_diff(va, vb, f"{prefix}{k}.")
            if sub:
                out.append(sub)
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return ", ".join(out[:5])


def truncate_train_logs(train_dir: Path, step: int) -> None:
    """Drop CSV training metrics logged after a checkpoint at ``step`` (an interrupted attempt's tail),
    so that a resumed run's logs hold each step once. Evaluation rows at ``step`` come after it."""
    if not train_dir.exists():
        return
    for path in train_dir.rglob("*.csv"):
        is_eval = "eval" in path.relative_to(train_dir).parts[:-1] or path.stem.startswith("eval")
        keep = []
        for line in path.read_text().splitlines(keepends=True):
            try:
                s = int(float(line.split(",", 1)[0]))
            except ValueError:
                keep.append(line)  # a header or anything else we do not understand: keep it
                continue
            if s < step or (s == step and not is_eval):
                keep.append(line)
        atomic_write_text(path, "".join(keep))


def built_config(config: dict[str, Any], trainer: Trainer) -> dict[str, Any]:
    """config.yaml once the agent exists: its parameter count (the scaling report reads it), and for
    a fine-tuned run where its weights came from (checkpoint path, its run's config and commit)."""
    out = {**config, "num_parameters": trainer.agent.num_parameters()}
    if getattr(trainer, "source", None):
        out["pretrained"] = trainer.source
    return out


def execute(overrides: dict[str, Any] | ResolvedRun, verbose: bool = True, lock_wait_s: float = 0.0) -> dict[str, Any]:
    """Run, resume or skip one configured run (parsed overrides, or the run they resolve to);
    returns {"state", "path", "final_score", ...}.

    Raises :class:`~harness.stop.Preempted` when a stop was requested (the checkpoint is
    saved; status "interrupted"), :class:`~harness.rundir.RunBusyError` when another live process
    works on the same run (after waiting ``lock_wait_s`` for it to end), and re-raises any training
    error after recording it (status "failed"; harness.rundir.RunStatus)."""
    resolved = overrides if isinstance(overrides, ResolvedRun) else resolve_run(overrides)
    run = resolved.run
    path = resolved.path
    rundir = RunDir(path)
    say = print if verbose else (lambda *a, **k: None)
    if rundir.state() == "done":
        return _skip_done(rundir, say)
    job = job_identity()
    with rundir.lock(owner=job, wait_s=lock_wait_s):
        if rundir.state() == "done":  # finished by another process while we waited for nothing
            return _skip_done(rundir, say, locked=True)
        rundir.remove_stale_tmp()  # of a process that died mid-write (only our own temporary files)
        previous, status_problem = rundir.read_status()
        previous = previous or {}
        if status_problem:
            say(f"[warn] {path}: {status_problem}; the run did not finish (no {DONE}), so it is resumed or restarted")
        resume, restart_reason = _resumable_checkpoint(rundir, resolved, say)
        if resume is None:
            archived = rundir.archive_previous_attempt()
            if archived:
                say(f"[keep] earlier attempt moved to {archived}")
            resumes = 0
            start = 0
        else:
            resumes = int(previous.get("resumes", 0)) + 1
            start = int(resume["step"])
            truncate_train_logs(path / "train", start)
            say(f"[resume] {path} from its checkpoint at step {start}/{run.steps}")
        stalled = stalled_requeues(previous, job, start if resume else None)
        path.mkdir(parents=True, exist_ok=True)
        config = {**resolved.to_dict(), "git": code_version()}
        rundir.write_config(config)
        name = f"{run.task}-{run.algo}-{resolved.variant}-s{run.seed}"
        status = RunStatus(
            rundir,
            run.steps,
            start,
            label=name,
            say=say,
            checkpoint_step=start if resume else None,
            resumes=resumes,
            job=job,
            restart_reason=restart_reason,
            resumed_from=start if resume else None,
            stalled_requeues=stalled,
        )
        with status:
            if stalled >= MAX_STALLED_REQUEUES:
                raise StalledRunError(
                    f"requeued {stalled} times in a row from its checkpoint at step {start} without reaching a "
                    "newer one: each job ends before the run reaches its next episode end, where checkpoints "
                    "are taken. Give the jobs more time (slurm.timeout_min, or a longer warning "
                    f"slurm.signal_delay_s), then relaunch the sweep: it resumes from step {start}"
                )
            log = make_metric_logger(run.logger, path, name)
            hooks = {
                "log": log,
                "progress": status.progress,
                "on_checkpoint": status.checkpointed,
                # the parameter count goes into config.yaml (the report's scaling figure reads it)
                "on_built": lambda t: rundir.write_config(built_config(config, t)),
            }
            rows = train(resolved, rundir, resume_from=resume, trainer=get_mode(run.mode).trainer, **hooks)
        rundir.remove_checkpoints()  # the result is final; its last state (replay buffer too) is in final.pt
        rundir.remove_stale_tmp()
    last_rows = [r for r in rows if r["step"] == run.steps]
    final = sum(r["score"] for r in last_rows) / max(len(last_rows), 1)
    say(f"[done] {name}: final score {final:.1f} ({path})")
    return {
        "state": "done",
        "path": str(path),
        "final_score": final,
        "skipped": False,
        "resumed_from": start if resume else None,
    }


def _skip_done(rundir: RunDir, say, locked: bool = False) -> dict[str, Any]:
    _, problem = rundir.read_status()
    conflict = rundir.done_status_conflict()
    if conflict:
        say(f"[skip] {rundir.path} is done ({DONE}; {conflict}); nothing retrained")
    elif problem:
        say(f"[skip] {rundir.path} is done ({rundir.done_evidence()}), but its {problem}; nothing retrained")
    else:
        say(f"[skip] {rundir.path} is already done")
    final = None if rundir.eval_damage() else rundir.final_problem()
    if final:  # (with eval.csv damaged too, restore_eval_table says it)
        say(f"[warn] {rundir.path}: {final}; eval.csv is intact; a finished run is not retrained")
    if locked:
        finished_run.repair(rundir, say)
    else:
        finished_run.repair_if_needed(rundir.path, say)
    return {"state": "done", "path": str(rundir.path), "skipped": True}


#: printed at the first Ctrl-C or SIGTERM (then the run stops at its next episode end)
CHECKPOINT_LINE = "\n[stop] checkpointing at the end of this episode (Ctrl-C again to stop at once)"


def stopped_at_once(rundir: RunDir) -> str:
    """The last line of a run stopped at once: where a rerun resumes from."""
    st = rundir.status() or {}
    if st.get("checkpoint_step") is not None:
        return (
            f"no checkpoint written now; run the same command again to resume from step {st['checkpoint_step']} "
            f"({rundir.path})"
        )
    if rundir.state() == "done":
        return f"the run had finished ({rundir.path})"
    return f"no checkpoint yet; run the same command again to start afresh ({rundir.path})"


@command_line(__doc__)
def main(argv: list[str]) -> int:
    stop.install_stop_handlers("harness.run", CHECKPOINT_LINE)  # harness.stop: what each signal does
    try:
        return _main(argv)
    except KeyboardInterrupt:  # stopped at once while the config was resolved
        stop.leaving()
        print(stop.stopped_at_once_line("the run had not started; nothing written"), file=sys.stderr)
        return INTERRUPTED
    finally:
        stop.leaving()


def _main(argv: list[str]) -> int:
    show = [a for a in argv if a == SHOW_CONFIG or a.startswith(SHOW_CONFIG + "=")]
    argv = [a for a in argv if a not in show]
    with one_line_errors(ConfigError, ValueError):
        resolved = resolve_run(parse_overrides(argv))  # fails fast on a bad key, name or value
        if show:
            print(show_config(resolved, show[-1].partition("=")[2]))
            return 0
        check_runs_dir(Path(resolved.run.runs_dir))
    if stop.stop_requested():  # a signal while resolving the config: nothing written yet
        print(stop.stopped_at_once_line("the run had not started; nothing written"), file=sys.stderr)
        return INTERRUPTED
    # one line each: another process in the run directory (exit 2, nothing touched); a dataset that
    # fails its deeper checks or a full disk inside the run (status.json says failed, exit 1)
    try:
        with one_line_errors(RunBusyError), one_line_errors(CheckpointError, DatasetError, status=FAILED):
            with disk_full_errors(resolved.path):
                execute(resolved)  # Preempted: "stopped: ...", exit 3 (harness.cli)
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: status.json says interrupted
        stop.leaving()
        print(stop.stopped_at_once_line(stopped_at_once(RunDir(resolved.path))), file=sys.stderr)
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
