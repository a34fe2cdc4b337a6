"""TD-MPC2's 11 custom DMControl tasks, implemented here as dm_control tasks.

TD-MPC2 (Hansen et al., 2024) added these tasks to the 28 standard ones; its MT30/MT80 task sets
and its published DMControl-39 results use them. Each is a ``dm_control.rl.control.Environment``
built by a function in this package's per-domain module (``walker``, ``cheetah``, ``hopper``,
``reacher``, ``ball_in_cup``, ``pendulum``); the models are dm_control's own, derived in
``_models.py`` where a task needs a change (longer floors for running backwards, a three-link
reacher). Rewards are in [0, 1] per control step, and every episode is 1000 control steps, as in
the standard suite.

This module is pure Python: dm_control is imported only when a task is loaded, so listing the
tasks does not import (and pick an OpenGL backend for) MuJoCo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from dm_control.rl.control import Environment

# benchmark name -> (domain, task), in the order TD-MPC2 lists them (common/__init__.py, MT30).
# The domain names the module of this package that defines the task.
TASKS: dict[str, tuple[str, str]] = {
    "walker-walk-backwards": ("walker", "walk_backwards"),
    "walker-run-backwards": ("walker", "run_backwards"),
    "cheetah-run-backwards": ("cheetah", "run_backwards"),
    "cheetah-run-front": ("cheetah", "run_front"),
    "cheetah-run-back": ("cheetah", "run_back"),
    "cheetah-jump": ("cheetah", "jump"),
    "hopper-hop-backwards": ("hopper", "hop_backwards"),
    "reacher-three-easy": ("reacher", "three_easy"),
    "reacher-three-hard": ("reacher", "three_hard"),
    "cup-spin": ("ball_in_cup", "spin"),
    "pendulum-spin": ("pendulum", "spin"),
}

_DOMAIN_TASKS = frozenset(TASKS.values())


def is_custom(domain: str, task: str) -> bool:
    """Whether ``(domain, task)`` is one of this package's tasks (not dm_control's suite)."""
    return (domain, task) in _DOMAIN_TASKS


def load(domain: str, task: str, random: np.random.RandomState | int | None = None) -> Environment:
    """The dm_control environment of custom task ``(domain, task)``, like ``suite.load``."""
    if not is_custom(domain, task):
        valid = ", ".join(f"{d}/{t}" for d, t in sorted(_DOMAIN_TASKS))
        raise ValueError(f"unknown custom DMControl task {domain}/{task}; valid: {valid}")
    module = importlib.import_module(f"{__name__}.{domain}")
    return getattr(module, task)(random=random)
