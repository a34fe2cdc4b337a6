"""The DMControl task family: 39 tasks, the 28 standard ones and TD-MPC2's 11 custom ones.

Standard tasks come from ``dm_control.suite``, custom ones from :mod:`envs.dmc_custom`; both are
dm_control environments wrapped in TorchRL's ``DMControlWrapper``. Episodes are 500 agent steps
with action repeat 2, i.e. dm_control's own 1000-control-step episodes, so dm_control's time
limit and our :class:`~torchrl.envs.StepCounter` end an episode at the same step. Rewards are
in [0, 1] per control step, so [0, 2] per agent step.

Observations: ``state`` (dm_control's entries) or ``rgb``: one 64x64 render from camera 0
(quadruped's camera 2), made once per agent step, after the action repeat, and once per reset,
with dm_control's ``physics.render`` and its default settings: TD-MPC2's and MBDPO's pixel
observations (their ``envs/dmcontrol.py``, ``Pixels._get_obs``; the frames are checked equal to
theirs, tests/test_envs_pixels.py). TorchRL's ``from_pixels`` is not used: it wraps the env in
dm_control's ``pixels.Wrapper``, which renders after every control step, i.e. ``action_repeat``
times per agent step. For ``rgb`` ``MUJOCO_GL`` is chosen by :func:`envs.rendering.configure`
before dm_control is imported. State observations need no OpenGL, so ``MUJOCO_GL`` is then left
alone (see :mod:`envs.rendering`).
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torchrl.data import Composite, UnboundedDiscrete
from torchrl.envs import DMControlWrapper

from envs import dmc_custom, rendering
from envs.tasks import Family, TaskSpec

if TYPE_CHECKING:
    from torchrl.envs import EnvBase

EPISODE_LENGTH = 500
ACTION_REPEAT = 2
IMAGE_SIZE = 64  # rgb observations: IMAGE_SIZE x IMAGE_SIZE
QUADRUPED_CAMERA = 2  # rgb observations: quadruped's camera; every other domain's is camera 0

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


def load(domain: str, task: str, seed: int | None = None):
    """The dm_control environment of ``(domain, task)``: the suite's or a custom one."""
    suite = _import_suite()
    if dmc_custom.is_custom(domain, task):
        return dmc_custom.load(domain, task, random=seed)
    return suite.load(domain, task, task_kwargs={"random": seed})


class _Wrapper(DMControlWrapper):
    """TorchRL's ``DMControlWrapper`` with the simulator's random state (``get_rng_state``,
    ``set_rng_state``), and whose ``close`` also frees the physics (and its OpenGL
    contexts): a pixel env still open when Python exits makes dm_control print "cannot schedule
    new futures after shutdown" tracebacks (its render thread stops before its exit hook runs)."""

    def close(self, *, raise_if_closed: bool = True) -> None:
        super().close(raise_if_closed=raise_if_closed)
        physics = getattr(self._env, "physics", None)
        if physics is not None:
            physics.free()

    # The RandomState the task draws initial states from: what an exact resume restores
    # (harness.training.checkpoint calls these).
    def get_rng_state(self) -> tuple:
        return self._env.task.random.get_state()

    def set_rng_state(self, state: tuple) -> None:
        self._env.task.random.set_state(state)


class PixelWrapper(_Wrapper):
    """The wrapper whose only observation is ``pixels``: uint8 ``[3, size, size]`` (RGB, channels
    first), one ``physics.render(size, size, camera_id)`` per reset and per agent step, made after
    the ``frame_skip`` repeated control steps (the state observations dm_control computes on each
    control step are not read)."""

    def __init__(self, env, *, camera_id: int, image_size: int = IMAGE_SIZE, **kwargs) -> None:
        super().__init__(env, **kwargs)
        self.camera_id, self.image_size = camera_id, image_size
        shape = (3, image_size, image_size)
        self.observation_spec = Composite(
            pixels=UnboundedDiscrete(shape=shape, dtype=torch.uint8, device=self.device), device=self.device
        )

    def read_obs(self, observations) -> dict[str, torch.Tensor]:
        """The frame of the simulator's current state (``observations``, dm_control's state
        entries, are ignored). Called once per reset and once per step, after the repeats."""
        frame = self._env.physics.render(self.image_size, self.image_size, self.camera_id)
        return {"pixels": torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))}


def pixel_camera(domain: str) -> int:
    """The camera rgb observations of ``domain`` are rendered from (TD-MPC2's choice)."""
    return QUADRUPED_CAMERA if domain == "quadruped" else 0


def make_base_env(spec: TaskSpec, device: torch.device | str, obs: str = "state") -> EnvBase:
    """TorchRL's ``DMControlWrapper`` around ``spec``'s dm_control env, repeating each action
    ``spec.action_repeat`` times and summing the float64 rewards (shape [1]).

    ``obs="state"``: a dict of float64 observations; ``obs="rgb"``: one uint8 ``pixels`` entry,
    ``[3, 64, 64]``, rendered once per agent step after the repeats (:class:`PixelWrapper`).
    Actions are float64 in dm_control's bounds.
    """
    if obs == "rgb":
        rendering.configure()
    env = load(spec.domain, spec.task)
    if obs == "rgb":
        return PixelWrapper(env, camera_id=pixel_camera(spec.domain), frame_skip=spec.action_repeat, device=device)
    return _Wrapper(env, frame_skip=spec.action_repeat, device=device)


FAMILY = Family(
    name="dmc",
    tasks=tuple(
        TaskSpec(name, "dmc", domain, task, EPISODE_LENGTH, ACTION_REPEAT)
        for name, (domain, task) in {**_STANDARD_TASKS, **dmc_custom.TASKS}.items()
    ),
    make_base_env=make_base_env,
    obs_kinds=("state", "rgb"),
)
