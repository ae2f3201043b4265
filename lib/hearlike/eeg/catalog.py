"""The dataset catalogue (``data/datasets.yml``): specs, data folders and :func:`fetch`.

Nothing here reads EEG; it only says where a dataset lives, how it is laid out and how to get it.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from ..config import project_root

logger = logging.getLogger(__name__)

#: Environment variable naming the folder that holds one sub-folder per dataset.
DATA_ENV = "HEARLIKE_DATA"
#: Set to 1 to forbid any network access in :func:`fetch`.
OFFLINE_ENV = "HEARLIKE_OFFLINE"


def catalog_path() -> Path:
    """Path of ``datasets.yml`` (repository ``data/`` folder, else packaged ``hearlike/data``)."""
    candidates = [
        project_root() / "data" / "datasets.yml",
        Path(__file__).resolve().parents[1] / "data" / "datasets.yml",
    ]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(f"datasets.yml not found; looked in {[str(p) for p in candidates]}")


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(catalog_path().read_text())


def dataset_names() -> list[str]:
    """Names of the datasets in the catalogue (``broderick2018``, ``alice2019``, ``bids``, ...)."""
    return list(_catalog())


def dataset_spec(name: str) -> dict[str, Any]:
    """Return the catalogue entry of dataset ``name`` (a copy).

    Raises
    ------
    ValueError
        If ``name`` is not in ``datasets.yml``; the message lists the known names.
    """
    catalog = _catalog()
    if name not in catalog:
        raise ValueError(
            f"unknown EEG dataset {name!r}; known datasets: {sorted(catalog)} "
            f"(add an entry to {catalog_path()} to register a new one)"
        )
    return dict(catalog[name])


def data_root(name: str, root: str | Path | None = None) -> Path:
    """Folder holding dataset ``name``: ``root`` if given, else ``$HEARLIKE_DATA/<name>``.

    Falls back to ``<repository>/data/<name>`` when ``HEARLIKE_DATA`` is unset.
    """
    if root is not None:
        return Path(root).expanduser()
    base = os.environ.get(DATA_ENV)
    base_path = Path(base).expanduser() if base else project_root() / "data"
    return base_path / name


def _network_available(url: str, *, timeout_s: float = 2.0) -> bool:
    """True if a TCP connection to the host of ``url`` opens within ``timeout_s``."""
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
    return (
        f"dataset {name!r} is not in {dest} and cannot be downloaded here (no network, or no "
        f"direct download). Download it by hand from {where} and unpack it so that {dest} holds:\n"
        f"{lines}\n"
        f"or point the environment variable {DATA_ENV} at a folder containing '{name}/' "
        f"(currently {DATA_ENV}={os.environ.get(DATA_ENV, '<unset>')!s})."
    )


def is_present(name: str, root: str | Path) -> bool:
    """Cheap check that ``root`` looks like a copy of dataset ``name`` (not a full validation)."""
    root = Path(root)
    reader = dataset_spec(name).get("reader")
    if not root.is_dir():
        return False
    if reader == "broderick":
        return any(root.glob("EEG/Subject*/Subject*_Run*.mat")) or any(root.glob("Subject*/Subject*_Run*.mat"))
    if reader == "alice":
        return (root / "AliceChapterOne-EEG.csv").exists() and any(root.glob("S*.vhdr"))
    return any(root.glob("sub-*/eeg/*_events.tsv")) or any(root.glob("bids/sub-*/eeg/*_events.tsv"))


def fetch(name: str, *, dest: str | Path | None = None) -> Path:
    """Make dataset ``name`` available locally and return its folder.

    If the files are already in ``dest`` (default ``$HEARLIKE_DATA/<name>``) nothing happens.
    Otherwise the archives listed under ``files`` in ``datasets.yml`` are downloaded with pooch
    (checked against ``known_hash`` when pinned) and unpacked into ``dest``.

    Parameters
    ----------
    name : str
        Catalogue name, e.g. ``"broderick2018"`` or ``"alice2019"``.
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
    spec = dataset_spec(name)
    dest = data_root(name, dest)
    if is_present(name, dest):
        logger.info("dataset %s found in %s", name, dest)
        return dest
    if spec.get("generated_by"):
        raise RuntimeError(
            f"dataset {name!r} is generated locally, not downloaded: run {spec['generated_by']} "
            f"(e.g. `python -m hearlike demo`) to write it to {dest}"
        )
    files = spec.get("files") or []
    if not files or not all(_network_available(f["url"]) for f in files):
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
