"""Weight conversion, both ways, between the reference codes' checkpoints and our agent's state parts.

A file written by TD-MPC2's ``TDMPC2.save`` or MBDPO's ``MBDPO.save`` is ``{"model": state_dict}``
of their ``WorldModel``. Two key layouts exist:

* ``current`` (TD-MPC2 since its speed-ups of November 2024, and MBDPO): the Q ensemble is a
  tensordict-stacked ensemble, ``_Qs.params.{layer}.{weight,bias,ln.weight,ln.bias}`` (weights
  [members, out, in], the rest [members, out]), the same tensors again as
  ``_detach_Qs_params.*`` and the target heads as ``_target_Qs_params.*``; buffers
  ``log_std_min``, ``log_std_dif`` and (multi-task) ``_action_masks``.
* ``flat`` (TD-MPC2 before that, the code its released checkpoints were written with: functorch's
  ``combine_state_for_ensemble``): ``_Qs.params.N`` and ``_target_Qs.params.N`` with
  N = 4 * layer + k, k indexing (weight, bias, ln.weight, ln.bias); no buffers (the action masks
  and log-std bounds were plain attributes, so a multi-task file does not say its tasks' action
  dims). TD-MPC2's ``api_model_conversion`` (common/layers.py) still accepts it.

Ours (algorithms/world_model/model.py, layers.py): ``nn.Sequential`` MLPs whose Linear / LayerNorm
sit at indices 3i / 3i+1, and an :class:`~algorithms.world_model.layers.EnsembleMLP` whose weights
are [members, in, out] and biases and LayerNorm parameters [members, 1, out]. MBDPO's ``_F`` is our
:class:`~algorithms.world_model.energy.EnergyClassifier` (``net``), its ``_score`` our
:class:`~algorithms.world_model.score.ScoreNetwork` (``net``).

:func:`describe` reads every size from the tensors; :func:`to_ours` and :func:`to_reference`
convert. Whatever does not fit is a :class:`ReferenceFormatError` with a one-line reason.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import torch

from algorithms.world_model.config import MODEL_SIZES, ModelConfig
from configs.suites import get_suite

FORMATS = ("tdmpc2", "mbdpo")
LAYOUTS = ("current", "flat")

#: the references' task sets (TD-MPC2's common/__init__.py TASK_SET) -> our suite with that order
TASK_SET_SUITES = {"mt30": "dmc-mt30", "mt80": "mt80"}

#: in the flat layout, N = 4 * layer + k names these parameters of a layer
FLAT_NAMES = ("weight", "bias", "ln.weight", "ln.bias")

#: what both references' config.yaml sets and no tensor shows (it also makes the log-std buffers int64)
REFERENCE_DEFAULTS = ModelConfig()


class ReferenceFormatError(ValueError):
    """A checkpoint that is not, or does not fit, a reference model we can build (one-line reason)."""


# --- the references' parser rules ------------------------------------------------------------------


def default_num_q() -> int:
    """num_q of the references' config.yaml (5), used by the size presets that do not set it."""
    return MODEL_SIZES[5]["num_q"]


def parser_widths(size: int, task_set: Optional[str], fmt: str = "tdmpc2") -> dict[str, int]:
    """The widths the reference's ``parse_cfg`` gives ``model_size=size`` for ``task_set`` (mt30,
    mt80, or None: single-task): the size preset (configs of ours: MODEL_SIZES), then

    * TD-MPC2 (``common/parser.py``): mt30's exceptions, read from configs/suites.yaml
      (``latent_dim_by_size``: 512 at size 19; ``task_dim_by_size``: 64 at 5, 19 and 48, else our
      ModelConfig's default 96, which mt80 always has);
    * MBDPO (``MBDPO/common/parser.py:96,103``): its rules test sizes 21, 2 and 340, which its
      MODEL_SIZE does not have, so the latent size is always the preset's and every mt30 model
      has task_dim 64 (mt80: 96).

    Single-task: task_dim 0."""
    widths = dict(MODEL_SIZES[size])
    if task_set is None:
        return {**widths, "task_dim": 0}
    default = REFERENCE_DEFAULTS.task_dim
    if fmt == "mbdpo":
        return {**widths, "task_dim": default if task_set == "mt80" else 64}
    suite = get_suite(TASK_SET_SUITES[task_set])
    if size in suite.latent_dim_by_size:
        widths["latent_dim"] = suite.latent_dim_by_size[size]
    return {**widths, "task_dim": suite.task_dim_by_size.get(size, default)}


def infer_size(widths: Mapping[str, int], task_set: Optional[str], fmt: str = "tdmpc2") -> Optional[int]:
    """The preset size whose parsed widths (:func:`parser_widths`) are exactly ``widths``, or None."""
    keys = ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q", "task_dim")
    for size in MODEL_SIZES:
        expected = parser_widths(size, task_set, fmt)
        if all(widths[k] == expected[k] for k in keys):
            return size
    return None


# --- what a checkpoint is ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceModel:
    """What a reference checkpoint holds, every number read from its tensors."""

    format: str  # tdmpc2 | mbdpo
    layout: str  # current | flat
    multitask: bool
    num_tasks: int  # 0 single-task
    task_set: Optional[str]  # mt30 | mt80 (by the number of tasks) | None
    suite: Optional[str]  # our suite with the task set's order (configs/suites.yaml) | None
    tasks: tuple[str, ...]  # the task set's tasks in the embedding's order; () when unknown
    size: Optional[int]  # the preset whose parsed widths these are (TD-MPC2's parser), else None
    enc_dim: int
    mlp_dim: int
    latent_dim: int
    num_enc_layers: int  # the encoder's Linear layers (1 and 2 give the same shapes: read as 2)
    num_q: int
    num_bins: int
    task_dim: int  # 0 single-task
    obs_dim: int
    action_dim: int  # multi-task: the largest of the task set
    action_dims: Optional[tuple[int, ...]]  # each task's own; None: a flat multi-task file (not stored)
    log_std_min: float
    log_std_max: float
    has_energy: bool  # MBDPO's _F
    has_score: bool  # MBDPO's _score
    score_trained: bool  # _score's biases / LayerNorms moved from their initial 0 / 1
    horizon: Optional[int]  # the score network's (its output is horizon * action_dim)
    score_embed_dim: Optional[int]  # the score network's time embedding size
    simnorm_dim: int = REFERENCE_DEFAULTS.simnorm_dim  # no tensor shows it; both references use 8
    ignored: tuple[str, ...] = field(default=())  # keys read and dropped (old tensordict metadata, MBDPO's _G)

    def model_config(self, **overrides: Any) -> ModelConfig:
        """Our ModelConfig for this model: every width explicit, ``size`` the preset or None."""
        values: dict[str, Any] = dict(
            size=self.size,
            enc_dim=self.enc_dim,
            mlp_dim=self.mlp_dim,
            latent_dim=self.latent_dim,
            num_enc_layers=self.num_enc_layers,
            num_q=self.num_q,
            num_bins=self.num_bins,
            simnorm_dim=self.simnorm_dim,
            log_std_min=self.log_std_min,
            log_std_max=self.log_std_max,
        )
        if self.multitask:
            values["task_dim"] = self.task_dim
        return ModelConfig(**{**values, **overrides})

    def summary(self) -> str:
        """One line: what the file is."""
        what = f"{self.task_set or f'{self.num_tasks} tasks'}" if self.multitask else "single-task"
        size = f"size {self.size}" if self.size is not None else "no preset size"
        extra = "".join(
            f", {name}" for name, on in (("energy F", self.has_energy), ("score network", self.has_score)) if on
        )
        return (
            f"{self.format} checkpoint ({self.layout} layout), {what}, {size} (enc {self.enc_dim}, "
            f"mlp {self.mlp_dim}, latent {self.latent_dim}, {self.num_enc_layers} encoder layers, "
            f"{self.num_q} Q heads, {self.num_bins} bins, task_dim {self.task_dim}), obs {self.obs_dim}, "
            f"action {self.action_dim}{extra}"
        )


def model_state(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside ``{"model": state_dict}`` (what both references' ``save`` writes), or
    ``checkpoint`` itself when it already is one (their ``load`` accepts both)."""
    if not isinstance(checkpoint, Mapping):
        raise ReferenceFormatError(f"not a reference checkpoint: a {type(checkpoint).__name__}, not a dict")
    inner = checkpoint.get("model")
    if isinstance(inner, Mapping):
        extra = sorted(k for k in checkpoint if k != "model")
        if extra:
            raise ReferenceFormatError(
                f"not a reference checkpoint: it holds {', '.join(map(str, extra[:4]))} besides 'model' "
                f"(TD-MPC2 and MBDPO save only {{'model': state_dict}})"
            )
        return inner
    return checkpoint


def read_checkpoint(path: str | Path) -> Mapping[str, Any]:
    """The state dict of a reference checkpoint file (read only, memory-mapped where torch can)."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceFormatError(f"{path}: no such file")
    try:
        mmap = zipfile.is_zipfile(path)
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # truncated, not a torch file, pickled code
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReferenceFormatError(f"{path}: cannot be read as a torch checkpoint ({reason[:160]})") from None
    return model_state(obj)


def _prefixed(keys, prefix: str) -> list[str]:
    return [k for k in keys if k.startswith(prefix)]


def _layer_count(keys, prefix: str) -> int:
    """How many ``{prefix}{i}.weight`` layers there are (0..n-1, all present)."""
    found = {int(k[len(prefix) :].split(".")[0]) for k in keys if k.startswith(prefix) and k.endswith(".weight")}
    found = {i for i in found if f"{prefix}{i}.weight" in keys}
    return len(found) if found == set(range(len(found))) else -1


def _shape(state: Mapping[str, Any], key: str) -> tuple[int, ...]:
    value = state.get(key)
    if not isinstance(value, torch.Tensor):
        raise ReferenceFormatError(f"not a TD-MPC2 or MBDPO model: no tensor {key!r}")
    return tuple(value.shape)


def describe(checkpoint: Mapping[str, Any], format: Optional[str] = None) -> ReferenceModel:
    """What a reference checkpoint is (``{"model": state_dict}`` or the state dict), checking that
    every key is known and every shape consistent. ``format`` (tdmpc2 | mbdpo) overrides the
    detection (MBDPO's files have ``_F`` / ``_score``; one without them has TD-MPC2's keys)."""
    state = model_state(checkpoint)
    if format is not None and format not in FORMATS:
        raise ReferenceFormatError(f"unknown format {format!r}; valid: {', '.join(FORMATS)}")
    keys = [k for k in state if isinstance(k, str)]
    if len(keys) != len(state):
        raise ReferenceFormatError("not a TD-MPC2 or MBDPO model: a state dict's keys are strings")
    for head in ("_termination.", "_terminated."):
        if any(k.startswith(head) for k in keys):
            raise ReferenceFormatError(
                f"refused: the checkpoint has a termination head ({head[:-1]}, TD-MPC2's episodic=true), not built here"
            )
    ignored = tuple(k for k in keys if k.endswith(".__batch_size") or k.endswith(".__device") or k.startswith("_G."))
    keys = [k for k in keys if k not in ignored]
    mbdpo_keys = any(k.startswith(("_F.", "_score.")) for k in keys) or any(k.startswith("_G.") for k in ignored)
    fmt = format or ("mbdpo" if mbdpo_keys else "tdmpc2")
    if fmt == "tdmpc2" and mbdpo_keys:
        raise ReferenceFormatError("format=tdmpc2, but the checkpoint has MBDPO's _F / _score / _G; use format=mbdpo")
    if "_Qs.params.0.weight" in state:
        layout = "current"
    elif "_Qs.params.0" in state:
        layout = "flat"
    else:
        raise ReferenceFormatError(
            "not a TD-MPC2 or MBDPO model: no Q ensemble (_Qs.params.0.weight or _Qs.params.0)"
            + (f"; its keys begin {', '.join(keys[:3])}" if keys else "; it is empty")
        )

    multitask = "_task_emb.weight" in state
    num_tasks, task_dim = _shape(state, "_task_emb.weight") if multitask else (0, 0)
    n_enc = _layer_count(keys, "_encoder.state.")
    if n_enc < 2:
        raise ReferenceFormatError(
            "not a TD-MPC2 or MBDPO model: no state encoder _encoder.state.0 ... (pixel models are not built here)"
        )
    enc_dim, enc_in = _shape(state, "_encoder.state.0.weight")
    latent_dim = _shape(state, f"_encoder.state.{n_enc - 1}.weight")[0]
    mlp_dim = _shape(state, "_dynamics.0.weight")[0]
    action_dim = _shape(state, "_pi.2.weight")[0] // 2
    num_bins = _shape(state, "_reward.2.weight")[0]
    q0 = _shape(state, "_Qs.params.0.weight" if layout == "current" else "_Qs.params.0")
    num_q = q0[0]
    obs_dim = enc_in - task_dim
    has_energy = "_F.0.weight" in state
    has_score = "_score.0.weight" in state
    horizon = embed = None
    if has_score:
        out, score_in = _shape(state, "_score.2.weight")[0], _shape(state, "_score.0.weight")[1]
        if action_dim <= 0 or out % action_dim:
            raise ReferenceFormatError(
                f"inconsistent shapes: _score's output {out} is not horizon x action dim {action_dim}"
            )
        horizon = out // action_dim
        embed = score_in - latent_dim - task_dim - out
    if obs_dim <= 0 or action_dim <= 0 or (embed is not None and embed <= 0):
        raise ReferenceFormatError(
            f"inconsistent shapes: obs dim {obs_dim}, action dim {action_dim}, score embedding {embed} "
            "(the encoder, pi and _score inputs do not add up)"
        )

    action_dims: Optional[tuple[int, ...]] = None
    if multitask and "_action_masks" in state:
        masks = state["_action_masks"]
        if tuple(masks.shape) != (num_tasks, action_dim):
            raise ReferenceFormatError(
                f"inconsistent shapes: _action_masks {tuple(masks.shape)}, expected ({num_tasks}, {action_dim})"
            )
        dims = masks.sum(-1).round().long()
        rebuilt = (torch.arange(action_dim) < dims.unsqueeze(-1)).to(masks.dtype)
        if not torch.equal(rebuilt, masks):
            raise ReferenceFormatError("inconsistent _action_masks: each row must be 1 on its first dims and 0 after")
        action_dims = tuple(int(d) for d in dims)
    log_std_min, log_std_max = REFERENCE_DEFAULTS.log_std_min, REFERENCE_DEFAULTS.log_std_max
    if "log_std_min" in state and "log_std_dif" in state:
        log_std_min = float(state["log_std_min"])
        log_std_max = log_std_min + float(state["log_std_dif"])

    task_set = {30: "mt30", 80: "mt80"}.get(num_tasks) if multitask else None
    suite = TASK_SET_SUITES.get(task_set) if task_set else None
    tasks = get_suite(suite).tasks if suite else ()
    widths = dict(
        enc_dim=enc_dim, mlp_dim=mlp_dim, latent_dim=latent_dim, num_enc_layers=n_enc, num_q=num_q, task_dim=task_dim
    )
    size = infer_size(widths, task_set, fmt)
    score_trained = False
    if has_score:
        initial = {k: 1.0 if k.endswith(".ln.weight") else 0.0 for k in keys if k.startswith("_score.")}
        initial = {k: v for k, v in initial.items() if k.endswith((".bias", ".ln.weight"))}  # 0 biases, 1 gains
        score_trained = any(bool(state[k].ne(v).any()) for k, v in initial.items())
    ref = ReferenceModel(
        format=fmt,
        layout=layout,
        multitask=multitask,
        num_tasks=num_tasks,
        task_set=task_set,
        suite=suite,
        tasks=tuple(tasks),
        size=size,
        enc_dim=enc_dim,
        mlp_dim=mlp_dim,
        latent_dim=latent_dim,
        num_enc_layers=n_enc,
        num_q=num_q,
        num_bins=num_bins,
        task_dim=task_dim,
        obs_dim=obs_dim,
        action_dim=action_dim,
        action_dims=action_dims,
        log_std_min=log_std_min,
        log_std_max=log_std_max,
        has_energy=has_energy,
        has_score=has_score,
        score_trained=score_trained,
        horizon=horizon,
        score_embed_dim=embed,
        ignored=ignored,
    )
    _check_keys(state, keys, ref)
    return ref


# --- the key maps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Net:
    """One MLP in both naming schemes: theirs ``{theirs}{i}.{weight,bias,ln.weight,ln.bias}``,
    ours ``{ours}{3i}.{weight,bias}`` (Linear) and ``{ours}{3i+1}.{weight,bias}`` (LayerNorm)."""

    part: str  # model | energy | score_net: which of our state parts
    theirs: str
    ours: str
    dims: tuple[int, ...]  # in, hidden..., out
    normed_out: bool  # the last layer has a LayerNorm too (SimNorm outputs)

    def pairs(self) -> Iterator[tuple[str, str, tuple[int, ...]]]:
        """(their key, our key, shape) in the reference's order."""
        n = len(self.dims) - 1
        for i, (a, b) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            yield f"{self.theirs}{i}.weight", f"{self.ours}{3 * i}.weight", (b, a)
            yield f"{self.theirs}{i}.bias", f"{self.ours}{3 * i}.bias", (b,)
            if i < n - 1 or self.normed_out:
                yield f"{self.theirs}{i}.ln.weight", f"{self.ours}{3 * i + 1}.weight", (b,)
                yield f"{self.theirs}{i}.ln.bias", f"{self.ours}{3 * i + 1}.bias", (b,)


def _nets(ref: ReferenceModel) -> list[_Net]:
    """The MLPs before the Q ensemble, then (MBDPO) the score network, in the references' order."""
    z, e, a, m = ref.latent_dim, ref.task_dim, ref.action_dim, ref.mlp_dim
    enc = (ref.obs_dim + e, *([ref.enc_dim] * (ref.num_enc_layers - 1)), z)
    nets = [
        _Net("model", "_encoder.state.", "encoder.", enc, True),
        _Net("model", "_dynamics.", "dynamics.", (z + a + e, m, m, z), True),
        _Net("model", "_reward.", "reward_head.", (z + a + e, m, m, ref.num_bins), False),
        _Net("model", "_pi.", "pi_head.", (z + e, m, m, 2 * a), False),
    ]
    if ref.has_energy:
        nets.append(_Net("energy", "_F.", "net.", (z + a + e, m, m, 1), False))
    return nets


def _score_net(ref: ReferenceModel) -> Optional[_Net]:
    if not ref.has_score:
        return None
    z, e, a, m, h = ref.latent_dim, ref.task_dim, ref.action_dim, ref.mlp_dim, ref.horizon or 0
    return _Net("score_net", "_score.", "net.", (z + e + h * a + (ref.score_embed_dim or 0), m, m, h * a), False)


def _q_dims(ref: ReferenceModel) -> tuple[int, ...]:
    return (ref.latent_dim + ref.action_dim + ref.task_dim, ref.mlp_dim, ref.mlp_dim, ref.num_bins)


def _q_entries(ref: ReferenceModel, their_prefix: str) -> Iterator[tuple[str, int, str, tuple[int, ...]]]:
    """(their key, layer, name, their shape) of one stacked Q ensemble, in the reference's order.
    ``their_prefix``: ``_Qs.params.`` etc.; the flat layout numbers the entries 4 * layer + k."""
    dims, q = _q_dims(ref), ref.num_q
    last = len(dims) - 2
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        names = FLAT_NAMES if i < last else FLAT_NAMES[:2]
        for k, name in enumerate(names):
            shape = (q, b, a) if name == "weight" else (q, b)
            tail = f"{4 * i + k}" if ref.layout == "flat" else f"{i}.{name}"
            yield f"{their_prefix}{tail}", i, name, shape


#: our EnsembleMLP's parameter list for each of their per-layer names
_OUR_Q_NAMES = {"weight": "weights", "bias": "biases", "ln.weight": "ln_weights", "ln.bias": "ln_biases"}


def _q_prefixes(ref: ReferenceModel) -> list[tuple[str, Optional[str]]]:
    """(their prefix, our prefix or None for the duplicate ``_detach_Qs_params``) per ensemble."""
    if ref.layout == "flat":
        return [("_Qs.params.", "qs."), ("_target_Qs.params.", "target_qs.")]
    return [("_Qs.params.", "qs."), ("_detach_Qs_params.", None), ("_target_Qs_params.", "target_qs.")]


def reference_layout(ref: ReferenceModel) -> list[tuple[str, tuple[int, ...]]]:
    """Every key of the reference's state dict with its shape, in the order its ``state_dict`` has."""
    out: list[tuple[str, tuple[int, ...]]] = []
    if ref.layout == "current":
        if ref.multitask:
            out.append(("_action_masks", (ref.num_tasks, ref.action_dim)))
        out += [("log_std_min", ()), ("log_std_dif", ())]
    if ref.multitask:
        out.append(("_task_emb.weight", (ref.num_tasks, ref.task_dim)))
    for net in _nets(ref):
        out += [(theirs, shape) for theirs, _, shape in net.pairs()]
    prefixes = _q_prefixes(ref)
    out += [(key, shape) for key, _, _, shape in _q_entries(ref, prefixes[0][0])]
    score = _score_net(ref)
    if score is not None:
        out += [(theirs, shape) for theirs, _, shape in score.pairs()]
    for prefix, _ in prefixes[1:]:
        out += [(key, shape) for key, _, _, shape in _q_entries(ref, prefix)]
    return out


def _check_keys(state: Mapping[str, Any], keys: list[str], ref: ReferenceModel) -> None:
    expected = reference_layout(ref)
    names = {k for k, _ in expected}
    unknown = [k for k in keys if k not in names]
    if unknown:
        raise ReferenceFormatError(
            f"unknown key(s) for a {ref.format} model ({ref.layout} layout): {', '.join(unknown[:4])}"
            + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
        )
    missing = [k for k, _ in expected if k not in state]
    if missing:
        raise ReferenceFormatError(
            f"missing key(s) for a {ref.format} model ({ref.layout} layout): {', '.join(missing[:4])}"
            + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            + " (truncated or another model?)"
        )
    for key, shape in expected:
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ReferenceFormatError(f"inconsistent shapes: {key} is {got}, expected {shape} from the other tensors")
        if key not in ("log_std_min", "log_std_dif") and not value.is_floating_point():
            raise ReferenceFormatError(f"{key} holds {value.dtype}, not floating-point weights")
    if ref.layout == "current":
        for key, _, _, _ in _q_entries(ref, "_Qs.params."):
            twin = "_detach_Qs_params." + key[len("_Qs.params.") :]
            if state[key] is not state[twin] and not torch.equal(state[key], state[twin]):
                raise ReferenceFormatError(f"inconsistent checkpoint: {twin} differs from {key} (they are one tensor)")


# --- the conversions --------------------------------------------------------------------------------


def to_ours(
    checkpoint: Mapping[str, Any], format: Optional[str] = None, action_dims: Optional[tuple[int, ...]] = None
) -> dict[str, Optional[dict[str, torch.Tensor]]]:
    """A reference checkpoint as our agent's state parts: ``{"model": WorldModel state dict,
    "energy": EnergyClassifier state dict or None, "score_net": ScoreNetwork state dict or None}``,
    each loadable with ``strict=True`` into the modules :func:`describe`'s numbers build.

    ``action_dims``: each task's action dims, needed for a multi-task flat-layout file (it does not
    store them); checked against the file's ``_action_masks`` where it has them. The energy
    classifier's normalisation statistics restart at 0 / 1 (MBDPO keeps them on its agent, not in the
    file); the score network counts 1 update when its weights left their initial values, else 0."""
    state = model_state(checkpoint)
    ref = describe(state, format)
    if ref.multitask:
        if action_dims is not None:
            action_dims = tuple(int(d) for d in action_dims)
            if len(action_dims) != ref.num_tasks or max(action_dims) > ref.action_dim or min(action_dims) < 1:
                raise ReferenceFormatError(
                    f"action_dims {action_dims} do not fit {ref.num_tasks} tasks of at most {ref.action_dim} dims"
                )
            if ref.action_dims is not None and ref.action_dims != action_dims:
                raise ReferenceFormatError(
                    f"action_dims {action_dims} differ from the file's _action_masks {ref.action_dims}"
                )
        elif ref.action_dims is None:
            raise ReferenceFormatError(
                "a multi-task flat-layout checkpoint does not store its tasks' action dims; pass action_dims"
            )
        action_dims = ref.action_dims or action_dims
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}}
    model = parts["model"]
    if ref.multitask:
        masks = torch.zeros(ref.num_tasks, ref.action_dim)
        for i, d in enumerate(action_dims):
            masks[i, :d] = 1.0
        model["action_masks"] = masks
        model["task_embedding.weight"] = state["_task_emb.weight"]
    if ref.has_energy:
        parts["energy"] = {"mean": torch.zeros(()), "std": torch.ones(())}
    for net in _nets(ref):
        target = parts[net.part]
        for theirs, ours, _ in net.pairs():
            target[ours] = state[theirs]
    for prefix, ours in _q_prefixes(ref):
        if ours is None:
            continue
        for key, layer, name, _ in _q_entries(ref, prefix):
            value = state[key]
            value = value.transpose(1, 2) if name == "weight" else value.unsqueeze(1)
            model[f"{ours}{_OUR_Q_NAMES[name]}.{layer}"] = value.contiguous()
    cfg = ref.model_config().resolved()
    model["two_hot.bins"] = torch.linspace(cfg.vmin, cfg.vmax, cfg.num_bins)
    score = _score_net(ref)
    if score is not None:
        parts["score_net"] = {"updates": torch.tensor(int(ref.score_trained), dtype=torch.long)}
        for theirs, ours, _ in score.pairs():
            parts["score_net"][ours] = state[theirs]
    return {"model": model, "energy": parts.get("energy"), "score_net": parts.get("score_net")}


def describe_ours(ours: Mapping[str, Any], format: str = "tdmpc2", layout: str = "current") -> ReferenceModel:
    """The :class:`ReferenceModel` that our state parts ``{"model", "energy", "score_net"}`` become
    under ``format`` and ``layout`` (sizes read from our tensors; log-std bounds: the defaults)."""
    if format not in FORMATS:
        raise ReferenceFormatError(f"unknown format {format!r}; valid: {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ReferenceFormatError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    model = ours.get("model") if isinstance(ours, Mapping) else None
    if not isinstance(model, Mapping) or "qs.weights.0" not in model:
        raise ReferenceFormatError("not our agent's state parts: expected {'model': WorldModel state dict, ...}")
    energy, score = ours.get("energy"), ours.get("score_net")
    if format == "tdmpc2" and (energy is not None or score is not None):
        raise ReferenceFormatError("format=tdmpc2 has no energy classifier or score network; use format=mbdpo")
    multitask = "task_embedding.weight" in model
    num_tasks, task_dim = tuple(model["task_embedding.weight"].shape) if multitask else (0, 0)
    n_enc = len(
        [k for k in model if k.startswith("encoder.") and k.endswith(".weight") and int(k.split(".")[1]) % 3 == 0]
    )
    enc_dim, enc_in = tuple(model["encoder.0.weight"].shape)
    latent_dim = model[f"encoder.{3 * (n_enc - 1)}.weight"].shape[0]
    action_dim = model["pi_head.6.weight"].shape[0] // 2
    horizon = embed = None
    if score is not None:
        out = score["net.6.weight"].shape[0]
        horizon = out // action_dim
        embed = score["net.0.weight"].shape[1] - latent_dim - task_dim - out
    action_dims = None
    if multitask:
        action_dims = tuple(int(d) for d in model["action_masks"].sum(-1).round().long())
    widths = dict(
        enc_dim=enc_dim,
        mlp_dim=model["dynamics.0.weight"].shape[0],
        latent_dim=latent_dim,
        num_enc_layers=n_enc,
        num_q=model["qs.weights.0"].shape[0],
        task_dim=task_dim,
    )
    task_set = {30: "mt30", 80: "mt80"}.get(num_tasks) if multitask else None
    suite = TASK_SET_SUITES.get(task_set) if task_set else None
    return ReferenceModel(
        format=format,
        layout=layout,
        multitask=multitask,
        num_tasks=num_tasks,
        task_set=task_set,
        suite=suite,
        tasks=tuple(get_suite(suite).tasks) if suite else (),
        size=infer_size(widths, task_set, format),
        num_bins=model["reward_head.6.weight"].shape[0],
        obs_dim=enc_in - task_dim,
        action_dim=action_dim,
        action_dims=action_dims,
        log_std_min=REFERENCE_DEFAULTS.log_std_min,
        log_std_max=REFERENCE_DEFAULTS.log_std_max,
        has_energy=energy is not None,
        has_score=score is not None,
        score_trained=score is not None and int(score["updates"]) > 0,
        horizon=horizon,
        score_embed_dim=embed,
        **widths,
    )


def _log_std_buffer(value: float) -> torch.Tensor:
    """As the references make it, ``torch.tensor(cfg.value)``: int64 for their config's whole numbers."""
    return torch.tensor(int(value)) if float(value).is_integer() else torch.tensor(float(value))


def to_reference(
    ours: Mapping[str, Any],
    format: str = "tdmpc2",
    layout: str = "current",
    log_std_min: float = REFERENCE_DEFAULTS.log_std_min,
    log_std_max: float = REFERENCE_DEFAULTS.log_std_max,
) -> dict[str, torch.Tensor]:
    """Our state parts ``{"model", "energy", "score_net"}`` as the reference's ``WorldModel``
    state dict (what its ``save`` puts under ``"model"``; its ``load`` reads it back), keys in the
    reference's own order. ``layout="flat"``: TD-MPC2's old layout. Our energy statistics and the
    score network's update count have no place there and are dropped."""
    ref = describe_ours(ours, format, layout)
    model, energy, score = ours["model"], ours.get("energy"), ours.get("score_net")
    sources = {"model": model, "energy": energy, "score_net": score}
    pairs: dict[str, tuple[str, str]] = {}
    for net in [*_nets(ref), *([_score_net(ref)] if ref.has_score else [])]:
        for theirs, our_key, _ in net.pairs():
            pairs[theirs] = (net.part, our_key)
    q_keys: dict[str, tuple[str, str]] = {}
    for prefix, our_prefix in _q_prefixes(ref):
        for key, layer, name, _ in _q_entries(ref, prefix):
            q_keys[key] = (f"{our_prefix or 'qs.'}{_OUR_Q_NAMES[name]}.{layer}", name)
    out: dict[str, torch.Tensor] = {}
    for key, shape in reference_layout(ref):
        if key == "_action_masks":
            value = model["action_masks"]
        elif key == "log_std_min":
            value = _log_std_buffer(log_std_min)
        elif key == "log_std_dif":
            value = _log_std_buffer(log_std_max) - _log_std_buffer(log_std_min)
        elif key == "_task_emb.weight":
            value = model["task_embedding.weight"]
        elif key in q_keys:
            our_key, name = q_keys[key]
            value = model[our_key]
            value = (value.transpose(1, 2) if name == "weight" else value.squeeze(1)).contiguous()
        else:
            part, our_key = pairs[key]
            value = sources[part][our_key]
        if tuple(value.shape) != shape:
            raise ReferenceFormatError(f"inconsistent shapes: {key} would be {tuple(value.shape)}, expected {shape}")
        out[key] = value
    if layout == "current":  # _detach_Qs_params are the same tensors as _Qs.params
        for key in list(out):
            if key.startswith("_detach_Qs_params."):
                out[key] = out["_Qs.params." + key[len("_detach_Qs_params.") :]]
    return out
