"""Probability of improvement P(X > Y) with stratified-bootstrap CIs (rliable).

rliable's ``metrics.probability_of_improvement(x, y)`` is, per task, the Mann-Whitney U statistic
of X's runs against Y's divided by (runs_x * runs_y), i.e. P(a run of X beats a run of Y, ties
counting one half), averaged over tasks. Its interval comes from ``library.get_interval_estimates``
on the pair ``{"X,Y": (scores_x, scores_y)}``, which resamples the runs of X and of Y independently
within each task (``StratifiedIndependentBootstrap``; rliable has no task bootstrap for pairs).

:func:`probability_of_improvement` computes the same number as rliable's function, vectorised over
runs and tasks (rliable calls scipy once per task and bootstrap replicate, about 40 ms per replicate
on 80 tasks); the bootstrap indices come from rliable and the seeded global RNG exactly as with
rliable's function, so points and intervals are identical (tests check it). Both matrices must
cover the same tasks, in the same column order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics

from analysis.aggregates import CONFIDENCE, seeded_global_rng
from analysis.contract import check_score_matrix

DEFAULT_POI_REPS: int = 2_000  # rliable's examples use 2000 for probability of improvement
POI_COLUMNS: tuple[str, ...] = ("x", "y", "tasks", "runs_x", "runs_y", "value", "ci_low", "ci_high")


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's ``metrics.probability_of_improvement`` (same value), vectorised."""
    x = scores_x[:, None, :]
    y = scores_y[None, :, :]
    u = (x > y).sum(axis=(0, 1)) + 0.5 * (x == y).sum(axis=(0, 1))  # Mann-Whitney U per task
    return np.mean(u / (scores_x.shape[0] * scores_y.shape[0]))


def improvement_interval(
    x: str,
    y: str,
    scores_x: np.ndarray,
    scores_y: np.ndarray,
    *,
    reps: int = DEFAULT_POI_REPS,
    seed: int | None = 0,
    confidence: float = CONFIDENCE,
    use_rliable_metric: bool = False,
) -> tuple[float, float, float]:
    """(P(X > Y), ci_low, ci_high) from rliable's bootstrap under the seeded global RNG.

    ``use_rliable_metric`` uses ``metrics.probability_of_improvement`` itself (slow; same numbers).
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    scores_x, scores_y = np.asarray(scores_x, dtype=float), np.asarray(scores_y, dtype=float)
    check_score_matrix(x, scores_x, scores_x.shape[1] if scores_x.ndim == 2 else 0)
    check_score_matrix(y, scores_y, scores_x.shape[1])
    func = metrics.probability_of_improvement if use_rliable_metric else probability_of_improvement
    key = f"{x},{y}"
    with seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            {key: (scores_x, scores_y)},
            func,
            reps=reps,
            confidence_interval_size=confidence,
        )
    interval = np.asarray(intervals[key], dtype=float).reshape(2)
    return float(points[key]), float(interval[0]), float(interval[1])


def improvement_table(rows: list[tuple[str, str, list[str], np.ndarray, np.ndarray]], **kwargs) -> pd.DataFrame:
    """:data:`POI_COLUMNS` for each (x, y, tasks, scores_x, scores_y); kwargs as :func:`improvement_interval`."""
    out = []
    for x, y, tasks, scores_x, scores_y in rows:
        value, low, high = improvement_interval(x, y, scores_x, scores_y, **kwargs)
        out.append((x, y, len(tasks), scores_x.shape[0], scores_y.shape[0], value, low, high))
    return pd.DataFrame(out, columns=list(POI_COLUMNS))
