"""Typed configuration of model-free SAC (Haarnoja et al. 2018, "SAC v2": no state-value network,
twin Q with clipped double-Q targets, learned temperature).

Defaults are SAC's usual ones for DMControl state tasks (as in the paper and TorchRL's SAC example):
256x256 ReLU MLPs for the actor and each critic, Adam at 3e-4 for actor, critics and temperature,
batch 256, Polyak tau 0.005, target entropy -|A|, alpha initialised at 1, one gradient step per
environment step. Two choices follow TD-MPC2 so that the comparison with the world-model agents is
like for like: the discount is TD-MPC2's episode-length heuristic (set ``discount`` to fix it, e.g.
0.99), and the random seed steps / buffer size follow the same rules (``max(1000, 5 episodes)``;
``min(buffer_size, steps)`` transitions with buffer_size 1M); see algorithms/conventions.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from algorithms.conventions import DEFAULT_BUFFER_SIZE

ACTIVATIONS = ("relu", "elu", "tanh", "silu")
LOSS_FUNCTIONS = ("l2", "smooth_l1", "l1")


@dataclass
class SACConfig:
    # networks: the actor and each of the ``num_qvalue_nets`` critics are MLPs of these widths
    hidden_dims: List[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"  # relu | elu | tanh | silu
    num_qvalue_nets: int = 2  # clipped double-Q: the target takes the min over the ensemble
    min_std: float = 1e-4  # lower bound of the pre-tanh std (TorchRL NormalParamExtractor's default)
    # optimisation
    batch_size: int = 256
    lr: float = 3e-4  # actor and critics
    alpha_lr: float = 3e-4  # temperature
    loss_function: str = "l2"  # critic regression loss: l2 | smooth_l1 | l1
    tau: float = 0.005  # Polyak averaging of the target critics
    alpha_init: float = 1.0
    fixed_alpha: bool = False  # true: alpha stays at alpha_init
    target_entropy: Optional[float] = None  # None: -action_dim
    utd: int = 1  # gradient steps per environment step (update-to-data ratio)
    # discount: None -> TD-MPC2's heuristic clip((L/denom - 1)/(L/denom), min, max), L = episode length
    discount: Optional[float] = None
    discount_denom: float = 5.0
    discount_min: float = 0.95
    discount_max: float = 0.995
    # online loop; seed_steps None: TD-MPC2's rule max(1000, 5 episodes); the replay keeps
    # min(buffer_size, steps) transitions
    seed_steps: Optional[int] = None
    buffer_size: int = DEFAULT_BUFFER_SIZE

    def capabilities(self) -> frozenset[str]:
        """Model-free, state observations only: none of algorithms.registry.CAPABILITIES."""
        return frozenset()

    def validate(self) -> None:
        if not self.hidden_dims or any(int(h) <= 0 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims must be a non-empty list of positive widths, not {self.hidden_dims}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if self.loss_function not in LOSS_FUNCTIONS:
            raise ValueError(f"unknown loss_function {self.loss_function!r}; valid: {', '.join(LOSS_FUNCTIONS)}")
        if self.num_qvalue_nets < 1:
            raise ValueError(f"num_qvalue_nets={self.num_qvalue_nets} must be at least 1")
        for key in ("batch_size", "utd", "lr", "alpha_lr", "alpha_init", "min_std"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}={getattr(self, key)} must be positive")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], not {self.tau}")
        if self.discount is not None and not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], not {self.discount}")
        if self.seed_steps is not None and self.seed_steps < 0:
            raise ValueError(f"seed_steps={self.seed_steps} must be >= 0 (or null for the default rule)")
        if self.buffer_size <= 0:
            raise ValueError(f"buffer_size must be positive, not {self.buffer_size}")
