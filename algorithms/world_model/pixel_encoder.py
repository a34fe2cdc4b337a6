"""TD-MPC2's encoder of stacked RGB frames (common/layers.py ``ShiftAug``, ``PixelPreprocess``,
``conv``; MBDPO's copy is the same), built from torch parts.

uint8 frames [..., C, 64, 64] -> random shift (pad 3, replicate) -> x / 255 - 0.5 ->
Conv(C->n, 7, s2) ReLU -> Conv(n, 5, s2) ReLU -> Conv(n, 3, s2) ReLU -> Conv(n, 3, s1) -> flatten
(n x 4 x 4) -> SimNorm. There is no linear layer: the flattened conv output *is* the latent, so
``latent_dim`` must be ``16 * num_channels`` (the reference's 32 channels and latent 512;
:func:`pixel_latent_problem`). The conv layers keep torch's default initialisation, as in both
references, whose ``weight_init`` only touches ``nn.Linear`` and ``nn.Embedding``.

As in the references, the shift is part of the encoder and applied at every call (acting,
evaluation, TD targets), not only in training: TorchRL has no random-shift transform.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: the frame size the conv stack is built for (TD-MPC2's ``conv`` asserts 64x64 observations)
FRAME_SIZE = 64
#: the conv stack's output per channel at 64x64 input: 64 -> 29 -> 13 -> 6 -> 4, i.e. 4 x 4
CONV_OUTPUT_CELLS = 16
#: TD-MPC2's ``ShiftAug(pad=3)``: shifts of up to 3 pixels each way
SHIFT_PAD = 3


def pixel_latent_problem(latent_dim: int, num_channels: int) -> str | None:
    """Why a pixel model of these widths cannot be built (one line), or None."""
    if latent_dim != CONV_OUTPUT_CELLS * num_channels:
        return (
            f"a pixel model's latent is its conv output: model.latent_dim={latent_dim} must equal 16 x "
            f"model.num_channels={num_channels} = {CONV_OUTPUT_CELLS * num_channels} (the references: 32 "
            f"channels, latent 512, model size 5); set algo.model.num_channels={latent_dim // CONV_OUTPUT_CELLS}"
            if latent_dim % CONV_OUTPUT_CELLS == 0
            else f"a pixel model's latent is its conv output, 16 x model.num_channels: model.latent_dim={latent_dim}"
            " is not a multiple of 16"
        )
    return None


def shift_grid(n: int, size: int, pad: int, shift: torch.Tensor) -> torch.Tensor:
    """The sampling grid [n, size, size, 2] of TD-MPC2's ShiftAug for an image of ``size`` padded by
    ``pad``: pixel centres of the padded image (align_corners=False coordinates) offset by ``shift``
    [n, 1, 1, 2] whole pixels (x, y; 0..2*pad, ``pad``: no move)."""
    padded = size + 2 * pad
    eps = 1.0 / padded
    centres = torch.linspace(-1.0 + eps, 1.0 - eps, padded, device=shift.device, dtype=shift.dtype)[:size]
    x = centres.unsqueeze(0).expand(size, size)  # x varies along the width
    base = torch.stack([x, x.transpose(0, 1)], dim=-1)  # [size, size, (x, y)]
    return base.unsqueeze(0) + shift * (2.0 / padded)


class ShiftAug(nn.Module):
    """Random shift of each image by a whole number of pixels in [-pad, pad] (x and y drawn apart),
    the border replicated: TD-MPC2's ``ShiftAug`` (from DrQ-v2), computed the same way (replicate
    pad, then ``grid_sample`` at the shifted pixel centres), its draw
    ``torch.randint(0, 2 * pad + 1, (n, 1, 1, 2))`` from torch's global generator.

    ``forward(x, shift)``: ``shift`` [n, 2] (x, y) in 0..2*pad forces the shift (``pad``: none);
    output pixel (i, j) is then input pixel (i + shift_y - pad, j + shift_x - pad), clamped to the
    image. Returns float32 images of the input's values."""

    def __init__(self, pad: int = SHIFT_PAD) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        x = x.float()
        n, _, h, w = x.shape
        if h != w:
            raise ValueError(f"ShiftAug takes square images, not {h}x{w}")
        x = F.pad(x, (self.pad,) * 4, mode="replicate")
        if shift is None:
            shift = torch.randint(0, 2 * self.pad + 1, (n, 1, 1, 2), device=x.device, dtype=x.dtype)
        else:
            shift = shift.to(x.device, x.dtype).reshape(n, 1, 1, 2)
        grid = shift_grid(n, h, self.pad, shift)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class PixelEncoder(nn.Module):
    """Stacked uint8 frames [..., C, 64, 64] -> latents [..., 16 * num_channels] on SimNorm's
    simplices. Leading dims beyond one (a batch of time steps [T, B, ...]) are shifted one time
    step at a time, one draw per step, as the reference's ``encode`` loops over them; the convs then
    run on all of them at once."""

    def __init__(self, in_channels: int, num_channels: int, out_act: nn.Module, pad: int = SHIFT_PAD) -> None:
        super().__init__()
        c = num_channels
        self.aug = ShiftAug(pad)
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels, c, 7, stride=2),
            nn.ReLU(),
            nn.Conv2d(c, c, 5, stride=2),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, stride=1),
            nn.Flatten(),
        )
        self.out_act = out_act
        self.out_dim = CONV_OUTPUT_CELLS * c

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if obs.shape[-1] != FRAME_SIZE or obs.shape[-2] != FRAME_SIZE:
            raise ValueError(f"the pixel encoder takes {FRAME_SIZE}x{FRAME_SIZE} frames, not {list(obs.shape[-2:])}")
        lead, image = obs.shape[:-3], obs.shape[-3:]
        if len(lead) > 1:  # [T, B, ...]: one shift draw per time step
            steps = obs.reshape(lead[0], -1, *image)
            x = torch.cat([self.aug(step) for step in steps])
        else:
            x = self.aug(obs.reshape(-1, *image))
        x = x.div(255.0).sub(0.5)
        return self.out_act(self.convs(x)).reshape(*lead, self.out_dim)
