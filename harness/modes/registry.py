"""The training-mode registry: a mode is one file in this package and one :func:`register_mode` call,
as algorithms (algorithms/registry.py) and environment families (envs/) are.

A mode declares everything that differs between modes: the run fields only it reads, the algorithm
capability it needs, its checks (:meth:`Mode.check`, run once by harness.resolve), its trainer, the
tasks a run covers, its run directory's variant component, how a sweep expands it and how
harness.evaluate reads its runs. How the report reads its runs is part of the results format
(``configs/results.py`` ``RUN_MODES``, which the analysis reads without importing the harness); each
mode must name one of those. Nothing outside this package compares mode names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import algorithms
from algorithms.registry import CAPABILITIES
from configs.results import MULTITASK_DIR, RUN_MODES, RunMode
from harness.config import ConfigError, RunConfig

if TYPE_CHECKING:
    from algorithms.base import EnvSpec
    from harness.training.pretrained import Pretrained
    from harness.training.trainer import Trainer


class Mode:
    """One training mode. Subclasses set the class attributes and override what differs."""

    #: ``mode=<name>``; also ``run.mode`` in config.yaml and a key of configs/results.py RUN_MODES
    name: str = ""
    description: str = ""
    #: the algorithm capability (algorithms/registry.py CAPABILITIES) the mode needs, None: any algorithm
    needs: str | None = None
    #: RunConfig fields (dotted) only this mode reads: another mode refuses them set away from their default
    reads: tuple[str, ...] = ()
    #: what a run's ``steps`` count
    steps_are: str = "environment steps"
    #: the observation kinds (``obs=``) a run of this mode can learn from
    obs_kinds: tuple[str, ...] = ("state",)

    @property
    def trainer(self) -> type[Trainer]:
        raise NotImplementedError

    @property
    def results(self) -> RunMode:
        """How the report reads this mode's runs (configs/results.py)."""
        return RUN_MODES[self.name]

    def refuses(self, algo: str) -> str | None:
        """Why ``algo`` cannot run in this mode (one line), or None: the capability it lacks."""
        if self.needs is None or self.needs in algorithms.get_algorithm(algo).capabilities:
            return None
        able = [n for n in algorithms.algorithm_names() if self.needs in algorithms.get_algorithm(n).capabilities]
        return (
            f"mode={self.name} needs {CAPABILITIES[self.needs]}; {algo} lacks it; algorithms that have it: "
            f"{', '.join(able)}"
        )

    def check(self, run: RunConfig, given: set[str], requested: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Check the run's mode fields (ConfigError, one line); may complete them in ``run`` (an
        absolute dataset path, the source task of a fine-tune). ``given``: the run keys on the
        command line; ``requested``: the algorithm fields the preset and the command line set.
        Returns the algorithm fields this mode sets where those leave them out, and why (the
        origin ``--show-config`` prints)."""
        return {}, ""

    def tasks(self, run: RunConfig) -> list[str]:
        """The tasks a run trains and evaluates on."""
        return [run.task]

    def variant_dir(self, run: RunConfig, variant: str) -> str:
        """The variant component of the run directory (docs/results-format.md)."""
        return variant

    def sweep_tasks(self, tasks: list[str] | None, suite: str | None) -> list[str | None] | None:
        """The task axis of a sweep (None in the list: the run sets no ``task``), or None for the
        usual one (``task=[...]``, else every task of ``suite``). ``tasks``: the command line's."""
        return None

    # --- harness.evaluate ---------------------------------------------------------------------------
    def task_dir(self, run: dict[str, Any]) -> str:
        """The task component of a run's directory, from its config.yaml ``run:``."""
        return MULTITASK_DIR if self.results.multitask else str(run["task"])

    def known_tasks(self, pre: Pretrained) -> tuple[str, ...]:
        """The tasks a run's model can be evaluated on."""
        return pre.tasks

    def model_spec(self, run: dict[str, Any]) -> EnvSpec | None:
        """The spec a checkpoint that records none was built for (None: cannot tell)."""
        return None


_MODES: dict[str, Mode] = {}


def register_mode(mode: Mode) -> Mode:
    if mode.name in _MODES:
        raise ValueError(f"mode {mode.name!r} is already registered")
    if mode.name not in RUN_MODES:
        raise ValueError(
            f"mode {mode.name!r} has no entry in configs/results.py RUN_MODES (how the report reads its runs); "
            f"there: {', '.join(RUN_MODES)}"
        )
    bad = [f for f in mode.reads if f.split(".")[0] not in RunConfig.__dataclass_fields__]
    if bad:
        raise ValueError(f"mode {mode.name!r} reads {bad[0]!r}, which is not a RunConfig field")
    _MODES[mode.name] = mode
    return mode


def get_mode(name: str) -> Mode:
    if name not in _MODES:
        raise ConfigError(f"bad value {name!r} for mode; valid: {', '.join(mode_names())}")
    return _MODES[name]


def mode_names() -> list[str]:
    """The registered modes, in configs/results.py's order (the default first)."""
    return [name for name in RUN_MODES if name in _MODES]


def all_modes() -> list[Mode]:
    return [_MODES[name] for name in mode_names()]
