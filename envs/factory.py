"""Build TorchRL environments by task name, with one common interface for every family.

Every env made here has, whatever the family:

- one ``observation``: for ``obs="state"`` a flat float32 vector (all the simulator's observation
  entries concatenated in the simulator's own, fixed, order); for ``obs="rgb"`` (DMControl only)
  the last 3 frames, uint8, channels first, oldest first: ``[9, 64, 64]`` (frame ``k`` is
  channels ``3k:3k+3``, RGB; after a reset the first frame fills all three, as in TD-MPC2);
- a ``step_count`` entry (int64, shape [1]) that :class:`~torchrl.envs.StepCounter` needs;
- a float32 ``action`` bounded in [-1, 1] (rescaled to the simulator's bounds when they differ,
  e.g. DMControl's quadruped);
- a float32 ``reward`` of shape [1], summed over the action repeat;
- ``done`` / ``terminated`` / ``truncated`` of shape [1]: episodes last exactly
  ``episode_length`` agent steps and end with ``truncated=True`` (no task terminates, whatever
  the simulator says: MyoSuite's own ends are ignored, as in the references);
- the family's info entries: Meta-World's and MyoSuite's ``success`` (bool, shape [1], every
  step; MyoSuite's is its ``solved``);
- a seeded simulator.
"""

from __future__ import annotations

from functools import partial

import torch
from torchrl.data import Composite, TensorSpec
from torchrl.envs import (
    ActionScaling,
    CatFrames,
    CatTensors,
    Compose,
    DoubleToFloat,
    EnvBase,
    RenameTransform,
    SerialEnv,
    StepCounter,
    Transform,
    TransformedEnv,
)

from envs.tasks import TaskSpec, get_family, get_task

OBS_KINDS = ("state", "rgb")  # every kind some family supports (a family lists its own: Family.obs_kinds)
FRAME_STACK = 3  # rgb observations: the last 3 frames


def env_info(task: str) -> TaskSpec:
    """The registered spec of ``task`` (episode length, action repeat...), without building it."""
    return get_task(task)


def make_env(task: str, seed: int, *, device: torch.device | str = "cpu", obs: str = "state") -> EnvBase:
    """One seeded environment of ``task`` whose outputs live on ``device``.

    ``obs`` is ``"state"`` or ``"rgb"`` (pixels, DMControl only; see the module doc and
    :mod:`envs.rendering` for the OpenGL backend).

    Seeding: ``env.set_seed(seed)`` gives the simulator its own random generator seeded with
    ``seed`` (which drives the initial states and the goals), so two envs made with the
    same seed produce the same first observation after ``reset()``. The torch global RNG is not
    touched.
    """
    spec = get_task(task)
    family = get_family(spec.family)
    if obs not in family.obs_kinds:
        raise ValueError(
            f"unsupported observation kind {obs!r} for task {task!r}; supported: {', '.join(family.obs_kinds)}"
        )
    base = family.make_base_env(spec, device, obs)
    env = TransformedEnv(base, _common_transforms(base, spec, obs, family.info_keys))
    env.set_seed(seed)
    return env


def make_batched_env(
    task: str, seed: int, num_envs: int, *, device: torch.device | str = "cpu", obs: str = "state"
) -> SerialEnv:
    """``num_envs`` copies of ``task`` stepped in turn in one process (batch_size ``[num_envs]``).

    Copy ``i`` is ``make_env(task, seed + i)``, so its first observation is the same as that of a
    single env made with seed ``seed + i``. (``SerialEnv.set_seed(s)`` would instead seed the
    copies with ``s`` and then a hashed chain of seeds, not ``s + i``, so it is not used.)
    """
    get_task(task)  # fail here, with the list of valid names, rather than inside a worker
    if num_envs < 1:
        raise ValueError(f"num_envs must be positive, got {num_envs}")
    makers = [partial(make_env, task, seed + i, device=device, obs=obs) for i in range(num_envs)]
    return SerialEnv(num_envs, makers, device=device)


def _common_transforms(base: EnvBase, spec: TaskSpec, obs: str, info_keys: tuple[str, ...]) -> Transform:
    """The transforms that turn any family's base env into the common interface (module doc)."""
    if obs == "rgb":
        transforms: list[Transform] = [
            RenameTransform(in_keys=["pixels"], out_keys=["observation"]),  # one frame, [3, 64, 64]
            CatFrames(N=FRAME_STACK, dim=-3, in_keys=["observation"]),  # a reset repeats its frame
        ]
        doubles = []
    else:
        obs_keys = _observation_keys(base, spec, info_keys)
        transforms = (
            [] if obs_keys == ["observation"] else [CatTensors(in_keys=obs_keys, out_key="observation", sort=False)]
        )
        doubles = ["observation"] if _is_double(base.observation_spec[obs_keys[0]]) else []
    if not _is_unit_box(base.action_spec):
        transforms.append(ActionScaling())  # policy's [-1, 1] -> simulator bounds, per dimension
    if _is_double(base.reward_spec):
        doubles.append("reward")
    doubles_inv = ["action"] if _is_double(base.action_spec) else []
    if doubles or doubles_inv:
        transforms.append(DoubleToFloat(in_keys=doubles, in_keys_inv=doubles_inv))
    transforms.append(StepCounter(max_steps=spec.episode_length))
    return Compose(*transforms)


def _observation_keys(base: EnvBase, spec: TaskSpec, info_keys: tuple[str, ...]) -> list[str]:
    """The base env's observation entries (not its info entries) in their native order; each
    must be 1-D and all of one dtype.

    TorchRL's DMControl wrapper already reports dm_control's scalar observations (e.g. walker's
    ``height``) with shape [1], so no flattening is needed; anything else is an error here.
    """
    obs_spec: Composite = base.observation_spec
    keys = [key for key in obs_spec.keys() if key not in info_keys]
    for key in keys:
        shape = obs_spec[key].shape[len(base.batch_size) :]
        if len(shape) != 1:
            raise ValueError(f"task {spec.name!r}: observation {key!r} has shape {tuple(shape)}, expected 1-D")
    if len({obs_spec[key].dtype for key in keys}) != 1:
        raise ValueError(f"task {spec.name!r}: observations of several dtypes: {keys}")
    return keys


def _is_double(spec: TensorSpec) -> bool:
    return spec.dtype == torch.float64


def _is_unit_box(action_spec: TensorSpec) -> bool:
    low, high = action_spec.space.low, action_spec.space.high
    return bool((low == -1).all() and (high == 1).all())
