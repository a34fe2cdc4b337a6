"""The dataset layer of offline multi-task pretraining: TD-MPC2's ``chunk_*.pt`` datasets.

- :func:`check_dataset` checks what a run can check of a dataset before it starts;
- :func:`load_offline_replay` validates a dataset, memory-maps it once and returns an
  :class:`OfflineReplay` whose ``sample()`` has :class:`algorithms.replay.EpisodeReplay`'s layout
  plus ``task`` [B];
- :func:`export_runs` writes the replay buffers of finished or checkpointed runs as such a dataset
  (CLI: ``python -m harness.export``);
- :func:`suite_layout` gives a suite's task order and padded dims.
"""

from harness.data.errors import DatasetError
from harness.data.layout import SuiteLayout, TaskDims, suite_layout, task_dims
from harness.data.offline_replay import OfflineReplay, check_dataset, load_offline_replay

__all__ = [
    "DatasetError",
    "OfflineReplay",
    "SuiteLayout",
    "TaskDims",
    "check_dataset",
    "load_offline_replay",
    "suite_layout",
    "task_dims",
]
