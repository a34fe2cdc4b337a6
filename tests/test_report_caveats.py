"""The report never looks surer than its data (issue 27): the few-runs caveat beside every table and
figure it concerns, zero-width intervals marked, a hairline bar still readable, and a parameter-free
policy's ``num_parameters: 0`` accepted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import issues as kinds
from analysis.caveats import few_runs_note, interval_text, zero_width_mark
from analysis.figures import plot_improvement, save_figure
from analysis.provenance import run_settings
from analysis.report import build_parser, main
from tests.helpers import write_run

TASK = "cartpole-balance"
#: 2 seeds each; every mbdpo run below every tdmpc2 run: P(mbdpo > tdmpc2) = 0 in every bootstrap resample.
SCORES = {"tdmpc2": (55.0, 58.0), "mbdpo": (32.0, 51.0), "random": (35.4, 35.8)}
ZERO = "0.00 [0.00, 0.00] (zero width: 2 runs per task each, not a certainty)"


def section(report: str, heading: str) -> str:
    """The text of ``## heading`` up to the next ``## ``."""
    start = report.index(f"## {heading}\n")
    end = report.find("\n## ", start + 1)
    return report[start : end if end > 0 else None]


def test_few_runs_caveat_and_zero_width_mark_everywhere_and_random_is_healthy(tmp_path: Path, capsys):
    root = tmp_path / "runs"
    for algo, scores in SCORES.items():
        for seed, score in enumerate(scores, start=1):
            run = write_run(root, TASK, algo, seed, {300: [score, score]})
            with open(run / "config.yaml", "a") as f:  # as harness.run writes it; 0: the parameter-free policy
                f.write(f"num_parameters: {0 if algo == 'random' else 1_000_000}\n")
    out = tmp_path / "report"
    assert main([str(root), "--out", str(out), "--reps", "200"]) == 0
    printed = capsys.readouterr().out

    caveat = (
        "`mbdpo`, `random`, `tdmpc2` have fewer than 3 runs per task (2 runs each); a bootstrap over so few "
        "runs gives narrow, unreliable intervals (a single run gives zero-width ones)."
    )
    assert f"P(mbdpo > tdmpc2) = {ZERO} on 1 task(s)" in printed
    assert "Note: " + caveat.replace("`", "") in printed

    report = (out / "report.md").read_text()
    for heading in ("Aggregate metrics", "Performance profiles", "Sample efficiency"):
        assert f"> {caveat}" in section(report, heading), heading
    improvement = section(report, "Probability of improvement")
    caveat = caveat.replace("`random`, ", "")  # the pair's algorithms only
    assert caveat.startswith("`mbdpo`, `tdmpc2` have") and f"> {caveat}" in improvement
    assert f"| P(mbdpo > tdmpc2) | 1 | 2 | 2 | {ZERO} |" in improvement
    # The caveat stands beside the table, before its figure.
    assert improvement.index(ZERO) < improvement.index(caveat) < improvement.index("probability_of_improvement.png")
    html = (out / "report.html").read_text()
    html_improvement = html[html.index('id="improvement"') : html.index('id="curves"')]
    assert '<p class="note"><code>mbdpo</code>, <code>tdmpc2</code> have fewer than 3' in html_improvement
    assert ZERO in html_improvement

    # random writes num_parameters: 0 (a parameter-free policy): read as 0, not flagged as unusable.
    runs = pd.read_csv(out / "runs.csv")
    assert runs.loc[runs["label"] == "random", "num_parameters"].tolist() == [0, 0]
    missing = pd.read_csv(out / "missing.csv")
    assert kinds.BAD_METADATA not in set(missing["kind"])
    banner = report[: report.index("## Algorithms")]
    assert "unusable config.yaml field" not in banner and "unusable config.yaml field" not in html

    # A healthy set looks healthy: nothing "left out or repaired"; what there is no data for (one model
    # size, default pairs of algorithms not run) is one plain line, not a warning note.
    not_drawn = (
        "Not drawn (no data for them): the scaling figure (one model size per algorithm); 3 default pairs "
        "(algorithms not in these runs: diffusion, mbdpo-aligned, mbdpo-noanchor, mppi)."
    )
    assert f"\n{not_drawn}\n" in banner and not_drawn in printed
    assert f"<p>{not_drawn}</p>" in html
    for text in (banner, printed, html):
        assert "Left out or repaired" not in text and "skipped" not in text
    assert "Nothing left out or repaired: every run and file found was used." in section(report, "Missing and excluded")
    assert "every run's last evaluation" in banner  # no run singled out as the one that stopped short

    # A damaged set says so: a failed run is left out, and the banner lists it (as a note) and the console.
    write_run(root, TASK, "tdmpc2", 3, {300: [50.0]}, state="failed", error="RuntimeError: boom")
    assert main([str(root), "--out", str(tmp_path / "damaged"), "--reps", "50"]) == 0
    printed = capsys.readouterr().out
    report = (tmp_path / "damaged" / "report.md").read_text()
    banner = report[: report.index("## Algorithms")]
    assert "> Left out or repaired: 1 run not finished; " in banner and not_drawn in banner
    assert "Left out or repaired: 1 run not finished; " in printed and not_drawn in printed
    assert "RuntimeError: boom" in section(report, "Missing and excluded")


def test_num_parameters_zero_is_valid_and_unusable_values_are_still_flagged():
    assert run_settings({"num_parameters": 0}) == ("online", "", 0, "")
    assert run_settings({"num_parameters": 5.0}) == ("online", "", 5, "")
    for bad in (-3, 2.5, True, "big", float("nan")):
        mode, _, n, note = run_settings({"num_parameters": bad})
        assert (mode, n) == ("online", None) and note == f"num_parameters {bad!r} is not a whole number >= 0", bad


def test_interval_marks_and_caveat_wording():
    assert interval_text(0.0, 0.0, 0.0, [2, 2], digits=2) == ZERO
    assert interval_text(0.0, 0.001, 0.004, [2, 3], digits=2) == (
        "0.00 [0.00, 0.00] (zero width: 2 and 3 runs per task, not a certainty)"
    )  # equal as printed is zero width to the reader
    assert interval_text(35.6, 35.4, 35.8, [2]) == "35.6 [35.4, 35.8]"
    assert zero_width_mark([1]) == "(zero width: 1 run per task, not a certainty)"
    assert few_runs_note({"a": 3, "b": 10}) == ""
    assert few_runs_note({"a": 1, "b": 3}, code=False).startswith("a has fewer than 3 runs per task (1 run); ")
    assert few_runs_note({"b": 2, "a": 1}).startswith("`a`, `b` have fewer than 3 runs per task (a: 1, b: 2); ")


def test_hairline_improvement_bar_reads_as_a_result(tmp_path: Path):
    poi = pd.DataFrame(
        {"x": ["mbdpo"], "y": ["tdmpc2"], "tasks": [1], "runs_x": [2], "runs_y": [2]}
        | {"value": [0.0], "ci_low": [0.0], "ci_high": [0.0]}
    )
    note = few_runs_note({"mbdpo": 2, "tdmpc2": 2}, code=False)
    fig = plot_improvement(poi, labels=[ZERO], note=note)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [ZERO]  # the value written beside the point
    assert ax.get_xlim()[0] < 0 < 1 < ax.get_xlim()[1]  # a point at 0 (or 1) clears the frame
    [marker] = [line for line in ax.lines if line.get_marker() == "D"]
    assert list(marker.get_xdata()) == [0.0] and marker.get_markersize() >= 6
    assert [t.get_text().replace("\n", " ") for t in fig.texts] == [note]
    # The caveat is inside the saved file: the image with it is taller than the one without.
    [with_note] = save_figure(fig, tmp_path / "with.png", formats=("png",))
    [without] = save_figure(plot_improvement(poi, labels=[ZERO]), tmp_path / "without.png", formats=("png",))
    height = {p.name: int.from_bytes(p.read_bytes()[20:24], "big") for p in (with_note, without)}  # PNG IHDR
    assert height["with.png"] > height["without.png"] + 20


def test_help_names_one_pair_per_flag_and_a_whole_description(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "[--pair X Y]" in text and "[--pair X Y ...]" not in text
    assert "one pair per --pair, repeat the flag for more pairs" in " ".join(text.split())
    description = " ".join(text.split("\n\n")[1].split())
    assert description.endswith("CSVs and figures.") and description.count("`") % 2 == 0
    args = build_parser().parse_args(["--out", "o", "--pair", "a", "b", "--pair", "c", "d"])
    assert args.pair == [["a", "b"], ["c", "d"]]


def test_a_default_pair_is_not_run_only_when_its_algorithm_is_absent_from_the_results():
    from analysis.settings import resolve_pairs

    pairs = [("mbdpo", "mbdpo-noanchor"), ("mbdpo", "tdmpc2")]
    # mbdpo-noanchor was never run: nothing to compute; tdmpc2 has runs, all left out at the step: a problem.
    resolved, issues = resolve_pairs(pairs, ["mbdpo"], found=["mbdpo", "tdmpc2"])
    assert resolved == [] and [(i.kind, i.algo) for i in issues] == [
        (kinds.PAIR_NOT_RUN, "mbdpo-noanchor"),
        (kinds.PAIR_SKIPPED, ""),
    ]
    assert [kinds.is_problem(i.kind) for i in issues] == [False, True]
    _, asked = resolve_pairs(pairs[:1], ["mbdpo"])  # --pair: asked for by name, always a problem
    assert [i.kind for i in asked] == [kinds.PAIR_SKIPPED]
    table = kinds.issues_table([*issues, kinds.Issue(kinds.OFF_SCALING, "parameter-free", algo="random")])
    assert kinds.left_out_summary(table) == "1 probability of improvement skipped"
    assert kinds.not_drawn_summary(table) == (
        "random on the scaling figure (parameter-free); 1 default pair (algorithms not in these runs: mbdpo-noanchor)"
    )
