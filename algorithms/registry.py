"""Algorithm registry: names users can sweep, each a class, a typed config and its YAML defaults.

A *variant* (e.g. ``tdmpc2-pi``) is a registered name that reuses another entry's class with some
config fields preset, so the sweep treats it like any other algorithm.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from configs.suites import unknown


@dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    factory: Callable[..., Any]  # Algorithm subclass
    config_cls: type  # dataclass; its defaults are overridden by `defaults_yaml`, then by `preset`
    defaults_yaml: str | None  # path relative to configs/, e.g. "algos/tdmpc2.yaml"
    description: str
    preset: dict[str, Any] = field(default_factory=dict)  # dotted keys -> values


_REGISTRY: dict[str, AlgorithmEntry] = {}


def register(entry: AlgorithmEntry) -> AlgorithmEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"algorithm {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def get_algorithm(name: str) -> AlgorithmEntry:
    if name not in _REGISTRY:
        raise unknown("algorithm", name, _REGISTRY)
    return _REGISTRY[name]


def algorithm_names() -> list[str]:
    return sorted(_REGISTRY)
