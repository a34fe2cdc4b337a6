"""The one error type of the dataset layer."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset (or an export request) that cannot be used; the message is one line naming the file."""
