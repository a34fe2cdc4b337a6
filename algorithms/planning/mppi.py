"""TD-MPC2's planner: MPPI over action sequences, with policy-prior trajectories and warm start.

CEM is the same search with uniform elite weights (`CEMPlanner`)."""

from __future__ import annotations

import torch

from algorithms.planning.compiled import CompiledSearch
from algorithms.planning.config import PlannerConfig
from algorithms.planning.noise import NoiseSource
from algorithms.planning.value import PlanningTask, RewardBonus, rollout_pi, trajectory_value


class MPPIPlanner:
    """Batched MPPI: latents [B, Z] -> first actions [B, A], keeping a per-batch warm start.

    Each iteration samples around the current mean with the current std, scores the samples with
    ``trajectory_value``, keeps the elites and refits mean and std with weights
    ``exp(temperature * (V - max V))``. The action is drawn from the final elites in proportion to
    those weights; while training, the elite std is added as exploration noise.
    """

    def __init__(self, cfg: PlannerConfig, action_dim: int, discount: float, compiled: bool = False) -> None:
        self.cfg = cfg
        self.action_dim = action_dim
        self.discount = discount
        self.compiled = compiled  # run the search under torch.compile (algorithms/planning/compiled.py)
        self.prev_mean: torch.Tensor | None = None  # [B, H, A] warm start

    def state_dict(self) -> dict:
        return {"prev_mean": self.prev_mean}

    def load_state_dict(self, state: dict) -> None:
        self.prev_mean = state["prev_mean"]

    def elite_weights(self, elite_value: torch.Tensor) -> torch.Tensor:
        w = torch.exp(self.cfg.temperature * (elite_value - elite_value.max(1, keepdim=True).values))
        return w / w.sum(1, keepdim=True)

    def _initial_mean(self, B: int, first_step: bool, device: torch.device) -> torch.Tensor:
        H, A = self.cfg.horizon, self.action_dim
        mean = torch.zeros(B, H, A, device=device)
        if not first_step and self.prev_mean is not None and self.prev_mean.shape[0] == B:
            mean[:, :-1] = self.prev_mean[:, 1:]
        return mean

    @torch.no_grad()
    def plan(
        self,
        model,
        z: torch.Tensor,
        *,
        first_step: bool,
        eval_mode: bool,
        noise: NoiseSource | None = None,
        bonus: RewardBonus | None = None,
        task: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``task`` [B] (multi-task models): samples, mean and std are masked to each task's own
        action dims after every iteration, as TD-MPC2's ``_plan`` does."""
        B, A = z.shape[0], self.action_dim
        noise = noise or NoiseSource(B, z.device)
        ctx = PlanningTask.of(model, task, self.discount)
        mean = self._initial_mean(B, first_step, z.device)  # [B, H, A]
        action, first_std, mean = self.search(model, z, mean, noise, bonus, ctx)
        if not eval_mode:
            action = action + first_std * noise.randn(A)
        self.prev_mean = mean.contiguous()
        return action.clamp(-1, 1)

    def search(
        self,
        model,
        z: torch.Tensor,
        mean: torch.Tensor,
        noise: NoiseSource,
        bonus: RewardBonus | None,
        ctx: PlanningTask,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The iterations from the warm start ``mean`` [B, H, A]: (the chosen elite's first action
        [B, A], the final std's first step [B, A], the final mean [B, H, A])."""
        cfg = self.cfg
        B, H, A = z.shape[0], cfg.horizon, self.action_dim
        P = cfg.num_pi_trajs
        std = torch.full((B, H, A), cfg.max_std, device=z.device)
        pi_actions = rollout_pi(model, z.unsqueeze(1).expand(B, P, -1), H, noise, ctx.task) if P > 0 else None
        iteration = COMPILED_ITERATION.when(self.compiled)
        for _ in range(cfg.iterations_for(A)):
            mean, std, elite_actions, weights = iteration(self, model, z, mean, noise, std, pi_actions, bonus, ctx)
        choice = noise.categorical(weights)  # [B]
        action = elite_actions[torch.arange(B, device=z.device), choice, 0]  # [B, A]
        return action, std[:, 0], mean

    def iteration(
        self,
        model,
        z: torch.Tensor,
        mean: torch.Tensor,
        noise: NoiseSource,
        std: torch.Tensor,
        pi_actions: torch.Tensor | None,
        bonus: RewardBonus | None,
        ctx: PlanningTask,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One refit: samples around (mean, std) [B, H, A] after the policy prior's [H, B, P, A] ->
        (mean, std, elite actions [B, E, H, A], elite weights [B, E])."""
        cfg = self.cfg
        B, H, A = z.shape[0], cfg.horizon, self.action_dim
        N, P, E = cfg.num_samples, cfg.num_pi_trajs, cfg.num_elites
        eps = noise.randn(N - P, H, A).permute(2, 0, 1, 3)  # [H, B, N-P, A]
        actions = (mean.transpose(0, 1).unsqueeze(2) + std.transpose(0, 1).unsqueeze(2) * eps).clamp(-1, 1)
        if pi_actions is not None:
            actions = torch.cat([pi_actions, actions], dim=2)  # [H, B, N, A]
        if ctx.mask is not None:
            actions = actions * ctx.mask  # [B, 1, A] against [H, B, N, A]
        z_samples = z.unsqueeze(1).expand(B, N, -1)
        value = trajectory_value(model, z_samples, actions, ctx.discount, noise, bonus, ctx.task).nan_to_num(0.0)
        elite_value, elite_idx = value.topk(E, dim=1)  # [B, E]
        elite_actions = actions.gather(2, elite_idx[None, :, :, None].expand(H, B, E, A)).permute(1, 2, 0, 3)
        weights = self.elite_weights(elite_value)  # [B, E]
        w = weights[:, :, None, None]
        mean = (w * elite_actions).sum(1)
        std = (w * (elite_actions - mean.unsqueeze(1)).pow(2)).sum(1).sqrt().clamp(cfg.min_std, cfg.max_std)
        if ctx.mask is not None:
            mean, std = mean * ctx.mask, std * ctx.mask
        return mean, std, elite_actions, weights


#: shared by every MPPI and CEM planner (one compilation per configuration, not per planner)
COMPILED_ITERATION = CompiledSearch(MPPIPlanner.iteration)


class CEMPlanner(MPPIPlanner):
    """Cross-entropy method: elites refit mean and std with equal weights (no temperature)."""

    def elite_weights(self, elite_value: torch.Tensor) -> torch.Tensor:
        return torch.full_like(elite_value, 1.0 / elite_value.shape[1])
