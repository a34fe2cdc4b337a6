"""Where results came from: each run's exact config and code commit, and a checkout's commit.

* :func:`run_provenance` reads every run's ``config.yaml`` (the fully resolved configuration the
  harness wrote) and the git commit recorded in it: a ``commit`` (or ``git_commit``) field at the
  top level or under ``run:``, or ``git: {commit: ...}``; ``dirty: true`` next to it appends
  ``+dirty``. A run whose config records no commit shows ``unknown``.
* The same file gives each run's training mode and size (:func:`run_settings`): ``run.mode``
  (``online``, ``offline`` or ``finetune``; absent: ``online``), ``run.checkpoint`` (what a
  fine-tuned run started from) and the top-level ``num_parameters`` (the agent's trained
  parameters: 0 for a parameter-free policy such as ``random``; absent for runs written before it existed).
* What each run learnt from (:func:`run_observations`): ``run.obs`` (``state``, ``rgb``; absent:
  ``state``); a report of a suite counts only the runs of the suite's kind (``obs`` in
  configs/suites.yaml).
* Where a run's weights came from (:func:`weights_origin`), from its ``pretrained:`` block (a
  fine-tuned run's, or an evaluated reference checkpoint's): a file written by TD-MPC2's or
  MBDPO's own ``save`` shows as ``tdmpc2 file NAME SHA256[:12]``, one of our runs as its path.
* :func:`git_commit` reads the commit checked out in a directory (e.g. a clone of a reference
  repository given with ``--baselines``) from its ``.git`` files, without running git.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from analysis.results import identity_from_path, run_files, run_name
from analysis.table import algo_label, run_label
from configs.results import DEFAULT_MODE, RUN_MODES

UNKNOWN = "unknown"
#: a run's observations when its config.yaml names none (harness RunConfig.obs's default)
DEFAULT_OBS = "state"
#: ``note``: why a field of the run's ``config.yaml`` could not be used ("" when all could).
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "run",
    "label",
    "task",
    "seed",
    "commit",
    "mode",
    "obs",
    "checkpoint",
    "pretrained",
    "num_parameters",
    "note",
    "config",
)
#: the ``pretrained.format`` values of a file written by a reference code (docs/results-format.md)
REFERENCE_FORMATS = ("tdmpc2", "mbdpo")
_COMMIT_KEYS = ("commit", "git_commit")


def run_provenance(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run with a ``config.yaml`` under ``runs_dir`` (archived attempts ignored).

    Columns :data:`PROVENANCE_COLUMNS`: ``run`` is the run directory relative to ``runs_dir``,
    ``config`` the file's text (or why it could not be read), ``commit`` as described above,
    ``mode``, ``checkpoint`` and ``num_parameters`` from :func:`run_settings`, ``pretrained`` from
    :func:`weights_origin` (``label`` as reports name the run:
    :func:`analysis.table.run_label` of the directory's algo, the config's top-level ``variant``
    where it has one, else the directory's, and the mode). ``task`` is the directory's task component:
    ``multitask`` for a multi-task run.
    """
    root = Path(runs_dir)
    rows = []
    for path in run_files(root, "config.yaml"):
        suite, task, algo, variant, seed = identity_from_path(path.parent, root)
        try:
            text = path.read_text()
            config = yaml.safe_load(text)
            commit = commit_from_config(config)
            mode, checkpoint, num_parameters, note = run_settings(config)
            obs = run_observations(config)
            origin = weights_origin(config)
            if isinstance(config, dict) and isinstance(config.get("variant"), str) and config["variant"]:
                variant = config["variant"]  # e.g. a fine-tuned run's directory differs from it
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            text, commit = f"(unreadable: {type(exc).__name__}: {exc})", UNKNOWN
            mode, checkpoint, num_parameters, origin, obs = DEFAULT_MODE, "", None, "", DEFAULT_OBS
            note = f"config.yaml unreadable ({type(exc).__name__}): mode taken as {DEFAULT_MODE}"
        rows.append(
            (
                run_name(path.parent, root),
                ""
                if algo is None
                else run_label(algo, variant, mode)
                if mode in RUN_MODES
                else algo_label(algo, variant),
                task or "",
                seed,
                commit,
                mode,
                obs,
                checkpoint,
                origin,
                num_parameters,
                note,
                text,
            )
        )
    table = pd.DataFrame(rows, columns=list(PROVENANCE_COLUMNS))
    table["seed"] = pd.to_numeric(table["seed"], errors="coerce").astype("Int64")
    table["num_parameters"] = pd.to_numeric(table["num_parameters"], errors="coerce").astype("Int64")
    return table


def run_settings(config: object) -> tuple[str, str, int | None, str]:
    """(mode, checkpoint, num_parameters, note) from a parsed ``config.yaml``.

    ``mode`` is ``run.mode`` (absent or empty: ``online``); a value other than configs/results.py RUN_MODES is
    returned as written, and ``note`` says so (the run cannot be labelled). ``checkpoint`` is
    ``run.checkpoint`` as text ("" if absent; ``note`` says so for a fine-tuned run).
    ``num_parameters`` is the top-level field: a whole number >= 0 (0: a parameter-free policy, e.g.
    ``random``), else None (``note`` says why when the field is there but unusable).
    """
    if not isinstance(config, dict):
        return DEFAULT_MODE, "", None, ""
    run = config.get("run") if isinstance(config.get("run"), dict) else {}
    notes = []
    mode = run.get("mode")
    mode = DEFAULT_MODE if mode is None or mode == "" else str(mode)
    if mode not in RUN_MODES:
        notes.append(f"run.mode {mode!r} is not one of {', '.join(RUN_MODES)}")
    checkpoint = run.get("checkpoint")
    checkpoint = "" if checkpoint is None else str(checkpoint)
    if RUN_MODES.get(mode) and RUN_MODES[mode].from_checkpoint and not checkpoint:
        notes.append(f"run.mode is {mode} but run.checkpoint is missing")
    value = config.get("num_parameters")
    num_parameters = None
    if value is not None:
        whole = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not whole or value != int(value) or value < 0:
            notes.append(f"num_parameters {value!r} is not a whole number >= 0")
        else:
            num_parameters = int(value)
    return mode, checkpoint, num_parameters, "; ".join(notes)


def run_observations(config: object) -> str:
    """What the run learnt from: ``run.obs`` of a parsed ``config.yaml`` (``state`` or ``rgb``;
    absent: ``state``, as every run before pixels existed)."""
    run = config.get("run") if isinstance(config, dict) and isinstance(config.get("run"), dict) else {}
    obs = run.get("obs")
    return DEFAULT_OBS if obs is None or obs == "" else str(obs)


def weights_origin(config: object) -> str:
    """Where the run's weights came from, from ``pretrained:`` in a parsed ``config.yaml``: a
    reference file (``format`` tdmpc2 / mbdpo) as ``<format> file <file name> <sha256[:12]>``, one of
    our runs as its ``path``; else a fine-tuned run's ``run.checkpoint``; else ""."""
    if not isinstance(config, dict):
        return ""
    pre = config.get("pretrained")
    if isinstance(pre, dict):
        path = str(pre.get("path") or "")
        if pre.get("format") in REFERENCE_FORMATS:
            name = path.replace("\\", "/").rsplit("/", 1)[-1]
            return f"{pre['format']} file {name} {str(pre.get('sha256') or '?')[:12]}"
        if path:
            return path
    run = config.get("run") if isinstance(config.get("run"), dict) else {}
    mode = RUN_MODES.get(str(run.get("mode")))
    if mode is not None and mode.from_checkpoint and run.get("checkpoint"):
        return str(run["checkpoint"])
    return ""


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
