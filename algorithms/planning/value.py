"""The value of an action sequence under the latent world model, shared by every planner."""
from __future__ import annotations

import torch


def trajectory_value(model, z: torch.Tensor, actions: torch.Tensor, discount: float) -> torch.Tensor:
    """``sum_t gamma^t r(z_t, a_t) + gamma^H * mean-of-2 Q(z_H, pi(z_H))``.

    z: [..., latent] start latents; actions: [H, ..., action_dim] -> values [..., 1].
    """
    value = torch.zeros(*z.shape[:-1], 1, device=z.device, dtype=z.dtype)
    weight = 1.0
    for a in actions:
        value = value + weight * model.reward(z, a)
        z = model.next(z, a)
        weight *= discount
    _, pi_action, _ = model.pi(z)
    return value + weight * model.q(z, pi_action, "avg")


def rollout_pi(model, z: torch.Tensor, horizon: int) -> torch.Tensor:
    """Action sequences drawn from the policy prior through the model: z [..., latent] -> [H, ..., A]."""
    actions = []
    for t in range(horizon):
        _, a, _ = model.pi(z)
        actions.append(a)
        if t < horizon - 1:
            z = model.next(z, a)
    return torch.stack(actions)
