"""The MyoSuite task family: 10 musculoskeletal hand tasks, named ``myo-<task>[-hard]``.

Each env is MyoSuite's gymnasium env (``myosuite.utils.gym.make``), wrapped in TorchRL's
``GymWrapper``, set up as TD-MPC2 and MBDPO use MyoSuite (their ``envs/myosuite.py``):

- ``myo-<task>`` is MyoSuite's ``myoHand<Task>Fixed-v0`` and ``myo-<task>-hard`` its
  ``myoHand<Task>Random-v0`` (random targets, drawn at every reset; see ``MYOSUITE_TASKS``);
- episodes of exactly 100 agent steps, no action repeat: the factory's
  :class:`~torchrl.envs.StepCounter` ends every episode at step 100 with ``truncated=True``.
  MyoSuite's own episode ends never end ours: its ``terminated`` (e.g. the hand too far from the
  target, the object dropped) is ignored, as in the references, and its registered time limit
  (50 to 200 steps by task) is removed (the references step on past it, ignoring its flag);
- state observations only (MyoSuite's observation vector, float32 after the factory), actions
  in [-1, 1] (MyoSuite's normalised muscle commands);
- ``success`` (bool, shape [1]) is MyoSuite's ``info["solved"]`` at every step, as the
  references read it; it is False after a reset;
- rewards are MyoSuite's dense reward of the task.

MyoSuite is imported only when an env is built, with its import banner, its credits and the
warnings it raises while importing and building (gymnasium's re-registration and dtype
warnings, GLFW's missing display) kept off our output. It is an optional install (README):
building a task without it fails with one line saying how to install it.

Seeding: ``set_seed(s)`` reseeds the env's RNG (``MujocoEnv.seed``: ``np_random``), which draws
every random initial state and target of these tasks, and hands the same generator to MyoSuite's
robot (its sensor noise, zero in these tasks), as MyoSuite does when an env is built with a seed.
(The references build the env unseeded.) ``get_rng_state`` / ``set_rng_state`` save and restore
that generator, for exact resume.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from envs.gym_rng import SeededGymWrapper
from envs.metaworld import SuccessReader
from envs.tasks import Family, TaskSpec

if TYPE_CHECKING:
    from torchrl.envs import EnvBase

EPISODE_LENGTH = 100
ACTION_REPEAT = 1
INSTALL_HINT = (
    "pip install --no-deps -c constraints.txt myosuite==2.11.6 "
    "(after the project itself; MyoSuite's own pins conflict with ours, see README)"
)

# Benchmark name -> MyoSuite env id, as the references list them.
MYOSUITE_TASKS = {
    "myo-reach": "myoHandReachFixed-v0",
    "myo-reach-hard": "myoHandReachRandom-v0",
    "myo-pose": "myoHandPoseFixed-v0",
    "myo-pose-hard": "myoHandPoseRandom-v0",
    "myo-obj-hold": "myoHandObjHoldFixed-v0",
    "myo-obj-hold-hard": "myoHandObjHoldRandom-v0",
    "myo-key-turn": "myoHandKeyTurnFixed-v0",
    "myo-key-turn-hard": "myoHandKeyTurnRandom-v0",
    "myo-pen-twirl": "myoHandPenTwirlFixed-v0",
    "myo-pen-twirl-hard": "myoHandPenTwirlRandom-v0",
}


class MyoSuiteMissing(RuntimeError):
    """MyoSuite is not installed (the message says how to install it)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallows what MyoSuite prints and warns while it is imported or builds an env."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def install_problem() -> str | None:
    """One line saying how to install MyoSuite when it is missing (None: installed); imports nothing."""
    if importlib.util.find_spec("myosuite") is None:
        return f"MyoSuite is not installed: {INSTALL_HINT}"
    return None


def _make_gym_env(env_id: str):
    """MyoSuite's env ``env_id`` without its time limit, its native episode ends ignored and its
    ``solved`` also written as ``info["success"]`` (what :class:`SuccessReader` reads)."""
    try:
        import gymnasium as gym

        with _quiet():
            from myosuite.utils import gym as myo_gym

            env = myo_gym.make(env_id, disable_env_checker=True)
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("myosuite"):
            raise
        raise MyoSuiteMissing(f"MyoSuite is not installed: {INSTALL_HINT}") from None

    class NoNativeEnd(gym.Wrapper):
        """Never ends an episode (the factory does, at step 100); copies ``solved`` to ``success``."""

        def step(self, action):
            obs, reward, _terminated, _truncated, info = self.env.step(action)
            info["success"] = info["solved"]
            return obs, reward, False, False, info

    if isinstance(env, gym.wrappers.TimeLimit):
        env = env.env  # MyoSuite's registered limit (50 to 200 steps): not ours
    return NoNativeEnd(env)


class MyoSuiteWrapper(SeededGymWrapper):
    """``GymWrapper`` whose ``set_seed`` reseeds MyoSuite's own RNG (see the module doc)."""

    def _set_seed(self, seed: int | None) -> None:
        if seed is None:
            return
        myo = self._env.unwrapped
        myo.seed(seed)
        myo.robot.np_random = myo.np_random  # as MyoSuite links them when built with a seed
        self.reset()


def make_base_env(spec: TaskSpec, device: torch.device | str, obs: str = "state") -> EnvBase:
    """``spec``'s MyoSuite env in TorchRL: float ``observation``, float32 actions in [-1, 1],
    float reward [1], bool ``success`` [1]; no episode end of its own."""
    if obs != "state":  # pragma: no cover - the factory checks obs_kinds first
        raise ValueError(f"MyoSuite tasks have state observations only, not {obs!r}")
    gym_env = _make_gym_env(spec.task)
    with _quiet():
        env = MyoSuiteWrapper(gym_env, frame_skip=spec.action_repeat, device=device)
    env.set_info_dict_reader(SuccessReader(device=device))
    return env


FAMILY = Family(
    name="myosuite",
    tasks=tuple(
        TaskSpec(name, "myosuite", "myosuite", env_id, EPISODE_LENGTH, ACTION_REPEAT)
        for name, env_id in MYOSUITE_TASKS.items()
    ),
    make_base_env=make_base_env,
    info_keys=("success",),
    install_problem=install_problem,
)
