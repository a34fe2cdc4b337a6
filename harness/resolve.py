"""The one resolution of a run: ``key=value`` overrides -> a validated :class:`ResolvedRun`.

Layers, in order, each recorded as the origin of the values it sets (``--show-config`` prints them):
the run's dataclass defaults, then the command line; for the algorithm its dataclass defaults (the
reference's values), its family's YAML, the registered variant's changes, the preset, what the
training mode derives (harness/modes/: a checkpoint's model shape, a suite's embedding size) and the
command line. Everything is checked once, here: names, keys and values, the mode's own rules, the
algorithm's capabilities, and the algorithm config (its ``validate``). Nothing here knows a mode
by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

import algorithms
from configs import flatten
from configs.errors import UnknownNameError
from configs.suites import task_family
from envs import OBS_KINDS, get_family, get_task
from harness.config import (
    COMMAND_LINE,
    MAX_EVALUATIONS,
    RUN_RANGES,
    ConfigError,
    Layer,
    ResolvedRun,
    RunConfig,
    algo_defaults,
    capability_problem,
    check_choice,
    check_range,
    merge_layers,
    observation_layer,
    observation_problem,
    preset_overrides,
    resolve_algo_config,
    suite_obs,
    suite_obs_problem,
    variant_name,
)
from harness.devices import resolve_device
from harness.modes import all_modes, get_mode
from harness.published_only import published_only_problem
from harness.rundir import run_dir

LOGGERS = ["csv", "tensorboard", "wandb", "none"]
#: harness.run / harness.sweep: print the resolved config with each value's origin, write nothing
SHOW_CONFIG = "--show-config"
RUN_DEFAULT = "default (harness/config.py RunConfig)"


def resolve_run(overrides: dict[str, Any]) -> ResolvedRun:
    """Build and validate a run from parsed overrides (``task``, ``seed``, ``algo.model.size``...)."""
    run_over = {k: v for k, v in overrides.items() if not k.startswith("algo.")}
    cli_algo = {k[len("algo.") :]: v for k, v in overrides.items() if k.startswith("algo.")}
    node = OmegaConf.structured(RunConfig)
    _refuse_lists(node, run_over, "")
    origins = merge_layers(node, RUN_DEFAULT, [Layer(COMMAND_LINE, run_over)], "")
    run: RunConfig = OmegaConf.to_object(node)
    problem = suite_obs_problem(run.suite, run.obs) if "obs" in run_over else None
    if problem:  # a visual suite's runs learn from pixels (configs/suites.yaml obs)
        raise ConfigError(problem)
    if "obs" not in run_over:
        run.obs = suite_obs(run.suite) or run.obs
        if run.obs != RunConfig.obs:
            origins["obs"] = f"suite {run.suite} (configs/suites.yaml obs)"
    mode = get_mode(run.mode)
    try:
        algorithms.get_algorithm(run.algo)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    _refuse_lists(algo_defaults(run.algo), cli_algo, "algo.")
    _refuse_other_modes_fields(run, mode.name)
    problem = published_only_problem([run.task], f"task={run.task}")  # before a mode reads a checkpoint or dataset
    if problem:
        raise ConfigError(problem)
    preset = preset_overrides(run.preset, run.algo)
    problem = mode.refuses(run.algo)
    if problem:
        raise ConfigError(problem)
    before = dataclasses.asdict(run)
    derived, why = mode.check(run, set(run_over), {**preset, **cli_algo})
    before = flatten(before)
    for key, value in flatten(dataclasses.asdict(run)).items():  # what the mode's check completed
        if before.get(key) != value:
            origins[key] = f"{origins.get(key, RUN_DEFAULT)}, then mode={mode.name}"
    _check_run(run, mode.tasks(run))
    problem = capability_problem(run.algo, run.obs, {**preset, **derived, **cli_algo})
    if problem:
        raise ConfigError(problem)
    layers = [
        Layer(f"preset {run.preset} (configs/presets/{run.preset}.yaml)", preset),
        Layer(f"mode={mode.name}: {why}", derived),
        Layer(COMMAND_LINE, cli_algo),
    ]
    layers = [layer for layer in layers if layer.values]
    algo_cfg, algo_origins = resolve_algo_config(run.algo, layers)
    derived_for_obs = observation_layer(run.obs, algo_cfg, algo_origins, layers)  # pixels: num_channels
    if derived_for_obs is not None:
        algo_cfg, algo_origins = resolve_algo_config(run.algo, [*layers, derived_for_obs])
    problem = observation_problem(run.obs, mode.name, mode.obs_kinds, algo_cfg)
    if problem:
        raise ConfigError(problem)
    variant = variant_name(run.algo, algo_cfg, run.preset, run.obs)
    path = run_dir(run.runs_dir, run.suite, run.task, run.algo, mode.variant_dir(run, variant), run.seed)
    return ResolvedRun(run, algo_cfg, variant, path, {**origins, **algo_origins})


#: what harness.run does with a field given a list of values (else "takes one value of KEY")
ONE_OF = {"algo": "runs one algorithm", "task": "runs one task", "seed": "runs one seed"}


def _refuse_lists(node: Any, overrides: dict[str, Any], prefix: str) -> None:
    """A list of values for a field that holds one (``algo=[tdmpc2,mbdpo]``) asks for several runs:
    one line pointing to harness.sweep, which runs each (a list field, e.g. a freeze list, is kept)."""
    for key, value in overrides.items():
        held = OmegaConf.select(node, key, default=None)
        if not isinstance(value, list) or held is None or isinstance(held, (ListConfig, DictConfig)):
            continue  # not a list, an unknown key, a field that may hold null, or a list field: merged as usual
        name = prefix + key
        text = f"{name}=[{','.join(_as_typed(v) for v in value)}]"
        what = ONE_OF.get(name, f"takes one value of {name}")
        raise ConfigError(f"{text}: harness.run {what}; for several use python -m harness.sweep {text} ...")


def _as_typed(value: Any) -> str:
    """One value as typed on the command line: ``true``, ``null``, ``3``, ``mbdpo``."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, list):
        return "[" + ",".join(_as_typed(v) for v in value) + "]"
    return str(value)


def _refuse_other_modes_fields(run: RunConfig, mode: str) -> None:
    """A field only another mode reads, set away from its default, is a mistake: one line."""
    default = flatten(dataclasses.asdict(RunConfig()))
    now = flatten(dataclasses.asdict(run))
    for other in all_modes():
        if other.name == mode:
            continue
        for field in other.reads:
            for key in [k for k in now if k == field or k.startswith(field + ".")]:
                if now[key] != default[key]:
                    raise ConfigError(f"{key}={now[key]} is only read by mode={other.name} (this run: mode={mode})")


def _check_run(run: RunConfig, tasks: list[str]) -> None:
    """The fields every mode shares: task names and families, device, logger, observations, budgets."""
    problem = published_only_problem(tasks, f"task={run.task}" if tasks == [run.task] else f"suite={run.suite}")
    if problem:  # before the env registry, which does not know them
        raise ConfigError(problem)
    for task in tasks:
        try:
            registered = get_task(task).family
            declared = task_family(task)  # the family (and score normalisation) of configs/suites.yaml
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
    check_choice("logger", run.logger, LOGGERS)
    check_choice("obs", run.obs, list(OBS_KINDS))
    for task in tasks:  # what the task's family offers (pixels: DMControl only), and whether it is installed
        family = get_family(get_task(task).family)
        if run.obs not in family.obs_kinds:
            kinds = " or ".join(family.obs_kinds)
            raise ConfigError(f"bad value {run.obs!r} for obs: task {task!r} ({family.name}) has {kinds} observations")
        problem = family.install_problem() if family.install_problem else None
        if problem:
            raise ConfigError(f"task {task!r}: {problem}")
    for key, (low, high) in RUN_RANGES.items():  # threads 0: torch's default; checkpoint_every 0: only when stopped
        check_range(key, getattr(run, key), low, high)
    if run.steps // run.eval_every > MAX_EVALUATIONS:
        raise ConfigError(
            f"bad value {run.eval_every} for eval_every: steps={run.steps} would be evaluated "
            f"{run.steps // run.eval_every} times; at most {MAX_EVALUATIONS}"
        )


def show_config(resolved: ResolvedRun, key: str = "") -> str:
    """The resolved run as ``key = value  # origin`` lines: every run field, then every algorithm
    field (``algo.``), each with the layer that set it; what to read before launching 500 runs.
    ``key``: only that field, or the fields under it (``algo.planner``)."""
    run = flatten(dataclasses.asdict(resolved.run))
    algo = {f"algo.{k}": v for k, v in flatten(dataclasses.asdict(resolved.algo_cfg)).items()}
    values = {k: v for k, v in {**run, **algo}.items() if not key or k == key or k.startswith(key + ".")}
    if not values:
        raise ConfigError(f"--show-config={key}: no such field; e.g. --show-config=algo.planner or --show-config=seed")
    rows = [(k, OmegaConf.to_yaml({"v": v}).strip()[3:], resolved.origins.get(k, "?")) for k, v in values.items()]
    width = max(len(k) + len(v) + 3 for k, v, _ in rows)
    lines = [
        f"# {resolved.run.algo} [{resolved.variant}] in {resolved.run.mode} mode -> {resolved.path}",
        "# key = value  # the layer that set it (later layers win: defaults, configs/algos/*.yaml, the "
        "algorithm's changes, preset, mode, command line)",
    ]
    lines += [f"{f'{k} = {v}':<{width}}  # {o}" for k, v, o in rows]
    return "\n".join(lines)
