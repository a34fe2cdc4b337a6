"""Offline multi-task pretraining (``mode=offline``): gradient updates from a dataset only.

Steps are gradient updates on batches from :func:`harness.data.load_offline_replay` (TorchRL's
SliceSampler over a memory-mapped storage). Every ``eval_every`` updates each task of the suite is
evaluated for ``eval_episodes`` episodes without noise: one row per task and episode in the run's
``eval.csv``, with the task's own name. Any update is a safe point for a checkpoint: the agent's
state and the global random state (which the sampler draws from) are all a resume needs, so a
resumed run equals an uninterrupted one. The agent is the multi-task world model (TD-MPC2's task
embedding, action masks and per-task discounts; algorithms/world_model/): it sees the suite's
padded dims and each task's own action dims and episode length.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import algorithms
from algorithms.base import EnvSpec
from configs.suites import normalised_score
from envs import make_batched_env
from harness.data import SuiteLayout, load_offline_replay, suite_layout
from harness.training.evaluate import evaluate_episodes
from harness.training.trainer import Trainer


class TaskView:
    """One task of a multi-task agent seen as a single-task policy (for evaluation): observations
    zero-padded to the model's size, the task id attached, actions cut to the task's own dims."""

    def __init__(self, agent, task_id: int, action_dim: int) -> None:
        self.agent, self.task_id, self.action_dim = agent, task_id, action_dim

    def act(self, obs: torch.Tensor, *, eval_mode: bool, first_step: bool, **kw: Any) -> torch.Tensor:
        pad = self.agent.env_spec.obs_dim - obs.shape[-1]
        obs = torch.nn.functional.pad(obs.float(), (0, pad)) if pad > 0 else obs
        task = torch.full((obs.shape[0],), self.task_id, dtype=torch.long)
        action = self.agent.act(obs, eval_mode=eval_mode, first_step=first_step, task=task, **kw)
        return action[..., : self.action_dim]


def multitask_spec(layout: SuiteLayout) -> EnvSpec:
    """What the agent sees of a suite: padded dims, and each task's action dims and episode length."""
    return EnvSpec(
        obs_dim=layout.max_obs_dim,
        action_dim=layout.max_action_dim,
        episode_length=max(d.episode_length for d in layout.dims),
        tasks=layout.tasks,
        action_dims=tuple(d.action_dim for d in layout.dims),
        episode_lengths=tuple(d.episode_length for d in layout.dims),
    )


class OfflineTrainer(Trainer):
    """Multi-task pretraining on the tasks of ``run.suite`` from ``run.dataset``."""

    def build(self) -> None:
        c = self.config
        self.task = None  # every task of the suite
        self.layout = suite_layout(c.suite)
        self.spec = multitask_spec(self.layout)
        self.agent = algorithms.get_algorithm(c.algo).factory(self.resolved.algo_cfg, self.spec, self.device, c.steps)
        self.rng = torch.Generator().manual_seed(c.seed)
        cfg = self.resolved.algo_cfg
        self.replay = load_offline_replay(c.dataset, c.suite, cfg.batch_size, cfg.planner.horizon, self.device)

    # Evaluation envs are built for each evaluation with fixed seeds, so they hold no state to keep.
    def env_rng_states(self) -> dict[str, Any]:
        return {}

    def restore_env_rng(self, states: dict[str, Any]) -> None:
        return None

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        c = self.config
        reason = self.agent.not_ready_to_evaluate()
        if reason:
            print(f"[{c.suite} {c.algo} seed {c.seed}] no evaluation at step {step}: {reason}", flush=True)
            return []
        rows: list[dict[str, Any]] = []
        for task_id, (task, dims) in enumerate(zip(self.layout.tasks, self.layout.dims)):
            env = make_batched_env(task, seed=c.seed + 100_000 + task_id, num_envs=c.eval_episodes, device="cpu")
            try:
                episodes = evaluate_episodes(
                    TaskView(self.agent, task_id, dims.action_dim),
                    env,
                    dims.episode_length,
                    self.eval_progress(step, c.eval_episodes, f" {task}"),
                )
            finally:
                env.close()
            rows += [
                {
                    "suite": c.suite,
                    "task": task,
                    "algo": c.algo,
                    "variant": self.resolved.variant,
                    "seed": c.seed,
                    "step": step,
                    **ep,
                    "score": normalised_score(task, ep["return"], ep["success"]),
                }
                for ep in episodes
            ]
        self.rundir.append_evals(rows)
        self.eval_rows.extend(rows)
        if self.log:
            self.log("eval/score", float(np.mean([r["score"] for r in rows])), step)
        return rows

    def run(self) -> list[dict[str, Any]]:
        self.start_clock()
        for step in range(self.start, self.config.steps):
            self.evaluate_due(step)
            metrics = self.agent.learn(self.replay.sample())
            self.after_step(step + 1, metrics)
            self.at_safe_point(step + 1)
        self.evaluate_remaining()
        return self.eval_rows
