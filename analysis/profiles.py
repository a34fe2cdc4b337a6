"""Performance profiles (score distributions) with stratified-bootstrap CIs, computed by rliable.

The profile of an algorithm at threshold ``tau`` is the fraction of its runs (over all tasks) whose
normalised score exceeds ``tau`` (rliable's ``create_performance_profile`` with score
distributions), at thresholds 0, 1, ..., 100. Each algorithm is bootstrapped on its own under the
seeded global RNG (see :mod:`analysis.aggregates`); to reproduce with rliable directly::

    np.random.seed(seed)
    rliable.library.create_performance_profile({label: matrix}, taus, reps=reps)
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from rliable import library as rly

from analysis.aggregates import CONFIDENCE, seeded_global_rng

#: Thresholds on the 0-100 normalised score.
TAUS: np.ndarray = np.linspace(0.0, 100.0, 101)
DEFAULT_PROFILE_REPS: int = 2_000  # rliable's default for profiles
PROFILE_COLUMNS: tuple[str, ...] = ("algo", "tau", "value", "ci_low", "ci_high")


def performance_profiles(
    score_dict: Mapping[str, np.ndarray],
    *,
    taus: np.ndarray = TAUS,
    reps: int = DEFAULT_PROFILE_REPS,
    seed: int | None = 0,
    task_bootstrap: bool = False,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Tidy profiles (:data:`PROFILE_COLUMNS`) of every algo in ``score_dict`` ((runs, tasks) arrays)."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    frames = []
    for label in sorted(score_dict):
        with seeded_global_rng(seed):
            profiles, cis = rly.create_performance_profile(
                {label: np.asarray(score_dict[label], dtype=float)},
                taus,
                reps=reps,
                task_bootstrap=task_bootstrap,
                confidence_interval_size=confidence,
            )
        frames.append(
            pd.DataFrame(
                {
                    "algo": label,
                    "tau": np.asarray(taus, dtype=float),
                    "value": profiles[label],
                    "ci_low": cis[label][0],
                    "ci_high": cis[label][1],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(PROFILE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(PROFILE_COLUMNS)]
