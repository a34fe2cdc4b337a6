"""Known-answer tests for the world model's math."""

import math

import pytest
import torch

from algorithms.conventions import heuristic_discount
from algorithms.world_model import MODEL_SIZES, ModelConfig, WorldModel
from algorithms.world_model.layers import EnsembleMLP, SimNorm, _mish_formula, fast_mish
from algorithms.world_model.scalars import RunningScale, SymlogTwoHot


def test_simnorm_groups_are_distributions():
    x = torch.randn(4, 32) * 5
    y = SimNorm(8)(x).view(4, 4, 8)
    assert torch.allclose(y.sum(-1), torch.ones(4, 4), atol=1e-6)
    assert (y >= 0).all()
    # each group is the softmax of its own 8 inputs
    assert torch.allclose(y[1, 2], torch.softmax(x.view(4, 4, 8)[1, 2], -1))


@pytest.mark.parametrize("value", [-500.0, -3.3, -0.01, 0.0, 0.2, 1.0, 7.5, 42.0, 900.0])
def test_two_hot_round_trip(value):
    th = SymlogTwoHot(101, -10.0, 10.0)
    target = torch.tensor([[value]])
    # logits that put the two-hot mass exactly: log of the encoding
    from torchrl.modules import symlog
    from torchrl.objectives import two_hot_encode

    enc = two_hot_encode(symlog(target.squeeze(-1)), th.bins)
    assert torch.allclose(enc.sum(-1), torch.ones(1))
    assert (enc > 0).sum() <= 2
    decoded = th.decode((enc + 1e-12).log())
    assert decoded.item() == pytest.approx(value, rel=1e-4, abs=1e-4)
    # cross-entropy is minimised by the encoding itself
    ce_true = th.cross_entropy((enc + 1e-12).log(), target)
    ce_other = th.cross_entropy(torch.zeros(1, 101), target)
    assert ce_true.item() < ce_other.item()


def test_discount_heuristic_known_values():
    assert heuristic_discount(500, 5, 0.95, 0.995) == pytest.approx(0.99)  # DMControl
    assert heuristic_discount(100, 5, 0.95, 0.995) == pytest.approx(0.95)  # Meta-World
    assert heuristic_discount(10_000, 5, 0.95, 0.995) == pytest.approx(0.995)  # clipped
    assert heuristic_discount(50, 5, 0.95, 0.995) == pytest.approx(0.95)  # clipped below


def test_fast_mish_equals_mish():
    x = torch.linspace(-30, 30, 10_001)
    assert torch.allclose(_mish_formula(x), torch.nn.functional.mish(x), atol=1e-5)
    assert torch.allclose(fast_mish(x), torch.nn.functional.mish(x), atol=1e-5)


def test_ensemble_equals_separate_members_and_subsets():
    torch.manual_seed(0)
    ens = EnsembleMLP(3, 6, [16, 16], 4).eval()
    for w in ens.weights:  # non-trivial weights everywhere
        torch.nn.init.normal_(w)
    x = torch.randn(5, 7, 6)
    out = ens(x)
    assert out.shape == (3, 5, 7, 4)
    for m in range(3):
        h = x
        for i in range(3):
            h = h @ ens.weights[i][m] + ens.biases[i][m]
            if i < 2:
                h = torch.nn.functional.layer_norm(h, h.shape[-1:]) * ens.ln_weights[i][m] + ens.ln_biases[i][m]
                h = torch.nn.functional.mish(h)
        assert torch.allclose(out[m], h, atol=1e-4)
    pair = torch.tensor([2, 0])
    assert torch.allclose(ens(x, members=pair), out[pair], atol=1e-5)


def test_running_scale_tracks_percentile_range():
    scale = RunningScale(tau=1.0)  # tau 1: jump straight to the new value
    x = torch.arange(101, dtype=torch.float32)  # 5th..95th percentile: 5..95
    scale.update(x)
    assert scale.value.item() == pytest.approx(90.0)
    assert scale(torch.tensor(45.0)).item() == pytest.approx(0.5)
    small = RunningScale(tau=1.0)
    small.update(torch.zeros(10))
    assert small.value.item() == 1.0  # never below 1


@pytest.mark.parametrize("size,expected_millions", [(1, 1.2), (5, 4.9)])
def test_size_presets(size, expected_millions):
    model = WorldModel(ModelConfig(size=size), obs_dim=5, action_dim=1)
    assert model.trainable_parameters() / 1e6 == pytest.approx(expected_millions, abs=0.1)
    assert model.qs.members == MODEL_SIZES[size]["num_q"]


def test_model_shapes_and_pi_bounds():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(size=1), obs_dim=5, action_dim=3)
    z = model.encode(torch.randn(10, 5))
    assert z.shape == (10, 128)
    mean, sample, log_prob, _ = model.pi(z)
    assert mean.shape == sample.shape == (10, 3) and log_prob.shape == (10, 1)
    assert sample.abs().max() <= 1 and torch.isfinite(log_prob).all()
    a = torch.rand(10, 3) * 2 - 1
    assert model.next(z, a).shape == (10, 128)
    assert model.q(z, a, "min").shape == (10, 1)
    assert model.q_logits(z, a).shape == (2, 10, 101)
    # zero-initialised reward and Q output layers: predictions start at exactly 0
    assert model.reward(z, a).abs().max().item() < 1e-6
    assert not math.isnan(model.q(z, a, "avg").sum().item())


def test_simnorm_kernel_equals_softmax_forward_and_backward(monkeypatch):
    from algorithms.world_model.layers import GroupSoftmax

    g = torch.randn(3, 4, 8, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(GroupSoftmax.apply, (g,))
    x = torch.randn(134, 128, requires_grad=True) * 5
    dy = torch.randn(134, 128)
    ours = SimNorm(8)(x)
    (g_ours,) = torch.autograd.grad(ours, x, dy)
    monkeypatch.setenv("MBDPO_COMPILE", "0")  # the switch back to ATen's softmax
    ref = SimNorm(8)(x)
    (g_ref,) = torch.autograd.grad(ref, x, dy)
    assert torch.allclose(ours, ref, atol=1e-6) and torch.allclose(g_ours, g_ref, atol=1e-6)


def test_bf16_matmuls_keep_fp32_tensors_and_refresh_their_cast_after_each_step():
    from algorithms.world_model.layers import Linear, mlp, set_matmul_precision

    torch.manual_seed(0)
    layer = Linear(64, 32)
    x = torch.randn(16, 64)
    assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))  # fp32: nn.Linear
    set_matmul_precision(layer, "bf16")
    exact = x @ layer.weight.T + layer.bias
    y = layer(x)
    assert y.dtype == torch.float32 and layer.weight.dtype == torch.float32
    assert not torch.equal(y, exact) and torch.allclose(y, exact, rtol=2e-2, atol=2e-2)
    # gradients reach the fp32 weights; an optimiser step is seen by the cached no-grad cast
    y.pow(2).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float32
    with torch.no_grad():
        before = layer(x)
    torch.optim.SGD(layer.parameters(), lr=1.0).step()
    with torch.no_grad():
        after = layer(x)
        fresh = torch.nn.functional.linear(x.bfloat16(), layer.weight.bfloat16(), layer.bias.bfloat16()).float()
    assert not torch.equal(before, after) and torch.equal(after, fresh)
    # the ensemble, all members and a subset, as the fp32 ensemble within bf16 rounding
    ens = EnsembleMLP(3, 20, [32, 32], 5)
    z = torch.randn(7, 20)
    ref_all, ref_sub = ens(z), ens(z, members=torch.tensor([2, 0]))
    set_matmul_precision(ens, "bf16")
    with torch.no_grad():
        assert torch.allclose(ens(z), ref_all, atol=3e-2) and torch.allclose(
            ens(z, members=torch.tensor([2, 0])), ref_sub, atol=3e-2
        )
    net = mlp(8, [16], 4)
    with pytest.raises(ValueError, match="unknown matmul_precision 'fp16'; valid: fp32, bf16"):
        set_matmul_precision(net, "fp16")


def test_bf16_matmuls_trace_as_one_graph_under_compile():
    """algo.compile with matmul_precision=bf16: the no-grad cast cache (a side effect keyed on the
    weight's version) is skipped while compiling, so a planner's or target's forward stays one
    graph (fullgraph=True raises on a break) and equals the eager bf16 forward."""
    from algorithms.world_model.layers import mlp, set_matmul_precision

    torch.manual_seed(0)
    net = mlp(16, [32, 32], 8)
    ens = EnsembleMLP(2, 16, [32], 5)
    set_matmul_precision(net, "bf16")
    set_matmul_precision(ens, "bf16")
    x = torch.randn(4, 16)

    def forward(x):
        return net(x), ens(x, members=torch.tensor([1, 0]))

    torch._dynamo.reset()
    traced = torch.compile(forward, backend="eager", fullgraph=True)
    with torch.no_grad():
        eager = forward(x)
        got = traced(x)
        assert all(torch.equal(a, b) for a, b in zip(got, eager))
