"""Error and warning types of the analysis package (messages are one line)."""

from __future__ import annotations


class AnalysisError(ValueError):
    """Results that cannot be analysed as asked (missing directory, ragged runs, ...)."""


class ResultsWarning(UserWarning):
    """A results file that was skipped or repaired while loading; the rest still loads."""
