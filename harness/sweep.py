"""Sweeps: ``python -m harness.sweep suite=dmc-smoke algo=[tdmpc2] seeds=3 steps=20000 [launcher=slurm]``.

Expands (task x algorithm x seed) into runs and hands those that still need work to a launcher,
through submitit, with one job function for all of them (harness.launchers.RunJob):

- ``launcher=local`` (default): ``max_parallel`` local processes, each working through its share of
  the runs; waits for the end and prints progress (``wait=false``: return at once).
- ``launcher=slurm``: one Slurm array job per sweep (split into several arrays above the cluster's
  MaxArraySize), returns at once (``wait=true``: block until the end). Options: ``slurm.<key>=...``.
- ``launcher=debug``: in this process, one run after another (tests, debugging).

The sweep lives in ``<runs_dir>/sweeps/<sweep-id>/`` (``manifest.json``: runs, run directories,
overrides, and for every launch its jobs and array task ids; ``logs/``: submitit's files). The id is
a function of the runs, so the same command finds the same sweep: relaunching it skips finished
runs, leaves queued or running ones alone, resumes interrupted, cancelled and timed-out ones from
their checkpoints, and reruns failed ones only with ``retry_failed=true``. Watch a sweep with
``python -m harness.status <sweep dir> [--wait]``.

Sweep keys: suite, task (one or a list, instead of a suite), algo (one or a list), seeds (N -> seeds
1..N) or seed (one or a list), launcher, max_parallel, threads_per_run, runs_per_job, wait,
retry_failed, sweep_name, slurm.<key> (also slurm_<key>): partition, timeout_min, gpus_per_task,
cpus_per_task, mem_gb, account, qos, constraint, exclude, job_name, additional_parameters,
sbatch_lines, setup, array_parallelism, runs_per_job, max_array_size, signal_delay_s, max_requeues.
Every other key is passed to each run (``steps=...``, ``algo.model.size=1``, ``checkpoint_every=...``);
any of them given a list is an axis of the grid, as in Hydra's multirun
(``algo.model.size=[1,5,19,48,317]``: five variants per task, algorithm and seed).
A suite learnt from pixels (``obs: rgb`` in configs/suites.yaml: ``visual``, ``visual-tdmpc2``) gives
its runs ``obs=rgb``; another ``obs`` with it is refused. Pixel runs are named apart from state runs
(variant ``rgb``, ``laptop+rgb``, ...).
``mode=offline suite=S dataset=DIR``: one multi-task run per algorithm and seed (and grid point),
pretrained on every task of S from the dataset (harness/training/offline.py).
A value listed twice on any axis runs once (with a note); an empty list, or two runs that would
share one run directory (a key the directory does not name, ``steps=[a,b]``), is refused.
``--show-config`` (``--show-config=KEY``: only that field or section) prints the resolved config of
the first run of each algorithm variant, each value with the layer that set it, and what varies
across the runs; nothing is written or submitted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness.glcheck  # noqa: F401  (before torchrl: one line if MUJOCO_GL cannot load)

# isort: split

import submitit
from omegaconf import ListConfig, OmegaConf

import algorithms
from configs.errors import UnknownNameError
from configs.suites import get_suite
from harness import finished_run
from harness import status as status_mod
from harness.cli import command_line, one_line_errors
from harness.config import (
    RUN_RANGES,
    ConfigError,
    ResolvedRun,
    RunConfig,
    algo_defaults,
    check_range,
    check_runs_dir,
    flatten,
    parse_overrides,
    suite_obs,
    suite_obs_problem,
)
from harness.launchers import (
    RunJob,
    SlurmConfig,
    build_slurm_config,
    cluster_max_array_size,
    local_controller,
    make_executor,
)
from harness.modes import get_mode
from harness.published_only import published_only_problem
from harness.resolve import SHOW_CONFIG, resolve_run, show_config
from harness.rundir import atomic_write_text, now

LAUNCHERS = ("local", "slurm", "debug")
SWEEP_KEYS = (
    "suite",
    "task",
    "algo",
    "seeds",
    "seed",
    "launcher",
    "max_parallel",
    "threads_per_run",
    "runs_per_job",
    "wait",
    "retry_failed",
    "sweep_name",
)
#: the most seeds a sweep takes (seeds=N): every run is resolved and listed up front
MAX_SEEDS = 10_000
#: the most local processes at once (launcher=local's max_parallel)
MAX_PARALLEL = 1024
#: states in which a relaunch submits a run again (failed: only with retry_failed=true)
RELAUNCH = ("not started", "interrupted", "cancelled", "timeout", "unreadable")


@dataclass
class PlannedRun:
    overrides: dict[str, Any]
    path: Path
    label: str
    total_steps: int = 0
    resolved: ResolvedRun | None = None


@dataclass
class SweepSettings:
    launcher: str = "local"
    max_parallel: int = 2
    wait: bool = True
    retry_failed: bool = False
    sweep_name: str = ""
    slurm: SlurmConfig | None = None
    notes: list[str] = field(default_factory=list)  # what was skipped for which algorithm, and why


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"bad value {value!r} for {key}; expected a whole number")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"bad value {value!r} for {key}; expected true or false")


def _split_slurm(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pull ``slurm.<key>`` / ``slurm_<key>`` (and ``runs_per_job``) out of the overrides."""
    slurm, rest = {}, {}
    for k, v in overrides.items():
        if k.startswith("slurm.") or k.startswith("slurm_"):
            slurm[k[len("slurm.") :]] = v
        else:
            rest[k] = v
    if "runs_per_job" in rest:
        slurm.setdefault("runs_per_job", rest.pop("runs_per_job"))
    return slurm, rest


def expand(overrides: dict[str, Any]) -> tuple[list[PlannedRun], SweepSettings]:
    """The grid of runs (validated) and the sweep-level settings."""
    slurm_over, overrides = _split_slurm(overrides)
    opts = {k: overrides[k] for k in SWEEP_KEYS if k in overrides}
    common = {k: v for k, v in overrides.items() if k not in SWEEP_KEYS}
    suite = opts.get("suite")
    notes: list[str] = []  # a value listed twice: run once, and say so (the same for every axis)
    algos = once("algo", [str(a) for a in _as_list(opts.get("algo", "tdmpc2"))], notes)
    for key in [k for k, v in common.items() if isinstance(v, (list, tuple)) and not k.startswith("algo.")]:
        common[key] = once(key, list(common[key]), notes)  # axes: mode, steps, ... (algo.* ones below)
    modes = [get_mode(str(m)) for m in _as_list(common.get("mode", RunConfig.mode))]  # a list is a grid axis
    given_tasks = once("task", [str(t) for t in _as_list(opts["task"])], notes) if "task" in opts else None
    own = {m.name: m.sweep_tasks(given_tasks, None if suite is None else str(suite)) for m in modes}
    fixed = {name: t for name, t in own.items() if t is not None}  # offline: one multi-task run per point
    if fixed and len(modes) > 1:
        raise ConfigError(f"mode={'/'.join(fixed)} sets the task axis itself; sweep it on its own, not in mode=[...]")
    tasks = next(iter(fixed.values())) if fixed else None
    if tasks is None:
        tasks = given_tasks if given_tasks is not None else _suite_tasks(suite)
        listed = f"task={tasks[0]}" if len(tasks) == 1 else f"task=[{','.join(tasks)}]"
        problem = published_only_problem(tasks, f"suite={suite}" if given_tasks is None else listed)
        if problem:  # all of them at once, before any run is resolved
            raise ConfigError(problem)
    if suite is not None:  # a visual suite's runs learn from pixels: its obs, unless given (then it must agree)
        for value in _as_list(common.get("obs", [])):
            problem = suite_obs_problem(str(suite), str(value))
            if problem:
                raise ConfigError(problem)
        if "obs" not in common and suite_obs(str(suite)) not in (None, RunConfig.obs):
            common["obs"] = suite_obs(str(suite))
    for mode, algo in itertools.product(modes, algos):  # a pair the mode cannot take: one line, before any run
        try:
            problem = mode.refuses(algo)
        except UnknownNameError as exc:
            raise ConfigError(str(exc)) from None
        if problem:
            raise ConfigError(problem)
    for key in [k for k in _axis_keys(common, algos) if k.startswith("algo.")]:  # once the algorithms are known
        common[key] = once(key, list(common[key]), notes)
    if "seed" in opts:
        seeds = once("seed", [_as_int("seed", s) for s in _as_list(opts["seed"])], notes)
        if any(s < 0 for s in seeds):
            raise ConfigError(f"bad value {opts['seed']!r} for seed; expected whole numbers >= 0")
    else:
        n = _as_int("seeds", opts.get("seeds", 1))
        if n < 1 or n > MAX_SEEDS:
            raise ConfigError(f"bad value {n!r} for seeds; expected a number of seeds from 1 to {MAX_SEEDS}")
        seeds = list(range(1, n + 1))
    launcher = str(opts.get("launcher", "local"))
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {launcher!r}; valid: {', '.join(LAUNCHERS)}")
    slurm = build_slurm_config(slurm_over)
    if slurm_over and launcher != "slurm":
        keys = ", ".join(f"slurm.{k}" for k in slurm_over)
        raise ConfigError(f"{keys} given, but launcher={launcher}; add launcher=slurm")
    settings = SweepSettings(
        launcher=launcher,
        max_parallel=_as_int("max_parallel", opts.get("max_parallel", 2)),
        wait=_as_bool("wait", opts.get("wait", launcher != "slurm")),
        retry_failed=_as_bool("retry_failed", opts.get("retry_failed", False)),
        sweep_name=str(opts.get("sweep_name", "")),
        slurm=slurm if launcher == "slurm" else None,
        notes=notes,
    )
    check_range("max_parallel", settings.max_parallel, 1, MAX_PARALLEL)
    if "runs_dir" in common:  # jobs may start in another directory: give them absolute paths
        common["runs_dir"] = str(Path(str(common["runs_dir"])).expanduser().absolute())
    else:
        common["runs_dir"] = str(Path("runs").absolute())
    threads = opts.get("threads_per_run")
    if threads is not None:
        check_range("threads_per_run", _as_int("threads_per_run", threads), *RUN_RANGES["threads"])
    if threads is None and launcher == "slurm" and slurm.cpus_per_task:
        threads = max(1, slurm.cpus_per_task // slurm.runs_per_job)  # torch would otherwise use the whole node
    if threads is None and launcher == "local" and "threads" not in common:
        # max_parallel processes at once share this machine's cores: torch's default (a thread per
        # core in each) oversubscribes them, and its threads spin-wait for each other (measured on
        # 2 busy cores: a planner step 9.2 s against 1.2 s with one thread per process)
        threads = max(1, (os.cpu_count() or 1) // settings.max_parallel)
    runs = []
    for point in grid(common, algos):
        per_algo, notes = _per_algorithm(point, algos)
        settings.notes += [n for n in notes if n not in settings.notes]
        for task, algo, seed in itertools.product(tasks, per_algo, seeds):
            ov = {**per_algo[algo], "algo": algo, "seed": seed, "suite": suite or "none"}
            if task is not None:
                ov["task"] = task
            if threads is not None:
                ov["threads"] = _as_int("threads_per_run", threads)
            r = resolve_run(ov)  # fails at once on a bad name, key or value
            path = r.path
            runs.append(PlannedRun(ov, path, f"{r.run.task} {algo}[{r.variant}] seed {seed}", r.run.steps, r))
    return one_per_directory(runs, settings.notes), settings


def once(key: str, values: list[Any], notes: list[str]) -> list[Any]:
    """The values of one list axis (task, algo, seed, mode or any grid key), each once, in their
    order; a value listed more than once gets a note. An empty list sweeps nothing: refused."""
    if not values:
        raise ConfigError(f"{key}=[]: an empty list sweeps nothing; give at least one value")
    kept: list[Any] = []
    for v in values:
        times = sum(type(w) is type(v) and w == v for w in values)
        if not any(type(k) is type(v) and k == v for k in kept):
            kept.append(v)
            if times > 1:
                given = ",".join(str(w) for w in values)
                notes.append(
                    f"[dup] {key}=[{given}]: {v} listed {'twice' if times == 2 else f'{times} times'}; running it once"
                )
    return kept


def one_per_directory(runs: list[PlannedRun], notes: list[str]) -> list[PlannedRun]:
    """Never two planned runs in one run directory: the same resolved run twice is run once (with a
    note); two different runs that share a directory (a run key the directory does not name, such
    as ``steps=[1000,2000]``) are refused."""
    first: dict[Path, PlannedRun] = {}
    kept = []
    for r in runs:
        other = first.setdefault(r.path, r)
        if other is r:
            kept.append(r)
            continue
        assert r.resolved is not None and other.resolved is not None
        a, b = flatten(other.resolved.to_dict()), flatten(r.resolved.to_dict())
        differ = [k for k in a if a[k] != b.get(k)] + [k for k in b if k not in a]
        if not differ:
            notes.append(f"[dup] {r.label}: the same run as an earlier one of this sweep ({r.path}); running it once")
            continue
        keys = [k.removeprefix("run.") for k in differ]
        shown = ", ".join(f"{k}=[{a.get(d)},{b.get(d)}]" for k, d in zip(keys, differ))
        raise ConfigError(
            f"{shown}: these runs would share one run directory ({r.path}), which does not depend on "
            f"{' or '.join(keys)}; sweep one value at a time, each with its own runs_dir"
        )
    return kept


def _suite_tasks(suite: Any) -> list[str]:
    if suite is None:
        raise ConfigError("a sweep needs suite=NAME or task=[...]")
    try:
        return list(get_suite(str(suite)).tasks)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None


def _is_list_field(key: str, algos: list[str]) -> bool:
    """Whether ``key`` (``algo.x.y`` or a run key) names a list-valued field of any of ``algos``."""
    if not key.startswith("algo."):
        return False
    for algo in algos:
        value = OmegaConf.select(algo_defaults(algo), key[len("algo.") :], default=None)
        if isinstance(value, ListConfig):
            return True
    return False


def grid(common: dict[str, Any], algos: list[str]) -> list[dict[str, Any]]:
    """Hydra-multirun style: every key given a list (``algo.model.size=[1,5,19]``) is an axis of the
    grid, except a list-valued field given one list (``algo.hidden_dims=[64,64]``), which a list of
    lists sweeps (``algo.hidden_dims=[[64,64],[256,256]]``). -> one override dict per grid point."""
    axes: dict[str, list[Any]] = {}
    for key in _axis_keys(common, algos):
        if not common[key]:
            raise ConfigError(f"{key}=[]: an empty list sweeps nothing; give at least one value")
        axes[key] = list(common[key])
    points = []
    for values in itertools.product(*axes.values()):
        points.append({**common, **dict(zip(axes, values))})
    return points


def _axis_keys(common: dict[str, Any], algos: list[str]) -> list[str]:
    """The keys of ``common`` that are grid axes (see :func:`grid`)."""
    return [
        key
        for key, value in common.items()
        if isinstance(value, (list, tuple))
        and not (_is_list_field(key, algos) and not all(isinstance(v, (list, tuple)) for v in value))
    ]


def _per_algorithm(common: dict[str, Any], algos: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each listed algorithm's overrides, without what makes no sense for it (capability flags,
    algorithms.registry): ``algo.energy.eta`` is dropped for tdmpc2 and ``algo.planner.*`` for sac,
    which then run as registered; an algorithm that cannot take ``obs=rgb`` is left out. Each skip
    is one note. What fits none of the listed algorithms is kept, so that resolve_run rejects it
    with its one-line reason (a typo stays an error)."""
    from algorithms.registry import CAPABILITIES

    for algo in algos:
        try:
            algorithms.get_algorithm(algo)
        except UnknownNameError as exc:
            raise ConfigError(str(exc)) from None
    algo_over = {k[len("algo.") :]: v for k, v in common.items() if k.startswith("algo.")}
    why: dict[str, dict[str, str]] = {}  # algo -> {key: reason}
    for algo in algos:
        entry = algorithms.get_algorithm(algo)
        fields = set(flatten(OmegaConf.to_container(algo_defaults(algo))))
        why[algo] = {k: f"it has no {cap.replace('_', ' ')}" for k, cap in entry.lacks(algo_over).items()}
        why[algo].update(
            {k: "its config has no such field" for k in algo_over if k not in fields and k not in why[algo]}
        )
    everywhere = {k for k in algo_over if all(k in why[a] for a in algos)}
    obs = str(common.get("obs", "state"))
    able = [a for a in algos if obs == "state" or "pixels" in algorithms.get_algorithm(a).capabilities]
    notes = [f"[skip] {a}: obs={obs} needs {CAPABILITIES['pixels']}, which it has not" for a in algos if a not in able]
    out = {}
    for algo in able or algos:
        dropped = {k: r for k, r in why[algo].items() if k not in everywhere}
        notes += [f"[skip] algo.{k}={algo_over[k]!r} for {algo}: {r}; it runs without it" for k, r in dropped.items()]
        out[algo] = {
            k: v for k, v in common.items() if k.removeprefix("algo.") not in dropped or not k.startswith("algo.")
        }
    return out, notes


def sweep_id(runs: list[PlannedRun], settings: SweepSettings) -> str:
    """A function of the runs (their directories), so the same command finds the same sweep."""
    digest = hashlib.sha1("\n".join(sorted(str(r.path) for r in runs)).encode()).hexdigest()[:8]
    name = settings.sweep_name or Path(runs[0].overrides.get("suite", "none")).name
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return f"{name}-{digest}"


def grace_seconds(signal_delay_s: float) -> float:
    """How long after SIGUSR2 a run may take to reach its episode end before the job is requeued
    anyway: three quarters of the warning time (the rest is for writing the checkpoint)."""
    return max(5.0, 0.75 * signal_delay_s)


def local_chains(runs: list[PlannedRun], indices: list[int], chains: int) -> list[list[int]]:
    """The local launcher's chains (each one process working through its runs in turn): each
    algorithm's runs dealt round the chains in turn, continuing where the previous algorithm's
    ended, so every chain gets its share of each algorithm, cheap and costly; then chain j starts
    with the j-th algorithm (the order rotated per chain), so the chains' first runs compile
    different graphs and a later run of the same algorithm finds inductor's cache filled.
    Measured on ``tox -e demo`` (tdmpc2, mbdpo, random x 3 seeds, 2 chains on 2 cores): dealing the
    grid's order as it comes started tdmpc2 in both chains, both compiling it from an empty cache
    at once (190 s per run against 113 s compiled); started apart, 12 min 1 s in all, the chains
    ending 53 s apart. Dealing seed by seed instead put every costly run in one chain when one
    other algorithm alternated with it (``algo=[tdmpc2,random]`` over several tasks)."""
    algos: list[str] = []
    for i in indices:
        if runs[i].overrides.get("algo") not in algos:
            algos.append(runs[i].overrides.get("algo"))
    dealt: list[list[int]] = [[] for _ in range(chains)]
    pos = 0
    for algo in algos:
        for i in indices:
            if runs[i].overrides.get("algo") == algo:
                dealt[pos % chains].append(i)
                pos += 1
    rank = {algo: r for r, algo in enumerate(algos)}
    position = {i: p for p, i in enumerate(indices)}
    return [
        sorted(chain, key=lambda i, j=j: ((rank[runs[i].overrides.get("algo")] - j) % len(algos), position[i]))
        for j, chain in enumerate(dealt)
        if chain
    ]


def _groups(runs: list[PlannedRun], indices: list[int], settings: SweepSettings) -> list[list[int]]:
    if settings.launcher == "local":  # max_parallel chains, each worked through one after another
        return local_chains(runs, indices, min(settings.max_parallel, len(indices))) if indices else []
    per_job = settings.slurm.runs_per_job if settings.launcher == "slurm" and settings.slurm else 1
    return [indices[i : i + per_job] for i in range(0, len(indices), per_job)]


def _write_manifest(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(sweep_dir / "manifest.json", json.dumps(manifest, indent=1, default=str) + "\n")


def submit(
    runs: list[PlannedRun],
    todo: list[int],
    settings: SweepSettings,
    sweep_dir: Path,
    manifest: dict[str, Any],
    argv: list[str],
) -> tuple[list[Any], dict[str, Any]]:
    """Submit the runs ``todo`` (indices into ``runs``); record the launch in the manifest."""
    launch_no = len(manifest.get("launches", [])) + 1
    folder = sweep_dir / "logs" / f"launch-{launch_no}"
    groups = _groups(runs, todo, settings)
    launch: dict[str, Any] = {
        "launch": launch_no,
        "time": now(),
        "launcher": settings.launcher,
        "argv": argv,
        "host": socket.gethostname(),
        "jobs": [],
    }
    if settings.launcher == "slurm":
        launch["slurm"] = asdict(settings.slurm)
    jobs: list[Any] = []
    if not groups:
        pass
    elif settings.launcher == "slurm":
        slurm = settings.slurm
        executor = make_executor("slurm", folder, slurm)
        fn = RunJob(parallel=slurm.runs_per_job > 1, grace_s=grace_seconds(slurm.signal_delay_s))
        chunk = slurm.max_array_size or cluster_max_array_size()
        for start in range(0, len(groups), chunk):
            part = groups[start : start + chunk]
            array = executor.map_array(fn, [[runs[i].overrides for i in g] for g in part])
            for job, g in zip(array, part):
                main_id, _, task = str(job.job_id).partition("_")
                launch["jobs"].append(
                    {
                        "job_id": str(job.job_id),
                        "array_job_id": main_id if task else None,
                        "array_task_id": int(task) if task else None,
                        "runs": g,
                    }
                )
            jobs += array
    else:
        executor = make_executor(settings.launcher, folder)
        fn = RunJob(parallel=False)
        for g in groups:
            job = executor.submit(fn, [runs[i].overrides for i in g])
            launch["jobs"].append({"job_id": str(job.job_id), "runs": g})
            jobs.append(job)
    manifest.setdefault("launches", []).append(launch)
    _write_manifest(sweep_dir, manifest)
    return jobs, launch


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _signal_local_jobs(jobs: list[Any]) -> None:
    """SIGTERM to each local job's controller, which forwards it to its worker (harness.launchers)."""
    for job in jobs:
        proc = local_controller(job)
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except OSError:
                pass


@contextlib.contextmanager
def manifest_lock(sweep_dir: Path):
    """An exclusive lock on ``<sweep_dir>/.manifest.lock`` (waits for another launcher of this sweep)."""
    import fcntl

    fd = os.open(sweep_dir / ".manifest.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        yield
    finally:
        os.close(fd)


def describe(runs: list[PlannedRun], key: str = "") -> str:
    """``--show-config``: the resolved config (each value with its origin) of the first run of each
    algorithm variant, and what varies across the runs."""
    shown: dict[tuple[str, str], str] = {}
    values: dict[str, list[str]] = {}
    for r in runs:
        assert r.resolved is not None
        shown.setdefault((r.resolved.run.algo, r.resolved.variant), show_config(r.resolved, key))
        for name, value in flatten(asdict(r.resolved.run)).items():
            if str(value) not in values.setdefault(name, []):
                values[name].append(str(value))
    varying = [
        f"{k}: {', '.join(v[:6])}{f' (+{len(v) - 6} more)' if len(v) > 6 else ''}"
        for k, v in values.items()
        if len(v) > 1
    ]
    summary = f"# {len(runs)} runs, {len(shown)} algorithm configurations (the first run of each shown above)"
    return "\n\n".join([*shown.values(), summary + ("; varying: " + "; ".join(varying) if varying else "")])


@command_line(__doc__)
def main(argv: list[str]) -> int:
    show = [a for a in argv if a == SHOW_CONFIG or a.startswith(SHOW_CONFIG + "=")]
    argv = [a for a in argv if a not in show]
    with one_line_errors(ConfigError, ValueError):
        overrides = parse_overrides(argv)
        runs, settings = expand(overrides)
        if show:
            print(describe(runs, show[-1].partition("=")[2]))
            for note in settings.notes:
                print(note)
            return 0
    for note in settings.notes:
        print(note)
    runs_dir = Path(runs[0].overrides["runs_dir"])
    sweep_dir = runs_dir / "sweeps" / sweep_id(runs, settings)
    manifest_path = sweep_dir / "manifest.json"
    with one_line_errors(ConfigError, status_mod.ManifestError):
        check_runs_dir(runs_dir)
        if manifest_path.exists():
            status_mod.load_manifest(sweep_dir)  # refuse a damaged record before anything is written
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # One launcher at a time per sweep: two identical sweeps started together submit each run once
    # (the second one sees the first one's jobs in the manifest).
    with manifest_lock(sweep_dir):
        code, jobs, launch = _launch(runs, settings, sweep_dir, manifest_path, argv)
    if code is not None:
        return code
    return follow(settings, sweep_dir, jobs, launch)


def _launch(runs, settings, sweep_dir, manifest_path, argv):
    """Under the manifest lock: record the runs, decide what to launch, submit it."""
    runs_dir = Path(runs[0].overrides["runs_dir"])
    try:
        manifest = status_mod.load_manifest(sweep_dir) if manifest_path.exists() else None
    except status_mod.ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, [], {}
    manifest = manifest or {"created": now(), "launches": []}
    manifest.update(
        {
            "sweep_id": sweep_dir.name,
            "runs_dir": str(runs_dir),
            "updated": now(),
            "runs": [
                {
                    "index": i,
                    "label": r.label,
                    "path": str(r.path),
                    "total_steps": r.total_steps,
                    "overrides": r.overrides,
                }
                for i, r in enumerate(runs)
            ],
        }
    )
    _write_manifest(sweep_dir, manifest)

    rows = status_mod.sweep_rows(sweep_dir, manifest)
    todo = [r.index for r in rows if r.state in RELAUNCH or (r.state == "failed" and settings.retry_failed)]
    for r in rows:
        if r.index in todo and any(w in r.note for w in ("truncated", "unreadable", "damaged", "missing")):
            print(f"[warn] {r.label}: {r.note}")
        elif r.state == "done" and r.note:
            print(f"[warn] {r.label}: {r.note}; kept as done, not retrained")
        if r.state == "done":  # status.json set to done, eval.csv from final.pt, stale tmp removed (issue 26)
            finished_run.repair_if_needed(r.path)
    by_state = status_mod.counts(rows)
    held = {k: v for k, v in by_state.items() if k in ("done", "pending", "running", "requeued")}
    skipped_failed = by_state.get("failed", 0) if not settings.retry_failed else 0
    print(
        f"sweep {sweep_dir}: {len(runs)} runs; "
        + (", ".join(f"{v} already {k}" for k, v in held.items()) + "; " if held else "")
        + (f"{skipped_failed} failed (not rerun; retry_failed=true reruns them); " if skipped_failed else "")
        + f"{len(todo)} to launch ({settings.launcher})"
    )
    try:
        jobs, launch = submit(runs, todo, settings, sweep_dir, manifest, argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, [], {}
    except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError, OSError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: submission failed: {msg[:500]}", file=sys.stderr)
        return 1, [], {}
    return None, jobs, launch


def follow(settings: SweepSettings, sweep_dir: Path, jobs: list[Any], launch: dict[str, Any]) -> int:
    """After the launch: wait (local, or wait=true) and print the outcome."""
    if settings.launcher == "slurm" and launch["jobs"]:
        arrays = sorted({j["array_job_id"] or j["job_id"] for j in launch["jobs"]})
        print(f"submitted {len(launch['jobs'])} Slurm task(s) in job(s) {', '.join(arrays)}")
    print(f"watch: python -m harness.status {sweep_dir}" + ("" if settings.wait else " --wait"), flush=True)

    if settings.launcher == "debug":
        for job in jobs:
            try:
                job.result()
            except Exception as exc:
                print(
                    f"  FAILED  {str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__}"
                )
    elif settings.wait and (jobs or not status_mod.all_final(status_mod.sweep_rows(sweep_dir))):
        # (no new jobs but runs still going, e.g. workers of an earlier launch whose sweep died: watch them)

        def reap() -> None:  # local jobs: poll() their processes, so that none stays a zombie
            for job in jobs:
                job.done()

        interval = 5 if settings.launcher == "local" else 15
        watch = dict(live=False, before_poll=reap if settings.launcher == "local" else None)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            _watch_jobs(sweep_dir, jobs if settings.launcher == "local" else [], interval, watch)
        except KeyboardInterrupt:
            if settings.launcher != "local" or not jobs:
                return _after_interrupt(sweep_dir, jobs_go_on=True)
            # Ctrl-C or SIGTERM: every running run checkpoints at its next episode end; again: at once
            _signal_local_jobs(jobs)
            print(
                "\n[stop] checkpointing every running run at its next episode end (Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
            try:
                _watch_jobs(sweep_dir, jobs, 1, watch)
            except KeyboardInterrupt:
                _signal_local_jobs(jobs)
                print("[stop] stopping at once", file=sys.stderr, flush=True)
                for job in jobs:
                    proc = local_controller(job)
                    try:
                        if proc is not None:
                            proc.wait(timeout=30)
                    except Exception:
                        pass
            return _after_interrupt(sweep_dir, jobs_go_on=False)
        finally:
            signal.signal(signal.SIGTERM, previous)
    elif not settings.wait:
        return 0
    rows = status_mod.sweep_rows(sweep_dir)
    print(status_mod.format_table(rows))
    done = sum(r.state == "done" for r in rows)
    failed = [r for r in rows if r.state != "done"]
    print(f"sweep finished: {done}/{len(rows)} done" + (f", {len(failed)} not done" if failed else ""))
    for r in failed:
        print(f"  {r.state.upper():<10} {r.label}: {r.note} (see {r.path}/status.json)")
    return 0 if not failed else 1


def _watch_jobs(sweep_dir: Path, jobs: list[Any], interval: float, watch: dict[str, Any]) -> None:
    """status.watch until every run is final and every local job of this launch has ended: a run's
    state alone can look final while the job that will rerun it has not reached it yet."""
    while True:
        status_mod.watch(sweep_dir, interval=interval, **watch)
        while not all(job.done() for job in jobs):
            time.sleep(interval)
            if not status_mod.all_final(status_mod.sweep_rows(sweep_dir)):
                break  # a job of this launch reached a run that looked final: watch on
        else:
            return


def _after_interrupt(sweep_dir: Path, jobs_go_on: bool) -> int:
    """After Ctrl-C (or SIGTERM): the runs' real end state. All done: say so, exit 0. Else name each
    run that is not done, exit 130. ``jobs_go_on``: only the watching stopped (Slurm jobs run on)."""
    rows = status_mod.sweep_rows(sweep_dir)
    left = [r for r in rows if r.state != "done"]
    if not left:
        print(status_mod.format_table(rows))
        print(f"sweep finished: {len(rows)}/{len(rows)} done (the interrupt came as they finished: nothing to resume)")
        return 0
    print(status_mod.format_table(rows), file=sys.stderr)
    for r in left:
        print(f"  {r.state.upper():<10} {r.label}" + (f": {r.note}" if r.note else ""), file=sys.stderr)
    counts = f"{len(rows) - len(left)}/{len(rows)} done, {len(left)} not"
    if jobs_go_on:
        watch = f"python -m harness.status {sweep_dir} --wait"
        print(f"stopped watching ({counts}); the jobs go on: {watch}", file=sys.stderr)
    else:
        print(f"interrupted ({counts}); run the same command again to resume", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
