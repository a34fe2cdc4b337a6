"""Tasks that are in suites only for their published curves (ManiSkill2): the one line that refuses
to build or run them, for every program that takes a task or a suite (run, sweep, evaluate, bench,
export, offline and finetune modes). The reason is the family's ``published_only`` text in
``configs/suites.yaml``. Pure: imports no env library."""

from __future__ import annotations

from collections.abc import Iterable

from configs.suites import published_only_reason


def published_only_problem(tasks: Iterable[str], given: str) -> str | None:
    """Why the tasks that ``given`` names (``task=lift-cube``, ``suite=paper-104``) cannot be run
    here, in one line naming each published-only one and its family's reason; None when all can."""
    tasks = list(dict.fromkeys(str(t) for t in tasks))
    by_reason: dict[str, list[str]] = {}
    for task in tasks:
        reason = published_only_reason(task)
        if reason:
            by_reason.setdefault(" ".join(reason.split()), []).append(task)
    if not by_reason:
        return None
    named = [t for ts in by_reason.values() for t in ts]
    why = "; ".join(f"{', '.join(ts)}: {reason}" if len(by_reason) > 1 else reason for reason, ts in by_reason.items())
    if len(tasks) == 1:
        return f"{given} is published-only: {why}"
    which = f"its {len(tasks)} tasks" if len(named) == len(tasks) else f"{len(named)} of its {len(tasks)} tasks"
    verb = "is" if len(named) == 1 else "are"
    line = f"{given}: {which} ({', '.join(named)}) {verb} published-only: {why}"
    return line if len(named) == len(tasks) else f"{line}; run the others with task=[...]"
