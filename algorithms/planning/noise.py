"""Where a planner's random numbers come from, for a batch of B planning problems.

By default the whole batch draws from torch's global generator in one call (fast). Given one
``torch.Generator`` per batch element, every element draws its own numbers in the order a single
call would, so a batch of N plans equals N single-element plans with the same seeds: the property
that lets batched evaluation reproduce single-environment runs.
"""

from __future__ import annotations

import torch


class NoiseSource:
    def __init__(self, batch: int, device: torch.device, generators: list[torch.Generator] | None = None) -> None:
        if generators is not None and len(generators) != batch:
            raise ValueError(f"need one generator per batch element: got {len(generators)} for a batch of {batch}")
        self.batch = batch
        self.device = device
        self.generators = generators

    @property
    def per_element(self) -> bool:
        return self.generators is not None

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal draws of shape [B, *shape]."""
        if self.generators is None:
            return torch.randn(self.batch, *shape, device=self.device)
        return torch.stack([torch.randn(*shape, generator=g, device=g.device).to(self.device) for g in self.generators])

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) draws of shape [B, *shape]."""
        if self.generators is None:
            return torch.rand(self.batch, *shape, device=self.device)
        return torch.stack([torch.rand(*shape, generator=g, device=g.device).to(self.device) for g in self.generators])

    def pairs(self, members: int) -> torch.Tensor:
        """Two distinct ensemble members per batch element -> [B, 2]; drawing from the global
        generator, one pair for the whole batch -> [1, 2] (so only two heads need to run)."""
        if self.generators is None:
            return torch.randperm(members, device=self.device)[:2].unsqueeze(0)
        return torch.stack(
            [torch.randperm(members, generator=g, device=g.device)[:2].to(self.device) for g in self.generators]
        )

    def categorical(self, probs: torch.Tensor) -> torch.Tensor:
        """One index per row of ``probs`` [B, K] (Gumbel-max == sampling in proportion to probs)."""
        u = self.rand(probs.shape[-1]).clamp_min(1e-20)
        return (probs.clamp_min(1e-30).log() - (-u.log()).log()).argmax(-1)
