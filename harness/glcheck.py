"""Fail in one line when ``MUJOCO_GL`` names an OpenGL backend whose library is missing.

Importing torchrl imports PyOpenGL, which with ``MUJOCO_GL=osmesa`` (or ``egl``) and no such library
dies with a long traceback on *any* command, even one that never renders. The commands that import
torchrl (harness.run, harness.sweep, harness.export) import this module first: it prints which
package to install and exits with status 2.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

_LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa"}
_INSTALL_HINT = {
    "egl": "an EGL driver (NVIDIA's, or Mesa's: apt-get install libegl1)",
    "osmesa": "libOSMesa (Debian/Ubuntu: apt-get install libosmesa6)",
}


def gl_problem() -> str | None:
    backend = os.environ.get("MUJOCO_GL", "").strip().lower()
    library = _LIBRARIES.get(backend)
    if library and ctypes.util.find_library(library) is None:
        return (
            f"MUJOCO_GL={backend} needs {_INSTALL_HINT[backend]}, which is not installed; install it, or "
            "unset MUJOCO_GL (state observations need no OpenGL)"
        )
    return None


_problem = gl_problem()
if _problem:
    print(f"error: {_problem}", file=sys.stderr)
    raise SystemExit(2)
