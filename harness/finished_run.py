"""What a relaunch does for a run that already finished: it is never retrained, but what changed
after its end is repaired (issue 26). A status.json that contradicts done.json is set to done
(done.json wins), an eval.csv cut or deleted is restored from final.pt's rows byte for byte (the
damaged file kept beside), temporary files of interrupted writes are removed. Used by harness.run
(a relaunch of one run) and harness.sweep (every done run of a relaunched sweep)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from harness.checkpoint_file import read_or_problem
from harness.rundir import DONE, FINAL, RunBusyError, RunDir, atomic_write_bytes, eval_csv_text, job_identity, now


def repair_if_needed(path: str | Path, say=print) -> None:
    """:func:`repair` under the run's lock, if a done run at ``path`` needs it (a
    status.json that contradicts done.json, an eval.csv that is not what done.json promises,
    temporary files left by a killed write); a run another process holds is left for later, with a
    line saying so."""
    rundir = RunDir(Path(path))
    if rundir.done_marker() is None:
        return
    if rundir.done_status_conflict() or rundir.eval_damage() or rundir.has_stale_tmp():
        try:
            with rundir.lock(owner=job_identity()):
                repair(rundir, say)
        except RunBusyError as exc:
            say(f"[warn] not repaired now: {exc}")


def repair(rundir: RunDir, say=print) -> None:
    """What a relaunch does for a done run (never retrained; call it holding the run's lock): a
    status.json that says otherwise becomes ``done`` (done.json wins; the old state is recorded in it),
    an eval.csv that differs from done.json's promise is restored from final.pt's rows, byte for byte
    (the damaged file is kept beside as ``eval.csv.damaged-<time>``), and temporary files of
    interrupted writes are removed. What cannot be repaired is said in one line and left in place."""
    marker = rundir.done_marker()
    if marker is None:
        return
    for tmp in rundir.remove_stale_tmp():
        say(f"[repair] {rundir.path}: removed {tmp.name} (left by an interrupted write)")
    conflict = rundir.done_status_conflict()
    if conflict:
        st = rundir.status() or {}
        keep = {k: st[k] for k in ("resumes", "job") if k in st}
        kept = ""
        if st:
            keep["replaced"] = {k: v for k, v in st.items() if k != "traceback"}
        elif rundir.status_path.exists():  # unreadable: kept beside as it was
            aside = rundir.path / f"{rundir.status_path.name}.unreadable-{_stamp()}"
            shutil.copyfile(rundir.status_path, aside)
            kept = f"; the unreadable one is kept as {aside.name}"
        total = _total_steps(rundir, st)
        repaired = f"{conflict}, but {DONE} says the run finished; set to done at {now()}"
        rundir.write_status("done", total, total, repaired=repaired, **keep)
        say(f"[repair] {rundir.path}: status.json set to done ({conflict}; {DONE} says it finished){kept}")
    damage = rundir.eval_damage(marker)
    if damage:
        say(restore_eval_table(rundir, marker, damage))


def restore_eval_table(rundir: RunDir, marker: dict[str, Any], damage: str) -> str:
    """Rewrite a done run's damaged eval.csv from final.pt's evaluation rows when they give exactly
    the table done.json describes (its sha256); returns the line that says what happened."""
    where = f"{rundir.path}: {damage}"
    problem = rundir.final_problem(marker) or (None if rundir.final_path.exists() else f"{FINAL} is missing")
    state = None
    if problem is None:
        state, problem = read_or_problem(rundir.final_path)
    if state is not None and not isinstance(state.get("eval_rows"), list):
        problem = f"{FINAL} holds no evaluation rows"
    if problem is None:
        data = eval_csv_text(state["eval_rows"]).encode()
        if hashlib.sha256(data).hexdigest() != marker.get("eval_sha256"):
            problem = f"the rows in {FINAL} do not give the table {DONE} describes"
    if problem is not None:
        return f"[warn] {where}; cannot restore it: {problem}; left as it is (the run is not retrained)"
    kept = ""
    if rundir.eval_path.exists():
        aside = rundir.path / f"{rundir.eval_path.name}.damaged-{_stamp()}"
        try:
            os.link(rundir.eval_path, aside)
        except OSError:
            shutil.copyfile(rundir.eval_path, aside)
        kept = f"; the damaged file is kept as {aside.name}"
    atomic_write_bytes(rundir.eval_path, data)
    rows = len(state["eval_rows"])
    return f"[repair] {where}; restored from {FINAL} ({rows} rows, as {DONE} promises){kept}"


def _stamp() -> str:
    """A file-name-safe UTC time: ``20261207T011500Z``."""
    return now().replace(":", "").replace("-", "").replace("+0000", "Z")


def _total_steps(rundir: RunDir, st: dict[str, Any]) -> int:
    """A run's step budget: status.json's total_steps, else config.yaml's run.steps, else 0."""
    if isinstance(st.get("total_steps"), int):
        return int(st["total_steps"])
    try:
        return int(yaml.safe_load((rundir.path / "config.yaml").read_text())["run"]["steps"])
    except Exception:  # unreadable or without the field
        return 0
