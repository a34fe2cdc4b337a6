"""What every algorithm sees of the world (an `EnvSpec`) and what the harness sees of an algorithm.

Algorithms know no launcher, run directory or environment module: the harness builds an `EnvSpec`
from the environment's TorchRL specs and hands it over together with a typed config.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable

import torch
from tensordict import TensorDictBase


@dataclass(frozen=True)
class EnvSpec:
    """The shapes and horizon an algorithm needs; built from TorchRL specs by the harness."""

    obs_dim: int  # multi-task: the largest of the task set (observations are zero-padded to it)
    action_dim: int  # multi-task: the largest; each env receives its first action_dims[task] entries
    episode_length: int  # agent steps per episode (multi-task: the longest)
    action_low: float = -1.0
    action_high: float = 1.0
    # multi-task (empty: single-task): the task set in id order, each task's own action dims and
    # episode length (for its action mask and its discount)
    tasks: tuple[str, ...] = ()
    action_dims: tuple[int, ...] = ()
    episode_lengths: tuple[int, ...] = ()

    @property
    def multitask(self) -> bool:
        return bool(self.tasks)

    def task_id(self, name: str) -> int:
        if name not in self.tasks:
            raise ValueError(f"task {name!r} is not in this task set; valid: {', '.join(self.tasks)}")
        return self.tasks.index(name)


class Algorithm(abc.ABC):
    """An online RL agent driven by the harness's training loop.

    The harness calls, in order, per environment step: ``act`` (after ``seed_steps`` random steps),
    ``observe`` with the transition, then ``update``. ``act`` is batched: a batch of observations in,
    a batch of actions out (evaluation runs many environments at once).
    """

    #: set by the harness: ``on_update(done, total)`` is called inside an ``update`` call that makes
    #: many gradient steps (the burst after the seed steps), so that a long burst shows progress
    on_update: Callable[[int, int], None] | None = None

    def __init__(self, cfg: Any, env_spec: EnvSpec, device: torch.device, total_steps: int) -> None:
        self.cfg = cfg
        self.env_spec = env_spec
        self.device = device
        self.total_steps = total_steps

    @property
    @abc.abstractmethod
    def seed_steps(self) -> int:
        """Number of initial environment steps taken with uniformly random actions."""

    @abc.abstractmethod
    def act(self, obs: torch.Tensor, *, eval_mode: bool, first_step: bool) -> torch.Tensor:
        """obs [B, obs_dim] -> actions [B, action_dim] in [-1, 1]. ``first_step``: episodes just reset."""

    @abc.abstractmethod
    def observe(self, transition: TensorDictBase) -> None:
        """Record one environment transition (TorchRL layout: obs, action, ("next", ...))."""

    @abc.abstractmethod
    def update(self, step: int) -> dict[str, float]:
        """Learn after environment step ``step`` (called every step from ``seed_steps`` on)."""

    def not_ready_to_evaluate(self) -> str | None:
        """Why evaluating now would be meaningless (None: ready). The trainer skips such evals."""
        return None

    @abc.abstractmethod
    def num_parameters(self) -> int:
        """Trained parameters (what the scaling report plots)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (models, optimisers, buffers, RNG-free counters)."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
