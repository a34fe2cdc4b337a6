"""List what the benchmark knows: ``python -m harness.list suites | tasks [SUITE] | algorithms``.

- ``suites``: one line per suite: name, version, number of tasks, description;
- ``tasks``: every registered task, one name per line (sorted); ``tasks SUITE``: the suite's
  tasks in the suite's order;
- ``algorithms``: one line per registered algorithm: name, capabilities (see algorithms.registry)
  and description.

An unknown suite or command prints a one-line error (with the valid names) and exits with 2.
"""

from __future__ import annotations

import sys

from configs.errors import UnknownNameError
from configs.suites import get_suite, suite_names
from harness.cli import CliError, command_line, one_line_errors

COMMANDS = ("suites", "tasks", "algorithms")
USAGE = "usage: python -m harness.list suites | tasks [SUITE] | algorithms"


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip() for row in [header, *rows]]


def suites_lines() -> list[str]:
    rows = []
    for name in suite_names():
        suite = get_suite(name)
        rows.append((name, f"v{suite.version}", str(len(suite.tasks)), suite.description))
    return _table(rows, ("suite", "version", "tasks", "description"))


def tasks_lines(suite: str | None = None) -> list[str]:
    if suite is not None:
        return list(get_suite(suite).tasks)  # pure config: no env library is imported
    from envs import task_names

    return task_names()


def algorithms_lines() -> list[str]:
    import algorithms

    rows = [
        (name, ",".join(sorted(e.capabilities)) or "-", e.description)
        for name, e in ((n, algorithms.get_algorithm(n)) for n in algorithms.algorithm_names())
    ]
    return _table(rows, ("algorithm", "capabilities", "description"))


@command_line(doc=None)  # its own usage: no command is an error
def main(argv: list[str]) -> int:
    if not argv:
        raise CliError(f"no command given; {USAGE}")
    if argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, args = argv[0], argv[1:]
    max_args = 1 if command == "tasks" else 0
    if command not in COMMANDS or len(args) > max_args:
        what = f"unknown command {command!r}" if command not in COMMANDS else f"too many arguments: {' '.join(args)}"
        raise CliError(f"{what}; {USAGE}")
    with one_line_errors(UnknownNameError):
        if command == "suites":
            lines = suites_lines()
        elif command == "tasks":
            lines = tasks_lines(args[0] if args else None)
        else:
            lines = algorithms_lines()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
