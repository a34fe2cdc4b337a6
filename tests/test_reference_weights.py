"""Weight conversion between the reference codes' checkpoints and our modules
(algorithms/model_based/reference_weights.py), on files the references' own ``save`` wrote
(tests/fixtures/reference_checkpoints, made by tools/parity/make_reference_checkpoints.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from algorithms.model_based.reference_weights import (
    ReferenceFormatError,
    describe,
    describe_ours,
    parser_widths,
    read_checkpoint,
    reference_layout,
    to_ours,
    to_reference,
)
from algorithms.world_model.config import MODEL_SIZES, ModelConfig
from algorithms.world_model.energy import EnergyClassifier
from algorithms.world_model.model import WorldModel
from algorithms.world_model.score import ScoreNetwork
from configs.suites import get_suite

FIXTURES = Path(__file__).parent / "fixtures" / "reference_checkpoints"

#: each task's action dims in mt80 order (dm_control / Meta-World), as the fixtures' maker read them
#: from the environments: the 30 DMControl tasks, then 50 Meta-World tasks of 4
MT80_ACTION_DIMS = (
    (6, 6, 6, 6, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 5, 4, 4)  # the 19 standard tasks
    + (6, 6, 6, 6, 6, 6, 4, 3, 3, 2, 1)  # TD-MPC2's 11 custom tasks
    + (4,) * 50
)

#: file -> what describe must find in it
EXPECTED = {
    "tdmpc2_mt80.pt": dict(
        format="tdmpc2", layout="current", multitask=True, num_tasks=80, task_set="mt80", suite="mt80", size=None,
        enc_dim=24, mlp_dim=24, latent_dim=16, num_enc_layers=2, num_q=3, num_bins=101, task_dim=8, obs_dim=39,
        action_dim=6, action_dims=MT80_ACTION_DIMS, has_energy=False, has_score=False,
    ),
    "tdmpc2_mt80_flat.pt": dict(  # the old code stored no action masks: the dims come from outside
        format="tdmpc2", layout="flat", multitask=True, num_tasks=80, task_set="mt80", suite="mt80", size=None,
        enc_dim=16, mlp_dim=16, latent_dim=16, num_enc_layers=2, num_q=2, num_bins=101, task_dim=8, obs_dim=39,
        action_dim=6, action_dims=None, has_energy=False, has_score=False,
    ),
    "tdmpc2_cartpole-balance.pt": dict(
        format="tdmpc2", layout="current", multitask=False, num_tasks=0, task_set=None, suite=None, size=None,
        enc_dim=24, mlp_dim=24, latent_dim=16, num_enc_layers=3, num_q=2, num_bins=21, task_dim=0, obs_dim=5,
        action_dim=1, action_dims=None, has_energy=False, has_score=False,
    ),
    "tdmpc2_cartpole-balance_flat.pt": dict(
        format="tdmpc2", layout="flat", multitask=False, num_tasks=0, task_set=None, suite=None, size=None,
        enc_dim=24, mlp_dim=24, latent_dim=16, num_enc_layers=3, num_q=2, num_bins=21, task_dim=0, obs_dim=5,
        action_dim=1, action_dims=None, has_energy=False, has_score=False,
    ),
    "mbdpo_mt80.pt": dict(
        format="mbdpo", layout="current", multitask=True, num_tasks=80, task_set="mt80", suite="mt80", size=None,
        enc_dim=24, mlp_dim=24, latent_dim=16, num_enc_layers=2, num_q=2, num_bins=101, task_dim=8, obs_dim=39,
        action_dim=6, action_dims=MT80_ACTION_DIMS, has_energy=True, has_score=True, score_trained=True,
        horizon=3, score_embed_dim=8,
    ),
}  # fmt: skip
NAMES = sorted(EXPECTED)


def fixture(name: str) -> dict[str, torch.Tensor]:
    return dict(read_checkpoint(FIXTURES / name))


def build_ours(name: str):
    """Our modules built from describe's numbers, loaded (strict) with the converted state."""
    state = fixture(name)
    ref = describe(state)
    action_dims = ref.action_dims or (MT80_ACTION_DIMS if ref.multitask else ())
    parts = to_ours(state, action_dims=action_dims if ref.multitask else None)
    model = WorldModel(ref.model_config(), ref.obs_dim, ref.action_dim, action_dims=action_dims)
    model.load_state_dict(parts["model"], strict=True)
    energy = score = None
    if ref.has_energy:
        energy = EnergyClassifier(
            ref.latent_dim, ref.action_dim, ref.mlp_dim, momentum=0.99, clip=5.0, neg_noise=0.1, task_dim=ref.task_dim
        )
        energy.load_state_dict(parts["energy"], strict=True)
    if ref.has_score:
        score = ScoreNetwork(
            ref.latent_dim, ref.horizon, ref.action_dim, ref.mlp_dim, ref.score_embed_dim, task_dim=ref.task_dim
        )
        score.load_state_dict(parts["score_net"], strict=True)
    return state, ref, model.eval(), energy, score


def test_fixtures_are_small():
    total = sum(p.stat().st_size for p in FIXTURES.iterdir())
    assert total < 600_000, total
    assert {p.name for p in FIXTURES.glob("*.pt")} == set(EXPECTED)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_described(name):
    ref = describe(fixture(name))
    for key, value in EXPECTED[name].items():
        assert getattr(ref, key) == value, key
    assert ref.tasks == (get_suite(ref.suite).tasks if ref.suite else ())
    assert (ref.log_std_min, ref.log_std_max) == (-10.0, 2.0)
    assert ref.ignored == ()
    assert ref.summary().count("\n") == 0 and ref.format in ref.summary()


def test_suite_order_is_the_references_task_set():
    """configs/suites.yaml's dmc-mt30 and mt80 list the tasks in the order of both references'
    common/__init__.py TASK_SET (read from them by the fixtures' maker): the task embedding's rows."""
    task_sets = json.loads((FIXTURES / "task_sets.json").read_text())
    for code in ("tdmpc2", "mbdpo"):
        assert task_sets[code]["mt30"] == list(get_suite("dmc-mt30").tasks)
        assert task_sets[code]["mt80"] == list(get_suite("mt80").tasks)
    assert len(get_suite("dmc-mt30").tasks) == 30 and len(get_suite("mt80").tasks) == 80


@pytest.mark.parametrize("name", NAMES)
def test_loads_into_our_modules_and_round_trips(name):
    """theirs -> ours (strict load) -> theirs: the same keys in the same order, bit-equal tensors
    of the same dtype (the log-std buffers stay int64, as the reference's int config makes them)."""
    state, ref, model, energy, score = build_ours(name)
    parts = {
        "model": model.state_dict(),
        "energy": energy.state_dict() if energy is not None else None,
        "score_net": score.state_dict() if score is not None else None,
    }
    back = to_reference(parts, format=ref.format, layout=ref.layout)
    assert describe_ours(parts, ref.format, ref.layout).action_dims == (MT80_ACTION_DIMS if ref.multitask else None)
    assert list(back) == list(state)
    for key in state:
        assert back[key].dtype == state[key].dtype and torch.equal(back[key], state[key]), key
    if ref.layout == "current":
        assert all(back[k] is back["_Qs.params." + k[len("_detach_Qs_params.") :]] for k in back if "_detach" in k)


@pytest.mark.parametrize("name", ["tdmpc2_mt80.pt", "tdmpc2_cartpole-balance.pt", "mbdpo_mt80.pt"])
def test_current_and_flat_layouts_hold_the_same_model(name):
    """ours -> TD-MPC2's old flat layout -> ours is the identity; a multi-task flat file needs the
    tasks' action dims from outside (it does not store them)."""
    state = fixture(name)
    ref = describe(state)
    ours = to_ours(state)
    if ref.format == "mbdpo":
        ours = {**ours, "energy": None, "score_net": None}
    flat = to_reference(ours, format="tdmpc2", layout="flat")
    assert not any("_detach" in k or k.startswith(("log_std", "_action_masks")) for k in flat)
    assert any(k == "_Qs.params.9" for k in flat) and "_target_Qs.params.0" in flat
    flat_ref = describe({"model": flat})
    assert (flat_ref.layout, flat_ref.action_dims, flat_ref.num_q) == ("flat", None, ref.num_q)
    if ref.multitask:
        with pytest.raises(ReferenceFormatError, match="pass action_dims"):
            to_ours(flat)
    again = to_ours(flat, action_dims=ref.action_dims)
    assert list(again["model"]) == list(ours["model"])
    for key, value in ours["model"].items():
        assert torch.equal(again["model"][key], value), key


def layer_norm_mish(x, w, b, g, beta):
    return F.mish(F.layer_norm(F.linear(x, w, b), (w.shape[0],), g, beta))


def hand_mlp(state, prefix, x, layers, normed_out=False):
    """The reference's mlp by hand from its own tensors: NormedLinear (Linear, LN, Mish) blocks."""
    for i in range(layers - 1):
        x = layer_norm_mish(x, *(state[f"{prefix}{i}.{n}"] for n in ("weight", "bias", "ln.weight", "ln.bias")))
    last = layers - 1
    x = F.linear(x, state[f"{prefix}{last}.weight"], state[f"{prefix}{last}.bias"])
    if normed_out:  # SimNorm after the LayerNorm, groups of 8
        x = F.layer_norm(x, x.shape[-1:], state[f"{prefix}{last}.ln.weight"], state[f"{prefix}{last}.ln.bias"])
        x = F.softmax(x.unflatten(-1, (-1, 8)), dim=-1).flatten(-2)
    return x


@pytest.mark.parametrize("name", NAMES)
def test_converted_forward_equals_a_hand_computation(name):
    """The encoder, each Q head, pi's mean, F and the score network of the converted modules equal the
    reference's formulas evaluated by hand on the file's tensors (the deep forward parity against the
    reference's own outputs is tests/test_parity_*.py's)."""
    state, ref, model, energy, score = build_ours(name)
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(4, ref.obs_dim, generator=g)
    a = torch.rand(4, ref.action_dim, generator=g) * 2 - 1
    task = torch.tensor([0, 8, 16, 79]) if ref.multitask else None
    emb = state["_task_emb.weight"][task] if ref.multitask else torch.zeros(4, 0)
    if ref.multitask:  # nn.Embedding(max_norm=1) renormalises the looked-up rows
        emb = emb * (1 / emb.norm(dim=-1, keepdim=True).clamp_min(1)).clamp(max=1)
    with torch.no_grad():
        z_ref = hand_mlp(state, "_encoder.state.", torch.cat([obs, emb], -1), ref.num_enc_layers, normed_out=True)
        z = model.encode(obs, task)
        torch.testing.assert_close(z, z_ref, rtol=1e-5, atol=1e-6)
        za = torch.cat([z_ref, emb, a], -1)
        for target in (False, True):  # every Q head and every target head
            q = model.q_logits(z, a, task=task, target=target)
            if ref.layout == "current":
                prefix = "_target_Qs_params." if target else "_Qs.params."
            else:
                prefix = "_target_Qs.params." if target else "_Qs.params."
            for j in range(ref.num_q):
                if ref.layout == "current":
                    head = {f"{i}.{n}": state[f"{prefix}{i}.{n}"][j] for i in range(3) for n in ("weight", "bias")}
                    head.update(
                        {f"{i}.ln.{n}": state[f"{prefix}{i}.ln.{n}"][j] for i in range(2) for n in ("weight", "bias")}
                    )
                else:
                    names = ("weight", "bias", "ln.weight", "ln.bias")
                    head = {f"{n // 4}.{names[n % 4]}": state[f"{prefix}{n}"][j] for n in range(10)}
                torch.testing.assert_close(q[j], hand_mlp(head, "", za, 3), rtol=1e-5, atol=1e-6)
        mu = hand_mlp(state, "_pi.", torch.cat([z_ref, emb], -1), 3).chunk(2, -1)[0]
        if ref.multitask:  # the file's masks, or (old flat files) the task set's action dims
            masks = (torch.arange(ref.action_dim) < torch.tensor(MT80_ACTION_DIMS)[:, None]).float()
            if "_action_masks" in state:
                assert torch.equal(state["_action_masks"], masks)
            mu = mu * masks[task]
        torch.testing.assert_close(model.pi(z, task=task).mean, torch.tanh(mu), rtol=1e-5, atol=1e-6)
        if energy is not None:
            torch.testing.assert_close(
                energy.logits(model.with_task(z, task), a), hand_mlp(state, "_F.", za, 3), rtol=1e-5, atol=1e-6
            )
        if score is not None:
            x = torch.rand(4, ref.horizon, ref.action_dim, generator=g)
            tau = torch.tensor([0, 1, 5, 19])
            out = score(model.with_task(z, task), x, tau)
            half = ref.score_embed_dim // 2
            angles = tau.float()[:, None] * torch.exp(-torch.arange(half) * torch.log(torch.tensor(1e4)) / (half - 1))
            inp = torch.cat([z_ref, emb, x.flatten(1), angles.sin(), angles.cos()], -1)
            torch.testing.assert_close(out.flatten(1), hand_mlp(state, "_score.", inp, 3), rtol=1e-5, atol=1e-6)


def test_energy_statistics_restart_and_an_untrained_score_network_is_seen():
    state = fixture("mbdpo_mt80.pt")
    parts = to_ours(state)
    assert float(parts["energy"]["mean"]) == 0.0 and float(parts["energy"]["std"]) == 1.0
    assert int(parts["score_net"]["updates"]) == 1
    fresh = dict(state)  # the score network as MBDPO initialises it and leaves it when unused
    for key in [k for k in state if k.startswith("_score.")]:
        fresh[key] = torch.ones_like(state[key]) if key.endswith("ln.weight") else torch.zeros_like(state[key])
        if key.endswith(".weight") and not key.endswith("ln.weight"):
            fresh[key] = torch.randn_like(state[key]) * 0.02
    assert describe(fresh).score_trained is False
    assert int(to_ours(fresh)["score_net"]["updates"]) == 0


# --- refusals: one line each -------------------------------------------------------------------------


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ReferenceFormatError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_refuses_a_termination_head():
    state = fixture("tdmpc2_cartpole-balance.pt")
    for head in ("_termination", "_terminated"):
        bad = {**state, f"{head}.0.weight": torch.zeros(32, 16)}
        message = one_line_error(describe, bad)
        assert message.startswith("refused:") and head in message and "episodic" in message


def test_refuses_truncated_and_foreign_files(tmp_path):
    data = (FIXTURES / "tdmpc2_mt80.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    assert "cannot be read" in one_line_error(read_checkpoint, tmp_path / "half.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    assert "cannot be read" in one_line_error(read_checkpoint, tmp_path / "text.pt")
    assert "no such file" in one_line_error(read_checkpoint, tmp_path / "absent.pt")
    ours = WorldModel(ModelConfig(size=1, enc_dim=8, mlp_dim=8, latent_dim=8, num_q=2), 3, 1)
    torch.save({"model": ours.state_dict(), "optim": {}}, tmp_path / "ours.pt")
    assert "besides 'model'" in one_line_error(read_checkpoint, tmp_path / "ours.pt")
    assert "no Q ensemble" in one_line_error(describe, {"model": ours.state_dict()})
    assert "no Q ensemble" in one_line_error(describe, {"model": {}})


def test_refuses_missing_unknown_and_inconsistent_keys():
    state = fixture("tdmpc2_mt80.pt")
    missing = {k: v for k, v in state.items() if k != "_target_Qs_params.2.bias"}
    assert "missing key(s)" in one_line_error(describe, missing) and "_target_Qs_params.2.bias" in one_line_error(
        describe, missing
    )
    assert "unknown key(s)" in one_line_error(describe, {**state, "_extra.weight": torch.zeros(1)})
    bad = {**state, "_reward.1.weight": torch.zeros(32, 31)}
    assert "inconsistent shapes: _reward.1.weight" in one_line_error(describe, bad)
    bad = {**state, "_detach_Qs_params.0.bias": state["_Qs.params.0.bias"] + 1}
    assert "differs" in one_line_error(describe, bad)
    assert "use format=mbdpo" in one_line_error(describe, fixture("mbdpo_mt80.pt"), format="tdmpc2")
    assert "unknown format" in one_line_error(describe, state, format="dreamer")
    assert "action_dims" in one_line_error(to_ours, state, action_dims=(1,) * 80)
    assert "use format=mbdpo" in one_line_error(to_reference, to_ours(fixture("mbdpo_mt80.pt")), format="tdmpc2")


def test_old_tensordict_metadata_is_ignored():
    state = fixture("tdmpc2_cartpole-balance.pt")
    extra = {
        f"{p}params.{k}": torch.zeros(1)
        for p in ("_Qs.", "_detach_Qs_", "_target_Qs_")
        for k in ("__batch_size", "__device")
    }
    ref = describe({**state, **extra})
    assert set(ref.ignored) == set(extra)


# --- sizes as TD-MPC2's parser makes them -----------------------------------------------------------

#: TD-MPC2's common/parser.py + common/__init__.py MODEL_SIZE + config.yaml (num_q 5), by hand:
#: (size, task set) -> enc_dim, mlp_dim, latent_dim, num_enc_layers, num_q, task_dim
PARSER_TABLE = {
    (1, None): (256, 384, 128, 2, 2, 0), (1, "mt30"): (256, 384, 128, 2, 2, 96), (1, "mt80"): (256, 384, 128, 2, 2, 96),
    (5, None): (256, 512, 512, 2, 5, 0), (5, "mt30"): (256, 512, 512, 2, 5, 64), (5, "mt80"): (256, 512, 512, 2, 5, 96),
    (19, None): (1024, 1024, 768, 3, 5, 0), (19, "mt30"): (1024, 1024, 512, 3, 5, 64),
    (19, "mt80"): (1024, 1024, 768, 3, 5, 96),
    (48, None): (1792, 1792, 768, 4, 5, 0), (48, "mt30"): (1792, 1792, 768, 4, 5, 64),
    (48, "mt80"): (1792, 1792, 768, 4, 5, 96),
    (317, None): (4096, 4096, 1376, 5, 8, 0), (317, "mt30"): (4096, 4096, 1376, 5, 8, 96),
    (317, "mt80"): (4096, 4096, 1376, 5, 8, 96),
}  # fmt: skip
WIDTH_KEYS = ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q", "task_dim")


def test_parser_widths_are_td_mpc2s():
    assert set(MODEL_SIZES) == {size for size, _ in PARSER_TABLE}
    for (size, task_set), widths in PARSER_TABLE.items():
        assert tuple(parser_widths(size, task_set)[k] for k in WIDTH_KEYS) == widths, (size, task_set)
    # MBDPO's parser tests sizes 21, 2 and 340 that its MODEL_SIZE lacks: mt30 keeps the preset latent, task_dim 64
    assert parser_widths(19, "mt30", "mbdpo")["latent_dim"] == 768
    assert parser_widths(317, "mt30", "mbdpo")["task_dim"] == 64


def fake_reference(widths: dict, task_set, layout: str) -> dict[str, torch.Tensor]:
    """A TD-MPC2 state dict of these widths, its weights on the meta device (no memory)."""
    tasks = {None: 0, "mt30": 30, "mt80": 80}[task_set]
    action_dims = MT80_ACTION_DIMS[:tasks]
    with torch.device("meta"):
        model = WorldModel(ModelConfig(size=None, **widths), 39, 6, action_dims=action_dims)
    ours = dict(model.state_dict())
    masks = (torch.arange(6) < torch.tensor(action_dims or (0,))[:, None]).float()
    if tasks:
        ours["action_masks"] = masks
    template = describe_ours({"model": ours, "energy": None, "score_net": None}, "tdmpc2", layout)
    state = {key: torch.empty(shape, device="meta") for key, shape in reference_layout(template)}
    if layout == "current":
        state["log_std_min"], state["log_std_dif"] = torch.tensor(-10), torch.tensor(12)
        for key in [k for k in state if k.startswith("_detach_Qs_params.")]:
            state[key] = state["_Qs.params." + key[len("_detach_Qs_params.") :]]
        if tasks:
            state["_action_masks"] = masks
    return state


@pytest.mark.parametrize("layout", ["current", "flat"])
@pytest.mark.parametrize("task_set", [None, "mt30", "mt80"])
def test_size_inference_matches_the_parser_for_every_preset(task_set, layout):
    for size in MODEL_SIZES:
        ref = describe(fake_reference(dict(zip(WIDTH_KEYS, PARSER_TABLE[(size, task_set)])), task_set, layout))
        assert ref.size == size, (size, task_set, layout)
        assert ref.task_set == task_set and ref.layout == layout
        cfg = ref.model_config().resolved()
        assert tuple(getattr(cfg, k) for k in WIDTH_KEYS[:5]) == PARSER_TABLE[(size, task_set)][:5]
        assert cfg.task_dim == (PARSER_TABLE[(size, task_set)][5] if task_set else ModelConfig.task_dim)
    # widths that are no parsed preset: no size, every width explicit
    off = dict(zip(WIDTH_KEYS, PARSER_TABLE[(5, task_set)]), num_q=4)
    ref = describe(fake_reference(off, task_set, layout))
    assert ref.size is None and ref.model_config().resolved().num_q == 4
    if task_set == "mt30":  # mt30 at 19 with the preset's latent 768, at 5 with mt80's task_dim 96
        for size, key, value in ((19, "latent_dim", 768), (5, "task_dim", 96)):
            widths = {**dict(zip(WIDTH_KEYS, PARSER_TABLE[(size, task_set)])), key: value}
            assert describe(fake_reference(widths, task_set, layout)).size is None


def test_model_config_takes_explicit_widths_without_a_size():
    cfg = ModelConfig(size=None, enc_dim=8, mlp_dim=16, latent_dim=8, num_enc_layers=2, num_q=3).resolved()
    assert (cfg.size, cfg.enc_dim, cfg.mlp_dim, cfg.num_q) == (None, 8, 16, 3)
    with pytest.raises(ValueError, match="missing: num_q"):
        ModelConfig(size=None, enc_dim=8, mlp_dim=16, latent_dim=8, num_enc_layers=2).resolved()
