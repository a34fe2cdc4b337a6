"""Cheetah: run-backwards, run-front, run-back and jump.

- run-backwards: 1 at a speed of -8 m/s or faster backwards, linearly down to 0 at 0 m/s.
- run-front / run-back: run forwards on the front (back) leg with the other foot and the torso
  high: ``up = (3 * foot_up + 2 * torso_up) / 5`` (foot and torso at least 1.2 m high, Gaussian
  margin 0.6 m), times ``(5 * speed + 1) / 6``, ``speed`` 1 at 6 m/s or more, linear to 0 at 0.
- jump: the mean of stand-front and stand-back, each ``(5 * height + still) / 6`` where
  ``height`` rewards the mean height of the torso and the raised foot (at least 1.2 m, margin
  0.6 m) and ``still`` a horizontal speed within +-0.5 m/s (linear to 0 at +-1 m/s).
"""

from __future__ import annotations

from dm_control.rl import control
from dm_control.suite import cheetah as suite_cheetah
from dm_control.utils import rewards

from envs.dmc_custom import _models

HIGH = 1.2  # torso / foot height (m) above which "up" rewards are 1
RUN_SPEED = suite_cheetah._RUN_SPEED  # 10 m/s


def _linear_at_least(value: float, target: float) -> float:
    """1 for ``value >= target``, linear down to 0 at ``value = 0`` (``target > 0``)."""
    return rewards.tolerance(value, bounds=(target, float("inf")), margin=target, value_at_margin=0, sigmoid="linear")


def _high(height: float) -> float:
    return rewards.tolerance(height, bounds=(HIGH, float("inf")), margin=HIGH / 2)


class CustomCheetah(suite_cheetah.Cheetah):
    """The suite's cheetah with one of four goals (``run_backwards``, ``run_front``,
    ``run_back``, ``jump``) and a target speed."""

    def __init__(self, goal: str, speed: float, random=None):
        super().__init__(random=random)
        self._goal = goal
        self._speed = speed

    def _z(self, physics, body: str) -> float:
        return physics.named.data.xpos[body, "z"]

    def _stand_on_one_foot(self, physics, raised_foot: str) -> float:
        height = _high((self._z(physics, "torso") + self._z(physics, raised_foot)) / 2)
        still = rewards.tolerance(
            physics.speed(), bounds=(-self._speed, self._speed), margin=self._speed, value_at_margin=0, sigmoid="linear"
        )
        return (5 * height + still) / 6

    def _run_on_one_foot(self, physics, raised_foot: str) -> float:
        up = (3 * _high(self._z(physics, raised_foot)) + 2 * _high(self._z(physics, "torso"))) / 5
        return up * (5 * _linear_at_least(physics.speed(), self._speed) + 1) / 6

    def get_reward(self, physics: suite_cheetah.Physics) -> float:
        if self._goal == "run_backwards":
            return _linear_at_least(-physics.speed(), self._speed)
        if self._goal == "run_front":  # on the front foot: the back foot is up
            return self._run_on_one_foot(physics, "bfoot")
        if self._goal == "run_back":
            return self._run_on_one_foot(physics, "ffoot")
        if self._goal == "jump":
            return (self._stand_on_one_foot(physics, "bfoot") + self._stand_on_one_foot(physics, "ffoot")) / 2
        raise ValueError(f"unknown cheetah goal {self._goal!r}")


def _environment(goal: str, speed: float, random) -> control.Environment:
    physics = suite_cheetah.Physics.from_xml_string(*_models.cheetah())
    return control.Environment(
        physics, CustomCheetah(goal, speed, random=random), time_limit=suite_cheetah._DEFAULT_TIME_LIMIT
    )


def run_backwards(random=None) -> control.Environment:
    return _environment("run_backwards", 0.8 * RUN_SPEED, random)


def run_front(random=None) -> control.Environment:
    return _environment("run_front", 0.6 * RUN_SPEED, random)


def run_back(random=None) -> control.Environment:
    return _environment("run_back", 0.6 * RUN_SPEED, random)


def jump(random=None) -> control.Environment:
    return _environment("jump", 0.5, random)
