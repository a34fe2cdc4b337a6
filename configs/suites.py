"""Suites (named task lists) and score normalisation, read from ``configs/suites.yaml``."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from configs import load_yaml


class UnknownNameError(ValueError):
    """A name (task, suite, algorithm, config key) that is not registered; the message is one line."""


def unknown(kind: str, name: object, valid) -> UnknownNameError:
    valid = sorted(valid)
    return UnknownNameError(f"unknown {kind} {name!r}; valid: {', '.join(map(str, valid))}")


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


def task_family(task: str) -> str:
    """``mw-<task>`` is Meta-World, anything else DMControl."""
    return "metaworld" if task.startswith("mw-") else "dmc"


@lru_cache(maxsize=None)
def _data() -> dict:
    return load_yaml("suites.yaml")


def normalisation(task: str) -> Normalisation:
    spec = _data()["normalisation"][task_family(task)]
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
    )


def suites_of_task(task: str) -> list[str]:
    return [s for s in suite_names() if task in get_suite(s).tasks]
