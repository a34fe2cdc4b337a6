"""Model-free SAC (v2: twin Q, no state-value network, learned temperature), the benchmark's
model-free reference, built from TorchRL's parts.

TorchRL does the algorithm: ``ProbabilisticActor`` with a ``TanhNormal`` policy, a ``ValueOperator``
per critic, ``SACLoss`` (the v2 loss, clipped double-Q TD(0) targets with the entropy bonus, and the
temperature loss), ``SoftUpdate`` for the target critics and a ``ReplayBuffer`` on a
``LazyTensorStorage`` of single transitions. The environment is stepped by TorchRL's ``Collector``
in the harness (harness/training/collect.py), as for every algorithm, so that all share the same evaluation,
seeding and checkpointing: this class sees transitions (``observe``), never the environment.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torch import nn
from torchrl.data import Bounded, LazyTensorStorage, RandomSampler, ReplayBuffer
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import SACLoss, SoftUpdate, ValueEstimators

from algorithms.base import Algorithm, EnvSpec
from algorithms.conventions import default_seed_steps, heuristic_discount
from algorithms.sac.config import SACConfig

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "silu": nn.SiLU}
_METRICS = ("loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy")


class SACAgent(Algorithm):
    """The config is validated when the harness builds it (harness.config.build_algo_config)."""

    def __init__(self, cfg: SACConfig, env_spec: EnvSpec, device: torch.device, total_steps: int) -> None:
        super().__init__(cfg, env_spec, device, total_steps)
        D, A = env_spec.obs_dim, env_spec.action_dim
        low, high = float(env_spec.action_low), float(env_spec.action_high)
        self._low, self._high = low, high
        act_cls = _ACTIVATIONS[cfg.activation]
        hidden = [int(h) for h in cfg.hidden_dims]

        # Actor: obs -> (loc, scale) -> TanhNormal on [low, high]; scale = biased softplus >= min_std.
        actor_net = nn.Sequential(
            MLP(in_features=D, out_features=2 * A, num_cells=hidden, activation_class=act_cls, device=device),
            NormalParamExtractor(scale_lb=cfg.min_std),
        )
        self.actor = ProbabilisticActor(
            TensorDictModule(actor_net, in_keys=["observation"], out_keys=["loc", "scale"]),
            in_keys=["loc", "scale"],
            out_keys=["action"],
            spec=Bounded(low, high, shape=(A,), device=device),
            distribution_class=TanhNormal,
            distribution_kwargs={"low": low, "high": high},
            default_interaction_type=ExplorationType.RANDOM,
        )
        # Critics: (obs, action) -> Q. A list, so that each critic keeps its own default
        # initialisation (a single module would be expanded and re-drawn uniformly by TorchRL).
        critics = [
            ValueOperator(
                MLP(in_features=D + A, out_features=1, num_cells=hidden, activation_class=act_cls, device=device),
                in_keys=["observation", "action"],
            )
            for _ in range(cfg.num_qvalue_nets)
        ]
        self.discount = (
            float(cfg.discount)
            if cfg.discount is not None
            else heuristic_discount(env_spec.episode_length, cfg.discount_denom, cfg.discount_min, cfg.discount_max)
        )
        self.target_entropy = float(cfg.target_entropy) if cfg.target_entropy is not None else -float(A)
        # The loss owns every trained tensor: actor and critic parameters (shared with self.actor),
        # the target critics and log_alpha. ``model`` is that module (what checkpoint tests compare).
        self.loss = SACLoss(
            self.actor,
            critics if len(critics) > 1 else critics[0],
            num_qvalue_nets=cfg.num_qvalue_nets,
            loss_function=cfg.loss_function,
            alpha_init=cfg.alpha_init,
            fixed_alpha=cfg.fixed_alpha,
            target_entropy=self.target_entropy,
            delay_actor=False,
            delay_qvalue=True,
        )
        # TD(0) target r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha log pi(a'|s')):
        # time-limit truncations (done without terminated) keep bootstrapping.
        self.loss.make_value_estimator(ValueEstimators.TD0, gamma=self.discount)
        self.model = self.loss
        self.target_updater = SoftUpdate(self.loss, tau=cfg.tau)

        self.actor_optim = torch.optim.Adam(list(self.loss.actor_network_params.flatten_keys().values()), lr=cfg.lr)
        self.critic_optim = torch.optim.Adam(list(self.loss.qvalue_network_params.flatten_keys().values()), lr=cfg.lr)
        self.alpha_optim = None if cfg.fixed_alpha else torch.optim.Adam([self.loss.log_alpha], lr=cfg.alpha_lr)

        L = env_spec.episode_length
        self._seed_steps = cfg.seed_steps if cfg.seed_steps is not None else default_seed_steps(L)
        capacity = max(min(cfg.buffer_size, total_steps), 1)  # single transitions: min(buffer_size, steps)
        # Transitions live on the CPU (like the episode replay of the world-model agents); a sampled
        # batch is moved to ``device``. RandomSampler draws from torch's global RNG.
        self.replay = ReplayBuffer(
            storage=LazyTensorStorage(capacity, device="cpu"),
            sampler=RandomSampler(),
            batch_size=cfg.batch_size,
        )
        self.num_updates = 0

    # --- acting -----------------------------------------------------------------------------
    @property
    def seed_steps(self) -> int:
        return self._seed_steps

    @torch.no_grad()
    def act(self, obs: torch.Tensor, *, eval_mode: bool, first_step: bool) -> torch.Tensor:
        """Training: a sample of the TanhNormal policy; evaluation: its deterministic mode, the
        squashed mean tanh(loc). ``first_step`` is unused (SAC keeps no state between steps)."""
        obs = obs.to(self.device, torch.float32)
        td = TensorDict(observation=obs, batch_size=obs.shape[:-1], device=self.device)
        mode = ExplorationType.DETERMINISTIC if eval_mode else ExplorationType.RANDOM
        with set_exploration_type(mode):
            action = self.actor(td)["action"]
        return action.clamp(self._low, self._high).cpu()

    # --- data -------------------------------------------------------------------------------
    def observe(self, transition: TensorDictBase) -> None:
        """Store (s, a, s', r, terminated, done); a transition or a batch of them."""
        nxt = transition["next"]
        batch = transition.batch_size
        data = TensorDict(
            observation=transition["observation"].float(),
            action=transition["action"].float(),
            next=TensorDict(
                observation=nxt["observation"].float(),
                reward=nxt["reward"].float().reshape(*batch, 1),
                terminated=nxt["terminated"].bool().reshape(*batch, 1),
                done=nxt["done"].bool().reshape(*batch, 1),
                batch_size=batch,
            ),
            batch_size=batch,
        ).to("cpu")
        if len(batch) == 0:
            self.replay.add(data)
        else:
            self.replay.extend(data.reshape(-1))

    # --- learning ---------------------------------------------------------------------------
    def update(self, step: int) -> dict[str, float]:
        """``utd`` gradient steps from ``seed_steps`` on; returns the metrics averaged over them."""
        if step < self.seed_steps or len(self.replay) == 0:
            return {}
        sums = dict.fromkeys(_METRICS, 0.0)
        for _ in range(self.cfg.utd):
            for k, v in self._update_once(self.replay.sample().to(self.device)).items():
                sums[k] += v
        return {k: v / self.cfg.utd for k, v in sums.items()}

    def _update_once(self, batch: TensorDict) -> dict[str, float]:
        out = self.loss(batch)
        # One backward for the three losses is exact: SACLoss detaches the critics in the actor
        # loss, alpha in both, log pi in the temperature loss and the whole TD target.
        total = out["loss_actor"] + out["loss_qvalue"] + out["loss_alpha"]
        optims = [o for o in (self.actor_optim, self.critic_optim, self.alpha_optim) if o is not None]
        for o in optims:
            o.zero_grad(set_to_none=True)
        total.backward()
        for o in optims:
            o.step()
        self.target_updater.step()
        self.num_updates += 1
        return {k: float(out[k].detach()) for k in _METRICS}

    # --- bookkeeping ------------------------------------------------------------------------
    def num_parameters(self) -> int:
        """Actor + critics (+ log_alpha when learned); target critics are not counted."""
        return sum(p.numel() for p in self.loss.parameters() if p.requires_grad)

    @property
    def alpha(self) -> float:
        return float(self.loss.log_alpha.detach().exp())

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.loss.state_dict(),  # actor, critics, target critics, log_alpha
            "actor_optim": self.actor_optim.state_dict(),
            "critic_optim": self.critic_optim.state_dict(),
            "alpha_optim": self.alpha_optim.state_dict() if self.alpha_optim is not None else None,
            "replay": self.replay.state_dict(),
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (self.alpha_optim is None) != (state.get("alpha_optim") is None):
            raise ValueError("checkpoint/config mismatch: fixed_alpha differs between this config and the checkpoint")
        self.loss.load_state_dict(state["model"])
        self.actor_optim.load_state_dict(state["actor_optim"])
        self.critic_optim.load_state_dict(state["critic_optim"])
        if self.alpha_optim is not None:
            self.alpha_optim.load_state_dict(state["alpha_optim"])
        self.replay.load_state_dict(state["replay"])
        self.num_updates = state["num_updates"]
