"""Where results came from: each run's exact config and code commit, and a checkout's commit.

* :func:`run_provenance` reads every run's ``config.yaml`` (the fully resolved configuration the
  harness wrote) and the git commit recorded in it: a ``commit`` (or ``git_commit``) field at the
  top level or under ``run:``, or ``git: {commit: ...}``; ``dirty: true`` next to it appends
  ``+dirty``. A run whose config records no commit shows ``unknown``.
* :func:`git_commit` reads the commit checked out in a directory (e.g. a clone of a reference
  repository given with ``--baselines``) from its ``.git`` files, without running git.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from analysis.results import identity_from_path, run_files
from analysis.table import algo_label

UNKNOWN = "unknown"
PROVENANCE_COLUMNS: tuple[str, ...] = ("run", "label", "task", "seed", "commit", "config")
_COMMIT_KEYS = ("commit", "git_commit")


def run_provenance(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run with a ``config.yaml`` under ``runs_dir`` (archived attempts ignored).

    Columns :data:`PROVENANCE_COLUMNS`: ``run`` is the run directory relative to ``runs_dir``,
    ``config`` the file's text (or why it could not be read), ``commit`` as described above.
    """
    root = Path(runs_dir)
    rows = []
    for path in run_files(root, "config.yaml"):
        suite, task, algo, variant, seed = identity_from_path(path.parent, root)
        try:
            text = path.read_text()
            commit = commit_from_config(yaml.safe_load(text))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            text, commit = f"(unreadable: {type(exc).__name__}: {exc})", UNKNOWN
        rows.append(
            (
                _relative(path.parent, root),
                algo_label(algo, variant) if algo is not None else "",
                task or "",
                seed,
                commit,
                text,
            )
        )
    table = pd.DataFrame(rows, columns=list(PROVENANCE_COLUMNS))
    table["seed"] = pd.to_numeric(table["seed"], errors="coerce").astype("Int64")
    return table


def commit_from_config(config: object) -> str:
    """The commit recorded in a parsed ``config.yaml`` (see the module docstring), or ``unknown``."""
    if not isinstance(config, dict):
        return UNKNOWN
    places = [config, config.get("run"), config.get("git")]
    for place in places:
        if not isinstance(place, dict):
            continue
        for key in _COMMIT_KEYS:
            value = place.get(key)
            if value:
                dirty = place.get("dirty") or place.get("git_dirty")
                return str(value).strip() + ("+dirty" if dirty is True else "")
    return UNKNOWN


def git_commit(directory: str | Path) -> str:
    """The commit checked out in the git work tree holding ``directory``, or ``unknown``."""
    path = Path(directory).resolve()
    for candidate in (path, *path.parents):
        dot_git = candidate / ".git"
        if dot_git.exists():
            return _head_commit(dot_git) or UNKNOWN
    return UNKNOWN


def _head_commit(dot_git: Path) -> str | None:
    try:
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            target = dot_git.read_text().strip().removeprefix("gitdir:").strip()
            dot_git = (dot_git.parent / target).resolve()
        head = (dot_git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head[4:].strip()
        for git_dir in (dot_git, _common_dir(dot_git)):
            loose = git_dir / ref
            if loose.is_file():
                return loose.read_text().strip()
            packed = git_dir / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    try:
        return (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir
    except OSError:
        return git_dir


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)
