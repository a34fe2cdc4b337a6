"""The DMControl task family: the 28 standard DeepMind Control Suite tasks.

Episodes are 500 agent steps with action repeat 2, i.e. dm_control's own 1000-control-step
episodes, so dm_control's time limit and our :class:`~torchrl.envs.StepCounter` end an episode
at the same step. Rewards are in [0, 1] per control step, so [0, 2] per agent step.

State observations need no OpenGL, so ``MUJOCO_GL`` is left alone: setting it to a backend
that is not installed (e.g. ``osmesa`` here) makes ``import dm_control.suite`` fail. Pixel
observations, when they come, will need ``MUJOCO_GL=egl`` on headless machines.
"""
from __future__ import annotations

import warnings
from types import ModuleType

from typing import TYPE_CHECKING

import numpy as np

from envs.tasks import Family, TaskSpec

if TYPE_CHECKING:
    import torch
    from torchrl.envs import EnvBase

EPISODE_LENGTH = 500
ACTION_REPEAT = 2

# benchmark name -> (dm_control domain, dm_control task)
_STANDARD_TASKS: dict[str, tuple[str, str]] = {
    "acrobot-swingup": ("acrobot", "swingup"),
    "cartpole-balance": ("cartpole", "balance"),
    "cartpole-balance-sparse": ("cartpole", "balance_sparse"),
    "cartpole-swingup": ("cartpole", "swingup"),
    "cartpole-swingup-sparse": ("cartpole", "swingup_sparse"),
    "cheetah-run": ("cheetah", "run"),
    "cup-catch": ("ball_in_cup", "catch"),
    "dog-run": ("dog", "run"),
    "dog-stand": ("dog", "stand"),
    "dog-trot": ("dog", "trot"),
    "dog-walk": ("dog", "walk"),
    "finger-spin": ("finger", "spin"),
    "finger-turn-easy": ("finger", "turn_easy"),
    "finger-turn-hard": ("finger", "turn_hard"),
    "fish-swim": ("fish", "swim"),
    "hopper-hop": ("hopper", "hop"),
    "hopper-stand": ("hopper", "stand"),
    "humanoid-run": ("humanoid", "run"),
    "humanoid-stand": ("humanoid", "stand"),
    "humanoid-walk": ("humanoid", "walk"),
    "pendulum-swingup": ("pendulum", "swingup"),
    "quadruped-run": ("quadruped", "run"),
    "quadruped-walk": ("quadruped", "walk"),
    "reacher-easy": ("reacher", "easy"),
    "reacher-hard": ("reacher", "hard"),
    "walker-run": ("walker", "run"),
    "walker-stand": ("walker", "stand"),
    "walker-walk": ("walker", "walk"),
}


def _import_suite() -> ModuleType:
    """``dm_control.suite``, imported without the harmless glfw "DISPLAY ... missing" warning.

    With ``MUJOCO_GL`` unset, dm_control tries glfw first; on a headless machine glfw warns that
    there is no X display. Only that one message is silenced, and only during this import.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*DISPLAY environment variable is missing")
        from dm_control import suite
    _patch_quadruped_for_numpy_2_4()
    return suite


def _patch_quadruped_for_numpy_2_4() -> None:
    """Make dm_control 1.0.28's quadruped work with numpy >= 2.4, which removed ``np.in1d``.

    ``quadruped.Physics._get_sensor_names`` is the only use of ``np.in1d`` in dm_control's
    suite; it is replaced by the same code with ``np.isin`` (identical for these 1-D arrays).
    Nothing is changed when ``np.in1d`` exists.
    """
    if hasattr(np, "in1d"):
        return
    from dm_control.suite import quadruped

    def _get_sensor_names(self, *sensor_types):
        try:
            return self._sensor_types_to_names[sensor_types]
        except KeyError:
            [sensor_ids] = np.where(np.isin(self.model.sensor_type, sensor_types))
            names = [self.model.id2name(s_id, "sensor") for s_id in sensor_ids]
            self._sensor_types_to_names[sensor_types] = names
            return names

    quadruped.Physics._get_sensor_names = _get_sensor_names


def make_base_env(spec: TaskSpec, device: torch.device | str) -> EnvBase:
    """TorchRL's ``DMControlEnv`` for ``spec``: dict of float64 observations, float64 actions in
    dm_control's bounds, float64 reward of shape [1] summed over the ``action_repeat`` frames."""
    from torchrl.envs import DMControlEnv

    _import_suite()
    return DMControlEnv(spec.domain, spec.task, frame_skip=spec.action_repeat, device=device)


FAMILY = Family(
    name="dmc",
    tasks=tuple(
        TaskSpec(name, "dmc", domain, task, EPISODE_LENGTH, ACTION_REPEAT)
        for name, (domain, task) in _STANDARD_TASKS.items()
    ),
    make_base_env=make_base_env,
)
