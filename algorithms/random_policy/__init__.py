"""The uniform-random policy: the floor every learning algorithm must clear in a report."""

from algorithms.random_policy.agent import RandomAgent, RandomConfig

__all__ = ["RandomAgent", "RandomConfig"]
