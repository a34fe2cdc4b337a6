"""MBDPO's learned score network s(z, x_tau, tau), regressed on Monte-Carlo score targets."""

from __future__ import annotations

import math

import torch
from torch import nn

from algorithms.world_model.layers import init_weights, mlp


def sinusoidal_embedding(tau: torch.Tensor, dim: int) -> torch.Tensor:
    """tau [B] (integers) -> [B, dim] sin/cos features at geometrically spaced frequencies."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10_000.0) * torch.arange(half, device=tau.device, dtype=torch.float32) / max(half - 1, 1)
    )
    angles = tau.float().unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ScoreNetwork(nn.Module):
    def __init__(
        self, latent_dim: int, horizon: int, action_dim: int, mlp_dim: int, embed_dim: int, task_dim: int = 0
    ) -> None:
        """``task_dim``: the task embedding concatenated to the latent in multi-task mode (MBDPO's
        ``score``: ``[z, e, x_tau, t_emb]``); latents passed to forward then already carry it."""
        super().__init__()
        self.horizon, self.action_dim, self.embed_dim = horizon, action_dim, embed_dim
        self.net = mlp(latent_dim + task_dim + horizon * action_dim + embed_dim, 2 * [mlp_dim], horizon * action_dim)
        self.net.apply(init_weights)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))  # travels with checkpoints

    @property
    def trained(self) -> bool:
        return int(self.updates) > 0

    def forward(self, z: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """z [B, Z], x [B, H, A], tau [B] -> score [B, H, A]."""
        h = torch.cat([z, x.flatten(1), sinusoidal_embedding(tau, self.embed_dim)], dim=-1)
        return self.net(h).view(-1, self.horizon, self.action_dim)
