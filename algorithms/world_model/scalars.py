"""Scalar helpers of TD-MPC2: two-hot symlog regression and the running value scale."""

from __future__ import annotations

import torch
from torch import nn
from torchrl.modules import symexp, symlog
from torchrl.objectives import two_hot_cross_entropy, two_hot_decode


class SymlogTwoHot(nn.Module):
    """Rewards and values as a distribution over ``num_bins`` uniform bins in symlog space.

    TorchRL's two-hot helpers interpolate on whatever support they are given, so the symlog
    transform is applied around them: encode ``symlog(x)``, decode with ``symexp``.
    """

    def __init__(self, num_bins: int, vmin: float, vmax: float) -> None:
        super().__init__()
        self.register_buffer("bins", torch.linspace(vmin, vmax, num_bins))

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [..., num_bins] -> scalar [..., 1]."""
        return symexp(two_hot_decode(logits, self.bins)).unsqueeze(-1)

    def cross_entropy(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Soft cross-entropy of logits [..., num_bins] against scalar targets [..., 1] -> [...]."""
        return two_hot_cross_entropy(logits, symlog(target.squeeze(-1)), self.bins)


class RunningScale(nn.Module):
    """Running estimate of the 5-95 percentile range of Q, used to normalise the policy objective."""

    def __init__(self, tau: float) -> None:
        super().__init__()
        self.tau = tau
        self.register_buffer("value", torch.ones(()))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        q = torch.quantile(x.detach().float().flatten(), torch.tensor([0.05, 0.95], device=x.device))
        self.value.lerp_((q[1] - q[0]).clamp(min=1.0), self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.value
