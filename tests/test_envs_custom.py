"""TD-MPC2's 11 custom DMControl tasks (``envs/dmc_custom``): models, rewards as defined, and the
TorchRL env against the raw dm_control one.

Rewards are checked on hand-set simulator states (``physics.reset_context()`` runs MuJoCo's
forward pass, so sensors such as the torso velocity are up to date), on the dm_control env
itself: no TorchRL, no stepping.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dm_control.suite import common

from envs import dmc_custom, make_env
from envs.dmc import load

# --- registry -------------------------------------------------------------------------------------


def test_the_eleven_custom_tasks():
    assert list(dmc_custom.TASKS) == [
        "walker-walk-backwards",
        "walker-run-backwards",
        "cheetah-run-backwards",
        "cheetah-run-front",
        "cheetah-run-back",
        "cheetah-jump",
        "hopper-hop-backwards",
        "reacher-three-easy",
        "reacher-three-hard",
        "cup-spin",
        "pendulum-spin",
    ]
    assert dmc_custom.is_custom("cheetah", "jump") and not dmc_custom.is_custom("cheetah", "run")
    with pytest.raises(ValueError, match="cheetah/run; valid: .*cheetah/jump"):
        dmc_custom.load("cheetah", "run")


@pytest.mark.parametrize("name", list(dmc_custom.TASKS))
def test_episodes_are_1000_control_steps_and_rewards_in_unit_interval(name):
    env = load(*dmc_custom.TASKS[name], seed=0)
    assert env._step_limit == 1000
    rng = np.random.default_rng(0)
    spec = env.action_spec()
    env.reset()
    for _ in range(20):
        step = env.step(rng.uniform(spec.minimum, spec.maximum))
        assert 0.0 <= step.reward <= 1.0


# --- models ---------------------------------------------------------------------------------------


def _suite_physics(filename: str):
    from dm_control import mujoco

    return mujoco.Physics.from_xml_string(common.read_model(filename), common.ASSETS)


def test_longer_floors_and_nothing_else_changed():
    for task, filename, floor, half_length in (
        ("run_backwards", "cheetah.xml", "ground", 200),
        ("walk_backwards", "walker.xml", "floor", 500),
    ):
        domain = filename.removesuffix(".xml")
        ours, suite = load(domain, task).physics, _suite_physics(filename)
        assert ours.named.model.geom_size[floor][0] == half_length > suite.named.model.geom_size[floor][0]
        ours, suite = ours.model, suite.model
        assert ours.nq == suite.nq and ours.nu == suite.nu and ours.ngeom == suite.ngeom
        np.testing.assert_array_equal(ours.body_mass, suite.body_mass)
        np.testing.assert_array_equal(ours.jnt_range, suite.jnt_range)


def test_reacher_has_three_links():
    model = load("reacher", "three_easy").physics.model
    joints = [model.joint(i).name for i in range(model.njnt)]
    assert joints == ["shoulder0", "shoulder1", "wrist"] and model.nu == 3
    np.testing.assert_allclose(np.rad2deg(model.jnt_range[1:]), [[-80, 80], [-80, 80]])
    assert not model.jnt_limited[0] and model.jnt_limited[1:].all()
    np.testing.assert_allclose(model.actuator_gear[:, 0], 0.05)  # the suite's motors
    # links of 0.09: the finger is 0.27 from the shoulder when the arm is straight
    physics = load("reacher", "three_easy").physics
    with physics.reset_context():
        physics.data.qpos[:] = 0
    np.testing.assert_allclose(physics.named.data.geom_xpos["finger", :2], [0.27, 0.0], atol=1e-9)


# --- rewards as defined ---------------------------------------------------------------------------


def _reward(name: str, qpos: dict | None = None, qvel: dict | None = None, setup=None) -> float:
    env = load(*dmc_custom.TASKS[name], seed=0)
    env.reset()
    physics = env.physics
    with physics.reset_context():
        physics.data.qpos[:] = 0
        physics.data.qvel[:] = 0
        for joint, value in (qpos or {}).items():
            physics.named.data.qpos[joint] = value
        for joint, value in (qvel or {}).items():
            physics.named.data.qvel[joint] = value
        if setup is not None:
            setup(physics)
    return float(env.task.get_reward(physics))


def test_cheetah_run_backwards_rewards_negative_velocity():
    assert _reward("cheetah-run-backwards", qvel={"rootx": -10}) == pytest.approx(1)
    assert _reward("cheetah-run-backwards", qvel={"rootx": -8}) == pytest.approx(1)
    assert _reward("cheetah-run-backwards", qvel={"rootx": -4}) == pytest.approx(0.5, abs=1e-6)
    assert _reward("cheetah-run-backwards", qvel={"rootx": 0}) == pytest.approx(0)
    assert _reward("cheetah-run-backwards", qvel={"rootx": 10}) == pytest.approx(0)


def test_cheetah_run_on_one_leg_and_jump():
    lifted = {"rootz": 1.5}  # the whole cheetah 1.5 m higher: torso and both feet above 1.2 m
    for name in ("cheetah-run-front", "cheetah-run-back"):
        assert _reward(name, qpos=lifted, qvel={"rootx": 6}) == pytest.approx(1)
        assert _reward(name, qpos=lifted, qvel={"rootx": 0}) == pytest.approx(1 / 6)  # up, not running
        assert _reward(name, qvel={"rootx": 6}) < 0.1  # running, but on the ground
    assert _reward("cheetah-jump", qpos=lifted) == pytest.approx(1)
    assert _reward("cheetah-jump", qpos=lifted, qvel={"rootx": 1.5}) == pytest.approx(5 / 6)  # not still
    assert 1 / 6 < _reward("cheetah-jump") < 0.25  # still on the ground: the still term, little height


@pytest.mark.parametrize("name, speed", [("walker-walk-backwards", 1), ("walker-run-backwards", 8)])
def test_walker_backwards_rewards_negative_velocity(name, speed):
    standing = _reward(name, qvel={"rootx": 0}) * 6  # qpos 0 is standing upright: stand reward 1
    assert standing == pytest.approx(1)
    assert _reward(name, qvel={"rootx": -speed}) == pytest.approx(1)
    assert _reward(name, qvel={"rootx": -speed / 2}) == pytest.approx((5 * 0.5 + 1) / 6)
    assert _reward(name, qvel={"rootx": speed}) == pytest.approx(1 / 6)


def test_hopper_hop_backwards_rewards_negative_velocity():
    assert _reward("hopper-hop-backwards", qvel={"rootx": -1.5}) == pytest.approx(1)
    assert _reward("hopper-hop-backwards", qvel={"rootx": -0.5}) == pytest.approx(0.5)
    assert _reward("hopper-hop-backwards", qvel={"rootx": 1.5}) == pytest.approx(0)
    assert _reward("hopper-hop-backwards", qpos={"rooty": 1.57}, qvel={"rootx": -1.5}) == 0  # lying down


def test_pendulum_spin_rewards_angular_speed_either_way():
    assert _reward("pendulum-spin", qvel={"hinge": 10}) == pytest.approx(1)
    assert _reward("pendulum-spin", qvel={"hinge": -9}) == pytest.approx(1)
    assert _reward("pendulum-spin", qvel={"hinge": 4.5}) == pytest.approx(0.5)
    assert _reward("pendulum-spin", qvel={"hinge": 0}) == pytest.approx(0)


def test_cup_spin_rewards_a_fast_ball_away_from_the_cup_and_nothing_inside():
    # the ball's rest position is 0.2 m above the cup's origin, the target 0.55 m
    far_fast = _reward("cup-spin", qpos={"ball_z": -0.3}, qvel={"ball_x": 6})  # ball 0.65 m below the target
    assert far_fast == pytest.approx(1)
    assert _reward("cup-spin", qpos={"ball_z": -0.3}) == pytest.approx(1 / 3)  # far, not moving
    assert _reward("cup-spin", qpos={"ball_z": -0.3}, qvel={"ball_x": 3}) == pytest.approx((1 + 2 * 0.5) / 3)
    in_cup = _reward("cup-spin", qpos={"ball_z": 0.35}, qvel={"ball_x": 6})  # at the target, inside the cup
    assert in_cup == 0


def test_cup_spin_episodes_start_with_the_ball_in_the_cup_mostly():
    env = load("ball_in_cup", "spin", seed=0)
    inside = [env.reset() and env.physics.in_target() for _ in range(40)]
    assert 0.75 <= np.mean(inside) < 1  # 90% on average, and some outside


@pytest.mark.parametrize("name, radius", [("reacher-three-easy", 0.05), ("reacher-three-hard", 0.015)])
def test_reacher_three_rewards_touching_the_target(name, radius):
    def target_at(distance):
        def setup(physics):  # the arm straight along x, the target `distance` beyond the finger
            physics.named.model.geom_pos["target", :2] = [0.27 + distance, 0]

        return setup

    assert load(*dmc_custom.TASKS[name]).physics.named.model.geom_size["target", 0] == pytest.approx(0.05)
    env = load(*dmc_custom.TASKS[name], seed=0)
    env.reset()  # sets the task's target size
    assert env.physics.named.model.geom_size["target", 0] == pytest.approx(radius)
    assert _reward(name, setup=target_at(0)) == 1
    assert _reward(name, setup=target_at(radius + 0.01 - 0.001)) == 1  # touching (finger radius 0.01)
    assert _reward(name, setup=target_at(radius + 0.01 + 0.05)) < 0.1


# --- through the factory --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cheetah-run-backwards", "reacher-three-easy", "cup-spin"])
def test_matches_the_raw_dm_control_task(name):
    """Same seed and actions: the TorchRL env's observations are dm_control's entries
    concatenated, its rewards the sum over two control steps."""
    env = make_env(name, seed=5)
    raw = load(*dmc_custom.TASKS[name], seed=5)
    raw.reset()  # make_env's set_seed resets once, like this

    def flat(timestep) -> torch.Tensor:
        return torch.as_tensor(np.concatenate([np.ravel(v) for v in timestep.observation.values()]))

    td = env.reset()
    assert torch.allclose(td["observation"].double(), flat(raw.reset()), atol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(5):
        action = rng.uniform(-1, 1, env.action_spec.shape)
        td["action"] = torch.as_tensor(action, dtype=torch.float32)
        td = env.step(td)
        steps = [raw.step(action.astype(np.float32).astype(np.float64)) for _ in range(2)]
        assert td["next", "reward"].item() == pytest.approx(sum(s.reward for s in steps), abs=1e-5)
        assert torch.allclose(td["next", "observation"].double(), flat(steps[-1]), atol=1e-5)
        td = td["next"]
    env.close()


def test_cheetah_run_backwards_env_rewards_running_backwards():
    """Through the factory: a cheetah pushed backwards at 9 m/s earns about 2 per agent step
    (1 per control step), pushed forwards 0."""
    env = make_env("cheetah-run-backwards", seed=0)
    physics = env.base_env._env.physics  # wrapper internals, for this check only
    for push, expected in ((-9.0, 2.0), (9.0, 0.0)):
        td = env.reset()
        with physics.reset_context():
            physics.named.data.qvel["rootx"] = push
        td["action"] = torch.zeros(env.action_spec.shape)
        reward = env.step(td)["next", "reward"].item()
        assert reward == pytest.approx(expected, abs=0.25)
    env.close()
