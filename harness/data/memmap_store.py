"""Convert a dataset's chunks once into one memory-mapped row storage, and reuse it afterwards.

The storage is a memory-mapped TensorDict of shape ``[rows]`` (tensordict's ``memmap_`` /
``make_memmap`` / ``load_memmap``) with ``obs`` [N, max_obs], ``action`` [N, max_act], ``reward``
[N, 1], ``task`` [N] and ``episode`` [N] (a global episode id per row, SliceSampler's ``traj_key``).
Nothing of it is held in RAM: a training batch reads only its own rows.

It lives under ``<cache_root>/<suite>-<fingerprint>/``; the fingerprint covers the chunk files'
names, sizes and modification times, the suite (name, version) and this storage's format, so a
changed dataset or suite gets a new storage and an unchanged one is opened, not rebuilt. It is
written under a temporary name and renamed when complete, so an interrupted conversion is never
taken for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from tensordict import TensorDict

from harness.data.chunks import Chunk, chunk_rows, find_chunks, open_chunk
from harness.data.errors import DatasetError
from harness.data.layout import SuiteLayout

STORE_FORMAT = 1
SOURCE_FILE = "source.json"
#: bytes of source rows converted per step: bounds the RAM a conversion needs (a TD-MPC2 chunk
#: is several GB); the copy itself is tensor ops on whole blocks.
BLOCK_BYTES = 64 << 20


def fingerprint(chunks: list[Path], layout: SuiteLayout) -> dict:
    """What the storage was made from: the chunk files (name, size, mtime) and the suite."""
    files = []
    for p in chunks:
        st = p.stat()
        files.append({"name": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {"format": STORE_FORMAT, "suite": layout.suite, "suite_version": layout.version, "files": files}


def _key(source: dict) -> str:
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_root(dataset_dir: Path) -> Path:
    return Path(dataset_dir) / ".memmap"


def open_or_build(dataset_dir: Path, layout: SuiteLayout, cache_root: Path | None = None) -> tuple[TensorDict, bool]:
    """The dataset's memory-mapped rows and whether they were built now (False: reused)."""
    chunks = find_chunks(dataset_dir)
    source = fingerprint(chunks, layout)
    root = Path(cache_root) if cache_root is not None else default_cache_root(dataset_dir)
    final = root / f"{layout.suite}-{_key(source)}"
    marker = final / SOURCE_FILE
    if marker.exists() and json.loads(marker.read_text()) == source:
        return TensorDict.load_memmap(final / "rows"), False
    opened = [open_chunk(p, layout) for p in chunks]  # validate every file before writing anything
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        rows = _convert(opened, layout, tmp / "rows")
        (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=1) + "\n")
        if final.exists():  # a stale or half-removed one under the same key
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    del rows  # reopen from its final place (the memmap files were renamed with the directory)
    return TensorDict.load_memmap(final / "rows"), True


def _convert(chunks: list[Chunk], layout: SuiteLayout, prefix: Path) -> TensorDict:
    total = sum(c.episodes * c.rows_per_episode for c in chunks)
    if total == 0:
        raise DatasetError(f"{chunks[0].path.parent}: the dataset holds no episodes")
    rows = TensorDict(batch_size=[total]).memmap_(prefix=prefix)
    rows.make_memmap("obs", (total, layout.max_obs_dim), dtype=torch.float32)
    rows.make_memmap("action", (total, layout.max_action_dim), dtype=torch.float32)
    rows.make_memmap("reward", (total, 1), dtype=torch.float32)
    rows.make_memmap("task", (total,), dtype=torch.int64)
    rows.make_memmap("episode", (total,), dtype=torch.int64)
    row, episode = 0, 0
    for chunk in chunks:
        L = chunk.rows_per_episode
        per_block = max(1, BLOCK_BYTES // (L * 4 * (layout.max_obs_dim + layout.max_action_dim + 5)))
        for start in range(0, chunk.episodes, per_block):
            stop = min(start + per_block, chunk.episodes)
            block = chunk_rows(chunk, start, stop, episode, layout)
            rows[row : row + block.numel()] = block  # written in place into the memory-mapped files
            row += block.numel()
            episode += stop - start
    return rows
