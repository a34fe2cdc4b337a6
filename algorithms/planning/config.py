"""One typed config for every planner; ``kind`` picks the search, the other fields tune it.

Fields that a kind does not use are ignored by it (documented per field), so that a sweep can
override e.g. ``algo.planner.num_samples`` whatever the planner is.
"""

from __future__ import annotations

from dataclasses import dataclass

PLANNER_KINDS = ("mppi", "cem", "diffusion")


@dataclass
class PlannerConfig:
    kind: str = "mppi"  # mppi | cem | diffusion
    horizon: int = 3
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 24  # trajectories from the policy prior among the samples; 0: none
    temperature: float = 0.5
    # mppi / cem: iterations of refitting a Gaussian with an adaptive, clamped std
    iterations: int = 6
    # TD-MPC2 adds 2 iterations when action_dim >= 20 (dog, humanoid): tdmpc2.py, __init__. MBDPO's
    # diffusion planner has no such rule, so it applies to mppi and cem only.
    large_action_dim: int = 20
    large_action_extra_iterations: int = 2
    min_std: float = 0.05
    max_std: float = 2.0
    # diffusion (MBDPO): reverse diffusion over the action sequence, linear beta schedule
    diffusion_steps: int = 20  # T; the planner runs T-1 denoising iterations
    beta_start: float = 1e-4
    beta_end: float = 1e-2
    action_noise: float = 0.05  # Gaussian noise on the executed action while training

    def iterations_for(self, action_dim: int) -> int:
        """MPPI/CEM iterations for this action size (TD-MPC2's large-action-space heuristic)."""
        return self.iterations + self.large_action_extra_iterations * int(action_dim >= self.large_action_dim)

    def validate(self) -> None:
        if self.kind not in PLANNER_KINDS:
            raise ValueError(f"unknown planner.kind {self.kind!r}; valid: {', '.join(PLANNER_KINDS)}")
        for key in ("horizon", "num_samples", "iterations"):
            if getattr(self, key) < 1:
                raise ValueError(f"planner.{key}={getattr(self, key)} must be >= 1")
        if self.diffusion_steps < 2:
            raise ValueError(f"planner.diffusion_steps={self.diffusion_steps} must be >= 2")
        if not 0 <= self.num_pi_trajs < self.num_samples:
            raise ValueError(
                f"planner.num_pi_trajs={self.num_pi_trajs} must be in 0..num_samples-1 ({self.num_samples - 1})"
            )
        if not 0 < self.num_elites <= self.num_samples:
            raise ValueError(f"planner.num_elites={self.num_elites} must be in 1..num_samples ({self.num_samples})")
        for key in ("temperature", "min_std", "max_std", "beta_start", "beta_end"):
            if not getattr(self, key) > 0:
                raise ValueError(f"planner.{key}={getattr(self, key)} must be > 0")
        if self.min_std > self.max_std:
            raise ValueError(f"planner.min_std={self.min_std} must not exceed planner.max_std={self.max_std}")
        if not self.beta_start <= self.beta_end < 1:
            raise ValueError(
                f"planner.beta_start={self.beta_start} <= planner.beta_end={self.beta_end} < 1 is required"
            )
        for key in ("action_noise", "large_action_extra_iterations"):
            if getattr(self, key) < 0:
                raise ValueError(f"planner.{key}={getattr(self, key)} must be >= 0")
