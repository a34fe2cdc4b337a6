"""A checkpoint file written by the reference codes' own ``save`` (TD-MPC2's ``TDMPC2.save``,
MBDPO's ``MBDPO.save``: ``{"model": state_dict}``), read as a pretrained model of ours.

The file is opened read-only and loaded as tensors only (``weights_only``; memory-mapped where
its format allows, so describing a 317M model reads its shapes, not its 1.3 GB). What the model
is (algorithm, size or widths, single- or multi-task, task set, task_dim, obs/action dims) is
inferred from its tensors by :mod:`algorithms.model_based.reference_weights`, which also converts
the weights to ours. Nothing here knows run directories or the harness's config classes.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the reference formats a checkpoint file can be read as (``format=``)
REFERENCE_FORMATS = ("tdmpc2", "mbdpo")
#: the fields of the inferred architecture that provenance records
MODEL_FIELDS = ("size", "enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q", "num_bins", "simnorm_dim")
WIDTHS = ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q")


class ReferenceCheckpointError(ValueError):
    """A file that cannot be read as a reference checkpoint; the message is one line."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_problem(path: Path) -> str | None:
    """Why ``path`` is no torch.save file at all (cheap: its first bytes and zip directory), or None."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):  # torch.save's zip format
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return f"truncated or damaged ({path.stat().st_size} bytes, a zip archive without its directory)"
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return (
                f"a zip archive but not a torch.save file (it holds {', '.join(names[:4])}; "
                f"e.g. a Stable-Baselines3 model)"
            )
        return None
    if head[:1] == b"\x80":  # a pickle: torch.save's format before torch 1.6
        return None
    return f"not a torch.save file (it begins {head!r})"


def _read(path: Path) -> Any:
    """The file's model state dict (tensors only, memory-mapped where torch can)."""
    from algorithms.model_based import reference_weights

    problem = file_problem(path)
    if problem:
        raise ReferenceCheckpointError(problem)
    try:
        return reference_weights.read_checkpoint(path)
    except reference_weights.ReferenceFormatError as exc:
        raise ReferenceCheckpointError(_one_line(path, exc)) from None


def _one_line(path: Path, exc: Exception) -> str:
    text = " ".join(str(exc).split()).removeprefix(f"{path}: ")
    if "weights only load failed" in text.lower():  # a pickle of Python objects, not a bare state dict
        return (
            "holds Python objects besides tensors: not a TD-MPC2 or MBDPO save (our own checkpoint.pt / "
            "final.pt are read with their run's config.yaml beside them)"
        )
    return text


@dataclass(frozen=True)
class ReferenceCheckpoint:
    """One reference checkpoint file and what its tensors say about the model in it."""

    path: Path
    sha256: str
    size_bytes: int
    model: Any  # reference_weights.ReferenceModel

    @property
    def format(self) -> str:
        return self.model.format

    @property
    def algo(self) -> str:
        """Our algorithm that runs these weights as the reference does (tdmpc2 or mbdpo)."""
        return self.model.format

    @property
    def multitask(self) -> bool:
        return bool(self.model.multitask)

    @property
    def suite(self) -> str | None:
        return self.model.suite if self.multitask else None

    def algo_overrides(self) -> dict[str, Any]:
        """Dotted algorithm fields that make our agent the file's shape: ``model.size`` (a preset,
        its widths left to it; None: every width explicit), bins, SimNorm groups, log-std bounds,
        the multi-task embedding size, whether F and the score network exist (and the score
        network's horizon and embedding size)."""
        from algorithms.world_model.config import MODEL_SIZES

        m = self.model
        preset = MODEL_SIZES.get(m.size, {}) if m.size is not None else {}
        over: dict[str, Any] = {"model.size": m.size}
        for key in WIDTHS:
            if preset.get(key) != getattr(m, key):
                over[f"model.{key}"] = int(getattr(m, key))
        over.update({"model.num_bins": int(m.num_bins), "model.simnorm_dim": int(m.simnorm_dim)})
        over.update({"model.log_std_min": float(m.log_std_min), "model.log_std_max": float(m.log_std_max)})
        if self.multitask:
            over["model.task_dim"] = int(m.task_dim)
        over["energy.enabled"] = bool(m.has_energy)
        over["score.enabled"] = bool(m.has_score)
        if m.has_score:
            over["planner.horizon"] = int(m.horizon)
            over["score.embed_dim"] = int(m.score_embed_dim)
        return over

    def inferred(self) -> dict[str, Any]:
        """What was inferred from the tensors (for config.yaml)."""
        m = self.model
        out: dict[str, Any] = {"algo": self.algo, "multitask": self.multitask}
        if self.multitask:
            out.update(task_set=m.task_set, suite=self.suite, num_tasks=int(m.num_tasks), task_dim=int(m.task_dim))
        out.update({k: getattr(m, k) for k in MODEL_FIELDS})
        out.update(obs_dim=int(m.obs_dim), action_dim=int(m.action_dim))
        out.update(has_energy=bool(m.has_energy), has_score=bool(m.has_score))
        return out

    def provenance(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "layout": self.model.layout,
            "sha256": self.sha256,
            "bytes": self.size_bytes,
            "summary": self.model.summary(),
            "inferred": self.inferred(),
        }

    def weights(self, action_dims: tuple[int, ...] | None = None) -> dict[str, Any]:
        """Our agent's ``{"model", "energy", "score_net"}`` state dicts, converted from the file
        (``action_dims``: each task's, for a multi-task file of the old flat layout, which lacks them)."""
        from algorithms.model_based import reference_weights

        try:
            return reference_weights.to_ours(_read(self.path), self.format, action_dims)
        except reference_weights.ReferenceFormatError as exc:
            raise ReferenceCheckpointError(_one_line(self.path, exc)) from None


def read_reference(path: Path, format: str = "auto") -> ReferenceCheckpoint:
    """Identify and describe the file at ``path`` (``format``: auto, tdmpc2 or mbdpo). Raises
    :class:`ReferenceCheckpointError` (one line) for anything that is not such a checkpoint,
    including a multi-task model of a task set we do not know."""
    from algorithms.model_based import reference_weights

    path = Path(path)
    try:
        model = reference_weights.describe(_read(path), None if format == "auto" else format)
    except reference_weights.ReferenceFormatError as exc:
        raise ReferenceCheckpointError(_one_line(path, exc)) from None
    if model.multitask and model.suite is None:
        raise ReferenceCheckpointError(
            f"a multi-task model of {model.num_tasks} tasks, which match no task set we know (mt30: 30 tasks, mt80: 80)"
        )
    return ReferenceCheckpoint(path, sha256_of(path), path.stat().st_size, model)
