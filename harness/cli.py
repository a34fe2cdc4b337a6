"""What every command-line program of the harness does the same way.

``@command_line(__doc__)`` on a program's ``main(args) -> int`` gives ``main(argv=None)``, which

- reads ``sys.argv[1:]`` when ``argv`` is None; with ``-h`` / ``--help`` anywhere prints the
  program's doc and returns 0 (programs that parse with argparse pass ``doc=None``: argparse does it);
- turns :class:`CliError` (one line, an exit status) into ``error: <line>`` on stderr and that
  status: 2 for bad input (:data:`BAD_INPUT`) unless said otherwise. :func:`one_line_errors`
  raises it for the library errors that already say in one line what is wrong, in the part of the
  program where they mean that (a ``ValueError`` from inside a training run is a bug: it keeps its
  traceback);
- turns :class:`~harness.stop.Preempted` into ``stopped: <why>; run the same command again
  to resume`` and status 3 (:data:`STOPPED`);
- ends quietly with status 130 on Ctrl-C (``KeyboardInterrupt``), without a traceback.

Programs that parse with argparse use :class:`ArgumentParser` (its errors are one ``error:`` line
too, not argparse's usage and message) and give every numeric option its allowed range with
:func:`whole_number` / :func:`real_number` (argparse types); ``key=value`` programs check theirs
with :func:`number_problem`. Everything is checked before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.stop import Preempted

#: exit statuses
FAILED, BAD_INPUT, STOPPED, INTERRUPTED = 1, 2, 3, 130


class CliError(Exception):
    """A one-line error for the user and the exit status it ends the program with."""

    def __init__(self, message: str, status: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def one_line_errors(*errors: type[BaseException], status: int = BAD_INPUT) -> Iterator[None]:
    """Within the block, the exceptions of ``errors`` end the program as ``error: <their message>``
    with exit ``status``."""
    try:
        yield
    except errors as exc:
        raise CliError(str(exc), status) from exc


def os_error_line(exc: OSError, path: object = None, fallback: object = None) -> str:
    """One line for a failed write: ``no space left on device: PATH`` for a full disk (ENOSPC),
    ``disk quota exceeded: PATH``, else the system's words and the path. PATH: ``path`` if given
    (e.g. the output directory, rather than a temporary file that is gone), else the error's file,
    else ``fallback``."""
    where = path or exc.filename or fallback or "?"
    if exc.errno == errno.ENOSPC:
        return f"no space left on device: {where}"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded: {where}"
    return f"{(exc.strerror or str(exc)).lower()}: {where}"


@contextlib.contextmanager
def disk_full_errors(where: object = None, status: int = FAILED) -> Iterator[None]:
    """Within the block, a full disk or quota (ENOSPC, EDQUOT) ends the program as one line
    (:func:`os_error_line`: the file the error names, else ``where``), exit ``status``."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise CliError(os_error_line(exc, fallback=where), status) from exc


def output_dir_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be (or become) a directory this process writes into, or None. A missing
    path is tried for real: its first missing component is created and removed again, because
    ``os.access`` says yes to root everywhere (``/proc/x`` then fails at mkdir)."""
    path = Path(path)
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{probe} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    if probe == path:
        return None
    first = path
    while first.parent != probe:
        first = first.parent
    try:
        first.mkdir()
    except FileExistsError:  # made by someone else meanwhile
        return None
    except OSError as exc:
        return f"cannot create {first} ({exc.strerror or exc})"
    try:
        first.rmdir()
    except OSError:
        pass
    return None


def number_problem(
    value: object, low: float | None = None, high: float | None = None, whole: bool = True
) -> str | None:
    """Why ``value`` is not a number in ``[low, high]`` (a whole one with ``whole``), as the end of
    an error line (``must be a whole number from 1 to 100``), or None when it is one."""
    if whole:
        what = "a whole number"
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        what = "a number"
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    def shown(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    if low is not None and high is not None:
        what += f" from {shown(low)} to {shown(high)}"
    elif low is not None:
        what += f" >= {shown(low)}"
    elif high is not None:
        what += f" <= {shown(high)}"
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return None
    return f"must be {what}"


def whole_number(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[low, high]`` (``1_000``, ``1e3`` read as 1000)."""

    def parse(text: str) -> int:
        try:
            value: object = int(text.replace("_", ""))
        except ValueError:
            try:
                number = float(text.replace("_", ""))
                value = int(number) if number.is_integer() else number
            except (ValueError, OverflowError):
                value = text
        problem = number_problem(value, low, high)
        if problem:
            raise argparse.ArgumentTypeError(f"{text}: {problem}")
        return value  # type: ignore[return-value]

    return parse


def real_number(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]``."""

    def parse(text: str) -> float:
        try:
            value: object = float(text.replace("_", ""))
        except ValueError:
            value = text
        problem = number_problem(value, low, high, whole=False)
        if problem:
            raise argparse.ArgumentTypeError(f"{text}: {problem}")
        return value  # type: ignore[return-value]

    return parse


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are a :class:`CliError` (one ``error:`` line, exit 2) instead of its
    usage and message: ``--episodes-per-chunk 0: must be a whole number >= 1``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse says "argument --x: <what our type said>"; ours start with the bad value
        if ": must be " in message:
            raise CliError(re.sub(r"^argument ([^:]+): ", r"\1 ", message))
        raise CliError(f"{message} (see {self.prog} --help)")


def cli_args(argv: list[str] | None, doc: str | None) -> list[str] | None:
    """The command line's tokens (``sys.argv[1:]`` by default), or None after printing ``doc`` for
    ``-h`` / ``--help`` (the program then returns 0)."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(doc)
        return None
    return argv


def command_line(doc: str | None) -> Callable[[Callable[[list[str]], int]], Callable[..., int]]:
    """Decorator: ``main(args)`` becomes ``main(argv=None) -> int`` as the module doc says."""

    def wrap(body: Callable[[list[str]], int]) -> Callable[..., int]:
        @functools.wraps(body)
        def main(argv: list[str] | None = None) -> int:
            if doc is None:
                args: list[str] | None = sys.argv[1:] if argv is None else argv
            else:
                args = cli_args(argv, doc)
                if args is None:
                    return 0
            try:
                return body(args)
            except CliError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return exc.status
            except Preempted as exc:
                print(f"stopped: {exc}; run the same command again to resume", file=sys.stderr)
                return STOPPED
            except KeyboardInterrupt:
                return INTERRUPTED

        return main

    return wrap
