"""Shared pieces of the parity fixture scripts (tools/parity/*_fixtures.py).

Both reference codes (nicklashansen/tdmpc2, Edmond1Cheng/MBDPO) are flat script directories whose
modules import a top-level package named ``common``; :func:`import_reference` puts one of them first
on ``sys.path`` and forgets any other one's modules, so one process handles one reference at a
time. :func:`build_cfg` makes the config their agents read, as their ``parse_cfg`` and ``make_env``
would, from their own ``config.yaml`` with reduced widths, single- or multi-task.
:class:`DrawRecorder` pins and records the random draws a reference makes (by patching the torch
functions its modules call), and :func:`save_fixture` / :func:`compare_fixtures` write and check
the fixtures (``--check`` of each script).

Run the scripts from the repository root (``python -m tools.parity.tdmpc2_fixtures``): this
module is ``tools.parity.common``, which never clashes with the references' ``common``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO_ROOT / "tests" / "fixtures" / "parity"
#: where ref_bench_patch.sh leaves the CPU-runnable copies ($REFBENCH, as that script: default /tmp/refbench)
REFBENCH = Path(os.environ.get("REFBENCH", "/tmp/refbench"))
#: top-level module names of the reference codes: forgotten before importing another reference
REFERENCE_MODULES = ("common", "tdmpc2", "mbdpo", "diffusion", "trainer", "envs")


def forget_reference_modules() -> None:
    """Drop every module of a previously imported reference code from ``sys.modules``."""
    for name in list(sys.modules):
        if name.split(".")[0] in REFERENCE_MODULES:
            module = sys.modules[name]
            origin = getattr(module, "__file__", None) or ""
            if not origin.startswith(str(REPO_ROOT)):  # never our own packages (e.g. our envs)
                del sys.modules[name]


def import_reference(code_dir: str | Path, *names: str) -> list[Any]:
    """Import ``names`` (e.g. ``"tdmpc2"``, ``"common.math"``) from a reference code directory,
    after forgetting any other reference's modules. The directory stays first on ``sys.path``."""
    code_dir = Path(code_dir).resolve()
    if not (code_dir / "common").is_dir():
        raise SystemExit(f"no reference code at {code_dir} (expected a 'common' package in it)")
    forget_reference_modules()
    for path in list(sys.path):
        if path != str(code_dir) and Path(path, "common", "world_model.py").exists():
            sys.path.remove(path)  # another reference's directory
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    modules = [importlib.import_module(n) for n in names]
    for module in modules:
        origin = Path(module.__file__).resolve()
        if code_dir not in origin.parents:
            raise SystemExit(f"{module.__name__} was imported from {origin}, not from {code_dir}")
    return modules


def warn_if_other_commit(code_dir: str | Path, reference: str) -> None:
    """ref_bench_patch.sh leaves the commit it copied in ``<code_dir>/../COMMIT``; say so on stderr
    when it is not the one the fixtures were made from (``owner/name@sha``)."""
    commit_file = Path(code_dir).resolve().parent / "COMMIT"
    expected = reference.split("@")[-1]
    if commit_file.exists() and not commit_file.read_text().strip().startswith(expected):
        print(f"warning: {code_dir} is {commit_file.read_text().strip()[:12]}, not {reference}", file=sys.stderr)


@dataclasses.dataclass
class TaskSet:
    """A multi-task set: names, each task's own observation and action dims and episode length."""

    names: list[str]
    obs_dims: list[int]
    action_dims: list[int]
    episode_lengths: list[int]
    task_dim: int


def build_cfg(
    config_yaml: str | Path,
    *,
    obs_dim: int = 17,
    action_dim: int = 6,
    episode_length: int = 500,
    tasks: TaskSet | None = None,
    **overrides: Any,
):
    """The config object a reference agent reads: its ``config.yaml``, then what ``parse_cfg`` and
    ``make_env`` set (single-task: ``obs_dim``/``action_dim``/``episode_length``; multi-task:
    ``tasks``, padded to the largest obs/action dims as its MultitaskWrapper does), then
    ``overrides`` (widths, num_q, planner sizes, ...). No model_size preset is applied: pass the
    widths. compile is off. Returns parser.cfg_to_dataclass's kind of object (a dataclass with
    ``get``), written here because the reference's parser.py imports hydra."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(str(config_yaml))
    cfg.obs, cfg.episodic, cfg.seed, cfg.compile = "state", False, 1, False
    cfg.model_size = None
    for key, value in overrides.items():
        cfg[key] = value
    if tasks is None:
        cfg.task = cfg.get("task") if isinstance(cfg.get("task"), str) else "cheetah-run"
        cfg.task_title = cfg.task.replace("-", " ").title()
        cfg.multitask, cfg.task_dim, cfg.tasks = False, 0, [cfg.task]
        cfg.obs_shape, cfg.action_dim, cfg.episode_length = {"state": [obs_dim]}, action_dim, episode_length
    else:
        cfg.task = "mt-parity"
        cfg.task_title = cfg.task.upper()
        cfg.multitask, cfg.task_dim, cfg.tasks = True, tasks.task_dim, list(tasks.names)
        cfg.obs_shapes, cfg.action_dims = list(tasks.obs_dims), list(tasks.action_dims)
        cfg.episode_lengths = list(tasks.episode_lengths)
        cfg.obs_shape, cfg.action_dim = {"state": [max(tasks.obs_dims)]}, max(tasks.action_dims)
        cfg.episode_length = tasks.episode_lengths[0]  # the wrapper reports its first env's
    cfg.bin_size = (cfg.vmax - cfg.vmin) / (cfg.num_bins - 1)
    cfg.seed_steps = max(1000, 5 * cfg.episode_length)
    cfg.steps = 10 * cfg.episode_length
    values = OmegaConf.to_container(cfg)
    fields = [(k, Any, dataclasses.field(default_factory=lambda v_=v: v_)) for k, v in values.items()]
    config_class = dataclasses.make_dataclass("Config", fields)
    config_class.get = lambda self, key, default=None: getattr(self, key, default)
    return config_class()


def cfg_fields(cfg, keys: list[str]) -> dict[str, Any]:
    """The named fields of a built config, as plain values (stored in a fixture for the tests)."""
    return {k: getattr(cfg, k) for k in keys}


ORIGINAL_RANDN = torch.randn


class DrawRecorder:
    """Pins the random draws of a reference code: while :meth:`patch` is active, each call of a
    patched torch function (``randn_like``, ``randn``, ``randperm``; ``exponential_`` with
    ``target=torch.Tensor``) draws from a ``torch.Generator`` seeded here, not the global one, and
    is logged as ``(name, tensor)``, so a fixture can store exactly the numbers the reference used.

    The patch replaces the attribute on ``torch`` (or ``torch.Tensor``) itself, so every module of
    the reference that calls ``torch.<name>`` sees it; call sites are told apart by order."""

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.log: list[tuple[str, torch.Tensor]] = []

    def _draw(self, name: str, original: Callable, *args, **kwargs) -> torch.Tensor:
        kwargs.pop("device", None)  # CPU
        if name == "randn_like":
            (like,) = args
            value = ORIGINAL_RANDN(like.shape, generator=self.generator, dtype=like.dtype)
        elif name in ("randn", "randperm"):
            value = original(*args, generator=self.generator, **kwargs)
        elif name == "exponential_":  # a Tensor method: fills args[0] in place
            value = original(*args, generator=self.generator, **kwargs)
        else:
            raise ValueError(f"cannot pin torch.{name}")
        self.log.append((name, value.detach().clone()))
        return value

    @contextlib.contextmanager
    def patch(self, *names: str, target=torch) -> Iterator["DrawRecorder"]:
        originals = {n: getattr(target, n) for n in names}
        try:
            for n in names:
                setattr(target, n, lambda *a, _n=n, **k: self._draw(_n, originals[_n], *a, **k))
            yield self
        finally:
            for n, fn in originals.items():
                setattr(target, n, fn)

    def take(self) -> list[tuple[str, torch.Tensor]]:
        """The draws logged so far (and forget them)."""
        out, self.log = self.log, []
        return out


def plain_state_dict(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A state dict with tensors detached and cloned (other entries kept as they are). Entries that
    share storage (TD-MPC2's ``_detach_Qs_params`` and ``_Qs.params``) share their clone too, so
    torch.save stores them once, as it does for the reference's own state dict."""
    clones: dict[tuple, torch.Tensor] = {}
    out = {}
    for key, value in state_dict.items():
        if torch.is_tensor(value):
            ident = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride())
            if ident not in clones:
                clones[ident] = value.detach().clone()
            value = clones[ident]
        out[key] = value
    return out


def save_fixture(obj: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def _flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}{k}/")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}{i}/")
    else:
        yield prefix.rstrip("/"), obj


def compare_fixtures(new: str | Path, old: str | Path) -> list[str]:
    """Differences between two fixture files (empty: identical tensors and values)."""
    a = dict(_flatten(torch.load(new, weights_only=False)))
    b = dict(_flatten(torch.load(old, weights_only=False)))
    problems = [f"{k}: only in {'new' if k in a else 'committed'}" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if torch.is_tensor(x) and torch.is_tensor(y):
            if x.shape != y.shape or x.dtype != y.dtype:
                problems.append(f"{k}: {tuple(x.shape)} {x.dtype} vs {tuple(y.shape)} {y.dtype}")
            elif not torch.equal(x, y) and not (
                x.is_floating_point()
                and torch.equal(x.isnan(), y.isnan())
                and torch.equal(x.nan_to_num(), y.nan_to_num())
            ):
                diff = (x.double() - y.double()).abs().max().item() if x.is_floating_point() else "values"
                problems.append(f"{k}: differs (max abs {diff})")
        elif torch.is_tensor(x) != torch.is_tensor(y) or (not torch.is_tensor(x) and x != y):
            problems.append(f"{k}: {x!r} vs {y!r}")
    return problems


def check_or_write(fixtures: dict[str, dict[str, Any]], check: bool, out_dir: str | Path = FIXTURE_DIR) -> int:
    """Write ``{file name: fixture}`` to ``out_dir``, or with ``check`` write them to a temporary
    directory and compare with the committed files there; prints one line per file; exit status."""
    import tempfile

    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, fixture in fixtures.items():
            committed = Path(out_dir) / name
            if not check:
                path = save_fixture(fixture, committed)
                print(
                    f"wrote {path.relative_to(REPO_ROOT) if REPO_ROOT in path.parents else path} "
                    f"({path.stat().st_size / 1e3:.0f} kB)"
                )
                continue
            fresh = save_fixture(fixture, Path(tmp) / name)
            if not committed.exists():
                print(f"{name}: no committed fixture at {committed}")
                status = 1
                continue
            problems = compare_fixtures(fresh, committed)
            print(f"{name}: {'identical' if not problems else f'{len(problems)} differences'}")
            for line in problems[:20]:
                print(f"  {line}")
            status |= bool(problems)
    return status
