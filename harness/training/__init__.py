"""Training one run: the trainers (:mod:`~harness.training.trainer`), the training env stepped by
TorchRL's Collector (:mod:`~harness.training.collect`), evaluation, checkpoints and stop requests.

Importing this package imports nothing heavy: :mod:`harness.stop` must load without
torch (a Slurm job installs its signal handler before torch is loaded; see harness.launchers).
"""
