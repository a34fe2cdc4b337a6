"""Run directories: a deterministic path per run, atomic writes, status marker, eval table.

Layout and columns: docs/results-format.md. Nothing already written is overwritten: a run that is
started again after a failure first moves its previous files into ``attempts/<k>/`` (unless it has
a checkpoint, which it resumes from). One process at a time works in a run directory: it holds an
exclusive lock on ``.lock`` (released by the kernel when the process dies).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import io
import json
import os
import shutil
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from configs.results import EVAL_COLUMNS, eval_table_damage, read_done_marker
from harness.stop import Preempted

ATTEMPTS = "attempts"
LOCK = ".lock"
CHECKPOINT = "checkpoint.pt"
#: the checkpoint before the latest one (kept while a new one is written: a bad latest one costs one interval)
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
#: an unreadable checkpoint.pt set aside when the run resumed from the previous one
UNREADABLE_CHECKPOINT = "checkpoint.unreadable.pt"
#: the final agent state of a finished run (replay buffer included; harness.export reads it)
FINAL = "final.pt"
#: written last when a run finishes: the run is done even if status.json is later unreadable
DONE = "done.json"
STATES = ("running", "interrupted", "done", "failed")
#: the files of a run directory that are written atomically (through a temporary file beside them)
RUN_FILES = ("status.json", "eval.csv", "config.yaml", CHECKPOINT, PREVIOUS_CHECKPOINT, FINAL, DONE)


class RunBusyError(RuntimeError):
    """Another live process is working in this run directory."""


def run_dir(runs_dir: str | Path, suite: str, task: str, algo: str, variant: str, seed: int) -> Path:
    """A pure function of the run's identity: the same command finds the same directory."""
    return Path(runs_dir) / suite / task / algo / variant / f"seed_{seed}"


def job_identity() -> dict[str, Any]:
    """Who is running this process: Slurm job / local submitit job, host, pid (for status.json)."""
    env = os.environ
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    if env.get("SLURM_JOB_ID"):
        info["kind"] = "slurm"
        if env.get("SLURM_ARRAY_JOB_ID"):
            info["job_id"] = f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
        else:
            info["job_id"] = env["SLURM_JOB_ID"]
        if env.get("SLURM_RESTART_COUNT"):
            info["restarts"] = int(env["SLURM_RESTART_COUNT"])
    elif env.get("SUBMITIT_LOCAL_JOB_ID"):
        info["kind"] = "local"
        info["job_id"] = env["SUBMITIT_LOCAL_JOB_ID"]
    return info


def file_mode() -> int:
    """The mode a plainly created file gets (0666 less the umask): results are readable by the group
    (mkstemp alone would make them 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def mkstemp_beside(path: Path) -> tuple[int, str]:
    """A temporary file next to ``path`` (same file system, so the rename is atomic), with the
    normal file mode."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
    except OSError:
        pass
    return fd, tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RunDir:
    """Reads and writes one run's files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def eval_path(self) -> Path:
        return self.path / "eval.csv"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def previous_checkpoint_path(self) -> Path:
        return self.path / PREVIOUS_CHECKPOINT

    @property
    def final_path(self) -> Path:
        return self.path / FINAL

    @property
    def done_path(self) -> Path:
        return self.path / DONE

    def read_status(self) -> tuple[dict[str, Any] | None, str | None]:
        """(status.json's content, None), (None, None) if there is none, or (None, why it is unusable)."""
        try:
            text = self.status_path.read_text()
        except FileNotFoundError:
            return None, None
        except (OSError, UnicodeDecodeError) as exc:
            return None, f"status.json unreadable ({type(exc).__name__}: {_first_line(exc)})"
        try:
            st = json.loads(text)
        except ValueError as exc:
            return None, f"status.json unreadable ({type(exc).__name__}: {_first_line(exc)})"
        problem = status_shape_problem(st)
        return (None, f"status.json has the wrong shape ({problem})") if problem else (st, None)

    def status(self) -> dict[str, Any] | None:
        return self.read_status()[0]

    def done_evidence(self) -> str | None:
        """Why the run counts as finished without status.json: its done marker (written last), or,
        for runs written before the marker, an eval.csv that holds the final evaluation in full."""
        try:
            marker = json.loads(self.done_path.read_text())
            if isinstance(marker, dict):
                return f"{DONE} (written when it finished)"
        except (OSError, ValueError):
            pass
        return "a complete eval.csv" if self.eval_complete() else None

    def eval_complete(self) -> bool:
        """eval.csv ends with all ``eval_episodes`` rows of the evaluation at ``steps`` (config.yaml)
        and its last line is whole."""
        try:
            import yaml

            run = (yaml.safe_load((self.path / "config.yaml").read_text()) or {}).get("run") or {}
            steps, episodes = int(run["steps"]), int(run["eval_episodes"])
            text = self.eval_path.read_text()
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError):
            return False
        except Exception:  # yaml errors
            return False
        if not text.endswith("\n"):
            return False
        rows = list(csv.DictReader(io.StringIO(text)))
        try:
            last = [r for r in rows if int(r["step"]) == steps]
        except (KeyError, TypeError, ValueError):
            return False
        return len(last) >= episodes and all(None not in r.values() and None not in r for r in last)

    def state(self) -> str:
        """running | interrupted | done | failed | missing | unreadable (status.json unusable, no
        sign that the run finished)."""
        st, problem = self.read_status()
        if st and st["state"] == "done":
            return "done"
        if self.done_path.exists() and self.done_evidence():
            return "done"
        if st:
            return st["state"]
        if problem:
            return "done" if self.done_evidence() else "unreadable"
        return "missing"

    def write_done_marker(self) -> None:
        """Last write of a finished run (after eval.csv, final.pt and status.json): what the run left,
        so that damage after the end can be told (eval.csv's rows and sha256, final.pt's size)."""
        rows = 0
        digest = ""
        if self.eval_path.exists():
            import hashlib

            data = self.eval_path.read_bytes()
            rows = max(data.count(b"\n") - 1, 0)
            digest = hashlib.sha256(data).hexdigest()
        marker: dict[str, Any] = {"eval_rows": rows, "eval_sha256": digest, "at": now()}
        if self.final_path.exists():
            marker["final_bytes"] = self.final_path.stat().st_size
        atomic_write_text(self.done_path, json.dumps(marker) + "\n")

    def done_marker(self) -> dict[str, Any] | None:
        """done.json's content, or None if there is none or it is unreadable."""
        return read_done_marker(self.path)

    def eval_damage(self, marker: dict[str, Any] | None = None) -> str | None:
        """What is wrong with a finished run's eval.csv by what done.json promises (configs.results)."""
        return eval_table_damage(self.path, marker)

    def final_problem(self, marker: dict[str, Any] | None = None) -> str | None:
        """Why a finished run's final.pt is damaged (cheap: its size as done.json recorded it, a whole
        zip archive), or None. Only where done.json recorded final.pt (older markers did not)."""
        marker = self.done_marker() if marker is None else marker
        if not marker or "final_bytes" not in marker:
            return file_problem(self.final_path) if marker and self.final_path.exists() else None
        if not self.final_path.exists():
            return f"{FINAL} is missing"
        return file_problem(self.final_path, marker.get("final_bytes"))

    def finished_damage(self) -> str | None:
        """A done run's damage after its end, in one line with what a relaunch does about it; None if
        its files are as done.json says (or there is no done.json)."""
        marker = self.done_marker()
        if marker is None:
            return None
        table, final = self.eval_damage(marker), self.final_problem(marker)
        if table and not final:
            return f"{table}; a relaunch restores it from {FINAL}"
        if table:
            return f"{table}, and {final}: it cannot be restored (the run is not retrained)"
        if final:
            return f"{final}; eval.csv is intact, but harness.export and harness.evaluate cannot use this run"
        return None

    def stale_tmp(self) -> list[Path]:
        """Temporary files our own atomic writes left here when a process died mid-write
        (``.<name>.<random characters>.tmp`` of a run file or a training log, ``.checkpoint.prev.pt.tmp``)."""
        found = []
        train = self.path / "train"  # training logs (truncated on resume, atomically)
        places = [self.path, *([train, *(p for p in train.rglob("*") if p.is_dir())] if train.is_dir() else [])]
        for place in places:
            try:
                entries = list(place.iterdir())
            except OSError:
                continue
            allowed = RUN_FILES if place == self.path else None
            found += [p for p in entries if is_our_tmp(p.name, allowed) and p.is_file()]
        return found

    def has_stale_tmp(self) -> bool:
        return bool(self.stale_tmp())

    def remove_stale_tmp(self) -> list[Path]:
        """Remove :meth:`stale_tmp` (call it only while holding the run's lock: a live writer's
        temporary file is not stale). Nothing else is touched. Returns what it removed."""
        removed = []
        for p in self.stale_tmp():
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
        return removed

    def done_status_conflict(self) -> str | None:
        """``status.json said running`` (or interrupted, failed, or was unreadable) for a run whose
        done.json says it finished (done.json wins); None if they agree or there is no done.json."""
        if self.done_marker() is None:
            return None
        st, problem = self.read_status()
        if problem:
            return problem
        if st and st["state"] != "done":
            return f"status.json said {st['state']}"
        return None

    def checkpoint_problem(self, st: dict[str, Any] | None = None) -> str | None:
        """Why the run's checkpoint.pt cannot be resumed from (cheap checks: present when status.json
        says there is one, a whole zip archive as torch.save writes, the size status.json recorded);
        None if it looks fine or there is none to expect."""
        st = st if st is not None else (self.status() or {})
        expected = st.get("checkpoint_step")
        path = self.checkpoint_path
        if not path.exists():
            return f"{CHECKPOINT} is missing" if expected is not None and st.get("state") != "done" else None
        return file_problem(path, st.get("checkpoint_bytes"))

    def keep_previous_checkpoint(self) -> None:
        """Before a new checkpoint.pt is written: the current one becomes checkpoint.prev.pt (a hard
        link, so checkpoint.pt stays in place all the time)."""
        if not self.checkpoint_path.exists():
            return
        with contextlib.suppress(OSError):
            if os.path.samefile(self.checkpoint_path, self.previous_checkpoint_path):
                return  # already kept (a resume from the previous one, or a checkpoint write that failed)
        tmp = self.path / f".{PREVIOUS_CHECKPOINT}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            try:
                os.link(self.checkpoint_path, tmp)
            except OSError:
                shutil.copyfile(self.checkpoint_path, tmp)  # no hard links here (a full disk fails it)
            os.replace(tmp, self.previous_checkpoint_path)
        finally:
            tmp.unlink(missing_ok=True)  # a failed copy; or rename() of two links to one file, which does nothing

    def set_aside_unreadable_checkpoint(self) -> None:
        """checkpoint.pt is unreadable and the run resumes from checkpoint.prev.pt: keep the bad file
        as checkpoint.unreadable.pt and the good one as checkpoint.pt."""
        if self.checkpoint_path.exists():
            os.replace(self.checkpoint_path, self.path / UNREADABLE_CHECKPOINT)
        os.link(self.previous_checkpoint_path, self.checkpoint_path)

    def remove_checkpoints(self) -> None:
        """A finished run (its final state is in final.pt): the resume files are no longer needed."""
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT, UNREADABLE_CHECKPOINT):
            (self.path / name).unlink(missing_ok=True)

    def write_status(
        self,
        state: str,
        step: int,
        total_steps: int,
        error: str | None = None,
        traceback: str | None = None,
        **extra: Any,
    ) -> None:
        """``extra``: e.g. checkpoint_step, resumes, job (see docs/results-format.md)."""
        payload = {
            "state": state,
            "step": step,
            "total_steps": total_steps,
            "error": error,
            "traceback": traceback,
            "updated": now(),
            **extra,
        }
        text = json.dumps(payload, indent=1) + "\n"
        try:
            atomic_write_text(self.status_path, text)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or not self.status_path.exists():
                raise
            # disk full: no room for a temporary copy; overwrite in place (the old file's blocks are reused)
            with open(self.status_path, "r+b") as f:
                f.truncate(0)
                f.write(text.encode())

    def archive_previous_attempt(self) -> Path | None:
        """Move the files of an earlier, unfinished attempt into ``attempts/<k>/`` (never delete)."""
        if not self.path.exists():
            return None
        items = [p for p in self.path.iterdir() if p.name not in (ATTEMPTS, LOCK)]
        if not items:
            return None
        k = 1
        while (self.path / ATTEMPTS / str(k)).exists():
            k += 1
        dest = self.path / ATTEMPTS / str(k)
        dest.mkdir(parents=True)
        for p in items:
            shutil.move(str(p), dest / p.name)
        return dest

    def write_config(self, config: dict[str, Any]) -> None:
        import yaml

        atomic_write_text(self.path / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    def rewrite_evals(self, rows: list[dict[str, Any]]) -> None:
        """Replace eval.csv by exactly ``rows`` (on resume: the rows the checkpoint knows of)."""
        if rows:
            atomic_write_text(self.eval_path, _eval_csv(rows, header=True))
        else:
            self.eval_path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, owner: dict[str, Any] | None = None, wait_s: float = 0.0) -> Iterator[None]:
        """Hold ``.lock`` exclusively while working here; RunBusyError if a live process still holds
        it after ``wait_s`` seconds (e.g. a cancelled job's process that is still being killed).
        (flock: released when the holder dies. Where the file system has no locks, it is skipped.)"""
        import fcntl
        import time

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if time.monotonic() < deadline:
                        time.sleep(1.0)
                        continue
                    holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                    raise RunBusyError(f"{self.path} is in use by another process ({holder or 'unknown'})") from None
                except OSError as exc:
                    if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                        raise
                break
            info = {"host": socket.gethostname(), "pid": os.getpid(), "since": now(), **(owner or {})}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def append_evals(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite eval.csv atomically with ``rows`` appended (the table is small)."""
        old = self.eval_path.read_text() if self.eval_path.exists() else ""
        atomic_write_text(self.eval_path, old + _eval_csv(rows, header=not old))


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``, ``4000`` -> ``1h06m``, ``9`` -> ``9s``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class RunStatus:
    """``status.json`` through one attempt at a run, as a context manager on its run directory.

    Entering writes ``running`` at ``start``; :meth:`progress` and :meth:`checkpointed` update it.
    Leaving writes the outcome: ``done`` (no error), ``interrupted`` (a stop request that saved a
    checkpoint, :class:`~harness.stop.Preempted`; or Ctrl-C / SystemExit) or ``failed``
    (any other error, with its traceback). Errors are never swallowed: a failed run never looks
    finished. ``info`` goes into every write (checkpoint_step, resumes, job)."""

    def __init__(
        self,
        rundir: RunDir,
        total_steps: int,
        start: int = 0,
        *,
        label: str = "",
        say: Callable[..., None] = print,
        **info: Any,
    ) -> None:
        self.rundir, self.total, self.step = rundir, total_steps, start
        self.start = start  # this attempt's first step (a resumed run's checkpoint): progress never shows less
        self.label, self.say, self.info = label, say, info
        self._t0, self._step0 = time.monotonic(), start  # this attempt's rate, for the ETA
        self._untimed = False  # the last progress was seed steps or the first-update burst

    def write(self, state: str, step: int, **extra: Any) -> None:
        self.rundir.write_status(state, step, self.total, **extra, **self.info)

    def __enter__(self) -> RunStatus:
        self.write("running", self.step)
        return self

    def progress(self, step: int, activity: str | None = None, timed: bool = True) -> None:
        """``step`` reached: status.json gets it with this attempt's rate and the time left.

        ``activity``: what the run is doing now, when that is not its usual stepping (evaluating,
        its random seed steps, its burst of first updates); status.json and the console show it.
        ``timed=False``: the steps so far say nothing of the rate of the steps to come (seed steps
        are fast, the burst makes none): no ETA, and the rate restarts at the next timed call."""
        step = max(step, self.start)
        if not timed:
            self._untimed = True
        elif self._untimed:
            self._untimed, self._t0, self._step0 = False, time.monotonic(), step
        self.step = step
        extra: dict[str, Any] = {"activity": activity} if activity else {}
        text = f": {activity}" if activity else ""
        elapsed, done = time.monotonic() - self._t0, step - self._step0
        if timed and done > 0 and elapsed > 0:
            rate = done / elapsed
            eta = max(self.total - step, 0) / rate
            self.write("running", step, steps_per_second=round(rate, 2), eta_s=round(eta), **extra)
            left = format_duration(eta)
            self.say(f"[{self.label}] step {step}/{self.total} ({rate:.1f} steps/s, ETA {left}){text}", flush=True)
        else:
            self.write("running", step, **extra)
            self.say(f"[{self.label}] step {step}/{self.total}{text}", flush=True)

    def checkpointed(self, step: int) -> None:
        if self.info.get("checkpoint_step") is not None:
            self.info["previous_checkpoint_step"] = self.info["checkpoint_step"]
        self.info["checkpoint_step"] = self.step = step
        try:
            self.info["checkpoint_bytes"] = self.rundir.checkpoint_path.stat().st_size
        except OSError:
            self.info.pop("checkpoint_bytes", None)
        self.write("running", step)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            for key in ("checkpoint_step", "checkpoint_bytes", "previous_checkpoint_step"):
                self.info[key] = None
            self.write("done", self.total)
            self.rundir.write_done_marker()
        elif isinstance(exc, Preempted):
            self.write("interrupted", exc.step, error=str(exc))
            self.say(f"[stop] {self.label}: {exc}", flush=True)
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            note = (
                "resumes from its checkpoint" if self.info.get("checkpoint_step") is not None else "no checkpoint yet"
            )
            self.write("interrupted", self.step, error=f"{type(exc).__name__} ({note})")
        else:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                where = exc.filename or self.rundir.path  # the file, else the run directory
                self.write("failed", self.step, error=f"no space left on device: {where}", traceback=None)
                return
            self.write(
                "failed",
                self.step,
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(kind, exc, tb)),
            )


def status_shape_problem(st: Any) -> str | None:
    """None if ``st`` is a status.json as harness.rundir writes it, else what is wrong with it."""
    if not isinstance(st, dict):
        return f"a JSON {type(st).__name__}, expected an object"
    if st.get("state") not in STATES:
        return f"state {st.get('state')!r}, expected one of {', '.join(STATES)}"
    for key in ("step", "total_steps"):
        if key in st and (not isinstance(st[key], int) or isinstance(st[key], bool)):
            return f"{key} {st[key]!r}, expected a whole number"
    for key in ("checkpoint_step", "resumes"):
        if st.get(key) is not None and (not isinstance(st[key], int) or isinstance(st[key], bool)):
            return f"{key} {st[key]!r}, expected a whole number or null"
    if st.get("job") is not None and not isinstance(st["job"], dict):
        return f"job {st['job']!r}, expected an object"
    return None


def file_problem(path: Path, expected_bytes: Any = None) -> str | None:
    """Why ``path`` (a torch.save file: a zip archive) is damaged, or None (cheap: no unpickling)."""
    import zipfile

    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"{path.name} unreadable ({type(exc).__name__}: {_first_line(exc)})"
    if isinstance(expected_bytes, int) and size != expected_bytes:
        return f"{path.name} is truncated or damaged ({size} of {expected_bytes} bytes)"
    try:
        with zipfile.ZipFile(path) as z:
            z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"{path.name} is truncated or damaged ({size} bytes; {_first_line(exc)})"
    return None


def is_our_tmp(name: str, allowed: tuple[str, ...] | None = None) -> bool:
    """True for the name of a temporary file of our atomic writes (mkstemp_beside's
    ``.<file>.<random lower-case letters, digits, _>.tmp``, keep_previous_checkpoint's ``.checkpoint.prev.pt.tmp``),
    of one of the files ``allowed`` when given."""
    if name == f".{PREVIOUS_CHECKPOINT}.tmp":
        return True
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    target, _, rand = name[1:-4].rpartition(".")
    ours = bool(rand) and all(c in "abcdefghijklmnopqrstuvwxyz0123456789_" for c in rand) and bool(target)
    return ours and (allowed is None or target in allowed)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def eval_csv_text(rows: list[dict[str, Any]]) -> str:
    """eval.csv's text for ``rows`` (header included), as the harness writes it."""
    return _eval_csv(rows, header=True)


def _eval_csv(rows: list[dict[str, Any]], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EVAL_COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in EVAL_COLUMNS})
    return buf.getvalue()
