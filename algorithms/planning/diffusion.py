"""MBDPO's planner: a reverse diffusion over the whole action sequence (method.md section 3).

Per denoising step tau = T-1 .. 1 (linear betas, ``alpha_bar = cumprod(1 - beta)``):
sample action sequences around ``x_tau / sqrt(alpha_bar)`` with std ``sqrt((1 - alpha_bar) /
alpha_bar)``, replace some by policy-prior rollouts, score them with the (energy-shaped) model value,
keep the elites, weight them by ``softmax(zscore(J) / temperature)``, and move ``x`` with the
model-based (Tweedie) score ``(sqrt(alpha_bar) * a_bar - x) / (1 - alpha_bar)``. A learned score
network can replace that score, in which case no samples are drawn at all (the amortised policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from algorithms.planning.compiled import CompiledSearch
from algorithms.planning.config import PlannerConfig
from algorithms.planning.noise import NoiseSource
from algorithms.planning.value import PlanningTask, RewardBonus, rollout_pi, trajectory_value

#: a schedule constant: a Python float, or a 0-d tensor (what the compiled planner passes)
Scalar = "float | torch.Tensor"
#: (z [B, Z], x_tau [B, H, A], tau [B], task [B] or None) -> score [B, H, A]
ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def linear_schedule(cfg: PlannerConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(alphas, alpha_bar) for the linear beta schedule, in fp32 as MBDPO computes it
    (diffusion.py, ``_get_schedule``): the score target divides by 1 - alpha_bar, so a schedule
    rounded another way moves it by up to ~1e-5 relative."""
    betas = torch.linspace(cfg.beta_start, cfg.beta_end, cfg.diffusion_steps)
    alphas = 1.0 - betas
    return alphas, torch.cumprod(alphas, 0)


def model_based_score(x: torch.Tensor, a_bar: torch.Tensor, alpha_bar: Scalar) -> torch.Tensor:
    """Tweedie's score of the noised plan x given the elite-weighted clean estimate a_bar."""
    return (alpha_bar**0.5 * a_bar - x) / (1.0 - alpha_bar + 1e-8)


def denoise_step(x: torch.Tensor, score: torch.Tensor, alpha: Scalar, alpha_bar: Scalar) -> torch.Tensor:
    """x_{tau-1} = (x_tau + (1 - alpha_bar_tau) * score) / sqrt(alpha_tau)."""
    return (x + (1.0 - alpha_bar) * score) / alpha**0.5


def zscore_logits(values: torch.Tensor, temperature: float, std_offset: float | None = None) -> torch.Tensor:
    """zscore(J) / temperature over the samples (dim 1). The std: a std under 1e-4 counts as 1
    (MBDPO's planner, diffusion.py ``plan``), or, given ``std_offset``, std + std_offset (its
    score target, mbdpo.py ``_mc_score_target``: 1e-6)."""
    std = values.std(1, keepdim=True)
    if std_offset is None:
        std = torch.where(std < 1e-4, torch.ones_like(std), std)
    else:
        std = std + std_offset
    return (values - values.mean(1, keepdim=True)) / std / max(temperature, 1e-6)


def zscore_softmax(values: torch.Tensor, temperature: float, num_elites: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Elite indices [B, E] (best first) and their weights softmax(zscore(J) / temperature) over the
    elites, in the same order."""
    elite_logits, elite_idx = zscore_logits(values, temperature).topk(num_elites, dim=1)
    return elite_idx, torch.softmax(elite_logits, dim=1)


class DiffusionPlanner:
    def __init__(self, cfg: PlannerConfig, action_dim: int, discount: float, compiled: bool = False) -> None:
        self.cfg = cfg
        self.action_dim = action_dim
        self.discount = discount
        self.compiled = compiled  # run the search under torch.compile (algorithms/planning/compiled.py)
        self.alphas, self.alpha_bar = linear_schedule(cfg)
        steps = range(cfg.diffusion_steps)
        self.schedule = [DenoisingStep(torch.tensor(t), self.alphas[t], self.alpha_bar[t]) for t in steps]
        self.prev_plan: torch.Tensor | None = None  # [B, H, A]: the last x_0

    def state_dict(self) -> dict:
        return {"prev_plan": self.prev_plan}

    def load_state_dict(self, state: dict) -> None:
        self.prev_plan = state["prev_plan"]

    @torch.no_grad()
    def search_mean(
        self,
        model,
        z: torch.Tensor,
        x: torch.Tensor,
        alpha_bar: Scalar,
        noise: NoiseSource,
        bonus: RewardBonus | None,
        num_samples: int | None = None,
        num_pi_trajs: int | None = None,
        num_elites: int | None = None,
        ctx: PlanningTask | None = None,
        *,
        std_offset: float | None = None,
    ) -> torch.Tensor:
        """The elite-weighted mean a_bar [B, H, A] of clean plans sampled around x / sqrt(alpha_bar).
        Multi-task (``ctx``): samples are masked to each task's own action dims (MBDPO's diffusion.py).
        ``std_offset``: how the values' std is kept from 0 when every sample is weighted
        (:func:`zscore_logits`)."""
        ctx = ctx or PlanningTask(None, None, self.discount)
        cfg = self.cfg
        B, H, A = x.shape
        N = cfg.num_samples if num_samples is None else num_samples
        P = cfg.num_pi_trajs if num_pi_trajs is None else num_pi_trajs
        E = min(cfg.num_elites if num_elites is None else num_elites, N)
        mean_cond = x / alpha_bar**0.5
        std_cond = ((1.0 - alpha_bar) / alpha_bar) ** 0.5
        samples = mean_cond.unsqueeze(1) + std_cond * noise.randn(N, H, A)  # [B, N, H, A]
        if ctx.mask is not None:
            samples = samples * ctx.mask.unsqueeze(1)  # [B, 1, 1, A]
        samples = samples.clamp(-1, 1)
        if P > 0:
            pi_actions = rollout_pi(model, z.unsqueeze(1).expand(B, P, -1), H, noise, ctx.task)  # [H, B, P, A]
            samples[:, :P] = pi_actions.permute(1, 2, 0, 3)
        values = trajectory_value(
            model, z.unsqueeze(1).expand(B, N, -1), samples.permute(2, 0, 1, 3), ctx.discount, noise, bonus, ctx.task
        ).nan_to_num(0.0)
        if E < N:
            elite_idx, weights = zscore_softmax(values, self.cfg.temperature, E)
            elites = samples.gather(1, elite_idx[:, :, None, None].expand(B, E, H, A))
        else:  # every sample, weighted in its own order (MBDPO: diffusion.py and _mc_score_target)
            weights = torch.softmax(zscore_logits(values, self.cfg.temperature, std_offset), dim=1)
            elites = samples
        return (weights[:, :, None, None] * elites).sum(1)

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
        score_fn: ScoreFn | None = None,
        task: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cfg = self.cfg
        B, H, A = z.shape[0], cfg.horizon, self.action_dim
        noise = noise or NoiseSource(B, z.device)
        ctx = PlanningTask.of(model, task, self.discount)
        mask = ctx.mask  # [B, 1, A] against plans [B, H, A]
        mu0 = torch.zeros(B, H, A, device=z.device)
        if not first_step and self.prev_plan is not None and self.prev_plan.shape[0] == B:
            mu0[:, :-1] = self.prev_plan[:, 1:]
        x = self.alpha_bar[-1].sqrt() * mu0
        if mask is not None:
            x = x * mask
        iteration = COMPILED_ITERATION.when(self.compiled)
        for tau in range(cfg.diffusion_steps - 1, 0, -1):  # the T-1 denoising iterations
            x = iteration(self, model, z, x, noise, bonus, score_fn, ctx, self.schedule[tau])
        plan = x.clamp(-1, 1)
        self.prev_plan = plan
        action = plan[:, 0]
        if not eval_mode:
            action = action + cfg.action_noise * noise.randn(A)
            if mask is not None:
                action = action * mask[:, 0]
            action = action.clamp(-1, 1)
        return action

    def denoise_iteration(
        self,
        model,
        z: torch.Tensor,
        x: torch.Tensor,
        noise: NoiseSource,
        bonus: RewardBonus | None,
        score_fn: ScoreFn | None,
        ctx: PlanningTask,
        step: "DenoisingStep",
    ) -> torch.Tensor:
        """x_tau -> x_{tau-1}. The step's constants are tensors, so that one compiled graph serves
        every tau (Dynamo would specialise on Python numbers and compile T-1 graphs)."""
        if score_fn is not None:
            task = ctx.task.reshape(-1) if ctx.task is not None else None
            score = score_fn(z, x, step.tau.to(z.device).expand(z.shape[0]), task)
        else:
            a_bar = self.search_mean(model, z, x, step.alpha_bar, noise, bonus, ctx=ctx)
            score = model_based_score(x, a_bar, step.alpha_bar)
        x = denoise_step(x, score, step.alpha, step.alpha_bar)
        return x * ctx.mask if ctx.mask is not None else x


@dataclass(frozen=True)
class DenoisingStep:
    """One reverse-diffusion step's constants, as 0-d tensors (tau: long; alpha, alpha_bar: float)."""

    tau: torch.Tensor
    alpha: torch.Tensor
    alpha_bar: torch.Tensor


#: shared by every diffusion planner (one compilation per configuration, not per planner)
COMPILED_ITERATION = CompiledSearch(DiffusionPlanner.denoise_iteration)
