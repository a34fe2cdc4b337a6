"""Episode replay for world-model training: TorchRL storage + SliceSampler over whole episodes."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import LazyTensorStorage, ReplayBuffer, SliceSampler


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

    def __init__(self, capacity: int, batch_size: int, horizon: int, device: torch.device) -> None:
        self.batch_size = batch_size
        self.slice_len = horizon + 1
        self.device = device
        self.num_episodes = 0
        self.buffer = slice_buffer(LazyTensorStorage(capacity, device="cpu"), batch_size, self.slice_len)

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
        self.buffer.load_state_dict(state["buffer"])
        self.num_episodes = state["num_episodes"]
