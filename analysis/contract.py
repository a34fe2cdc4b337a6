"""rliable's input contract, checked before every rliable call.

``{algo_label: scores}`` with ``scores`` a float array of shape ``(num_runs, num_tasks)``: the runs
axis first (a run is a seed), the task columns in one fixed order shared by all algorithms compared,
every value finite (no NaN: ragged data is handled by :mod:`analysis.ragged`, never by NaN).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from analysis.errors import AnalysisError


def check_score_dict(score_dict: Mapping[str, np.ndarray], tasks: Sequence[str]) -> None:
    """Check rliable's contract for every matrix; raise :class:`AnalysisError` naming the algo."""
    if not score_dict:
        raise AnalysisError("no algorithm to compare")
    for label, matrix in score_dict.items():
        check_score_matrix(label, matrix, len(tasks))


def check_score_matrix(name: str, matrix: np.ndarray, num_tasks: int) -> None:
    """A (num_runs >= 1, num_tasks) float array with only finite values (runs axis first)."""
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise AnalysisError(f"scores of {name} must be a 2-D array (runs, tasks), got {np.shape(matrix)}")
    if matrix.shape[1] != num_tasks or matrix.shape[0] < 1:
        raise AnalysisError(f"scores of {name} have shape {matrix.shape}; expected (runs >= 1, {num_tasks} tasks)")
    if not np.issubdtype(matrix.dtype, np.floating):
        raise AnalysisError(f"scores of {name} must be floats, got {matrix.dtype}")
    if not np.isfinite(matrix).all():
        bad = np.argwhere(~np.isfinite(matrix))[0]
        raise AnalysisError(f"scores of {name} are not all finite (run {bad[0]}, task {bad[1]})")
