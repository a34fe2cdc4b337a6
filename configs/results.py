"""The results contract between the harness (which writes run directories) and the analysis
(which reads them): the columns of ``eval.csv``, in order (docs/results-format.md). Pure Python,
so that both may import it (the analysis imports no torch and no harness)."""

from __future__ import annotations

#: Columns of every run's ``eval.csv`` (one row per evaluation episode), in this order.
EVAL_COLUMNS: tuple[str, ...] = (
    "suite",
    "task",
    "algo",
    "variant",
    "seed",
    "step",
    "episode",
    "return",
    "length",
    "score",
    "success",
)
#: The columns that identify one run (one directory ``<suite>/<task>/<algo>/<variant>/seed_<seed>``).
RUN_KEYS: tuple[str, ...] = ("suite", "task", "algo", "variant", "seed")
