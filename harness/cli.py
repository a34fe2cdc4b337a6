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
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator

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
