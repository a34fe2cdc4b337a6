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
    min_std: float = 0.05
    max_std: float = 2.0
    # diffusion (MBDPO): reverse diffusion over the action sequence, linear beta schedule
    diffusion_steps: int = 20  # T; the planner runs T-1 denoising iterations
    beta_start: float = 1e-4
    beta_end: float = 1e-2
    action_noise: float = 0.05  # Gaussian noise on the executed action while training

    def validate(self) -> None:
        if self.kind not in PLANNER_KINDS:
            raise ValueError(f"unknown planner.kind {self.kind!r}; valid: {', '.join(PLANNER_KINDS)}")
        if not 0 <= self.num_pi_trajs < self.num_samples:
            raise ValueError(f"planner.num_pi_trajs={self.num_pi_trajs} must be in 0..num_samples-1")
        random_samples = self.num_samples - (self.num_pi_trajs if self.kind != "diffusion" else 0)
        if not 0 < self.num_elites <= self.num_samples:
            raise ValueError(f"planner.num_elites={self.num_elites} must be in 1..num_samples ({self.num_samples})")
        if self.kind != "diffusion" and self.num_elites > self.num_samples:
            raise ValueError(f"planner.num_elites={self.num_elites} exceeds the {random_samples} samples")
        if self.horizon < 1 or self.iterations < 1 or self.diffusion_steps < 2:
            raise ValueError("planner.horizon and planner.iterations must be >= 1, planner.diffusion_steps >= 2")
