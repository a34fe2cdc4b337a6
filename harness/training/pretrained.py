"""A pretrained checkpoint as fine-tuning and evaluation see it: where it is, what trained it, the
tasks its model knows, and its weights. Reading one never modifies it.

Two kinds: our own (a run directory, or a state file beside its run's ``config.yaml``) and a file
written by the reference codes' own ``save`` (TD-MPC2 or MBDPO; :mod:`.reference_checkpoint`),
whose run config is synthesised from what its tensors say. Both give the same ``state()["agent"]``
(``model``, ``energy``, ``score_net``), so fine-tuning and evaluation need no special case."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from configs import load_yaml
from configs.results import DEFAULT_MODE, RUN_MODES
from harness.training.reference_checkpoint import (
    REFERENCE_FORMATS,
    ReferenceCheckpoint,
    ReferenceCheckpointError,
    read_reference,
)

#: the files of a run directory that hold a whole agent, most final first
STATE_FILES = ("final.pt", "checkpoint.pt")
#: how ``checkpoint=`` is read (``format=``): auto (a run directory or a file beside a config.yaml is
#: ours, any other file a reference checkpoint), ours, or a reference format
FORMATS = ("auto", "ours", *REFERENCE_FORMATS)


class PretrainedError(ValueError):
    """A checkpoint that cannot serve as asked; the message is one line."""


@dataclass(frozen=True)
class Pretrained:
    path: Path  # the state file
    config: dict[str, Any]  # the run's resolved config (config.yaml / the checkpoint's "run"; synthesised
    #   for a reference file: run {algo, mode, suite, task, seed} and the algorithm fields it fixes)
    commit: str
    reference: ReferenceCheckpoint | None = None  # a TD-MPC2 / MBDPO file; None: one of our runs

    @property
    def origin(self) -> str:
        """Where the weights came from, in words: ``tdmpc2 file NAME sha256[:12]`` or our file's path."""
        if self.reference is None:
            return str(self.path)
        return f"{self.reference.format} file {self.path.name} {self.reference.sha256[:12]}"

    @property
    def algo(self) -> str:
        return self.config["run"]["algo"]

    @property
    def model_size(self) -> int | None:
        return (self.config.get("algo") or {}).get("model", {}).get("size")

    @property
    def multitask(self) -> bool:
        mode = RUN_MODES.get(str(self.config["run"].get("mode") or DEFAULT_MODE))
        return mode is not None and mode.multitask

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the model was trained on, in task-id order."""
        if self.multitask:
            from configs.suites import get_suite

            return get_suite(self.config["run"]["suite"]).tasks
        task = self.config["run"]["task"]
        return (task,) if task else ()  # a single-task reference file names no task

    def state(self) -> dict[str, Any]:
        """Our checkpoint's contents; for a reference file: its converted weights as ``agent``, the
        synthesised config as ``run``, step 0 (the file records none) and the model's ``spec``."""
        if self.reference is not None:
            spec = self.spec()
            try:
                weights = self.reference.weights(tuple(spec["action_dims"]) if self.multitask else None)
            except ReferenceCheckpointError as exc:
                raise PretrainedError(f"checkpoint {self.path}: {exc}") from None
            return {"agent": weights, "run": self.config, "step": 0, "spec": spec}
        from harness import checkpoint_file as ckpt_mod

        try:
            return ckpt_mod.load(self.path)
        except Exception as exc:  # truncated, not ours, unreadable
            raise PretrainedError(
                f"checkpoint {self.path} is unreadable ({type(exc).__name__}: {str(exc)[:120]})"
            ) from None

    def spec(self) -> dict[str, Any]:
        """A reference model's EnvSpec fields: its dims from its tensors, episode lengths from the
        task registry (no environment is built)."""
        from envs import get_task

        m = self.reference.model
        tasks = self.tasks
        if not tasks:
            raise PretrainedError(f"checkpoint {self.path} is a single-task model that names no task; give task=NAME")
        lengths = tuple(get_task(t).episode_length for t in tasks)
        spec = {"obs_dim": int(m.obs_dim), "action_dim": int(m.action_dim), "episode_length": max(lengths)}
        if self.multitask:
            if m.action_dims is not None:
                action_dims = tuple(int(a) for a in m.action_dims)
            else:  # an old flat-layout file does not store them: from the tasks' environments
                from harness.data import suite_layout

                action_dims = tuple(d.action_dim for d in suite_layout(self.config["run"]["suite"]).dims)
            spec.update(tasks=tasks, action_dims=action_dims, episode_lengths=lengths)
        return spec

    def provenance(self) -> dict[str, Any]:
        if self.reference is not None:
            return {**self.reference.provenance(), "run": dict(self.config["run"])}
        return {"path": str(self.path), "commit": self.commit, "run": self.config.get("run", {})}


def find_pretrained(where: str, format: str = "auto", tasks: tuple[str, ...] = ()) -> Pretrained:
    """``where``: a run directory (its final.pt or checkpoint.pt), a state file beside its run's
    config.yaml, or a reference checkpoint file (``format``: see :data:`FORMATS`). Reads config.yaml
    only, or a reference file's tensor shapes (the weights are read by :meth:`Pretrained.state`).
    ``tasks``: the task(s) a single-task reference file is taken to be trained on (it names none);
    their observation and action dims must be the model's. Ignored for every other checkpoint."""
    if format not in FORMATS:
        raise PretrainedError(f"bad value {format!r} for format; valid: {', '.join(FORMATS)}")
    path = Path(where).expanduser()
    if path.is_dir() and format in REFERENCE_FORMATS:
        raise PretrainedError(f"checkpoint={where}: format={format} reads a checkpoint file, not a directory")
    if path.is_file() and (format in REFERENCE_FORMATS or (format == "auto" and not _beside_config(path))):
        return _reference_pretrained(where, path, format, tasks)
    if path.is_dir():
        files = [path / name for name in STATE_FILES if (path / name).is_file()]
        if not files:
            raise PretrainedError(f"checkpoint={where}: no {' or '.join(STATE_FILES)} in that run directory")
        path = files[0]
    elif not path.is_file():
        # a run directory's name holds commas (batch_size=8,model.enc_dim=32): unquoted in a list
        # (checkpoint=[A,B]) it is cut there, and a piece such as "model.enc_dim=32" arrives here
        hint = "; in a list, quote paths that hold commas: checkpoint=['A','B']" if "=" in str(where) else ""
        raise PretrainedError(f"checkpoint={where}: no such file or run directory{hint}")
    config_path = path.parent / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text())
        config["run"]["algo"]
    except Exception:
        raise PretrainedError(f"checkpoint={where}: no readable config.yaml beside it ({config_path})") from None
    git = config.get("git") or {}
    return Pretrained(path.absolute(), config, str(git.get("commit", config.get("commit", "unknown"))))


def _beside_config(path: Path) -> bool:
    return (path.parent / "config.yaml").is_file()


def _reference_pretrained(where: str, path: Path, format: str, tasks: tuple[str, ...]) -> Pretrained:
    try:
        ref = read_reference(path, format)
    except ReferenceCheckpointError as exc:
        raise PretrainedError(f"checkpoint={where}: {exc}") from None
    task = ""
    if not ref.multitask and tasks:
        from harness.data import task_dims

        if len(tasks) > 1:
            raise PretrainedError(
                f"checkpoint={where} is a single-task {ref.format} model: give one task=NAME at a time, "
                f"not {len(tasks)}"
            )
        task = tasks[0]
        dims = task_dims(task)
        if (dims.obs_dim, dims.action_dim) != (ref.model.obs_dim, ref.model.action_dim):
            raise PretrainedError(
                f"task={task} has {dims.obs_dim} observations and {dims.action_dim} actions; the single-task "
                f"{ref.format} model of checkpoint={where} takes {ref.model.obs_dim} and {ref.model.action_dim}"
            )
    run = {
        "algo": ref.algo,
        # as the reference trained them: a multi-task model over its task set, else one task
        "mode": next(n for n, m in RUN_MODES.items() if m.multitask) if ref.multitask else DEFAULT_MODE,
        "suite": ref.suite if ref.multitask else "none",
        "task": "multitask" if ref.multitask else task,
        "seed": 1,
    }
    config = {"run": run, "algo": _nested(ref.algo_overrides()), "reference": ref.provenance()}
    return Pretrained(path.absolute(), config, "unknown", ref)


def _nested(dotted: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def default_source_task(target: str) -> str | None:
    """MBDPO's map of target tasks to the pretrained task whose embedding they start from."""
    return (load_yaml("finetune.yaml").get("source_tasks") or {}).get(target)
