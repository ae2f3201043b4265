"""When the book was built and with which plotting, text and speech software (the reproducibility page)."""

from __future__ import annotations

import ctypes
import datetime
import importlib.metadata

import pandas as pd

__all__ = ["espeak_version", "build_table"]

#: packages whose versions change the book's figures, text labels or speech (beside methods.environment_table)
PACKAGES = ("matplotlib", "seaborn", "sentence-transformers", "espeakng-loader", "sphinxcontrib-bibtex")


def espeak_version() -> str:
    """Version of the libespeak-ng that synthesises the demo's speech (``espeak_Info``), or why it is unknown."""
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
    except (ImportError, OSError) as err:
        return f"not available ({err.__class__.__name__})"
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    return lib.espeak_Info(None).decode()


def build_table(*, now: datetime.datetime | None = None) -> pd.DataFrame:
    """Build date (UTC) and versions of :data:`PACKAGES` and libespeak-ng, one row each (column ``value``)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rows = {"book built (UTC)": now.strftime("%Y-%m-%d %H:%M")}
    for name in PACKAGES:
        try:
            rows[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            rows[name] = "not installed"
    rows["libespeak-ng"] = espeak_version()
    return pd.DataFrame({"value": rows}).rename_axis("item")
