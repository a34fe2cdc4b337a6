"""How a run is asked to stop: a flag that a signal handler may set, checked by the training loop
at every episode boundary (see harness.training.checkpoint). Kept free of heavy imports so that a Slurm job
can install its signal handler before torch is even loaded (harness.launchers)."""

from __future__ import annotations

import threading


class Preempted(Exception):
    """The run saved a checkpoint at ``step`` and stopped because a stop was requested."""

    def __init__(self, step: int, reason: str = "stop requested") -> None:
        super().__init__(f"{reason}: checkpoint saved at step {step}")
        self.step = step
        self.reason = reason


_STOP = threading.Event()
_STOP_REASON: list[str] = []


def request_stop(reason: str = "stop requested") -> None:
    """Ask the training loop to checkpoint at its next episode boundary and raise Preempted.
    Safe to call from a signal handler."""
    _STOP_REASON[:] = [reason]
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def stop_reason() -> str:
    return _STOP_REASON[0] if _STOP_REASON else "stop requested"


def clear_stop() -> None:
    _STOP.clear()
    _STOP_REASON.clear()
