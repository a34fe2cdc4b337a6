"""Reading the complete episodes out of a run's checkpoint (the world-model agents' EpisodeReplay).

A checkpoint (harness/training/checkpoint.py) holds ``agent["replay"] = EpisodeReplay.state_dict()``:
``{"buffer": ReplayBuffer.state_dict(), "num_episodes": n}``, the buffer's storage a
LazyTensorStorage of rows (obs, action, reward, terminated, episode) in algorithms/replay.py's layout.
The storage is restored with TorchRL's own ``load_state_dict``; if its round-robin writer wrapped
around, rows are put back in the order they were written so that each episode is contiguous again
(the oldest, partly overwritten one then comes out short and is dropped as incomplete).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage

from harness.data.errors import DatasetError

#: the files a run directory may hold its agent state in: a finished run's (see the report on
#: issue 13: harness.run deletes checkpoint.pt when a run ends) and an unfinished run's
STATE_FILES = ("final.pt", "checkpoint.pt")


def state_file(run: Path) -> Path | None:
    """The run's agent-state file, ``final.pt`` before ``checkpoint.pt``; None if it has neither."""
    for name in STATE_FILES:
        if (run / name).is_file():
            return run / name
    return None


def complete_episodes(path: Path, episode_length: int) -> tuple[TensorDict, int]:
    """The complete episodes in checkpoint ``path`` as ``[E, episode_length + 1]`` rows (obs,
    action, reward) and the env step the checkpoint was taken at."""
    from harness import checkpoint_file as ckpt_mod

    try:
        state = ckpt_mod.load(path)
    except Exception as exc:  # noqa: BLE001 (unpickling can raise anything)
        raise DatasetError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    replay = state.get("agent", {}).get("replay")
    if not (isinstance(replay, dict) and "buffer" in replay and "num_episodes" in replay):
        algo = state.get("run", {}).get("run", {}).get("algo", "?")
        raise DatasetError(
            f"{path}: holds no episode replay (algo {algo}); expected a world-model agent's "
            "EpisodeReplay under agent['replay']"
        )
    rows = _rows_in_write_order(replay["buffer"])
    L = episode_length + 1
    if rows is None:  # no episode finished yet
        empty = TensorDict(
            obs=torch.zeros(0, L, 0), action=torch.zeros(0, L, 0), reward=torch.zeros(0, L), batch_size=[0, L]
        )
        return empty, int(state["step"])
    _, counts = torch.unique_consecutive(rows["episode"], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    keep = starts[counts == L]
    index = keep.unsqueeze(1) + torch.arange(L)  # [E, L] row numbers of the complete episodes
    episodes = TensorDict(
        obs=rows["obs"][index],
        action=rows["action"][index],
        reward=rows["reward"][index].squeeze(-1),
        batch_size=[len(keep), L],
    )
    return episodes, int(state["step"])


def _rows_in_write_order(buffer_state: dict) -> TensorDict | None:
    """The stored rows, oldest first; None for an empty buffer."""
    if not buffer_state["_storage"].get("initialized") or not buffer_state["_storage"].get("_len"):
        return None
    storage = LazyTensorStorage(1)  # its size comes from the state loaded into it
    storage.load_state_dict(buffer_state["_storage"])
    rows = storage[: len(storage)]
    writer = buffer_state.get("_writer", {})
    written, cursor = int(writer.get("_write_count", len(rows))), int(writer.get("_cursor", 0))
    if written > len(rows) and 0 < cursor < len(rows):  # wrapped: the oldest rows start at the cursor
        rows = torch.cat([rows[cursor:], rows[:cursor]])
    return rows
