"""Training modes, registered by name (harness/modes/registry.py): importing this package registers
the built-in ones. A new mode is a new module here, imported below, and its line in
``configs/results.py`` ``RUN_MODES`` (how the report reads its runs)."""

from harness.modes import finetune, offline, online  # noqa: F401  (each registers itself)
from harness.modes.registry import Mode, all_modes, get_mode, mode_names, register_mode

__all__ = ["Mode", "all_modes", "get_mode", "mode_names", "register_mode"]
