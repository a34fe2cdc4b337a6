"""Read a runs directory (layout in ``docs/results-format.md``) into pandas tables.

* :func:`load_results` concatenates every ``eval.csv`` into one tidy table, one row per evaluation
  episode. A file that cannot be read, or lacks columns, is skipped with a :class:`ResultsWarning`
  naming it; the other files still load.
* :func:`load_statuses` reads every ``status.json`` (one per run) so that a report can list runs
  that failed, are still running, or have no evaluation yet.

Files of earlier attempts archived by the harness under ``seed_<n>/attempts/<k>/`` are ignored.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, ResultsWarning
from configs.results import EVAL_COLUMNS, RUN_KEYS, eval_table_damage, read_done_marker

#: Columns of ``eval.csv`` and of the table returned by :func:`load_results`, in this order
#: (defined once, in configs/results.py, for the harness that writes them and for us).
RESULT_COLUMNS: tuple[str, ...] = EVAL_COLUMNS

_TEXT_COLUMNS = ("suite", "task", "algo", "variant")
_INT_COLUMNS = ("seed", "step", "episode")
_FLOAT_COLUMNS = ("return", "length", "score", "success")

#: Columns of the table returned by :func:`load_statuses`.
STATUS_COLUMNS: tuple[str, ...] = (
    "run_dir",
    "suite",
    "task",
    "algo",
    "variant",
    "seed",
    "state",
    "step",
    "total_steps",
    "error",
    "updated",
    "eval_rows",
    "attempts",
)
#: A run started again after a failure first moves its earlier files into
#: ``seed_<n>/attempts/<k>/`` (harness/rundir.py). Those archived files are not part of the run's
#: results and are ignored here (``load_statuses`` counts them in its ``attempts`` column).
ARCHIVE_DIR = "attempts"


def check_runs_dir(runs_dir: str | Path) -> Path:
    """Return ``runs_dir`` as a Path, or raise :class:`AnalysisError` if it is not a directory."""
    path = Path(runs_dir)
    if not path.exists():
        raise AnalysisError(f"runs directory not found: {path}")
    if not path.is_dir():
        raise AnalysisError(f"runs directory is not a directory: {path}")
    return path


def load_results(runs_dir: str | Path, *, with_run: bool = False) -> pd.DataFrame:
    """Load every ``eval.csv`` under ``runs_dir`` (recursively) into one table.

    Returns a DataFrame with the columns :data:`RESULT_COLUMNS` (one row per evaluation
    episode), sorted by run, step and episode. ``success`` is NaN where a task has no success
    signal. Rows repeated across or within files (same run, step and episode) are kept once
    (the last read) with a warning.

    ``with_run=True`` adds a last column ``run``: the directory of the row's ``eval.csv``
    relative to ``runs_dir`` (as :func:`analysis.provenance.run_provenance` names runs), and rows
    count as repeated only within one directory. A multi-task run
    (``<suite>/multitask/<algo>/<variant>/seed_<n>/``) has rows for several tasks, each named
    in its ``task`` column; the directory ties them to the run's ``config.yaml``.

    Raises :class:`AnalysisError` if ``runs_dir`` is missing, holds no ``eval.csv``, or no file
    holds a readable evaluation row.
    """
    root = check_runs_dir(runs_dir)
    files = run_files(root, "eval.csv")
    if not files:
        raise AnalysisError(f"no eval.csv found under {root}")

    frames = []
    skipped = 0
    first_damage = ""
    for path in files:
        damage = _damage(path.parent)
        frame = _skip(path, damage) if damage else _read_eval_csv(path)
        if frame is None:
            skipped += 1
            first_damage = first_damage or (f"; {path}: {damage}" if damage else "")
        elif len(frame):
            if with_run:
                frame = frame.assign(run=run_name(path.parent, root))
            frames.append(frame)
    if not frames:
        detail = (
            f"{skipped} of {len(files)} eval.csv file(s) unreadable{first_damage}"
            if skipped
            else (f"{len(files)} eval.csv file(s) with a header only")
        )
        raise AnalysisError(f"no evaluation rows under {root} ({detail})")

    table = pd.concat(frames, ignore_index=True)
    key = [*RUN_KEYS, "step", "episode", *(["run"] if with_run else [])]
    duplicated = table.duplicated(subset=key, keep="last")
    if duplicated.any():
        warnings.warn(
            f"{int(duplicated.sum())} duplicated evaluation row(s) under {root} "
            "(same run, step and episode); kept the last one read",
            ResultsWarning,
            stacklevel=2,
        )
        table = table[~duplicated]
    return table.sort_values(key, kind="stable").reset_index(drop=True)


def _read_eval_csv(path: Path) -> pd.DataFrame | None:
    """One ``eval.csv`` with typed columns, or None (and a warning naming it) if it is unusable."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(size - 1, 0))
            if size and f.read(1) != b"\n":
                return _skip(path, "its last row is cut off (no line end; the file was truncated)")
        # All cells as text first, so that a suite/task/variant named e.g. "none" or "NA" stays a
        # string; numbers are converted below, where an empty cell means NaN.
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        return _skip(path, f"unreadable CSV ({type(exc).__name__}: {_first_line(exc)})")

    missing = [c for c in RESULT_COLUMNS if c not in raw.columns]
    if missing:
        return _skip(path, f"missing column(s) {', '.join(missing)}")

    table = pd.DataFrame(index=raw.index)
    for column in _TEXT_COLUMNS:
        table[column] = raw[column].astype(str)
    for column in (*_INT_COLUMNS, *_FLOAT_COLUMNS):
        text = raw[column].fillna("").str.strip()
        values = pd.to_numeric(text, errors="coerce")  # "" -> NaN
        bad = values.isna() & (text != "")
        if column in _INT_COLUMNS:
            bad |= ~np.isfinite(values) | (values != values.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # 1-based, after the header line
            return _skip(path, f"bad value {text[bad].iloc[0]!r} in column {column!r} (line {row})")
        table[column] = values.astype("int64" if column in _INT_COLUMNS else "float64")
    return table[list(RESULT_COLUMNS)]


def _damage(run_dir: Path) -> str | None:
    """A finished run's eval.csv that is not what its done.json promises (configs.results), with
    how to get it back; None if it is (or there is no done.json)."""
    damage = eval_table_damage(run_dir)
    if not damage:
        return None
    if (run_dir / "final.pt").is_file():
        return f"{damage}; relaunching the run (harness.run or its sweep) restores it from final.pt"
    return f"{damage}, and there is no final.pt to restore it from"


def _skip(path: Path, reason: str) -> None:
    warnings.warn(f"skipping {path}: {reason}", ResultsWarning, stacklevel=3)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def load_statuses(runs_dir: str | Path) -> pd.DataFrame:
    """One row per ``status.json`` under ``runs_dir``: the run's state and progress.

    Columns: :data:`STATUS_COLUMNS`. The run identity (suite, task, algo, variant, seed) comes
    from the directory layout ``<suite>/<task>/<algo>/<variant>/seed_<seed>`` (None where the
    path does not follow it). ``state`` is "running", "done" or "failed" as written by the
    harness, or "unreadable" if the file cannot be parsed (``error`` then says why); "done" whatever
    status.json says where the run's ``done.json`` (written last when it finished) is readable, with
    ``error`` naming a contradicting status.json or an eval.csv that is not what done.json promises.
    ``eval_rows`` counts the readable rows of the run's ``eval.csv`` (0 if there is none or it
    is unreadable); ``attempts`` counts the earlier attempts archived under ``attempts/``. An
    empty table (with these columns) if no run has a status file.
    """
    root = check_runs_dir(runs_dir)
    rows = []
    for path in run_files(root, "status.json"):
        run_dir = path.parent
        row = dict(zip(RUN_KEYS, identity_from_path(run_dir, root)))
        row["run_dir"] = str(run_dir)
        try:
            status = json.loads(path.read_text())
            if not isinstance(status, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            status = {"state": "unreadable", "error": f"{type(exc).__name__}: {_first_line(exc)}"}
        row["state"] = str(status.get("state", "unknown"))
        row["step"] = status.get("step")
        row["total_steps"] = status.get("total_steps")
        row["error"] = status.get("error")
        if read_done_marker(run_dir) is not None:  # written last when the run finished: it wins
            if row["state"] == "unreadable":
                row["error"] = f"status.json unreadable ({row['error']}); done.json says the run finished"
            elif row["state"] != "done":
                row["error"] = f"done.json says the run finished; status.json said {row['state']}"
            row["state"] = "done"
            row["error"] = _damage(run_dir) or row["error"]
        row["updated"] = status.get("updated")
        row["eval_rows"] = _count_eval_rows(run_dir / "eval.csv")
        archive = run_dir / ARCHIVE_DIR
        row["attempts"] = sum(1 for p in archive.iterdir() if p.is_dir()) if archive.is_dir() else 0
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    for column in ("seed", "step", "total_steps"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    table[["eval_rows", "attempts"]] = table[["eval_rows", "attempts"]].astype("int64")
    return table


def run_files(root: Path, name: str) -> list[Path]:
    """Every file called ``name`` under ``root``, sorted, except those in archived attempts."""
    return sorted(p for p in root.glob(f"**/{name}") if not _is_archived(p, root))


def _is_archived(path: Path, root: Path) -> bool:
    """True for ``.../seed_<n>/attempts/<k>/...`` below ``root`` (``root`` itself may be a run)."""
    relative = path.relative_to(root).parts[:-1]
    parents = (root.name, *relative)
    return any(part == ARCHIVE_DIR and parents[i].startswith("seed_") for i, part in enumerate(relative))


def identity_from_path(run_dir: Path, root: Path) -> tuple:
    """(suite, task, algo, variant, seed) from ``.../<suite>/<task>/<algo>/<variant>/seed_<n>``."""
    parts = run_dir.resolve().relative_to(root.resolve()).parts
    if len(parts) < 5:
        parts = run_dir.resolve().parts
    if len(parts) >= 5 and parts[-1].startswith("seed_") and parts[-1][5:].lstrip("-").isdigit():
        suite, task, algo, variant, seed = parts[-5:]
        return suite, task, algo, variant, int(seed[5:])
    return None, None, None, None, None


def run_name(run_dir: Path, root: Path) -> str:
    """A run directory relative to ``root`` (``.`` for ``root`` itself), as reports name runs."""
    try:
        return str(run_dir.relative_to(root)) or "."
    except ValueError:
        return str(run_dir)


def _count_eval_rows(path: Path) -> int:
    if not path.is_file() or eval_table_damage(path.parent):  # load_results skips a damaged one
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        frame = _read_eval_csv(path)
    return 0 if frame is None else len(frame)
