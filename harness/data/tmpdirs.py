"""Temporary directories a dataset or storage is written in before it is renamed into place.

``.<name>.<random>.tmp`` beside the final directory, holding a ``.lock`` file that its writer keeps
locked (``flock``) while it works: a writer killed with ``kill -9`` leaves its directory behind,
but the kernel drops the lock, so the next writer of the same name removes it
(:func:`remove_stale`) and never one that a live writer still holds. A directory without a lock file
(the writer died between creating it and locking, or an older version wrote it) counts as stale once
it is :data:`UNLOCKED_GRACE_S` old.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOCK = ".lock"
#: seconds after which a temporary directory without a lock file is taken for a dead writer's
UNLOCKED_GRACE_S = 60.0


def pattern(name: str) -> str:
    """The glob of the temporary directories of final directory ``name``."""
    return f".{name}.*.tmp"


@contextlib.contextmanager
def locked_tmpdir(parent: Path, name: str) -> Iterator[Path]:
    """A new ``parent/.<name>.<random>.tmp`` held (locked) for the block; removed when the block
    fails. Before renaming it into place, call :func:`release` on it (the lock file must not
    end up in the result)."""
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=".tmp"))
    fd = -1
    try:
        fd = os.open(tmp / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if fd >= 0:
            os.close(fd)  # also drops the lock


def release(tmp: Path) -> None:
    """Remove the lock file of ``tmp`` (its writer keeps the lock on the open file until the end)."""
    (tmp / LOCK).unlink(missing_ok=True)


def is_stale(tmp: Path, now: float | None = None) -> bool:
    """True if no live writer holds ``tmp``."""
    try:
        fd = os.open(tmp / LOCK, os.O_RDWR)
    except FileNotFoundError:
        try:
            age = (time.time() if now is None else now) - tmp.stat().st_mtime
        except OSError:
            return False
        return age > UNLOCKED_GRACE_S
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def remove_stale(parent: Path, name: str) -> list[Path]:
    """Remove the temporary directories of ``name`` under ``parent`` that no live writer holds;
    returns them."""
    removed = []
    for tmp in sorted(Path(parent).glob(pattern(name))):
        if tmp.is_dir() and is_stale(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed
