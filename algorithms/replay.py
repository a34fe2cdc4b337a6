"""Episode replay for world-model training: TorchRL storage + SliceSampler over whole episodes."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import LazyMemmapStorage, LazyTensorStorage, ReplayBuffer, SliceSampler

#: where the replay keeps its rows: ``memory`` (a tensor storage, both references'), ``memmap``
#: (memory-mapped files in a temporary directory under $TMPDIR, TorchRL's LazyMemmapStorage), or
#: ``auto``: memory when the full buffer takes at most MEMORY_SHARE of the memory available when
#: the agent is built, else memmap (a 1M-step pixel buffer is 37 GB: docs/fidelity.md)
REPLAY_STORAGES = ("auto", "memory", "memmap")
MEMORY_SHARE = 0.8


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def replay_row_bytes(spec) -> int:
    """Bytes of one replay row for an :class:`~algorithms.base.EnvSpec`: the observation (uint8
    frames: a byte a value; states: float32), the float32 action and reward, the terminated flag and
    the int64 episode id. Obs=rgb (9 x 64 x 64), 6 actions: 36,901 B."""
    obs = spec.obs_dim * (1 if spec.pixels else 4)
    return obs + 4 * spec.action_dim + 4 + 1 + 8


def storage_kind(storage: str, capacity: int, row_bytes: int) -> str:
    """``memory`` or ``memmap`` for a ``storage`` setting (REPLAY_STORAGES) and a buffer of
    ``capacity`` rows of ``row_bytes`` bytes."""
    if storage not in REPLAY_STORAGES:
        raise ValueError(f"unknown buffer_storage {storage!r}; valid: {', '.join(REPLAY_STORAGES)}")
    if storage != "auto":
        return storage
    free = available_memory()
    return "memmap" if free is not None and capacity * row_bytes > MEMORY_SHARE * free else "memory"


def slice_buffer(storage, batch_size: int, slice_len: int) -> ReplayBuffer:
    """TorchRL's ReplayBuffer sampling ``batch_size`` slices of ``slice_len`` rows within episodes
    (rows carry an ``episode`` id) from ``storage``; the pitfalls are those named below."""
    sampler = SliceSampler(
        slice_len=slice_len, traj_key="episode", truncated_key=None, strict_length=True, cache_values=True
    )
    return ReplayBuffer(storage=storage, sampler=sampler, batch_size=batch_size * slice_len)


def time_major(slices: TensorDictBase) -> TensorDict:
    """Sampled slices [B, H+1] of rows in :class:`EpisodeReplay`'s layout -> what an update takes:
    obs [H+1, B, O] and, of action, reward and terminated, those the rows have from row 1 on as
    [H, B, ...] (row 0's NaN action and reward belong to no transition of the slice)."""
    out = TensorDict(obs=slices["obs"].transpose(0, 1).contiguous(), batch_size=[])
    for key in ("action", "reward", "terminated"):
        if key in slices.keys():
            out[key] = slices[key][:, 1:].transpose(0, 1).contiguous()
    return out


class EpisodeReplay:
    """Stores finished episodes and samples sub-trajectories of ``horizon + 1`` observations.

    Layout (as TD-MPC2 stores it): an episode of L steps is L+1 rows; row 0 holds the first
    observation and NaN action/reward, row t>0 holds obs_t with the action and reward that led to it.
    A sampled slice is therefore obs[0..H], action[1..H], reward[1..H].

    SliceSampler pitfalls handled here: ``traj_key="episode"`` (an id per row) so that a slice never
    crosses an episode boundary, ``strict_length=True`` so that no short slice is returned, and
    ``truncated_key=None`` so the sampler does not write a truncation flag into our batch.
    Episodes are added whole, so trajectory boundaries are recomputed once per episode
    (``cache_values=True``), not at every sample.
    """

    def __init__(
        self,
        capacity: int,
        batch_size: int,
        horizon: int,
        device: torch.device,
        *,
        storage: str = "memory",
        row_bytes: int = 0,
    ) -> None:
        """``storage``: one of REPLAY_STORAGES (``auto`` needs ``row_bytes``, a row's size)."""
        self.batch_size = batch_size
        self.slice_len = horizon + 1
        self.device = device
        self.num_episodes = 0
        self.capacity = capacity
        self.storage_kind = storage_kind(storage, capacity, row_bytes)
        self.scratch: str | None = None  # memmap: the directory of its files, removed with the replay
        if self.storage_kind == "memmap":
            self.scratch = tempfile.mkdtemp(prefix="mbdpo-bench-replay-")
            weakref.finalize(self, shutil.rmtree, self.scratch, ignore_errors=True)
            if storage == "auto":
                print(
                    f"[note] the replay's {capacity} rows of {row_bytes} B need {capacity * row_bytes / 1e9:.1f} GB, "
                    f"more than {MEMORY_SHARE:.0%} of the memory available: memory-mapped under {self.scratch} "
                    "(algo.buffer_storage=memmap; set TMPDIR for another disk)",
                    flush=True,
                )
        self.buffer = self.new_buffer()

    def new_buffer(self) -> ReplayBuffer:
        if self.scratch is not None:
            storage = LazyMemmapStorage(self.capacity, scratch_dir=self.scratch, device="cpu")
        else:
            storage = LazyTensorStorage(self.capacity, device="cpu")
        return slice_buffer(storage, self.batch_size, self.slice_len)

    def __len__(self) -> int:
        return len(self.buffer)

    def add_episode(self, episode: TensorDict) -> None:
        """episode: [L+1] with keys obs, action, reward, terminated (row layout above)."""
        episode = episode.clone(False)
        episode["episode"] = torch.full((episode.shape[0],), self.num_episodes, dtype=torch.int64)
        self.buffer.extend(episode.to("cpu"))
        self.num_episodes += 1

    def sample(self) -> TensorDict:
        """-> TensorDict with obs [H+1, B, O], action [H, B, A], reward [H, B, 1], terminated [H, B, 1]."""
        batch = self.buffer.sample().reshape(self.batch_size, self.slice_len)
        return time_major(batch.to(self.device, non_blocking=True))

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict(), "num_episodes": self.num_episodes}

    def load_state_dict(self, state: dict) -> None:
        if self.scratch is not None:  # memmap: the files first (one row written), then the saved rows into them
            rows = state["buffer"]["_storage"]["_storage"]
            if rows is not None:
                self.buffer = self.new_buffer()
                rows = rows if isinstance(rows, TensorDictBase) else TensorDict(rows, batch_size=[self.capacity])
                # the row the last write ended on, through the storage (not extend: the sampler must not
                # cache a one-row buffer): the sampler reads an episode end at the storage's last write
                last = (int(state["buffer"]["_writer"]["_cursor"]) - 1) % self.capacity
                self.buffer.storage.set(last, rows[last].clone())
        self.buffer.load_state_dict(state["buffer"])
        self.num_episodes = state["num_episodes"]
