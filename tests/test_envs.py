"""Tests of ``envs/``: task registry, env interface (specs, episode length, rewards), seeding, and
every one of the 89 DMControl and Meta-World tasks built once (build, seeded reset, random steps,
TorchRL's spec checks).

Family-specific behaviour is tested in ``test_envs_custom.py`` (TD-MPC2's custom DMControl
tasks), ``test_envs_metaworld.py``, ``test_envs_pixels.py`` and ``test_myosuite.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchrl.envs import EnvBase
from torchrl.envs.utils import check_env_specs

from configs.errors import UnknownNameError
from configs.suites import get_suite
from envs import TaskSpec, env_info, get_task, make_batched_env, make_env, task_names
from envs.dmc_custom import TASKS as CUSTOM_TASKS

SMOKE_TASKS = get_suite("dmc-smoke").tasks
EPISODE_LENGTH = 500

# Flat observation sizes (as in TD-MPC2): every simulator observation entry, scalars included,
# ends up in `observation`. The first matching prefix counts.
OBS_DIMS = {
    "mw-": 39,
    "acrobot": 6,
    "cartpole": 5,
    "cheetah": 17,
    "cup": 8,
    "dog": 223,
    "finger-spin": 9,
    "finger-turn": 12,
    "fish": 24,
    "hopper": 15,
    "humanoid": 67,
    "pendulum": 3,
    "quadruped": 78,
    "reacher-three": 8,
    "reacher": 6,
    "walker": 24,
}
# Largest reward of one agent step (two simulator steps): DMControl [0, 1], Meta-World [0, 10] each.
MAX_STEP_REWARD = {"dmc": 2.0, "metaworld": 20.0}


def expected_obs_dim(task: str) -> int:
    return next(dim for prefix, dim in OBS_DIMS.items() if task.startswith(prefix))


# every DMControl and Meta-World task (MyoSuite's have their own tests: tests/test_myosuite.py)
DMC_AND_METAWORLD = sorted(task_names("dmc") + task_names("metaworld"))


def test_obs_dims_cover_every_task():
    assert all(any(t.startswith(prefix) for prefix in OBS_DIMS) for t in DMC_AND_METAWORLD)


@pytest.fixture(scope="module", params=SMOKE_TASKS)
def smoke_env(request) -> EnvBase:
    env = make_env(request.param, seed=0)
    yield env
    env.close()


# --- registry -------------------------------------------------------------------------------------


def test_registry_has_39_dmc_and_50_metaworld_tasks():
    names = task_names()
    assert len(names) == 99 and names == sorted(names) == sorted(DMC_AND_METAWORLD + task_names("myosuite"))
    assert len(task_names("dmc")) == 39 and set(CUSTOM_TASKS) <= set(task_names("dmc"))
    assert len(task_names("metaworld")) == 50 and all(t.startswith("mw-") for t in task_names("metaworld"))
    assert set(SMOKE_TASKS) <= set(names)


@pytest.mark.parametrize(
    "name, domain, task",
    [
        ("cup-catch", "ball_in_cup", "catch"),
        ("cartpole-balance-sparse", "cartpole", "balance_sparse"),
        ("reacher-easy", "reacher", "easy"),
        ("finger-turn-hard", "finger", "turn_hard"),
    ],
)
def test_task_spec(name, domain, task):
    spec = get_task(name)
    assert spec == TaskSpec(name, "dmc", domain, task, episode_length=500, action_repeat=2)
    assert env_info(name) is spec


def test_custom_and_metaworld_task_specs():
    assert get_task("cheetah-run-backwards") == TaskSpec(
        "cheetah-run-backwards", "dmc", "cheetah", "run_backwards", episode_length=500, action_repeat=2
    )
    assert get_task("cup-spin") == TaskSpec("cup-spin", "dmc", "ball_in_cup", "spin", 500, 2)
    assert get_task("mw-pick-place") == TaskSpec(
        "mw-pick-place", "metaworld", "metaworld", "pick-place-v3", episode_length=100, action_repeat=2
    )


def test_unknown_task_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        get_task("cheetah-runn")
    msg = str(err.value)
    assert "cheetah-runn" in msg and "cheetah-run" in msg and "walker-walk" in msg and "\n" not in msg
    with pytest.raises(UnknownNameError, match="cheetah-runn"):
        make_env("cheetah-runn", seed=0)
    with pytest.raises(UnknownNameError, match="cheetah-runn"):
        make_batched_env("cheetah-runn", seed=0, num_envs=2)


def test_unsupported_observation_kinds():
    with pytest.raises(ValueError, match="'pixels'.*supported: state, rgb"):
        make_env("cartpole-balance", seed=0, obs="pixels")
    with pytest.raises(ValueError, match="'rgb'.*mw-reach.*supported: state$"):
        make_env("mw-reach", seed=0, obs="rgb")  # fails before building anything


# --- the env interface, on the smoke suite ---------------------------------------------------------


def test_check_env_specs(smoke_env):
    check_env_specs(smoke_env, seed=0)


def test_observation_is_flat_float32(smoke_env):
    td = smoke_env.reset()
    obs = td["observation"]
    assert obs.dtype == torch.float32 and obs.ndim == 1
    assert smoke_env.observation_spec["observation"].shape == obs.shape
    assert set(smoke_env.observation_spec.keys()) == {"observation", "step_count"}


def test_action_spec_is_unit_box(smoke_env):
    spec = smoke_env.action_spec
    assert spec.dtype == torch.float32 and spec.ndim == 1
    assert (spec.space.low == -1).all() and (spec.space.high == 1).all()


def test_random_episode_is_500_steps_and_truncated(smoke_env):
    torch.manual_seed(0)  # rollout draws random actions from the global torch RNG
    traj = smoke_env.rollout(EPISODE_LENGTH + 100, break_when_any_done=True)
    nxt = traj["next"]
    assert traj.batch_size == (EPISODE_LENGTH,)
    assert nxt["truncated"][-1].item() and nxt["done"][-1].item()
    assert not nxt["done"][:-1].any() and not nxt["terminated"].any()
    assert nxt["step_count"][-1].item() == EPISODE_LENGTH
    reward = nxt["reward"]
    assert reward.dtype == torch.float32 and reward.shape == (EPISODE_LENGTH, 1)
    assert (reward >= 0).all() and (reward <= 2).all()


def test_matches_raw_dm_control():
    """Same seed, same actions as dm_control itself: the observation is dm_control's entries
    concatenated in its order, and the reward is the sum over the two repeated frames."""
    import numpy as np
    from dm_control import suite

    env = make_env("cartpole-balance", seed=3)
    raw = suite.load("cartpole", "balance", task_kwargs={"random": 3})
    raw.reset()  # make_env's set_seed resets once, like this

    def flat(timestep) -> torch.Tensor:
        return torch.as_tensor(np.concatenate([np.ravel(v) for v in timestep.observation.values()]))

    td = env.reset()
    assert torch.allclose(td["observation"].double(), flat(raw.reset()), atol=1e-6)
    for action in (0.5, -1.0, 1.0):
        td["action"] = torch.tensor([action])
        td = env.step(td)
        steps = [raw.step(np.array([action])) for _ in range(2)]
        assert td["next", "reward"].item() == pytest.approx(sum(s.reward for s in steps), abs=1e-6)
        assert td["next", "reward"].item() > 1  # two frames of reward close to 1 each
        assert torch.allclose(td["next", "observation"].double(), flat(steps[-1]), atol=1e-6)
        td = td["next"]


# --- seeding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [*SMOKE_TASKS, "cheetah-run-backwards", "reacher-three-hard", "mw-reach"])
def test_seeding(task):
    first = [make_env(task, seed=s).reset()["observation"] for s in (0, 0, 1)]
    assert torch.equal(first[0], first[1])
    assert not torch.equal(first[0], first[2])
    env = make_env(task, seed=1)
    env.reset()
    env.set_seed(0)  # re-seeding restarts the same sequence of initial states
    assert torch.equal(env.reset()["observation"], first[0])


def test_batched_env():
    task, seed = "cartpole-balance", 10
    env = make_batched_env(task, seed=seed, num_envs=3)
    td = env.reset()
    assert env.batch_size == td.batch_size == (3,)
    obs = td["observation"]
    assert obs.shape == (3, expected_obs_dim(task)) and obs.dtype == torch.float32
    assert len({tuple(o.tolist()) for o in obs}) == 3
    for i in range(3):  # copy i is make_env(task, seed + i)
        assert torch.equal(obs[i], make_env(task, seed=seed + i).reset()["observation"])
    td = env.rand_step(td)
    assert td["next", "reward"].shape == (3, 1) and td["next", "done"].shape == (3, 1)
    env.close()


# --- every registered task, each built once ------------------------------------------------------


@pytest.mark.parametrize("task", DMC_AND_METAWORLD)
def test_every_task(task):
    """Builds, resets with a seed, steps with random actions, passes TorchRL's spec checks, and
    the same seed gives the same first observation (another seed another one)."""
    spec = get_task(task)
    env = make_env(task, seed=0)
    first = env.reset()["observation"]
    assert first.shape == (expected_obs_dim(task),) and first.dtype == torch.float32
    assert (env.action_spec.space.low == -1).all() and (env.action_spec.space.high == 1).all()
    assert env.action_spec.dtype == torch.float32

    torch.manual_seed(0)  # random actions come from the global torch RNG
    traj = env.rollout(5, break_when_any_done=False)
    obs, reward = traj["next", "observation"], traj["next", "reward"]
    assert obs.isfinite().all() and reward.dtype == torch.float32 and reward.shape == (5, 1)
    assert (reward >= 0).all() and (reward <= MAX_STEP_REWARD[spec.family]).all()
    assert not traj["next", "done"].any()

    check_env_specs(env, seed=0)

    env.set_seed(0)  # make_env is "build, then set_seed": this is a fresh env's first observation
    assert torch.equal(env.reset()["observation"], first)
    env.set_seed(1)
    assert not torch.equal(env.reset()["observation"], first)

    if spec.family == "dmc":  # dm_control's own time limit ends the episode exactly when we do
        assert env.base_env._env._step_limit == spec.episode_length * spec.action_repeat
    env.close()


def test_quadruped_actions_are_rescaled_to_the_simulator_bounds():
    """quadruped's dm_control action bounds are not [-1, 1] (up to [-0.8, 0.8] and [-1, 1.1])."""
    env = make_env("quadruped-walk", seed=0)
    physics = env.base_env._env.physics  # TorchRL wrapper internals, for this check only
    low, high = physics.model.actuator_ctrlrange.T
    assert not ((low == -1).all() and (high == 1).all())
    td = env.reset()
    for action, bound in ((1.0, high), (-1.0, low)):
        td["action"] = torch.full(env.action_spec.shape, action)
        env.step(td)
        assert torch.allclose(torch.as_tensor(physics.data.ctrl), torch.as_tensor(bound))
    env.close()


def test_import_and_build_are_quiet_and_agent_free():
    """Importing envs loads no simulator library; building state envs prints no glfw 'DISPLAY ...
    missing' warning, leaves MUJOCO_GL alone, and imports neither algorithms nor harness."""
    code = (
        "import os, sys, envs\n"
        "sims = [m for m in sys.modules if m.split('.')[0] in ('dm_control', 'metaworld', 'myosuite')]\n"
        "assert not sims, sims\n"
        "envs.make_env('cartpole-balance', 0); envs.make_env('cup-spin', 0); envs.make_env('mw-reach', 0)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('algorithms', 'harness'))\n"
        "assert not bad, bad\n"
        "assert 'MUJOCO_GL' not in os.environ, os.environ['MUJOCO_GL']\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    env["PYTHONPATH"] = str(root)
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DISPLAY" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr[-2000:]
