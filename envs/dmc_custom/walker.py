"""Walker, backwards: walk-backwards (target speed 1 m/s) and run-backwards (8 m/s).

The reward is the suite's walker reward with the speed term mirrored: standing (torso height
at least 1.2 m) and upright, times ``(5 * move + 1) / 6`` where ``move`` is 1 at a horizontal
velocity of ``-speed`` or faster backwards, falling linearly to 0.5 at ``-speed / 2``.
"""

from __future__ import annotations

from dm_control.rl import control
from dm_control.suite import walker as suite_walker
from dm_control.utils import rewards

from envs.dmc_custom import _models


class BackwardsWalker(suite_walker.PlanarWalker):
    """The suite's planar walker, rewarded for moving in -x."""

    def get_reward(self, physics: suite_walker.Physics) -> float:
        stand_height = suite_walker._STAND_HEIGHT
        standing = rewards.tolerance(
            physics.torso_height(), bounds=(stand_height, float("inf")), margin=stand_height / 2
        )
        upright = (1 + physics.torso_upright()) / 2
        stand_reward = (3 * standing + upright) / 4
        speed = self._move_speed
        move_reward = rewards.tolerance(
            physics.horizontal_velocity(),
            bounds=(-float("inf"), -speed),
            margin=speed / 2,
            value_at_margin=0.5,
            sigmoid="linear",
        )
        return stand_reward * (5 * move_reward + 1) / 6


def _environment(speed: float, random) -> control.Environment:
    physics = suite_walker.Physics.from_xml_string(*_models.walker())
    return control.Environment(
        physics,
        BackwardsWalker(move_speed=speed, random=random),
        time_limit=suite_walker._DEFAULT_TIME_LIMIT,
        control_timestep=suite_walker._CONTROL_TIMESTEP,
    )


def walk_backwards(random=None) -> control.Environment:
    return _environment(suite_walker._WALK_SPEED, random)


def run_backwards(random=None) -> control.Environment:
    return _environment(suite_walker._RUN_SPEED, random)
