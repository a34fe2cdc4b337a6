"""Report settings from ``configs/analysis.yaml``: ablation pairs, aliases, excluded baselines.

:func:`resolve_pairs` turns pair names into labels present in the results: an exact label, else
(for a plain name) its only variant ``name[<variant>]`` (e.g. ``tdmpc2`` -> ``tdmpc2[cpu]``), else its
published label ``name (published)``; aliases are applied first. Pairs that
cannot be resolved are returned as issues, so the report lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from analysis.errors import AnalysisError
from analysis.issues import PAIR_NOT_RUN, PAIR_SKIPPED, Issue
from analysis.table import published_label
from configs import CONFIG_DIR

DEFAULT_CONFIG = CONFIG_DIR / "analysis.yaml"


@dataclass(frozen=True)
class AnalysisConfig:
    pairs: tuple[tuple[str, str], ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    baseline_exclude: tuple[str, ...] = ()
    #: a published algorithm's folder of pixel-observation results is ``<algo><suffix>``: read (as
    #: ``<algo>``) instead of the state folders on a suite learnt from pixels
    baseline_pixels_suffix: str = "-pixels"


def load_config(path: str | Path | None = None) -> AnalysisConfig:
    """Read ``path`` (default ``configs/analysis.yaml``); :class:`AnalysisError` naming it if malformed."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AnalysisError(
            f"cannot read analysis config {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if not isinstance(data, dict):
        raise AnalysisError(f"analysis config {path} is not a mapping")
    unknown = sorted(set(data) - {"improvement_pairs", "aliases", "baselines"})
    if unknown:
        raise AnalysisError(
            f"analysis config {path}: unknown key(s) {', '.join(unknown)}; valid: aliases, baselines, improvement_pairs"
        )
    pairs = data.get("improvement_pairs") or []
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(n, str) for n in p) for p in pairs
    ):
        raise AnalysisError(f"analysis config {path}: improvement_pairs must be a list of [X, Y] name pairs")
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise AnalysisError(f"analysis config {path}: aliases must map names to labels")
    baselines = data.get("baselines") or {}
    exclude = baselines.get("exclude") or [] if isinstance(baselines, dict) else None
    if exclude is None or not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
        raise AnalysisError(f"analysis config {path}: baselines.exclude must be a list of patterns")
    suffix = baselines.get("pixels_suffix", AnalysisConfig.baseline_pixels_suffix)
    if not isinstance(suffix, str) or not suffix:
        raise AnalysisError(f"analysis config {path}: baselines.pixels_suffix must be a non-empty name ending")
    return AnalysisConfig(
        pairs=tuple((x, y) for x, y in pairs),
        aliases=tuple(aliases.items()),
        baseline_exclude=tuple(exclude),
        baseline_pixels_suffix=suffix,
    )


def resolve_name(name: str, labels: Iterable[str], aliases: dict[str, str] | None = None) -> str | None:
    """The label ``name`` stands for among ``labels``, or None."""
    labels = set(labels)
    name = (aliases or {}).get(name, name)
    if name in labels:
        return name
    variants = [label for label in labels if label.startswith(f"{name}[") and label.endswith("]")]
    if len(variants) == 1:  # two or more: ambiguous, the pair needs the full label
        return variants[0]
    if published_label(name) in labels:
        return published_label(name)
    return None


def resolve_pairs(
    pairs: Sequence[tuple[str, str]],
    labels: Iterable[str],
    aliases: dict[str, str] | None = None,
    *,
    found: Iterable[str] | None = None,
) -> tuple[list[tuple[str, str]], list[Issue]]:
    """Resolved (X, Y) label pairs, without repeats, and an issue per pair that cannot be made.

    ``found``: given for the config's default pairs (not asked for by name), every label in the
    results before any run was left out. A default pair whose absent algorithms are not there either
    was not run: :data:`~analysis.issues.PAIR_NOT_RUN` (nothing to compute, no problem), the absent
    names in ``algo``. Otherwise (``--pair``, or runs left out) it is a skipped pair, a problem.
    """
    labels = sorted(set(labels))
    found = None if found is None else sorted(set(found))
    resolved, issues, seen = [], [], set()
    for x, y in pairs:
        rx, ry = resolve_name(x, labels, aliases), resolve_name(y, labels, aliases)
        absent = [n for n, r in ((x, rx), (y, ry)) if r is None]
        if absent and found is not None and all(resolve_name(n, found, aliases) is None for n in absent):
            issues.append(
                Issue(PAIR_NOT_RUN, f"P({x} > {y}): no results for {' and '.join(absent)}", algo=", ".join(absent))
            )
            continue
        if absent:
            issues.append(
                Issue(
                    PAIR_SKIPPED,
                    f"P({x} > {y}): no results for {' and '.join(absent)} (algorithms: {', '.join(labels)})",
                )
            )
            continue
        if rx == ry:
            issues.append(Issue(PAIR_SKIPPED, f"P({x} > {y}): both name {rx}"))
            continue
        if (rx, ry) not in seen:
            seen.add((rx, ry))
            resolved.append((rx, ry))
    return resolved, issues
