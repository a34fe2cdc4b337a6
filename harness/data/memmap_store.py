"""Convert a dataset's chunks once into one memory-mapped row storage, and reuse it afterwards.

The storage is a memory-mapped TensorDict of shape ``[rows]`` (tensordict's ``memmap_`` /
``make_memmap`` / ``load_memmap``) with ``obs`` [N, max_obs], ``action`` [N, max_act], ``reward``
[N, 1], ``task`` [N] and ``episode`` [N] (a global episode id per row, SliceSampler's ``traj_key``).
Nothing of it is held in RAM: a training batch reads only its own rows.

It lives under ``<cache_root>/<suite>-<fingerprint>/``; the fingerprint covers the chunk files'
names, sizes and modification times, the suite (name, version) and this storage's format, so a
changed dataset or suite gets a new storage and an unchanged one is opened, not rebuilt. It is
written under a temporary name (harness.data.tmpdirs: locked while written; one a killed conversion
left is removed by the next) and renamed when complete, so an interrupted conversion is never
taken for a finished one.

A full disk is an ``OSError`` (ENOSPC) before anything is written, never a bus error while writing
through the memory map: the free space is checked first (:func:`check_free_space`) and every file's
blocks are allocated (``posix_fallocate``) before the copy; whatever fails, nothing is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from tensordict import TensorDict

from harness.data import tmpdirs
from harness.data.chunks import Chunk, chunk_rows, find_chunks, open_chunk
from harness.data.errors import DatasetError
from harness.data.layout import SuiteLayout

STORE_FORMAT = 1
SOURCE_FILE = "source.json"
#: bytes of source rows converted per step: bounds the RAM a conversion needs (a TD-MPC2 chunk
#: is several GB); the copy itself is tensor ops on whole blocks.
BLOCK_BYTES = 64 << 20
#: bytes beyond the rows' own that a storage needs (tensordict's meta.json files, source.json)
METADATA_BYTES = 1 << 20


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
    total = sum(c.episodes * c.rows_per_episode for c in opened)
    if total == 0:
        raise DatasetError(f"{dataset_dir}: the dataset holds no episodes")
    check_free_space(root, storage_bytes(total, layout))
    made_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        tmpdirs.remove_stale(root, final.name)
        with tmpdirs.locked_tmpdir(root, final.name) as tmp:
            rows = _convert(opened, layout, tmp / "rows", total)
            (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=1) + "\n")
            tmpdirs.release(tmp)
            if final.exists():  # a stale or half-removed one under the same key
                shutil.rmtree(final)
            os.replace(tmp, final)
    except BaseException as exc:
        if made_root:
            with contextlib.suppress(OSError):
                root.rmdir()  # only if empty
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):  # name the storage, not a tmp file
            raise OSError(exc.errno, exc.strerror, str(root)) from exc
        raise
    del rows  # reopen from its final place (the memmap files were renamed with the directory)
    return TensorDict.load_memmap(final / "rows"), True


def storage_bytes(total: int, layout: SuiteLayout) -> int:
    """The bytes of a storage of ``total`` rows: float32 obs, action and reward, int64 task and episode."""
    return total * (4 * (layout.max_obs_dim + layout.max_action_dim + 1) + 8 + 8) + METADATA_BYTES


def check_free_space(root: Path, needed: int) -> None:
    """``OSError(ENOSPC)`` naming ``root`` unless its file system has ``needed`` bytes free."""
    probe = Path(root)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    st = os.statvfs(probe)
    if st.f_bavail * st.f_frsize < needed:
        free = st.f_bavail * st.f_frsize
        why = f"No space left on device ({needed >> 20} MiB needed, {free >> 20} MiB free)"
        raise OSError(errno.ENOSPC, why, str(root))


def _allocate(path: Path, size: int) -> None:
    """Give the file its blocks now: writing through a memory map into a sparse file on a full disk
    is a SIGBUS; allocating is an OSError naming the file."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot: the free-space check stands
            return
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)


def _convert(chunks: list[Chunk], layout: SuiteLayout, prefix: Path, total: int) -> TensorDict:
    rows = TensorDict(batch_size=[total]).memmap_(prefix=prefix)
    for key, shape, dtype in (
        ("obs", (total, layout.max_obs_dim), torch.float32),
        ("action", (total, layout.max_action_dim), torch.float32),
        ("reward", (total, 1), torch.float32),
        ("task", (total,), torch.int64),
        ("episode", (total,), torch.int64),
    ):
        tensor = rows.make_memmap(key, shape, dtype=dtype)
        _allocate(Path(tensor.filename), tensor.numel() * tensor.element_size())
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
