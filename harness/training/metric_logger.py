"""Training metrics through TorchRL's loggers (CSV by default; tensorboard or wandb when asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torchrl.record.loggers import get_logger


def make_metric_logger(kind: str, run_path: Path, name: str) -> Callable[[str, float, int], None] | None:
    """-> ``log(name, value, step)`` or None for ``logger=none``."""
    if kind == "none":
        return None
    try:
        logger = get_logger(kind, logger_name=str(run_path / "train"), experiment_name=name)
    except ImportError as exc:
        raise ValueError(f"logger={kind} needs a package that is not installed ({exc}); use logger=csv") from None

    def log(key: str, value: float, step: int) -> None:
        logger.log_scalar(key, value, step=step)

    return log
