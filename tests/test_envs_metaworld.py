"""Meta-World MT50 (``envs/metaworld.py``): specs, episode length, goals and seeding, success."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs import get_task, make_env
from envs.metaworld import SuccessReader


@pytest.fixture(scope="module")
def reach():
    env = make_env("mw-reach", seed=0)
    yield env
    env.close()


def _sawyer(env):
    return env.base_env._env.unwrapped  # Meta-World's own env, for these checks only


def test_specs(reach):
    obs = reach.observation_spec["observation"]
    assert obs.shape == (39,) and obs.dtype == torch.float32
    assert reach.action_spec.shape == (4,) and reach.action_spec.dtype == torch.float32
    assert reach.observation_spec["success"].dtype == torch.bool and reach.observation_spec["success"].shape == (1,)
    assert reach.reward_spec.dtype == torch.float32 and reach.reward_spec.shape == (1,)


def test_goal_bounds_are_not_zero(reach):
    """Meta-World declares the 3 goal dimensions with low = high = 0 (its space is computed while
    the env is goal-hidden) although the observation carries the goal; ours has the real bounds."""
    low, high = reach.observation_spec["observation"].space.low, reach.observation_spec["observation"].space.high
    assert (high[-3:] > low[-3:]).all()
    goal = reach.reset()["observation"][-3:]
    assert goal.abs().sum() > 0 and ((goal >= low[-3:]) & (goal <= high[-3:])).all()


def test_the_library_still_declares_zero_goal_bounds():
    """The workaround above is needed as long as this holds (it fails once Meta-World fixes it)."""
    import gymnasium as gym
    import metaworld  # noqa: F401 - registers Meta-World/MT1

    env = gym.make("Meta-World/MT1", env_name="reach-v3", seed=0, disable_env_checker=True)
    space = env.observation_space
    assert (space.low[-3:] == 0).all() and (space.high[-3:] == 0).all()
    obs, _ = env.reset()
    assert np.abs(obs[-3:]).sum() > 0
    env.close()


def test_episode_is_100_agent_steps_200_simulator_steps(reach):
    assert get_task("mw-reach").episode_length == 100 and get_task("mw-reach").action_repeat == 2
    torch.manual_seed(0)
    traj = reach.rollout(150, break_when_any_done=True)
    nxt = traj["next"]
    assert traj.batch_size == (100,)
    assert nxt["truncated"][-1].item() and nxt["done"][-1].item() and not nxt["done"][:-1].any()
    assert not nxt["terminated"].any()
    assert _sawyer(reach).curr_path_length == 200 < _sawyer(reach).max_path_length
    assert nxt["success"].shape == (100, 1) and nxt["success"].dtype == torch.bool
    assert (nxt["reward"] >= 0).all() and (nxt["reward"] <= 20).all()


def test_several_episodes_in_a_row(reach):
    """Meta-World raises once its own path limit (500) is passed without a reset: our 100-step
    episodes reset it long before (3 episodes = 600 simulator steps here)."""
    torch.manual_seed(0)
    traj = reach.rollout(300, break_when_any_done=False)
    assert traj["next", "done"].sum() == 3 and traj["next", "done"][[99, 199, 299]].all()


def test_new_goal_every_episode_fixed_within_one(reach):
    torch.manual_seed(0)
    goals = []
    for _ in range(3):
        traj = reach.rollout(20)  # resets first
        goal = traj["observation"][0, -3:]
        assert (traj["next", "observation"][:, -3:] == goal).all()
        assert torch.allclose(goal.double(), torch.as_tensor(_sawyer(reach)._target_pos), atol=1e-6)
        goals.append(goal)
    assert len({tuple(g.tolist()) for g in goals}) == 3


def test_same_seed_same_goals():
    def goals(seed):
        env = make_env("mw-pick-place", seed=seed)
        out = [env.reset()["observation"] for _ in range(3)]
        env.close()
        return torch.stack(out)

    first = goals(7)
    assert torch.equal(first, goals(7))
    assert not torch.equal(first, goals(8))


def test_success_is_false_after_reset(reach):
    assert reach.reset()["success"].tolist() == [False]


@pytest.mark.filterwarnings("ignore:Constant.*may be too high")  # the scripted policies' own warning
@pytest.mark.parametrize(
    "task, policy", [("mw-reach", "SawyerReachV3Policy"), ("mw-pick-place", "SawyerPickPlaceV3Policy")]
)
def test_scripted_policy_reaches_success(task, policy):
    """Meta-World's scripted policy solves the task through our env: success becomes 1 and is 1
    at the last step (what the evaluation records)."""
    import metaworld.policies

    scripted = getattr(metaworld.policies, policy)()
    env = make_env(task, seed=1)
    td = env.reset()
    success = []
    for _ in range(100):
        action = scripted.get_action(td["observation"].double().numpy())
        td["action"] = torch.as_tensor(action, dtype=torch.float32).clamp(-1, 1)
        td = env.step(td)
        success.append(td["next", "success"].item())
        done = td["next", "done"].item()
        td = td["next"]
    assert done and not success[0] and any(success) and success[-1]
    env.close()


def test_success_reader_converts_python_floats():
    from tensordict import TensorDict

    reader = SuccessReader()
    assert reader(dict(success=1.0), TensorDict())["success"].tolist() == [True]
    assert reader(dict(success=0.0), TensorDict())["success"].tolist() == [False]
    assert reader({}, TensorDict())["success"].tolist() == [False]
    assert reader.info_spec["success"].dtype == torch.bool
