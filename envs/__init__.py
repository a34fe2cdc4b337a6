"""Environments by task name: the task registry and TorchRL env factories.

This package knows no agent: it imports neither ``algorithms`` nor ``harness``.

Task families are registered here, once each (see ``envs/tasks.py``): DMControl (39 tasks,
``envs/dmc.py`` and ``envs/dmc_custom/``), Meta-World (MT50, ``envs/metaworld.py``) and MyoSuite
(10 hand tasks, ``envs/myosuite.py``; an optional install, see README). Importing this package
imports none of dm_control, Meta-World and MyoSuite: they are imported when an env is built, so
that dm_control's OpenGL backend can still be chosen for pixels (``envs/rendering.py``), and a
missing MyoSuite matters only to its own tasks.
"""

from __future__ import annotations

from envs import dmc, metaworld, myosuite
from envs.factory import OBS_KINDS, env_info, make_batched_env, make_env
from envs.tasks import Family, TaskSpec, get_family, get_task, register_family, task_names

register_family(dmc.FAMILY)
register_family(metaworld.FAMILY)
register_family(myosuite.FAMILY)

__all__ = [
    "OBS_KINDS",
    "Family",
    "TaskSpec",
    "env_info",
    "get_family",
    "get_task",
    "make_batched_env",
    "make_env",
    "register_family",
    "task_names",
]
