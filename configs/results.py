"""The results contract between the harness (which writes run directories) and the analysis
(which reads them): the columns of ``eval.csv``, in order (docs/results-format.md). Pure Python,
so that both may import it (the analysis imports no torch and no harness)."""

from __future__ import annotations

from dataclasses import dataclass

#: Columns of every run's ``eval.csv`` (one row per evaluation episode), in this order.
EVAL_COLUMNS: tuple[str, ...] = (
    "suite",
    "task",
    "algo",
    "variant",
    "seed",
    "step",
    "episode",
    "return",
    "length",
    "score",
    "success",
)
#: The columns that identify one run (one directory ``<suite>/<task>/<algo>/<variant>/seed_<seed>``).
RUN_KEYS: tuple[str, ...] = ("suite", "task", "algo", "variant", "seed")


@dataclass(frozen=True)
class RunMode:
    """How a training mode's runs read in the results (``run.mode`` of a run's ``config.yaml``).

    The harness's modes (harness/modes/) each name one of these; the analysis reads only this."""

    label: str  # what the report adds to the algorithm's label: ``mbdpo (offline)``
    multitask: bool  # one run over every task of its suite: task directory MULTITASK_DIR, eval.csv names each task
    from_checkpoint: bool  # starts from ``run.checkpoint``'s weights; the report pairs it with the from-scratch run


#: ``run.mode`` -> how its runs read; a config.yaml without ``run.mode`` is DEFAULT_MODE's
RUN_MODES: dict[str, RunMode] = {
    "online": RunMode(label="", multitask=False, from_checkpoint=False),
    "offline": RunMode(label=" (offline)", multitask=True, from_checkpoint=False),
    "finetune": RunMode(label=" (finetuned)", multitask=False, from_checkpoint=True),
}
DEFAULT_MODE = "online"
#: the task component of a multi-task run's directory: ``<suite>/multitask/<algo>/<variant>/seed_<n>``
MULTITASK_DIR = "multitask"
