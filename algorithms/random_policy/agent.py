"""Uniform random actions, no learning: a reference line in reports, cheap enough for any sweep.

Draws come from torch's global generator, which the harness seeds per run and checkpoints, so a
random run is reproducible and resumes exactly like any other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from tensordict import TensorDictBase

from algorithms.base import Algorithm, EnvSpec


@dataclass
class RandomConfig:
    """No fields to tune: the policy is U(action_low, action_high) in every dimension."""

    def capabilities(self) -> frozenset[str]:
        # it ignores its observations, so it acts on pixels as on states: the floor of a visual report
        return frozenset({"pixels"})

    def validate(self) -> None:
        return None


class RandomAgent(Algorithm):
    def __init__(self, cfg: RandomConfig, env_spec: EnvSpec, device: torch.device, total_steps: int) -> None:
        super().__init__(cfg, env_spec, device, total_steps)

    @property
    def seed_steps(self) -> int:
        return 0

    @torch.no_grad()
    def act(self, obs: torch.Tensor, *, eval_mode: bool, first_step: bool, **_: Any) -> torch.Tensor:
        low, high = self.env_spec.action_low, self.env_spec.action_high
        return low + (high - low) * torch.rand(obs.shape[0], self.env_spec.action_dim)

    def observe(self, transition: TensorDictBase) -> None:
        return None

    def update(self, step: int) -> dict[str, float]:
        return {}

    def num_parameters(self) -> int:
        return 0

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
