"""TD-MPC2's online-training conventions, shared by every algorithm so that comparisons are like
for like: the discount from the episode length, the random seed steps and the replay capacity."""

from __future__ import annotations

#: both references' ``buffer_size`` (TD-MPC2 and MBDPO config.yaml)
DEFAULT_BUFFER_SIZE = 1_000_000


def heuristic_discount(episode_length: int, denom: float, low: float, high: float) -> float:
    """TD-MPC2's discount: ``clip((L/denom - 1) / (L/denom), low, high)``; longer episodes get a
    discount closer to 1 (0.99 at 500 agent steps with denom 5)."""
    frac = episode_length / denom
    return float(min(max((frac - 1) / frac, low), high))


def default_seed_steps(episode_length: int) -> int:
    """TD-MPC2's ``seed_steps = max(1000, 5 * episode_length)`` random actions before learning."""
    return max(1000, 5 * episode_length)


def replay_capacity(buffer_size: int, total_steps: int, episode_length: int) -> int:
    """Rows the replay keeps: ``min(buffer_size, steps)``, as both references' Buffer does.

    An episode of L steps is L+1 rows (its reset observation first), so a buffer of ``steps`` rows
    holds slightly fewer than all of a run's steps and its oldest rows are overwritten near the end,
    exactly as in the references. One exception: at least one whole episode (L+1 rows) fits, which
    only changes runs shorter than one episode (the references never add an episode then)."""
    return max(min(buffer_size, total_steps), episode_length + 1)
