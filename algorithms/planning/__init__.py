"""Planners over the shared latent world model (a batch of latents in, a batch of actions out)."""

from __future__ import annotations

from algorithms.planning.config import PLANNER_KINDS, PlannerConfig
from algorithms.planning.diffusion import DiffusionPlanner
from algorithms.planning.mppi import CEMPlanner, MPPIPlanner
from algorithms.planning.noise import NoiseSource

_PLANNERS = {"mppi": MPPIPlanner, "cem": CEMPlanner, "diffusion": DiffusionPlanner}


def make_planner(cfg: PlannerConfig, action_dim: int, discount: float, compiled: bool = False):
    """``compiled``: the search runs under torch.compile (algorithms/planning/compiled.py). ``cfg``
    is validated where it is built (PlannerConfig.validate, called by the agent config's)."""
    return _PLANNERS[cfg.kind](cfg, action_dim, discount, compiled=compiled)


__all__ = [
    "PLANNER_KINDS",
    "PlannerConfig",
    "NoiseSource",
    "make_planner",
    "MPPIPlanner",
    "CEMPlanner",
    "DiffusionPlanner",
]
