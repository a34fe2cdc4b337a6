"""Imported first by the command-line programs that load torch (harness.run, harness.evaluate):
when this process runs one of them as its main module (``python -m harness.run``), their stop
handlers go in before torch loads (seconds), in their starting phase, so that a Ctrl-C or SIGTERM
then ends the process in one line instead of a KeyboardInterrupt traceback from inside an import
(harness.stop). Imported any other way (tests, a launcher), it does nothing."""

from __future__ import annotations

import sys

from harness.stop import install_stop_handlers

#: the programs whose handlers this installs (each installs them again, working, when its main begins)
PROGRAMS = ("harness.run", "harness.evaluate")

_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
if _spec is not None and _spec.name in PROGRAMS:
    install_stop_handlers(_spec.name, phase="starting")
