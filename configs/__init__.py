"""Project configuration: YAML files (suites, algorithm defaults) and their typed loaders.

This package is pure Python (no torch), so that the analysis can read suites and score
normalisation without importing any model code.
"""

from __future__ import annotations

from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parent


def load_yaml(relative_path: str) -> dict:
    """Read one YAML file of this package, e.g. ``load_yaml("suites.yaml")``."""
    path = CONFIG_DIR / relative_path
    with path.open() as f:
        data = yaml.safe_load(f)
    return data or {}
