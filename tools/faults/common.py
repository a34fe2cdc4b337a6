"""What the two campaigns share: tiny run settings, processes (fresh, in their own process group,
with a time limit), directory snapshots, small tmpfs mounts (a full disk; needs root), fixtures
(tiny finished runs, a dataset exported from them, an offline-pretrained run) and the tables.

Everything runs the programs through their command lines (``python -m harness.run ...``) in fresh
processes, one at a time, with ``threads=1``."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

#: the cheapest real world-model agent: TD-MPC2's policy prior acting (no planner), a narrowed size-1 model
TINY = [
    "algo=tdmpc2-pi",
    "algo.model.size=1",
    "algo.model.enc_dim=32",
    "algo.model.mlp_dim=32",
    "algo.model.latent_dim=16",
    "algo.batch_size=8",
    "algo.planner.horizon=1",
    "logger=none",
    "threads=1",
]
#: online: two 500-step episodes, a checkpoint at the first episode end, evaluations at 0, 500, 1000
ONLINE = [
    "task=cartpole-balance",
    "steps=1000",
    "eval_every=500",
    "eval_episodes=1",
    "eval_at_start=true",
    "checkpoint_every=500",
    "log_every=100",
    *TINY,
    "algo.seed_steps=10",
]
SUITE = "mt-smoke"
#: offline: 40 updates on the suite's tasks, a checkpoint every 10, evaluations (3 tasks) at 20 and 40
OFFLINE = [
    "mode=offline",
    f"suite={SUITE}",
    "steps=40",
    "eval_every=20",
    "eval_episodes=1",
    "eval_at_start=false",
    "checkpoint_every=10",
    "log_every=5",
    *TINY,
]
#: fine-tune: the offline run's model on cartpole-balance, online, as ONLINE's budget
FINETUNE = [
    "mode=finetune",
    "task=cartpole-balance",
    "steps=1000",
    "eval_every=500",
    "eval_episodes=1",
    "eval_at_start=true",
    "checkpoint_every=500",
    "log_every=100",
    *TINY,
]


def py(module: str, *args: str) -> list[str]:
    return [PYTHON, "-m", module, *args]


def show(cmd: Sequence[str]) -> str:
    """A command as one shell line (the interpreter shortened to ``python``)."""
    parts = ["python" if i == 0 and c == PYTHON else c for i, c in enumerate(cmd)]
    return " ".join(shlex.quote(os.fsdecode(p) if isinstance(p, bytes) else p) for p in parts)


def say(*parts: object) -> None:
    print(*parts, flush=True)


# ----------------------------------------------------------------------------- processes
@dataclass
class Result:
    cmd: list[str]
    rc: int | None  # None: killed at the time limit
    out: str
    err: str
    seconds: float

    @property
    def console(self) -> str:
        return self.out + self.err

    @property
    def timed_out(self) -> bool:
        return self.rc is None


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run(cmd: Sequence[str], timeout: float = 600, cwd: Path = REPO) -> Result:
    """Run ``cmd`` to its end (or kill its process group at ``timeout``)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        rc = None
    dec = lambda b: b.decode("utf-8", "replace")  # noqa: E731
    return Result(list(cmd), rc, dec(out), dec(err), time.monotonic() - t0)


class Background:
    """A program started in its own process group, its console captured into a file."""

    def __init__(self, cmd: Sequence[str], log: Path, cwd: Path = REPO) -> None:
        self.cmd = list(cmd)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(log, "wb")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=cwd,
            env=env(),
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.t0 = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Its exit status, or None after killing its group at ``timeout``."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)
            self.proc.wait()
            return None
        finally:
            self._fh.flush()

    def stop(self) -> None:
        kill_group(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._fh.close()

    def console(self) -> str:
        self._fh.flush()
        return self.log.read_bytes().decode("utf-8", "replace")


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains ``text`` (pid -> command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if text in cmd and ") Z " not in stat:  # zombies are not alive
            found[int(entry.name)] = cmd
    return found


def kill_mentioning(text: str) -> list[int]:
    """kill -9 every live process whose command line contains ``text`` (a case's private temp dir)."""
    pids = list(processes_mentioning(text))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def wait_for(predicate, timeout: float, poll: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(poll)
    return False


# ----------------------------------------------------------------------------- files
def tree(*roots: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of everything under ``roots`` (the roots included)."""
    out = {}
    for root in roots:
        if not os.path.lexists(root):
            continue
        paths = [root, *root.rglob("*")] if root.is_dir() and not root.is_symlink() else [root]
        for p in paths:
            with contextlib.suppress(OSError):
                st = p.lstat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def tmp_files(root: Path) -> list[str]:
    """Temporary files left under ``root`` (``*.tmp``, ``.memmap`` staging dirs)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name)


def sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+Error: ", re.M)


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (a full disk); always unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            kill_mentioning(str(path))
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def grow_tmpfs(path: Path, size: str = "256m") -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def can_mount() -> bool:
    probe = Path(f"/tmp/faults-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
        if ok.returncode == 0:
            subprocess.run(["umount", str(probe)], capture_output=True)
            return True
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


# ----------------------------------------------------------------------------- run directories
def run_dirs(runs_dir: Path) -> list[Path]:
    """Run directories (those holding a config.yaml or status.json) under ``runs_dir``, sweeps excluded."""
    if not runs_dir.exists():
        return []
    found = {p.parent for name in ("status.json", "config.yaml") for p in runs_dir.rglob(name)}
    return sorted(p for p in found if "sweeps" not in p.relative_to(runs_dir).parts and p.name.startswith("seed_"))


def read_json(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def eval_steps(path: Path) -> list[int]:
    try:
        rows = list(csv.DictReader(path.read_text().splitlines()))
        return [int(r["step"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []


# ----------------------------------------------------------------------------- fixtures
@dataclass
class Fixtures:
    root: Path
    collect: Path  # finished online runs of two mt-smoke tasks (runs_dir)
    dataset: Path  # exported from them, two 500-step episodes
    offline: Path  # a finished offline multi-task run directory
    online_run: Path  # a finished online run directory (cartpole-balance)


def fixtures(root: Path) -> Fixtures:
    """Build (once; reused when ``root`` already has them) the shared inputs."""
    root.mkdir(parents=True, exist_ok=True)
    collect, dataset, offline_runs = root / "collect", root / "dataset", root / "offline"
    if not (collect / ".complete").exists():
        shutil.rmtree(collect, ignore_errors=True)
        for task in ("cartpole-balance", "reacher-easy"):
            args = [*TINY, f"task={task}", f"suite={SUITE}", "steps=500", "eval_every=500", "eval_at_start=false"]
            args += ["eval_episodes=1", "algo.seed_steps=500", f"runs_dir={collect}"]
            say(f"[fixture] {show(py('harness.run', *args))}")
            res = run(py("harness.run", *args))
            if res.rc != 0:
                raise SystemExit(f"fixture run failed:\n{res.console[-3000:]}")
        (collect / ".complete").write_text("")
    if not (dataset / "dataset.json").exists():
        shutil.rmtree(dataset, ignore_errors=True)
        cmd = py("harness.export", str(collect), "--suite", SUITE, "--out", str(dataset))
        say(f"[fixture] {show(cmd)}")
        res = run(cmd)
        if res.rc != 0:
            raise SystemExit(f"fixture export failed:\n{res.console[-3000:]}")
    done = [p for p in run_dirs(offline_runs) if (p / "done.json").exists()]
    if not done:
        shutil.rmtree(offline_runs, ignore_errors=True)
        data_copy = root / "dataset-for-offline"
        shutil.rmtree(data_copy, ignore_errors=True)
        shutil.copytree(dataset, data_copy)
        args = [*OFFLINE, f"dataset={data_copy}", f"runs_dir={offline_runs}"]
        say(f"[fixture] {show(py('harness.run', *args))}")
        res = run(py("harness.run", *args))
        if res.rc != 0:
            raise SystemExit(f"fixture offline run failed:\n{res.console[-3000:]}")
        done = [p for p in run_dirs(offline_runs) if (p / "done.json").exists()]
    online = [p for p in run_dirs(collect) if "cartpole-balance" in str(p)]
    return Fixtures(root, collect, dataset, done[0], online[0])


# ----------------------------------------------------------------------------- tables
def write_table(out: Path, name: str, title: str, columns: Sequence[str], rows: list[dict], notes: str = "") -> None:
    """``out/<name>.csv`` and ``out/<name>.md`` (a summary, then one row per case)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="", errors="backslashreplace") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [f"# {title}", "", notes, ""] if notes else [f"# {title}", ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n", errors="backslashreplace")


def counts(values: Sequence[str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(Counter(values).items(), key=lambda kv: -kv[1]))


def commit() -> str:
    res = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "-uno"], capture_output=True, text=True)
    return res.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


def select_cases(cases: list, quick: bool, only: list[str]) -> list:
    """The cases to run: all, or those marked ``quick``; then only ``only``'s ids or id prefixes."""
    chosen = [c for c in cases if c.quick] if quick else list(cases)
    if only:
        chosen = [c for c in chosen if any(c.id == o or c.id.startswith(o) for o in only)]
    return chosen
