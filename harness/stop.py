"""How a run is asked to stop: a flag that a signal handler may set, checked by the training loop
at every episode boundary (see harness.training.checkpoint). Kept free of heavy imports so that a Slurm job
can install its signal handler before torch is even loaded (harness.launchers).

:func:`install_stop_handlers` gives a command-line program (harness.run, harness.evaluate) the same
answer to SIGINT (Ctrl-C), SIGTERM (``timeout``, ``kill``) and SIGUSR2 (Slurm's warning) in every
phase, never a traceback:

- while it starts (importing torch, before ``main`` runs: ``phase="starting"``): nothing is written yet,
  so any of them ends the process at once with one line, as killed by SIGINT (status 130 in a shell);
- while it works (:func:`working`): a program with safe points (``checkpoint_line`` given: a run)
  asks for a stop at the next one and says so; a second SIGINT/SIGTERM raises KeyboardInterrupt
  (stop at once; every file is written atomically, so none is half-written). A program without
  safe points (an evaluation) raises it at the first. SIGUSR2 only ever asks for a stop;
- once KeyboardInterrupt was raised, or the program's work is over (:func:`leaving`), another
  signal does not raise again (it would interrupt the status being recorded or the last line being
  printed); a further one after that ends the process at once, the same way.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any


class Preempted(Exception):
    """The run saved a checkpoint at ``step`` and stopped because a stop was requested."""

    def __init__(self, step: int, reason: str = "stop requested") -> None:
        super().__init__(f"{reason}: checkpoint saved at step {step}")
        self.step = step
        self.reason = reason
        leaving()  # the stop is under way: a second signal must not interrupt the recording of it


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


_HANDLING: dict[str, Any] = {"phase": "off", "program": "", "checkpoint_line": None, "signals": []}


def install_stop_handlers(program: str, checkpoint_line: str | None = None, phase: str = "working") -> None:
    """Handle SIGINT, SIGTERM and SIGUSR2 as the module doc says. ``program``: its name in the
    one-line messages; ``checkpoint_line``: printed (stderr) at the first signal by a program that
    stops at its next safe point (None: it stops at once); ``phase``: ``starting`` or ``working``."""
    _HANDLING.update(
        program=program, checkpoint_line=checkpoint_line, phase=phase, signals=[], raised=False, ignored=False
    )
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
        signal.signal(s, _on_signal)
    if sys.unraisablehook is not _lost_interrupt:
        _HANDLING["unraisablehook"] = sys.unraisablehook
        sys.unraisablehook = _lost_interrupt


def _lost_interrupt(unraisable: Any) -> None:
    """Our KeyboardInterrupt raised inside a ``__del__`` (or another place Python cannot raise from)
    is lost, not printed as a traceback: the next signal raises it again."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _HANDLING.get("raised"):
        _HANDLING["raised"] = False
        return
    _HANDLING["unraisablehook"](unraisable)


def working() -> None:
    """The program's work begins: signals stop it as the module doc says (a signal that came while
    it started has already ended it)."""
    _HANDLING["phase"] = "working"


def leaving() -> None:
    """The program's work is over (its result recorded): a signal no longer interrupts it."""
    _HANDLING["phase"] = "leaving"


def signals_received() -> list[str]:
    """The names of the signals handled since :func:`install_stop_handlers`, in order."""
    return list(_HANDLING["signals"])


def stopped_at_once_line(what: str) -> str:
    """``stopped at once (SIGTERM, then SIGINT): <what>``: the last line of a program stopped at once."""
    names = _HANDLING["signals"]
    how = ", then ".join(dict.fromkeys(names)) if names else "KeyboardInterrupt"
    if len(names) > 1 and len(set(names)) == 1:
        how = f"{names[0]} twice" if len(names) == 2 else f"{names[0]} x{len(names)}"
    return f"stopped at once ({how}): {what}"


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except Exception:  # a closed or broken stderr must not turn the stop into a traceback
        pass


def _exit_now(what: str) -> None:
    """End the process at once, as killed by SIGINT (a shell shows status 130), without cleaning up."""
    _say(stopped_at_once_line(what))
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.raise_signal(signal.SIGINT)


def _on_signal(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    h = _HANDLING
    h["signals"].append(name)
    if h["phase"] == "starting":  # importing: nothing written, nothing to clean up
        _exit_now(f"{h['program']} had not started; nothing written")
    if h["raised"] or h["phase"] == "leaving":
        if h["ignored"]:
            _exit_now("without recording the outcome (run the same command again)")
        h["ignored"] = True  # let it record its outcome and print its last line
        return
    if signum == signal.SIGUSR2 or (h["checkpoint_line"] and not stop_requested()):
        request_stop(f"{name} received")
        if signum != signal.SIGUSR2 and h["checkpoint_line"]:
            _say(h["checkpoint_line"])
        return
    h["raised"] = True
    raise KeyboardInterrupt
