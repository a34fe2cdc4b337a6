"""Named algorithm presets (``preset=<name>``): ``configs/presets/<name>.yaml``, a set of algorithm
fields under ``algo:`` with a ``description``. A run made with a preset is labelled by its name
(harness.config.variant_name), so reports say ``tdmpc2[cpu]``, not a digest of overrides."""

from __future__ import annotations

from typing import Any

from configs import CONFIG_DIR, flatten, load_yaml
from configs.errors import UnknownNameError

PRESET_DIR = "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / PRESET_DIR).glob("*.yaml"))


def preset_fields(name: str) -> dict[str, Any]:
    """The preset's algorithm fields, flattened (``{"planner.num_samples": 128, ...}``)."""
    if name not in preset_names():
        raise UnknownNameError(f"unknown preset {name!r}; valid: {', '.join(preset_names())}")
    data = load_yaml(f"{PRESET_DIR}/{name}.yaml")
    return flatten(data.get("algo") or {})


def preset_description(name: str) -> str:
    preset_fields(name)  # the name is checked
    return str(load_yaml(f"{PRESET_DIR}/{name}.yaml").get("description", ""))
