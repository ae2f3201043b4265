"""Progress bars that honour ``TQDM_DISABLE``.

tqdm reads ``TQDM_DISABLE`` only as the *default* of ``disable=``; a ``disable=`` passed explicitly
overrides it, and the executed notebooks of the book then carry progress bars. Pass
``disable=disabled(...)`` instead.
"""

from __future__ import annotations

import os

__all__ = ["disabled"]


def disabled(default: bool | None = False) -> bool | None:
    """``True`` when the environment sets ``TQDM_DISABLE`` (to anything but ``0``/``false``/empty), else ``default``."""
    value = os.environ.get("TQDM_DISABLE", "").strip().lower()
    return True if value not in ("", "0", "false", "no") else default
