"""Fault campaign: tiny runs of all three modes (online; offline on a dataset exported from tiny
online runs; fine-tune of a tiny finished offline run), exports, evaluations and reports under
kill -9 (worker, controller, sweep) at several points, SIGTERM, Ctrl-C once and twice, a full disk
(a small tmpfs; root) on every write path, two identical launches at once, and damage after the end.
After each fault the same command is relaunched (and the disk grown back) until the runs are done,
and the result is compared with an uninterrupted run of the same config.

    python -m tools.faults.faults --out DIR [--quick] [--only ID_OR_PREFIX ...] [--work DIR]

Columns: ``lost`` (a run not done, or its eval.csv missing, after the relaunches), ``duplicated``
(an evaluation step twice in eval.csv, a finished run trained again, a run submitted twice),
``differing`` (eval.csv or the exported dataset / evaluation / report not equal byte for byte to
the uninterrupted one), ``leftovers`` (``*.tmp`` files left), ``console_traceback`` (a Python
traceback on any console), ``untruthful_status`` (status / sweep / report saying what is not so),
and a note. Writes ``DIR/faults.csv`` and ``DIR/faults.md``. One process tree at a time, threads=1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.faults.common import (
    FINETUNE,
    OFFLINE,
    ONLINE,
    SUITE,
    Background,
    Result,
    can_mount,
    commit,
    counts,
    eval_steps,
    fixtures,
    grow_tmpfs,
    has_traceback,
    kill_mentioning,
    processes_mentioning,
    py,
    read_json,
    run,
    run_dirs,
    say,
    select_cases,
    sha,
    show,
    tmp_files,
    tmpfs,
    wait_for,
    write_table,
)

TRAINING_TIMEOUT = 300  # one launch of a tiny run, generously
ENOSPC_NAMED = re.compile(r"no space left on device:? \(?(in )?/", re.I)  # the message names a path


# ----------------------------------------------------------------------------- the runs
@dataclass
class Ctx:
    work: Path
    fx: object
    case: Path = Path()
    refs: dict = field(default_factory=dict)
    consoles: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    untruthful: list[str] = field(default_factory=list)

    @property
    def dataset(self) -> Path:
        return self.work / "dataset"  # the same path for every case (a fresh copy each time)


def mode_args(ctx: Ctx, mode: str) -> list[str]:
    if mode == "online":
        return list(ONLINE)
    if mode == "offline":
        return [*OFFLINE, f"dataset={ctx.dataset}"]
    return [*FINETUNE, f"checkpoint={ctx.fx.offline}"]


def run_cmd(ctx: Ctx, mode: str, runs: Path) -> list[str]:
    return py("harness.run", *mode_args(ctx, mode), "seed=1", f"runs_dir={runs}")


def sweep_cmd(ctx: Ctx, mode: str, runs: Path, *extra: str) -> list[str]:
    args = [a for a in mode_args(ctx, mode) if not a.startswith("task=")]
    if mode != "offline":
        args.append("task=[cartpole-balance]")
    return py("harness.sweep", *args, "seeds=1", "launcher=local", "max_parallel=1", f"runs_dir={runs}", *extra)


def fresh_dataset(ctx: Ctx) -> None:
    shutil.rmtree(ctx.dataset, ignore_errors=True)
    shutil.copytree(ctx.fx.dataset, ctx.dataset)


def reference(ctx: Ctx, mode: str, how: str) -> dict:
    """An uninterrupted run of ``mode`` through ``how`` (run or sweep): its runs_dir and eval.csv."""
    key = (mode, how)
    if key not in ctx.refs:
        runs = ctx.work / "references" / f"{mode}-{how}"
        if not (runs / ".complete").exists():
            shutil.rmtree(runs, ignore_errors=True)
            fresh_dataset(ctx)
            cmd = run_cmd(ctx, mode, runs) if how == "run" else sweep_cmd(ctx, mode, runs)
            say(f"[reference {mode} {how}] {show(cmd)}")
            res = run(cmd, timeout=TRAINING_TIMEOUT * 2)
            if res.rc != 0:
                raise SystemExit(f"the reference run failed:\n{res.console[-3000:]}")
            (runs / ".complete").write_text("")
        (path,) = run_dirs(runs)
        ctx.refs[key] = {"runs": runs, "eval": (path / "eval.csv").read_bytes(), "rel": path.relative_to(runs)}
    return ctx.refs[key]


def console_of(ctx: Ctx, res: Result | Background, cmd: list[str] | None = None) -> str:
    text = res.console if isinstance(res, Result) else res.console()
    ctx.consoles.append(text)
    ctx.commands.append(show(cmd or res.cmd))
    return text


def full_disk_console(ctx: Ctx, res: Result, cmd: list[str], note: str) -> None:
    """A command that met a full disk: keep its console and a note; its console must name the path."""
    console_of(ctx, res, cmd)
    ctx.notes.append(note)
    if not ENOSPC_NAMED.search(res.console):
        ctx.untruthful.append("the console does not say 'no space left on device: PATH'")


def the_run(runs: Path) -> Path | None:
    found = run_dirs(runs)
    return found[0] if found else None


def status_of(runs: Path) -> dict:
    path = the_run(runs)
    return read_json(path / "status.json") if path else {}


def running(runs: Path) -> bool:
    st = status_of(runs)
    return st.get("state") == "running" and (st.get("step") or 0) > 0


def has_checkpoint(runs: Path) -> bool:
    path = the_run(runs)
    return bool(path and (path / "checkpoint.pt").exists() and status_of(runs).get("state") == "running")


def at_step(runs: Path, fraction: float, total: int) -> bool:
    return (status_of(runs).get("step") or 0) >= fraction * total


def finishing(runs: Path) -> bool:
    path = the_run(runs)
    return bool(path and ((path / "final.pt").exists() or (path / "done.json").exists()))


def worker_pid(runs: Path) -> int | None:
    """The process training the run: the pid its status.json names (submitit's job process)."""
    pid = (status_of(runs).get("job") or {}).get("pid")
    return pid if isinstance(pid, int) and Path(f"/proc/{pid}").exists() else None


def controller_pid(runs: Path) -> int | None:
    for pid, cmd in processes_mentioning(str(runs)).items():
        if "harness.launchers controller" in cmd:
            return pid
    return None


def settle(ctx: Ctx, timeout: float = 180) -> None:
    """Wait until no process of this case is left (a killed sweep's jobs finish their runs), then
    kill what is still there."""
    if not wait_for(lambda: not processes_mentioning(str(ctx.case)), timeout, poll=0.5):
        ctx.notes.append(f"processes still alive {timeout:.0f} s after the fault, killed")
    kill_mentioning(str(ctx.case))


def relaunch(ctx: Ctx, cmd: list[str], runs: Path, times: int = 3) -> None:
    """Launch ``cmd`` until its run is done (at most ``times``), watching that its progress never
    goes back below where it resumed."""
    for _attempt in range(times):
        start = status_of(runs).get("checkpoint_step") or 0
        bg = Background(cmd, ctx.case / f"relaunch-{len(ctx.consoles)}.log")
        lowest = None
        t0 = time.monotonic()
        while bg.alive() and time.monotonic() - t0 < TRAINING_TIMEOUT:
            st = status_of(runs)
            if st.get("state") == "running" and isinstance(st.get("step"), int):
                lowest = st["step"] if lowest is None else min(lowest, st["step"])
            time.sleep(0.3)
        rc = bg.wait(timeout=5)
        console_of(ctx, bg)
        bg.stop()
        if rc is None:
            ctx.notes.append("a relaunch ran past its time limit")
        if lowest is not None and start and lowest < start:
            ctx.untruthful.append(f"progress showed step {lowest} after resuming from step {start}")
        settle(ctx, 60)
        if status_of(runs).get("state") == "done":
            break


def check_run(ctx: Ctx, runs: Path, ref: dict, expected_rows: int | None = None) -> dict:
    """The columns for one run after its relaunches."""
    path = the_run(runs)
    out = {"lost": "no", "duplicated": "no", "differing": "no"}
    if path is None or not (path / "eval.csv").exists() or status_of(runs).get("state") != "done":
        out["lost"] = f"yes (state {status_of(runs).get('state')!r})"
        out["differing"] = "n/a"
        return out
    steps = eval_steps(path / "eval.csv")
    ref_steps = eval_steps_bytes(ref["eval"])
    if len(steps) > len(ref_steps):
        out["duplicated"] = f"yes ({len(steps)} eval rows, uninterrupted {len(ref_steps)})"
    if (path / "eval.csv").read_bytes() != ref["eval"]:
        out["differing"] = "yes"
    if len(runs_of(runs)) > 1:
        out["duplicated"] = f"yes ({len(runs_of(runs))} run directories)"
    return out


def eval_steps_bytes(data: bytes) -> list[int]:
    import csv

    try:
        return [int(r["step"]) for r in csv.DictReader(data.decode().splitlines())]
    except (ValueError, KeyError):
        return []


def runs_of(runs: Path) -> list[Path]:
    return run_dirs(runs)


def finish_row(ctx: Ctx, fault, base: dict, leftovers_root: Path) -> dict:
    left = tmp_files(leftovers_root)
    row = {
        "id": fault.id,
        "mode": fault.mode,
        "process": fault.process,
        "fault": fault.what,
        "lost": base.get("lost", "no"),
        "duplicated": base.get("duplicated", "no"),
        "differing": base.get("differing", "no"),
        "leftovers": ", ".join(left) if left else "no",
        "console_traceback": "yes" if any(has_traceback(c) for c in ctx.consoles) else "no",
        "untruthful_status": "; ".join(ctx.untruthful) if ctx.untruthful else "no",
        "note": "; ".join(ctx.notes),
        "commands": " ;; ".join(ctx.commands)[:2000],
    }
    bad = [c for c in ("lost", "duplicated", "differing", "leftovers", "console_traceback", "untruthful_status")]
    row["outcome"] = "ok" if all(str(row[c]).startswith(("no", "n/a")) for c in bad) else "FAIL"
    return row


# ----------------------------------------------------------------------------- fault kinds
def signal_fault(ctx: Ctx, fault, mode: str, how: str, when: str, target: str, sigs: tuple[int, ...]) -> dict:
    """Start the run (``how``: run or sweep), wait for ``when``, send ``sigs`` to ``target``
    (run: the harness.run process; sweep, worker, controller), then relaunch and compare."""
    ref = reference(ctx, mode, how)
    runs = ctx.case / "runs"
    fresh_dataset(ctx)
    cmd = run_cmd(ctx, mode, runs) if how == "run" else sweep_cmd(ctx, mode, runs)
    total = 1000 if mode != "offline" else 40
    bg = Background(cmd, ctx.case / "first.log")
    conditions: dict[str, Callable[[], bool]] = {
        "early": lambda: running(runs) and not (the_run(runs) / "checkpoint.pt").exists(),
        "after-ckpt": lambda: has_checkpoint(runs),
        "late": lambda: at_step(runs, 0.9, total) and status_of(runs).get("state") == "running",
        "finishing": lambda: finishing(runs),
    }
    hit = wait_for(
        lambda: conditions[when]() or not bg.alive(), TRAINING_TIMEOUT, poll=0.05 if when == "finishing" else 0.2
    )
    st = status_of(runs)
    pid = {"run": bg.pid, "sweep": bg.pid, "worker": worker_pid(runs), "controller": controller_pid(runs)}[target]
    if not hit or not bg.alive() or pid is None:
        ctx.notes.append(f"the fault point '{when}' was not reached (the {target} had ended; state {st.get('state')})")
    else:
        ctx.notes.append(f"{'+'.join(signal.Signals(s).name for s in sigs)} to the {target} at step {st.get('step')}")
        for i, s in enumerate(sigs):
            if i:
                time.sleep(0.7)
            with_suppress_kill(pid, s)
    rc = bg.wait(timeout=TRAINING_TIMEOUT if signal.SIGKILL not in sigs else 90)
    console_of(ctx, bg, cmd)
    ctx.notes.append(f"exit {rc}")
    settle(ctx)
    st = status_of(runs)
    if st.get("state") == "running" and not processes_mentioning(str(ctx.case)) and how == "sweep":
        rows = run(py("harness.status", str(runs)), timeout=60)
        console_of(ctx, rows)
        if " running " in f" {rows.out} ":
            ctx.untruthful.append("harness.status says running with no process alive")
    if signal.SIGKILL not in sigs and st.get("state") == "running" and not processes_mentioning(str(ctx.case)):
        ctx.untruthful.append(f"status.json says running after the {target} ended")
    if signal.SIGINT in sigs and how == "sweep" and st.get("state") == "done" and rc == 130:
        ctx.untruthful.append("Ctrl-C: the sweep said interrupted (exit 130) though the run completed")
    relaunch(ctx, cmd, runs)
    return finish_row(ctx, fault, check_run(ctx, runs, ref), runs)


def with_suppress_kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def two_at_once(ctx: Ctx, fault, mode: str, how: str) -> dict:
    ref = reference(ctx, mode, how)
    runs = ctx.case / "runs"
    fresh_dataset(ctx)
    cmd = run_cmd(ctx, mode, runs) if how == "run" else sweep_cmd(ctx, mode, runs)
    a, b = Background(cmd, ctx.case / "a.log"), Background(cmd, ctx.case / "b.log")
    rcs = (a.wait(TRAINING_TIMEOUT), b.wait(TRAINING_TIMEOUT))
    for p in (a, b):
        console_of(ctx, p, cmd)
    ctx.notes.append(f"exits {rcs[0]} and {rcs[1]}")
    settle(ctx)
    if how == "sweep":
        jobs = submitted_jobs(runs)
        if jobs > 1:
            ctx.notes.append(f"the run was submitted {jobs} times")
    relaunch(ctx, cmd, runs)
    base = check_run(ctx, runs, ref)
    if how == "sweep" and submitted_jobs(runs) > 1 and base["duplicated"] == "no":
        base["duplicated"] = f"submitted {submitted_jobs(runs)} times (the lock kept one)"
    return finish_row(ctx, fault, base, runs)


def submitted_jobs(runs: Path) -> int:
    import json

    n = 0
    for manifest in (runs / "sweeps").glob("*/manifest.json"):
        try:
            for launch in json.loads(manifest.read_text()).get("launches", []):
                n += sum(len(job.get("runs", [])) for job in launch.get("jobs", []))
        except (OSError, ValueError):
            pass
    return n


def disk_full_runs(ctx: Ctx, fault, mode: str, how: str, size: int | None = None) -> dict:
    """runs_dir on a tmpfs too small for the first checkpoint; then the disk is grown and the run
    relaunched (a sweep with retry_failed=true)."""
    ref = reference(ctx, mode, how)
    runs = ctx.case / "runs"
    fresh_dataset(ctx)
    final_size = (ref["runs"] / ref["rel"] / "final.pt").stat().st_size
    size = size or max(64 * 1024, final_size // 2)
    cmd = run_cmd(ctx, mode, runs) if how == "run" else sweep_cmd(ctx, mode, runs)
    with tmpfs(runs, f"{size // 1024}k"):
        res = run(cmd, timeout=TRAINING_TIMEOUT)
        settle(ctx, 30)
        st = status_of(runs)
        note = f"full disk: exit {res.rc}, state {st.get('state')!r}, error {st.get('error')!r}"
        full_disk_console(ctx, res, cmd, note)
        if st and (st.get("state") != "failed" or "no space left on device" not in str(st.get("error"))):
            ctx.untruthful.append(f"status.json: {st.get('state')!r} / {st.get('error')!r}")
        left = tmp_files(runs)
        if left:
            ctx.notes.append(f"after the failure: {', '.join(left)}")
        grow_tmpfs(runs)
        again = cmd if how == "run" else [*cmd, "retry_failed=true"]
        if how == "sweep":
            res2 = run(again, timeout=TRAINING_TIMEOUT)
            console_of(ctx, res2, again)
            alive = processes_mentioning(str(ctx.case))
            if alive:
                ctx.untruthful.append(
                    f"retry: the sweep ended (exit {res2.rc}) while {len(alive)} job processes ran on"
                )
            settle(ctx)
        relaunch(ctx, again, runs)
        base = check_run(ctx, runs, ref)
        row = finish_row(ctx, fault, base, runs)
    return row


def disk_full_memmap(ctx: Ctx, fault) -> dict:
    """mode=offline whose dataset directory is on a full disk: the .memmap cache cannot be built."""
    ref = reference(ctx, "offline", "run")
    runs = ctx.case / "runs"
    shutil.rmtree(ctx.dataset, ignore_errors=True)
    used = sum(p.stat().st_size for p in ctx.fx.dataset.rglob("*") if p.is_file())
    cmd = run_cmd(ctx, "offline", runs)
    with tmpfs(ctx.dataset, f"{(used + 48 * 1024) // 1024}k"):
        for p in ctx.fx.dataset.iterdir():
            if p.is_file():
                shutil.copy2(p, ctx.dataset / p.name)
        res = run(cmd, timeout=TRAINING_TIMEOUT)
        st = status_of(runs)
        full_disk_console(ctx, res, cmd, f"full dataset disk: exit {res.rc}, state {st.get('state')!r}")
        if st and st.get("state") not in ("failed",):
            ctx.untruthful.append(f"status.json says {st.get('state')!r}")
        left = tmp_files(ctx.dataset)
        if left:
            ctx.notes.append(f"in the dataset dir after the failure: {', '.join(left)}")
        grow_tmpfs(ctx.dataset)
        relaunch(ctx, cmd, runs)
        base = check_run(ctx, runs, ref)
        extra = tmp_files(ctx.dataset)
        row = finish_row(ctx, fault, base, runs)
        if extra:
            row["leftovers"] = ", ".join(
                ["dataset: " + e for e in extra] + ([] if row["leftovers"] == "no" else [row["leftovers"]])
            )
            row["outcome"] = "FAIL"
    return row


# ----------------------------------------------------------------------------- damage after the end
def damage(ctx: Ctx, fault, mode: str, kind: str) -> dict:
    """A finished sweep (a copy of the reference), damaged; then status, a report, and a relaunch."""
    ref = reference(ctx, mode, "sweep")
    runs = ctx.case / "runs"
    shutil.copytree(ref["runs"], runs)
    path = runs / ref["rel"]
    final_sha = sha(path / "final.pt")
    ev = path / "eval.csv"
    if kind == "truncate-eval":
        os.truncate(ev, ev.stat().st_size - 20)
    elif kind == "delete-eval":
        ev.unlink()
    elif kind == "truncate-final":
        os.truncate(path / "final.pt", (path / "final.pt").stat().st_size // 2)
    elif kind == "running-beside-done":
        st = read_json(path / "status.json")
        st["state"] = "running"
        (path / "status.json").write_text(__import__("json").dumps(st))
    elif kind == "leftover-tmp":
        (path / ".eval.csv.x1y2z3.tmp").write_text("half a table")
        (path / ".checkpoint.prev.pt.tmp").write_bytes(os.urandom(4096))
    damaged = kind in ("truncate-eval", "delete-eval", "truncate-final")
    word = {"truncate-eval": "eval.csv", "delete-eval": "eval.csv", "truncate-final": "final.pt"}.get(kind, "")
    st = run(py("harness.status", str(runs)), timeout=120)
    console_of(ctx, st)
    line = next((ln for ln in st.out.splitlines() if "seed" in ln or "done" in ln or "interrupted" in ln), "")
    ctx.notes.append(f"status: {' '.join(line.split())[:160]}")
    if damaged and word not in st.out:
        ctx.untruthful.append(f"harness.status does not name the damaged {word}")
    if kind == "running-beside-done" and ("interrupted" in st.out or " done" not in st.out):
        ctx.untruthful.append("harness.status does not say done (done.json wins)")
    if kind == "truncate-eval":
        rep = run(py("analysis.report", str(runs), "--out", str(ctx.case / "report"), "--reps", "100"), timeout=300)
        console_of(ctx, rep)
        if "eval.csv" not in rep.console:
            ctx.untruthful.append("the report does not name the damaged eval.csv")
        ctx.notes.append(f"report: exit {rep.rc}")
        shutil.rmtree(ctx.case / "report", ignore_errors=True)
    cmd = sweep_cmd(ctx, mode, runs)
    fresh_dataset(ctx)
    res = run(cmd, timeout=TRAINING_TIMEOUT)
    console_of(ctx, res, cmd)
    ctx.notes.append(f"relaunch: exit {res.rc}")
    if res.rc != 0:
        ctx.untruthful.append(f"the relaunch of a finished sweep exits {res.rc}")
    settle(ctx, 60)
    base = check_run(ctx, runs, ref)
    if (path / "attempts").exists() or (kind != "truncate-final" and sha(path / "final.pt") != final_sha):
        base["duplicated"] = "yes (the finished run was trained again)"
    if kind == "truncate-final":
        base["differing"] = base["differing"] if base["differing"] != "no" else "no"
        st2 = run(py("harness.status", str(runs)), timeout=120)
        console_of(ctx, st2)
        if "final.pt" not in st2.out:
            ctx.notes.append("after the relaunch harness.status no longer names the truncated final.pt")
    return finish_row(ctx, fault, base, runs)


# ----------------------------------------------------------------------------- export, evaluate, report
def export_cmd(ctx: Ctx, out: Path) -> list[str]:
    return py("harness.export", str(ctx.fx.collect), "--suite", SUITE, "--out", str(out), "--episodes-per-chunk", "1")


def dataset_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("chunk_*.pt"))} if path.exists() else {}


def export_reference(ctx: Ctx) -> dict[str, bytes]:
    if "export" not in ctx.refs:
        out = ctx.work / "references" / "export" / "ds"
        if not (out / "dataset.json").exists():
            shutil.rmtree(out.parent, ignore_errors=True)
            out.parent.mkdir(parents=True)
            res = run(export_cmd(ctx, out), timeout=300)
            if res.rc != 0:
                raise SystemExit(f"the reference export failed:\n{res.console[-3000:]}")
        ctx.refs["export"] = dataset_files(out)
    return ctx.refs["export"]


def export_fault(ctx: Ctx, fault, when: str, sigs: tuple[int, ...], full_disk: bool = False) -> dict:
    ref = export_reference(ctx)
    parent = ctx.case / "data"
    out = parent / "ds"
    cmd = export_cmd(ctx, out)
    with tmpfs(parent, "80k") if full_disk else _nothing(parent):
        if full_disk:
            res = run(cmd, timeout=120)
            full_disk_console(ctx, res, cmd, f"full disk: exit {res.rc}")
            if res.rc == 0:
                ctx.untruthful.append("exit 0 on a full disk")
        else:
            bg = Background(cmd, ctx.case / "export.log")
            tmp_dirs = lambda: [p for p in parent.glob(".*.tmp")] if parent.exists() else []  # noqa: E731
            points = {
                "started": lambda: bool(tmp_dirs()),
                "first-chunk": lambda: any((d / "chunk_0.pt").exists() for d in tmp_dirs()),
                "second-chunk": lambda: any((d / "chunk_1.pt").exists() for d in tmp_dirs()),
            }
            hit = wait_for(lambda: points[when]() or not bg.alive(), 120, poll=0.01)
            if hit and bg.alive():
                for i, s in enumerate(sigs):
                    if i:
                        time.sleep(0.3)
                    with_suppress_kill(bg.pid, s)
                ctx.notes.append(f"{'+'.join(signal.Signals(s).name for s in sigs)} at '{when}'")
            else:
                ctx.notes.append(f"the point '{when}' was not reached before the export ended")
            rc = bg.wait(60)
            console_of(ctx, bg, cmd)
            ctx.notes.append(f"exit {rc}")
        half = out.exists() and not (out / "dataset.json").exists()
        if half:
            ctx.notes.append("a half-written dataset directory was left")
        left_after_fault = tmp_files(parent)
        if left_after_fault:
            ctx.notes.append(f"after the fault: {', '.join(left_after_fault)}")
        if full_disk:
            grow_tmpfs(parent)
        if out.exists() and (out / "dataset.json").exists():
            ctx.notes.append("the export had completed")
        else:
            res = run(cmd, timeout=120)
            console_of(ctx, res, cmd)
            ctx.notes.append(f"rerun: exit {res.rc}")
        got = dataset_files(out)
        base = {
            "lost": "no" if got else "yes (no dataset after the rerun)",
            "differing": "no" if got == ref else ("n/a" if not got else "yes"),
        }
        if half:
            base["lost"] = "half-written dataset"
        return finish_row(ctx, fault, base, parent)


class _nothing:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def evaluate_cmd(ctx: Ctx, out: Path) -> list[str]:
    return py("harness.evaluate", f"checkpoint={ctx.fx.offline}", "task=cartpole-balance", "episodes=2", f"out={out}")


def evaluate_reference(ctx: Ctx) -> bytes:
    if "evaluate" not in ctx.refs:
        out = ctx.work / "references" / "evaluate"
        if not list(out.rglob("eval.csv")):
            shutil.rmtree(out, ignore_errors=True)
            res = run([*evaluate_cmd(ctx, out), "threads=1"], timeout=300)
            if res.rc != 0:
                raise SystemExit(f"the reference evaluation failed:\n{res.console[-3000:]}")
        ctx.refs["evaluate"] = next(out.rglob("eval.csv")).read_bytes()
    return ctx.refs["evaluate"]


def evaluate_fault(ctx: Ctx, fault, sigs: tuple[int, ...], full_disk: bool = False) -> dict:
    ref = evaluate_reference(ctx)
    out = ctx.case / "evals"
    cmd = [*evaluate_cmd(ctx, out), "threads=1"]
    with tmpfs(out, "8k") if full_disk else _nothing(out):
        if full_disk:
            res = run(cmd, timeout=300)
            full_disk_console(ctx, res, cmd, f"full disk: exit {res.rc}")
            grow_tmpfs(out)
        else:
            bg = Background(cmd, ctx.case / "evaluate.log")
            hit = wait_for(lambda: any(out.rglob("status.json")) or not bg.alive(), 120, poll=0.1)
            time.sleep(1.0)
            if hit and bg.alive():
                for i, s in enumerate(sigs):
                    if i:
                        time.sleep(0.5)
                    with_suppress_kill(bg.pid, s)
                ctx.notes.append(f"{'+'.join(signal.Signals(s).name for s in sigs)} during the evaluation")
            rc = bg.wait(120)
            console_of(ctx, bg, cmd)
            ctx.notes.append(f"exit {rc}")
        settle(ctx, 30)
        res = run(cmd, timeout=300)
        console_of(ctx, res, cmd)
        ctx.notes.append(f"rerun: exit {res.rc}")
        evals = list(out.rglob("eval.csv"))
        evals = [e for e in evals if "attempts" not in e.parts]
        base = {"lost": "no" if evals else "yes", "differing": "n/a"}
        if evals:
            base["differing"] = "no" if evals[0].read_bytes() == ref else "yes"
            if len(evals) > 1:
                base["duplicated"] = f"yes ({len(evals)} eval.csv)"
        return finish_row(ctx, fault, base, out)


def report_cmd(ctx: Ctx, out: Path) -> list[str]:
    return py("analysis.report", str(ctx.fx.collect), "--out", str(out), "--reps", "200")


def report_reference(ctx: Ctx) -> bytes:
    if "report" not in ctx.refs:
        out = ctx.work / "references" / "report"
        if not (out / "aggregates.csv").exists():
            res = run(report_cmd(ctx, out), timeout=300)
            if res.rc != 0:
                raise SystemExit(f"the reference report failed:\n{res.console[-3000:]}")
        ctx.refs["report"] = (out / "aggregates.csv").read_bytes()
    return ctx.refs["report"]


def report_fault(ctx: Ctx, fault, full_disk: bool) -> dict:
    ref = report_reference(ctx)
    parent = ctx.case / "reports"
    out = parent / "rep"
    cmd = report_cmd(ctx, out)
    with tmpfs(parent, "64k") if full_disk else _nothing(parent):
        if full_disk:
            res = run(cmd, timeout=300)
            full_disk_console(ctx, res, cmd, f"full disk: exit {res.rc}")
            grow_tmpfs(parent)
        else:
            bg = Background(cmd, ctx.case / "report.log")
            hit = wait_for(lambda: (out.exists() and any(out.iterdir())) or not bg.alive(), 200, poll=0.05)
            if hit and bg.alive():
                with_suppress_kill(bg.pid, signal.SIGKILL)
                ctx.notes.append(f"SIGKILL once the report had {len(list(out.iterdir()))} files")
            bg.wait(60)
            console_of(ctx, bg, cmd)
        res = run(cmd, timeout=300)
        console_of(ctx, res, cmd)
        ctx.notes.append(f"rerun: exit {res.rc}")
        got = (out / "aggregates.csv").read_bytes() if (out / "aggregates.csv").exists() else None
        base = {"lost": "no" if got else "yes", "differing": "n/a" if got is None else ("no" if got == ref else "yes")}
        return finish_row(ctx, fault, base, parent)


# ----------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Fault:
    id: str
    mode: str
    process: str
    what: str
    fn: Callable[..., dict]
    args: tuple = ()
    quick: bool = False
    needs_root: bool = False


K, T, I = signal.SIGKILL, signal.SIGTERM, signal.SIGINT  # noqa: E741
FAULTS: list[Fault] = []
for _mode in ("online", "offline", "finetune"):
    m = _mode[:3]
    FAULTS += [
        Fault(
            f"{m}-run-kill9-early",
            _mode,
            "run",
            "kill -9 before the first checkpoint",
            signal_fault,
            (_mode, "run", "early", "run", (K,)),
            quick=_mode == "online",
        ),
        Fault(
            f"{m}-run-kill9-after-ckpt",
            _mode,
            "run",
            "kill -9 after a checkpoint",
            signal_fault,
            (_mode, "run", "after-ckpt", "run", (K,)),
            quick=_mode == "offline",
        ),
        Fault(
            f"{m}-run-sigterm",
            _mode,
            "run",
            "SIGTERM after a checkpoint",
            signal_fault,
            (_mode, "run", "after-ckpt", "run", (T,)),
        ),
        Fault(
            f"{m}-run-ctrl-c", _mode, "run", "Ctrl-C (SIGINT) once", signal_fault, (_mode, "run", "early", "run", (I,))
        ),
        Fault(
            f"{m}-run-ctrl-c-twice",
            _mode,
            "run",
            "Ctrl-C twice",
            signal_fault,
            (_mode, "run", "after-ckpt", "run", (I, I)),
        ),
        Fault(f"{m}-run-two-at-once", _mode, "run", "two identical harness.run at once", two_at_once, (_mode, "run")),
        Fault(
            f"{m}-run-disk-full",
            _mode,
            "run",
            "runs_dir on a full disk, then grown",
            disk_full_runs,
            (_mode, "run"),
            needs_root=True,
            quick=_mode == "finetune",
        ),
        Fault(
            f"{m}-sweep-kill9-worker",
            _mode,
            "sweep",
            "kill -9 of the worker after a checkpoint",
            signal_fault,
            (_mode, "sweep", "after-ckpt", "worker", (K,)),
        ),
        Fault(
            f"{m}-sweep-kill9-controller",
            _mode,
            "sweep",
            "kill -9 of the job controller",
            signal_fault,
            (_mode, "sweep", "early", "controller", (K,)),
        ),
        Fault(
            f"{m}-damage-truncate-eval",
            _mode,
            "after",
            "truncate -s -20 eval.csv of a done run",
            damage,
            (_mode, "truncate-eval"),
            quick=_mode == "online",
        ),
        Fault(f"{m}-damage-delete-eval", _mode, "after", "rm eval.csv of a done run", damage, (_mode, "delete-eval")),
        Fault(
            f"{m}-damage-running-beside-done",
            _mode,
            "after",
            "status.json 'running' beside done.json",
            damage,
            (_mode, "running-beside-done"),
        ),
    ]
FAULTS += [
    Fault("onl-run-kill9-late", "online", "run", "kill -9 at 90% of the steps", signal_fault,
          ("online", "run", "late", "run", (K,))),
    Fault("onl-run-kill9-finishing", "online", "run", "kill -9 as final.pt appears", signal_fault,
          ("online", "run", "finishing", "run", (K,))),
    Fault("off-run-kill9-finishing", "offline", "run", "kill -9 as final.pt appears", signal_fault,
          ("offline", "run", "finishing", "run", (K,))),
    Fault("onl-sweep-kill9-sweep", "online", "sweep", "kill -9 of the sweep process", signal_fault,
          ("online", "sweep", "after-ckpt", "sweep", (K,))),
    Fault("onl-sweep-kill9-worker-early", "online", "sweep", "kill -9 of the worker before a checkpoint",
          signal_fault, ("online", "sweep", "early", "worker", (K,))),
    Fault("onl-sweep-ctrl-c", "online", "sweep", "Ctrl-C once to the sweep", signal_fault,
          ("online", "sweep", "early", "sweep", (I,))),
    Fault("onl-sweep-ctrl-c-twice", "online", "sweep", "Ctrl-C twice to the sweep", signal_fault,
          ("online", "sweep", "after-ckpt", "sweep", (I, I))),
    Fault("onl-sweep-ctrl-c-finishing", "online", "sweep", "Ctrl-C to the sweep as the run finishes",
          signal_fault, ("online", "sweep", "late", "sweep", (I,))),
    Fault("onl-sweep-sigterm", "online", "sweep", "SIGTERM to the sweep", signal_fault,
          ("online", "sweep", "after-ckpt", "sweep", (T,))),
    Fault("onl-sweep-two-at-once", "online", "sweep", "two identical sweeps at once", two_at_once,
          ("online", "sweep")),
    Fault("onl-sweep-disk-full-retry", "online", "sweep", "runs_dir full, grown, retry_failed=true",
          disk_full_runs, ("online", "sweep"), needs_root=True),
    Fault("onl-run-disk-full-at-start", "online", "run", "runs_dir on an 8 kB disk (status.json cannot be written)",
          disk_full_runs, ("online", "run", 8192), needs_root=True),
    Fault("off-run-disk-full-memmap", "offline", "run", "dataset dir full (the .memmap cache), then grown",
          disk_full_memmap, (), needs_root=True, quick=True),
    Fault("onl-damage-truncate-final", "online", "after", "final.pt of a done run cut in half", damage,
          ("online", "truncate-final")),
    Fault("off-damage-truncate-final", "offline", "after", "final.pt of a done run cut in half", damage,
          ("offline", "truncate-final")),
    Fault("onl-damage-leftover-tmp", "online", "after", "leftover .tmp files in a done run", damage,
          ("online", "leftover-tmp")),
    Fault("export-kill9-started", "export", "export", "kill -9 as the temp dir appears", export_fault,
          ("started", (K,))),
    Fault("export-kill9-first-chunk", "export", "export", "kill -9 after the first chunk", export_fault,
          ("first-chunk", (K,)), quick=True),
    Fault("export-kill9-second-chunk", "export", "export", "kill -9 after the second chunk", export_fault,
          ("second-chunk", (K,))),
    Fault("export-ctrl-c", "export", "export", "Ctrl-C during the export", export_fault, ("first-chunk", (I,))),
    Fault("export-sigterm", "export", "export", "SIGTERM during the export", export_fault, ("first-chunk", (T,))),
    Fault("export-disk-full", "export", "export", "--out on a full disk, then grown", export_fault,
          ("", (), True), needs_root=True),
    Fault("evaluate-kill9", "evaluate", "evaluate", "kill -9 during the evaluation", evaluate_fault, ((K,),)),
    Fault("evaluate-ctrl-c", "evaluate", "evaluate", "Ctrl-C during the evaluation", evaluate_fault, ((I,),)),
    Fault("evaluate-disk-full", "evaluate", "evaluate", "out= on a full disk, then grown", evaluate_fault,
          ((), True), needs_root=True),
    Fault("report-kill9", "report", "report", "kill -9 while the report is written", report_fault, (False,)),
    Fault("report-disk-full", "report", "report", "--out on a full disk, then grown", report_fault, (True,),
          needs_root=True),
]  # fmt: skip

COLUMNS = ["id", "mode", "process", "fault", "outcome", "lost", "duplicated", "differing", "leftovers"]
COLUMNS += ["console_traceback", "untruthful_status", "note", "seconds", "commands"]


def run_fault(ctx: Ctx, fault: Fault) -> dict:
    ctx.case = Path(tempfile.mkdtemp(prefix=f"{fault.id}-", dir=ctx.work / "cases"))
    ctx.consoles, ctx.commands, ctx.notes, ctx.untruthful = [], [], [], []
    say(f"[{fault.id}] {fault.mode} / {fault.process}: {fault.what}")
    t0 = time.monotonic()
    try:
        row = fault.fn(ctx, fault, *fault.args)
    except (subprocess.SubprocessError, OSError, StopIteration, ValueError) as exc:  # the tool's own trouble
        row = finish_row(ctx, fault, {"lost": "?", "differing": "?"}, ctx.case)
        row["outcome"] = "ERROR"
        row["note"] = f"campaign error: {type(exc).__name__}: {exc}; " + row["note"]
    finally:
        kill_mentioning(str(ctx.case))
    row["seconds"] = f"{time.monotonic() - t0:.0f}"
    for cmd in ctx.commands[:3]:
        say(f"    $ {cmd}")
    say(
        f"    -> {row['outcome']}: lost {row['lost']}, duplicated {row['duplicated']}, differing {row['differing']}, "
        f"leftovers {row['leftovers']}, traceback {row['console_traceback']}, untruthful {row['untruthful_status']}"
    )
    say(f"       {row['note']}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faults.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for faults.csv and faults.md")
    parser.add_argument("--quick", action="store_true", help="only the cases marked quick (a short try)")
    parser.add_argument("--only", nargs="+", default=[], help="case ids or id prefixes")
    parser.add_argument("--work", type=Path, default=None, help="temp, fixture and reference directory")
    parser.add_argument("--keep", action="store_true", help="keep each case's directory (default: removed)")
    parser.add_argument("--list", action="store_true", help="print the case ids, run nothing")
    args = parser.parse_args(argv)
    # started with `&` from a script, SIGINT is ignored, and the programs would inherit that: their Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faults = select_cases(FAULTS, args.quick, args.only)
    if args.list:
        for f in faults:
            print(f.id, "|", f.mode, "|", f.process, "|", f.what)
        return 0
    root = can_mount()
    work = args.work or Path(tempfile.mkdtemp(prefix="faults-"))
    (work / "cases").mkdir(parents=True, exist_ok=True)
    ctx = Ctx(work=work, fx=fixtures(work / "fixtures"))
    t0 = time.time()
    rows = []
    for fault in faults:
        if fault.needs_root and not root:
            rows.append({"id": fault.id, "mode": fault.mode, "process": fault.process, "fault": fault.what,
                         "outcome": "SKIPPED", "note": "needs root to mount a tmpfs"})  # fmt: skip
            continue
        rows.append(run_fault(ctx, fault))
        if not args.keep:
            shutil.rmtree(ctx.case, ignore_errors=True)
        write_table(args.out, "faults", "Faults (so far)", COLUMNS, rows)  # a partial table if stopped
    failing = [r for r in rows if r["outcome"] != "ok"]
    tally = {
        c: sum(1 for r in rows if str(r.get(c, "no")).startswith("yes")) for c in ("lost", "duplicated", "differing")
    }
    notes = (
        f"Commit {commit()}; {len(rows)} faults in {time.time() - t0:.0f} s; "
        f"command: `python -m tools.faults.faults --out {args.out}{' --quick' if args.quick else ''}`.\n\n"
        f"Outcomes: {counts([r['outcome'] for r in rows])}; lost {tally['lost']}, duplicated {tally['duplicated']}, "
        f"differing {tally['differing']}.\n\nNot ok: {', '.join(r['id'] for r in failing) or 'none'}."
    )
    write_table(args.out, "faults", "Faults", COLUMNS, rows, notes)
    say(f"\n{notes}")
    say(f"tables: {args.out / 'faults.md'}, {args.out / 'faults.csv'}; work dir {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
