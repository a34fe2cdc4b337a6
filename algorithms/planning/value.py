"""The value of action sequences under the latent world model, shared by every planner."""
from __future__ import annotations

from typing import Callable

import torch

from algorithms.planning.noise import NoiseSource

#: Optional reward shaping (z, a) -> bonus [..., 1], e.g. MBDPO's eta * normalised energy.
RewardBonus = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def trajectory_value(
    model,
    z: torch.Tensor,
    actions: torch.Tensor,
    discount: float,
    noise: NoiseSource,
    bonus: RewardBonus | None = None,
) -> torch.Tensor:
    """``sum_t gamma^t (r + bonus)(z_t, a_t) + gamma^H * mean-of-2 Q(z_H, pi(z_H))``.

    z: [B, N, latent] start latents; actions: [H, B, N, A] -> values [B, N].
    """
    B, N = z.shape[:2]
    value = torch.zeros(B, N, 1, device=z.device, dtype=z.dtype)
    weight = 1.0
    for a in actions:
        r = model.reward(z, a)
        if bonus is not None:
            r = r + bonus(z, a)
        value = value + weight * r
        z = model.next(z, a)
        weight *= discount
    pi_action = model.pi(z, eps=noise.randn(N, actions.shape[-1])).action
    return (value + weight * model.q_pairs(z, pi_action, noise.pairs(model.num_q))).squeeze(-1)


def rollout_pi(model, z: torch.Tensor, horizon: int, noise: NoiseSource) -> torch.Tensor:
    """Action sequences drawn from the policy prior through the model: z [B, P, latent] -> [H, B, P, A]."""
    actions = []
    for t in range(horizon):
        a = model.pi(z, eps=noise.randn(z.shape[1], model.action_dim)).action
        actions.append(a)
        if t < horizon - 1:
            z = model.next(z, a)
    return torch.stack(actions)
