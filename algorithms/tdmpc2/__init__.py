"""TD-MPC2 (Hansen et al., 2024) on the shared latent world model."""
from algorithms.tdmpc2.agent import TDMPC2
from algorithms.tdmpc2.config import TDMPC2Config

__all__ = ["TDMPC2", "TDMPC2Config"]
