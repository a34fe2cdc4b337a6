"""Analysis of benchmark results: load ``eval.csv`` files, build rliable score matrices,
compute aggregate metrics with stratified-bootstrap confidence intervals, draw figures and write
reports (``python -m analysis.report RUNS_DIR --out DIR``).

This package reads only the files described in ``docs/results-format.md``; it never imports
torch, torchrl or the harness/algorithm/environment code.
"""
