"""TD-MPC2's decoder-free latent world model, single- or multi-task (a task embedding and per-task action
masks); state observations or stacked RGB frames (a conv encoder)."""

from __future__ import annotations

import copy
from typing import NamedTuple, Sequence

import torch
from torch import nn

from algorithms.world_model.config import ModelConfig
from algorithms.world_model.draws import ModelDraws
from algorithms.world_model.layers import EnsembleMLP, SimNorm, init_weights, mlp, polyak_
from algorithms.world_model.pixel_encoder import PixelEncoder, pixel_latent_problem
from algorithms.world_model.scalars import SymlogTwoHot


def gaussian_log_prob(eps: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(mu + eps*std | mu, std) summed over the action dims -> [..., 1]."""
    return (-0.5 * eps.pow(2) - log_std - 0.9189385175704956).sum(-1, keepdim=True)


def squash_log_prob(log_prob: torch.Tensor, squashed: torch.Tensor) -> torch.Tensor:
    """The log-prob after ``tanh``: subtract log(1 - tanh^2) (with TD-MPC2's relu and 1e-6)."""
    return log_prob - torch.log(torch.relu(1 - squashed.pow(2)) + 1e-6).sum(-1, keepdim=True)


def scaled_entropy(pre_squash_log_prob: torch.Tensor, log_prob: torch.Tensor, action_dims) -> torch.Tensor:
    """TD-MPC2's ``scaled_entropy`` (world_model.py, ``pi``), formula for formula:
    ``-log_prob * (A * pre / (log_prob + 1e-8))``, i.e. -A x the Gaussian log-prob *before* the
    tanh squash (up to the 1e-8), where ``log_prob`` is the squashed one and A the action dims."""
    entropy_scale = pre_squash_log_prob * action_dims / (log_prob + 1e-8)
    return -log_prob * entropy_scale


class PolicySample(NamedTuple):
    """What the policy prior returns: tanh(mean), a squashed sample, its log-prob after the squash,
    and TD-MPC2's scaled entropy of that sample (the bonus the policy loss maximises)."""

    mean: torch.Tensor
    action: torch.Tensor
    log_prob: torch.Tensor
    scaled_entropy: torch.Tensor


class WorldModel(nn.Module):
    """Encoder h, latent dynamics d, reward r, policy prior pi and an ensemble of Q heads.

    Latents live on a product of simplices (SimNorm); reward and Q predict two-hot distributions
    over symlog values. Target Q heads are a Polyak-averaged copy of the Q ensemble.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        obs_dim: int,
        action_dim: int,
        *,
        action_dims: Sequence[int] = (),
        obs_shape: Sequence[int] = (),
    ) -> None:
        """``action_dims``: each task's own action dims in multi-task mode (its length is the number
        of tasks; ``obs_dim`` and ``action_dim`` are then the largest of the task set); empty:
        single-task, no task embedding. ``obs_shape`` (C, H, W): stacked uint8 frames, encoded by
        TD-MPC2's conv encoder (single-task only, as in the references); empty or (obs_dim,): a
        state vector, encoded by an MLP."""
        super().__init__()
        cfg = cfg.resolved()
        self.cfg = cfg
        self.action_dim = action_dim
        self.num_tasks = len(action_dims)
        self.task_dim = cfg.task_dim if self.num_tasks else 0
        self.pixels = len(obs_shape) == 3
        z, a, m, e = cfg.latent_dim, action_dim, cfg.mlp_dim, self.task_dim
        enc_hidden = max(cfg.num_enc_layers - 1, 1) * [cfg.enc_dim]
        # multi-task: the task embedding is concatenated to every network's input (TD-MPC2's
        # world_model.py, task_emb): [obs, e], [z, e, a], [z, e]
        if self.pixels:
            problem = pixel_latent_problem(z, cfg.num_channels)
            if self.num_tasks:
                problem = "a multi-task model cannot learn from pixels (neither reference does)"
            if problem:
                raise ValueError(problem)
            self.encoder = PixelEncoder(obs_shape[0], cfg.num_channels, SimNorm(cfg.simnorm_dim))
        else:
            self.encoder = mlp(obs_dim + e, enc_hidden, z, out_act=SimNorm(cfg.simnorm_dim))
        self.dynamics = mlp(z + e + a, 2 * [m], z, out_act=SimNorm(cfg.simnorm_dim))
        self.reward_head = mlp(z + e + a, 2 * [m], cfg.num_bins)
        self.pi_head = mlp(z + e, 2 * [m], 2 * a)
        self.qs = EnsembleMLP(cfg.num_q, z + e + a, 2 * [m], cfg.num_bins, dropout=cfg.dropout)
        self.task_embedding = None
        masks = None  # single-task models keep exactly TD-MPC2's single-task parameters and buffers
        if self.num_tasks:
            self.task_embedding = nn.Embedding(self.num_tasks, e, max_norm=1)
            masks = torch.zeros(self.num_tasks, a)
            for i, dims in enumerate(action_dims):
                masks[i, :dims] = 1.0
        self.register_buffer("action_masks", masks)  # [num_tasks, A]: 1 on each task's own dims
        self.apply(init_weights)  # reaches the nn.Linear layers, not the ensemble's stacked parameters
        if cfg.q_init == "torch_default":
            self.qs.reset_parameters_torch_default()  # MBDPO: its weight_init never reaches the stacked Qs
        nn.init.zeros_(self.reward_head[-1].weight)
        self.qs.zero_last_layer()
        self.target_qs = copy.deepcopy(self.qs).requires_grad_(False).train(False)  # never dropout
        self.two_hot = SymlogTwoHot(cfg.num_bins, cfg.vmin, cfg.vmax)
        self.log_std_min = cfg.log_std_min
        self.log_std_dif = cfg.log_std_max - cfg.log_std_min
        #: the policy noise and Q-head pairs drawn when not given (algorithms/world_model/draws.py)
        self.draws = ModelDraws()

    def train(self, mode: bool = True) -> "WorldModel":
        super().train(mode)
        self.target_qs.train(False)
        return self

    # --- the model's functions -------------------------------------------------------------
    # ``task`` (multi-task models only; ignored when None or single-task): task ids whose shape
    # broadcasts against the input's leading dims, right-aligned: [B] for [H, B, Z], [B, 1] for
    # a planner's [B, N, Z].
    @property
    def multitask(self) -> bool:
        return self.task_embedding is not None

    def with_task(self, x: torch.Tensor, task: torch.Tensor | None) -> torch.Tensor:
        """``[x, e(task)]`` in multi-task mode, else ``x``."""
        if task is None or self.task_embedding is None:
            return x
        emb = self.task_embedding(task)
        return torch.cat([x, emb.expand(*x.shape[:-1], emb.shape[-1])], dim=-1)

    def action_mask(self, task: torch.Tensor | None) -> torch.Tensor | None:
        """1 on the task's own action dims, 0 on the padding ([..., A]); None single-task."""
        if task is None or self.task_embedding is None:
            return None
        return self.action_masks[task]

    def encode(self, obs: torch.Tensor, task: torch.Tensor | None = None) -> torch.Tensor:
        """obs [..., obs_dim] (state) or uint8 frames [..., C, H, W] (pixels: shifted at random at
        every call, as in the references) -> latents [..., latent_dim]."""
        if self.pixels:
            return self.encoder(obs)
        return self.encoder(self.with_task(obs, task))

    def next(self, z: torch.Tensor, a: torch.Tensor, task: torch.Tensor | None = None) -> torch.Tensor:
        return self.dynamics(torch.cat([self.with_task(z, task), a], dim=-1))

    def reward_logits(self, z: torch.Tensor, a: torch.Tensor, task: torch.Tensor | None = None) -> torch.Tensor:
        return self.reward_head(torch.cat([self.with_task(z, task), a], dim=-1))

    def reward(self, z: torch.Tensor, a: torch.Tensor, task: torch.Tensor | None = None) -> torch.Tensor:
        return self.two_hot.decode(self.reward_logits(z, a, task))

    @property
    def num_q(self) -> int:
        return self.qs.members

    def pi(self, z: torch.Tensor, eps: torch.Tensor | None = None, task: torch.Tensor | None = None) -> PolicySample:
        """Tanh-squashed Gaussian prior (a :class:`PolicySample`).

        ``eps`` (standard normal, shaped like the action) may be given to control the draw. In
        multi-task mode the mean, log-std and noise are masked to the task's own action dims and
        the entropy is scaled by their number, as TD-MPC2's ``pi`` does."""
        mu, log_std = self.pi_head(self.with_task(z, task)).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * self.log_std_dif * (torch.tanh(log_std) + 1)
        eps = self.draws.normal_like(mu) if eps is None else eps
        mask = self.action_mask(task)
        if mask is not None:
            mu, log_std, eps = mu * mask, log_std * mask, eps * mask
            action_dims = mask.sum(-1, keepdim=True)
        else:
            action_dims = eps.shape[-1]
        pre_squash = gaussian_log_prob(eps, log_std)
        sample = torch.tanh(mu + eps * log_std.exp())
        log_prob = squash_log_prob(pre_squash, sample)
        return PolicySample(torch.tanh(mu), sample, log_prob, scaled_entropy(pre_squash, log_prob, action_dims))

    def q_logits(
        self,
        z: torch.Tensor,
        a: torch.Tensor,
        *,
        target: bool = False,
        detach: bool = False,
        task: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """All heads' logits: [num_q, ..., num_bins]."""
        net = self.target_qs if target else self.qs
        return net(torch.cat([self.with_task(z, task), a], dim=-1), detach=detach)

    def q(
        self,
        z: torch.Tensor,
        a: torch.Tensor,
        reduce: str,
        *,
        target: bool = False,
        detach: bool = False,
        heads: str = "random",
        task: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Min or mean of two Q heads -> [..., 1] (only those two heads are run): two chosen at random
        (``heads="random"``, TD-MPC2) or heads 0 and 1 (``heads="first_two"``, MBDPO's TD target)."""
        net = self.target_qs if target else self.qs
        if heads == "first_two":
            pair = torch.arange(2, device=z.device)
        else:
            pair = self.draws.head_pair(net.members, z.device)
        values = self.two_hot.decode(net(torch.cat([self.with_task(z, task), a], dim=-1), members=pair, detach=detach))
        return values.min(0).values if reduce == "min" else values.mean(0)

    def q_pairs(
        self, z: torch.Tensor, a: torch.Tensor, pairs: torch.Tensor, task: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean of two Q heads chosen per batch element: z [B, ..., Z], pairs [B, 2] -> [B, ..., 1].

        Pairs [1, 2] (the whole batch shares one pair): only those two heads run; otherwise all
        heads run and each element takes its own pair. (A shape, not a test of the values, decides:
        a compiled planner must not read tensor data to choose its graph.)"""
        x = torch.cat([self.with_task(z, task), a], dim=-1)
        if pairs.shape[0] == 1:
            return self.two_hot.decode(self.qs(x, members=pairs[0])).mean(0)
        values = self.two_hot.decode(self.qs(x))  # [Q, B, ..., 1]
        index = pairs.T.reshape(2, pairs.shape[0], *([1] * (values.dim() - 2))).expand(2, *values.shape[1:])
        return values.gather(0, index).mean(0)

    def soft_update_target(self, tau: float) -> None:
        polyak_(self.target_qs, self.qs, tau)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("target_qs"))
