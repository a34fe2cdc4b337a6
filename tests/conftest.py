"""Shared test settings: small thread counts so the suite behaves the same on a 2-core machine."""

import pytest
import submitit  # noqa: F401
import torch

# submitit's import runs logging.config.dictConfig, which closes every existing logging handler. Once
# absl (dm_control) has a handler on pytest's capture stream, importing submitit in a later test
# closes that stream ("I/O operation on closed file", "lost sys.stderr"): import it first, here.

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
