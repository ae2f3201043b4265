"""Getting a dataset's files: :func:`fetch` (pooch downloads, or instructions for a manual download).

Where the files come from is in the catalogue (``files``, ``landing_page``, ``doi`` and ``layout``
of ``hearlike/data/datasets.yml``); whether they are present is the dataset record's check
(:mod:`hearlike.eeg.datasets`). Nothing is downloaded in the tests.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .catalog import DATA_ENV, data_root, dataset_spec
from .datasets import dataset_record

logger = logging.getLogger(__name__)

#: Set to 1 to forbid any network access in :func:`fetch`.
OFFLINE_ENV = "HEARLIKE_OFFLINE"


def network_available(url: str, *, timeout_s: float = 2.0) -> bool:
    """True if a TCP connection to the host of ``url`` opens within ``timeout_s`` (never with HEARLIKE_OFFLINE=1)."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    host = urlparse(url).hostname
    if not host:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _manual_instructions(name: str, spec: dict[str, Any], dest: Path) -> str:
    layout = spec.get("layout", {})
    lines = "\n".join(f"    {key}: {pattern}" for key, pattern in layout.items())
    where = spec.get("landing_page") or spec.get("doi") or "its publisher"
    sources = "".join(f"\n    {source}" for source in spec.get("sources") or [])
    return (
        f"dataset {name!r} is not in {dest} and cannot be downloaded here (no network, or no "
        f"direct download). Download it by hand from {where}"
        f"{' — the files:' + sources if sources else ''}\nand unpack it so that {dest} holds:\n"
        f"{lines}\n"
        f"or point the environment variable {DATA_ENV} at a folder containing '{name}/' "
        f"(currently {DATA_ENV}={os.environ.get(DATA_ENV, '<unset>')!s}). Then check the folder with "
        f"`hearlike check-data {name} {dest}`."
    )


def is_present(name: str, root: str | Path) -> bool:
    """Cheap check that ``root`` looks like a copy of dataset ``name`` (not a full validation)."""
    root = Path(root)
    return root.is_dir() and dataset_record(name).is_present(root)


def fetch(name: str, *, dest: str | Path | None = None) -> Path:
    """Make dataset ``name`` available locally and return its folder.

    If the files are already in ``dest`` (default ``$HEARLIKE_DATA/<name>``) nothing happens.
    Otherwise the archives listed under ``files`` in ``datasets.yml`` are downloaded with pooch
    (checked against ``known_hash`` when pinned) and unpacked into ``dest``.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"broderick2018"`` or ``"alice2019"``.
    dest : str or Path, optional
        Target folder.

    Returns
    -------
    Path
        The dataset folder.

    Raises
    ------
    RuntimeError
        With step-by-step instructions when the data are missing and cannot be downloaded (no
        network, ``HEARLIKE_OFFLINE=1``, a dataset served only by hand, or a generated dataset).
    """
    record = dataset_record(name)
    spec = dataset_spec(name)
    dest = data_root(name, dest)
    if is_present(name, dest):
        logger.info("dataset %s found in %s", name, dest)
        return dest
    if record.generated_by:
        raise RuntimeError(
            f"dataset {name!r} is generated locally, not downloaded: run {record.generated_by} "
            f"(e.g. `python -m hearlike demo`) to write it to {dest}"
        )
    files = spec.get("files") or []
    if not files or not all(network_available(f["url"]) for f in files):
        raise RuntimeError(_manual_instructions(name, spec, dest))
    import pooch  # imported lazily: only needed when downloading

    dest.mkdir(parents=True, exist_ok=True)
    for item in files:
        processor = pooch.Unzip(extract_dir=str(dest)) if item.get("unzip") else None
        logger.info("downloading %s (%s)", item["url"], name)
        pooch.retrieve(
            item["url"],
            known_hash=item.get("known_hash"),
            fname=item.get("fname"),
            path=dest / ".download",
            processor=processor,
            progressbar=True,
        )
    if not is_present(name, dest):
        raise RuntimeError(
            f"downloaded {name!r} into {dest} but the expected layout is missing; "
            + _manual_instructions(name, spec, dest)
        )
    return dest
