"""What a suite's multi-task dataset looks like: task order, per-task dims and episode lengths.

TD-MPC2's multi-task model zero-pads observations to the largest obs dim of the task set and acts at
the largest action dim (docs/method.md section 9); a dataset's ``task`` ids index the suite's task
list. The task registry knows episode lengths but not dims, so dims are read from a built env (once
per task and process: about 0.5 s per task, some 40 s for mt80).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from configs.errors import UnknownNameError
from configs.suites import get_suite
from harness.published_only import published_only_problem


@dataclass(frozen=True)
class TaskDims:
    obs_dim: int
    action_dim: int
    episode_length: int


@dataclass(frozen=True)
class SuiteLayout:
    """A suite's tasks (in dataset-id order) and the padded dims a dataset of it uses."""

    suite: str
    version: int
    tasks: tuple[str, ...]
    dims: tuple[TaskDims, ...]

    @property
    def max_obs_dim(self) -> int:
        return max(d.obs_dim for d in self.dims)

    @property
    def max_action_dim(self) -> int:
        return max(d.action_dim for d in self.dims)

    @property
    def segment_length(self) -> int:
        """Steps per stored episode (rows L = this + 1): the suite's shortest episode. TD-MPC2's mt80
        data use L = 101 for every task (3.45M DMControl pieces of 100 steps + 2M Meta-World episodes
        = its 5.45M episodes of 101 rows), so longer episodes are stored as consecutive pieces."""
        return min(d.episode_length for d in self.dims)

    def task_id(self, task: str) -> int:
        return self.tasks.index(task)


@cache
def task_dims(task: str) -> TaskDims:
    """The obs and action dims of ``task``'s state env (built once) and its episode length."""
    from envs import get_task, make_env

    env = make_env(task, seed=0, device="cpu")
    try:
        obs_dim = int(env.observation_spec["observation"].shape[-1])
        action_dim = int(env.action_spec.shape[-1])
    finally:
        env.close()
    return TaskDims(obs_dim, action_dim, get_task(task).episode_length)


@cache
def suite_layout(suite: str) -> SuiteLayout:
    """The layout of ``suite`` (raises configs.suites.UnknownNameError for an unknown name)."""
    s = get_suite(suite)
    problem = published_only_problem(s.tasks, f"suite={suite}")
    if problem:  # its envs are not registered: the export / offline program ends in this line
        raise UnknownNameError(problem)
    return SuiteLayout(s.name, s.version, s.tasks, tuple(task_dims(t) for t in s.tasks))
