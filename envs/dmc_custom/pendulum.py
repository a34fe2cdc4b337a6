"""Pendulum, spin: spin the pole as fast as possible.

The suite's swing-up task (random initial angle, observations: pole orientation and angular
velocity) with the reward 1 for an angular speed of at least 9 rad/s, linear to 0.5 at 4.5 rad/s.
"""

from __future__ import annotations

import numpy as np
from dm_control.rl import control
from dm_control.suite import common
from dm_control.suite import pendulum as suite_pendulum
from dm_control.utils import rewards

TARGET_SPEED = 9.0  # rad/s


class Spin(suite_pendulum.SwingUp):
    def get_reward(self, physics: suite_pendulum.Physics) -> float:
        return rewards.tolerance(
            np.linalg.norm(physics.angular_velocity()),
            bounds=(TARGET_SPEED, float("inf")),
            margin=TARGET_SPEED / 2,
            value_at_margin=0.5,
            sigmoid="linear",
        )


def spin(random=None) -> control.Environment:
    physics = suite_pendulum.Physics.from_xml_string(common.read_model("pendulum.xml"), common.ASSETS)
    return control.Environment(physics, Spin(random=random), time_limit=suite_pendulum._DEFAULT_TIME_LIMIT)
