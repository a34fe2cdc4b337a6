"""Where the world model's own random draws come from: the policy prior's Gaussian noise and the
pair of Q heads that ``min``/``mean`` of two takes.

By default both come from torch's global generator, exactly as before this hook existed. A model's
``draws`` attribute may be replaced (e.g. by tests/parity.py's replay of the numbers a reference
code drew), so that one update or value can be computed with given draws; nothing else changes.
"""

from __future__ import annotations

import torch


class ModelDraws:
    """The default: torch's global generator (``randn_like``, ``randperm``)."""

    def normal_like(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped like ``x`` (the policy prior's eps)."""
        return torch.randn_like(x)

    def head_pair(self, members: int, device: torch.device) -> torch.Tensor:
        """Two distinct ensemble members [2], in random order."""
        return torch.randperm(members, device=device)[:2]
