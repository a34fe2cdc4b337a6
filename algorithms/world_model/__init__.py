"""The latent world model shared by TD-MPC2, the MBDPO family and the explicit planners."""

from algorithms.world_model.config import MODEL_SIZES, ModelConfig
from algorithms.world_model.model import WorldModel

__all__ = ["MODEL_SIZES", "ModelConfig", "WorldModel"]
