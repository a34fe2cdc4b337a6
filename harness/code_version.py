"""Which code a run ran: the git commit of this checkout (and whether it had local changes),
recorded in every run's config.yaml so that a report can name the code behind each number."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, object]:
    """``{"commit": sha or "unknown", "dirty": bool}`` for the checkout this package runs from."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout (an installed wheel)
        return {"commit": "unknown", "dirty": False}
    return {"commit": commit, "dirty": dirty}
