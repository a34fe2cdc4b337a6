"""The offline dataset layer: TD-MPC2's chunk files validated, memory-mapped once, sampled by slices."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from tensordict import MemoryMappedTensor, TensorDict

from algorithms.replay import EpisodeReplay
from harness.data import DatasetError, SuiteLayout, TaskDims, load_offline_replay, suite_layout
from harness.data.chunks import open_chunk
from harness.data.memmap_store import open_or_build

SUITE = "mt-smoke"  # cartpole-balance (5/1), reacher-easy (6/2), cheetah-run (17/6); 500-step episodes
L = 501


def tdmpc2_chunk(
    episodes: int, first: int = 0, obs_dim: int = 6, action_dim: int = 2, rows: int = L, tasks: tuple[int, ...] = (0, 1)
) -> TensorDict:
    """A chunk in TD-MPC2's exact layout: obs[e, t] = (episode marker, t, ...), action[e, t, 0] = t,
    reward[e, t] = 1000 * marker + t, NaN action and reward in row 0, int64 task ids."""
    t = torch.arange(rows, dtype=torch.float32)
    marker = torch.arange(first, first + episodes, dtype=torch.float32)
    obs = torch.ones(episodes, rows, obs_dim)
    obs[..., 0] = marker[:, None]
    obs[..., 1] = t
    action = torch.full((episodes, rows, action_dim), 0.5)
    action[..., 0] = t
    reward = 1000 * marker[:, None] + t
    action[:, 0] = float("nan")
    reward[:, 0] = float("nan")
    task = torch.tensor([tasks[(first + e) % len(tasks)] for e in range(episodes)])[:, None].expand(episodes, rows)
    return TensorDict(obs=obs, action=action, reward=reward, task=task.contiguous(), batch_size=[episodes, rows])


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    torch.save(tdmpc2_chunk(5, first=0), tmp_path / "chunk_0.pt")
    torch.save(tdmpc2_chunk(4, first=5), tmp_path / "chunk_1.pt")
    return tmp_path


def test_mt_smoke_layout_dims_are_the_built_envs():
    layout = suite_layout(SUITE)
    assert layout.tasks == ("cartpole-balance", "reacher-easy", "cheetah-run")
    assert [(d.obs_dim, d.action_dim, d.episode_length) for d in layout.dims] == [
        (5, 1, 500),
        (6, 2, 500),
        (17, 6, 500),
    ]
    assert (layout.max_obs_dim, layout.max_action_dim, layout.segment_length) == (17, 6, 500)


def test_batch_layout_is_episode_replays_plus_task(dataset: Path):
    replay = load_offline_replay(dataset, SUITE, batch_size=64, horizon=3)
    online = EpisodeReplay(capacity=1000, batch_size=64, horizon=3, device=torch.device("cpu"))
    online.add_episode(
        TensorDict(
            obs=torch.zeros(11, 17),
            action=torch.zeros(11, 6),
            reward=torch.zeros(11, 1),
            terminated=torch.zeros(11, 1, dtype=torch.bool),
            batch_size=[11],
        )
    )
    ours, theirs = replay.sample(), online.sample()
    assert set(ours.keys()) == set(theirs.keys()) | {"task"}
    for key in theirs.keys():  # noqa: SIM118 (iterating a TensorDict walks its batch dim)
        assert ours[key].shape == theirs[key].shape and ours[key].dtype == theirs[key].dtype, key
    assert ours["task"].shape == (64,) and ours["task"].dtype == torch.int64
    assert len(replay) == 9 * L and replay.num_episodes == 9


def test_slices_stay_in_episodes_skip_row_0_and_are_zero_padded(dataset: Path):
    torch.manual_seed(0)
    replay = load_offline_replay(dataset, SUITE, batch_size=256, horizon=3)
    seen_first_row = False
    for _ in range(30):
        b = replay.sample()
        marker, times = b["obs"][..., 0], b["obs"][..., 1]
        assert (marker == marker[0]).all(), "a slice crossed an episode boundary"
        assert (times[1:] - times[:-1] == 1).all()
        seen_first_row |= bool((times[0] == 0).any())
        assert not torch.isnan(b["action"]).any() and not torch.isnan(b["reward"]).any()
        assert torch.equal(b["action"][..., 0], times[1:])  # action at row t led to obs t
        assert torch.equal(b["reward"][..., 0], 1000 * marker[1:] + times[1:])
        assert (b["obs"][..., 6:] == 0).all() and (b["action"][..., 2:] == 0).all()  # padding: zeros
        assert torch.equal(b["task"], (marker[0] % 2).long())  # episodes alternate tasks 0, 1
        assert not b["terminated"].any()
    assert seen_first_row, "slices starting at an episode's reset observation were never drawn"


def test_plain_dict_and_reward_with_trailing_dim(tmp_path: Path):
    td = tdmpc2_chunk(3)
    torch.save(
        {"obs": td["obs"], "action": td["action"], "reward": td["reward"].unsqueeze(-1), "task": td["task"]},
        tmp_path / "chunk_0.pt",
    )
    b = load_offline_replay(tmp_path, SUITE, batch_size=8, horizon=3).sample()
    assert b["reward"].shape == (3, 8, 1) and not torch.isnan(b["reward"]).any()


def _bad(kind: str) -> object:
    td = tdmpc2_chunk(3)
    if kind == "missing key":
        return {k: td[k] for k in ("obs", "action", "reward")}
    if kind == "obs shape":
        return td.to_dict() | {"obs": td["obs"][:, :, 0]}
    if kind == "action dtype":
        return td.to_dict() | {"action": td["action"].to(torch.int32)}
    if kind == "task dtype":
        return td.to_dict() | {"task": td["task"].float()}
    if kind == "task id":
        return td.to_dict() | {"task": torch.full_like(td["task"], 3)}
    if kind == "episode length":
        return tdmpc2_chunk(3, rows=301)
    if kind == "obs dim":
        return tdmpc2_chunk(3, obs_dim=18)
    if kind == "action dim":
        return tdmpc2_chunk(3, action_dim=7)
    if kind == "obs dim too small for a task":
        return tdmpc2_chunk(3, obs_dim=6, action_dim=6, tasks=(2,))  # cheetah-run has 17 observations
    if kind == "task changes mid-episode":
        task = td["task"].clone()
        task[1, 7] = 0 if task[1, 0] else 1
        return td.to_dict() | {"task": task}
    if kind == "NaN after row 0":
        action = td["action"].clone()
        action[2, 5, 0] = float("nan")
        return td.to_dict() | {"action": action}
    if kind == "not a chunk":
        return [1, 2, 3]
    raise AssertionError(kind)


BAD = {
    "missing key": "missing key(s) task",
    "obs shape": "expected [episodes, L, obs_dim]",
    "action dtype": "expected float32",
    "task dtype": "expected an integer dtype",
    "task id": "task id 3 is outside suite mt-smoke (expected 0..2)",
    "episode length": "expected L = 501",
    "obs dim": "obs dim 18 is larger than suite mt-smoke's largest obs dim 17",
    "action dim": "action dim 7 is larger than suite mt-smoke's largest action dim 6",
    "obs dim too small for a task": "smaller than task cheetah-run's",
    "task changes mid-episode": "episode 1 changes task id mid-episode",
    "NaN after row 0": "episode 2 has a non-finite action",
    "not a chunk": "expected a TensorDict or dict",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_dataset_gives_one_line_naming_the_file(tmp_path: Path, kind: str):
    torch.save(tdmpc2_chunk(2), tmp_path / "chunk_0.pt")
    bad = tmp_path / "chunk_1.pt"
    torch.save(_bad(kind), bad)
    with pytest.raises(DatasetError) as info:
        load_offline_replay(tmp_path, SUITE, batch_size=8, horizon=3)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{bad}: ") and BAD[kind] in message, message
    assert not list((tmp_path / ".memmap").glob("*/source.json")), "a storage was written for a bad dataset"


def test_no_chunks_and_unreadable_chunk(tmp_path: Path):
    with pytest.raises(DatasetError, match="no chunk_"):
        load_offline_replay(tmp_path, SUITE, batch_size=8, horizon=3)
    (tmp_path / "chunk_0.pt").write_bytes(b"not a torch file")
    with pytest.raises(DatasetError, match=r"chunk_0\.pt: unreadable"):
        load_offline_replay(tmp_path, SUITE, batch_size=8, horizon=3)


def test_non_nan_row_0_warns_and_is_never_a_transition(tmp_path: Path):
    td = tdmpc2_chunk(3)
    td["action"][:, 0] = -7.0
    td["reward"][:, 0] = -7.0
    torch.save(td, tmp_path / "chunk_0.pt")
    with pytest.warns(UserWarning, match="row 0"):
        replay = load_offline_replay(tmp_path, SUITE, batch_size=128, horizon=3)
    for _ in range(10):
        b = replay.sample()
        assert (b["action"][..., 0] != -7.0).all() and (b["reward"] != -7.0).all()


def test_memmap_storage_is_built_once_and_rebuilt_when_a_chunk_changes(dataset: Path):
    layout = suite_layout(SUITE)
    rows, built = open_or_build(dataset, layout)
    assert built
    again, built = open_or_build(dataset, layout)
    assert not built and torch.equal(rows["obs"], again["obs"])
    assert len(list((dataset / ".memmap").iterdir())) == 1
    stat = (dataset / "chunk_1.pt").stat()
    os.utime(dataset / "chunk_1.pt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _, built = open_or_build(dataset, layout)
    assert built and len(list((dataset / ".memmap").iterdir())) == 2
    _, built = open_or_build(dataset, layout, cache_root=dataset / "elsewhere")
    assert built


def test_storage_is_memory_mapped_not_in_ram(dataset: Path):
    replay = load_offline_replay(dataset, SUITE, batch_size=8, horizon=3)
    storage = replay.buffer.storage._storage  # what TorchRL's TensorStorage samples from
    for key in ("obs", "action", "reward", "task", "episode"):
        tensor = storage[key]
        assert isinstance(tensor, MemoryMappedTensor) and tensor.filename, key
        assert Path(tensor.filename).is_relative_to(dataset / ".memmap"), key
    assert storage["obs"].shape == (9 * L, 17)


def test_episodes_stored_in_pieces_as_tdmpc2_mt80_does(tmp_path: Path):
    """mt80 stores DMControl's 500-step episodes as 100-step pieces (L = 101 for every task)."""
    layout = SuiteLayout("x", 1, ("dmc-like", "mw-like"), (TaskDims(5, 1, 500), TaskDims(39, 4, 100)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunk = open_chunk(_saved(tdmpc2_chunk(4, obs_dim=39, action_dim=4, rows=101), tmp_path / "a.pt"), layout)
    assert chunk.rows_per_episode == 101
    with pytest.raises(DatasetError, match="task mw-like .* has 100-step episodes; expected L = 101"):
        open_chunk(_saved(tdmpc2_chunk(4, obs_dim=39, action_dim=4, rows=501), tmp_path / "b.pt"), layout)


def _saved(td: TensorDict, path: Path) -> Path:
    torch.save(td, path)
    return path
