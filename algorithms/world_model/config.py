"""Architecture of the shared latent world model, with the reference size presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

#: Model size presets (millions of parameters) -> architecture, as in the reference implementation.
MODEL_SIZES: dict[int, dict[str, int]] = {
    1: dict(enc_dim=256, mlp_dim=384, latent_dim=128, num_enc_layers=2, num_q=2),
    5: dict(enc_dim=256, mlp_dim=512, latent_dim=512, num_enc_layers=2, num_q=5),
    19: dict(enc_dim=1024, mlp_dim=1024, latent_dim=768, num_enc_layers=3, num_q=5),
    48: dict(enc_dim=1792, mlp_dim=1792, latent_dim=768, num_enc_layers=4, num_q=5),
    317: dict(enc_dim=4096, mlp_dim=4096, latent_dim=1376, num_enc_layers=5, num_q=8),
}

#: the architecture fields a size preset fills in
WIDTHS = ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q")

Q_INITS = ("tdmpc2", "torch_default")


@dataclass
class ModelConfig:
    # one of MODEL_SIZES; the fields below left at None take the preset's value. None: no preset,
    # every width given explicitly (a converted reference checkpoint of another shape)
    size: Optional[int] = 5
    enc_dim: Optional[int] = None
    mlp_dim: Optional[int] = None
    latent_dim: Optional[int] = None
    num_enc_layers: Optional[int] = None
    num_q: Optional[int] = None
    simnorm_dim: int = 8
    num_bins: int = 101
    vmin: float = -10.0  # two-hot support in symlog space
    vmax: float = 10.0
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    dropout: float = 0.01  # in the first layer of each Q head
    # pixel observations (obs=rgb): channels of each conv layer (TD-MPC2 config.yaml num_channels);
    # the flattened conv output, 16 x num_channels, is the latent, so latent_dim must be 16 x this
    # (the references' 32 channels and latent 512: model size 5; algorithms/world_model/pixel_encoder.py)
    num_channels: int = 32
    task_dim: int = 96  # task embedding size in multi-task mode (TD-MPC2 config.yaml; mt30 at sizes 5-48: 64)
    # Q-ensemble initialisation: "tdmpc2" (TD-MPC2 HEAD: truncated-normal 0.02 weights, zero biases)
    # or "torch_default" (what MBDPO's code leaves: nn.Linear's default uniform init); the last
    # layer's weights are zero either way
    q_init: str = "tdmpc2"

    def resolved(self) -> "ModelConfig":
        """A copy with every architecture field filled in from the size preset."""
        if self.q_init not in Q_INITS:
            raise ValueError(f"unknown model.q_init {self.q_init!r}; valid: {', '.join(Q_INITS)}")
        if self.size is None:
            missing = [k for k in WIDTHS if getattr(self, k) is None]
            if missing:
                raise ValueError(f"model.size=None needs every width given explicitly; missing: {', '.join(missing)}")
        elif self.size not in MODEL_SIZES:
            valid = ", ".join(map(str, MODEL_SIZES))
            raise ValueError(f"unknown model size {self.size!r}; valid: {valid}")
        preset = MODEL_SIZES.get(self.size, {})
        values = {k: (v if v is not None else preset.get(k)) for k, v in vars(self).items()}
        return ModelConfig(**values)
