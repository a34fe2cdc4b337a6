"""Model-free SAC, the benchmark's reference without a world model."""

from algorithms.sac.agent import SACAgent
from algorithms.sac.config import SACConfig

__all__ = ["SACAgent", "SACConfig"]
