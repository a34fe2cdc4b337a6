"""Registered algorithms. Importing this package registers the built-in ones."""
from algorithms.registry import AlgorithmEntry, algorithm_names, get_algorithm, register
from algorithms.tdmpc2 import TDMPC2, TDMPC2Config

register(
    AlgorithmEntry(
        name="tdmpc2",
        factory=TDMPC2,
        config_cls=TDMPC2Config,
        defaults_yaml="algos/tdmpc2.yaml",
        description="TD-MPC2: latent world model + MPPI planning with policy-prior trajectories",
    )
)

__all__ = ["AlgorithmEntry", "algorithm_names", "get_algorithm", "register"]
