"""The online training loop: random seed steps, act, observe, update, evaluate every N steps.

The training environment is stepped through TorchRL's ``Collector``, one transition at a time
(harness/collect.py). Checkpoints (harness/checkpoint.py) are taken at episode boundaries only,
after the episode's last step and its update, with the simulator's random state from before the
next episode's reset. A resumed run continues from there and is identical to one that was never
interrupted."""
from __future__ import annotations

import random
import time
from typing import Any, Callable

import numpy as np
import torch

import algorithms
from algorithms.base import EnvSpec
from configs.suites import normalised_score
from envs import get_task, make_batched_env, make_env
from harness.config import ResolvedRun
from harness.devices import resolve_device
from harness.checkpoint import (
    FORMAT_VERSION,
    Preempted,
    atomic_torch_save,
    env_rng_state,
    rng_state,
    set_env_rng_state,
    set_rng_state,
    stop_reason,
    stop_requested,
)
from harness.collect import TrainingSteps
from harness.evaluate import evaluate
from harness.rundir import RunDir


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def env_spec_of(env, episode_length: int) -> EnvSpec:
    """Shapes from the TorchRL specs (algorithms never see the env module itself)."""
    obs_shape = env.observation_spec["observation"].shape
    action_spec = env.action_spec
    return EnvSpec(
        obs_dim=int(obs_shape[-1]),
        action_dim=int(action_spec.shape[-1]),
        episode_length=episode_length,
        action_low=float(action_spec.space.low.min()),
        action_high=float(action_spec.space.high.max()),
    )


def eval_steps(total: int, every: int, at_start: bool) -> list[int]:
    steps = list(range(0 if at_start else every, total, every))
    return steps + [total] if total not in steps else steps


def train(
    resolved: ResolvedRun,
    rundir: RunDir,
    log: Callable[[str, float, int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    resume_from: dict[str, Any] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train and evaluate one run; eval rows are appended to ``rundir`` as they come.

    ``resume_from``: a loaded checkpoint (harness.checkpoint.load) to continue from. A checkpoint is
    saved at the first episode end after every ``run.checkpoint_every`` steps, and at the first
    episode end after a stop request, after which :class:`Preempted` is raised."""
    run, cfg = resolved.run, resolved.algo_cfg
    # Results depend (in the last bits) on the intra-op thread count, and TorchRL changes it when a
    # batched env is closed (SerialEnv.close adds its workers back). Pin it for the whole run, and
    # give the caller back its own count at the end.
    caller_threads = torch.get_num_threads()
    threads = run.threads or caller_threads
    torch.set_num_threads(threads)
    try:
        return _train(resolved, rundir, threads, log, progress, resume_from, on_checkpoint)
    finally:
        torch.set_num_threads(caller_threads)


def _train(resolved, rundir, threads, log, progress, resume_from, on_checkpoint) -> list[dict]:
    run, cfg = resolved.run, resolved.algo_cfg
    seed_everything(run.seed)
    device = resolve_device(run.device)
    task = get_task(run.task)
    env = make_env(run.task, seed=run.seed, device="cpu")
    eval_env = make_batched_env(run.task, seed=run.seed + 100_000, num_envs=run.eval_episodes, device="cpu")
    spec = env_spec_of(env, task.episode_length)
    agent = algorithms.get_algorithm(run.algo).factory(cfg, spec, device, run.steps)
    action_rng = torch.Generator().manual_seed(run.seed)
    try:
        return _loop(resolved, rundir, threads, env, eval_env, task, spec, agent, action_rng, log, progress,
                     resume_from, on_checkpoint)
    finally:
        for e in (env, eval_env):
            try:
                e.close()
            except Exception:  # closing must not hide the run's own error
                pass
        torch.set_num_threads(threads)


def _loop(resolved, rundir, threads, env, eval_env, task, spec, agent, action_rng, log, progress, resume_from,
          on_checkpoint) -> list[dict]:
    run = resolved.run
    todo = eval_steps(run.steps, run.eval_every, run.eval_at_start)
    all_rows: list[dict] = []
    start = 0
    train_env_rng = None
    if resume_from is not None:
        agent.load_state_dict(resume_from["agent"])
        train_env_rng = resume_from["env_rng"]["train"]  # set by TrainingSteps, before its first reset
        set_env_rng_state(eval_env, resume_from["env_rng"]["eval"])
        set_rng_state(resume_from["rng"], action_rng)  # last: nothing may draw after it
        start = int(resume_from["step"])
        if resume_from.get("threads") not in (None, threads):
            print(f"[note] resuming with {threads} torch threads, the checkpoint was written with "
                  f"{resume_from['threads']}: results may differ from an uninterrupted run in the last bits")
        todo = list(resume_from["eval_todo"])
        all_rows = list(resume_from["eval_rows"])
        rundir.rewrite_evals(all_rows)  # drops rows an interrupted attempt wrote after the checkpoint

    def do_eval(step: int) -> None:
        reason = agent.not_ready_to_evaluate()
        if reason:  # e.g. the score-only policy before its network was ever trained
            print(f"[{run.task} {run.algo} seed {run.seed}] no evaluation at step {step}: {reason}", flush=True)
            return
        episodes = evaluate(agent, eval_env, task.episode_length)
        rows = [
            {
                "suite": run.suite, "task": run.task, "algo": run.algo, "variant": resolved.variant,
                "seed": run.seed, "step": step, **ep,
                "score": normalised_score(run.task, ep["return"], ep["success"]),
            }
            for ep in episodes
        ]
        rundir.append_evals(rows)
        all_rows.extend(rows)
        if log:
            log("eval/return", float(np.mean([r["return"] for r in rows])), step)
            log("eval/score", float(np.mean([r["score"] for r in rows])), step)

    def save_checkpoint(steps_done: int) -> None:
        state = {
            "format": FORMAT_VERSION,
            "step": steps_done,
            "threads": threads,
            "run": resolved.to_dict(),
            "agent": agent.state_dict(),
            "rng": rng_state(action_rng),
            "env_rng": {"train": steps.checkpoint_state(), "eval": env_rng_state(eval_env)},
            "eval_todo": list(todo),
            "eval_rows": list(all_rows),
        }
        atomic_torch_save(state, rundir.checkpoint_path)
        if on_checkpoint:
            on_checkpoint(steps_done)

    # The training env is stepped through TorchRL's Collector (harness/collect.py); built here,
    # after every random state is restored, because it resets the env at once.
    steps = TrainingSteps(env, agent, spec.action_dim, action_rng, resume_state=train_env_rng)
    first_step = True
    last_checkpoint = start
    t_start, steps_timed = time.perf_counter(), 0
    for step in range(start, run.steps):
        if todo and todo[0] == step:
            do_eval(todo.pop(0))
        td = steps.next(step, first_step)  # seed steps: uniform random actions; then agent.act
        agent.observe(td)
        metrics = agent.update(step)
        done = bool(td["next", "done"].any())
        first_step = done
        steps_timed += 1
        if log and metrics and (step + 1) % run.log_every == 0:
            for k, v in metrics.items():
                log(f"train/{k}", v, step + 1)
            log("train/steps_per_second", steps_timed / (time.perf_counter() - t_start), step + 1)
        if progress and (step + 1) % run.log_every == 0:
            progress(step + 1)
        if done:
            steps_done = step + 1
            if steps_done < run.steps:
                if stop_requested():
                    save_checkpoint(steps_done)
                    raise Preempted(steps_done, stop_reason())
                if run.checkpoint_every and steps_done - last_checkpoint >= run.checkpoint_every:
                    save_checkpoint(steps_done)
                    last_checkpoint = steps_done
    while todo:
        do_eval(todo.pop(0))
    return all_rows
