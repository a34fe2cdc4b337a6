"""The training environment, stepped through TorchRL's ``Collector`` one transition at a time.

The training loop interleaves acting, learning, evaluating and checkpointing at every environment
step (TD-MPC2's and MBDPO's schedule: one update per step), so the collector yields batches of one
frame. Its policy is :class:`TrainingPolicy`: the run's own random actions for the seed steps, the
agent's ``act`` after them.

Exact resume needs the simulator's random state from *before* the reset that starts the episode
after a checkpoint. The collector resets inside its own step (``reset_when_done`` cannot be turned
off in TorchRL 0.14), so :class:`RandomStateBeforeReset`, a transform, records that state just
before every reset. A resumed run sets it back and builds a new collector, whose first reset then
draws the same initial state as the uninterrupted run's.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictBase
from torchrl.collectors import Collector
from torchrl.envs import Transform

from algorithms.base import Algorithm
from harness.training.checkpoint import env_rng_state, set_env_rng_state


class RandomStateBeforeReset(Transform):
    """Records the simulator's random state just before each reset of the env it is appended to."""

    def __init__(self) -> None:
        super().__init__(in_keys=[], out_keys=[])
        self.state: list[Any] | None = None

    def _reset_env_preprocess(self, tensordict: TensorDictBase | None) -> TensorDictBase | None:
        self.state = env_rng_state(self.parent.base_env)
        return tensordict

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        return tensordict_reset


class TrainingPolicy:
    """The collector's policy: uniform random actions from ``action_rng`` before the agent's seed
    steps, ``agent.act`` (exploring) after them. The loop sets :attr:`step` and :attr:`first_step`
    before each frame."""

    # Declared so that the collector does not call the policy to find its outputs: such a call
    # would draw random numbers and the run would no longer match an uninterrupted one.
    in_keys = ["observation"]
    out_keys = ["action"]

    def __init__(self, agent: Algorithm, action_dim: int, action_rng: torch.Generator) -> None:
        self.agent, self.action_dim, self.action_rng = agent, action_dim, action_rng
        self.step = 0
        self.first_step = True

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        if self.step < self.agent.seed_steps:
            action = torch.rand(self.action_dim, generator=self.action_rng) * 2 - 1
        else:
            obs = td["observation"].unsqueeze(0)
            action = self.agent.act(obs, eval_mode=False, first_step=self.first_step)[0].cpu()
        td.set("action", action)
        return td


class TrainingSteps:
    """One transition per call, from a collector over ``env``; ``env`` gets the random-state transform.

    ``resume_state``: the simulator random state of a checkpoint (:meth:`checkpoint_state`), set
    before the collector's first reset."""

    def __init__(
        self, env, agent: Algorithm, action_dim: int, action_rng: torch.Generator, resume_state: list[Any] | None = None
    ) -> None:
        self._before_reset = RandomStateBeforeReset()
        env.append_transform(self._before_reset)
        if resume_state is not None:
            set_env_rng_state(env, resume_state)
        self.policy = TrainingPolicy(agent, action_dim, action_rng)
        self.collector = Collector(
            env,
            self.policy,
            frames_per_batch=1,
            total_frames=-1,
            trust_policy=True,
            track_traj_ids=False,
            use_buffers=False,
        )
        self._frames = iter(self.collector)

    def next(self, step: int, first_step: bool) -> TensorDictBase:
        """The transition of env step ``step`` (TorchRL layout: obs, action, ("next", ...))."""
        self.policy.step, self.policy.first_step = step, first_step
        return next(self._frames)[0]

    def checkpoint_state(self) -> list[Any] | None:
        """The simulator random state to resume from after the episode that just ended."""
        return self._before_reset.state
