"""The results contract between the harness (which writes run directories) and the analysis
(which reads them): the columns of ``eval.csv``, in order (docs/results-format.md). Pure Python,
so that both may import it (the analysis imports no torch and no harness)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Columns of every run's ``eval.csv`` (one row per evaluation episode), in this order.
EVAL_COLUMNS: tuple[str, ...] = (
    "suite",
    "task",
    "algo",
    "variant",
    "seed",
    "step",
    "episode",
    "return",
    "length",
    "score",
    "success",
)
#: The columns that identify one run (one directory ``<suite>/<task>/<algo>/<variant>/seed_<seed>``).
RUN_KEYS: tuple[str, ...] = ("suite", "task", "algo", "variant", "seed")


@dataclass(frozen=True)
class RunMode:
    """How a training mode's runs read in the results (``run.mode`` of a run's ``config.yaml``).

    The harness's modes (harness/modes/) each name one of these; the analysis reads only this."""

    label: str  # what the report adds to the algorithm's label: ``mbdpo (offline)``
    multitask: bool  # one run over every task of its suite: task directory MULTITASK_DIR, eval.csv names each task
    from_checkpoint: bool  # starts from ``run.checkpoint``'s weights; the report pairs it with the from-scratch run


#: ``run.mode`` -> how its runs read; a config.yaml without ``run.mode`` is DEFAULT_MODE's
RUN_MODES: dict[str, RunMode] = {
    "online": RunMode(label="", multitask=False, from_checkpoint=False),
    "offline": RunMode(label=" (offline)", multitask=True, from_checkpoint=False),
    "finetune": RunMode(label=" (finetuned)", multitask=False, from_checkpoint=True),
}
DEFAULT_MODE = "online"
#: the task component of a multi-task run's directory: ``<suite>/multitask/<algo>/<variant>/seed_<n>``
MULTITASK_DIR = "multitask"


# --- what a finished run's done.json promises -------------------------------------------------------
#: a run's evaluation table and its done marker (written last when the run finished: {"eval_rows",
#: "eval_sha256", "at"} and, since issue 26, "final_bytes": the size final.pt was written with)
EVAL_FILE = "eval.csv"
DONE_FILE = "done.json"


def read_done_marker(run_dir: str | Path) -> dict[str, Any] | None:
    """A run directory's done.json as a dict, or None if there is none or it is unreadable."""
    try:
        marker = json.loads((Path(run_dir) / DONE_FILE).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return marker if isinstance(marker, dict) else None


def eval_table_rows(data: bytes) -> int:
    """The number of whole rows of an eval.csv (lines after the header, as done.json counts them)."""
    return max(data.count(b"\n") - 1, 0)


def eval_table_damage(run_dir: str | Path, marker: dict[str, Any] | None = None) -> str | None:
    """What is wrong with a finished run's eval.csv by what its done.json promises (row count and
    sha256), in one line; None if it matches, or if there is no done.json (or one without a promise).

    ``eval.csv is damaged (12 of 30 rows; done.json's sha256 differs)``, ``eval.csv is missing
    (done.json promises 30 rows)``."""
    marker = read_done_marker(run_dir) if marker is None else marker
    if not marker or not isinstance(marker.get("eval_sha256"), str):
        return None
    promised, digest = marker.get("eval_rows"), marker["eval_sha256"]
    rows = f"{promised} rows" if isinstance(promised, int) and not isinstance(promised, bool) else "its rows"
    path = Path(run_dir) / EVAL_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None if not digest else f"{EVAL_FILE} is missing ({DONE_FILE} promises {rows})"
    except OSError as exc:
        return f"{EVAL_FILE} is unreadable ({type(exc).__name__}: {exc.strerror or exc})"
    if not digest or hashlib.sha256(data).hexdigest() == digest:
        return None
    have = eval_table_rows(data)
    cut = "" if data.endswith(b"\n") or not data else ", the last one cut off"
    of = f"{have} of {promised} rows" if rows != "its rows" else f"{have} rows"
    return f"{EVAL_FILE} is damaged ({of}{cut}; {DONE_FILE}'s sha256 differs)"
