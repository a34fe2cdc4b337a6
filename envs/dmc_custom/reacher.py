"""Reacher with three links: three-easy (target radius 5 cm) and three-hard (1.5 cm).

The suite's reacher task (random joint angles and a random target 5 to 20 cm from the base;
reward 1 while the finger touches the target, else 0) on the three-link arm of
``_models.reacher_three_links``. Observations: joint angles (3), finger-to-target vector (2),
joint velocities (3).
"""

from __future__ import annotations

from dm_control.rl import control
from dm_control.suite import reacher as suite_reacher

from envs.dmc_custom import _models


def _environment(target_size: float, random) -> control.Environment:
    physics = suite_reacher.Physics.from_xml_string(*_models.reacher_three_links())
    return control.Environment(
        physics, suite_reacher.Reacher(target_size, random=random), time_limit=suite_reacher._DEFAULT_TIME_LIMIT
    )


def three_easy(random=None) -> control.Environment:
    return _environment(suite_reacher._BIG_TARGET, random)


def three_hard(random=None) -> control.Environment:
    return _environment(suite_reacher._SMALL_TARGET, random)
