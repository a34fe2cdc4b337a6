"""Environments by task name: the task registry and TorchRL env factories.

This package knows no agent: it imports neither ``algorithms`` nor ``harness``.

Task families are registered here, once each (see ``envs/tasks.py``).
"""
from __future__ import annotations

from envs import dmc
from envs.factory import env_info, make_batched_env, make_env
from envs.tasks import Family, TaskSpec, get_task, register_family, task_names

register_family(dmc.FAMILY)

__all__ = [
    "Family",
    "TaskSpec",
    "env_info",
    "get_task",
    "make_batched_env",
    "make_env",
    "register_family",
    "task_names",
]
