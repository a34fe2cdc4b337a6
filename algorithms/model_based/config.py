"""Typed configuration of the world-model agents (TD-MPC2, the MBDPO family, MPPI/CEM planners).

Defaults are the reference implementations'; each registered name's YAML in configs/algos/
sets its planner and anchor, and the command line overrides any field (``algo.energy.eta=0.02``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from algorithms.planning.config import PlannerConfig
from algorithms.world_model.config import ModelConfig

ACT_WITH = ("planner", "pi")
SCORE_USES = ("none", "planner")


@dataclass
class EnergyConfig:
    """MBDPO's implicit energy anchor (method.md section 4). Disabled: eta = 0 and F not trained."""

    enabled: bool = False
    eta: float = 0.01  # planner reward r + eta * F_norm
    coef: float = 1.0  # loss weight
    neg_noise: float = 0.5  # std of the noise on pi(z) for the noisy negative
    clip: float = 5.0
    momentum: float = 0.99


@dataclass
class ScoreConfig:
    """MBDPO's learned score network (method.md section 5)."""

    enabled: bool = False  # train s(z, x_tau, tau) on Monte-Carlo score targets
    use: str = "none"  # none | planner: replace the model-based score, no search (amortised policy)
    coef: float = 1.0
    embed_dim: int = 64
    mc_samples: int = 64  # samples behind one Monte-Carlo score target
    num_latents: int = 1  # latents per update that get a target (the reference uses 1)


@dataclass
class WorldModelAgentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    act_with: str = "planner"  # planner | pi (the policy prior alone)
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
        if self.act_with not in ACT_WITH:
            raise ValueError(f"unknown act_with {self.act_with!r}; valid: {', '.join(ACT_WITH)}")
        if self.score.use not in SCORE_USES:
            raise ValueError(f"unknown score.use {self.score.use!r}; valid: {', '.join(SCORE_USES)}")
        if self.score.use != "none" and not self.score.enabled:
            raise ValueError("score.use=planner needs score.enabled=true (an untrained score network)")
        if self.score.use != "none" and self.planner.kind != "diffusion":
            raise ValueError(f"score.use=planner needs planner.kind=diffusion, not {self.planner.kind!r}")
        self.model.resolved()
        self.planner.validate()
