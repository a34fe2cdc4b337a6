"""Network pieces of the TD-MPC2 world model: SimNorm, LayerNorm+Mish MLPs, and a Q ensemble."""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn


def _mish_formula(x: torch.Tensor) -> torch.Tensor:
    """mish(x) = x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2): one exp instead of
    exp, log1p and tanh. Equal to F.mish within 1e-6 (x is clamped where the ratio is exactly 1)."""
    e = torch.exp(x.clamp(max=20.0))
    n = e * (e + 2)
    return x * n / (n + 2)


_compiled_mish = None
#: Dynamo recompiles the kernel for each new global state (torch thread count, grad mode); past
#: its recompile limit (8) it silently runs the eager formula, whose rounding differs from the
#: fused kernel's, so one process that runs several configurations (tests, in-process sweeps)
#: would stop being bit-reproducible. A few dozen variants are cheap.
_RECOMPILE_LIMIT = 64


def raise_recompile_limit() -> None:
    """Let Dynamo keep a few dozen compiled variants of a function (see _RECOMPILE_LIMIT)."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), _RECOMPILE_LIMIT))


#: below this many elements a compiled call costs more than ATen's mish: Dynamo's per-call guard
#: checks take ~50 us (2 CPU cores, torch 2.13: 65 vs 12 us at 1k elements, 109 vs 141 us at 16k)
COMPILED_MISH_MIN_NUMEL = 8192


def fast_mish(x: torch.Tensor) -> torch.Tensor:
    """Mish through a torch.compile'd single-exp kernel for large tensors, ``F.mish`` for small ones.

    On CPU, ATen's mish costs ~4x a fused single-exp kernel at 256k elements (it evaluates log1p and
    tanh), and Mish is ~30% of TD-MPC2's planning time, so this pays off; small tensors (a tiny
    model, one action) keep ``F.mish`` (COMPILED_MISH_MIN_NUMEL). Falls back to ``F.mish`` when
    compilation is unavailable or disabled with ``MBDPO_COMPILE=0``.
    """
    global _compiled_mish
    if torch.compiler.is_compiling():  # inside a compiled planner or update: inductor fuses it
        return _mish_formula(x)  # (and reads no global state that a first call would change)
    if x.numel() < COMPILED_MISH_MIN_NUMEL:
        return F.mish(x)
    if _compiled_mish is None:
        _compiled_mish = F.mish
        if os.environ.get("MBDPO_COMPILE", "1") != "0":
            try:
                raise_recompile_limit()
                candidate = torch.compile(_mish_formula, dynamic=True)
                # The first call's sizes are the hints inductor decides the kernel's threading
                # with: a tiny example compiles a serial kernel (a [512, 384] Mish on 2 threads:
                # 430 us, as on 1), one at the threshold a parallel one (220 us).
                candidate(torch.zeros(COMPILED_MISH_MIN_NUMEL // 128, 128))
                _compiled_mish = candidate
            except Exception as exc:  # no C compiler, unsupported platform...
                warnings.warn(f"torch.compile unavailable ({exc!r:.100}); using eager F.mish", stacklevel=2)
    return _compiled_mish(x)


#: ``matmul_precision`` values -> the dtype the layers' matmuls run in (None: the parameters' own)
MATMUL_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def low_precision(param: torch.Tensor, dtype: torch.dtype, owner: nn.Module, slot: str) -> torch.Tensor:
    """``param`` in ``dtype``. Where no gradient can reach it (acting, target values), the cast is
    kept on ``owner`` and reused until the parameter changes (its storage or version: optimiser
    steps, Polyak updates and loads are in-place and bump the version), so a planner pays one cast
    per update instead of one per call. Written by hand: autocast's weight cache lasts one
    autocast region, and autocast also lowers LayerNorm, Mish and softmax, which we keep in fp32."""
    if (torch.is_grad_enabled() and param.requires_grad) or torch.compiler.is_compiling():
        # under torch.compile the cast is one fused op of the graph; the cache (a side effect on
        # ``owner`` keyed on ``_version``) would break the graph instead
        return param.to(dtype)
    key = (param.data_ptr(), param._version, dtype)
    cached = owner.__dict__.get(slot)
    if cached is None or cached[0] != key:
        cached = (key, param.detach().to(dtype))
        owner.__dict__[slot] = cached
    return cached[1]


class Linear(nn.Linear):
    """``nn.Linear`` whose matmul may run in bfloat16 (``matmul_dtype``; None: fp32, exactly
    ``nn.Linear``). Parameters, input and output stay fp32: only the product is rounded."""

    matmul_dtype: torch.dtype | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dt = self.matmul_dtype
        if dt is None:
            return F.linear(x, self.weight, self.bias)
        w = low_precision(self.weight, dt, self, "_low_weight")
        b = None if self.bias is None else low_precision(self.bias, dt, self, "_low_bias")
        return F.linear(x.to(dt), w, b).to(x.dtype)


def enable_amx() -> bool:
    """Ask Linux for this process's permission to use AMX tiles (``arch_prctl(ARCH_REQ_XCOMP_PERM)``,
    through torch); True where the CPU has AMX and the kernel granted it. Without it, oneDNN's bf16
    matmuls run on AVX-512 instead: on a 2-core Xeon with amx_bf16, a size-1 tdmpc2 bf16 update
    took 180 ms and an action 230 ms without this call, 101 and 121 ms with it. torch only makes the
    request itself when inductor emits AMX kernels, hence the call (``torch.cpu._init_amx``, the
    function inductor uses; harmless and False on CPUs without AMX)."""
    init = getattr(torch.cpu, "_init_amx", None)
    try:
        return bool(init()) if init is not None else False
    except RuntimeError:
        return False


def set_matmul_precision(module: nn.Module, precision: str) -> None:
    """Every Linear and ensemble layer under ``module`` multiplies in ``precision`` (fp32 | bf16);
    bf16 also enables AMX where the CPU has it (:func:`enable_amx`)."""
    if precision not in MATMUL_DTYPES:
        raise ValueError(f"unknown matmul_precision {precision!r}; valid: {', '.join(MATMUL_DTYPES)}")
    if MATMUL_DTYPES[precision] is torch.bfloat16:
        enable_amx()
    for mod in module.modules():
        if isinstance(mod, (Linear, EnsembleMLP)):
            mod.matmul_dtype = MATMUL_DTYPES[precision]


class Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_mish(x)


class GroupSoftmax(torch.autograd.Function):
    """Softmax over the last dim of ``g`` [..., groups, dim] as exp / sum, with softmax's own
    backward ``y * (dy - sum(dy * y))``. Written by hand because ATen's CPU softmax over a last dim
    smaller than its vector width (SimNorm's groups of 8) is about 5x slower than this, forward and
    backward (134 x 128 latents: 703 vs 137 us); equal to ``F.softmax`` within 2.4e-7."""

    @staticmethod
    def forward(ctx, g: torch.Tensor) -> torch.Tensor:
        e = (g - g.amax(-1, keepdim=True)).exp_()
        y = e.div_(e.sum(-1, keepdim=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return y * (dy - (dy * y).sum(-1, keepdim=True))


def group_softmax(g: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim; the hand-written kernel unless ``MBDPO_COMPILE=0`` (ATen's)."""
    if os.environ.get("MBDPO_COMPILE", "1") == "0":
        return F.softmax(g, dim=-1)
    return GroupSoftmax.apply(g)


class SimNorm(nn.Module):
    """Simplicial normalisation: softmax over consecutive groups of ``dim`` latent features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return group_softmax(x.unflatten(-1, (-1, self.dim))).reshape(shape)


def mlp(in_dim: int, hidden: list[int], out_dim: int, out_act: nn.Module | None = None) -> nn.Sequential:
    """Linear -> LayerNorm -> Mish blocks, then a last Linear (followed by ``out_act`` if given,
    in which case the last block is also normalised, as the reference does for SimNorm outputs)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [Linear(a, b), nn.LayerNorm(b), Mish()]
    if out_act is None:
        layers.append(Linear(dims[-1], out_dim))
    else:
        layers += [Linear(dims[-1], out_dim), nn.LayerNorm(out_dim), out_act]
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) weights and zero biases, task embeddings U(-0.02, 0.02), as the
    references' ``init.weight_init`` does."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.uniform_(module.weight, -0.02, 0.02)


def select_members(stack: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """``stack[members]`` along the members dim, as a gather: inductor's randperm-index rewrite
    (torch 2.13, fx_passes/misc_patterns.py) fails to compile ``stack[torch.randperm(n)]`` when all
    n members are drawn (two random heads of num_q=2) in a graph with a backward."""
    index = members.view(-1, *([1] * (stack.dim() - 1))).expand(-1, *stack.shape[1:])
    return stack.gather(0, index)


class EnsembleMLP(nn.Module):
    """``members`` independent MLPs of identical shape, evaluated as batched matmuls.

    Written by hand because an ensemble of small MLPs on CPU is much faster as one ``baddbmm`` per
    layer than as ``torch.func.vmap`` over functional calls (tensordict's ``EnsembleModule``), and
    because planning only needs 2 of the members, which we can select without running the others.
    Layout per hidden layer: Linear -> (dropout on the first) -> LayerNorm -> Mish; last layer Linear.
    ``matmul_dtype`` as for :class:`Linear`.
    """

    matmul_dtype: torch.dtype | None = None

    def __init__(self, members: int, in_dim: int, hidden: list[int], out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.members = members
        self.dropout = dropout
        dims = [in_dim, *hidden, out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.ln_weights = nn.ParameterList()
        self.ln_biases = nn.ParameterList()
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            w = torch.empty(members, a, b)
            nn.init.trunc_normal_(w, std=0.02)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(members, 1, b)))
            if i < len(dims) - 2:
                self.ln_weights.append(nn.Parameter(torch.ones(members, 1, b)))
                self.ln_biases.append(nn.Parameter(torch.zeros(members, 1, b)))

    def reset_parameters_torch_default(self) -> None:
        """Every member's Linear layers as ``nn.Linear.reset_parameters`` leaves them (kaiming-uniform
        weights with a=sqrt(5), uniform biases, both U(+-1/sqrt(fan_in))), LayerNorms at 1 and 0.

        This is what MBDPO's Q ensemble keeps: its ``weight_init`` is applied to the model after the
        members were stacked into a TensorDict, so it never reaches them (common/world_model.py)."""
        with torch.no_grad():
            for w, b in zip(self.weights, self.biases):
                fan_in = w.shape[1]
                bound = 1.0 / fan_in**0.5
                for m in range(self.members):
                    # kaiming_uniform_(a=sqrt(5)) on the [out, in] weight of nn.Linear gives this bound too
                    w[m].uniform_(-bound, bound)
                b.uniform_(-bound, bound)

    def zero_last_layer(self) -> None:
        with torch.no_grad():
            self.weights[-1].zero_()

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None, detach: bool = False) -> torch.Tensor:
        """x [..., in] (shared by all members) -> [M, ..., out] for the selected ``members`` (all if None).

        ``detach`` evaluates with detached parameters (gradients flow to the input only)."""
        lead = x.shape[:-1]
        h = x.reshape(1, -1, x.shape[-1])
        n_layers = len(self.weights)
        dt = self.matmul_dtype
        for i in range(n_layers):
            w, b = self.weights[i], self.biases[i]
            if detach:
                w, b = w.detach(), b.detach()
            if dt is not None:  # cast the whole stack (kept between calls when no gradient needs it)
                w = low_precision(w, dt, self, f"_low_weight{i}")  # a detached w shares the version
                b = low_precision(b, dt, self, f"_low_bias{i}")
                h = h.to(dt)
            if members is not None:
                w, b = select_members(w, members), select_members(b, members)
            if h.shape[0] == 1:  # shared input: one wide matmul for all members
                m, k, n = w.shape
                h = (h[0] @ w.permute(1, 0, 2).reshape(k, m * n)).view(-1, m, n).transpose(0, 1) + b
            else:
                h = torch.baddbmm(b, h, w)
            if dt is not None:
                h = h.to(x.dtype)
            if i < n_layers - 1:
                if i == 0 and self.dropout > 0 and self.training:
                    h = F.dropout(h, self.dropout)
                g, beta = self.ln_weights[i], self.ln_biases[i]
                if members is not None:
                    g, beta = select_members(g, members), select_members(beta, members)
                if detach:
                    g, beta = g.detach(), beta.detach()
                h = fast_mish(F.layer_norm(h, h.shape[-1:]) * g + beta)
        return h.reshape(h.shape[0], *lead, h.shape[-1])


def polyak_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * source, in place, for all parameters."""
    with torch.no_grad():
        t = list(target.parameters())
        s = list(source.parameters())
        torch._foreach_lerp_(t, s, tau)


__all__ = ["SimNorm", "Linear", "mlp", "init_weights", "EnsembleMLP", "polyak_", "set_matmul_precision", "enable_amx"]
