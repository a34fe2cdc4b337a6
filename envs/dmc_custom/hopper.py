"""Hopper, hop-backwards: the suite's hop reward with the speed mirrored.

``standing * hopping``: ``standing`` is 1 for a torso 0.6 to 2 m above the foot (0 outside),
``hopping`` 1 at a speed of -1 m/s or faster backwards, linear to 0.5 at -0.5 m/s and 0 at 0.
"""

from __future__ import annotations

from dm_control.rl import control
from dm_control.suite import common
from dm_control.suite import hopper as suite_hopper
from dm_control.utils import rewards

HOP_SPEED = suite_hopper._HOP_SPEED  # 2 m/s; the target backwards speed is half of it


class HopBackwards(suite_hopper.Hopper):
    def __init__(self, random=None):
        super().__init__(hopping=True, random=random)

    def get_reward(self, physics: suite_hopper.Physics) -> float:
        standing = rewards.tolerance(physics.height(), (suite_hopper._STAND_HEIGHT, 2))
        hopping = rewards.tolerance(
            physics.speed(),
            bounds=(-float("inf"), -HOP_SPEED / 2),
            margin=HOP_SPEED / 4,
            value_at_margin=0.5,
            sigmoid="linear",
        )
        return standing * hopping


def hop_backwards(random=None) -> control.Environment:
    physics = suite_hopper.Physics.from_xml_string(common.read_model("hopper.xml"), common.ASSETS)
    return control.Environment(
        physics,
        HopBackwards(random=random),
        time_limit=suite_hopper._DEFAULT_TIME_LIMIT,
        control_timestep=suite_hopper._CONTROL_TIMESTEP,
    )
