"""``mode=finetune``: offline-to-online fine-tuning of a pretrained model (``checkpoint=``: one of
our runs, or a TD-MPC2 / MBDPO checkpoint file) on ``task``, as MBDPO's
``scripts/offline_to_online.py`` (harness/training/finetune.py; each rule a ``finetune.*`` switch).
Its run directory sits beside the from-scratch run's: ``<variant>+finetune-<digest>``."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from omegaconf import OmegaConf

import algorithms
from harness.config import ConfigError, FinetuneConfig, RunConfig, check_choice
from harness.data import suite_layout, task_dims
from harness.modes.registry import Mode, register_mode
from harness.rundir import file_problem
from harness.training.finetune import FinetuneTrainer
from harness.training.pretrained import Pretrained, PretrainedError, default_source_task, find_pretrained

#: the model fields a fine-tune takes from one of our checkpoints (its weights' shapes depend on them;
#: explicit widths too, e.g. a run made with algo.model.enc_dim=64)
MODEL_SHAPE = ("size", "task_dim", "enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q", "num_bins")


def finetune_switches(ft: FinetuneConfig) -> dict[str, Any]:
    """The fine-tune switches (all but ``freeze``) set away from their defaults (the reference's)."""
    default = FinetuneConfig()
    return {
        f.name: getattr(ft, f.name)
        for f in dataclasses.fields(ft)
        if f.name != "freeze" and getattr(ft, f.name) != getattr(default, f.name)
    }


class Finetune(Mode):
    name = "finetune"
    description = "offline-to-online fine-tuning of a pretrained model on one task (MBDPO's offline_to_online.py)"
    needs = "pretrained_weights"
    reads = ("checkpoint", "source_task", "format", "finetune")

    @property
    def trainer(self) -> type[FinetuneTrainer]:
        return FinetuneTrainer

    def variant_dir(self, run: RunConfig, variant: str) -> str:
        """The from-scratch run's variant (a report pairs them) and a digest of what was fine-tuned."""
        key = f"{run.checkpoint}|{run.source_task}|{sorted(run.finetune.freeze)}"
        key += "".join(f"|{k}={v}" for k, v in finetune_switches(run.finetune).items())  # only non-defaults
        return f"{variant}+finetune-{hashlib.sha1(key.encode()).hexdigest()[:6]}"

    def check(self, run: RunConfig, given: set[str], requested: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The checkpoint exists and fits the run (algorithm, model shape, a source task it knows).
        Returns the checkpoint's model shape where the preset and the command line leave it out."""
        if not run.checkpoint:
            raise ConfigError("mode=finetune needs checkpoint=RUN_DIR (a pretrained run) or checkpoint=FILE.pt")
        try:
            pre = find_pretrained(run.checkpoint, run.format, (run.task,))
        except PretrainedError as exc:
            raise ConfigError(str(exc)) from None
        problem = file_problem(pre.path) if pre.reference is None else None  # a reference file was read already
        if problem:  # cheap (no unpickling): random bytes or a cut-off file beside a config.yaml
            raise ConfigError(f"checkpoint={run.checkpoint}: {problem}")
        run.checkpoint = str(pre.path)
        fields = (
            _reference_fields(run, pre, requested) if pre.reference is not None else _our_fields(run, pre, requested)
        )
        parts = algorithms.get_algorithm(run.algo).parts
        bad = [p for p in run.finetune.freeze if p not in parts]
        if bad:
            raise ConfigError(f"unknown finetune.freeze part {bad[0]!r}; valid: {', '.join(parts)}")
        twice = [p for p in parts if run.finetune.freeze.count(p) > 1]
        if twice:  # the run directory's name would differ from the same list given once
            raise ConfigError(f"finetune.freeze={run.finetune.freeze}: {twice[0]} listed twice; give each part once")
        for key in ("action_mask", "discount"):
            check_choice(f"finetune.{key}", getattr(run.finetune, key), ["source", "target"])
        _check_dims(run, pre)
        why = f"the model of checkpoint={run.checkpoint}"
        if not pre.multitask:
            if run.source_task:
                raise ConfigError(f"source_task={run.source_task}: checkpoint={run.checkpoint} is a single-task model")
            return fields, why  # its dims were checked above (exactly the target's)
        tasks = pre.tasks
        known = run.task in tasks
        if known and not run.finetune.new_task_row:
            if run.source_task:
                raise ConfigError(
                    f"source_task={run.source_task}: with finetune.new_task_row=false task={run.task} keeps its own "
                    "embedding row; leave source_task out"
                )
            return fields, why
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
        return fields, why

    def known_tasks(self, pre: Pretrained) -> tuple[str, ...]:
        """A fine-tuned multi-task model knows the tasks of its pretraining and its target."""
        run = pre.config["run"]
        try:
            source = find_pretrained(run["checkpoint"], run.get("format") or "auto") if run.get("checkpoint") else None
        except PretrainedError:
            source = None
        if source is not None and source.multitask:
            return tuple(dict.fromkeys((*source.tasks, run["task"])))
        return (run["task"],)


def _our_fields(run: RunConfig, pre: Pretrained, requested: dict[str, Any]) -> dict[str, Any]:
    """One of our runs: the same algorithm, and its model's shape (:data:`MODEL_SHAPE`)."""
    if pre.algo != run.algo:
        raise ConfigError(f"checkpoint={run.checkpoint} was trained by {pre.algo}, not {run.algo}; use algo={pre.algo}")
    model = (pre.config.get("algo") or {}).get("model") or {}
    fields = {}
    for key in MODEL_SHAPE:
        if model.get(key) is None:
            continue
        asked = requested.get(f"model.{key}", model[key])
        if asked != model[key]:
            raise ConfigError(
                f"algo.model.{key}={asked}: checkpoint={run.checkpoint} has model.{key}={model[key]}; "
                f"leave it out or use algo.model.{key}={model[key]}"
            )
        if f"model.{key}" not in requested:
            fields[f"model.{key}"] = model[key]
    return fields


def _fitting_algos(ref) -> list[str]:
    """The algorithms that take pretrained weights and have F exactly when the file does, and a
    score network only where the file has one."""
    out = []
    for name in algorithms.algorithm_names():
        entry = algorithms.get_algorithm(name)
        if Finetune.needs not in entry.capabilities:
            continue
        d = entry.defaults()
        if bool(d.energy.enabled) == bool(ref.model.has_energy) and (ref.model.has_score or not d.score.enabled):
            out.append(name)
    return out


def _reference_fields(run: RunConfig, pre: Pretrained, requested: dict[str, Any]) -> dict[str, Any]:
    """A TD-MPC2 / MBDPO file fine-tunes under any world-model algorithm that has F (the energy
    anchor) exactly when the file has it (a TD-MPC2 file: tdmpc2, tdmpc2-pi, mppi, cem, diffusion,
    mbdpo-noanchor; an MBDPO file: mbdpo, mbdpo-aligned, mbdpo-score). The file's score network
    comes along (``score.enabled``, its horizon and embedding size) and its architecture fills
    ``model.*``, where the command line leaves them out."""
    ref, where = pre.reference, run.checkpoint
    defaults = algorithms.get_algorithm(run.algo).defaults()
    for key, what, has in (
        ("energy.enabled", "F (the energy anchor)", ref.model.has_energy),
        ("score.enabled", "a score network", ref.model.has_score),
    ):
        uses = bool(requested.get(key, OmegaConf.select(defaults, key)))
        if key == "score.enabled" and key not in requested and (has or not uses):
            continue  # the file's score network (or none) is taken over below
        if bool(has) != uses:
            verb = f"has {what}, which algo={run.algo} lacks" if has else f"has no {what}, which algo={run.algo} needs"
            raise ConfigError(
                f"checkpoint={where} is a {ref.format} model that {verb}; use algo="
                + " or algo=".join(_fitting_algos(ref))
            )
    fields = {}
    for key, value in ref.algo_overrides().items():
        if key not in requested and value == OmegaConf.select(defaults, key):
            continue  # as the algorithm has it (an override that changes nothing is refused)
        asked = requested.get(key, value)
        if key not in requested:
            fields[key] = value
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
    return fields


def _check_dims(run: RunConfig, pre: Pretrained) -> None:
    """The target task's observations and actions fit the pretrained model (at most its padded
    sizes for a multi-task model, exactly its own for a single-task one)."""
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


FINETUNE = register_mode(Finetune())
