"""The value of action sequences under the latent world model, shared by every planner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from algorithms.planning.noise import NoiseSource

#: Optional reward shaping (z, a, task) -> bonus [..., 1], e.g. MBDPO's eta * normalised energy.
RewardBonus = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class PlanningTask:
    """What a plan over a batch of B latents needs to know of their tasks: ids shaped [B, 1] (to
    broadcast against [B, N, .] samples), the action mask [B, 1, A] and the discount ([B, 1, 1],
    each task's own). All None / the scalar discount for a single-task model."""

    task: torch.Tensor | None
    mask: torch.Tensor | None
    discount: "float | torch.Tensor"

    @staticmethod
    def of(model, task: torch.Tensor | None, discount: "float | torch.Tensor") -> "PlanningTask":
        if task is None or not getattr(model, "multitask", False):
            return PlanningTask(None, None, discount)
        task = task.reshape(-1, 1)
        mask = model.action_mask(task)  # [B, 1, A]
        per_task = discount[task].unsqueeze(-1) if torch.is_tensor(discount) else discount
        return PlanningTask(task, mask, per_task)


def trajectory_value(
    model,
    z: torch.Tensor,
    actions: torch.Tensor,
    discount: "float | torch.Tensor",
    noise: NoiseSource,
    bonus: RewardBonus | None = None,
    task: torch.Tensor | None = None,
) -> torch.Tensor:
    """``sum_t gamma^t (r + bonus)(z_t, a_t) + gamma^H * mean-of-2 Q(z_H, pi(z_H))``.

    z: [B, N, latent] start latents; actions: [H, B, N, A] -> values [B, N]. Multi-task: ``task``
    [B, 1] and ``discount`` [B, 1, 1] (each task's own).
    """
    B, N = z.shape[:2]
    value = torch.zeros(B, N, 1, device=z.device, dtype=z.dtype)
    weight = 1.0
    for a in actions:
        r = model.reward(z, a, task)
        if bonus is not None:
            r = r + bonus(z, a, task)
        value = value + weight * r
        z = model.next(z, a, task)
        weight = weight * discount
    pi_action = model.pi(z, eps=noise.randn(N, actions.shape[-1]), task=task).action
    return (value + weight * model.q_pairs(z, pi_action, noise.pairs(model.num_q), task)).squeeze(-1)


def rollout_pi(
    model, z: torch.Tensor, horizon: int, noise: NoiseSource, task: torch.Tensor | None = None
) -> torch.Tensor:
    """Action sequences drawn from the policy prior through the model: z [B, P, latent] -> [H, B, P, A]."""
    actions = []
    for t in range(horizon):
        a = model.pi(z, eps=noise.randn(z.shape[1], model.action_dim), task=task).action
        actions.append(a)
        if t < horizon - 1:
            z = model.next(z, a, task)
    return torch.stack(actions)
