"""MBDPO's implicit energy anchor: a classifier F(z, a) of "data action" vs "policy/random action".

Trained on detached latents with buffer actions as positives and, as the negative, the hardest
(highest F) of {pi(z), pi(z) + noise, uniform}. Its logits are normalised by an EMA of their mean
and std and clipped; the planner's reward becomes ``r + eta * F_norm`` so that search stays where
the model has data (method.md section 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.world_model.layers import init_weights, mlp


def positive_pairs(
    z: torch.Tensor, actions: torch.Tensor, mode: str, task: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Flatten latents [H, B, Z], buffer actions [H, B, A] and task ids [B] (multi-task) into F's
    positive pairs [H*B, .] and their task ids [H*B].

    ``aligned``: row i is latent (t, b) with its own action (t, b) and task b.
    ``reference``: as MBDPO's ``_contrastive_loss`` does, latents time-major (``zs.reshape(-1, Z)``)
    but actions batch-major (``actions.permute(1, 0, 2).reshape(-1, A)``), task ids batch-major
    too (``task.repeat_interleave(H)``): row i pairs latent (i // B, i % B) with action
    (i % H, i // H), so only the rows where both agree are a latent with its own action (2 of 768
    at B=256, H=3)."""
    H = z.shape[0]
    flat_z = z.reshape(-1, z.shape[-1])
    if mode == "aligned":
        return flat_z, actions.reshape(-1, actions.shape[-1]), None if task is None else task.repeat(H)
    if mode == "reference":
        flat_task = None if task is None else task.reshape(-1).repeat_interleave(H)
        return flat_z, actions.permute(1, 0, 2).reshape(-1, actions.shape[-1]), flat_task
    raise ValueError(f"unknown energy.positives {mode!r}; valid: reference, aligned")


class EnergyClassifier(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        action_dim: int,
        mlp_dim: int,
        *,
        momentum: float,
        clip: float,
        neg_noise: float,
        zero_init_last: bool = True,
        positives: str = "reference",
        task_dim: int = 0,
    ) -> None:
        """``task_dim``: size of the task embedding concatenated to the latent (multi-task); the
        latents passed to :meth:`logits` then already carry it (``WorldModel.with_task``)."""
        super().__init__()
        self.net = mlp(latent_dim + task_dim + action_dim, 2 * [mlp_dim], 1)
        self.net.apply(init_weights)
        if zero_init_last:  # MBDPO: init.zero_([..., self._F[-1].weight, ...])
            nn.init.zeros_(self.net[-1].weight)
        self.momentum, self.clip, self.neg_noise = momentum, clip, neg_noise
        self.positives = positives
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def logits(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, a], dim=-1))

    def normalised(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """EMA-normalised, clipped logits [..., 1] (the planner's reward bonus before eta)."""
        return ((self.logits(z, a) - self.mean) / self.std.clamp_min(1e-6)).clamp(-self.clip, self.clip)

    def loss(
        self, z: torch.Tensor, actions: torch.Tensor, pi, task: torch.Tensor | None = None, with_task=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z [H, B, Z] (detached here), buffer actions [H, B, A], task ids [B] (multi-task);
        ``pi(z, task=...).action`` samples the prior and ``with_task(z, task)`` adds the task
        embedding (``WorldModel.with_task``).

        Returns the loss ``0.5 * (BCE(F(z, a_buf), 1) + BCE(F(z, a_neg), 0))`` and all logits used
        (for the EMA statistics). Positives are paired as ``self.positives`` says; negatives are
        drawn for each (flattened) latent, as in MBDPO."""
        z, actions, task = positive_pairs(z.detach(), actions, self.positives, task)
        with_task = with_task or (lambda x, t: x)
        zt = with_task(z, task)
        pos = self.logits(zt, actions)
        with torch.no_grad():
            pi_action = pi(z, task=task).action
            noisy = (pi_action + self.neg_noise * torch.randn_like(pi_action)).clamp(-1, 1)
            uniform = torch.rand_like(pi_action) * 2 - 1
            candidates = torch.stack([pi_action, noisy, uniform])  # [3, ..., A]
            hardest = self.logits(zt.unsqueeze(0).expand(3, *zt.shape), candidates).argmax(0)  # [..., 1]
            negative = candidates.gather(0, hardest.unsqueeze(0).expand(1, *pi_action.shape))[0]
        neg = self.logits(zt, negative)
        loss = 0.5 * (
            F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
            + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        )
        return loss, torch.cat([pos, neg]).detach()

    @torch.no_grad()
    def update_statistics(self, scores: torch.Tensor) -> None:
        m = self.momentum
        self.mean.mul_(m).add_((1 - m) * scores.mean())
        self.std.mul_(m).add_((1 - m) * scores.std(unbiased=False).clamp_min(1e-6))
