"""Evaluate checkpoints, e.g. ``python -m harness.evaluate checkpoint=RUN_DIR episodes=10``.

``checkpoint=`` is a run directory (its ``final.pt``, else its ``checkpoint.pt``), a state file
beside its run's ``config.yaml``, or a checkpoint file written by TD-MPC2's or MBDPO's own ``save``
(e.g. TD-MPC2's published ``mt80-48M.pt``; ``format=auto`` tells them apart, ``format=tdmpc2|mbdpo``
insists); a list (``checkpoint=[A,B,C]``, e.g. one per seed; quote paths that hold commas:
``checkpoint=['A','B']``) evaluates each. Any kind: an online
run, an offline multi-task model, a fine-tuned run, a reference model. Each is evaluated without
exploration noise on its own tasks: all of them by default, or ``task=X`` / ``task=[X,Y]`` /
``suite=S`` (tasks the model was not trained on are refused, naming those it knows). A single-task
reference file names no task: it needs ``task=X``, a task of its observation and action dims.

Results go into one run directory per checkpoint under ``out`` (default ``evaluations``), in the
results format (docs/results-format.md), so that ``python -m analysis.report evaluations`` reads
them: ``<out>/<suite>/<task or multitask>/<algo>/<variant dir>+eval-<file>/seed_<seed>/`` with
``config.yaml`` (the checkpoint run's, plus an ``evaluation`` block: the file, its step and its
commit), ``eval.csv`` (step = the checkpoint's step) and the done markers. A reference file's
directory is ``reference-<format>-<file stem>+eval-<sha256[:8]>``, its step 0 (the file records
none), and its ``config.yaml`` the synthesised run plus ``pretrained:`` (path, sha256, bytes,
format, key layout and what was inferred from the tensors). The checkpoint is only read. An
evaluation already done is skipped; an unfinished one is kept under ``attempts/``.

Keys: checkpoint (required), format (auto | ours | tdmpc2 | mbdpo), task, suite, episodes (10),
seed (the checkpoint run's seed), out, device (auto), threads (1; 0: torch's default, one per core, which
on a busy machine can be many times slower: its threads spin-wait for each other).

Ctrl-C or SIGTERM stops at once (status 130) in one line: the evaluation under way leaves no
``eval.csv`` (written at its end, atomically) and is redone by the same command; those finished stay.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness.glcheck  # noqa: F401  (before torchrl: one line if MUJOCO_GL cannot load)
import harness.stop_while_starting  # noqa: F401  (first: a signal while torch loads ends in one line)

# isort: split

import torch

import algorithms
from algorithms.base import EnvSpec
from algorithms.registry import flatten
from configs.errors import UnknownNameError
from configs.results import DEFAULT_MODE
from configs.suites import get_suite
from envs import get_task, make_batched_env
from harness import stop
from harness.cli import INTERRUPTED, command_line, disk_full_errors, one_line_errors
from harness.code_version import code_version
from harness.config import (
    RUN_RANGES,
    ConfigError,
    build_algo_config,
    check_range,
    check_runs_dir,
    parse_overrides,
    variant_name,
)
from harness.devices import resolve_device
from harness.modes import Mode, get_mode
from harness.published_only import published_only_problem
from harness.rundir import RunDir, RunStatus, file_problem
from harness.training.episodes import eval_rows, evaluate_episodes
from harness.training.pretrained import FORMATS, Pretrained, PretrainedError, find_pretrained
from harness.training.task_view import TaskView
from harness.training.trainer import seed_everything

#: torch threads of an evaluation: one. Torch's default (threads=0: one per core) spin-waits on busy
#: cores: one episode of the reference-size TD-MPC2 took >170 s instead of 26 s on a loaded 2-core machine
DEFAULT_THREADS = 1

KEYS = ("checkpoint", "format", "task", "suite", "episodes", "seed", "out", "device", "threads")


@dataclass(frozen=True)
class Request:
    checkpoints: tuple[str, ...]
    tasks: tuple[str, ...] | None  # None: every task the model knows
    suite: str | None
    episodes: int = 10
    seed: int | None = None
    out: Path = Path("evaluations")
    device: str = "auto"
    threads: int = DEFAULT_THREADS
    format: str = "auto"
    notes: tuple[str, ...] = ()  # what was made of the request (a checkpoint listed twice: once)


@dataclass(frozen=True)
class Plan:
    """One checkpoint's evaluation: what is read and where its results go."""

    pretrained: Pretrained
    tasks: tuple[str, ...]
    seed: int
    path: Path


def _whole(key: str, value: Any) -> int:
    low, high = RUN_RANGES[{"episodes": "eval_episodes"}.get(key, key)]  # the ranges of a run's fields
    check_range(key, value, low, high)
    return value


def parse_request(argv: list[str]) -> Request:
    opts = parse_overrides(argv)
    unknown = sorted(set(opts) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} for harness.evaluate; valid: {', '.join(KEYS)}")
    if not opts.get("checkpoint"):
        raise ConfigError("checkpoint= is required: a run directory or a final.pt / checkpoint.pt file")
    ckpts = opts["checkpoint"] if isinstance(opts["checkpoint"], list) else [opts["checkpoint"]]
    twice = sorted({str(c) for c in ckpts if ckpts.count(c) > 1})
    notes = tuple(f"[dup] checkpoint={c} listed twice; evaluating it once" for c in twice)
    ckpts = list(dict.fromkeys(ckpts))
    if "task" in opts and "suite" in opts:
        raise ConfigError("give task= or suite=, not both")
    tasks = opts.get("task")
    if tasks is not None:
        tasks = tuple(str(t) for t in (tasks if isinstance(tasks, list) else [tasks]))
    suite = opts.get("suite")
    if suite is not None:
        try:
            tasks = get_suite(str(suite)).tasks
        except UnknownNameError as exc:
            raise ConfigError(str(exc)) from None
    if tasks is not None:
        listed = f"task={tasks[0]}" if len(tasks) == 1 else f"task=[{','.join(tasks)}]"
        problem = published_only_problem(tasks, listed if suite is None else f"suite={suite}")
        if problem:
            raise ConfigError(problem)
    return Request(
        checkpoints=tuple(str(c) for c in ckpts),
        tasks=tasks,
        suite=None if suite is None else str(suite),
        episodes=_whole("episodes", opts.get("episodes", 10)),
        seed=None if opts.get("seed") is None else _whole("seed", opts["seed"]),
        out=Path(str(opts.get("out", "evaluations"))).expanduser(),
        device=str(opts.get("device", "auto")),
        threads=_whole("threads", opts.get("threads", DEFAULT_THREADS)),
        format=_format(opts.get("format", "auto")),
        notes=notes,
    )


def _format(value: Any) -> str:
    if value not in FORMATS:
        raise ConfigError(f"bad value {value!r} for format; valid: {', '.join(FORMATS)}")
    return value


def plan(request: Request, checkpoint: str) -> Plan:
    """Read ``checkpoint``'s config.yaml (a reference file: its tensor shapes; not the weights of
    either) and check the request against it."""
    pre = find_pretrained(checkpoint, request.format, request.tasks or ())
    problem = file_problem(pre.path)  # cheap (the weights are read when evaluating)
    if problem:
        raise PretrainedError(f"checkpoint={checkpoint}: {problem}")
    run = pre.config["run"]
    if pre.reference is not None and not pre.tasks:
        m = pre.reference.model
        raise PretrainedError(
            f"checkpoint={checkpoint} is a single-task {pre.reference.format} model and names no task: give "
            f"task=NAME (a task with {m.obs_dim} observations and {m.action_dim} actions)"
        )
    known = _known_tasks(pre)
    tasks = request.tasks or known
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise PretrainedError(
            f"task {unknown[0]!r}: the model of checkpoint={checkpoint} was trained on {', '.join(known)} only"
        )
    seed = int(run["seed"]) if request.seed is None else request.seed
    seed_dir = pre.path.parent
    if pre.reference is not None:  # where the weights came from, and which file exactly
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in pre.path.stem)
        name = f"reference-{pre.reference.format}-{stem}+eval-{pre.reference.sha256[:8]}"
    else:
        variant_dir = seed_dir.parent.name if seed_dir.name == f"seed_{run['seed']}" else pre.config["variant"]
        name = f"{variant_dir}+eval-{pre.path.stem}"
    task_dir = _mode_of(run).task_dir(run)
    path = request.out / run["suite"] / task_dir / run["algo"] / name / f"seed_{seed}"
    return Plan(pre, tuple(tasks), seed, path)


def _known_tasks(pre: Pretrained) -> tuple[str, ...]:
    """The tasks the model can be evaluated on: its training tasks (harness.modes: a fine-tuned
    multi-task model knows those of its pretraining and its target)."""
    return _mode_of(pre.config["run"]).known_tasks(pre)


def _mode_of(run: dict[str, Any]) -> Mode:
    """The training mode that made a run (its config.yaml ``run.mode``; absent: the default)."""
    try:
        return get_mode(str(run.get("mode") or DEFAULT_MODE))
    except ConfigError as exc:
        raise PretrainedError(f"the checkpoint's config.yaml: {exc}") from None


def reference_run_config(pre: Pretrained) -> dict[str, Any]:
    """A reference file's run as our runs record it: its synthesised run, the algorithm variant and
    every algorithm field (the file's shape over the algorithm's defaults), and ``pretrained``."""
    algo = pre.config["run"]["algo"]
    cfg = build_algo_config(algo, flatten(pre.config["algo"]))
    return {
        "run": pre.config["run"],
        "variant": variant_name(algo, cfg),
        "algo": dataclasses.asdict(cfg),
        "pretrained": pre.provenance(),
    }


def build_agent(pre: Pretrained, state: dict[str, Any], device: Any):
    """The checkpoint's agent, rebuilt from its config and spec and loaded with its state (a
    reference file's: its weights)."""
    run = state["run"]["run"]
    cfg = build_algo_config(run["algo"], flatten(state["run"]["algo"]))
    if "spec" in state:
        spec = EnvSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
    else:
        spec = _mode_of(run).model_spec(run)
    if spec is None:
        raise PretrainedError(f"checkpoint {pre.path} records no model spec (written before harness.evaluate existed)")
    agent = algorithms.get_algorithm(run["algo"]).factory(cfg, spec, device, int(run.get("steps") or 1))
    if pre.reference is None:
        agent.load_state_dict(state["agent"])
        return agent
    try:
        agent.load_weights(state["agent"])
    except (RuntimeError, ValueError) as exc:
        raise PretrainedError(
            f"checkpoint {pre.path} does not fit a {run['algo']} agent: {str(exc).splitlines()[0]}"
        ) from None
    return agent


def evaluate_plan(p: Plan, request: Request, say=print) -> list[dict[str, Any]]:
    """Evaluate one checkpoint on its planned tasks; write the run directory; return the rows."""
    rundir = RunDir(p.path)
    if rundir.state() == "done":
        say(f"[skip] {p.path} is already evaluated (delete it to evaluate again)")
        return []
    with rundir.lock():
        archived = rundir.archive_previous_attempt()
        if archived:
            say(f"[keep] an unfinished evaluation moved to {archived}")
        state = p.pretrained.state()
        run = state["run"]["run"]
        base = state["run"] if p.pretrained.reference is None else reference_run_config(p.pretrained)
        p.path.mkdir(parents=True, exist_ok=True)
        config = {
            **base,
            "git": p.pretrained.config.get("git"),  # the code that trained these weights (a reference file: none)
            "evaluation": {
                "checkpoint": str(p.pretrained.path),
                "step": int(state["step"]),
                "commit": p.pretrained.commit,
                "tasks": list(p.tasks),
                "episodes": request.episodes,
                "seed": p.seed,
                "git": code_version(),  # the code that evaluated them
            },
        }
        for key in ("num_parameters", "pretrained"):
            if key in p.pretrained.config:
                config[key] = p.pretrained.config[key]
        rundir.write_config(config)
        caller_threads = torch.get_num_threads()
        if request.threads:
            torch.set_num_threads(request.threads)
        rows: list[dict[str, Any]] = []
        try:
            step = int(state["step"])
            with RunStatus(rundir, step, step, label=p.path.name, say=say):
                seed_everything(p.seed)
                agent = build_agent(p.pretrained, state, resolve_device(request.device))
                if "num_parameters" not in config:
                    rundir.write_config({**config, "num_parameters": agent.num_parameters()})
                spec = agent.env_spec
                for i, task in enumerate(p.tasks):
                    policy = agent
                    if spec.multitask:
                        task_id = spec.task_id(task)
                        policy = TaskView(agent, task_id, spec.action_dims[task_id])
                    env = make_batched_env(
                        task,
                        seed=p.seed + 100_000 + i,
                        num_envs=request.episodes,
                        device="cpu",
                        obs=run.get("obs", "state"),
                    )
                    try:
                        episodes = evaluate_episodes(policy, env, get_task(task).episode_length)
                    finally:
                        env.close()
                    rows += eval_rows(
                        episodes,
                        suite=run["suite"],
                        task=task,
                        algo=run["algo"],
                        variant=base["variant"],
                        seed=p.seed,
                        step=int(state["step"]),
                    )
                    mean = sum(r["score"] for r in rows[-len(episodes) :]) / len(episodes)
                    say(f"[eval] {task}: mean score {mean:.1f} over {len(episodes)} episodes ({i + 1}/{len(p.tasks)})")
                rundir.rewrite_evals(rows)
        finally:
            torch.set_num_threads(caller_threads)
    return rows


@command_line(__doc__)
def main(argv: list[str]) -> int:
    stop.install_stop_handlers("harness.evaluate")  # Ctrl-C / SIGTERM: stop at once, one line (harness.stop)
    try:
        return _main(argv)
    finally:
        stop.leaving()


def _main(argv: list[str]) -> int:
    current = "nothing evaluated yet; nothing written"
    try:
        with one_line_errors(ConfigError, PretrainedError, ValueError):
            request = parse_request(argv)
            plans = [plan(request, c) for c in request.checkpoints]
            check_runs_dir(request.out, "out")
            resolve_device(request.device)
        for note in request.notes:
            print(note)
        for k, p in enumerate(plans, 1):
            print(f"[{k}/{len(plans)}] {p.pretrained.origin} on {len(p.tasks)} task(s) -> {p.path}", flush=True)
            done = f"; {k - 1} of {len(plans)} finished" if len(plans) > 1 else ""
            current = f"{p.path} not evaluated (no eval.csv written){done}; run the same command again"
            with one_line_errors(PretrainedError), disk_full_errors(p.path):  # a full disk: one line, exit 1
                evaluate_plan(p, request)
    except KeyboardInterrupt:
        stop.leaving()
        print(stop.stopped_at_once_line(current), file=sys.stderr)
        return INTERRUPTED
    print(f"report: python -m analysis.report {request.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
