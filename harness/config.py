"""Typed run configuration and ``key=value`` command-line overrides, validated at once.

A run is a `RunConfig` (task, seed, budget, ...) plus the algorithm's own dataclass config, built
from (1) the dataclass defaults, (2) its YAML file in ``configs/``, (3) the registered variant's
preset and (4) ``algo.<field>=<value>`` overrides. OmegaConf does the typed merging; its multi-line
errors are turned into one line that names the bad key or value and lists what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness.glcheck  # noqa: F401  (before torchrl: one line if MUJOCO_GL cannot load)

# isort: split

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

import algorithms
from algorithms.registry import flatten
from configs.errors import UnknownNameError
from configs.suites import task_family
from harness.devices import resolve_device


class ConfigError(ValueError):
    """A bad configuration key or value; the message is one line."""


@dataclass
class FinetuneConfig:
    freeze: list[str] = dataclasses.field(default_factory=list)  # names from FREEZABLE
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
    # online: learn one task from scratch (steps = env steps); offline: multi-task pretraining on
    # every task of `suite` from `dataset` (steps = gradient updates); see harness/training/
    mode: str = "online"
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


#: training modes (harness/training/: OnlineTrainer, OfflineTrainer, FinetuneTrainer)
MODES = ("online", "offline", "finetune")
#: the parts of a world-model agent that ``finetune.freeze`` can name
FREEZABLE = ("encoder", "dynamics", "reward", "pi", "q", "task_embedding", "energy", "score")
#: the task directory component of a multi-task run (docs/results-format.md)
MULTITASK = "multitask"

RUN_KEYS = [f.name for f in dataclasses.fields(RunConfig)]


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
            parsed = OmegaConf.select(OmegaConf.from_dotlist([f"{key}={value.strip()}"]), key)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"bad argument {tok!r}: {str(exc).splitlines()[0]}") from None
        if isinstance(parsed, (DictConfig, ListConfig)):
            parsed = OmegaConf.to_container(parsed, resolve=True)
        out[key] = parsed
    return out


def cli_args(argv: list[str] | None, doc: str | None) -> list[str] | None:
    """The command line's ``key=value`` tokens (``sys.argv[1:]`` by default), or None after printing
    ``doc`` for ``-h`` / ``--help`` (every entry point's ``main`` then returns 0)."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(doc)
        return None
    return argv


def parse_value(text: str) -> Any:
    """One command-line value, as :func:`parse_overrides` reads it: ``3``, ``true``, ``[a,b]``."""
    return parse_overrides([f"value={text}"])["value"]


def _valid_keys(node: DictConfig, prefix: str) -> list[str]:
    keys = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        keys.extend(_valid_keys(v, full + ".") if isinstance(v, DictConfig) else [full])
    return keys


def merge_overrides(base: DictConfig, overrides: dict[str, Any], prefix: str) -> DictConfig:
    """Apply dotted ``overrides`` to the typed ``base``; a bad key or value is one ConfigError line
    (an unknown key lists the valid ones, each shown with ``prefix``)."""
    for key, value in overrides.items():
        try:
            OmegaConf.update(base, key, value, merge=True, force_add=False)
        except (ConfigKeyError, ConfigAttributeError):
            valid = ", ".join(sorted(_valid_keys(base, prefix)))
            raise ConfigError(f"unknown config key {prefix + key!r}; valid: {valid}") from None
        except ValidationError as exc:
            raise ConfigError(f"bad value {value!r} for {prefix + key}: {exc.msg.splitlines()[0]}") from None
        except OmegaConfBaseException as exc:
            raise ConfigError(f"bad override {prefix + key}={value!r}: {str(exc).splitlines()[0]}") from None
    return base


def algo_defaults(name: str) -> DictConfig:
    """The registered algorithm's config: dataclass defaults <- its YAML <- the variant preset."""
    return algorithms.get_algorithm(name).defaults()


def build_algo_config(name: str, overrides: list[str] | dict[str, Any]) -> Any:
    """The algorithm's typed config object with ``overrides`` (``field=value`` or a dict) applied."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    cfg = merge_overrides(algo_defaults(name), overrides, "algo.")
    obj = OmegaConf.to_object(cfg)
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ValueError as exc:
            raise ConfigError(f"algo: {exc}") from None
    return obj


VARIANT_LABEL_CHARS = 60  # readable part of a variant directory name


def preset_overrides(preset: str, algo: str) -> dict[str, Any]:
    """The fields of ``preset`` that ``algo``'s config has (a planner preset leaves SAC as it is)."""
    if not preset:
        return {}
    from configs.presets import preset_fields

    try:
        fields = preset_fields(preset)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    valid = set(flatten(OmegaConf.to_container(algo_defaults(algo))))
    return {k: v for k, v in fields.items() if k in valid}


def variant_name(name: str, algo_cfg: Any, preset: str = "") -> str:
    """``default`` (or the preset's name) when the config equals the registered one (with the
    preset's fields), else a readable digest of the diff (after ``<preset>+`` with a preset)."""
    base = flatten(OmegaConf.to_container(algo_defaults(name)))
    base.update(preset_overrides(preset, name))
    now = flatten(dataclasses.asdict(algo_cfg))
    diff = {k: v for k, v in now.items() if base.get(k) != v}
    if not diff:
        return preset or "default"
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
    return f"{preset}+{label}-{digest}" if preset else f"{label}-{digest}"


@dataclass
class ResolvedRun:
    run: RunConfig
    algo_cfg: Any

    @property
    def variant(self) -> str:
        return variant_name(self.run.algo, self.algo_cfg, self.run.preset)

    @property
    def path(self) -> Path:
        """The run directory. A fine-tuned run keeps its variant (so a report pairs it with the
        from-scratch run) but lives beside it: ``<variant>+finetune-<digest of its checkpoint>``."""
        from harness.rundir import run_dir

        r, variant = self.run, self.variant
        if r.mode == "finetune":
            key = f"{r.checkpoint}|{r.source_task}|{sorted(r.finetune.freeze)}"
            key += "".join(f"|{k}={v}" for k, v in finetune_switches(r.finetune).items())  # only non-defaults
            variant = f"{variant}+finetune-{hashlib.sha1(key.encode()).hexdigest()[:6]}"
        return run_dir(r.runs_dir, r.suite, r.task, r.algo, variant, r.seed)

    def to_dict(self) -> dict[str, Any]:
        return {"run": dataclasses.asdict(self.run), "variant": self.variant, "algo": dataclasses.asdict(self.algo_cfg)}


def resolve_run(overrides: dict[str, Any]) -> ResolvedRun:
    """Build and validate a run from parsed overrides (``task``, ``seed``, ``algo.model.size``...)."""
    run_over = {k: v for k, v in overrides.items() if not k.startswith("algo.")}
    algo_over = {k[len("algo.") :]: v for k, v in overrides.items() if k.startswith("algo.")}
    run = OmegaConf.structured(RunConfig)
    run = OmegaConf.to_object(merge_overrides(run, run_over, ""))
    _check_choice("mode", run.mode, list(MODES))
    if run.preset:  # under the command line's algo.<field>=... (which win)
        try:
            algorithms.get_algorithm(run.algo)
        except UnknownNameError as exc:
            raise ConfigError(str(exc)) from None
        algo_over = {**preset_overrides(run.preset, run.algo), **algo_over}
    if run.mode == "offline":
        _check_offline(run, "task" in run_over)
    elif run.dataset:
        raise ConfigError(f"dataset={run.dataset} is only read by mode=offline (this run: mode={run.mode})")
    if run.mode == "finetune":
        algo_over = _check_finetune(run, algo_over)
    elif run.checkpoint or run.source_task or run.finetune.freeze or finetune_switches(run.finetune):
        raise ConfigError("checkpoint=, source_task= and finetune.* are only read by mode=finetune")
    elif run.format != "auto":
        raise ConfigError(f"format={run.format} is only read by mode=finetune (how checkpoint= is read)")
    try:
        algorithms.get_algorithm(run.algo)
        from envs import get_task  # the harness builds environments by name

        for task in _tasks_of(run):
            registered = get_task(task).family
            declared = task_family(task)  # the family (and score normalisation) of configs/suites.yaml
            if declared != registered:
                break
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    if declared != registered:
        raise ConfigError(
            f"task {task!r} is registered in family {registered!r} (envs) but listed in family "
            f"{declared!r}'s suite in configs/suites.yaml"
        )
    try:
        resolve_device(run.device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _check_choice("logger", run.logger, ["csv", "tensorboard", "wandb", "none"])
    from envs import OBS_KINDS

    _check_choice("obs", run.obs, list(OBS_KINDS))
    problem = capability_problem(run.algo, run.obs, algo_over)
    if problem:
        raise ConfigError(problem)
    if run.mode == "offline" and "model.task_dim" not in algo_over:
        from configs.suites import get_suite

        size = algo_over.get("model.size", OmegaConf.select(algo_defaults(run.algo), "model.size", default=None))
        rule = get_suite(run.suite).task_dim_by_size
        if size in rule:  # the suite's published models use another embedding size (configs/suites.yaml)
            algo_over = {**algo_over, "model.task_dim": rule[size]}
        latent = get_suite(run.suite).latent_dim_by_size  # and another latent size (mt30 at 19: 512)
        if size in latent and "model.latent_dim" not in algo_over:
            algo_over = {**algo_over, "model.latent_dim": latent[size]}
    if run.mode != "online" and "world_model" not in algorithms.get_algorithm(run.algo).capabilities:
        able = [n for n in algorithms.algorithm_names() if "world_model" in algorithms.get_algorithm(n).capabilities]
        raise ConfigError(
            f"mode={run.mode} needs a world model; {run.algo} has none; algorithms that do: {', '.join(able)}"
        )
    if run.steps <= 0 or run.eval_every <= 0 or run.eval_episodes <= 0:
        raise ConfigError("steps, eval_every and eval_episodes must be positive")
    if run.seed < 0:
        raise ConfigError(f"bad value {run.seed!r} for seed; expected a whole number >= 0")
    if run.log_every <= 0 or run.threads < 0:
        raise ConfigError("log_every must be positive and threads 0 (torch's default) or more")
    if run.checkpoint_every < 0:
        raise ConfigError("checkpoint_every must be 0 (only on stop signals) or a positive number of steps")
    return ResolvedRun(run, build_algo_config(run.algo, algo_over))


def _tasks_of(run: RunConfig) -> list[str]:
    """The tasks a run trains and evaluates on: its task, or every task of its suite (offline)."""
    if run.mode == "offline":
        from configs.suites import get_suite

        return list(get_suite(run.suite).tasks)
    return [run.task]


def _check_offline(run: RunConfig, task_given: bool) -> None:
    """mode=offline: a suite to train on and a dataset directory holding chunk files. The run's
    task becomes ``multitask`` (its directory: ``<suite>/multitask/<algo>/<variant>/seed_<n>``)."""
    from pathlib import Path

    from configs.suites import get_suite

    if task_given and run.task != MULTITASK:
        raise ConfigError(f"task={run.task}: mode=offline trains on every task of suite=...; leave task out")
    if run.suite == "none":
        raise ConfigError("mode=offline needs suite=NAME (the tasks to pretrain on), e.g. suite=mt-smoke")
    try:
        get_suite(run.suite)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    if not run.dataset:
        raise ConfigError("mode=offline needs dataset=DIR (chunk_*.pt files, e.g. made by python -m harness.export)")
    path = Path(run.dataset).expanduser()
    if not path.is_dir() or not any(path.glob("chunk_*.pt")):
        raise ConfigError(f"dataset={run.dataset}: no chunk_*.pt files there (make one with python -m harness.export)")
    run.dataset = str(path.absolute())
    run.task = MULTITASK


def _check_finetune(run: RunConfig, algo_over: dict[str, Any]) -> dict[str, Any]:
    """mode=finetune: the checkpoint exists and fits the run (algorithm, model size, a source task
    it knows). Returns the algorithm overrides with the checkpoint's model shape (``model.size``,
    ``model.task_dim``) filled in where the command line leaves them out."""
    from harness.training.pretrained import PretrainedError, default_source_task, find_pretrained

    if not run.checkpoint:
        raise ConfigError("mode=finetune needs checkpoint=RUN_DIR (a pretrained run) or checkpoint=FILE.pt")
    try:
        pre = find_pretrained(run.checkpoint, run.format, (run.task,))
    except PretrainedError as exc:
        raise ConfigError(str(exc)) from None
    run.checkpoint = str(pre.path)
    if pre.reference is not None:
        over = _reference_algo_overrides(run, pre, algo_over)
    else:
        if pre.algo != run.algo:
            raise ConfigError(
                f"checkpoint={run.checkpoint} was trained by {pre.algo}, not {run.algo}; use algo={pre.algo}"
            )
        model = (pre.config.get("algo") or {}).get("model") or {}
        over = dict(algo_over)
        for key in ("size", "task_dim"):
            if model.get(key) is None:
                continue
            asked = over.setdefault(f"model.{key}", model[key])
            if asked != model[key]:
                raise ConfigError(
                    f"algo.model.{key}={asked}: checkpoint={run.checkpoint} has model.{key}={model[key]}; "
                    f"leave it out or use algo.model.{key}={model[key]}"
                )
    bad = [p for p in run.finetune.freeze if p not in FREEZABLE]
    if bad:
        raise ConfigError(f"unknown finetune.freeze part {bad[0]!r}; valid: {', '.join(FREEZABLE)}")
    for key in ("action_mask", "discount"):
        _check_choice(f"finetune.{key}", getattr(run.finetune, key), ["source", "target"])
    tasks = pre.tasks
    _check_finetune_dims(run, pre)
    if not pre.multitask:
        if run.source_task:
            raise ConfigError(f"source_task={run.source_task}: checkpoint={run.checkpoint} is a single-task model")
        return over  # its dims are checked against the target's when the model is built
    known = run.task in tasks
    if known and not run.finetune.new_task_row:
        if run.source_task:
            raise ConfigError(
                f"source_task={run.source_task}: with finetune.new_task_row=false task={run.task} keeps its own "
                "embedding row; leave source_task out"
            )
        return over
    # the new row's source: source_task=, else MBDPO's map (configs/finetune.yaml), else a task the
    # checkpoint knows is its own source (its trained row copied into the new row)
    source = run.source_task or default_source_task(run.task) or (run.task if known else None)
    if source is None:
        raise ConfigError(
            f"task={run.task} is not one of the checkpoint's tasks and configs/finetune.yaml names no source "
            f"task for it; give source_task=NAME, one of: {', '.join(tasks)}"
        )
    if source not in tasks:
        raise ConfigError(
            f"source_task={source} is not a task of checkpoint={run.checkpoint}; valid: {', '.join(tasks)}"
        )
    run.source_task = source
    return over


def finetune_switches(ft: FinetuneConfig) -> dict[str, Any]:
    """The fine-tune switches (all but ``freeze``) set away from their defaults (the reference's)."""
    default = FinetuneConfig()
    return {
        f.name: getattr(ft, f.name)
        for f in dataclasses.fields(ft)
        if f.name != "freeze" and getattr(ft, f.name) != getattr(default, f.name)
    }


def _fitting_algos(ref) -> list[str]:
    """The world-model algorithms that have F exactly when the file does, and a score network only
    where the file has one."""
    out = []
    for name in algorithms.algorithm_names():
        if "world_model" not in algorithms.get_algorithm(name).capabilities:
            continue
        d = algo_defaults(name)
        if bool(d.energy.enabled) == bool(ref.model.has_energy) and (ref.model.has_score or not d.score.enabled):
            out.append(name)
    return out


def _reference_algo_overrides(run: RunConfig, pre, algo_over: dict[str, Any]) -> dict[str, Any]:
    """A TD-MPC2 / MBDPO file fine-tunes under any world-model algorithm that has F (the energy
    anchor) exactly when the file has it (a TD-MPC2 file: tdmpc2, tdmpc2-pi, mppi, cem, diffusion,
    mbdpo-noanchor; an MBDPO file: mbdpo, mbdpo-aligned, mbdpo-score). The file's score network
    comes along (``score.enabled``, its horizon and embedding size) and its architecture fills
    ``model.*``, where the command line leaves them out."""
    ref, where = pre.reference, run.checkpoint
    if "world_model" not in algorithms.get_algorithm(run.algo).capabilities:
        return dict(algo_over)  # refused below: mode=finetune needs a world model
    defaults = algo_defaults(run.algo)
    for key, what, has in (
        ("energy.enabled", "F (the energy anchor)", ref.model.has_energy),
        ("score.enabled", "a score network", ref.model.has_score),
    ):
        uses = bool(algo_over.get(key, OmegaConf.select(defaults, key)))
        if key == "score.enabled" and key not in algo_over and (has or not uses):
            continue  # the file's score network (or none) is taken over below
        if bool(has) != uses:
            verb = f"has {what}, which algo={run.algo} lacks" if has else f"has no {what}, which algo={run.algo} needs"
            raise ConfigError(
                f"checkpoint={where} is a {ref.format} model that {verb}; use algo="
                + " or algo=".join(_fitting_algos(ref))
            )
    over = dict(algo_over)
    for key, value in ref.algo_overrides().items():
        if key not in over and value == OmegaConf.select(defaults, key):
            continue  # as the algorithm has it (an override that changes nothing is refused)
        asked = over.setdefault(key, value)
        if asked == value:
            continue
        if key == "model.size" and value is None:
            widths = ", ".join(f"{k}={getattr(ref.model, k)}" for k in ("enc_dim", "mlp_dim", "latent_dim"))
            raise ConfigError(
                f"algo.model.size={asked}: the widths of checkpoint={where} ({widths}, {ref.model.num_enc_layers} "
                f"encoder layers, {ref.model.num_q} Q heads) match no model size; leave algo.model.size out"
            )
        raise ConfigError(
            f"algo.{key}={asked}: checkpoint={where} has {key}={value}; leave it out or use algo.{key}={value}"
        )
    return over


def _check_finetune_dims(run: RunConfig, pre) -> None:
    """The target task's observations and actions fit the pretrained model (at most its padded
    sizes for a multi-task model, exactly its own for a single-task one)."""
    from harness.data import suite_layout, task_dims

    own = task_dims(run.task)
    if pre.reference is not None:  # the model's own dims, read from its tensors
        m = pre.reference.model
        obs, act = m.obs_dim, m.action_dim
        if pre.multitask:
            fits, takes = own.obs_dim <= obs and own.action_dim <= act, "at most"
        else:
            fits, takes = (own.obs_dim, own.action_dim) == (obs, act), "exactly"
    elif pre.multitask:
        layout = suite_layout(pre.config["run"]["suite"])
        fits, takes = own.obs_dim <= layout.max_obs_dim and own.action_dim <= layout.max_action_dim, "at most"
        obs, act = layout.max_obs_dim, layout.max_action_dim
    else:
        model = task_dims(pre.tasks[0])
        fits, takes = (own.obs_dim, own.action_dim) == (model.obs_dim, model.action_dim), "exactly"
        obs, act = model.obs_dim, model.action_dim
    if not fits:
        raise ConfigError(
            f"task={run.task} has {own.obs_dim} observations and {own.action_dim} actions; the model of "
            f"checkpoint={run.checkpoint} takes {takes} {obs} and {act}"
        )


def capability_problem(algo: str, obs: str, algo_over: dict[str, Any]) -> str | None:
    """One line saying why ``algo`` cannot use these settings (None: it can). See
    algorithms.registry: an override that would change nothing is refused rather than recorded."""
    from algorithms.registry import CAPABILITIES

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


def _check_choice(key: str, value: str, valid: list[str]) -> None:
    if value not in valid:
        raise ConfigError(f"bad value {value!r} for {key}; valid: {', '.join(valid)}")


def check_runs_dir(runs_dir: Path) -> None:
    """ConfigError (one line) unless ``runs_dir`` is, or can be created as, a writable directory."""
    path = Path(runs_dir)
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"bad value for runs_dir: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"bad value for runs_dir: {probe} is not writable")
