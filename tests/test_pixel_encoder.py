"""The pixel encoder (algorithms/world_model/pixel_encoder.py): ShiftAug's known answers, the encoder's
shape and SimNorm, and parity with TD-MPC2's own encoder (tests/fixtures/parity/pixel_encoder.pt,
written by tools/parity/pixel_encoder_fixtures.py from the reference's WorldModel.encode)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algorithms.world_model.layers import SimNorm
from algorithms.world_model.pixel_encoder import PixelEncoder, ShiftAug, pixel_latent_problem
from tests.parity import load_fixture
from tools.parity.pixel_encoder_fixtures import conv_weights, frames


def image(n: int = 2, c: int = 3, size: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to grid_sample's rounding (the sample points are pixel centres up to ~1e-7)."""
    return a.shape == b.shape and bool(((a - b).abs() <= 1e-3).all())


def test_shift_aug_known_answers():
    x = image()
    # pad 0: the identity (the draw can only be 0), float output of the same values
    out = ShiftAug(pad=0)(x)
    assert out.dtype == torch.float32 and same(out, x.float())
    aug = ShiftAug(pad=3)
    # no move: shift (pad, pad)
    assert same(aug(x, torch.tensor([[3, 3], [3, 3]])), x.float())
    # a shift of k = 2 right/down in the draw moves the image 2 pixels up-left (output (i, j) = input
    # (i + 2, j + 2)); the last 2 rows and columns repeat the edge (replicate padding)
    out = aug(x, torch.tensor([[5, 5], [5, 5]]))
    assert same(out[..., :6, :6], x[..., 2:, 2:].float())
    assert same(out[..., 6:, :6], x[..., 7:8, 2:].float().expand(-1, -1, 2, -1))
    # x and y apart: shift x by -3 only (the image moves 3 right), the left columns repeat column 0
    out = aug(x, torch.tensor([[0, 3], [0, 3]]))
    assert same(out[..., 3:], x[..., :5].float())
    assert same(out[..., :3], x[..., :1].float().expand(-1, -1, -1, 3))
    # each image its own shift; a drawn shift is a whole pixel in [-3, 3] (values stay the image's)
    out = aug(x, torch.tensor([[3, 3], [4, 3]]))
    assert same(out[0], x[0].float()) and same(out[1, :, :, :7], x[1, :, :, 1:].float())
    drawn = aug(x.repeat(50, 1, 1, 1))
    assert set(drawn.round().unique().tolist()) <= set(x.unique().float().tolist())
    assert same(drawn, drawn.round())


def test_encoder_shape_simnorm_and_latent_rule():
    enc = PixelEncoder(9, 32, SimNorm(8))
    obs = torch.randint(0, 256, (2, 3, 9, 64, 64), dtype=torch.uint8)
    z = enc(obs)
    assert z.shape == (2, 3, 512) and enc.out_dim == 512
    assert torch.allclose(z.unflatten(-1, (-1, 8)).sum(-1), torch.ones(2, 3, 64), atol=1e-6)
    assert enc(obs[0, 0]).shape == (512,)
    assert pixel_latent_problem(512, 32) is None
    assert "num_channels=4" in pixel_latent_problem(64, 32)
    with pytest.raises(ValueError, match="64x64"):
        enc(torch.zeros(1, 9, 84, 84, dtype=torch.uint8))


def test_parity_with_tdmpc2_encoder():
    fx = load_fixture("pixel_encoder.pt")
    r = fx["recipe"]
    enc = PixelEncoder(r["frames"][0], r["num_channels"], SimNorm(r["simnorm_dim"]), pad=r["pad"])
    params = [p for m in enc.convs if isinstance(m, torch.nn.Conv2d) for p in (m.weight, m.bias)]
    with torch.no_grad():
        for p, w in zip(params, conv_weights([p.shape for p in params], r["weight_seed"])):
            p.copy_(w)
    batch, steps = frames(r)
    assert [int(batch.long().sum()), int(steps.long().sum())] == fx["input_sums"]
    with torch.no_grad():
        for name, obs in (("batch", batch), ("steps", steps)):
            torch.manual_seed(fx["seeds"][name])
            z = enc(obs)
            torch.testing.assert_close(z, fx[f"latent_{name}"], atol=1e-6, rtol=1e-5)
            # the same latents from the recorded shifts forced one call at a time
            shifts = fx[f"shifts_{name}"].reshape(-1, 2)
            flat = obs.reshape(-1, *obs.shape[-3:])
            forced = enc.out_act(enc.convs(enc.aug(flat, shifts).div(255.0).sub(0.5)))
            torch.testing.assert_close(forced.reshape(z.shape), fx[f"latent_{name}"], atol=1e-6, rtol=1e-5)


# --- a world-model agent learning from real frames ---------------------------------------------------
#: TINY_ALGO's model (latent 32) with the conv encoder's 2 channels (2 x 16 = 32)
PIXEL_TINY = {
    "model.size": 1,
    "model.enc_dim": 64,
    "model.mlp_dim": 64,
    "model.latent_dim": 32,
    "model.num_channels": 2,
    "batch_size": 8,
    "seed_steps": 0,
    "planner.horizon": 3,
    "planner.num_samples": 16,
    "planner.num_elites": 4,
    "planner.num_pi_trajs": 2,
    "planner.iterations": 2,
}


def frame_episode(steps: int):
    """``steps`` transitions of cheetah-run from pixels (real renders, random actions), the last
    one marked done so that the agent stores the episode."""
    from envs import make_env

    env = make_env("cheetah-run", seed=0, obs="rgb")
    try:
        torch.manual_seed(0)
        rollout = env.rollout(steps, break_when_any_done=False)
    finally:
        env.close()
    rollout["next", "done"][-1] = True
    return rollout


def pixel_agent(algo: str = "tdmpc2"):
    import algorithms
    from algorithms.base import EnvSpec

    cfg = algorithms.get_algorithm(algo).config(PIXEL_TINY)
    spec = EnvSpec.of_shape((9, 64, 64), action_dim=6, episode_length=500)
    return algorithms.get_algorithm(algo).factory(cfg, spec, torch.device("cpu"), 1000)


@pytest.mark.parametrize("algo", ["tdmpc2", "mbdpo"])
def test_agent_learns_from_uint8_frames_and_resumes_exactly(algo):
    import io

    rollout = frame_episode(8)
    assert rollout["observation"].shape == (8, 9, 64, 64) and rollout["observation"].dtype == torch.uint8
    agent = pixel_agent(algo)
    assert agent.env_spec.pixels and agent.env_spec.obs_dim == 9 * 64 * 64
    assert isinstance(agent.model.encoder, PixelEncoder)
    encoder_lr = [g["lr"] for g in agent.optim.param_groups if g["params"][0] is agent.model.encoder.convs[0].weight]
    assert encoder_lr == [agent.cfg.lr * agent.cfg.enc_lr_scale]
    for td in rollout.unbind(0):
        agent.observe(td)
    stored = agent.replay.buffer.storage["obs"]
    assert stored.dtype == torch.uint8 and stored.shape[1:] == (9, 64, 64)  # frames kept as uint8
    assert torch.equal(stored[1:9], rollout["next", "observation"])

    torch.manual_seed(1)
    batch = agent.replay.sample()
    assert batch["obs"].dtype == torch.uint8 and batch["obs"].shape == (4, 8, 9, 64, 64)
    before = agent.model.encoder.convs[0].weight.detach().clone()
    agent.learn(batch)
    assert not torch.equal(before, agent.model.encoder.convs[0].weight)  # the gradient reaches the convs
    action = agent.act(rollout["observation"][:2], eval_mode=True, first_step=True)
    assert action.shape == (2, 6) and bool(action.abs().le(1).all())

    # a checkpoint round trip (torch.save, as the harness writes it) continues exactly
    buf = io.BytesIO()
    torch.save(agent.state_dict(), buf)
    resumed = pixel_agent(algo)
    resumed.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=False))
    assert resumed.replay.buffer.storage["obs"].dtype == torch.uint8
    out = []
    for a in (agent, resumed):
        torch.manual_seed(2)
        metrics = a.update(a.seed_steps + 1)
        action = a.act(rollout["observation"][:2], eval_mode=False, first_step=False)
        out.append((metrics, action, a.model.state_dict()))
    assert out[0][0] == out[1][0] and torch.equal(out[0][1], out[1][1])
    assert all(torch.equal(v, out[1][2][k]) for k, v in out[0][2].items())


# --- the replay's storage: memory-mapped when a pixel buffer does not fit in memory -------------------
def test_replay_memmap_storage_round_trip_and_auto_choice(tmp_path, monkeypatch):
    import io

    from tensordict import TensorDict

    from algorithms.base import EnvSpec
    from algorithms.replay import EpisodeReplay, replay_row_bytes, storage_kind

    spec = EnvSpec.of_shape((9, 64, 64), action_dim=6, episode_length=500)
    assert replay_row_bytes(spec) == 36_901  # 36,864 B of frames; a 1M-step buffer: 36.9 GB
    assert storage_kind("auto", 10**9, replay_row_bytes(spec)) == "memmap"  # 37 TB fits nowhere
    assert storage_kind("auto", 10, replay_row_bytes(spec)) == "memory"
    with pytest.raises(ValueError, match="buffer_storage"):
        storage_kind("disk", 10, 1)

    def episode(k: int) -> TensorDict:
        g = torch.Generator().manual_seed(k)
        return TensorDict(
            obs=torch.randint(0, 256, (12, 9, 64, 64), dtype=torch.uint8, generator=g),
            action=torch.rand(12, 6, generator=g),
            reward=torch.rand(12, 1, generator=g),
            terminated=torch.zeros(12, 1, dtype=torch.bool),
            batch_size=[12],
        )

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    replay = EpisodeReplay(30, 2, 3, torch.device("cpu"), storage="memmap")
    for k in range(3):  # 36 rows into 30: the buffer has wrapped
        replay.add_episode(episode(k))
    assert (
        replay.scratch.startswith(str(tmp_path)) and (Path(replay.scratch) / "obs.memmap").stat().st_size == 30 * 36864
    )
    buf = io.BytesIO()
    torch.save(replay.state_dict(), buf)
    resumed = EpisodeReplay(30, 2, 3, torch.device("cpu"), storage="memmap")
    resumed.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=False))
    assert (Path(resumed.scratch) / "obs.memmap").exists()  # still on disk after the resume
    for k in range(2):
        for r in (replay, resumed):
            torch.manual_seed(k)
            r.last = r.sample()
        assert resumed.last["obs"].dtype == torch.uint8 and (replay.last == resumed.last).all()
        replay.add_episode(episode(10 + k))
        resumed.add_episode(episode(10 + k))
    scratch = replay.scratch
    del replay
    import gc

    gc.collect()
    assert not Path(scratch).exists()  # the files go with the replay


# --- a pixel run end to end through the harness, stopped and resumed ----------------------------------
#: 501 steps: the first episode ends at 500 (a stop there checkpoints), one step after it, then
#: the evaluation (one 500-step episode from pixels)
PIXEL_RUN = [
    "algo=tdmpc2",
    "task=cheetah-run",
    "obs=rgb",
    "seed=5",
    "steps=501",
    "eval_every=501",
    "eval_episodes=1",
    "eval_at_start=false",
    "log_every=100",
    "threads=1",
    "checkpoint_every=0",
    *(f"algo.{k}={v}" for k, v in PIXEL_TINY.items() if k != "seed_steps"),
    "algo.seed_steps=100",
]


@pytest.mark.slow
def test_pixel_run_resumed_equals_uninterrupted(tmp_path):
    """A tiny tdmpc2 run from pixels (real renders, ~2 min on 1 busy core): stopped at its first
    episode end (the checkpoint holds 501 uint8 frame rows), resumed, it ends as the run that was
    never stopped (eval.csv and the training logs); the frames it stored are uint8."""
    from harness import stop
    from harness.config import parse_overrides
    from harness.run import execute

    def run(where: Path):
        return execute(parse_overrides([*PIXEL_RUN, f"runs_dir={where}"]), verbose=False)

    run(tmp_path / "straight")
    stop.request_stop("test: stop at the first episode end")
    try:
        with pytest.raises(stop.Preempted):
            run(tmp_path / "stopped")
    finally:
        stop.clear_stop()
    (stopped,) = (tmp_path / "stopped").glob("*/*/*/*/seed_5")
    state = torch.load(stopped / "checkpoint.pt", weights_only=False)
    assert state["step"] == 500 and state["spec"]["obs_shape"] == (9, 64, 64)
    rows = state["agent"]["replay"]["buffer"]["_storage"]["_storage"]["obs"]
    assert rows.dtype == torch.uint8 and rows.shape == (501, 9, 64, 64)
    assert run(tmp_path / "stopped")["resumed_from"] == 500
    (straight,) = (tmp_path / "straight").glob("*/*/*/*/seed_5")
    assert (stopped / "eval.csv").read_text() == (straight / "eval.csv").read_text()
    logs = {p.relative_to(stopped): p.read_text() for p in (stopped / "train").rglob("*.csv")}
    assert logs and all(
        text == (straight / name).read_text() for name, text in logs.items() if name.stem != "steps_per_second"
    )
