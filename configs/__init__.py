"""Project configuration: YAML files (suites, algorithm defaults) and their typed loaders.

This package is pure Python (no torch), so that the analysis can read suites and score
normalisation without importing any model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent


def load_yaml(relative_path: str) -> dict:
    """Read one YAML file of this package, e.g. ``load_yaml("suites.yaml")``."""
    path = CONFIG_DIR / relative_path
    with path.open() as f:
        data = yaml.safe_load(f)
    return data or {}


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
