"""Ball-in-cup, spin: swing the ball around the cup, fast and far from it.

Episodes start with the ball inside the cup, except that one episode in ten may start with it
anywhere (TD-MPC2's initial states; the suite's catch task starts it anywhere). The reward is 0
while the ball is in the cup, else ``(far + 2 * fast) / 3``: ``far`` is 1 for a ball at least
0.5 m from the target (linear to 0.5 at 0.25 m), ``fast`` 1 for a ball speed of at least 6 m/s
(linear to 0.5 at 3 m/s).
"""

from __future__ import annotations

import numpy as np
from dm_control.rl import control
from dm_control.suite import ball_in_cup as suite_cup
from dm_control.suite import base, common
from dm_control.utils import rewards

FAR = 0.5  # m from the target
FAST = 6.0  # m/s
START_OUTSIDE = 0.1  # probability that an episode may start with the ball outside the cup


class Spin(suite_cup.BallInCup):
    def initialize_episode(self, physics: suite_cup.Physics) -> None:
        # A random collision-free ball position, inside the cup unless this episode allows outside.
        may_start_outside = self.random.uniform() < START_OUTSIDE
        while True:
            physics.named.data.qpos["ball_x"] = self.random.uniform(-0.2, 0.2)
            physics.named.data.qpos["ball_z"] = self.random.uniform(0.2, 0.5)
            physics.after_reset()
            if physics.data.ncon == 0 and (may_start_outside or physics.in_target()):
                break
        base.Task.initialize_episode(self, physics)

    def get_reward(self, physics: suite_cup.Physics) -> float:
        distance = np.linalg.norm(physics.ball_to_target())
        speed = np.linalg.norm(physics.named.data.qvel[["ball_x", "ball_z"]])
        far = rewards.tolerance(
            distance, bounds=(FAR, float("inf")), margin=FAR / 2, value_at_margin=0.5, sigmoid="linear"
        )
        fast = rewards.tolerance(
            speed, bounds=(FAST, float("inf")), margin=FAST / 2, value_at_margin=0.5, sigmoid="linear"
        )
        return (1 - physics.in_target()) * (far + 2 * fast) / 3


def spin(random=None) -> control.Environment:
    physics = suite_cup.Physics.from_xml_string(common.read_model("ball_in_cup.xml"), common.ASSETS)
    return control.Environment(
        physics,
        Spin(random=random),
        time_limit=suite_cup._DEFAULT_TIME_LIMIT,
        control_timestep=suite_cup._CONTROL_TIMESTEP,
    )
