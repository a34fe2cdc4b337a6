"""Offline multi-task pretraining (``mode=offline``): gradient updates from a dataset only.

Steps are gradient updates on batches from :func:`harness.data.load_offline_replay` (TorchRL's
SliceSampler over a memory-mapped storage). Every ``eval_every`` updates each task of the suite is
evaluated for ``eval_episodes`` episodes without noise: one row per task and episode in the run's
``eval.csv``, with the task's own name. Any update is a safe point for a checkpoint: the agent's
state and the global random state (which the sampler draws from) are all a resume needs, so a
resumed run equals an uninterrupted one. The agent is built first, for the suite's padded dims and
each task's own action dims and episode length; the batches are the shape its
``Algorithm.replay_slice`` asks for and it learns from them with ``Algorithm.learn`` (an algorithm
with the ``offline_learning`` capability: the world-model agents, with TD-MPC2's task embedding,
action masks and per-task discounts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import algorithms
from algorithms.base import EnvSpec
from envs import make_batched_env
from harness.data import SuiteLayout, load_offline_replay, suite_layout
from harness.training.episodes import eval_rows, evaluate_episodes
from harness.training.task_view import TaskView
from harness.training.trainer import Trainer


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
        batch_size, horizon = self.agent.replay_slice  # the batches the agent's learn() takes
        self.replay = load_offline_replay(c.dataset, c.suite, batch_size, horizon, self.device)

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
            rows += eval_rows(
                episodes, suite=c.suite, task=task, algo=c.algo, variant=self.resolved.variant, seed=c.seed, step=step
            )
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
