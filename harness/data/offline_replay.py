"""Sampling sub-trajectories from an offline multi-task dataset (TD-MPC2's chunks).

The storage is the dataset's memory-mapped rows (:mod:`harness.data.memmap_store`) behind TorchRL's
``TensorStorage``; TorchRL's ``SliceSampler`` draws slices of ``horizon + 1`` rows that never cross
an episode (``traj_key="episode"``, ``strict_length=True``), its trajectory boundaries computed once
(``cache_values=True``: the dataset never changes). A batch has the layout of
:meth:`algorithms.replay.EpisodeReplay.sample` plus each slice's task id, so a world-model agent
trains from either unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import TensorStorage

from algorithms.replay import slice_buffer, time_major
from harness.data.chunks import find_chunks, read_chunk
from harness.data.errors import DatasetError
from harness.data.layout import SuiteLayout, suite_layout
from harness.data.memmap_store import open_or_build

DATASET_JSON = "dataset.json"


class OfflineReplay:
    """Slices of ``horizon + 1`` rows from a fixed row storage (memory-mapped or in RAM).

    Rows follow algorithms/replay.py: row 0 of an episode is its first observation with NaN action
    and reward, row t > 0 holds obs_t and the action and reward that led to it, so a slice gives
    obs[0..H], action[1..H], reward[1..H] and row 0's NaN is never a transition's action.
    """

    def __init__(
        self,
        rows: TensorDictBase,
        layout: SuiteLayout,
        batch_size: int,
        horizon: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.rows = rows
        self.layout = layout
        self.batch_size = batch_size
        self.slice_len = horizon + 1
        self.device = torch.device(device)
        self.buffer = slice_buffer(TensorStorage(rows), batch_size, self.slice_len)  # as the online replay

    def __len__(self) -> int:
        return len(self.buffer)

    @property
    def num_episodes(self) -> int:
        return int(self.rows["episode"][-1]) + 1 if len(self.rows) else 0

    def sample(self) -> TensorDict:
        """-> obs [H+1, B, O], action [H, B, A], reward [H, B, 1], terminated [H, B, 1] (all False:
        TD-MPC2's tasks never terminate and its data record no termination), task [B] long."""
        batch = self.buffer.sample().reshape(self.batch_size, self.slice_len).to(self.device, non_blocking=True)
        out = time_major(batch)
        out["terminated"] = torch.zeros(self.slice_len - 1, self.batch_size, 1, dtype=torch.bool, device=self.device)
        out["task"] = batch["task"][:, 0].long()
        return out


def load_offline_replay(
    dataset_dir: str | Path,
    suite: str,
    batch_size: int,
    horizon: int,
    device: torch.device | str = "cpu",
    cache_root: str | Path | None = None,
) -> OfflineReplay:
    """The dataset in ``dataset_dir`` (``chunk_*.pt``) as an :class:`OfflineReplay` for ``suite``.

    Validates every chunk (raises :class:`DatasetError`, one line naming the file), converts them
    once into a memory-mapped storage under ``cache_root`` (default ``dataset_dir/.memmap``) and
    reuses it while the chunk files are unchanged."""
    dataset_dir = Path(dataset_dir)
    layout = suite_layout(suite)
    check_manifest(dataset_dir, layout.suite, layout.version)
    rows, _ = open_or_build(dataset_dir, layout, cache_root)
    return OfflineReplay(rows, layout, batch_size, horizon, device)


def check_dataset(dataset_dir: str | Path, suite: str, version: int) -> None:
    """What can be checked of a dataset without building the suite's envs, before a run starts:
    its manifest (if any) names ``suite`` at ``version``, and every chunk file is readable, with
    the keys, shapes and dtypes of TD-MPC2's layout (reads no rows); raises :class:`DatasetError`.
    The suite's dims and the rows themselves are checked when the storage is built."""
    dataset_dir = Path(dataset_dir)
    check_manifest(dataset_dir, suite, version)
    for path in find_chunks(dataset_dir):
        read_chunk(path)


def check_manifest(dataset_dir: Path, suite: str, version: int) -> None:
    """An exported dataset (harness.export) names its suite; TD-MPC2's published ones have none."""
    path = Path(dataset_dir) / DATASET_JSON
    if not path.exists():
        return
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(
            f"{path}: unreadable ({type(exc).__name__}); expected the JSON harness.export writes"
        ) from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: a JSON {type(meta).__name__}; expected the object harness.export writes")
    if meta.get("suite") != suite or meta.get("suite_version") != version:
        raise DatasetError(
            f"{path}: made for suite {meta.get('suite')!r} version {meta.get('suite_version')}; "
            f"expected {suite!r} version {version}"
        )
