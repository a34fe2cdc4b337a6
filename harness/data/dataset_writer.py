"""Export runs' replay buffers as a dataset in TD-MPC2's layout (``python -m harness.export``).

Each run directory (found by its ``config.yaml`` plus ``final.pt`` or ``checkpoint.pt``; archived
attempts under ``attempts/`` are not runs) contributes the complete episodes of its replay buffer.
They are written as ``chunk_<i>.pt`` files, each a TensorDict ``[episodes, L]`` with ``obs``
zero-padded to the suite's largest obs dim, ``action`` to its largest action dim, ``reward``
``[E, L]``, ``task`` (the run's task's index in the suite) and NaN action and reward in row 0; plus
``dataset.json`` (suite, tasks, counts per task, missing tasks, source runs and their commits).
L - 1 is the suite's shortest episode (:attr:`SuiteLayout.segment_length`); longer episodes are
cut into consecutive pieces, as TD-MPC2's mt80 data are.

Everything is checked before anything is written, and the dataset is written under a temporary
name (``.<out>.<random>.tmp``, locked while it is written: harness.data.tmpdirs) and renamed into
place, so a refused or failed export (a full disk: an ``OSError``) leaves nothing behind; one killed
with ``kill -9`` leaves its temporary directory, which the next export to the same place removes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tensordict import TensorDict

from harness.checkpoint_file import atomic_torch_save
from harness.cli import output_dir_problem
from harness.data import tmpdirs
from harness.data.chunks import CHUNK_GLOB
from harness.data.errors import DatasetError
from harness.data.layout import SuiteLayout, suite_layout
from harness.data.offline_replay import DATASET_JSON
from harness.data.run_replay import complete_episodes, state_file
from harness.rundir import atomic_write_text

EXPORT_FORMAT = "tdmpc2-chunks"
EXPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunSource:
    path: Path
    task: str
    state: Path  # final.pt or checkpoint.pt
    commit: str


def find_runs(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Run directories under ``paths`` (each a run directory or a directory holding some):
    ``(with an agent-state file, without one)``."""
    found: dict[Path, None] = {}
    for p in map(Path, paths):
        if not p.exists():
            raise DatasetError(f"{p}: no such file or directory; expected a run directory or a runs/sweep directory")
        configs = [p / "config.yaml"] if (p / "config.yaml").is_file() else sorted(p.rglob("config.yaml"))
        for cfg in configs:
            if "attempts" not in cfg.relative_to(p).parts[:-1]:
                run = cfg.parent.resolve()
                if run in found:
                    warnings.warn(f"{cfg.parent}: given twice (by {p} too); exported once", stacklevel=2)
                found[run] = None
    runs = list(found)
    return [r for r in runs if state_file(r)], [r for r in runs if not state_file(r)]


def _source(run: Path, layout: SuiteLayout) -> RunSource:
    from analysis.provenance import commit_from_config

    path = run / "config.yaml"
    try:
        config = yaml.safe_load(path.read_text())
        task = config["run"]["task"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: unreadable run config ({type(exc).__name__}); expected run.task") from None
    if task not in layout.tasks:
        raise DatasetError(f"{path}: task {task!r} is not in suite {layout.suite} ({', '.join(layout.tasks)})")
    obs = config["run"].get("obs", "state")
    if obs != "state":  # the dataset layout (docs/method.md section 10) holds state vectors
        raise DatasetError(f"{path}: a run from obs={obs} observations; datasets hold obs=state runs only")
    return RunSource(run, task, state_file(run), commit_from_config(config))


def _pieces(episodes: TensorDict, task_id: int, layout: SuiteLayout) -> TensorDict:
    """``[E, T+1]`` episodes -> ``[E * T/S, S+1]`` padded pieces in TD-MPC2's layout (S: segment length)."""
    E, rows = episodes.batch_size
    S = layout.segment_length
    index = (torch.arange(0, rows - 1, S).unsqueeze(1) + torch.arange(S + 1)).reshape(-1)  # [(T/S) * (S+1)]
    n = (rows - 1) // S
    obs = episodes["obs"][:, index].reshape(E * n, S + 1, -1)
    action = episodes["action"][:, index].reshape(E * n, S + 1, -1)
    reward = episodes["reward"][:, index].reshape(E * n, S + 1)
    obs = torch.nn.functional.pad(obs, (0, layout.max_obs_dim - obs.shape[-1]))
    action = torch.nn.functional.pad(action, (0, layout.max_action_dim - action.shape[-1]))
    action[:, 0] = float("nan")  # row 0: the piece's first observation, no transition leads to it
    reward[:, 0] = float("nan")
    task = torch.full((E * n, S + 1), task_id, dtype=torch.int64)
    return TensorDict(obs=obs, action=action, reward=reward, task=task, batch_size=[E * n, S + 1])


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        holds = out.is_dir() and (any(out.glob(CHUNK_GLOB)) or (out / DATASET_JSON).exists())
        what = "already holds a dataset" if holds else "is not an empty directory"
        raise DatasetError(f"{out}: {what}; expected a new or empty output directory")
    problem = output_dir_problem(out)
    if problem:
        raise DatasetError(f"{out}: {problem}; expected a new or empty output directory")


def export_runs(runs: Sequence[str | Path], suite: str, out: str | Path, episodes_per_chunk: int = 10_000) -> dict:
    """Write the complete episodes of ``runs`` as a dataset of ``suite`` into ``out``; returns the
    manifest written to ``out/dataset.json``. Raises :class:`DatasetError` (nothing written), or
    ``OSError`` when a write fails (a full disk: ENOSPC, naming the file; nothing left behind)."""
    out = Path(out)
    if isinstance(episodes_per_chunk, bool) or not isinstance(episodes_per_chunk, int) or episodes_per_chunk < 1:
        raise DatasetError(f"episodes_per_chunk={episodes_per_chunk!r}: expected a whole number >= 1")
    layout = suite_layout(suite)
    _check_out(out)
    with_state, without = find_runs(runs)
    if not with_state:
        extra = f" ({len(without)} run(s) have neither: finished runs delete checkpoint.pt)" if without else ""
        raise DatasetError(
            f"{', '.join(map(str, runs))}: no runs found; expected run directories with config.yaml "
            f"and final.pt or checkpoint.pt{extra}"
        )
    for run in without:
        warnings.warn(f"{run}: no final.pt or checkpoint.pt; skipped", stacklevel=2)
    sources = [_source(r, layout) for r in with_state]  # every run's task is checked before any is read
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in tmpdirs.remove_stale(out.parent, out.name):
        warnings.warn(f"removed {stale}, left by an export that did not finish", stacklevel=2)
    with tmpdirs.locked_tmpdir(out.parent, out.name) as tmp:
        manifest = _write(sources, layout, tmp, episodes_per_chunk)
        tmpdirs.release(tmp)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    return manifest


def _write(sources: list[RunSource], layout: SuiteLayout, tmp: Path, episodes_per_chunk: int) -> dict:
    S = layout.segment_length
    per_task = {t: 0 for t in layout.tasks}
    chunks: list[dict] = []
    pending: list[TensorDict] = []
    source_rows = []

    def flush(final: bool) -> None:
        while pending and (final or sum(p.batch_size[0] for p in pending) >= episodes_per_chunk):
            data = torch.cat(pending)
            head, rest = data[:episodes_per_chunk], data[episodes_per_chunk:]
            name = f"chunk_{len(chunks)}.pt"
            atomic_torch_save(head, tmp / name)  # TD-MPC2 saved TensorDicts with torch.save; a full disk: OSError
            chunks.append({"file": name, "episodes": int(head.batch_size[0])})
            pending[:] = [rest] if rest.batch_size[0] else []

    for src in sources:
        length = layout.dims[layout.task_id(src.task)].episode_length
        episodes, step = complete_episodes(src.state, length)
        pieces = _pieces(episodes, layout.task_id(src.task), layout)
        per_task[src.task] += pieces.batch_size[0]
        source_rows.append(
            {
                "run": str(src.path),
                "task": src.task,
                "state_file": src.state.name,
                "step": step,
                "commit": src.commit,
                "episodes": int(episodes.batch_size[0]),
            }
        )
        if pieces.batch_size[0]:
            pending.append(pieces)
        flush(final=False)
    flush(final=True)
    total = sum(per_task.values())
    manifest = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "suite": layout.suite,
        "suite_version": layout.version,
        "tasks": list(layout.tasks),
        "rows_per_episode": S + 1,
        "obs_dim": layout.max_obs_dim,
        "action_dim": layout.max_action_dim,
        "episodes": total,
        "transitions": total * S,
        "per_task": {t: {"episodes": n, "transitions": n * S} for t, n in per_task.items()},
        "missing_tasks": [t for t, n in per_task.items() if n == 0],
        "chunks": chunks,
        "sources": source_rows,
    }
    atomic_write_text(tmp / DATASET_JSON, json.dumps(manifest, indent=1) + "\n")
    return manifest
