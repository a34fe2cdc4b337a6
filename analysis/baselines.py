"""Published baselines: the per-task CSVs of TD-MPC2 and MBDPO, read into the tidy table.

Both reference repositories (nicklashansen/tdmpc2, Edmond1Cheng/MBDPO) publish
``results/<algo>/<task>.csv`` in long format, one row per evaluation (already averaged over its
episodes), header ``step,<value>,seed``. Which value columns a task accepts follows from its family's
normalisation metric (``configs/suites.yaml``), so a new family needs no code here:

* return families (DMControl, ``cup-catch``): ``step,reward,seed``, ``reward`` = the episode return,
  in [0, 100 / scale] (0-1000 for DMControl, whose score is return / 10).
* success families (Meta-World ``mw-*``, MyoSuite ``myo-*``, ManiSkill2 ``lift-cube``, ...):
  ``step,success,seed`` with ``success`` in [0, 1] (TD-MPC2, TD-MPC, SAC and DreamerV3's files),
  or ``step,reward,seed`` with ``reward`` the success rate already in percent, 0-100 (MBDPO's own
  ``results/mbdpo/`` files).

``step`` counts calls to ``env.step`` (action repeat inside), as ours does. Scores are normalised by
the rule of ``configs/suites.yaml``, exactly as for our runs: DMControl score = return / 10; the
success families' score = success x 100 (a percent ``reward`` is read as success = reward / 100 first).

A file's task is its name mapped by ``published_names`` (``configs/suites.yaml``;
:func:`configs.suites.published_task_name`): TD-MPC2's ``myo-hand-reach.csv`` and MBDPO's
``myo-reach.csv`` are both the task ``myo-reach``.

Rules (each application is recorded as an :class:`~analysis.issues.Issue`, never silent):

* ``DIR`` is a repository checkout (holding ``results/``) or its ``results/`` folder itself; each
  sub-folder is an algorithm, labelled ``<algo> (published)``. CSVs directly under ``results/``
  (an older layout) are ignored and counted.
* A task named by no suite is excluded, listed per algorithm.
* One folder with two files for one task (``myo-reach.csv`` and its published name
  ``myo-hand-reach.csv``): the file named as our task is kept, the other skipped with a warning
  (of several published names, the first in sorted order is kept).
* A file that cannot be read, lacks ``step``/``seed``/a value column, has a value column its family
  does not accept, or holds a non-numeric, non-finite or out-of-range value (return outside
  [0, 1000], success outside [0, 1], percent outside [0, 100]) is skipped with a warning naming it
  and the line.
* Rows repeating a (step, seed) (TD-MPC2's ``tdmpc`` folder has some) are averaged into one
  evaluation, with a note naming the file.
* Folders matching an exclusion pattern (``configs/analysis.yaml``: pixel-observation results, on
  a suite learnt from state) are left out and listed.
* On a suite learnt from pixels (``configs/suites.yaml`` ``obs: rgb``: ``visual``,
  ``visual-tdmpc2``) only the pixel folders (``<algo>-pixels``, configs/analysis.yaml
  ``pixels_suffix``) are read, each as its algorithm: ``results/mbdpo-pixels`` is
  ``mbdpo (published)``; the state folders are left out and listed. State and pixel curves are
  never in one report.
* The same algorithm folder in two DIRs (both repositories ship TD-MPC2's baselines): files that
  are identical are read once; if any task differs, the later folder gets its own label
  ``<algo> (published, <DIR name>)``.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.errors import ResultsWarning
from analysis.issues import (
    ALGO_EXCLUDED,
    BAD_DIRECTORY,
    DUPLICATE_ROWS,
    NO_EVAL,
    OUTSIDE_SUITE,
    SKIPPED_FILE,
    UNKNOWN_TASK,
    Issue,
)
from analysis.provenance import git_commit
from analysis.suites import known_tasks, published_suite, suite_tasks
from analysis.table import (
    DEFAULT_VARIANT,
    SOURCE_PUBLISHED,
    TIDY_COLUMNS,
    concat_tidy,
    empty_tidy,
    published_label,
)
from configs.suites import normalisation, normalised_score, published_task_name, task_family

#: Columns of :attr:`Baselines.sources`.
SOURCE_COLUMNS: tuple[str, ...] = ("label", "algo", "directory", "commit", "files", "tasks", "note")
#: The value columns a published file may have (which ones a task accepts: :func:`value_schemas`).
VALUE_COLUMNS = ("reward", "success")


def value_schemas(task: str) -> dict[str, tuple[float, float, str]]:
    """column -> (lowest, highest, meaning) accepted in a published file of ``task``, from its family's
    normalisation metric (see the module docstring)."""
    norm = normalisation(task)
    if norm.metric == "return":
        return {"reward": (0.0, 100.0 / norm.scale, "episode return")}
    return {"success": (0.0, 1.0, "success rate in [0, 1]"), "reward": (0.0, 100.0, "success rate in percent")}


@dataclass
class Baselines:
    """Published results: ``table`` (tidy, :mod:`analysis.table`), what was left out, where from."""

    table: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    sources: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SOURCE_COLUMNS)))


def results_root(directory: Path) -> Path:
    """``DIR/results`` if it exists, else ``DIR``."""
    return directory / "results" if (directory / "results").is_dir() else directory


def load_baselines(
    directories: Sequence[str | Path],
    *,
    suite: str | None = None,
    exclude: Sequence[str] = (),
    pixels_suffix: str | None = None,
) -> Baselines:
    """Read every ``results/<algo>/<task>.csv`` under each of ``directories`` (see module docstring).

    ``suite`` restricts the tasks (and names the suite they are reported under); ``exclude`` are
    fnmatch patterns on algorithm folder names. ``pixels_suffix`` (a suite learnt from pixels): only
    folders named ``<algo><pixels_suffix>`` are read, as ``<algo>``; the others are left out. Problems
    are returned as issues (and files that cannot be used also raise a :class:`ResultsWarning` naming
    them); this never raises for bad data.
    """
    allowed = set(suite_tasks(suite)) if suite is not None else None
    frames: dict[str, dict[str, pd.DataFrame]] = {}  # label -> task -> rows
    issues: list[Issue] = []
    sources = []
    for directory in map(Path, directories):
        root = results_root(directory)
        if not root.is_dir():
            issues.append(
                _warn(Issue(BAD_DIRECTORY, f"baselines directory not found: {directory}", path=str(directory)))
            )
            continue
        loose = sorted(root.glob("*.csv"))
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if loose:
            issues.append(
                Issue(
                    SKIPPED_FILE,
                    f"{len(loose)} CSV file(s) directly under {root} ignored (expected results/<algo>/<task>.csv)",
                    path=str(root),
                )
            )
        if not any(f.glob("*.csv") for f in folders):
            issues.append(
                _warn(Issue(BAD_DIRECTORY, f"no results/<algo>/<task>.csv under {directory}", path=str(directory)))
            )
            continue
        commit = git_commit(directory)
        for folder in folders:
            files = sorted(folder.glob("*.csv"))
            if not files:
                continue
            algo = folder.name
            if pixels_suffix is not None:  # a pixel suite: <algo>-pixels read as <algo>, state folders left out
                if not folder.name.endswith(pixels_suffix) or folder.name == pixels_suffix:
                    issues.append(
                        Issue(
                            ALGO_EXCLUDED,
                            f"published folder {folder.name} holds results learnt from state; suite {suite} "
                            f"is learnt from pixels (read: <algo>{pixels_suffix} folders, configs/analysis.yaml)",
                            algo=published_label(folder.name, "state"),  # the pixel folder is <algo> (published)
                            path=str(folder),
                        )
                    )
                    continue
                algo = folder.name[: -len(pixels_suffix)]
            elif any(fnmatch.fnmatch(folder.name, p) for p in exclude):
                issues.append(
                    Issue(
                        ALGO_EXCLUDED,
                        f"published folder {folder.name} matches an excluded "
                        f"pattern ({', '.join(exclude)}; configs/analysis.yaml); name it "
                        "with --algos to include it",
                        algo=published_label(folder.name),
                        path=str(folder),
                    )
                )
                continue
            folder_issues: list[Issue] = []
            tasks = _read_folder(folder, files, allowed, suite, folder_issues, algo)
            label, note = _merge(frames, algo, directory, tasks)
            if note.startswith("same data"):  # read once: only its new facts are worth listing
                known = {(i.kind, i.algo, i.task) for i in issues}
                folder_issues = [i for i in folder_issues if (i.kind, i.algo, i.task) not in known]
            issues += folder_issues
            sources.append((label, algo, str(directory), commit, len(files), len(tasks), note))
    tables = [t for by_task in frames.values() for t in by_task.values()]
    table = concat_tidy(*tables) if tables else empty_tidy()
    return Baselines(table=table, issues=issues, sources=pd.DataFrame(sources, columns=list(SOURCE_COLUMNS)))


def _read_folder(
    folder: Path, files: list[Path], allowed: set[str] | None, suite: str | None, issues: list[Issue], algo: str
) -> dict[str, pd.DataFrame]:
    label = published_label(algo)
    unknown, outside, tasks = [], [], {}
    for task, path in task_files(files, issues).items():
        if task not in known_tasks():
            unknown.append(path.stem)
            continue
        if allowed is not None and task not in allowed:
            outside.append(task)
            continue
        rows = read_published_csv(path, issues, task=task)
        if rows is not None:
            rows.insert(0, "task", task)
            rows.insert(0, "suite", published_suite(task, suite))
            tasks[task] = rows
    if unknown:
        issues.append(
            Issue(
                UNKNOWN_TASK,
                f"{len(unknown)} published task(s) named by no suite "
                f"(configs/suites.yaml): {', '.join(sorted(unknown))}",
                algo=label,
                path=str(folder),
            )
        )
    if outside:
        issues.append(
            Issue(OUTSIDE_SUITE, f"{len(outside)} task(s) not in suite {suite}", algo=label, path=str(folder))
        )
    return tasks


def task_files(files: Sequence[Path], issues: list[Issue]) -> dict[str, Path]:
    """Our task name (:func:`configs.suites.published_task_name` of the file name) -> the file read for
    it, from one folder's ``files``; where several files name one task, the one named as our task is
    kept (else the first in sorted order), and each other one is skipped with an issue and a warning."""
    by_task: dict[str, list[Path]] = {}
    for path in sorted(files):
        by_task.setdefault(published_task_name(path.stem), []).append(path)
    chosen = {}
    for task, paths in by_task.items():
        kept = next((p for p in paths if p.stem == task), paths[0])
        chosen[task] = kept
        for other in paths:
            if other != kept:
                _skip(issues, other, f"{other.name} and {kept.name} both hold task {task}; kept {kept.name}", task)
    return chosen


def read_published_csv(path: Path, issues: list[Issue], *, task: str | None = None) -> pd.DataFrame | None:
    """One published file -> rows with step, seed, return, score, success (one per evaluation).

    ``task``: our name of its task (default: the file name mapped by ``published_names``). None (with
    an issue and a warning naming the file) if it is unusable; see the module docstring.
    """
    task = published_task_name(path.stem) if task is None else task
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        return _skip(issues, path, f"unreadable CSV ({type(exc).__name__}: {_first_line(exc)})")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    values = [c for c in VALUE_COLUMNS if c in raw.columns]
    missing = [c for c in ("step", "seed") if c not in raw.columns]
    if missing or len(values) != 1:
        expected = "step,reward,seed or step,success,seed"
        return _skip(issues, path, f"header {','.join(raw.columns)!s} is not {expected}")
    column = values[0]
    family = task_family(task)
    schemas = value_schemas(task)
    if column not in schemas:
        accepted = " or ".join(f"step,{c},seed ({m})" for c, (_, _, m) in schemas.items())
        why = f"a {column!r} column is not a known schema for {family} task {task} (accepted: {accepted})"
        return _skip(issues, path, why, task)
    low, high, meaning = schemas[column]

    parsed = {}
    for name in ("step", "seed", column):
        text = raw[name].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        bad = ~np.isfinite(numbers.to_numpy(dtype=float))
        if name == column:
            bad |= ((numbers < low) | (numbers > high)).to_numpy()
        else:  # step and seed: integers, step >= 0
            bad |= (numbers != numbers.round()).to_numpy()
            if name == "step":
                bad |= (numbers < 0).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            why = (
                f"outside [{low:g}, {high:g}] ({meaning})"
                if name == column and math.isfinite(float(numbers.iloc[i]))
                else "not a valid number"
            )
            return _skip(issues, path, f"bad value {text.iloc[i]!r} in column {name!r} (line {i + 2}): {why}")
        parsed[name] = numbers.to_numpy(dtype=float)
    if not len(raw):
        issues.append(
            _warn(
                Issue(
                    NO_EVAL,
                    f"no evaluation rows in {path}",
                    algo=published_label(path.parent.name),
                    task=task,
                    path=str(path),
                )
            )
        )
        return None

    rows = pd.DataFrame({"step": parsed["step"].astype("int64"), "seed": parsed["seed"].astype("int64")})
    value = parsed[column]
    if normalisation(task).metric == "return":
        rows["return"] = value
        rows["success"] = np.nan
        rows["score"] = [normalised_score(task, v) for v in value]
    else:
        success = value / 100.0 if column == "reward" else value
        rows["return"] = np.nan
        rows["success"] = success
        rows["score"] = [normalised_score(task, float("nan"), s) for s in success]
    duplicated = rows.duplicated(["step", "seed"], keep=False)
    if duplicated.any():
        groups = rows[duplicated].groupby(["step", "seed"]).ngroups
        issues.append(
            Issue(
                DUPLICATE_ROWS,
                f"{int(duplicated.sum())} rows repeat {groups} (step, seed) "
                f"pair(s) in {path}; each pair's rows were averaged into one evaluation",
                algo=published_label(path.parent.name),
                task=task,
                path=str(path),
            )
        )
        rows = rows.groupby(["step", "seed"], as_index=False)[["return", "score", "success"]].mean()
    return rows.sort_values(["seed", "step"]).reset_index(drop=True)


def _merge(
    frames: dict[str, dict[str, pd.DataFrame]], algo: str, directory: Path, tasks: dict[str, pd.DataFrame]
) -> tuple[str, str]:
    """Add one folder's tasks (algorithm ``algo``) under its label (see the module docstring); returns
    (label, note)."""
    label = published_label(algo)
    earlier = frames.get(label)
    note = ""
    if earlier is not None:
        shared = sorted(set(earlier) & set(tasks))
        differ = [t for t in shared if not _same(earlier[t], tasks[t])]
        if differ:
            label = published_label(algo, directory.resolve().name)
            note = (
                f"differs from an earlier folder of the same name on {len(differ)} task(s) "
                f"(e.g. {differ[0]}), so labelled separately"
            )
        else:
            tasks = {t: rows for t, rows in tasks.items() if t not in earlier}
            note = (
                f"same data as an earlier folder of the same name on {len(shared)} shared task(s), "
                f"read once; {len(tasks)} new task(s) added"
            )
    target = frames.setdefault(label, {})
    for task, rows in tasks.items():
        tidy = rows.assign(algo=algo, variant=DEFAULT_VARIANT, label=label, source=SOURCE_PUBLISHED, episodes=np.nan)
        target[task] = tidy[list(TIDY_COLUMNS)]
    return label, note


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    columns = ["seed", "step", "score"]
    a = a[columns].sort_values(["seed", "step"]).reset_index(drop=True)
    b = b[columns].sort_values(["seed", "step"]).reset_index(drop=True)
    return a.shape == b.shape and np.allclose(a.to_numpy(float), b.to_numpy(float), equal_nan=True)


def _skip(issues: list[Issue], path: Path, reason: str, task: str | None = None) -> None:
    issues.append(
        _warn(
            Issue(
                SKIPPED_FILE,
                f"skipping {path}: {reason}",
                algo=published_label(path.parent.name),
                task=published_task_name(path.stem) if task is None else task,
                path=str(path),
            )
        )
    )
    return None


def _warn(issue: Issue) -> Issue:
    warnings.warn(issue.detail, ResultsWarning, stacklevel=3)
    return issue


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"
