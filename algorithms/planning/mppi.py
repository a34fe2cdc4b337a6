"""TD-MPC2's planner: MPPI over action sequences, with policy-prior trajectories and warm start."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from algorithms.planning.value import rollout_pi, trajectory_value


@dataclass
class MPPIConfig:
    horizon: int = 3
    iterations: int = 6
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 24  # 0: a plain explicit planner without the policy prior
    min_std: float = 0.05
    max_std: float = 2.0
    temperature: float = 0.5


class MPPIPlanner:
    """Batched MPPI: latents [B, Z] -> first actions [B, A], keeping a per-batch warm start.

    Each iteration samples around the current mean with the current std, scores the samples with
    ``trajectory_value``, keeps the elites and refits mean and std with weights
    ``exp(temperature * (V - max V))``. The action is drawn from the final elites in proportion to
    those weights; while training, the elite std is added as exploration noise.
    """

    def __init__(self, cfg: MPPIConfig, action_dim: int, discount: float) -> None:
        self.cfg = cfg
        self.action_dim = action_dim
        self.discount = discount
        self.prev_mean: torch.Tensor | None = None  # [B, H, A] warm start

    def state_dict(self) -> dict:
        return {"prev_mean": self.prev_mean}

    def load_state_dict(self, state: dict) -> None:
        self.prev_mean = state["prev_mean"]

    @torch.no_grad()
    def plan(self, model, z: torch.Tensor, *, first_step: bool, eval_mode: bool) -> torch.Tensor:
        cfg = self.cfg
        B, H, A = z.shape[0], cfg.horizon, self.action_dim
        N, P, E = cfg.num_samples, cfg.num_pi_trajs, cfg.num_elites

        mean = torch.zeros(H, B, A, device=z.device)
        if not first_step and self.prev_mean is not None and self.prev_mean.shape[0] == B:
            mean[:-1] = self.prev_mean.transpose(0, 1)[1:]
        std = torch.full((H, B, A), cfg.max_std, device=z.device)

        actions = torch.empty(H, B, N, A, device=z.device)
        if P > 0:
            actions[:, :, :P] = rollout_pi(model, z.unsqueeze(1).expand(B, P, -1), H)
        z_samples = z.unsqueeze(1).expand(B, N, -1)

        for _ in range(cfg.iterations):
            noise = torch.randn(H, B, N - P, A, device=z.device)
            actions[:, :, P:] = (mean.unsqueeze(2) + std.unsqueeze(2) * noise).clamp(-1, 1)
            value = trajectory_value(model, z_samples, actions, self.discount).squeeze(-1)  # [B, N]
            value = value.nan_to_num(0.0)
            elite_value, elite_idx = value.topk(E, dim=1)  # [B, E]
            elite_actions = actions.gather(2, elite_idx[None, :, :, None].expand(H, B, E, A))
            weights = torch.exp(cfg.temperature * (elite_value - elite_value.max(1, keepdim=True).values))
            weights = weights / weights.sum(1, keepdim=True)  # [B, E]
            w = weights[None, :, :, None]
            mean = (w * elite_actions).sum(2)
            std = ((w * (elite_actions - mean.unsqueeze(2)).pow(2)).sum(2)).sqrt().clamp(cfg.min_std, cfg.max_std)

        # Gumbel-max over the elite weights == sampling an elite in proportion to its weight.
        choice = torch.multinomial(weights, 1).squeeze(1)  # [B]
        action = elite_actions[0, torch.arange(B, device=z.device), choice]  # [B, A]
        if not eval_mode:
            action = action + std[0] * torch.randn_like(action)
        self.prev_mean = mean.transpose(0, 1).contiguous()
        return action.clamp(-1, 1)
