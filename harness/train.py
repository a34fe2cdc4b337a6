"""The online training loop: random seed steps, act, observe, update, evaluate every N steps."""
from __future__ import annotations

import random
import time
from typing import Callable

import numpy as np
import torch

import algorithms
from algorithms.base import EnvSpec
from configs.suites import normalised_score
from envs import get_task, make_batched_env, make_env
from harness.config import ResolvedRun
from harness.devices import resolve_device
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
) -> list[dict]:
    """Train and evaluate one run; eval rows are appended to ``rundir`` as they come."""
    run, cfg = resolved.run, resolved.algo_cfg
    if run.threads:
        torch.set_num_threads(run.threads)
    seed_everything(run.seed)
    device = resolve_device(run.device)
    task = get_task(run.task)
    env = make_env(run.task, seed=run.seed, device="cpu")
    eval_env = make_batched_env(run.task, seed=run.seed + 100_000, num_envs=run.eval_episodes, device="cpu")
    spec = env_spec_of(env, task.episode_length)
    agent = algorithms.get_algorithm(run.algo).factory(cfg, spec, device, run.steps)
    action_rng = torch.Generator().manual_seed(run.seed)

    todo = eval_steps(run.steps, run.eval_every, run.eval_at_start)
    all_rows: list[dict] = []

    def do_eval(step: int) -> None:
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

    td = env.reset()
    first_step = True
    t_start = time.perf_counter()
    for step in range(run.steps):
        if todo and todo[0] == step:
            do_eval(todo.pop(0))
        if step < agent.seed_steps:
            action = torch.rand(spec.action_dim, generator=action_rng) * 2 - 1
        else:
            action = agent.act(td["observation"].unsqueeze(0), eval_mode=False, first_step=first_step)[0]
        td["action"] = action
        td, next_root = env.step_and_maybe_reset(td)
        agent.observe(td)
        metrics = agent.update(step)
        first_step = bool(td["next", "done"].any())
        td = next_root
        if log and metrics and (step + 1) % run.log_every == 0:
            for k, v in metrics.items():
                log(f"train/{k}", v, step + 1)
            log("train/steps_per_second", (step + 1) / (time.perf_counter() - t_start), step + 1)
        if progress and (step + 1) % run.log_every == 0:
            progress(step + 1)
    while todo:
        do_eval(todo.pop(0))
    env.close()
    eval_env.close()
    return all_rows
