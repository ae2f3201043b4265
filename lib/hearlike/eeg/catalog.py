"""The dataset catalogue (``hearlike/data/datasets.yml``): citations, licences, DOIs, layouts, downloads.

Nothing here reads EEG: the readers are the dataset records of :mod:`hearlike.eeg.datasets`, and
:func:`hearlike.eeg.fetch` downloads. The catalogue is package data, read with
:mod:`importlib.resources`, so an installed (non-editable) package finds it; the repository's
``data/datasets.yml`` is a link to it.
"""

from __future__ import annotations

import functools
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

#: Environment variable naming the folder that holds one sub-folder per dataset.
DATA_ENV = "HEARLIKE_DATA"


def catalog_path() -> Path:
    """Path of the packaged ``hearlike/data/datasets.yml``."""
    return Path(str(resources.files("hearlike").joinpath("data", "datasets.yml")))


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(resources.files("hearlike").joinpath("data", "datasets.yml").read_text(encoding="utf-8"))


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
            f"(a new dataset needs an entry in {catalog_path()} and a record in hearlike.eeg.datasets)"
        )
    return dict(catalog[name])


def data_root(name: str, root: str | Path | None = None) -> Path:
    """Folder holding dataset ``name``: ``root`` if given, else ``$HEARLIKE_DATA/<name>``.

    Falls back to ``<repository>/data/<name>`` when ``HEARLIKE_DATA`` is unset (``./data/<name>``
    outside a source checkout).
    """
    if root is not None:
        return Path(root).expanduser()
    base = os.environ.get(DATA_ENV)
    base_path = Path(base).expanduser() if base else _repository_root() / "data"
    return base_path / name


def _repository_root() -> Path:
    """The source checkout holding this package (``pyproject.toml`` beside ``lib/``), else the cwd.

    The rule of :func:`hearlike.config.project_root`, repeated rather than imported: the parameter
    schema validates dataset names against this catalogue, so importing config here would close an
    import circle.
    """
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").exists() and (parent / "lib").is_dir():
            return parent
    return Path.cwd()
