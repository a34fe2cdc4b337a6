"""Algorithm registry: names users can sweep, each a class, a typed config and its YAML defaults.

A *variant* (e.g. ``tdmpc2-pi``) is a registered name that reuses another entry's class with some
config fields preset, so the sweep treats it like any other algorithm.

*Capabilities* say what an algorithm has, so that a sweep over several algorithms can skip, with a
message, what makes no sense for some of them (an ``algo.energy.*`` override for TD-MPC2, an
``algo.planner.*`` one for SAC, pixel observations for an agent without a pixel encoder) instead of
failing or silently recording a field that changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from configs.errors import unknown


#: capability -> what it means
CAPABILITIES: dict[str, str] = {
    "world_model": "a latent world model (algo.model.*)",
    "search": "a decision-time search (algo.planner.*)",
    "energy_anchor": "MBDPO's implicit energy anchor (algo.energy.*)",
    "score_network": "a learned score network (algo.score.*)",
    "pixels": "learning from pixel observations (obs=rgb)",
}
#: algorithm config section -> the capability without which its fields change nothing. Setting
#: ``<section>.enabled=true`` grants it (e.g. TD-MPC2 with MBDPO's anchor added).
SECTION_NEEDS: dict[str, str] = {"model": "world_model", "planner": "search", "energy": "energy_anchor",
                                 "score": "score_network"}
#: single fields that mean something without their section's capability
KEY_NEEDS: dict[str, str] = {"planner.horizon": "world_model"}  # also the model's training horizon


def needs(key: str) -> str | None:
    """The capability an algorithm field (dotted, without ``algo.``) needs to change anything."""
    return KEY_NEEDS.get(key, SECTION_NEEDS.get(key.split(".")[0]))


@dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    factory: Callable[..., Any]  # Algorithm subclass
    config_cls: type  # dataclass; its defaults are overridden by `defaults_yaml`, then by `preset`
    defaults_yaml: str | None  # path relative to configs/, e.g. "algos/tdmpc2.yaml"
    description: str
    preset: dict[str, Any] = field(default_factory=dict)  # dotted keys -> values
    capabilities: frozenset[str] = frozenset()  # names from CAPABILITIES

    def lacks(self, algo_overrides: dict[str, Any]) -> dict[str, str]:
        """The overrides (dotted keys without ``algo.``) this algorithm has no use for -> the
        capability each needs."""
        granted = set(self.capabilities)
        granted |= {need for sec, need in SECTION_NEEDS.items() if algo_overrides.get(f"{sec}.enabled") is True}
        return {key: needs(key) for key in algo_overrides if needs(key) not in granted | {None}}


_REGISTRY: dict[str, AlgorithmEntry] = {}


def register(entry: AlgorithmEntry) -> AlgorithmEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"algorithm {entry.name!r} is already registered")
    bad = set(entry.capabilities) - set(CAPABILITIES)
    if bad:
        raise ValueError(f"algorithm {entry.name!r}: unknown capabilities {sorted(bad)}; valid: {', '.join(CAPABILITIES)}")
    _REGISTRY[entry.name] = entry
    return entry


def get_algorithm(name: str) -> AlgorithmEntry:
    if name not in _REGISTRY:
        raise unknown("algorithm", name, _REGISTRY)
    return _REGISTRY[name]


def algorithm_names() -> list[str]:
    return sorted(_REGISTRY)
