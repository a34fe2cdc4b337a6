"""How sure the report may look: the few-runs caveat and the zero-width interval mark, in one place.

* **Few runs** (:func:`few_runs_note`): an algorithm with fewer than :data:`MIN_RUNS` runs per task
  gets one sentence beside every table and figure whose intervals come from a bootstrap over its
  runs (aggregates, performance profiles, probability of improvement, curves, scaling), and in the
  figure files themselves, which may be looked at alone.
* **Zero width** (:func:`interval_text`): an interval whose printed ends are equal, e.g.
  ``0.00 [0.00, 0.00]``, is followed by ``(zero width: N runs per task, not a certainty)``: every
  bootstrap resample agreeing says the runs were few or fully separated, not that the value is certain.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

#: Fewer runs per task than this and an algorithm's intervals carry the few-runs caveat.
MIN_RUNS: int = 3


def few_runs(runs: Mapping[str, int]) -> dict[str, int]:
    """The labels of ``runs`` (label -> runs per task) with fewer than :data:`MIN_RUNS`, sorted."""
    return {label: int(n) for label, n in sorted(runs.items()) if int(n) < MIN_RUNS}


def few_runs_note(runs: Mapping[str, int], *, code: bool = True) -> str:
    """The caveat for ``runs`` (label -> runs per task), or "" when every label has enough runs.

    ``code``: label names in Markdown backticks (report text); False for text drawn in a figure.
    """
    few = few_runs(runs)
    if not few:
        return ""
    names = ", ".join(f"`{name}`" if code else name for name in few)
    counts = set(few.values())
    if len(counts) == 1:
        n = counts.pop()
        how_many = f"{n} {_runs(n)}" + (" each" if len(few) > 1 else "")
    else:
        how_many = ", ".join(f"{name}: {n}" for name, n in few.items())
    return (
        f"{names} {'has' if len(few) == 1 else 'have'} fewer than {MIN_RUNS} runs per task ({how_many}); "
        "a bootstrap over so few runs gives narrow, unreliable intervals (a single run gives zero-width ones)."
    )


def interval_text(value: float, low: float, high: float, runs: Sequence[int], digits: int = 1) -> str:
    """``value [low, high]`` with ``digits`` decimals, marked by :func:`zero_width_mark` when its ends
    print equal; ``runs``: the runs per task behind it (one count, or X's and Y's for a pair)."""
    low_text, high_text = f"{low:.{digits}f}", f"{high:.{digits}f}"
    text = f"{value:.{digits}f} [{low_text}, {high_text}]"
    return text + " " + zero_width_mark(runs) if low_text == high_text else text


def zero_width_mark(runs: Sequence[int]) -> str:
    """``(zero width: 2 runs per task, not a certainty)``; a pair with unequal counts: ``2 and 3 runs``."""
    counts = [int(n) for n in runs]
    if len(set(counts)) == 1:
        n = counts[0]
        how_many = f"{n} {_runs(n)} per task" + (" each" if len(counts) > 1 else "")
    else:
        how_many = " and ".join(str(n) for n in counts) + " runs per task"
    return f"(zero width: {how_many}, not a certainty)"


def _runs(n: int) -> str:
    return "run" if n == 1 else "runs"


def runs_per_task(matrices: Mapping[str, object]) -> dict[str, int]:
    """label -> runs per task of each (runs, tasks) score matrix (the comparison's)."""
    return {label: int(matrix.shape[0]) for label, matrix in matrices.items()}


def fewest_runs(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """label -> the fewest runs per task among its (label, runs) rows: a pair's X and Y
    (``probability_of_improvement.csv``: ``zip(x, runs_x)`` and ``zip(y, runs_y)``), a scaling point."""
    out: dict[str, int] = {}
    for label, n in rows:
        out[label] = min(int(n), out.get(label, int(n)))
    return out
