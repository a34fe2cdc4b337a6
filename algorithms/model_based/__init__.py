"""World-model agents (TD-MPC2, the MBDPO family, explicit planners) sharing one latent model."""

from algorithms.model_based.agent import UntrainedScoreNetworkError, WorldModelAgent
from algorithms.model_based.config import EnergyConfig, ScoreConfig, WorldModelAgentConfig

__all__ = ["EnergyConfig", "ScoreConfig", "UntrainedScoreNetworkError", "WorldModelAgent", "WorldModelAgentConfig"]
