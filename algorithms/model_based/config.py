"""Typed configuration of the world-model agents (TD-MPC2, the MBDPO family, MPPI/CEM planners).

Defaults are the reference implementations'; each registered name's YAML in configs/algos/
sets its planner and anchor, and the command line overrides any field (``algo.energy.eta=0.02``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from algorithms.compiling import COMPILE_MODES
from algorithms.conventions import DEFAULT_BUFFER_SIZE
from algorithms.planning.config import PlannerConfig
from algorithms.replay import REPLAY_STORAGES
from algorithms.world_model.config import ModelConfig
from algorithms.world_model.layers import MATMUL_DTYPES
from algorithms.world_model.pixel_encoder import CONV_OUTPUT_CELLS, pixel_latent_problem

ACT_WITH = ("planner", "pi")
SCORE_USES = ("none", "planner")
#: which two target Q heads the TD target takes the min of
TD_TARGET_HEADS = ("random", "first_two")  # TD-MPC2: two at random; MBDPO: heads 0 and 1
#: how F's positive pairs are formed from the latents [H, B, Z] and buffer actions [H, B, A]
MATMUL_PRECISIONS = tuple(MATMUL_DTYPES)  # fp32 | bf16
ENERGY_POSITIVES = ("reference", "aligned")


@dataclass
class EnergyConfig:
    """MBDPO's implicit energy anchor (method.md section 4). Disabled: eta = 0 and F not trained.
    The defaults are MBDPO's code's (mbdpo.py, ``_contrastive_loss``; common/world_model.py)."""

    enabled: bool = False
    eta: float = 0.01  # planner reward r + eta * F_norm
    coef: float = 1.0  # loss weight
    neg_noise: float = 0.5  # std of the noise on pi(z) for the noisy negative
    clip: float = 5.0
    momentum: float = 0.99
    zero_init_last: bool = True  # F's last layer weights start at zero (MBDPO)
    # "reference": MBDPO's code, latents flattened time-major but actions batch-major, so a positive
    # pair is mostly a latent with another sample's action; "aligned": each latent with its own
    # buffer action, as the paper describes
    positives: str = "reference"


@dataclass
class ScoreConfig:
    """MBDPO's learned score network (method.md section 5)."""

    enabled: bool = False  # train s(z, x_tau, tau) on Monte-Carlo score targets
    use: str = "none"  # none | planner: replace the model-based score, no search (amortised policy)
    coef: float = 1.0
    embed_dim: int = 64
    mc_samples: int = 64  # samples behind one Monte-Carlo score target
    num_latents: int = 1  # latents per update that get a target (the reference uses 1)
    # MBDPO lets the score loss's gradient reach the encoder through the latent; true detaches it
    detach_latent: bool = False


@dataclass
class WorldModelAgentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    act_with: str = "planner"  # planner | pi (the policy prior alone)
    # optimisation
    batch_size: int = 256
    lr: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip_norm: float = 20.0
    rho: float = 0.5
    consistency_coef: float = 20.0
    reward_coef: float = 0.1
    value_coef: float = 0.1
    entropy_coef: float = 1e-4  # times TD-MPC2's scaled entropy (-A x the pre-squash log-prob)
    tau: float = 0.01
    td_target_heads: str = "random"  # random (TD-MPC2) | first_two (MBDPO)
    # discount heuristic: gamma = clip((L/denom - 1)/(L/denom), min, max), L = episode length
    discount_denom: float = 5.0
    discount_min: float = 0.95
    discount_max: float = 0.995
    # online loop; seed_steps None: the reference's rule max(1000, 5 episodes); the replay keeps
    # min(buffer_size, steps) rows (algorithms/conventions.py)
    seed_steps: Optional[int] = None
    buffer_size: int = DEFAULT_BUFFER_SIZE
    # where the replay's rows live: memory (the references') | memmap (files under $TMPDIR) | auto:
    # memory unless the full buffer exceeds 80% of the available memory (a 1M-step pixel buffer is
    # 37 GB; the references then fail to allocate it); algorithms/replay.py
    buffer_storage: str = "auto"
    # the networks' matmuls: fp32 (both references) | bf16 (bfloat16 products of fp32 weights and
    # inputs; LayerNorm, Mish, SimNorm, losses and optimiser stay fp32). bf16 pays on CPUs with AMX
    # or avx512_bf16 and on GPUs; docs/fidelity.md
    matmul_precision: str = "fp32"
    # what runs under torch.compile: none (both references on CPU) | planner (one graph per planner
    # iteration and batch size) | update (the update's forward and backward) | all (both). Pays
    # where calls are per-op bound (small models); each graph compiles the first time it meets a
    # batch size (20-50 s cold, a few s from inductor's disk cache); algorithms/compiling.py
    compile: str = "none"

    def compiles(self, part: str) -> bool:
        """Whether ``part`` (planner | update) runs under torch.compile."""
        return part in COMPILE_MODES.get(self.compile, ())

    def capabilities(self) -> frozenset[str]:
        """What this configuration has (names from algorithms.registry.CAPABILITIES)."""
        caps = {"world_model", "offline_learning", "pretrained_weights", "pixels"}
        if self.act_with == "planner":
            caps.add("search")
        if self.energy.enabled:
            caps.add("energy_anchor")
        if self.score.enabled:
            caps.add("score_network")
        return frozenset(caps)

    def observation_defaults(self, obs: str) -> dict[str, int]:
        """The fields ``obs`` observations derive, unless given (dotted): on pixels the conv output is
        the latent, so ``model.num_channels`` = ``latent_dim / 16`` (the references' 32 at latent 512;
        preset=laptop's latent 64: 4). A latent that is not a multiple of 16 derives nothing and is
        refused by :meth:`observation_problem`."""
        if obs != "rgb":
            return {}
        latent = self.model.resolved().latent_dim
        return {"model.num_channels": latent // CONV_OUTPUT_CELLS} if latent % CONV_OUTPUT_CELLS == 0 else {}

    def observation_problem(self, obs: str) -> str | None:
        """Why this configuration cannot learn from ``obs`` observations (one line), or None."""
        if obs != "rgb":
            return None
        model = self.model.resolved()
        return pixel_latent_problem(model.latent_dim, model.num_channels)

    def validate(self) -> None:
        if self.act_with not in ACT_WITH:
            raise ValueError(f"unknown act_with {self.act_with!r}; valid: {', '.join(ACT_WITH)}")
        if self.score.use not in SCORE_USES:
            raise ValueError(f"unknown score.use {self.score.use!r}; valid: {', '.join(SCORE_USES)}")
        if self.score.use != "none" and not self.score.enabled:
            raise ValueError("score.use=planner needs score.enabled=true (an untrained score network)")
        if self.score.use != "none" and self.planner.kind != "diffusion":
            raise ValueError(f"score.use=planner needs planner.kind=diffusion, not {self.planner.kind!r}")
        for key, value, valid in (
            ("td_target_heads", self.td_target_heads, TD_TARGET_HEADS),
            ("energy.positives", self.energy.positives, ENERGY_POSITIVES),
            ("matmul_precision", self.matmul_precision, MATMUL_PRECISIONS),
            ("compile", self.compile, COMPILE_MODES),
            ("buffer_storage", self.buffer_storage, REPLAY_STORAGES),
        ):
            if value not in valid:
                raise ValueError(f"unknown {key} {value!r}; valid: {', '.join(valid)}")
        for key in ("batch_size", "lr", "enc_lr_scale", "grad_clip_norm", "buffer_size", "discount_denom"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}={getattr(self, key)} must be > 0")
        for key in ("rho", "tau"):
            if not 0 < getattr(self, key) <= 1:
                raise ValueError(f"{key}={getattr(self, key)} must be in (0, 1]")
        for key in ("consistency_coef", "reward_coef", "value_coef", "entropy_coef"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 0")
        if self.seed_steps is not None and self.seed_steps < 0:
            raise ValueError(f"seed_steps={self.seed_steps} must be >= 0 (or null for the default rule)")
        for key in ("eta", "coef", "neg_noise"):
            if getattr(self.energy, key) < 0:
                raise ValueError(f"energy.{key}={getattr(self.energy, key)} must be >= 0")
        if not self.energy.clip > 0:
            raise ValueError(f"energy.clip={self.energy.clip} must be > 0")
        if not 0 <= self.energy.momentum < 1:
            raise ValueError(f"energy.momentum={self.energy.momentum} must be in [0, 1)")
        if self.model.num_channels < 1:
            raise ValueError(f"model.num_channels={self.model.num_channels} must be >= 1")
        for key, low in (("mc_samples", 1), ("num_latents", 1), ("embed_dim", 2)):
            if getattr(self.score, key) < low:
                raise ValueError(f"score.{key}={getattr(self.score, key)} must be >= {low}")
        if self.planner.horizon < 1:
            raise ValueError(f"planner.horizon={self.planner.horizon} must be >= 1")
        self.model.resolved()
        self.planner.validate()
