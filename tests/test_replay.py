"""The episode replay: slices never cross an episode boundary."""

import torch
from tensordict import TensorDict

from algorithms.replay import EpisodeReplay


def _episode(ep: int, length: int) -> TensorDict:
    t = torch.arange(length + 1, dtype=torch.float32)
    return TensorDict(
        obs=torch.stack([torch.full_like(t, ep), t], -1),  # (episode id, time)
        action=t.unsqueeze(-1),  # action stored at row t led to obs t
        reward=(ep * 1000 + t).unsqueeze(-1),
        terminated=torch.zeros(length + 1, 1, dtype=torch.bool),
        batch_size=[length + 1],
    )


def test_slices_never_cross_episodes():
    torch.manual_seed(0)
    replay = EpisodeReplay(capacity=10_000, batch_size=256, horizon=3, device=torch.device("cpu"))
    for ep, length in enumerate([5, 3, 9, 4, 20, 3]):  # short episodes make crossings likely
        replay.add_episode(_episode(ep, length))
    for _ in range(50):
        batch = replay.sample()
        obs, action, reward = batch["obs"], batch["action"], batch["reward"]
        assert obs.shape == (4, 256, 2) and action.shape == (3, 256, 1) and reward.shape == (3, 256, 1)
        episode_ids = obs[..., 0]
        assert (episode_ids == episode_ids[0]).all(), "a slice crossed an episode boundary"
        times = obs[..., 1]
        assert (times[1:] - times[:-1] == 1).all()
        # the action and reward of step t lead from obs t to obs t+1 (row layout of the buffer)
        assert torch.equal(action[..., 0], times[1:])
        assert torch.equal(reward[..., 0], episode_ids[1:] * 1000 + times[1:])
        assert not torch.isnan(action).any()


def test_replay_state_round_trip():
    replay = EpisodeReplay(capacity=1000, batch_size=8, horizon=3, device=torch.device("cpu"))
    replay.add_episode(_episode(0, 10))
    state = replay.state_dict()
    other = EpisodeReplay(capacity=1000, batch_size=8, horizon=3, device=torch.device("cpu"))
    other.load_state_dict(state)
    assert len(other) == len(replay) == 11 and other.num_episodes == 1
    torch.manual_seed(3)
    a = replay.sample()
    torch.manual_seed(3)
    b = other.sample()
    assert torch.equal(a["obs"], b["obs"])
