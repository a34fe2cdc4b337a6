"""Error types shared by every package (harness, algorithms, envs, analysis); pure Python."""

from __future__ import annotations

from typing import Iterable


class UnknownNameError(ValueError):
    """A name (task, suite, algorithm, config key) that is not registered; the message is one line."""


def unknown(kind: str, name: object, valid: Iterable) -> UnknownNameError:
    """The error for an unknown ``name`` of ``kind``, listing the ``valid`` names (sorted)."""
    names = sorted(valid)
    return UnknownNameError(f"unknown {kind} {name!r}; valid: {', '.join(map(str, names))}")
