"""Analysis of benchmark results, following rliable's protocol (Agarwal et al., 2021):
``python -m analysis.report [RUNS_DIR] --out DIR [--baselines DIR ...]``.

One concept per module:

* data in: :mod:`~analysis.results` (our run directories), :mod:`~analysis.baselines` (TD-MPC2's and
  MBDPO's published CSVs), :mod:`~analysis.table` (the tidy table both become),
  :mod:`~analysis.suites` (suite restriction), :mod:`~analysis.provenance` (configs and commits);
* rules: :mod:`~analysis.selection` (one score per run at a step), :mod:`~analysis.ragged`
  (shared tasks, equal runs per task), :mod:`~analysis.contract` (rliable's input contract),
  :mod:`~analysis.scores` (score matrices and curves), :mod:`~analysis.issues` (what was left out),
  :mod:`~analysis.caveats` (the few-runs caveat and the zero-width interval mark);
* rliable: :mod:`~analysis.aggregates` (IQM, median, mean, optimality gap; seeding),
  :mod:`~analysis.profiles`, :mod:`~analysis.improvement`, :mod:`~analysis.scaling` (IQM vs model size);
* out: :mod:`~analysis.pipeline` (the whole analysis as data), :mod:`~analysis.figures`,
  :mod:`~analysis.narrative` -> :mod:`~analysis.document` rendered by :mod:`~analysis.markdown` and
  :mod:`~analysis.htmlpage`, :mod:`~analysis.report` (files and command line);
  :mod:`~analysis.settings` reads ``configs/analysis.yaml`` (ablation pairs).

This package reads only the files described in ``docs/results-format.md`` and published CSVs; it
never imports torch, torchrl or the harness/algorithm/environment code.
"""
