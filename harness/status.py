"""Where a sweep or runs stand: ``python -m harness.status DIR [--runs] [--wait] [--interval S] [--json]``.

DIR is ``<runs_dir>/sweeps/<sweep-id>`` (as printed by ``harness.sweep``), or a runs_dir, for
its most recent sweep. A runs_dir without a sweep (its runs made by ``harness.run``), a part of one
(``<runs_dir>/<suite>/<task>``) or one run directory: every run directory found there
(``.../seed_<n>``), in the same table; ``--runs`` lists those also where there are sweeps.

One line per run: its state, progress in environment steps, its latest evaluation's return, its job
and how often it was resumed. A run's state combines what the run wrote (``status.json``: running,
interrupted, done, failed) with what the scheduler says about its job (Slurm: ``squeue``, then
``sacct``; local: whether the job's process is alive):

    pending      waiting for its job to start (or for its turn in a local chain; a failed run relaunched
                 with retry_failed=true, until its new job reaches it). Progress of a run waiting
                 to go on: the step it goes on from (its checkpoint's)
    running      training (progress = its last reported step)
    requeued     stopped by a time limit or preemption, checkpointed, waiting to resume
    done         finished; eval.csv is final
    failed       the run raised (traceback in status.json), or its job died (out of memory, node failure)
    cancelled    its job was cancelled (scancel); relaunching the sweep resumes it
    timeout      its job hit the time limit and was not requeued; relaunching resumes it
    interrupted  stopped without a live job (e.g. Ctrl-C, killed); relaunching resumes it
    unreadable   its status.json cannot be read and nothing shows that it finished; relaunching
                 resumes it from its checkpoint (or restarts it; the earlier files are kept)
    not started  never launched, or its job vanished before it started

A finished run whose status.json became unreadable, or says running, interrupted or failed, stays
``done`` (its ``done.json`` marker, written last, or a complete eval.csv says so; done.json wins),
with a note. A done run whose eval.csv no longer matches what done.json promises (row count, sha256),
or whose final.pt is truncated or missing, is named in the note with what a relaunch does about it
(it restores eval.csv from final.pt; it never retrains a finished run). A damaged checkpoint is named in the note, with
what a relaunch will do (resume from the previous checkpoint, or restart from scratch). A run whose
job controller ended but whose worker process still trains is ``running`` (by the worker's pid and
host in status.json). The manifest's run paths are taken relative to the runs_dir that holds the
sweep, so a copied or moved runs_dir still works.

The ``return`` column is the mean return of the run's latest evaluation in eval.csv, at its step.

``--wait`` redraws until every run is in a final state (done, failed, cancelled, timeout,
interrupted, not started) and exits 0 only if all are done.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from harness.cli import ArgumentParser, CliError, command_line, one_line_errors, real_number
from harness.rundir import DONE, RUN_FILES, RunDir, file_problem, format_duration

FINAL = ("done", "failed", "cancelled", "timeout", "interrupted", "unreadable", "not started")
ACTIVE = ("pending", "running", "requeued")
ORDER = (
    "running",
    "requeued",
    "pending",
    "done",
    "failed",
    "cancelled",
    "timeout",
    "interrupted",
    "unreadable",
    "not started",
)

SLURM_PENDING = ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "CONFIGURING")
SLURM_RUNNING = ("RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING")
SLURM_FAILED = ("FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "SPECIAL_EXIT")


# --- manifest ------------------------------------------------------------------------------------
def resolve_sweep_dir(path: str | Path) -> Path:
    path = Path(path)
    if (path / "manifest.json").exists():
        return path
    sweeps = path / "sweeps" if (path / "sweeps").is_dir() else path
    candidates = sorted(sweeps.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(
            f"no sweep manifest and no run directory under {path} (expected <runs_dir>/sweeps/<id>/manifest.json "
            "or <runs_dir>/<suite>/<task>/<algo>/<variant>/seed_<n>)"
        )
    return candidates[-1].parent


class ManifestError(ValueError):
    """manifest.json cannot be read or does not have the shape harness.sweep writes (one line)."""


def load_manifest(sweep_dir: Path) -> dict[str, Any]:
    path = Path(sweep_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise ManifestError(f"{path} is unreadable ({type(exc).__name__}: {text})") from None
    problem = manifest_problem(manifest)
    if problem:
        raise ManifestError(f"{path} has the wrong shape: {problem}")
    return manifest


def manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, expected an object"
    runs = manifest.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and isinstance(r.get("path"), str) for r in runs):
        return "'runs' must be a list of objects with a 'path'"
    launches = manifest.get("launches", [])
    if not isinstance(launches, list) or not all(
        isinstance(la, dict) and isinstance(la.get("jobs", []), list) for la in launches
    ):
        return "'launches' must be a list of objects with a list of 'jobs'"
    for la in launches:
        for job in la.get("jobs", []):
            if not isinstance(job, dict) or not isinstance(job.get("runs", []), list):
                return "each job of 'launches' must be an object with a list of 'runs'"
    return None


def run_path(sweep_dir: Path, manifest: dict[str, Any], run: dict[str, Any]) -> Path:
    """A run's directory: its path in the manifest taken relative to the runs_dir that holds this
    sweep (``<runs_dir>/sweeps/<id>``), so that a copied or moved runs_dir is read where it is now."""
    path = Path(run["path"])
    old_root = manifest.get("runs_dir")
    if not old_root or Path(sweep_dir).absolute().parent.name != "sweeps":
        return path
    try:
        rel = path.relative_to(old_root)
    except ValueError:
        return path
    return Path(sweep_dir).absolute().parent.parent / rel


def latest_jobs(manifest: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """run index -> the job of the most recent launch that included it."""
    out: dict[int, dict[str, Any]] = {}
    for launch in manifest.get("launches", []):
        for job in launch.get("jobs", []):
            for i in job.get("runs", []):
                out[i] = {**job, "kind": launch.get("launcher"), "host": launch.get("host")}
    return out


# --- scheduler ------------------------------------------------------------------------------------
def _run(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _expand(job_id: str, state: str, out: dict[str, str]) -> None:
    """``123_4`` / ``123`` / ``123_[5-7,9%2]`` -> entries of ``out``."""
    if "_[" in job_id:
        main, rest = job_id.split("_[", 1)
        for part in rest.rstrip("]").split("%")[0].split(","):
            lo, _, hi = part.partition("-")
            for k in range(int(lo), int(hi or lo) + 1):
                out.setdefault(f"{main}_{k}", state)
    else:
        out.setdefault(job_id, state)


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Job id (``123`` or ``123_4``) -> Slurm state: squeue for live jobs, sacct for ended ones."""
    mains = sorted({j.split("_")[0] for j in job_ids})
    if not mains:
        return {}
    states: dict[str, str] = {}
    out = _run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(mains)])
    for line in (out or "").splitlines():
        jid, _, state = line.strip().partition("|")
        if jid:
            _expand(jid, state.strip(), states)
    missing = [m for m in mains if any(j.split("_")[0] == m and j not in states for j in job_ids)]
    if missing:
        out = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(missing)])
        for line in (out or "").splitlines():
            jid, _, state = line.strip().partition("|")
            if jid and "." not in jid:
                _expand(jid, state.split()[0] if state.strip() else "UNKNOWN", states)
    return states


def local_state(job: dict[str, Any]) -> str | None:
    """RUNNING if the local job's controller process is alive on this host, ENDED if not, None if
    it ran on another host (cannot tell)."""
    if job.get("host") and job["host"] != socket.gethostname():
        return None
    try:
        pid = int(job["job_id"])
    except (KeyError, ValueError):
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return "ENDED"
    controller = "harness.launchers\0controller" in cmdline or "submitit" in cmdline  # ours, or submitit's own
    if stat.rsplit(")", 1)[-1].split()[0] == "Z" or not controller:
        return "ENDED"  # a zombie, or the pid was reused by something else
    return "RUNNING"


def job_states(jobs: list[dict[str, Any]]) -> dict[tuple[str, str], str | None]:
    out: dict[tuple[str, str], str | None] = {}
    slurm_ids = [str(j["job_id"]) for j in jobs if j.get("kind") == "slurm" and j.get("job_id")]
    sl = slurm_states(slurm_ids) if slurm_ids else {}
    for j in jobs:
        kind, jid = j.get("kind"), str(j.get("job_id", ""))
        if kind == "slurm":
            out[(kind, jid)] = sl.get(jid)
        elif kind == "local":
            out[(kind, jid)] = local_state(j)
    return out


# --- classification --------------------------------------------------------------------------------
def _active(sched: str | None) -> bool:
    return bool(sched) and (sched in SLURM_PENDING or sched in SLURM_RUNNING)


def classify(st: dict[str, Any] | None, job: dict[str, Any] | None, sched: str | None) -> tuple[str, str]:
    """(state, note) of one run from its status.json, its job and the job's scheduler state."""
    s = st.get("state") if st else None
    if s == "done":
        return "done", ""
    jid = (job or {}).get("job_id", "")
    same_job = bool(st and job and (st.get("job") or {}).get("job_id") == jid)
    if s == "failed":
        if job and not same_job and _active(sched):  # relaunched (retry_failed=true): its new job has not reached it
            return "pending", "relaunched after its failure; its new job has not reached it yet"
        return "failed", (st.get("error") or "")[:120]
    ckpt = st.get("checkpoint_step") if st else None
    if sched in SLURM_PENDING:
        if same_job:
            return "requeued", f"resumes from step {ckpt}" if ckpt is not None else "restarts"
        return "pending", f"resumes from step {ckpt}" if ckpt is not None else ""
    if sched in SLURM_RUNNING:
        if s == "running" and (same_job or not job):
            return "running", ""
        if s == "interrupted" and same_job:
            return "requeued", "restarting"
        return "pending", "job started, run not yet" if job and job.get("kind") != "local" else "waits for its turn"
    if sched:
        note = f"resumes from step {ckpt}" if ckpt is not None else "starts afresh"
        if sched.startswith("CANCELLED"):
            return "cancelled", note
        if sched in ("TIMEOUT", "DEADLINE"):
            return "timeout", note
        if sched in SLURM_FAILED:
            return "failed", f"job {sched}"
        if sched == "PREEMPTED":
            return "interrupted", f"preempted, not requeued; {note}"
    if s in ("running", "interrupted"):
        note = f"resumes from step {ckpt}" if ckpt is not None else "starts afresh"
        return "interrupted", (st.get("error") or "no live job") + f"; {note}"
    return "not started", ""


@dataclass
class Row:
    index: int
    label: str
    path: str
    state: str
    step: int
    total_steps: int
    job: str
    resumes: int
    note: str
    eta_s: float | None = None  # a running run's time left at its current rate (status.json)
    last_return: float | None = None  # the mean return of its latest evaluation (eval.csv)
    last_eval_step: int | None = None  # that evaluation's step


def sweep_rows(sweep_dir: Path, manifest: dict[str, Any] | None = None) -> list[Row]:
    manifest = manifest or load_manifest(sweep_dir)
    jobs = latest_jobs(manifest)
    paths = [run_path(sweep_dir, manifest, r) for r in manifest["runs"]]
    read = {i: RunDir(paths[i]).read_status() for i in range(len(paths))}
    statuses = {i: st for i, (st, _) in read.items()}
    queried: list[dict[str, Any]] = list(jobs.values())
    for st in statuses.values():
        if st and isinstance(st.get("job"), dict) and st["job"].get("kind") in ("slurm", "local"):
            queried.append(st["job"])
    sched = job_states(queried)
    rows = []
    for i, run in enumerate(manifest["runs"]):
        st, mjob = statuses[i], jobs.get(i)
        sjob = st.get("job") if st and isinstance(st.get("job"), dict) and st["job"].get("job_id") else None
        ms = sched.get((mjob.get("kind"), str(mjob.get("job_id")))) if mjob else None
        ss = sched.get((sjob.get("kind"), str(sjob.get("job_id")))) if sjob else None
        if _active(ms) or not _active(ss):
            job, state = (mjob, ms) if mjob else (sjob, ss)
        else:
            job, state = sjob, ss
        label = str(run.get("label", run["path"]))
        rows.append(run_row(i, label, paths[i], read[i], job, state, int(run.get("total_steps") or 0)))
    return rows


def run_row(
    index: int,
    label: str,
    path: Path,
    read: tuple[dict[str, Any] | None, str | None],
    job: dict[str, Any] | None,
    sched: str | None,
    planned_steps: int = 0,
) -> Row:
    """One run's row from its status.json (``read``: RunDir.read_status), its job and the job's
    scheduler state, and its directory (done marker, checkpoints, eval.csv)."""
    st, problem = read
    rundir = RunDir(path)
    state, note = classify(st, job, sched)
    state, note = _refine(rundir, st, problem, state, note)
    if state == "running" and not note and st and isinstance(st.get("activity"), str):
        note = st["activity"]  # e.g. "random seed steps (2500)", "first updates 300/2500"
    total = int((st or {}).get("total_steps") or planned_steps or 0)
    last = last_evaluation(rundir)
    return Row(
        index,
        label,
        str(path),
        state,
        max(going_on_from(state, st, rundir), 0),
        total,
        str((job or {}).get("job_id", "")),
        int((st or {}).get("resumes") or 0),
        note,
        _eta(st) if state == "running" else None,
        last[1] if last else None,
        last[0] if last else None,
    )


def last_evaluation(rundir: RunDir) -> tuple[int, float] | None:
    """(step, mean return) of the latest evaluation in the run's eval.csv; None if it has none
    (missing, unreadable, no whole row). A cut-off last line is left out."""
    try:
        text = rundir.eval_path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.endswith("\n"):
        text = text.rpartition("\n")[0]
    returns: dict[int, list[float]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        try:
            returns.setdefault(int(row["step"]), []).append(float(row["return"]))
        except (KeyError, TypeError, ValueError):
            continue
    if not returns:
        return None
    step = max(returns)
    return step, sum(returns[step]) / len(returns[step])


# --- run directories without a sweep -------------------------------------------------------------------
def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory under ``root`` (``root`` itself if it is one): a ``seed_<n>`` directory
    holding a run's file (status.json, config.yaml, eval.csv...); not those under ``sweeps/`` or a
    run's ``attempts/``. Sorted by path."""
    root = Path(root)
    found = []
    for here, dirs, files in os.walk(root):
        path = Path(here)
        if is_run_dir(path.name, files):
            found.append(path)
            dirs.clear()  # a run's own folders (train/, attempts/) hold no other run
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (path == root and d == "sweeps"))
    return sorted(found)


def is_run_dir(name: str, files: list[str]) -> bool:
    return name.startswith("seed_") and name[5:].isdigit() and any(f in RUN_FILES for f in files)


def run_label(path: Path) -> str:
    """``cartpole-balance tdmpc2[default] seed 1`` from ``<suite>/<task>/<algo>/<variant>/seed_<n>``,
    as a sweep labels its runs; the suite first when it is not ``none``."""
    parts = path.absolute().parts
    if len(parts) < 6:
        return str(path)
    suite, task, algo, variant, seed = parts[-5:]
    label = f"{task} {algo}[{variant}] seed {seed[5:]}"
    return label if suite == "none" else f"{suite}: {label}"


def dir_rows(root: str | Path) -> list[Row]:
    """A row for each run directory under ``root`` (find_run_dirs), read as a sweep's runs are: its
    status.json, and its job (from status.json: a Slurm or submitit job, or harness.run's own pid)."""
    paths = find_run_dirs(root)
    read = [RunDir(p).read_status() for p in paths]
    jobs = [_own_job(st) for st, _ in read]
    sched = job_states([j for j in jobs if j])
    rows = []
    for i, (path, job) in enumerate(zip(paths, jobs)):
        state = sched.get((job.get("kind"), str(job.get("job_id")))) if job else None
        rows.append(run_row(i, run_label(path), path, read[i], job, state, _planned_steps(path)))
    return rows


def _own_job(st: dict[str, Any] | None) -> dict[str, Any] | None:
    job = (st or {}).get("job")
    return job if isinstance(job, dict) and job.get("job_id") and job.get("kind") in ("slurm", "local") else None


def _planned_steps(path: Path) -> int:
    """config.yaml's run.steps (for a run whose status.json is missing or unreadable), else 0."""
    try:
        import yaml

        steps = ((yaml.safe_load((path / "config.yaml").read_text()) or {}).get("run") or {}).get("steps")
    except Exception:  # missing, unreadable, not YAML, not a mapping
        return 0
    return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else 0


def going_on_from(label: str, st: dict[str, Any] | None, rundir: RunDir | None = None) -> int:
    """A run's progress in steps: its last step; for a run that waits to go on (pending, requeued,
    interrupted, cancelled, timeout), the step it goes on from, its checkpoint's (0 for a failed run
    relaunched without one), so that a sweep's percentage does not fall when the run resumes. With
    ``rundir``: a damaged checkpoint.pt is not gone on from (the previous checkpoint's step if that
    one is whole, else 0), as the note says (_refine)."""
    step = int((st or {}).get("step") or 0)
    if label not in ("pending", "requeued", "interrupted", "cancelled", "timeout") or not st:
        return step
    ckpt = st.get("checkpoint_step")
    if isinstance(ckpt, int) and not isinstance(ckpt, bool):
        if rundir is not None and rundir.checkpoint_problem(st):
            prev = st.get("previous_checkpoint_step")
            whole = rundir.previous_checkpoint_path.exists() and file_problem(rundir.previous_checkpoint_path) is None
            ckpt = prev if isinstance(prev, int) and not isinstance(prev, bool) and whole else 0
        return max(min(step, ckpt), 0)
    return 0 if st.get("state") == "failed" else step


def _eta(st: dict[str, Any] | None) -> float | None:
    eta = (st or {}).get("eta_s")
    return float(eta) if isinstance(eta, (int, float)) and not isinstance(eta, bool) and eta >= 0 else None


def _refine(rundir: RunDir, st: dict[str, Any] | None, problem: str | None, label: str, note: str) -> tuple[str, str]:
    """What classify cannot see from status.json alone: a done marker behind an unreadable status,
    a live worker whose job controller ended, a damaged checkpoint."""
    if problem:
        evidence = rundir.done_evidence()
        if evidence:
            return "done", _with_damage(rundir, f"{problem}; finished ({evidence})")
        if label == "not started":
            ckpt = "resumes from its checkpoint" if rundir.checkpoint_path.exists() else "starts afresh"
            return "unreadable", f"{problem}; relaunching {ckpt} (earlier files kept under attempts/)"
        return label, f"{problem}; {note}" if note else problem
    if st and st.get("state") != "done" and rundir.done_marker() is not None:  # done.json wins
        return "done", _with_damage(rundir, f"done ({DONE}; status.json said {st.get('state')}; a relaunch repairs it)")
    if label == "done":
        return "done", _with_damage(rundir, note)
    if label == "interrupted" and st and st.get("state") == "running" and _worker_alive(st.get("job")):
        job = st["job"]
        if not job.get("job_id"):  # started by harness.run itself: no job controller, its own process trains
            return "running", ""
        return "running", f"worker pid {job['pid']} on {job['host']} still trains (its job controller ended)"
    if (
        st
        and label in ("interrupted", "cancelled", "timeout", "requeued", "pending", "failed")
        and (st.get("checkpoint_step") is not None)
    ):
        bad = rundir.checkpoint_problem(st)
        if bad:
            prev = st.get("previous_checkpoint_step")
            if prev is not None and rundir.previous_checkpoint_path.exists():
                if file_problem(rundir.previous_checkpoint_path) is None:
                    return label, f"{bad}; resumes from the previous checkpoint at step {prev}"
            return label, f"{bad}; restarts from scratch (step 0)"
    if st and st.get("restart_reason") and label == "running":
        return label, f"restarted: {st['restart_reason']}"[:160]
    return label, note


def _with_damage(rundir: RunDir, note: str) -> str:
    """A done run's note with what is damaged since it finished (RunDir.finished_damage), if anything."""
    damage = rundir.finished_damage()
    if not damage:
        return note
    return f"{note}; {damage}" if note else f"done, but {damage}"


def _worker_alive(job: Any) -> bool:
    """True if ``job`` (status.json's) names a live, non-zombie Python process on this host."""
    if not isinstance(job, dict) or job.get("host") != socket.gethostname():
        return False
    try:
        pid = int(job["pid"])
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (KeyError, TypeError, ValueError, OSError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and "python" in cmdline


def counts(rows: list[Row]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r.state] = out.get(r.state, 0) + 1
    return {k: out[k] for k in ORDER if k in out}


def summary_line(rows: list[Row]) -> str:
    c = ", ".join(f"{v} {k}" for k, v in counts(rows).items())
    steps = sum(r.step for r in rows)
    total = sum(r.total_steps for r in rows)
    pct = f" | {100 * steps / total:.0f}% of known steps" if total else ""
    running = [r for r in rows if r.state == "running"]
    known = all(r.eta_s is not None for r in running)  # a run in its seed steps has no ETA yet
    eta = f" | running runs end in {format_duration(max(r.eta_s for r in running))}" if running and known else ""
    return f"[{time.strftime('%H:%M:%S')}] {len(rows)} runs: {c}{pct}{eta}"


def format_table(rows: list[Row]) -> str:
    head = ["#", "run", "state", "progress", "return", "job", "resumed", "note"]
    body = []
    for r in rows:
        prog = f"{r.step}/{r.total_steps} ({100 * r.step / r.total_steps:.0f}%" if r.total_steps else "-"
        if r.total_steps:
            prog += f", ETA {format_duration(r.eta_s)})" if r.eta_s is not None else ")"
        ret = f"{r.last_return:.1f} @{r.last_eval_step}" if r.last_return is not None else "-"
        body.append([str(r.index), r.label, r.state, prog, ret, r.job or "-", str(r.resumes), r.note])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    widths[-1] = len(head[-1])
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    return "\n".join(lines)


def all_final(rows: list[Row]) -> bool:
    return all(r.state in FINAL for r in rows)


def watch(
    sweep_dir: Path,
    interval: float = 10.0,
    timeout: float | None = None,
    live: bool | None = None,
    before_poll=None,
    out=sys.stdout,
    rows_of: Callable[[Path], list[Row]] | None = None,
) -> list[Row]:
    """Poll until every run is final; redraw the table on a terminal, else print a line per change.
    ``rows_of``: how to read the rows (default: sweep_rows; dir_rows for run directories)."""
    live = out.isatty() if live is None else live
    start, last = time.time(), ""
    while True:
        if before_poll:
            before_poll()
        rows = (rows_of or sweep_rows)(sweep_dir)
        line = summary_line(rows)
        if live:
            out.write("\033[2J\033[H" + format_table(rows) + "\n\n" + line + "\n")
            out.flush()
        elif line.split("] ", 1)[1] != last:
            print(line, file=out, flush=True)
            last = line.split("] ", 1)[1]
        if all_final(rows):
            return rows
        if timeout is not None and time.time() - start > timeout:
            what = "sweep" if rows_of is None else "runs under"
            raise TimeoutError(f"{what} {sweep_dir} not finished after {timeout:.0f}s: {line}")
        time.sleep(interval)


def what_to_show(path: Path, runs: bool) -> tuple[Path, Callable[[Path], list[Row]] | None, str]:
    """(the directory, how to read its rows: None for a sweep's, dir_rows for run directories, the
    title line): a sweep (``path`` or a runs_dir's latest), else the run directories under ``path``;
    ``runs``: the run directories even where there are sweeps. FileNotFoundError if neither."""
    if not runs:
        try:
            sweep_dir = resolve_sweep_dir(path)
            return sweep_dir, None, f"sweep {sweep_dir}"
        except FileNotFoundError:
            if not find_run_dirs(path):
                raise
        return path, dir_rows, f"runs under {path} (no sweep manifest: every run directory found there)"
    if not find_run_dirs(path):
        raise FileNotFoundError(f"no run directory under {path} (expected <suite>/<task>/<algo>/<variant>/seed_<n>)")
    return path, dir_rows, f"runs under {path} (every run directory found there)"


@command_line(doc=None)  # argparse prints the help
def main(argv: list[str]) -> int:
    parser = ArgumentParser(  # harness.cli's: its errors are one line
        prog="python -m harness.status", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "sweep_dir",
        metavar="DIR",
        help="<runs_dir>/sweeps/<id>; a runs_dir (its latest sweep; without one, its run directories); "
        "a part of a runs_dir or one run directory",
    )
    parser.add_argument("--runs", action="store_true", help="the run directories under DIR, also where it holds sweeps")
    parser.add_argument("--wait", action="store_true", help="block until every run is in a final state")
    parser.add_argument(
        "--interval", type=real_number(0.01, 86_400), default=10.0, help="seconds between polls with --wait"
    )
    parser.add_argument(
        "--timeout", type=real_number(0, 1e9), default=None, help="give up waiting after this many seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    with one_line_errors(FileNotFoundError, ManifestError):
        sweep_dir, rows_of, title = what_to_show(Path(args.sweep_dir), args.runs)
        if rows_of is None:
            load_manifest(sweep_dir)
    if args.interval <= 0:
        raise CliError(f"bad value {args.interval} for --interval: must be positive")
    if args.timeout is not None and args.timeout < 0:
        raise CliError(f"bad value {args.timeout} for --timeout: must not be negative")
    if args.wait:
        with one_line_errors(TimeoutError, status=3):
            quiet = open(os.devnull, "w") if args.json else sys.stdout
            live = sys.stdout.isatty() and not args.json
            rows = watch(sweep_dir, args.interval, args.timeout, live=live, out=quiet, rows_of=rows_of)
    else:
        rows = (rows_of or sweep_rows)(sweep_dir)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print(title)
        print(format_table(rows))
        print(summary_line(rows))
        failed = [r for r in rows if r.state == "failed"]
        for r in failed:
            print(f"  failed: {r.label}: see {r.path}/status.json (traceback)")
    if args.wait:
        return 0 if all(r.state == "done" for r in rows) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
