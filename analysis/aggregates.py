"""Aggregate metrics with stratified-bootstrap confidence intervals, computed by rliable.

Metrics (rliable.metrics, on a (runs, tasks) matrix of 0-100 scores): IQM (interquartile mean
over all runs and tasks), median and mean of the per-task mean scores, and the optimality gap
(how far scores fall short of ``gamma``; lower is better).

Seeding. rliable 1.2.0 accepts a ``random_state`` argument but does not use it to resample:
``StratifiedBootstrap.update_indices`` draws with the global ``np.random.choice`` (and arch 7
warns that ``random_state`` is deprecated). So the only way to make the intervals reproducible
is to seed NumPy's global RNG. :func:`seeded_global_rng` does that for the duration of one
rliable call and restores the previous global state afterwards, so callers' randomness is
unaffected. Each algorithm's bootstrap is seeded with the same ``seed`` on its own, so its
intervals do not depend on which other algorithms are in the comparison or in what order.
To reproduce an interval with rliable directly::

    np.random.seed(seed)
    rliable.library.get_interval_estimates({label: matrix}, aggregate_func(), reps=reps)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics
from scipy.stats import trim_mean

from analysis.scores import ScoreCurve

#: Metric names, in the order of the values returned by :func:`aggregate_func`.
METRICS: tuple[str, ...] = ("iqm", "median", "mean", "optimality_gap")
#: Names for tables and figures.
METRIC_TITLES: dict[str, str] = {
    "iqm": "IQM",
    "median": "Median",
    "mean": "Mean",
    "optimality_gap": "Optimality gap",
}
#: Optimality-gap threshold. rliable's default (gamma=1) assumes scores normalised to [0, 1];
#: our normalised scores are 0-100 (configs/suites.yaml), so the threshold is 100: a score at or
#: above 100 counts as optimal, and the gap is 100 minus the mean of scores clipped at 100.
OPTIMALITY_GAP_GAMMA: float = 100.0
#: Bootstrap replications: rliable's default for aggregates, and a cheaper one for curves.
DEFAULT_REPS: int = 50_000
DEFAULT_CURVE_REPS: int = 2_000
CONFIDENCE: float = 0.95

AGGREGATE_COLUMNS: tuple[str, ...] = ("algo", "metric", "value", "ci_low", "ci_high")
CURVE_COLUMNS: tuple[str, ...] = ("algo", "step", "value", "ci_low", "ci_high")


@contextmanager
def seeded_global_rng(seed: int | None) -> Iterator[None]:
    """Seed NumPy's global RNG (what rliable 1.2.0 resamples with), restoring it on exit.

    ``seed=None`` leaves the global RNG alone (intervals then vary from call to call).
    """
    if seed is None:
        yield
        return
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def aggregate_func(gamma: float = OPTIMALITY_GAP_GAMMA) -> Callable[[np.ndarray], np.ndarray]:
    """rliable aggregate function: (runs, tasks) matrix -> [IQM, median, mean, optimality gap]."""

    def aggregates(scores: np.ndarray) -> np.ndarray:
        return np.array(
            [
                metrics.aggregate_iqm(scores),
                metrics.aggregate_median(scores),
                metrics.aggregate_mean(scores),
                metrics.aggregate_optimality_gap(scores, gamma=gamma),
            ]
        )

    return aggregates


def compute_aggregates(
    score_dict: Mapping[str, np.ndarray],
    *,
    reps: int = DEFAULT_REPS,
    seed: int | None = 0,
    task_bootstrap: bool = False,
    gamma: float = OPTIMALITY_GAP_GAMMA,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """IQM, median, mean and optimality gap per algo, with stratified-bootstrap CIs.

    ``score_dict`` is ``{algo_label: (runs, tasks) array}`` (see :func:`analysis.scores.score_matrices`).
    The bootstrap resamples runs within each task (``task_bootstrap=True`` also resamples tasks);
    intervals are percentile intervals of coverage ``confidence`` from ``reps`` replications,
    seeded as described in the module docstring. Returns a tidy DataFrame with the columns
    :data:`AGGREGATE_COLUMNS`, algos sorted, metrics in the order of :data:`METRICS`.
    """
    func = aggregate_func(gamma)
    rows = []
    for label in sorted(score_dict):
        point, interval = interval_estimates(
            label,
            np.asarray(score_dict[label], dtype=float),
            func,
            reps=reps,
            seed=seed,
            task_bootstrap=task_bootstrap,
            confidence=confidence,
        )
        for k, metric in enumerate(METRICS):
            rows.append((label, metric, float(point[k]), float(interval[0, k]), float(interval[1, k])))
    return pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS))


def iqm_curves(
    curves: Mapping[str, ScoreCurve],
    *,
    reps: int = DEFAULT_CURVE_REPS,
    seed: int | None = 0,
    task_bootstrap: bool = False,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """IQM score at each eval step, with stratified-bootstrap CIs, per algo.

    As in rliable's sample-efficiency examples, each algo's (runs, tasks, steps) array is
    bootstrapped at once, the IQM being taken over runs and tasks at every step. Returns a tidy
    DataFrame with the columns :data:`CURVE_COLUMNS`.
    """

    def iqm_per_step(scores: np.ndarray) -> np.ndarray:
        # Same as metrics.aggregate_iqm(scores[..., k]) for every k, in one vectorised call.
        return _trim_mean_25(scores.reshape(-1, scores.shape[-1]))

    frames = []
    for label in sorted(curves):
        curve = curves[label]
        point, interval = interval_estimates(
            label,
            np.asarray(curve.scores, dtype=float),
            iqm_per_step,
            reps=reps,
            seed=seed,
            task_bootstrap=task_bootstrap,
            confidence=confidence,
        )
        frames.append(
            pd.DataFrame(
                {
                    "algo": label,
                    "step": curve.steps.astype("int64"),
                    "value": point,
                    "ci_low": interval[0],
                    "ci_high": interval[1],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]


def interval_estimates(
    label: str,
    scores: np.ndarray,
    func: Callable[[np.ndarray], np.ndarray],
    *,
    reps: int,
    seed: int | None,
    task_bootstrap: bool,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """rliable point estimate and (2, n) interval for one algo, under the seeded global RNG."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    with seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            {label: scores},
            func,
            task_bootstrap=task_bootstrap,
            reps=reps,
            confidence_interval_size=confidence,
        )
    return np.asarray(points[label], dtype=float), np.asarray(intervals[label], dtype=float)


def _trim_mean_25(values: np.ndarray) -> np.ndarray:
    """25% trimmed mean along axis 0, as ``metrics.aggregate_iqm`` computes it over a flat array."""
    return trim_mean(values, proportiontocut=0.25, axis=0)
