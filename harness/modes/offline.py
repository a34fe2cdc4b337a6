"""``mode=offline``: multi-task pretraining on every task of ``suite`` from ``dataset`` (chunk files
made by ``python -m harness.export``); ``steps`` are gradient updates (harness/training/offline.py).
One run per algorithm and seed: its directory's task component is ``multitask``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

import algorithms
from algorithms.base import EnvSpec
from configs.errors import UnknownNameError
from configs.results import MULTITASK_DIR
from configs.suites import get_suite
from harness.config import ConfigError, RunConfig
from harness.data import DatasetError, check_dataset, suite_layout
from harness.modes.registry import Mode, register_mode
from harness.published_only import published_only_problem
from harness.training.offline import OfflineTrainer, multitask_spec

NEEDS_SUITE = "mode=offline needs suite=NAME (the tasks to pretrain on), e.g. suite=mt-smoke"
NO_TASK = "mode=offline trains on every task of suite=...; leave task out"


class Offline(Mode):
    name = "offline"
    description = "multi-task pretraining on every task of a suite from a dataset; steps are gradient updates"
    needs = "offline_learning"
    reads = ("dataset",)
    steps_are = "gradient updates"

    @property
    def trainer(self) -> type[OfflineTrainer]:
        return OfflineTrainer

    def check(self, run: RunConfig, given: set[str], requested: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if "task" in given and run.task != MULTITASK_DIR:
            raise ConfigError(f"task={run.task}: {NO_TASK}")
        if run.suite == "none":
            raise ConfigError(NEEDS_SUITE)
        try:
            suite = get_suite(run.suite)
        except UnknownNameError as exc:
            raise ConfigError(str(exc)) from None
        problem = published_only_problem(suite.tasks, f"suite={run.suite}")
        if problem:
            raise ConfigError(problem)
        if not run.dataset:
            raise ConfigError(
                "mode=offline needs dataset=DIR (chunk_*.pt files, e.g. made by python -m harness.export)"
            )
        path = Path(run.dataset).expanduser()
        if not path.is_dir() or not any(path.glob("chunk_*.pt")):
            raise ConfigError(
                f"dataset={run.dataset}: no chunk_*.pt files there (make one with python -m harness.export)"
            )
        try:  # its manifest and chunk files, before the run directory is made (the rows: when building its storage)
            check_dataset(path, suite.name, suite.version)
        except DatasetError as exc:
            raise ConfigError(f"dataset={run.dataset}: {exc}") from None
        run.dataset = str(path.absolute())
        run.task = MULTITASK_DIR
        # the suite's published models use another embedding (and, mt30 at 19, latent) size
        fields: dict[str, Any] = {}
        if "model.task_dim" in requested:
            return fields, ""
        default_size = OmegaConf.select(algorithms.get_algorithm(run.algo).defaults(), "model.size", default=None)
        size = requested.get("model.size", default_size)
        if size in suite.task_dim_by_size:
            fields["model.task_dim"] = suite.task_dim_by_size[size]
        if size in suite.latent_dim_by_size and "model.latent_dim" not in requested:
            fields["model.latent_dim"] = suite.latent_dim_by_size[size]
        return fields, f"suite {run.suite}'s models at size {size} (configs/suites.yaml)"

    def tasks(self, run: RunConfig) -> list[str]:
        return list(get_suite(run.suite).tasks)

    def sweep_tasks(self, tasks: list[str] | None, suite: str | None) -> list[str | None]:
        if tasks is not None:
            raise ConfigError(f"task=...: {NO_TASK}")
        if suite is None:
            raise ConfigError(NEEDS_SUITE)
        return [None]

    def model_spec(self, run: dict[str, Any]) -> EnvSpec:
        return multitask_spec(suite_layout(run["suite"]))


OFFLINE = register_mode(Offline())
