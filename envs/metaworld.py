"""The Meta-World task family: the 50 tasks of MT50 (v3), named ``mw-<task>``.

Each env is gymnasium's ``Meta-World/MT1`` for one task, wrapped in TorchRL's ``GymWrapper``, set
up as TD-MPC2 uses Meta-World:

- episodes of 100 agent steps with action repeat 2 (200 simulator steps). Meta-World's own
  limit (``max_path_length`` 500, and MT1's ``TimeLimit`` of 500) is never reached: the
  factory's :class:`~torchrl.envs.StepCounter` ends every episode at 100 agent steps (200 < 500);
- the goal is observable: 39 float observations (hand, gripper, objects, the same again for the
  previous frame, then the goal position), float32 after the factory;
- a new goal (and object position) is drawn at every reset from the env's own seeded RNG, as in
  TD-MPC2 (which unfreezes the goal vector of Meta-World's goal-observable envs). MT1's own
  protocol (one of 50 goals fixed at construction, picked per reset) is not used: its task list
  serves only to configure the env once;
- ``success`` (bool, shape [1]) is recorded at every step, from the last of the repeated
  simulator steps, as TD-MPC2 reads ``info["success"]``; it is False after a reset;
- rewards are Meta-World's v2 reward function, in [0, 10] per simulator step, summed over the
  action repeat: [0, 20] per agent step.

One difference: TD-MPC2's wrapper takes a zero-action simulator step after every reset and
returns the observation from before that step; here the first observation is the one of the state
the episode starts from (v3's reset already returns a consistent observation).

Two things of the library are worked around here:

- the observation space Meta-World declares is computed while the env is still goal-hidden, so
  its three goal dimensions have low = high = 0 although the observations carry the goal; the
  space is rebuilt from the goal-observable bounds (Meta-World clips step observations to exactly
  those bounds, and reset observations were inside them for every task in our checks);
- Meta-World returns ``success`` as a Python float, on which TorchRL's default info reader
  fails (it reads ``.dtype``); :class:`SuccessReader` converts it.

Seeding: ``set_seed(s)`` reseeds the env's RNG (``SawyerXYZEnv.seed``), which draws the goals and
initial object positions; gymnasium's ``reset(seed=...)`` would not, Meta-World ignores it.
(TD-MPC2 drew the same goal distribution from numpy's global RNG, seeded once per run.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from tensordict import TensorDictBase
from torchrl.data import Categorical, Composite
from torchrl.envs.gym_like import BaseInfoDictReader

from envs.gym_rng import SeededGymWrapper
from envs.tasks import Family, TaskSpec

if TYPE_CHECKING:
    from torchrl.envs import EnvBase

EPISODE_LENGTH = 100
ACTION_REPEAT = 2

# Meta-World's MT50 in the order TD-MPC2 lists it (common/__init__.py, MT80).
MT50 = (
    "assembly",
    "basketball",
    "button-press-topdown",
    "button-press-topdown-wall",
    "button-press",
    "button-press-wall",
    "coffee-button",
    "coffee-pull",
    "coffee-push",
    "dial-turn",
    "disassemble",
    "door-open",
    "door-close",
    "drawer-close",
    "drawer-open",
    "faucet-open",
    "faucet-close",
    "hammer",
    "handle-press-side",
    "handle-press",
    "handle-pull-side",
    "handle-pull",
    "lever-pull",
    "peg-insert-side",
    "peg-unplug-side",
    "pick-out-of-hole",
    "pick-place",
    "pick-place-wall",
    "plate-slide",
    "plate-slide-side",
    "plate-slide-back",
    "plate-slide-back-side",
    "push-back",
    "push",
    "push-wall",
    "reach",
    "reach-wall",
    "shelf-place",
    "soccer",
    "stick-push",
    "stick-pull",
    "sweep-into",
    "sweep",
    "window-open",
    "window-close",
    "bin-picking",
    "box-close",
    "door-lock",
    "door-unlock",
    "hand-insert",
)


class SuccessReader(BaseInfoDictReader):
    """Writes Meta-World's ``info["success"]`` (a Python float, 0.0 or 1.0) as a bool ``[1]``
    tensor ``success``; False when the info has none (after a reset)."""

    def __init__(self, device: torch.device | str | None = None):
        self._spec = Composite(success=Categorical(2, shape=(1,), dtype=torch.bool), shape=())
        if device is not None:
            self._spec = self._spec.to(device)

    def __call__(self, info_dict: dict[str, Any], tensordict: TensorDictBase) -> TensorDictBase:
        value = bool(info_dict.get("success", 0.0))
        tensordict.set("success", torch.tensor([value], device=tensordict.device))
        return tensordict

    @property
    def info_spec(self) -> Composite:
        return self._spec


class MetaWorldWrapper(SeededGymWrapper):
    """``GymWrapper`` whose ``set_seed`` reseeds Meta-World's own RNG (see the module doc)."""

    def _set_seed(self, seed: int | None) -> None:
        if seed is None:
            return
        self._env.unwrapped.seed(seed)
        self.reset()


def _make_gym_env(env_name: str):
    """Gymnasium's ``Meta-World/MT1`` for ``env_name`` (e.g. ``"reach-v3"``), goal observable,
    drawing a new goal from its own RNG at every reset, with a correct observation space."""
    import gymnasium as gym
    import metaworld
    from metaworld.wrappers import RandomTaskSelectWrapper

    # MT1 generates 50 goals by resetting a throw-away env 50 times (half a second); we use its
    # task list only to configure the env, so one goal is enough. Meta-World reads the count from
    # a module global that the `num_goals` argument overwrites: it is restored right after.
    # A seed is given only so that MT1 leaves numpy's global RNG as it was (without one it draws
    # from it); the env's own RNG is seeded by `set_seed`.
    n_goals = metaworld._N_GOALS
    try:
        env = gym.make("Meta-World/MT1", env_name=env_name, seed=0, num_goals=1, disable_env_checker=True)
    finally:
        metaworld._N_GOALS = n_goals
    selector = env
    while not isinstance(selector, RandomTaskSelectWrapper):
        selector = selector.env
    selector.toggle_sample_tasks_on_reset(False)
    sawyer = env.unwrapped
    sawyer.set_task(selector.tasks[0])  # goal observable (MT override), task kwargs
    sawyer._freeze_rand_vec = False  # a new goal at every reset...
    sawyer.seeded_rand_vec = True  # ...drawn from the env's np_random, which set_seed reseeds
    sawyer.observation_space = sawyer.sawyer_observation_space  # the goal-observable bounds
    return env


def make_base_env(spec: TaskSpec, device: torch.device | str, obs: str = "state") -> EnvBase:
    """``spec``'s Meta-World env in TorchRL: float64 ``observation`` [39], float32 actions in
    [-1, 1] [4], float reward [1] summed over the action repeat, bool ``success`` [1]."""
    if obs != "state":  # pragma: no cover - the factory checks obs_kinds first
        raise ValueError(f"Meta-World tasks have state observations only, not {obs!r}")
    env = MetaWorldWrapper(_make_gym_env(spec.task), frame_skip=spec.action_repeat, device=device)
    env.set_info_dict_reader(SuccessReader(device=device))
    return env


FAMILY = Family(
    name="metaworld",
    tasks=tuple(
        TaskSpec(f"mw-{task}", "metaworld", "metaworld", f"{task}-v3", EPISODE_LENGTH, ACTION_REPEAT) for task in MT50
    ),
    make_base_env=make_base_env,
    info_keys=("success",),
)
