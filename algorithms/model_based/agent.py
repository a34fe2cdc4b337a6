"""World-model agents: TD-MPC2's latent model and learning, with a pluggable planner, MBDPO's
energy anchor and learned score network. Every registered model-based algorithm is this class
with a different config (configs/algos/*.yaml), which is what makes the ablation clean."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from tensordict import TensorDict, TensorDictBase

from algorithms.base import Algorithm, EnvSpec
from algorithms.compiling import CompiledFunction
from algorithms.conventions import default_seed_steps, heuristic_discount, replay_capacity
from algorithms.model_based.config import WorldModelAgentConfig
from algorithms.planning import NoiseSource, make_planner
from algorithms.planning.diffusion import DiffusionPlanner, model_based_score
from algorithms.planning.value import PlanningTask
from algorithms.replay import EpisodeReplay, replay_row_bytes
from algorithms.world_model import WorldModel
from algorithms.world_model.energy import EnergyClassifier
from algorithms.world_model.layers import set_matmul_precision
from algorithms.world_model.scalars import RunningScale
from algorithms.world_model.score import ScoreNetwork


class UntrainedScoreNetworkError(RuntimeError):
    """Acting with the learned score network before it was ever trained."""


class WorldModelAgent(Algorithm):
    """The config is validated when the harness builds it (harness.config.build_algo_config)."""

    PARTS = ("encoder", "dynamics", "reward", "pi", "q", "task_embedding", "energy", "score")

    def __init__(self, cfg: WorldModelAgentConfig, env_spec: EnvSpec, device: torch.device, total_steps: int) -> None:
        super().__init__(cfg, env_spec, device, total_steps)
        A = env_spec.action_dim
        self.model = WorldModel(
            cfg.model, env_spec.obs_dim, A, action_dims=env_spec.action_dims, obs_shape=env_spec.obs_shape
        ).to(device)
        m, mcfg = self.model, self.model.cfg
        self.energy = (
            EnergyClassifier(
                mcfg.latent_dim,
                A,
                mcfg.mlp_dim,
                momentum=cfg.energy.momentum,
                clip=cfg.energy.clip,
                neg_noise=cfg.energy.neg_noise,
                zero_init_last=cfg.energy.zero_init_last,
                positives=cfg.energy.positives,
                task_dim=m.task_dim,
            ).to(device)
            if cfg.energy.enabled
            else None
        )
        self.score_net = (
            ScoreNetwork(
                mcfg.latent_dim, cfg.planner.horizon, A, mcfg.mlp_dim, cfg.score.embed_dim, task_dim=m.task_dim
            ).to(device)
            if cfg.score.enabled
            else None
        )
        for net in (m, self.energy, self.score_net):
            if net is not None:
                set_matmul_precision(net, cfg.matmul_precision)
        groups = [
            {"params": m.encoder.parameters(), "lr": cfg.lr * cfg.enc_lr_scale},
            {"params": m.dynamics.parameters()},
            {"params": m.reward_head.parameters()},
            {"params": m.qs.parameters()},
        ]
        groups += [{"params": net.parameters()} for net in (self.energy, self.score_net) if net is not None]
        if m.task_embedding is not None:  # TD-MPC2's optimiser has the task embedding as its own group
            groups.append({"params": m.task_embedding.parameters()})
        # foreach: the multi-tensor Adam, which torch picks by default on GPUs only; on a CPU it
        # steps bit for bit as the per-parameter loop does, in 2/3 of the time (a laptop update's
        # ~30 parameters: 2.3 -> 1.4 ms on 1 core)
        self.optim = torch.optim.Adam(groups, lr=cfg.lr, foreach=True)
        self.pi_optim = torch.optim.Adam(m.pi_head.parameters(), lr=cfg.lr, eps=1e-5, foreach=True)
        self.scale = RunningScale(cfg.tau).to(device)
        self.discount = heuristic_discount(
            env_spec.episode_length, cfg.discount_denom, cfg.discount_min, cfg.discount_max
        )
        if env_spec.multitask:  # each task's own discount from its episode length
            self.discount = torch.tensor(
                [
                    heuristic_discount(L, cfg.discount_denom, cfg.discount_min, cfg.discount_max)
                    for L in env_spec.episode_lengths
                ],
                device=device,
            )
        #: the task id acting and online updates use with a multi-task model (fine-tuning one task)
        self.task_id: int | None = None
        # One warm-start state for training and one for evaluation, so that an evaluation between
        # two training steps does not disturb the training plan.
        compiled = cfg.compiles("planner")
        self.planners = {mode: make_planner(cfg.planner, A, self.discount, compiled) for mode in ("train", "eval")}
        L = env_spec.episode_length
        self._seed_steps = cfg.seed_steps if cfg.seed_steps is not None else default_seed_steps(L)
        self.replay = EpisodeReplay(
            replay_capacity(cfg.buffer_size, total_steps, L),
            cfg.batch_size,
            cfg.planner.horizon,
            device,
            storage=cfg.buffer_storage,
            row_bytes=replay_row_bytes(env_spec),
        )
        self._episode: list[TensorDict] = []
        self._pretrained = False
        self.num_updates = 0
        #: parameters outside the optimisers whose gradients still join the update's clip (fine-tuning)
        self._unstepped: list[torch.nn.Parameter] = []
        self._bonus = self._score_fn = None  # built on first use (reward_bonus, score_fn)

    # --- acting -----------------------------------------------------------------------------
    @property
    def seed_steps(self) -> int:
        return self._seed_steps

    def reward_bonus(self):
        """MBDPO's shaping eta * F_norm(z, a) for the planner, or None without the anchor. The same
        function object on every call, so that a compiled search does not re-check a new closure."""
        if self.energy is None or self.cfg.energy.eta == 0:
            return None
        if self._bonus is None:
            eta, energy, model = self.cfg.energy.eta, self.energy, self.model
            self._bonus = lambda z, a, task=None: eta * energy.normalised(model.with_task(z, task), a)
        return self._bonus

    def score_fn(self):
        if self.score_net is None or self.cfg.score.use != "planner":
            return None
        if self._score_fn is None:
            net, model = self.score_net, self.model
            self._score_fn = lambda z, x, tau, task=None: net(model.with_task(z, task), x, tau)
        return self._score_fn

    def task_ids(self, batch: int, task: torch.Tensor | None = None) -> torch.Tensor | None:
        """Task ids [batch] for a multi-task model: ``task`` if given, else ``self.task_id``."""
        if not self.model.multitask:
            return None
        if task is not None:
            return task.to(self.device, torch.long).reshape(batch)
        if self.task_id is None:
            raise ValueError("a multi-task model needs a task id to act or learn online (set_task)")
        return torch.full((batch,), self.task_id, dtype=torch.long, device=self.device)

    def discount_of(self, task: torch.Tensor | None):
        """The discount for a batch: the scalar, or each element's task's [B, 1]."""
        return self.discount if task is None else self.discount[task].unsqueeze(-1)

    def not_ready_to_evaluate(self) -> str | None:
        if self.score_fn() is not None and not self.score_net.trained:
            return "the learned score network has never been trained (score.use=planner)"
        return None

    @torch.no_grad()
    def act(
        self,
        obs: torch.Tensor,
        *,
        eval_mode: bool,
        first_step: bool,
        generators: list[torch.Generator] | None = None,
        task: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``task``: ids [B] for a multi-task model (default ``self.task_id``); obs padded to the
        model's observation size, actions returned at its action size (padding zero)."""
        self.model.eval()
        task = self.task_ids(obs.shape[0], task)
        z = self.model.encode(self.as_model_input(obs), task)
        if self.cfg.act_with == "pi":
            out = self.model.pi(z, task=task)
            return (out.mean if eval_mode else out.action).cpu()
        reason = self.not_ready_to_evaluate()
        if reason and eval_mode:
            raise UntrainedScoreNetworkError(f"refusing to evaluate: {reason}")
        planner = self.planners["eval" if eval_mode else "train"]
        noise = NoiseSource(z.shape[0], self.device, generators)
        kwargs = {"score_fn": self.score_fn()} if isinstance(planner, DiffusionPlanner) else {}
        if task is not None:
            kwargs["task"] = task
        action = planner.plan(
            self.model, z, first_step=first_step, eval_mode=eval_mode, noise=noise, bonus=self.reward_bonus(), **kwargs
        )
        return action.cpu()

    def as_model_input(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations on the model's device: float32 states, or uint8 frames as they are (the
        pixel encoder makes them float)."""
        return obs.to(self.device) if self.env_spec.pixels else obs.to(self.device, torch.float32)

    # --- data -------------------------------------------------------------------------------
    def stored(self, obs: torch.Tensor) -> torch.Tensor:
        """An observation as the replay keeps it: frames as uint8 (36 kB a 9 x 64 x 64 stack, a
        quarter of float32's), states as float32."""
        return obs.to(torch.uint8) if self.env_spec.pixels else obs.float()

    def observe(self, transition: TensorDictBase) -> None:
        obs = transition["observation"]
        if not self._episode:
            A = self.env_spec.action_dim
            self._episode.append(
                TensorDict(
                    obs=self.stored(obs),
                    action=torch.full((A,), float("nan")),
                    reward=torch.full((1,), float("nan")),
                    terminated=torch.zeros(1, dtype=torch.bool),
                )
            )
        nxt = transition["next"]
        self._episode.append(
            TensorDict(
                obs=self.stored(nxt["observation"]),
                action=transition["action"].float(),
                reward=nxt["reward"].float().reshape(1),
                terminated=nxt["terminated"].reshape(1),
            )
        )
        if bool(nxt["done"].any()):
            self.replay.add_episode(torch.stack(self._episode))
            self._episode = []

    # --- learning ---------------------------------------------------------------------------
    def update(self, step: int) -> dict[str, float]:
        if step < self.seed_steps or len(self.replay) == 0:
            return {}
        n = 1
        if not self._pretrained:  # the first update: as many updates as seed steps
            n, self._pretrained = max(self.seed_steps, 1), True
        metrics: dict[str, float] = {}
        for i in range(n):
            metrics = self.learn(self.replay.sample())
            if n > 1 and self.on_update:
                self.on_update(i + 1, n)
        return metrics

    @property
    def replay_slice(self) -> tuple[int, int]:
        return self.cfg.batch_size, self.cfg.planner.horizon

    def learn(self, batch: TensorDict) -> dict[str, float]:
        """One gradient update from a batch (EpisodeReplay.sample layout; offline batches add
        ``task`` [B]). The online loop calls it from :meth:`update`, offline training directly."""
        cfg, m = self.cfg, self.model
        task = self.task_ids(batch["action"].shape[1], batch.get("task", None))  # [B], or None single-task
        m.train()  # before the targets too, so they never depend on whether act() ran last
        model_losses = COMPILED_MODEL_LOSSES.when(cfg.compiles("update"))
        loss, losses, energy_scores, zs_all = model_losses(
            self, batch["obs"], batch["action"], batch["reward"], batch["terminated"], task
        )
        if energy_scores is not None:  # before the score target, whose values it shapes (MBDPO:
            self.energy.update_statistics(energy_scores)  # _contrastive_loss runs before _mc_score_target)
        if self.score_net is not None:  # eager: its Monte-Carlo target is a per-latent planner loop
            losses["score_loss"] = self._score_loss(zs_all[0], task)
            loss = loss + cfg.score.coef * losses["score_loss"]

        # Gradients are cleared after each step, as both references do: the policy loss's gradient
        # on the task embedding (multi-task) therefore joins the next update's, as in TD-MPC2.
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self._clipped(), cfg.grad_clip_norm)
        self.optim.step()
        self.optim.zero_grad(set_to_none=True)
        if self.score_net is not None:
            self.score_net.updates += 1

        pi_loss = self._update_pi(zs_all.detach(), task)
        m.soft_update_target(cfg.tau)
        self.num_updates += 1
        out = {k: float(v.detach()) for k, v in losses.items()}
        out.update(
            total_loss=float(loss.detach()),
            grad_norm=float(grad_norm),
            pi_loss=pi_loss,
            pi_scale=float(self.scale.value),
        )
        return out

    def model_losses(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        task: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor]:
        """TD targets, the latent rollout and the weighted model loss (everything but the score
        network's): ``(loss, {name: loss}, the energy logits for its statistics or None, latents
        [H+1, B, Z])``. No side effects, so that ``algo.compile=update`` can run it as one graph."""
        cfg, m = self.cfg, self.model
        H = action.shape[0]
        rho = cfg.rho ** torch.arange(H, device=self.device, dtype=torch.float32)
        with torch.no_grad():
            next_z = m.encode(obs[1:], task)
            next_a = m.pi(next_z, task=task).action
            next_q = m.q(next_z, next_a, "min", target=True, heads=cfg.td_target_heads, task=task)
            td_target = reward + self.discount_of(task) * (~terminated).float() * next_q

        z = m.encode(obs[0], task)
        zs = [z]
        consistency = 0.0
        for t in range(H):
            z = m.next(z, action[t], task)
            consistency = consistency + rho[t] * (z - next_z[t]).pow(2).mean()
            zs.append(z)
        zs_all = torch.stack(zs)  # [H+1, B, Z]
        z_pred = zs_all[:-1]
        reward_ce = m.two_hot.cross_entropy(m.reward_logits(z_pred, action, task), reward)  # [H, B]
        q_logits = m.q_logits(z_pred, action, task=task)  # [Q, H, B, bins]
        value_ce = m.two_hot.cross_entropy(q_logits, td_target.unsqueeze(0).expand(q_logits.shape[0], -1, -1, -1))
        losses = {
            "consistency_loss": consistency / H,
            "reward_loss": (reward_ce.mean(-1) * rho).sum() / H,
            "value_loss": (value_ce.mean(-1) * rho).sum() / (H * q_logits.shape[0]),
        }
        loss = (
            cfg.consistency_coef * losses["consistency_loss"]
            + cfg.reward_coef * losses["reward_loss"]
            + cfg.value_coef * losses["value_loss"]
        )
        energy_scores = None
        if self.energy is not None:
            losses["energy_loss"], energy_scores = self.energy.loss(z_pred, action, m.pi, task, m.with_task)
            loss = loss + cfg.energy.coef * losses["energy_loss"]
        return loss, losses, energy_scores, zs_all

    def _score_loss(self, z0: torch.Tensor, task: torch.Tensor | None = None) -> torch.Tensor:
        """MSE of s(z, x_tau, tau) to a Monte-Carlo model-based score target (method.md section 5):
        tau ~ U{1..T-1}, x_tau ~ N(0, I), target = Tweedie score of the softmax(zscore(J)/temp)-weighted
        mean of ``mc_samples`` clean plans sampled around x_tau / sqrt(alpha_bar)."""
        cfg = self.cfg
        z = z0[: cfg.score.num_latents]
        task = None if task is None else task[: cfg.score.num_latents]
        if cfg.score.detach_latent:  # MBDPO does not: the loss's gradient reaches the encoder
            z = z.detach()
        B, H, A = z.shape[0], cfg.planner.horizon, self.env_spec.action_dim
        planner: DiffusionPlanner = (
            self.planners["train"]
            if isinstance(self.planners["train"], DiffusionPlanner)
            else DiffusionPlanner(cfg.planner, A, self.discount)
        )
        tau = torch.randint(1, cfg.planner.diffusion_steps, (B,), device=self.device)
        x = torch.randn(B, H, A, device=self.device)
        with torch.no_grad():
            targets = []
            for i in range(B):
                ab = float(planner.alpha_bar[int(tau[i])])
                ctx = PlanningTask.of(self.model, None if task is None else task[i : i + 1], self.discount)
                # MBDPO's _mc_score_target samples all action dims: no mask on a padded task's
                ctx = PlanningTask(ctx.task, None, ctx.discount)
                a_bar = planner.search_mean(
                    self.model,
                    z[i : i + 1],
                    x[i : i + 1],
                    ab,
                    NoiseSource(1, self.device),
                    self.reward_bonus(),
                    num_samples=cfg.score.mc_samples,
                    num_pi_trajs=0,
                    num_elites=cfg.score.mc_samples,
                    ctx=ctx,
                    std_offset=1e-6,  # _mc_score_target: (values.std() + 1e-6)
                )
                targets.append(model_based_score(x[i : i + 1], a_bar, ab))
            target = torch.cat(targets)
        return (self.score_net(self.model.with_task(z, task), x, tau) - target).pow(2).mean()

    def _update_pi(self, zs: torch.Tensor, task: torch.Tensor | None = None) -> float:
        """Maximise scale-normalised Q (two random heads, parameters detached) plus TD-MPC2's scaled
        entropy (-A x the pre-squash Gaussian log-prob; world_model.py ``pi`` in both references)."""
        m = self.model
        policy_terms = COMPILED_POLICY_TERMS.when(self.cfg.compiles("update"))
        entropy, q = policy_terms(self, zs, task)
        self.scale.update(q[0])
        q = self.scale(q)
        rho = self.cfg.rho ** torch.arange(zs.shape[0], device=self.device, dtype=torch.float32)
        objective = (self.cfg.entropy_coef * entropy + q).mean(dim=(1, 2))
        pi_loss = -(objective * rho).mean()
        pi_loss.backward()
        torch.nn.utils.clip_grad_norm_(m.pi_head.parameters(), self.cfg.grad_clip_norm)
        self.pi_optim.step()
        self.pi_optim.zero_grad(set_to_none=True)
        return float(pi_loss.detach())

    def policy_terms(self, zs: torch.Tensor, task: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy objective's parts at latents zs [H+1, B, Z]: a fresh sample's scaled entropy and
        the mean of two random Q heads (parameters detached), both [H+1, B, 1]."""
        out = self.model.pi(zs, task=task)
        return out.scaled_entropy, self.model.q(zs, out.action, "avg", detach=True, task=task)

    # --- fine-tuning (MBDPO's scripts/offline_to_online.py; call before the first update) -------
    def load_weights(self, weights: dict[str, Any], new_task_rows_from: Sequence[int] = ()) -> None:
        """The networks from ``{"model", "energy", "score_net"}`` (a run's agent state or a converted
        reference file). A new task's embedding row is a copy of its source's (MBDPO's
        ``_append_new_task_embedding``); the action masks are this agent's own (its EnvSpec's: a new
        task's mask included), not the file's."""
        model_state = dict(weights["model"])
        if new_task_rows_from:
            emb = model_state["task_embedding.weight"]
            model_state["task_embedding.weight"] = torch.cat([emb, *(emb[s : s + 1] for s in new_task_rows_from)])
        if "action_masks" in model_state:
            model_state["action_masks"] = self.model.action_masks
        try:
            self.model.load_state_dict(model_state)
        except RuntimeError as exc:  # torch's several-line report: its first specific line
            lines = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()] or [str(exc)]
            raise ValueError(f"the weights do not fit this model: {lines[0]}") from None
        for name, net in (("energy", self.energy), ("score_net", self.score_net)):
            if (net is None) != (weights.get(name) is None):
                raise ValueError(f"{name} is {'absent' if net is None else 'present'} here but not in the checkpoint")
            if net is not None:
                try:
                    net.load_state_dict(weights[name])
                except RuntimeError as exc:
                    raise ValueError(f"the {name} weights do not fit: {str(exc).splitlines()[-1].strip()}") from None

    def set_task(self, task_id: int | None) -> None:
        self.task_id = task_id

    def parts(self) -> dict[str, torch.nn.Module | None]:
        """:attr:`PARTS` -> the module (None: this configuration has no such part)."""
        m = self.model
        return {
            "encoder": m.encoder,
            "dynamics": m.dynamics,
            "reward": m.reward_head,
            "pi": m.pi_head,
            "q": m.qs,
            "task_embedding": m.task_embedding,
            "energy": self.energy,
            "score": self.score_net,
        }

    def freeze(self, names: Sequence[str]) -> None:
        parts = self.parts()
        for name in names:
            if name not in parts:
                raise ValueError(f"unknown part {name!r}; valid: {', '.join(self.PARTS)}")
            if parts[name] is None:
                raise ValueError(f"this model has no {name}")
            parts[name].requires_grad_(False)

    def copy_task_discount(self, source: int, target: int) -> None:
        """Task ``target``'s discount becomes task ``source``'s, as the reference's new task row
        takes its source's (``agent.discount[source_idx]``). In place: the planners share it."""
        self.discount[target] = self.discount[source]

    def reset_energy_statistics(self) -> None:
        """F's normalisation statistics back to mean 0, std 1: the reference keeps them on the agent,
        outside the model state its checkpoints hold, so a fine-tune starts them afresh."""
        if self.energy is not None:
            self.energy.mean.zero_()
            self.energy.std.fill_(1.0)

    def leave_score_out_of_optimiser(self) -> None:
        """The reference's fine-tune optimiser has no score-network group (``_rebuild_optimizers``):
        the score loss still trains the encoder and task embedding, the network itself stays as
        loaded, and its gradients, which no optimiser then clears, keep adding up and join the
        update's gradient-norm clip (the reference clips all model parameters)."""
        if self.score_net is None:
            return
        score = {id(p) for p in self.score_net.parameters()}
        groups = [g for g in self.optim.param_groups if not any(id(p) in score for p in g["params"])]
        self.optim = torch.optim.Adam(groups, lr=self.cfg.lr, foreach=True)
        self._unstepped = list(self.score_net.parameters())

    # --- bookkeeping ------------------------------------------------------------------------
    def num_parameters(self) -> int:
        n = self.model.trainable_parameters()
        return n + sum(
            sum(p.numel() for p in net.parameters()) for net in (self.energy, self.score_net) if net is not None
        )

    def _optimised(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optim.param_groups for p in g["params"]]

    def _clipped(self) -> list[torch.nn.Parameter]:
        return self._optimised() + self._unstepped

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "energy": self.energy.state_dict() if self.energy is not None else None,
            "score_net": self.score_net.state_dict() if self.score_net is not None else None,
            "optim": self.optim.state_dict(),
            "pi_optim": self.pi_optim.state_dict(),
            # gradients waiting for the next update (multi-task: the policy loss's on the task
            # embedding, which the references keep until the next step), so a resume is exact
            "pending_grads": [None if p.grad is None else p.grad.clone() for p in self._clipped()],
            "scale": self.scale.state_dict(),
            "planners": {k: p.state_dict() for k, p in self.planners.items()},
            "replay": self.replay.state_dict(),
            "episode": [td.clone() for td in self._episode],
            "pretrained": self._pretrained,
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        for name, net in (("energy", self.energy), ("score_net", self.score_net)):
            if (net is None) != (state.get(name) is None):
                raise ValueError(
                    f"checkpoint/config mismatch: {name} is {'absent' if net is None else 'present'} "
                    f"in this config but not in the checkpoint (or the other way round)"
                )
            if net is not None:
                net.load_state_dict(state[name])
        self.optim.load_state_dict(state["optim"])
        self.pi_optim.load_state_dict(state["pi_optim"])
        for p, grad in zip(self._clipped(), state.get("pending_grads") or []):
            p.grad = None if grad is None else grad.clone()
        self.scale.load_state_dict(state["scale"])
        for k, p in self.planners.items():
            p.load_state_dict(state["planners"][k])
        self.replay.load_state_dict(state["replay"])
        self._episode = list(state["episode"])
        self._pretrained = state["pretrained"]
        self.num_updates = state["num_updates"]


#: the update's compiled parts, shared by every agent of a process (algorithms/compiling.py)
COMPILED_MODEL_LOSSES = CompiledFunction(WorldModelAgent.model_losses, "the update")
COMPILED_POLICY_TERMS = CompiledFunction(WorldModelAgent.policy_terms, "the update")
