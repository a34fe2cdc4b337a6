"""A checkpoint file (``checkpoint.pt``, ``final.pt``): its format version, atomic writes and
loading. What it holds and how a run resumes from it: harness.training.checkpoint. Kept outside
harness/training/ so that the datasets (harness/data/, which read runs' replay buffers) need not
import the trainers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from harness.rundir import mkstemp_beside

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or does not fit the run."""


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same directory, fsync, rename, fsync the directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except RuntimeError as exc:
        Path(tmp).unlink(missing_ok=True)
        cause = exc.__context__
        if isinstance(cause, OSError):  # torch's zip writer turns a failed write (disk full) into this
            raise OSError(cause.errno, cause.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some file systems refuse fsync on a directory; the rename is still atomic
        pass


def load(path: Path) -> dict[str, Any]:
    # Our own file: it holds numpy random states and TensorDicts, so not weights_only.
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a version-{FORMAT_VERSION} mbdpo-bench checkpoint")
    return state


def read_or_problem(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the checkpoint, None), or (None, one line saying why ``path`` cannot be read)."""
    try:
        return load(path), None
    except Exception as exc:  # truncated, damaged, not ours
        text = " ".join(str(exc).split())[:200] or "no detail"
        return None, f"{path.name} is unreadable ({type(exc).__name__}: {text})"
