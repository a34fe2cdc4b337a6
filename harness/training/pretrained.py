"""A pretrained checkpoint as fine-tuning and evaluation see it: where it is, what trained it, the
tasks its model knows, and its weights. Reading one never modifies it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from configs import load_yaml

#: the files of a run directory that hold a whole agent, most final first
STATE_FILES = ("final.pt", "checkpoint.pt")


class PretrainedError(ValueError):
    """A checkpoint that cannot serve as asked; the message is one line."""


@dataclass(frozen=True)
class Pretrained:
    path: Path  # the state file
    config: dict[str, Any]  # the run's resolved config (config.yaml / the checkpoint's "run")
    commit: str

    @property
    def algo(self) -> str:
        return self.config["run"]["algo"]

    @property
    def model_size(self) -> int | None:
        return (self.config.get("algo") or {}).get("model", {}).get("size")

    @property
    def multitask(self) -> bool:
        return self.config["run"].get("mode") == "offline"

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the model was trained on, in task-id order."""
        if self.multitask:
            from configs.suites import get_suite

            return get_suite(self.config["run"]["suite"]).tasks
        return (self.config["run"]["task"],)

    def state(self) -> dict[str, Any]:
        from harness.training import checkpoint as ckpt_mod

        try:
            return ckpt_mod.load(self.path)
        except Exception as exc:  # truncated, not ours, unreadable
            raise PretrainedError(
                f"checkpoint {self.path} is unreadable ({type(exc).__name__}: {str(exc)[:120]})"
            ) from None

    def provenance(self) -> dict[str, Any]:
        return {"path": str(self.path), "commit": self.commit, "run": self.config.get("run", {})}


def find_pretrained(where: str) -> Pretrained:
    """``where``: a run directory (its final.pt or checkpoint.pt) or a state file beside its run's
    config.yaml. Reads config.yaml only (the weights are read by :meth:`Pretrained.state`)."""
    path = Path(where).expanduser()
    if path.is_dir():
        files = [path / name for name in STATE_FILES if (path / name).is_file()]
        if not files:
            raise PretrainedError(f"checkpoint={where}: no {' or '.join(STATE_FILES)} in that run directory")
        path = files[0]
    elif not path.is_file():
        raise PretrainedError(f"checkpoint={where}: no such file or run directory")
    config_path = path.parent / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text())
        config["run"]["algo"]
    except Exception:
        raise PretrainedError(f"checkpoint={where}: no readable config.yaml beside it ({config_path})") from None
    git = config.get("git") or {}
    return Pretrained(path.absolute(), config, str(git.get("commit", config.get("commit", "unknown"))))


def default_source_task(target: str) -> str | None:
    """MBDPO's map of target tasks to the pretrained task whose embedding they start from."""
    return (load_yaml("finetune.yaml").get("source_tasks") or {}).get(target)
