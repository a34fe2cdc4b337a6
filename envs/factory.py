"""Build TorchRL environments by task name, with one common interface for every family.

Every env made here has, whatever the family:

- one flat float32 ``observation`` (all the simulator's observation entries concatenated in the
  simulator's own, fixed, order), and also a ``step_count`` entry (int64, shape [1]) that
  :class:`~torchrl.envs.StepCounter` needs;
- a float32 ``action`` bounded in [-1, 1] (rescaled to the simulator's bounds when they differ,
  e.g. DMControl's quadruped);
- a float32 ``reward`` of shape [1], summed over the action repeat;
- ``done`` / ``terminated`` / ``truncated`` of shape [1]: episodes last exactly
  ``episode_length`` agent steps and end with ``truncated=True`` (DMControl never terminates);
- a seeded simulator.
"""
from __future__ import annotations

from functools import partial

import torch
from torchrl.data import Composite, TensorSpec
from torchrl.envs import (
    ActionScaling,
    CatTensors,
    Compose,
    DoubleToFloat,
    EnvBase,
    SerialEnv,
    StepCounter,
    Transform,
    TransformedEnv,
)

from envs.tasks import TaskSpec, get_family, get_task

OBS_KINDS = ("state",)  # "pixels" comes later


def env_info(task: str) -> TaskSpec:
    """The registered spec of ``task`` (episode length, action repeat...), without building it."""
    return get_task(task)


def make_env(task: str, seed: int, *, device: torch.device | str = "cpu", obs: str = "state") -> EnvBase:
    """One seeded environment of ``task`` whose outputs live on ``device``.

    Seeding: ``env.set_seed(seed)`` gives the simulator its own ``numpy.random.RandomState(seed)``
    (which drives the initial states), so two envs made with the same seed produce the same
    first observation after ``reset()``. The torch global RNG is not touched.
    """
    spec = get_task(task)
    if obs not in OBS_KINDS:
        raise ValueError(f"unsupported observation kind {obs!r} for task {task!r}; supported: {', '.join(OBS_KINDS)}")
    base = get_family(spec.family).make_base_env(spec, device)
    env = TransformedEnv(base, _common_transforms(base, spec))
    env.set_seed(seed)
    return env


def make_batched_env(task: str, seed: int, num_envs: int, *, device: torch.device | str = "cpu") -> SerialEnv:
    """``num_envs`` copies of ``task`` stepped in turn in one process (batch_size ``[num_envs]``).

    Copy ``i`` is ``make_env(task, seed + i)``, so its first observation is the same as that of a
    single env made with seed ``seed + i``. (``SerialEnv.set_seed(s)`` would instead seed the
    copies with ``s`` and then a hashed chain of seeds, not ``s + i``, so it is not used.)
    """
    get_task(task)  # fail here, with the list of valid names, rather than inside a worker
    if num_envs < 1:
        raise ValueError(f"num_envs must be positive, got {num_envs}")
    makers = [partial(make_env, task, seed + i, device=device) for i in range(num_envs)]
    return SerialEnv(num_envs, makers, device=device)


def _common_transforms(base: EnvBase, spec: TaskSpec) -> Transform:
    """The transforms that turn any family's base env into the common interface (module doc)."""
    obs_keys = _observation_keys(base, spec)
    transforms: list[Transform] = [CatTensors(in_keys=obs_keys, out_key="observation", sort=False)]
    if not _is_unit_box(base.action_spec):
        transforms.append(ActionScaling())  # policy's [-1, 1] -> simulator bounds, per dimension
    transforms += [
        DoubleToFloat(in_keys=["observation", "reward"], in_keys_inv=["action"]),
        StepCounter(max_steps=spec.episode_length),
    ]
    return Compose(*transforms)


def _observation_keys(base: EnvBase, spec: TaskSpec) -> list[str]:
    """The base env's observation entries in their native order; each must be 1-D.

    TorchRL's DMControl wrapper already reports dm_control's scalar observations (e.g. walker's
    ``height``) with shape [1], so no flattening is needed; anything else is an error here.
    """
    obs_spec: Composite = base.observation_spec
    keys = list(obs_spec.keys())
    for key in keys:
        shape = obs_spec[key].shape[len(base.batch_size):]
        if len(shape) != 1:
            raise ValueError(f"task {spec.name!r}: observation {key!r} has shape {tuple(shape)}, expected 1-D")
    return keys


def _is_unit_box(action_spec: TensorSpec) -> bool:
    low, high = action_spec.space.low, action_spec.space.high
    return bool((low == -1).all() and (high == 1).all())
