"""harness.export: real runs' replay buffers -> TD-MPC2-layout dataset -> the offline loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from tensordict import TensorDict

from algorithms.replay import EpisodeReplay
from harness import checkpoint_file as ckpt_mod
from harness.data import DatasetError, SuiteLayout, TaskDims, load_offline_replay
from harness.data.dataset_writer import _pieces
from harness.export import main
from tests.helpers import stopped_run

SUITE = "mt-smoke"  # cartpole-balance (5/1), reacher-easy (6/2), cheetah-run (17/6)


def _stopped_run(runs_dir: Path, task: str, seed: int) -> Path:
    return stopped_run(runs_dir, task, seed, SUITE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    runs_dir = tmp_path_factory.mktemp("runs")
    out = {
        "cartpole": _stopped_run(runs_dir, "cartpole-balance", 1),
        "reacher": _stopped_run(runs_dir, "reacher-easy", 1),
    }
    final = _stopped_run(
        runs_dir, "cartpole-balance", 2
    )  # as a finished run would keep it (see harness/data/run_replay.py)
    (final / "checkpoint.pt").rename(final / "final.pt")
    out["final"] = final
    return out


def _episode_rows(run: Path, name: str) -> TensorDict:
    replay = EpisodeReplay(capacity=1, batch_size=1, horizon=3, device=torch.device("cpu"))
    replay.load_state_dict(ckpt_mod.load(run / name)["agent"]["replay"])
    return replay.buffer[:501]


def test_export_round_trips_through_the_loader(runs, tmp_path: Path, capsys):
    out = tmp_path / "dataset"
    assert main([str(runs["cartpole"].parents[3]), "--suite", SUITE, "--out", str(out)]) == 0  # runs/mt-smoke
    meta = json.loads((out / "dataset.json").read_text())
    assert (
        meta["suite"] == SUITE
        and meta["suite_version"] == 1
        and meta["tasks"] == ["cartpole-balance", "reacher-easy", "cheetah-run"]
    )
    assert meta["per_task"] == {
        "cartpole-balance": {"episodes": 2, "transitions": 1000},
        "reacher-easy": {"episodes": 1, "transitions": 500},
        "cheetah-run": {"episodes": 0, "transitions": 0},
    }
    assert meta["missing_tasks"] == ["cheetah-run"] and meta["format_version"] == 1
    assert sorted(s["state_file"] for s in meta["sources"]) == ["checkpoint.pt", "checkpoint.pt", "final.pt"]
    assert all(len(s["commit"]) >= 40 and s["step"] == 500 for s in meta["sources"])
    assert "missing tasks: cheetah-run" in capsys.readouterr().out

    chunk = torch.load(out / "chunk_0.pt", weights_only=False)
    assert isinstance(chunk, TensorDict) and chunk.batch_size == (3, 501)
    assert chunk["obs"].shape == (3, 501, 17) and chunk["action"].shape == (3, 501, 6)
    assert chunk["reward"].shape == (3, 501) and chunk["task"].dtype == torch.int64
    assert torch.isnan(chunk["action"][:, 0]).all() and torch.isnan(chunk["reward"][:, 0]).all()
    assert not torch.isnan(chunk["action"][:, 1:]).any()
    dims = {"cartpole-balance": (0, 5, 1), "reacher-easy": (1, 6, 2)}
    for i, src in enumerate(meta["sources"]):  # one complete episode per run, in source order
        task_id, o, a = dims[src["task"]]
        rows = _episode_rows(Path(src["run"]), src["state_file"])
        assert torch.equal(chunk["obs"][i, :, :o], rows["obs"]) and (chunk["obs"][i, :, o:] == 0).all()
        assert torch.equal(chunk["action"][i, 1:, :a], rows["action"][1:]) and (chunk["action"][i, 1:, a:] == 0).all()
        assert torch.equal(chunk["reward"][i, 1:], rows["reward"][1:, 0])
        assert (chunk["task"][i] == task_id).all()

    replay = load_offline_replay(out, SUITE, batch_size=128, horizon=3)
    assert len(replay) == 3 * 501
    for _ in range(5):
        b = replay.sample()
        assert set(b["task"].tolist()) <= {0, 1}
        assert not torch.isnan(b["action"]).any() and not torch.isnan(b["reward"]).any()
        dims = torch.tensor([5, 6])[b["task"]]  # each slice's own obs dim: padding after it is zero
        pad = torch.arange(17)[None, :] >= dims[:, None]
        assert (b["obs"][:, pad] == 0).all()
    with pytest.raises(DatasetError, match=r"dataset\.json: made for suite 'mt-smoke' version 1; expected 'dmc-smoke'"):
        load_offline_replay(out, "dmc-smoke", batch_size=8, horizon=3)


def _refused(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_refusals_write_nothing(runs, tmp_path: Path, capsys):
    run = str(runs["cartpole"])
    holds = tmp_path / "holds"
    assert main([run, "--suite", SUITE, "--out", str(holds)]) == 0
    before = sorted(p.name for p in holds.iterdir())
    assert "already holds a dataset" in _refused(capsys, [run, "--suite", SUITE, "--out", str(holds)])
    assert sorted(p.name for p in holds.iterdir()) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert "is not an empty directory" in _refused(capsys, [run, "--suite", SUITE, "--out", str(other)])

    foreign = tmp_path / "foreign" / "seed_1"
    shutil.copytree(runs["reacher"], foreign)
    config = yaml.safe_load((foreign / "config.yaml").read_text())
    config["run"]["task"] = "walker-walk"
    (foreign / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "new"
    err = _refused(capsys, [run, str(foreign.parent), "--suite", SUITE, "--out", str(out)])
    assert f"{foreign / 'config.yaml'}: task 'walker-walk' is not in suite mt-smoke" in err
    assert not out.exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no runs found" in _refused(capsys, [str(empty), "--suite", SUITE, "--out", str(out)])
    finished = tmp_path / "finished" / "seed_1"
    finished.mkdir(parents=True)
    shutil.copy(runs["reacher"] / "config.yaml", finished / "config.yaml")
    assert "finished runs delete checkpoint.pt" in _refused(
        capsys, [str(finished), "--suite", SUITE, "--out", str(out)]
    )
    assert "no such file" in _refused(capsys, [str(tmp_path / "nope"), "--suite", SUITE, "--out", str(out)])
    assert "unknown suite" in _refused(capsys, [run, "--suite", "nope", "--out", str(out)])
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_long_episodes_are_cut_into_pieces_with_a_nan_row_0():
    """A suite mixing 500- and 100-step tasks stores every episode as 101 rows (TD-MPC2's mt80)."""
    layout = SuiteLayout("x", 1, ("dmc-like", "mw-like"), (TaskDims(2, 1, 500), TaskDims(3, 2, 100)))
    t = torch.arange(501, dtype=torch.float32)
    episodes = TensorDict(
        obs=torch.stack([t, -t], -1).expand(2, 501, 2),
        action=t[None, :, None].expand(2, 501, 1),
        reward=t.expand(2, 501),
        batch_size=[2, 501],
    )
    pieces = _pieces(episodes, 0, layout)
    assert pieces.batch_size == (10, 101) and pieces["obs"].shape[-1] == 3 and pieces["action"].shape[-1] == 2
    starts = pieces["obs"][:, 0, 0]
    assert starts.tolist() == [0, 100, 200, 300, 400] * 2  # each piece starts where the last one ended
    assert torch.equal(pieces["obs"][:, :, 0], starts[:, None] + torch.arange(101))
    assert torch.isnan(pieces["action"][:, 0]).all() and torch.isnan(pieces["reward"][:, 0]).all()
    assert torch.equal(pieces["action"][:, 1:, 0], starts[:, None] + torch.arange(1, 101))
    assert (pieces["obs"][..., 2] == 0).all() and (pieces["action"][:, 1:, 1] == 0).all()


def test_a_full_disk_and_a_killed_export_leave_nothing(runs, tmp_path: Path, capsys, monkeypatch):
    """Issue 26, items 2 and 6. A full disk (ENOSPC from a write) is one line naming the output,
    exit 1, nothing left; the temporary directories a killed export left (its lock no longer held)
    are removed by the next export to the same place, never one a live export holds; a non-empty
    output is still refused."""
    import errno
    import fcntl
    import os

    import harness.data.dataset_writer as writer

    run, out = str(runs["cartpole"]), tmp_path / "ds"

    def full(obj, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as m:
        m.setattr(writer, "atomic_torch_save", full)
        assert main([run, "--suite", SUITE, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: no space left on device: {out}", err
    assert sorted(tmp_path.iterdir()) == []

    killed = tmp_path / ".ds.k1lled00.tmp"  # kill -9 mid-write: a chunk, the lock file nobody holds
    killed.mkdir()
    (killed / ".lock").write_text("")
    (killed / "chunk_0.pt").write_bytes(b"half")
    old = tmp_path / ".ds.olderv01.tmp"  # written before the lock file existed, a minute and more ago
    old.mkdir()
    os.utime(old, (1, 1))
    live = tmp_path / ".ds.l1vewr1t.tmp"  # another export, still writing
    live.mkdir()
    fd = os.open(live / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert main([run, run, "--suite", SUITE, "--out", str(out)]) == 0  # the same run twice: exported once
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "ds"]
        assert sorted(p.name for p in out.iterdir()) == ["chunk_0.pt", "dataset.json"]  # no .lock inside
        assert json.loads((out / "dataset.json").read_text())["episodes"] == 1
        err = capsys.readouterr().err
        assert f"removed {killed}" in err and f"removed {old}" in err and "given twice" in err, err
        assert "already holds a dataset" in _refused(capsys, [run, "--suite", SUITE, "--out", str(out)])
    finally:
        os.close(fd)
