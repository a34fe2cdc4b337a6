"""Algorithm registry: names users can sweep, each a class, a typed config and what differs from it.

An entry's configuration is built in one way only (:meth:`AlgorithmEntry.defaults`): the config
dataclass's defaults (the reference implementation's values), then the family's YAML in
``configs/`` (only what that family changes, e.g. MBDPO's planner), then the entry's ``changes``
(only what that variant changes, e.g. ``energy.enabled: false`` for ``mbdpo-noanchor``). Each value
therefore lives in exactly one of those places.

*Capabilities* say what an algorithm has, so that a sweep over several algorithms can skip, with a
message, what makes no sense for some of them (an ``algo.energy.*`` override for TD-MPC2, an
``algo.planner.*`` one for SAC, pixel observations for an agent without a pixel encoder) instead of
failing or silently recording a field that changes nothing. They are derived from the config
(its ``capabilities()`` method), never kept by hand.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from configs import flatten, load_yaml
from configs.errors import unknown

#: capability -> what it means
CAPABILITIES: dict[str, str] = {
    "world_model": "a latent world model (algo.model.*)",
    "search": "a decision-time search (algo.planner.*)",
    "energy_anchor": "MBDPO's implicit energy anchor (algo.energy.*)",
    "score_network": "a learned score network (algo.score.*)",
    "pixels": "learning from pixel observations (obs=rgb)",
    "offline_learning": "learning from batches of a dataset (Algorithm.replay_slice, learn)",
    "pretrained_weights": "starting from another run's weights (Algorithm.load_weights, set_task, freeze)",
}
#: algorithm config section -> the capability without which its fields change nothing. Setting
#: ``<section>.enabled=true`` grants it (e.g. TD-MPC2 with MBDPO's anchor added).
SECTION_NEEDS: dict[str, str] = {
    "model": "world_model",
    "planner": "search",
    "energy": "energy_anchor",
    "score": "score_network",
}
#: single fields that mean something without their section's capability
KEY_NEEDS: dict[str, str] = {"planner.horizon": "world_model"}  # also the model's training horizon


def needs(key: str) -> str | None:
    """The capability an algorithm field (dotted, without ``algo.``) needs to change anything."""
    return KEY_NEEDS.get(key, SECTION_NEEDS.get(key.split(".")[0]))


@dataclass(frozen=True, kw_only=True)
class AlgorithmEntry:
    name: str
    factory: Callable[..., Any]  # Algorithm subclass
    config_cls: type  # dataclass holding every default; it has ``capabilities()`` and ``validate()``
    description: str
    defaults_yaml: str | None = None  # path relative to configs/: what the family changes
    changes: dict[str, Any] = field(default_factory=dict)  # dotted keys -> what this variant changes

    @property
    def base_origin(self) -> str:
        """Where the values no layer changes come from (the dataclass: the reference's values)."""
        return f"{self.config_cls.__name__} defaults ({self.config_cls.__module__})"

    def layers(self) -> list[tuple[str, dict[str, Any]]]:
        """(origin, dotted fields) over the dataclass defaults, in order: the family's YAML, then
        the variant's changes. harness.config merges them (and the preset, the mode and the
        command line above them) and records which layer set each value."""
        out = [(f"configs/{self.defaults_yaml}", flatten(load_yaml(self.defaults_yaml)))] if self.defaults_yaml else []
        if self.changes:
            out.append((f"algorithm {self.name} (algorithms/__init__.py)", dict(self.changes)))
        return out

    def defaults(self) -> DictConfig:
        """The entry's typed config: dataclass defaults <- family YAML <- variant changes (a copy of
        the one built at the first call: each YAML is read once)."""
        return copy.deepcopy(_defaults(self))

    def config(self, overrides: dict[str, Any] | None = None) -> Any:
        """The config object with dotted ``overrides`` (values already parsed) applied."""
        cfg = self.defaults()
        for key, value in (overrides or {}).items():
            OmegaConf.update(cfg, key, value, merge=True, force_add=False)
        return OmegaConf.to_object(cfg)

    @property
    def capabilities(self) -> frozenset[str]:
        return self.config().capabilities()

    @property
    def parts(self) -> tuple[str, ...]:
        """The part names ``Algorithm.freeze`` takes (``finetune.freeze``): the class's PARTS."""
        return tuple(getattr(self.factory, "PARTS", ()))

    def lacks(self, algo_overrides: dict[str, Any]) -> dict[str, str]:
        """The overrides (dotted keys without ``algo.``) this algorithm has no use for -> the
        capability each needs. Switches among the overrides (``energy.enabled=true``,
        ``act_with=planner``...) count: capabilities come from the config with them applied."""
        switches = {
            k: v for k, v in algo_overrides.items() if v is not None and (k.endswith(".enabled") or k == "act_with")
        }
        try:
            granted = self.config(switches).capabilities()
        except Exception:  # a bad switch value is reported by the config check, not here
            granted = self.capabilities
        return {key: needs(key) for key in algo_overrides if needs(key) not in granted | {None}}


_REGISTRY: dict[str, AlgorithmEntry] = {}


#: id(entry) -> (entry, its defaults): an entry's dict field makes it unhashable, and the entry is
#: kept alive beside its config so that its id is never reused
_DEFAULTS: dict[int, tuple[AlgorithmEntry, DictConfig]] = {}


def _defaults(entry: AlgorithmEntry) -> DictConfig:
    if id(entry) in _DEFAULTS:
        return _DEFAULTS[id(entry)][1]
    cfg = OmegaConf.structured(entry.config_cls)
    for _, layer in entry.layers():
        for key, value in layer.items():
            OmegaConf.update(cfg, key, value, merge=True, force_add=False)
    _DEFAULTS[id(entry)] = (entry, cfg)
    return cfg


def register(entry: AlgorithmEntry) -> AlgorithmEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"algorithm {entry.name!r} is already registered")
    bad = set(entry.capabilities) - set(CAPABILITIES)
    if bad:
        raise ValueError(
            f"algorithm {entry.name!r}: unknown capabilities {sorted(bad)}; valid: {', '.join(CAPABILITIES)}"
        )
    _REGISTRY[entry.name] = entry
    return entry


def get_algorithm(name: str) -> AlgorithmEntry:
    if name not in _REGISTRY:
        raise unknown("algorithm", name, _REGISTRY)
    return _REGISTRY[name]


def algorithm_names() -> list[str]:
    return sorted(_REGISTRY)
