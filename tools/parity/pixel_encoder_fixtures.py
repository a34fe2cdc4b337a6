"""Golden numbers of TD-MPC2's pixel encoder (nicklashansen/tdmpc2 @ e9f5932, common/layers.py
``ShiftAug``, ``PixelPreprocess``, ``conv``, ``enc``; WorldModel.encode) for
tests/test_pixel_encoder.py.

The reference's own WorldModel is built with ``obs=rgb`` (9 x 64 x 64 frames, 4 channels, so a
latent of 64, simnorm groups of 8); its conv weights are replaced by values drawn from a seeded
generator (:func:`conv_weights`, which the test repeats for ours), and ``encode`` is called on
seeded uint8 frames, once on a batch [B, 9, 64, 64] and once on time steps [T, B, 9, 64, 64] (its
loop over T, one shift draw per step), each right after ``torch.manual_seed``. The fixture holds
the recipe, the latents and the shifts ShiftAug drew (repeated from the same seed), a few kB.

Usage (from the repository root; the reference made CPU-runnable by ref_bench_patch.sh):
    python -m tools.parity.pixel_encoder_fixtures [--ref $REFBENCH/tdmpc2/tdmpc2]   # write
    python -m tools.parity.pixel_encoder_fixtures --check                              # compare
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file: make ``tools.parity`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.parity.common import REFBENCH, build_cfg, check_or_write, import_reference, warn_if_other_commit  # noqa: E402

REFERENCE = "nicklashansen/tdmpc2@e9f5932"
DEFAULT_REF = REFBENCH / "tdmpc2" / "tdmpc2"
FIXTURE = "pixel_encoder.pt"
RECIPE = dict(frames=(9, 64, 64), num_channels=4, simnorm_dim=8, pad=3, batch=3, steps=2, weight_seed=7, input_seed=11)
#: torch.manual_seed before each encode call
SEEDS = dict(batch=123, steps=456)
#: larger than torch's default init, so that the latents are far from SimNorm's uniform 1/8
WEIGHT_SCALE = 4.0


def conv_weights(shapes: list[torch.Size], seed: int) -> list[torch.Tensor]:
    """The conv parameters, in module order (weight, bias per conv): U(-1, 1) x WEIGHT_SCALE / sqrt(fan_in)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    fan_in = 1
    for shape in shapes:
        if len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
        out.append((torch.rand(shape, generator=g) * 2 - 1) * WEIGHT_SCALE / fan_in**0.5)
    return out


def frames(recipe: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded uint8 frames: a batch [B, C, H, W] and time steps [T, B, C, H, W]."""
    g = torch.Generator().manual_seed(recipe["input_seed"])
    b, t = recipe["batch"], recipe["steps"]
    batch = torch.randint(0, 256, (b, *recipe["frames"]), generator=g, dtype=torch.uint8)
    steps = torch.randint(0, 256, (t, b, *recipe["frames"]), generator=g, dtype=torch.uint8)
    return batch, steps


def shifts(seed: int, calls: int, n: int, pad: int) -> torch.Tensor:
    """The shifts ShiftAug draws in ``calls`` calls of ``n`` images after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return torch.stack([torch.randint(0, 2 * pad + 1, (n, 1, 1, 2), dtype=torch.float32) for _ in range(calls)])


def make_fixture(ref: Path) -> dict:
    (world_model,) = import_reference(ref, "common.world_model")
    r = RECIPE
    c = r["num_channels"]
    cfg = build_cfg(
        ref / "config.yaml",
        enc_dim=32,
        mlp_dim=16,
        latent_dim=16 * c,
        num_enc_layers=2,
        num_q=2,
        num_channels=c,
        simnorm_dim=r["simnorm_dim"],
        dropout=0.0,
    )
    cfg.obs, cfg.obs_shape = "rgb", {"rgb": list(r["frames"])}
    model = world_model.WorldModel(cfg)
    convs = [m for m in model._encoder["rgb"] if isinstance(m, torch.nn.Conv2d)]
    params = [p for m in convs for p in (m.weight, m.bias)]
    with torch.no_grad():
        for p, w in zip(params, conv_weights([p.shape for p in params], r["weight_seed"])):
            p.copy_(w)
    batch, steps = frames(r)
    with torch.no_grad():
        torch.manual_seed(SEEDS["batch"])
        z_batch = model.encode(batch, None)
        torch.manual_seed(SEEDS["steps"])
        z_steps = model.encode(steps, None)
    return {
        "reference": REFERENCE,
        "recipe": dict(r),
        "seeds": dict(SEEDS),
        "input_sums": [int(batch.long().sum()), int(steps.long().sum())],
        "latent_batch": z_batch,
        "latent_steps": z_steps,
        "shifts_batch": shifts(SEEDS["batch"], 1, r["batch"], r["pad"]),
        "shifts_steps": shifts(SEEDS["steps"], r["steps"], r["batch"], r["pad"]),
        "encoder": str(model._encoder["rgb"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, default=DEFAULT_REF)
    parser.add_argument("--check", action="store_true", help="compare with the committed fixture, write nothing")
    args = parser.parse_args(argv)
    warn_if_other_commit(args.ref, REFERENCE)
    torch.set_num_threads(1)
    return check_or_write({FIXTURE: make_fixture(args.ref)}, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
