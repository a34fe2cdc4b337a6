"""Headless OpenGL for pixel observations: choosing ``MUJOCO_GL`` before dm_control needs it.

dm_control picks its OpenGL backend once, when ``dm_control._render`` is first imported (by
``import dm_control.suite``), from ``MUJOCO_GL``: ``egl`` (GPU, or Mesa's software EGL),
``osmesa`` (CPU, Debian package ``libosmesa6``) or ``glfw`` (needs a display). Unset, it tries
glfw first, which imports on a headless machine but cannot render there.

So :func:`configure` is called by the factory *only when pixels are asked for*, before it imports
dm_control:

- ``MUJOCO_GL`` already set: it is respected;
- else, if dm_control is not imported yet: ``MUJOCO_GL`` is set to ``egl`` when a CUDA device is
  visible and to ``osmesa`` otherwise (an error names the missing library if it is absent);
- else (dm_control already imported, e.g. a state env was built first in this process) the
  backend dm_control chose is checked and, if it cannot render headless, a one-line error says
  to set ``MUJOCO_GL`` before starting Python.

State observations never touch ``MUJOCO_GL``: forcing a backend makes ``import dm_control.suite``
fail when that backend cannot load (no libOSMesa, no EGL device), even for a run that never
renders.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

_LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa"}
_INSTALL_HINT = {
    "egl": "an EGL driver (NVIDIA's, or Mesa's libegl1)",
    "osmesa": "libOSMesa (Debian/Ubuntu: apt-get install libosmesa6)",
}


class RenderingUnavailable(RuntimeError):
    """Pixel observations cannot be rendered in this process; the message says why (one line)."""


def _cuda_visible() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def preferred_backend() -> str:
    """The backend :func:`configure` would use: ``MUJOCO_GL`` if set, else egl with a CUDA device
    visible, else osmesa."""
    return os.environ.get("MUJOCO_GL") or ("egl" if _cuda_visible() else "osmesa")


def unavailable_reason() -> str | None:
    """Why pixel envs cannot be built in a *fresh* process here, or None if they can (as far as a
    check without importing dm_control can tell: the backend's shared library is present)."""
    backend = preferred_backend().lower()
    library = _LIBRARIES.get(backend)
    if backend == "glfw" and not os.environ.get("DISPLAY"):
        return "MUJOCO_GL=glfw needs a display (DISPLAY is unset)"
    if library is not None and ctypes.util.find_library(library) is None:
        return f"MUJOCO_GL={backend} needs {_INSTALL_HINT[backend]}, which is not installed"
    return None


def configure() -> str:
    """Make sure dm_control will render headless; returns the backend name. Idempotent.

    Raises :class:`RenderingUnavailable` when it cannot (see the module doc).
    """
    render = sys.modules.get("dm_control._render")
    if render is not None:
        backend = getattr(render, "BACKEND", None)
        if backend in ("egl", "osmesa") or (backend == "glfw" and os.environ.get("DISPLAY")):
            return backend
        raise RenderingUnavailable(
            f"dm_control was imported before pixels were requested and chose OpenGL backend {backend!r}, "
            "which cannot render headless; set MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa (CPU) before starting Python"
        )
    if "MUJOCO_GL" not in os.environ:
        reason = unavailable_reason()
        if reason is not None:
            raise RenderingUnavailable(f"pixel observations: {reason}")
        os.environ["MUJOCO_GL"] = preferred_backend()
    return os.environ["MUJOCO_GL"]
