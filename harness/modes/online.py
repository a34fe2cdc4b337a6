"""``mode=online``: one task learned from scratch, ``steps`` environment steps (harness/training/trainer.py)."""

from __future__ import annotations

from typing import Any

from algorithms.base import EnvSpec
from harness.data import task_dims
from harness.modes.registry import Mode, register_mode
from harness.training.trainer import OnlineTrainer


class Online(Mode):
    name = "online"
    description = "learn one task from scratch: random seed steps, then act, observe and update every step"
    obs_kinds = ("state", "rgb")

    @property
    def trainer(self) -> type[OnlineTrainer]:
        return OnlineTrainer

    def model_spec(self, run: dict[str, Any]) -> EnvSpec:
        dims = task_dims(run["task"])
        return EnvSpec(obs_dim=dims.obs_dim, action_dim=dims.action_dim, episode_length=dims.episode_length)


ONLINE = register_mode(Online())
