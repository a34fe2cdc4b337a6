"""Known answers for probability of improvement and performance profiles, and agreement with
rliable called directly (same seed, same reps)."""

from __future__ import annotations

import numpy as np
import pytest
from rliable import library as rly
from rliable import metrics

from analysis.improvement import improvement_interval, probability_of_improvement
from analysis.profiles import TAUS, performance_profiles

REPS = 300


@pytest.mark.parametrize(
    "x, y, expected",
    [
        ([[90.0, 80.0], [70.0, 60.0]], [[10.0, 20.0], [30.0, 40.0]], 1.0),  # X beats Y everywhere
        ([[10.0, 20.0], [30.0, 40.0]], [[90.0, 80.0], [70.0, 60.0]], 0.0),
        ([[5.0, 7.0], [6.0, 8.0]], [[5.0, 7.0], [6.0, 8.0]], 0.5),  # identical
        ([[90.0, 10.0]], [[10.0, 90.0]], 0.5),  # one task each
        ([[1.0], [2.0]], [[2.0], [0.0]], 0.625),  # pairs: 1<2, 1>0, 2=2 (1/2), 2>0 -> 2.5 / 4
        ([[1.0], [2.0], [3.0]], [[2.0]], 0.5),  # different run counts: 0 + 1/2 + 1 over 3
    ],
)
def test_probability_of_improvement_known_answers(x, y, expected):
    x, y = np.array(x), np.array(y)
    assert probability_of_improvement(x, y) == pytest.approx(expected)
    assert metrics.probability_of_improvement(x, y) == pytest.approx(expected)


def test_probability_of_improvement_equals_rliable_with_ties_and_unequal_runs():
    rng = np.random.default_rng(0)
    for _ in range(100):
        runs_x, runs_y, tasks = rng.integers(1, 6, size=3)
        x = rng.integers(0, 4, (runs_x, tasks)).astype(float)
        y = rng.integers(0, 4, (runs_y, tasks)).astype(float)
        assert probability_of_improvement(x, y) == metrics.probability_of_improvement(x, y)


def test_probability_of_improvement_interval_equals_rliable_called_directly():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 100, (4, 5)), rng.uniform(0, 100, (3, 5))
    value, low, high = improvement_interval("x", "y", x, y, reps=REPS, seed=9)
    np.random.seed(9)
    points, intervals = rly.get_interval_estimates({"x,y": (x, y)}, metrics.probability_of_improvement, reps=REPS)
    assert value == points["x,y"]
    np.testing.assert_array_equal([low, high], np.ravel(intervals["x,y"]))
    assert low <= value <= high and low < high
    assert improvement_interval("x", "y", x, y, reps=REPS, seed=9, use_rliable_metric=True) == (value, low, high)


def test_performance_profile_known_answer_and_rliable():
    scores = np.array([[10.0, 50.0], [30.0, 70.0]])  # (runs, tasks)
    table = performance_profiles({"a": scores}, reps=REPS, seed=2)
    profile = table.set_index("tau")["value"]
    assert list(table["tau"]) == list(TAUS)
    assert profile[0.0] == 1.0 and profile[10.0] == 0.75 and profile[30.0] == 0.5
    assert profile[50.0] == 0.25 and profile[70.0] == 0.0 and profile[100.0] == 0.0
    np.random.seed(2)
    points, intervals = rly.create_performance_profile({"a": scores}, TAUS, reps=REPS)
    np.testing.assert_array_equal(table["value"], points["a"])
    np.testing.assert_array_equal(table[["ci_low", "ci_high"]].to_numpy().T, intervals["a"])
    assert ((table["ci_low"] <= table["value"]) & (table["value"] <= table["ci_high"])).all()
