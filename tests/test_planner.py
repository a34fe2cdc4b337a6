"""MPPI finds the optimum of a known return landscape."""
import torch

from algorithms.planning.mppi import MPPIConfig, MPPIPlanner


class QuadraticModel:
    """Latent = nothing interesting; reward peaks at a fixed action; value terms vanish."""

    def __init__(self, optimum: torch.Tensor) -> None:
        self.optimum = optimum  # [B, A]

    def reward(self, z, a):
        target = self.optimum.view(-1, *([1] * (a.dim() - 2)), self.optimum.shape[-1])
        return -((a - target) ** 2).sum(-1, keepdim=True)

    def next(self, z, a):
        return z

    def pi(self, z):
        a = torch.rand(*z.shape[:-1], self.optimum.shape[-1]) * 2 - 1
        return a, a, torch.zeros(*z.shape[:-1], 1)

    def q(self, z, a, reduce):
        return torch.zeros(*z.shape[:-1], 1)


def test_mppi_finds_known_optimum_batched():
    torch.manual_seed(0)
    optimum = torch.tensor([[0.5, -0.3], [-0.7, 0.2], [0.1, 0.9]])
    planner = MPPIPlanner(MPPIConfig(horizon=3, iterations=8), action_dim=2, discount=0.99)
    z = torch.zeros(3, 4)
    action = planner.plan(QuadraticModel(optimum), z, first_step=True, eval_mode=True)
    assert action.shape == (3, 2)
    assert torch.allclose(action, optimum, atol=0.05), action
    # warm start holds the plan of every batch element
    assert planner.prev_mean.shape == (3, 3, 2)
    assert torch.allclose(planner.prev_mean[:, 0], optimum, atol=0.05)


def test_mppi_exploration_noise_only_in_training():
    torch.manual_seed(1)
    optimum = torch.tensor([[0.2]])
    planner = MPPIPlanner(MPPIConfig(), action_dim=1, discount=0.99)
    evals = torch.stack([planner.plan(QuadraticModel(optimum), torch.zeros(1, 4), first_step=True, eval_mode=True) for _ in range(30)])
    trains = torch.stack([planner.plan(QuadraticModel(optimum), torch.zeros(1, 4), first_step=True, eval_mode=False) for _ in range(30)])
    assert trains.std() > 1.5 * evals.std()  # elite std (>= min_std 0.05) added while training
    assert (evals - 0.2).abs().max() < 0.05
