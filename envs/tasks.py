"""The task registry: every environment the benchmark knows, by name.

A task belongs to a *family* (DMControl, Meta-World, MyoSuite). A family is one :class:`Family` object,
defined in its own module (``envs/dmc.py``, ``envs/metaworld.py``), that lists its tasks and
knows how to build the raw simulator env for one of them; ``envs/__init__.py`` registers each
family once with :func:`register_family`. Nothing else in ``envs/`` branches on the family name,
so adding a family is one new module plus one registration line.

This module is pure Python (no torch import), so configuration code can validate task names
cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from configs.errors import unknown

if TYPE_CHECKING:
    import torch
    from torchrl.envs import EnvBase


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task.

    ``episode_length`` counts agent steps (calls to ``env.step``); each agent step repeats the
    action ``action_repeat`` times in the simulator, so an episode is
    ``episode_length * action_repeat`` simulator control steps.
    """

    name: str  # benchmark name, e.g. "cup-catch", "mw-reach"
    family: str  # "dmc", "metaworld" or "myosuite"
    domain: str  # simulator domain, e.g. "ball_in_cup" ("metaworld" for Meta-World)
    task: str  # simulator task, e.g. "catch" (Meta-World: the v3 env name, e.g. "reach-v3"; MyoSuite: its env id)
    episode_length: int
    action_repeat: int


BaseEnvBuilder = Callable[["TaskSpec", "torch.device | str", str], "EnvBase"]


@dataclass(frozen=True)
class Family:
    """A task family: its tasks and the function that builds the raw env of one of them.

    ``make_base_env(spec, device, obs)`` returns a TorchRL env that already repeats each action
    ``spec.action_repeat`` times (summing the rewards). For ``obs="state"`` its observations are
    float tensors of at most one dimension, under one key each; for ``obs="rgb"`` (only families
    that list it in ``obs_kinds``) one ``pixels`` entry, uint8 ``[H, W, 3]``. Entries named in
    ``info_keys`` (e.g. Meta-World's ``success``) are not observations: they are passed through
    as they are. :func:`envs.factory.make_env` adds the common transforms (one ``observation``,
    actions in [-1, 1], episode length, seeding).

    ``install_problem`` (families whose simulator is an optional install, e.g. MyoSuite): returns
    one line saying how to install it when it is missing, None when it is there; cheap (it imports
    nothing), so that a run is refused before anything is written.
    """

    name: str
    tasks: tuple[TaskSpec, ...]
    make_base_env: BaseEnvBuilder
    obs_kinds: tuple[str, ...] = ("state",)
    info_keys: tuple[str, ...] = ()
    install_problem: Callable[[], str | None] | None = None


_FAMILIES: dict[str, Family] = {}
_TASKS: dict[str, TaskSpec] = {}


def register_family(family: Family) -> None:
    """Register a family and all its tasks. Names must be new (re-registering is an error)."""
    if family.name in _FAMILIES:
        raise ValueError(f"task family {family.name!r} is already registered")
    for spec in family.tasks:
        if spec.family != family.name:
            raise ValueError(f"task {spec.name!r} says family {spec.family!r}, registered under {family.name!r}")
        if spec.name in _TASKS:
            raise ValueError(f"task {spec.name!r} is already registered")
    _FAMILIES[family.name] = family
    _TASKS.update((spec.name, spec) for spec in family.tasks)


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name``; raises ``configs.errors.UnknownNameError`` (listing valid names)."""
    try:
        return _TASKS[name]
    except KeyError:
        raise unknown("task", name, _TASKS) from None


def get_family(name: str) -> Family:
    """The registered family ``name``; raises ``configs.errors.UnknownNameError``."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise unknown("task family", name, _FAMILIES) from None


def task_names(family: str | None = None) -> list[str]:
    """Sorted names of all registered tasks, or of one family's tasks."""
    specs: Iterable[TaskSpec] = _TASKS.values() if family is None else get_family(family).tasks
    return sorted(spec.name for spec in specs)
