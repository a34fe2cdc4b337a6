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
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from configs.results import EVAL_COLUMNS
from harness.training.stop import Preempted

ATTEMPTS = "attempts"
LOCK = ".lock"
CHECKPOINT = "checkpoint.pt"


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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

    def status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def state(self) -> str:
        s = self.status()
        return s["state"] if s else "missing"

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
        atomic_write_text(self.status_path, json.dumps(payload, indent=1) + "\n")

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


class RunStatus:
    """``status.json`` through one attempt at a run, as a context manager on its run directory.

    Entering writes ``running`` at ``start``; :meth:`progress` and :meth:`checkpointed` update it.
    Leaving writes the outcome: ``done`` (no error), ``interrupted`` (a stop request that saved a
    checkpoint, :class:`~harness.training.stop.Preempted`; or Ctrl-C / SystemExit) or ``failed``
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
        self.label, self.say, self.info = label, say, info

    def write(self, state: str, step: int, **extra: Any) -> None:
        self.rundir.write_status(state, step, self.total, **extra, **self.info)

    def __enter__(self) -> RunStatus:
        self.write("running", self.step)
        return self

    def progress(self, step: int) -> None:
        self.step = step
        self.write("running", step)
        self.say(f"[{self.label}] step {step}/{self.total}", flush=True)

    def checkpointed(self, step: int) -> None:
        self.info["checkpoint_step"] = self.step = step
        self.write("running", step)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.info["checkpoint_step"] = None
            self.write("done", self.total)
        elif isinstance(exc, Preempted):
            self.write("interrupted", exc.step, error=str(exc))
            self.say(f"[stop] {self.label}: {exc}", flush=True)
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            note = (
                "resumes from its checkpoint" if self.info.get("checkpoint_step") is not None else "no checkpoint yet"
            )
            self.write("interrupted", self.step, error=f"{type(exc).__name__} ({note})")
        else:
            self.write(
                "failed",
                self.step,
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(kind, exc, tb)),
            )


def _eval_csv(rows: list[dict[str, Any]], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EVAL_COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in EVAL_COLUMNS})
    return buf.getvalue()
