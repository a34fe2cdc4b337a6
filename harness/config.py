"""The run configuration's schema, the ``key=value`` grammar, layered merging and naming.

A run is a `RunConfig` (task, seed, budget, ...) plus the algorithm's own dataclass config, merged
from layers (:class:`Layer`): (1) the dataclass defaults (the reference's values), (2) its family's
YAML in ``configs/algos/``, (3) the registered variant's changes, (4) the preset
(``configs/presets/``), (5) what the training mode derives (e.g. a checkpoint's model size) and (6)
the command line. :func:`merge_layers` records which layer set each value (``--show-config``).
OmegaConf does the typed merging; its multi-line errors are turned into one line that names the bad
key or value (and the layer it came from) and lists what is allowed. The one resolution of a run,
mode checks included, is harness.resolve.resolve_run; this module knows no mode.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness.glcheck  # noqa: F401  (before torchrl: one line if MUJOCO_GL cannot load)

# isort: split

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

import algorithms
from algorithms.registry import CAPABILITIES, flatten
from configs.errors import UnknownNameError
from configs.presets import preset_fields
from configs.results import DEFAULT_MODE
from configs.suites import get_suite
from harness.cli import number_problem, output_dir_problem


class ConfigError(ValueError):
    """A bad configuration key or value; the message is one line."""


@dataclass
class FinetuneConfig:
    # the parts kept frozen: names from the algorithm's parts (AlgorithmEntry.parts)
    freeze: list[str] = dataclasses.field(default_factory=list)
    # MBDPO's scripts/offline_to_online.py unless a switch says otherwise (docs/fidelity.md,
    # "Fine-tuning"): the target always gets a new task-embedding row copied from source_task's
    new_task_row: bool = True  # false: a task the checkpoint knows keeps its own trained row
    action_mask: str = "source"  # the new row's action mask: source (the source task's) | target (its own dims)
    discount: str = "source"  # the new row's discount: source (the source task's) | target (from its episode length)
    reset_energy_statistics: bool = True  # F's normalisation mean / std restart at 0 / 1 (false: the checkpoint's)
    train_score: bool = False  # the score network in the fine-tune optimiser (the reference leaves it out)
    first_update_at_episode_end: bool = False  # false: the first update at the step after the first episode ends


@dataclass
class RunConfig:
    task: str = "cartpole-balance"
    algo: str = "tdmpc2"
    preset: str = ""  # a named set of algorithm fields (configs/presets/<name>.yaml); labels the variant
    seed: int = 1
    steps: int = 100_000  # environment (agent) steps
    eval_every: int = 10_000
    eval_episodes: int = 10
    eval_at_start: bool = True  # also evaluate the untrained agent at step 0
    suite: str = "none"  # recorded in the run directory; set by harness.sweep
    runs_dir: str = "runs"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    obs: str = "state"
    logger: str = "csv"  # csv | tensorboard | wandb | none
    log_every: int = 1000  # training metrics every N steps
    threads: int = 0  # torch intra-op threads; 0: torch's default
    checkpoint_every: int = (
        10_000  # save checkpoint.pt at the first episode end after every N steps; 0: only when stopped
    )
    # a registered training mode (harness/modes/: online, offline, finetune); the fields below are
    # each read by one mode only (Mode.reads), and refused by the others
    mode: str = DEFAULT_MODE
    dataset: str = ""  # mode=offline: a directory of TD-MPC2-layout chunk_*.pt files (harness.export)
    # mode=finetune: a pretrained run directory (its final.pt / checkpoint.pt) or state file, the
    # pretrained task whose embedding a new target task starts from (default: configs/finetune.yaml),
    # and the parts of the model kept frozen
    checkpoint: str = ""
    source_task: str = ""
    # how checkpoint= is read: auto (a run directory or a file beside its config.yaml is ours, any
    # other file a TD-MPC2 / MBDPO checkpoint, told apart by its keys), ours, tdmpc2 or mbdpo
    format: str = "auto"
    finetune: FinetuneConfig = dataclasses.field(default_factory=lambda: FinetuneConfig())


#: the largest step count (steps, eval_every, log_every, checkpoint_every): the largest whole
#: number a float64 holds exactly (eval.csv's steps are read back as floats by the report)
MAX_STEPS = 2**53
#: the largest seed: numpy's seeds are below 2**32 and a run seeds its eval envs with seed + 100000
#: + the task's index (harness/training)
MAX_SEED = 2**31 - 1
#: evaluation episodes run at once, one environment each
MAX_EVAL_EPISODES = 10_000
#: torch threads: more than any machine has cores
MAX_THREADS = 1024
#: the largest evaluation schedule (steps / eval_every evaluations): it is held as a list
MAX_EVALUATIONS = 10**6
#: the largest whole number an algorithm field may hold (torch's int64)
MAX_INT64 = 2**63 - 1
#: every numeric RunConfig field's allowed range, inclusive (harness.resolve checks them)
RUN_RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, MAX_SEED),
    "steps": (1, MAX_STEPS),
    "eval_every": (1, MAX_STEPS),
    "eval_episodes": (1, MAX_EVAL_EPISODES),
    "log_every": (1, MAX_STEPS),
    "threads": (0, MAX_THREADS),
    "checkpoint_every": (0, MAX_STEPS),
}


def check_range(key: str, value: Any, low: int | None, high: int | None) -> None:
    """ConfigError naming ``key`` unless ``value`` is a whole number in ``[low, high]``."""
    problem = number_problem(value, low, high)
    if problem:
        raise ConfigError(f"bad value {value!r} for {key}: {problem}")


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["a=1", "algo.x.y=[2,3]"]`` -> ``{"a": 1, "algo.x.y": [2, 3]}``: the command-line grammar of
    every entry point. Values are parsed by OmegaConf's dotlist grammar (YAML scalars, ``[lists]``,
    ``{dicts}``), one token at a time (``algo=mbdpo algo.model.size=1`` names both a value and a
    field under it); the keys stay dotted. A token without ``=`` is a one-line ConfigError."""
    out: dict[str, Any] = {}
    for tok in tokens:
        key, eq, value = tok.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"bad argument {tok!r}; expected key=value, e.g. task=cartpole-balance")
        try:
            tok.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes on the command line (surrogate escapes)
            name = key.encode("utf-8", "backslashreplace").decode()
            raise ConfigError(f"bad value for {name}: {tok!r} holds bytes that are not UTF-8 text") from None
        try:
            parsed = OmegaConf.select(OmegaConf.from_dotlist([f"{key}={value.strip()}"]), key)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"bad argument {tok!r}: {str(exc).splitlines()[0]}") from None
        except yaml.YAMLError:  # e.g. a YAML tag (!!python/...): never constructed, refused
            raise ConfigError(
                f"bad value {value.strip()!r} for {key}: not a valid value (a YAML tag or syntax OmegaConf cannot read)"
            ) from None
        if isinstance(parsed, (DictConfig, ListConfig)):
            parsed = OmegaConf.to_container(parsed, resolve=True)
        out[key] = parsed
    return out


def parse_value(text: str) -> Any:
    """One command-line value, as :func:`parse_overrides` reads it: ``3``, ``true``, ``[a,b]``."""
    return parse_overrides([f"value={text}"])["value"]


def _valid_keys(node: DictConfig, prefix: str) -> list[str]:
    keys = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        keys.extend(_valid_keys(v, full + ".") if isinstance(v, DictConfig) else [full])
    return keys


#: the origin of values typed on the command line
COMMAND_LINE = "command line"


@dataclass(frozen=True)
class Layer:
    """One source of configuration values: where they come from and the dotted fields it sets."""

    origin: str
    values: dict[str, Any]


def merge_overrides(base: DictConfig, overrides: dict[str, Any], prefix: str, origin: str = COMMAND_LINE) -> DictConfig:
    """Apply dotted ``overrides`` to the typed ``base``; a bad key or value is one ConfigError line
    (an unknown key lists the valid ones, each shown with ``prefix``; a value from a file names it)."""
    where = "" if origin == COMMAND_LINE else f" (from {origin})"
    for key, value in overrides.items():
        try:
            OmegaConf.update(base, key, value, merge=True, force_add=False)
        except (ConfigKeyError, ConfigAttributeError) as exc:
            name = _inner_key(key, exc)  # a dict value's own bad key: algo.planner={bogus: 1} -> planner.bogus
            parent = name.rpartition(".")[0]
            node = OmegaConf.select(base, parent, default=None) if parent else None
            under = isinstance(node, DictConfig) and _valid_keys(node, f"{prefix}{parent}.")
            valid = ", ".join(sorted(under or _valid_keys(base, prefix)))
            raise ConfigError(f"unknown config key {prefix + name!r}{where}; valid: {valid}") from None
        except ValidationError as exc:
            name = _inner_key(key, exc)
            shown = _inner_value(value, name[len(key) + 1 :]) if name != key else value
            raise ConfigError(f"bad value {shown!r} for {prefix + name}{where}: {exc.msg.splitlines()[0]}") from None
        except OmegaConfBaseException as exc:
            raise ConfigError(f"bad override {prefix + key}={value!r}{where}: {str(exc).splitlines()[0]}") from None
    return base


def _inner_key(key: str, exc: OmegaConfBaseException) -> str:
    """The dotted key OmegaConf blamed when it lies under ``key`` (a dict value's field), else ``key``."""
    full = str(getattr(exc, "full_key", "") or "")
    return full if full.startswith(key + ".") else key


def _inner_value(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return value
        value = value[part]
    return value


def merge_layers(base: DictConfig, base_origin: str, layers: list[Layer], prefix: str) -> dict[str, str]:
    """Merge ``layers`` into ``base`` in order (a later layer wins); returns every field's origin
    (dotted, with ``prefix``): the last layer that set it, else ``base_origin``."""
    origins = {prefix + key: base_origin for key in _valid_keys(base, "")}
    for layer in layers:
        merge_overrides(base, layer.values, prefix, layer.origin)
        for key, value in layer.values.items():
            for sub in flatten({key: value}) if isinstance(value, dict) else [key]:
                origins[prefix + sub] = layer.origin
    return origins


def algo_defaults(name: str) -> DictConfig:
    """The registered algorithm's config: dataclass defaults <- its family's YAML <- its changes."""
    return algorithms.get_algorithm(name).defaults()


def algo_layers(name: str) -> tuple[DictConfig, str, list[Layer]]:
    """The registered algorithm's dataclass defaults, their origin and its own layers over them."""
    entry = algorithms.get_algorithm(name)
    return OmegaConf.structured(entry.config_cls), entry.base_origin, [Layer(o, v) for o, v in entry.layers()]


def build_algo_config(name: str, overrides: list[str] | dict[str, Any], *, layers: list[Layer] = ()) -> Any:
    """The algorithm's typed config object: its registered layers, then ``layers`` (e.g. a preset),
    then ``overrides`` (``field=value`` or a dict; the command line). Validated here, once."""
    return resolve_algo_config(name, [*layers, Layer(COMMAND_LINE, _parsed(overrides))])[0]


def resolve_algo_config(name: str, layers: list[Layer]) -> tuple[Any, dict[str, str]]:
    """(the validated config object, each ``algo.<field>``'s origin) from the registered algorithm's
    layers and then ``layers``."""
    cfg, base_origin, own = algo_layers(name)
    origins = merge_layers(cfg, base_origin, [*own, *layers], "algo.")
    for key, value in flatten(OmegaConf.to_container(cfg)).items():  # what no algorithm can hold:
        for item in value if isinstance(value, list) else [value]:  # beyond int64, nan or inf
            if isinstance(item, int) and not isinstance(item, bool):
                check_range(f"algo.{key}", item, -MAX_INT64, MAX_INT64)
            elif isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"bad value {item!r} for algo.{key}: must be a finite number")
    obj = OmegaConf.to_object(cfg)
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ValueError as exc:
            raise ConfigError(f"algo: {exc}") from None
    return obj, origins


def _parsed(overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    return parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides)


VARIANT_LABEL_CHARS = 60  # readable part of a variant directory name


def preset_overrides(preset: str, algo: str) -> dict[str, Any]:
    """The fields of ``preset`` that ``algo``'s config has (a planner preset leaves SAC as it is)."""
    if not preset:
        return {}
    try:
        fields = preset_fields(preset)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    valid = set(flatten(OmegaConf.to_container(algo_defaults(algo))))
    return {k: v for k, v in fields.items() if k in valid}


def variant_name(name: str, algo_cfg: Any, preset: str = "", obs: str = "state") -> str:
    """``default`` (or the preset's name) when the config equals the registered one (with the
    preset's fields), else a readable digest of the diff (after ``<preset>+`` with a preset). A
    preset that changes none of ``name``'s fields (``random`` has none; SAC has no planner) does
    not label it: its runs are the registered algorithm's, ``default``.

    Observations other than ``state`` name the variant too, after the preset: ``rgb``,
    ``laptop+rgb``, ``laptop+rgb+planner.iterations=4-1a2b3c`` (so a pixel run never shares a
    directory or a report label with a state run); the fields derived for them
    (:func:`observation_defaults`) count as registered. State runs' names are as before."""
    base = flatten(OmegaConf.to_container(algo_defaults(name)))
    changes = {k: v for k, v in preset_overrides(preset, name).items() if base.get(k) != v}
    preset = preset if changes else ""
    base.update(changes)
    base.update(observation_defaults(algo_cfg, obs))
    tag = "+".join(p for p in (preset, "" if obs == "state" else obs) if p)
    now = flatten(dataclasses.asdict(algo_cfg))
    diff = {k: v for k, v in now.items() if base.get(k) != v}
    if not diff:
        return tag or "default"
    parts = [f"{k}={diff[k]}" for k in sorted(diff)]
    text = ",".join(parts)
    digest = hashlib.sha1(text.encode()).hexdigest()[:6]
    safe = ["".join(c if c.isalnum() or c in "._=-" else "_" for c in p) for p in parts]
    # Long diffs are cut at an override boundary (never inside a value, which would read as a
    # different setting) and say how many were left out; the digest keeps names unique.
    shown: list[str] = []
    for part in safe:
        if len(",".join(shown + [part])) > VARIANT_LABEL_CHARS and shown:
            break
        shown.append(part)
    label = ",".join(shown)[:VARIANT_LABEL_CHARS]
    if len(shown) < len(safe):
        label += f",and_{len(safe) - len(shown)}_more"
    return f"{tag}+{label}-{digest}" if tag else f"{label}-{digest}"


def observation_defaults(algo_cfg: Any, obs: str) -> dict[str, Any]:
    """The algorithm fields (dotted) that ``obs`` observations derive from the rest of ``algo_cfg``
    (its ``observation_defaults``; a world model on pixels: ``model.num_channels`` = latent / 16),
    or {} (state, or an algorithm that derives nothing)."""
    derive = getattr(algo_cfg, "observation_defaults", None)
    return dict(derive(obs)) if derive is not None else {}


def observation_layer(obs: str, algo_cfg: Any, origins: dict[str, str], given: list[Layer]) -> Layer | None:
    """The layer of the fields ``obs`` derives (:func:`observation_defaults`) that none of the
    ``given`` layers (preset, mode, command line) set; None when there are none."""
    set_by = {layer.origin for layer in given}
    now = flatten(dataclasses.asdict(algo_cfg))
    derived = observation_defaults(algo_cfg, obs)
    values = {k: v for k, v in derived.items() if origins.get(f"algo.{k}") not in set_by and now.get(k) != v}
    return Layer(f"derived for obs={obs} (the algorithm's observation_defaults)", values) if values else None


def suite_obs(suite: str) -> str | None:
    """The observations ``suite`` is learnt from (configs/suites.yaml ``obs``), None for ``none`` or
    a name that is no suite."""
    try:
        return get_suite(suite).obs
    except UnknownNameError:
        return None


def suite_obs_problem(suite: str, obs: str) -> str | None:
    """One line when ``obs`` is not the kind ``suite`` is learnt from (None: it is, or no suite)."""
    kind = suite_obs(suite)
    if kind is None or kind == obs:
        return None
    return (
        f"bad value {obs!r} for obs: suite {suite} is learnt from {kind} observations (configs/suites.yaml obs); "
        f"leave obs out or give obs={kind}"
    )


@dataclass
class ResolvedRun:
    """A run resolved once (harness.resolve.resolve_run): its run fields, its algorithm's typed
    config, the variant and directory they name, and for every value the layer that set it."""

    run: RunConfig
    algo_cfg: Any
    variant: str
    path: Path
    origins: dict[str, str] = dataclasses.field(default_factory=dict)  # "task", "algo.planner.horizon" -> layer

    def to_dict(self) -> dict[str, Any]:
        return {"run": dataclasses.asdict(self.run), "variant": self.variant, "algo": dataclasses.asdict(self.algo_cfg)}


def capability_problem(algo: str, obs: str, algo_over: dict[str, Any]) -> str | None:
    """One line saying why ``algo`` cannot use these settings (None: it can). See
    algorithms.registry: an override that would change nothing is refused rather than recorded."""
    entry = algorithms.get_algorithm(algo)

    def who_has(cap: str) -> str:
        names = [n for n in algorithms.algorithm_names() if cap in algorithms.get_algorithm(n).capabilities]
        return ", ".join(names) or "none"

    if obs != "state" and "pixels" not in entry.capabilities:
        return f"obs={obs}: {algo} cannot learn from pixels; algorithms that can: {who_has('pixels')}"
    for key, cap in entry.lacks(algo_over).items():
        switch = f"{key.split('.')[0]}.enabled"
        can_add = OmegaConf.select(algo_defaults(algo), switch, default=None) is not None
        return (
            f"algo.{key} changes nothing for {algo}: it needs {CAPABILITIES[cap]}; algorithms that have it: "
            f"{who_has(cap)}" + (f" (or add it: algo.{switch}=true)" if can_add else "")
        )
    return None


def observation_problem(obs: str, mode: str, mode_obs_kinds: tuple[str, ...], algo_cfg: Any) -> str | None:
    """One line saying why a run of this mode and algorithm config cannot learn from ``obs``
    observations (None: it can): the mode's kinds (pixels: online runs only, single-task as in the
    references), then the config's own rule (a pixel world model's latent is its conv output)."""
    if obs not in mode_obs_kinds:
        return f"obs={obs}: mode={mode} learns from {' or '.join(mode_obs_kinds)} observations only"
    check = getattr(algo_cfg, "observation_problem", None)
    problem = check(obs) if check is not None else None
    return f"obs={obs}: {problem}" if problem else None


def check_choice(key: str, value: str, valid: list[str]) -> None:
    if value not in valid:
        raise ConfigError(f"bad value {value!r} for {key}; valid: {', '.join(valid)}")


def check_runs_dir(runs_dir: Path, key: str = "runs_dir") -> None:
    """ConfigError (one line naming ``key``) unless ``runs_dir`` is, or can be created as, a
    writable directory (harness.cli.output_dir_problem; nothing is left created)."""
    problem = output_dir_problem(runs_dir)
    if problem:
        raise ConfigError(f"bad value {str(runs_dir)!r} for {key}: {problem}")
