"""Suites (named task lists), task families and score normalisation, read from ``configs/suites.yaml``.

A task's family (and so its normalisation) is declared there: each family names the suite that
lists all of its tasks. A task in no family's suite has no family, and asking for it is an
:class:`~configs.errors.UnknownNameError`, never another family's normalisation.

A family may be *published-only* (ManiSkill2): its tasks are in suites, so that reports can show
the published curves, but no env of theirs is registered and a run of one stops at once with the
family's reason (:func:`published_only_reason`). A suite may say which observations its tasks are
learnt from (``obs: rgb``: the visual suites; default ``state``): runs and reports of the suite use
only those. A suite may name *groups* (other suites whose tasks it holds, e.g. ``paper-104``'s
DMControl, Meta-World, ...), which reports aggregate one by one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from configs import load_yaml
from configs.errors import UnknownNameError, unknown


@dataclass(frozen=True)
class Normalisation:
    """How a task family turns an episode into a 0-100 score."""

    metric: str  # "return" or "success"
    scale: float

    def score(self, episode_return: float, success: float | None) -> float:
        if self.metric == "return":
            return float(episode_return) * self.scale
        if success is None or (isinstance(success, float) and math.isnan(success)):
            return float("nan")
        return float(success) * self.scale


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    description: str
    tasks: tuple[str, ...]
    #: how reports name the suite when it is a group of another (e.g. "Meta-World"); else its name
    title: str = ""
    #: suites whose tasks this one holds, aggregated one by one in reports (paper-104's groups)
    groups: tuple[str, ...] = ()
    #: multi-task model size -> task embedding size, where the suite's published models differ from
    #: the model's default (TD-MPC2's parser: mt30 uses 64 at sizes 5, 19 and 48)
    task_dim_by_size: dict[int, int] = field(default_factory=dict, hash=False, compare=False)
    #: multi-task model size -> latent size, where the suite's published models differ from the size
    #: preset (TD-MPC2's parser: mt30 at size 19 has latent_dim 512)
    latent_dim_by_size: dict[int, int] = field(default_factory=dict, hash=False, compare=False)
    #: the observations its tasks are learnt from (``state`` or ``rgb``: the visual suites); a run of
    #: the suite takes this ``obs`` unless given, and a sweep or run giving another is refused
    obs: str = "state"


@lru_cache(maxsize=None)
def _data() -> dict:
    return load_yaml("suites.yaml")


def family_names() -> list[str]:
    return sorted(_data()["families"])


def family_suite(family: str) -> str:
    """The suite that lists every task of ``family`` (its full suite)."""
    families = _data()["families"]
    if family not in families:
        raise unknown("task family", family, families)
    return families[family]["suite"]


@lru_cache(maxsize=None)
def _families_by_task() -> dict[str, str]:
    out: dict[str, str] = {}
    for family in family_names():
        for task in get_suite(family_suite(family)).tasks:
            out.setdefault(task, family)
    return out


def task_family(task: str) -> str:
    """The family of ``task``: the family whose suite lists it (configs/suites.yaml)."""
    family = _families_by_task().get(task)
    if family is None:
        declared = ", ".join(f"{f} (suite {family_suite(f)})" for f in family_names())
        raise UnknownNameError(
            f"task {task!r} is in no task family's suite in configs/suites.yaml; families: {declared}"
        )
    return family


def published_only_reason(task: str) -> str | None:
    """Why ``task`` cannot be run here, if its family is published-only (configs/suites.yaml); else None.

    A task in no family is not published-only (None): it is unknown, which the env registry says."""
    family = _families_by_task().get(task)
    if family is None:
        return None
    return _data()["families"][family].get("published_only")


def published_task_name(name: str) -> str:
    """Our task name for a published results file named ``name`` (``myo-hand-reach`` -> ``myo-reach``);
    names without an entry in ``published_names`` are ours already."""
    return (_data().get("published_names") or {}).get(name, name)


def normalisation(task: str) -> Normalisation:
    spec = _data()["families"][task_family(task)]["normalisation"]
    return Normalisation(metric=spec["metric"], scale=float(spec["scale"]))


def normalised_score(task: str, episode_return: float, success: float | None = None) -> float:
    """The 0-100 score of one episode of ``task`` (defined once, here)."""
    return normalisation(task).score(episode_return, success)


def suite_names() -> list[str]:
    return sorted(_data()["suites"])


def get_suite(name: str) -> Suite:
    suites = _data()["suites"]
    if name not in suites:
        raise unknown("suite", name, suites)
    spec = suites[name]
    return Suite(
        name=name,
        version=int(spec.get("version", 1)),
        description=spec.get("description", ""),
        tasks=tuple(spec["tasks"]),
        title=spec.get("title", name),
        groups=tuple(spec.get("groups") or ()),
        task_dim_by_size={int(k): int(v) for k, v in (spec.get("task_dim_by_size") or {}).items()},
        latent_dim_by_size={int(k): int(v) for k, v in (spec.get("latent_dim_by_size") or {}).items()},
        obs=str(spec.get("obs", "state")),
    )


def suites_of_task(task: str) -> list[str]:
    return [s for s in suite_names() if task in get_suite(s).tasks]
