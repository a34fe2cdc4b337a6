"""Typed configuration of TD-MPC2 (defaults from the reference; YAML in configs/algos/tdmpc2.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from algorithms.planning.mppi import MPPIConfig
from algorithms.world_model.config import ModelConfig

@dataclass
class TDMPC2Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    planner: MPPIConfig = field(default_factory=MPPIConfig)
    act_with: str = "planner"  # "planner" (MPPI with pi trajectories) or "pi" (the policy prior alone)
    # optimisation
    batch_size: int = 256
    lr: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip_norm: float = 20.0
    rho: float = 0.5
    consistency_coef: float = 20.0
    reward_coef: float = 0.1
    value_coef: float = 0.1
    entropy_coef: float = 1e-4
    tau: float = 0.01
    # discount heuristic: gamma = clip((L/denom - 1)/(L/denom), min, max), L = episode length
    discount_denom: float = 5.0
    discount_min: float = 0.95
    discount_max: float = 0.995
    # online loop; None: the reference's rule (seed steps max(1000, 5 episodes); buffer = all steps)
    seed_steps: Optional[int] = None
    buffer_size: Optional[int] = None

    def validate(self) -> None:
        if self.act_with not in ("planner", "pi"):
            raise ValueError(f"unknown act_with {self.act_with!r}; valid: pi, planner")
        self.model.resolved()
        p = self.planner
        if not 0 < p.num_elites <= p.num_samples - p.num_pi_trajs:
            raise ValueError(
                f"planner.num_elites={p.num_elites} must be in 1..num_samples-num_pi_trajs "
                f"({p.num_samples - p.num_pi_trajs})"
            )
