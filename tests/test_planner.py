"""Planners: each finds the optimum of a known return landscape, batched correctly; the diffusion
update identity of method.md section 3."""

import pytest
import torch

from algorithms.planning import NoiseSource, PlannerConfig, make_planner
from algorithms.planning.diffusion import denoise_step, linear_schedule, model_based_score
from algorithms.world_model.model import PolicySample


class QuadraticModel:
    """Reward peaks at a fixed action per batch element; the latent carries the element's index so
    that a batch of N and N single calls see the same landscape; no terminal value."""

    def __init__(self, optimum: torch.Tensor) -> None:
        self.optimum = optimum  # [B, A]
        self.action_dim = optimum.shape[-1]
        self.num_q = 2

    def _target(self, z):
        return self.optimum[z[..., 0].long()]

    def reward(self, z, a, task=None):
        return -((a - self._target(z)) ** 2).sum(-1, keepdim=True)

    def next(self, z, a, task=None):
        return z

    def pi(self, z, eps=None, task=None):
        eps = torch.randn(*z.shape[:-1], self.action_dim) if eps is None else eps
        a = torch.tanh(0.5 * eps)
        zero = torch.zeros(*z.shape[:-1], 1)
        return PolicySample(a, a, zero, zero)

    def q_pairs(self, z, a, pairs, task=None):
        return torch.zeros(*z.shape[:-1], 1)


OPTIMUM = torch.tensor([[0.5, -0.3], [-0.7, 0.2], [0.1, 0.9]])
KINDS = {
    "mppi": dict(kind="mppi", iterations=8),
    "cem": dict(kind="cem", iterations=8, num_pi_trajs=0),
    "diffusion": dict(kind="diffusion"),
}


def _latents(n):
    return torch.arange(n, dtype=torch.float32).unsqueeze(-1).repeat(1, 4)


@pytest.mark.parametrize("kind", KINDS)
def test_planner_finds_known_optimum_batched(kind):
    torch.manual_seed(0)
    planner = make_planner(PlannerConfig(**KINDS[kind]), action_dim=2, discount=0.99)
    action = planner.plan(QuadraticModel(OPTIMUM), _latents(3), first_step=True, eval_mode=True)
    assert action.shape == (3, 2)
    assert torch.allclose(action, OPTIMUM, atol=0.06), action


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eval_mode", [True, False])
def test_batch_equals_single_calls_with_same_seeds(kind, eval_mode):
    cfg = PlannerConfig(**KINDS[kind])
    model = QuadraticModel(OPTIMUM)
    seeds = [11, 12, 13]
    batched = make_planner(cfg, 2, 0.99)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    noise = NoiseSource(3, torch.device("cpu"), gens)
    out = [batched.plan(model, _latents(3), first_step=t == 0, eval_mode=eval_mode, noise=noise) for t in range(3)]
    for i, s in enumerate(seeds):
        single = make_planner(cfg, 2, 0.99)
        g = [torch.Generator().manual_seed(s)]
        z = _latents(3)[i : i + 1]
        for t in range(3):  # warm start carried over steps, per element
            a = single.plan(
                model, z, first_step=t == 0, eval_mode=eval_mode, noise=NoiseSource(1, torch.device("cpu"), g)
            )
            assert torch.allclose(a[0], out[t][i], atol=1e-6), (kind, i, t)


def test_diffusion_update_identity():
    """x_{tau-1} = (x + (1 - ab) * score_mb) / sqrt(alpha) == sqrt(ab) * a_bar / sqrt(alpha)."""
    cfg = PlannerConfig(kind="diffusion")
    alphas, alpha_bar = linear_schedule(cfg)
    torch.manual_seed(0)
    x, a_bar = torch.randn(4, 3, 2), torch.rand(4, 3, 2) * 2 - 1
    for tau in (1, 7, 19):
        ab, al = float(alpha_bar[tau]), float(alphas[tau])
        lhs = denoise_step(x, model_based_score(x, a_bar, ab), al, ab)
        assert torch.allclose(lhs, ab**0.5 * a_bar / al**0.5, atol=1e-4)
    # the sampling std of the search anneals from ~0.33 to ~0.03 over the 19 iterations
    std = ((1 - alpha_bar) / alpha_bar).sqrt()
    assert std[19].item() == pytest.approx(0.33, abs=0.02) and std[1].item() == pytest.approx(0.017, abs=0.01)


def test_mppi_exploration_noise_only_in_training():
    torch.manual_seed(1)
    optimum = torch.tensor([[0.2]])
    planner = make_planner(PlannerConfig(), action_dim=1, discount=0.99)
    z = torch.zeros(1, 4)
    evals = torch.stack([planner.plan(QuadraticModel(optimum), z, first_step=True, eval_mode=True) for _ in range(30)])
    trains = torch.stack(
        [planner.plan(QuadraticModel(optimum), z, first_step=True, eval_mode=False) for _ in range(30)]
    )
    assert trains.std() > 1.5 * evals.std()  # elite std (>= min_std 0.05) added while training
    assert (evals - 0.2).abs().max() < 0.05


def test_bad_planner_config_is_one_line():
    with pytest.raises(ValueError, match="unknown planner.kind 'mpi'; valid: mppi, cem, diffusion"):
        PlannerConfig(kind="mpi").validate()  # make_planner takes a validated config
