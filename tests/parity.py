"""Helpers of the parity tests (tests/test_parity_*.py): load a fixture that a reference code wrote
(tools/parity/*_fixtures.py), replay the random draws it made, watch our code's local values, and
compare numbers with a tolerance, keeping the largest difference seen per quantity.

Not a test module; it needs no reference code.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch

from algorithms.planning.noise import NoiseSource
from algorithms.world_model.draws import ModelDraws

FIXTURES = Path(__file__).parent / "fixtures" / "parity"
#: |ours - theirs| <= TOLERANCE * max(1, |theirs|): absolute for small values, relative for large ones
TOLERANCE = 1e-5


def load_fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"missing parity fixture {path} (written by tools/parity/)")
    return torch.load(path, weights_only=False)


def largest_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max(1, |expected|) (0 for equal integers)."""
    actual, expected = torch.as_tensor(actual).double(), torch.as_tensor(expected).double()
    if actual.shape != expected.shape:
        raise AssertionError(f"shapes differ: ours {tuple(actual.shape)}, theirs {tuple(expected.shape)}")
    if actual.numel() == 0:
        return 0.0
    return ((actual - expected).abs() / expected.abs().clamp(min=1.0)).max().item()


class Comparison:
    """Compares many named values; :meth:`check` raises one AssertionError listing every value out
    of tolerance with its largest difference. ``largest`` keeps the largest difference per group
    (the part of the name before the first ``/``), for the report."""

    def __init__(self, tolerance: float = TOLERANCE) -> None:
        self.tolerance = tolerance
        self.failures: list[str] = []
        self.largest: dict[str, tuple[float, str]] = {}

    def close(self, name: str, actual, expected) -> float:
        try:
            diff = largest_difference(actual, expected)
        except AssertionError as exc:
            self.failures.append(f"{name}: {exc}")
            return float("inf")
        group = name.split("/")[0]
        if diff > self.largest.get(group, (-1.0, ""))[0]:
            self.largest[group] = (diff, name)
        if not diff <= self.tolerance:  # NaN fails too
            self.failures.append(f"{name}: largest difference {diff:.3g} > {self.tolerance:g}")
        return diff

    def equal(self, name: str, actual, expected) -> None:
        actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
        if actual.shape != expected.shape or not torch.equal(actual.to(expected.dtype), expected):
            self.failures.append(f"{name}: ours {actual.tolist()} != theirs {expected.tolist()}")

    def summary(self) -> str:
        return "; ".join(f"{g} {d:.2e} ({n})" for g, (d, n) in sorted(self.largest.items()))

    def check(self) -> None:
        if self.failures:
            raise AssertionError(
                f"{len(self.failures)} values differ from the reference:\n  " + "\n  ".join(self.failures)
            )


def assert_detects(check: Callable[[], Any]) -> None:
    """``check`` (a parity comparison on deliberately perturbed weights) must fail."""
    with pytest.raises(AssertionError, match="differ"):
        check()


class ReplayDraws(ModelDraws):
    """The world model's draws (policy noise, Q-head pairs) replayed from a fixture's list of
    ``(torch function name, tensor)``, in order; a call of another kind or shape than recorded
    fails at once, so the replay also proves that both codes draw in the same order."""

    def __init__(self, draws: list[tuple[str, torch.Tensor]]) -> None:
        self.draws = list(draws)
        self.used = 0

    def _next(self, kind: str) -> torch.Tensor:
        if self.used >= len(self.draws):
            raise AssertionError(f"ours draws more than the reference did (a {kind} after {self.used} draws)")
        name, value = self.draws[self.used]
        if name != kind:
            raise AssertionError(f"draw {self.used}: ours asks for {kind}, the reference drew {name}")
        self.used += 1
        return value

    def normal_like(self, x: torch.Tensor) -> torch.Tensor:
        value = self._next("randn_like")
        if value.shape != x.shape:
            raise AssertionError(f"draw {self.used - 1}: ours a normal {tuple(x.shape)}, theirs {tuple(value.shape)}")
        return value.to(x)

    def head_pair(self, members: int, device: torch.device) -> torch.Tensor:
        value = self._next("randperm")
        if value.numel() != members:
            raise AssertionError(f"draw {self.used - 1}: ours a permutation of {members}, theirs of {value.numel()}")
        return value[:2].to(device)

    def assert_all_used(self) -> None:
        if self.used != len(self.draws):
            raise AssertionError(f"ours used {self.used} of the reference's {len(self.draws)} draws")


class ReplayNoise(NoiseSource):
    """A planner's NoiseSource that returns given tensors, in order: ``(kind, tensor)`` with kind
    ``randn`` / ``rand`` (tensor [B, *shape]) or ``pairs`` ([B, 2]); the shapes asked for must match."""

    def __init__(self, entries: list[tuple[str, torch.Tensor]], batch: int = 1) -> None:
        super().__init__(batch, torch.device("cpu"))
        self.entries = list(entries)
        self.used = 0

    def _next(self, kind: str, shape: tuple[int, ...]) -> torch.Tensor:
        if self.used >= len(self.entries):
            raise AssertionError(f"the planner draws more than the reference did (a {kind} {shape})")
        name, value = self.entries[self.used]
        if name != kind or tuple(value.shape) != shape:
            raise AssertionError(
                f"planner draw {self.used}: ours {kind} {shape}, the reference's {name} {tuple(value.shape)}"
            )
        self.used += 1
        return value

    def randn(self, *shape: int) -> torch.Tensor:
        return self._next("randn", (self.batch, *shape))

    def rand(self, *shape: int) -> torch.Tensor:
        return self._next("rand", (self.batch, *shape))

    def pairs(self, members: int) -> torch.Tensor:
        return self._next("pairs", (self.batch, 2))

    def assert_all_used(self) -> None:
        if self.used != len(self.entries):
            raise AssertionError(f"the planner used {self.used} of the reference's {len(self.entries)} draws")


@contextlib.contextmanager
def watch_locals(function: Callable, names: tuple[str, ...], event: str = "return") -> Iterator[list[dict]]:
    """Collect ``{name: value}`` of ``function``'s local variables at each of its ``event``s
    (``call``: the arguments; ``return``: the values it ended with), for looking at intermediate
    values (an MPPI iteration's elite indices) without changing the code. Eager code only."""
    code = getattr(function, "__wrapped__", function).__code__
    seen: list[dict] = []

    def local(frame, ev, arg):
        if ev == event:
            seen.append({n: frame.f_locals[n] for n in names if n in frame.f_locals})
        return local

    def tracer(frame, ev, arg):
        if frame.f_code is not code:
            return None
        if ev == event == "call":
            seen.append({n: frame.f_locals[n] for n in names if n in frame.f_locals})
        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield seen
    finally:
        sys.settrace(previous)
