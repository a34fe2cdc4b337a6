"""TD-MPC2: a latent world model trained by TD learning, acting by MPPI planning (or by pi alone)."""
from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from algorithms.base import Algorithm, EnvSpec
from algorithms.planning.mppi import MPPIPlanner
from algorithms.replay import EpisodeReplay
from algorithms.tdmpc2.config import TDMPC2Config
from algorithms.world_model import WorldModel
from algorithms.world_model.scalars import RunningScale, heuristic_discount


class TDMPC2(Algorithm):
    def __init__(self, cfg: TDMPC2Config, env_spec: EnvSpec, device: torch.device, total_steps: int) -> None:
        super().__init__(cfg, env_spec, device, total_steps)
        cfg.validate()
        self.model = WorldModel(cfg.model, env_spec.obs_dim, env_spec.action_dim).to(device)
        m = self.model
        self.optim = torch.optim.Adam(
            [
                {"params": m.encoder.parameters(), "lr": cfg.lr * cfg.enc_lr_scale},
                {"params": m.dynamics.parameters()},
                {"params": m.reward_head.parameters()},
                {"params": m.qs.parameters()},
            ],
            lr=cfg.lr,
        )
        self.pi_optim = torch.optim.Adam(m.pi_head.parameters(), lr=cfg.lr, eps=1e-5)
        self.scale = RunningScale(cfg.tau).to(device)
        self.discount = heuristic_discount(
            env_spec.episode_length, cfg.discount_denom, cfg.discount_min, cfg.discount_max
        )
        # One warm-start state for training and one for evaluation, so an evaluation between two
        # training steps does not disturb the training plan.
        self.planners = {
            mode: MPPIPlanner(cfg.planner, env_spec.action_dim, self.discount) for mode in ("train", "eval")
        }
        L = env_spec.episode_length
        self._seed_steps = cfg.seed_steps if cfg.seed_steps is not None else max(1000, 5 * L)
        capacity = cfg.buffer_size or (total_steps + total_steps // max(L, 1) + 2 * (L + 1))
        self.replay = EpisodeReplay(capacity, cfg.batch_size, cfg.planner.horizon, device)
        self._episode: list[TensorDict] = []
        self._pretrained = False
        self.num_updates = 0

    # --- acting -----------------------------------------------------------------------------
    @property
    def seed_steps(self) -> int:
        return self._seed_steps

    @torch.no_grad()
    def act(self, obs: torch.Tensor, *, eval_mode: bool, first_step: bool) -> torch.Tensor:
        self.model.eval()
        z = self.model.encode(obs.to(self.device, torch.float32))
        if self.cfg.act_with == "pi":
            mean, sample, _ = self.model.pi(z)
            action = mean if eval_mode else sample
        else:
            planner = self.planners["eval" if eval_mode else "train"]
            action = planner.plan(self.model, z, first_step=first_step, eval_mode=eval_mode)
        return action.cpu()

    # --- data -------------------------------------------------------------------------------
    def observe(self, transition: TensorDictBase) -> None:
        obs = transition["observation"]
        if not self._episode:
            A = self.env_spec.action_dim
            self._episode.append(
                TensorDict(
                    obs=obs.float(),
                    action=torch.full((A,), float("nan")),
                    reward=torch.full((1,), float("nan")),
                    terminated=torch.zeros(1, dtype=torch.bool),
                )
            )
        nxt = transition["next"]
        self._episode.append(
            TensorDict(
                obs=nxt["observation"].float(),
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
        for _ in range(n):
            metrics = self._update_once(self.replay.sample())
        return metrics

    def _update_once(self, batch: TensorDict) -> dict[str, float]:
        cfg, m = self.cfg, self.model
        obs, action, reward, terminated = batch["obs"], batch["action"], batch["reward"], batch["terminated"]
        H = action.shape[0]
        rho = cfg.rho ** torch.arange(H, device=self.device, dtype=torch.float32)

        with torch.no_grad():
            next_z = m.encode(obs[1:])
            _, next_a, _ = m.pi(next_z)
            not_done = (~terminated).float()
            td_target = reward + self.discount * not_done * m.q(next_z, next_a, "min", target=True)

        m.train()
        z = m.encode(obs[0])
        zs = [z]
        consistency = 0.0
        for t in range(H):
            z = m.next(z, action[t])
            consistency = consistency + rho[t] * (z - next_z[t]).pow(2).mean()
            zs.append(z)
        zs_all = torch.stack(zs)  # [H+1, B, Z]
        z_pred = zs_all[:-1]
        reward_ce = m.two_hot.cross_entropy(m.reward_logits(z_pred, action), reward)  # [H, B]
        q_logits = m.q_logits(z_pred, action)  # [Q, H, B, bins]
        value_ce = m.two_hot.cross_entropy(q_logits, td_target.unsqueeze(0).expand(q_logits.shape[0], -1, -1, -1))
        consistency_loss = consistency / H
        reward_loss = (reward_ce.mean(-1) * rho).sum() / H
        value_loss = (value_ce.mean(-1) * rho).sum() / (H * q_logits.shape[0])
        loss = (
            cfg.consistency_coef * consistency_loss
            + cfg.reward_coef * reward_loss
            + cfg.value_coef * value_loss
        )
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for g in self.optim.param_groups for p in g["params"]], cfg.grad_clip_norm
        )
        self.optim.step()

        pi_loss = self._update_pi(zs_all.detach(), rho)
        m.soft_update_target(cfg.tau)
        self.num_updates += 1
        return {
            "consistency_loss": float(consistency_loss),
            "reward_loss": float(reward_loss),
            "value_loss": float(value_loss),
            "pi_loss": pi_loss,
            "total_loss": float(loss),
            "grad_norm": float(grad_norm),
            "pi_scale": float(self.scale.value),
        }

    def _update_pi(self, zs: torch.Tensor, rho: torch.Tensor) -> float:
        """Maximise scale-normalised Q (two random heads, parameters detached) plus entropy."""
        m = self.model
        _, action, log_prob = m.pi(zs)
        q = m.q(zs, action, "avg", detach=True)  # [H+1, B, 1]
        self.scale.update(q[0])
        q = self.scale(q)
        rho_all = self.cfg.rho ** torch.arange(zs.shape[0], device=self.device, dtype=torch.float32)
        objective = (self.cfg.entropy_coef * -log_prob + q).mean(dim=(1, 2))
        pi_loss = -(objective * rho_all).mean()
        self.pi_optim.zero_grad(set_to_none=True)
        pi_loss.backward()
        torch.nn.utils.clip_grad_norm_(m.pi_head.parameters(), self.cfg.grad_clip_norm)
        self.pi_optim.step()
        return float(pi_loss.detach())

    # --- bookkeeping ------------------------------------------------------------------------
    def modules_for_count(self):
        return [p for n, p in self.model.named_parameters() if not n.startswith("target_qs")]

    def num_parameters(self) -> int:
        return self.model.trainable_parameters()

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "pi_optim": self.pi_optim.state_dict(),
            "scale": self.scale.state_dict(),
            "planners": {k: p.state_dict() for k, p in self.planners.items()},
            "replay": self.replay.state_dict(),
            "episode": [td.clone() for td in self._episode],
            "pretrained": self._pretrained,
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.pi_optim.load_state_dict(state["pi_optim"])
        self.scale.load_state_dict(state["scale"])
        for k, p in self.planners.items():
            p.load_state_dict(state["planners"][k])
        self.replay.load_state_dict(state["replay"])
        self._episode = list(state["episode"])
        self._pretrained = state["pretrained"]
        self.num_updates = state["num_updates"]
