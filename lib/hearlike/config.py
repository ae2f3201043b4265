"""Study parameters (``params.yml``), config hashing and project paths.

Every stage of the study reads its options from one YAML file so that the whole book can be re-run
on other data or models with ``make book PARAMS=other.yml`` and no notebook edits.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

#: Keys every parameter file must define, with what they mean (used in error messages).
REQUIRED_KEYS = {
    "dataset": "name of the EEG dataset ('demo', 'demo-null', 'broderick2018', 'alice2019', 'bids')",
    "data_root": "folder holding the dataset (stimuli.tsv, audio, EEG)",
    "cache_dir": "folder for cached model states, epochs and metric grids",
    "models": "list of model keys from `hearlike models` (or 'oracle')",
    "metrics": "list of metric names from `hearlike metrics`",
    "n_permutations": "number of within-sentence permutations for the null",
    "seed": "random seed",
}


def project_root() -> Path:
    """Return the repository root (the folder holding ``pyproject.toml``), else the cwd."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "lib").is_dir():
            return parent
    return Path.cwd()


def load_params(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and validate a study parameter file.

    Parameters
    ----------
    path : str or Path
        YAML file such as ``params.yml``. Relative paths inside it (``data_root``,
        ``cache_dir``) are resolved against the file's folder.
    overrides : dict, optional
        Values replacing entries of the file (e.g. a tiny test configuration), applied before
        validation; their relative paths are resolved against the current directory.

    Returns
    -------
    params : dict
        The parameters, with ``data_root``/``cache_dir`` as absolute path strings and
        ``params_file`` set to the file's absolute path.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"parameter file {path} does not exist (copy params.yml and edit it)")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"parameter file {path} is not valid YAML: {err}") from err
    if not isinstance(params, dict):
        raise ValueError(f"parameter file {path} must hold a mapping of keys, got {type(params).__name__}")
    odd = [k for k in params if not isinstance(k, str)]
    if odd:
        raise ValueError(
            f"parameter file {path} has key(s) {odd} that YAML does not read as names (a bare `null:`, `true:`, "
            "`no:` or a number); write the intended key, e.g. `null_kind:`"
        )
    base = path.resolve().parent
    for key in ("data_root", "cache_dir"):
        if key in params:
            params[key] = str((base / params[key]).resolve())
    for key, value in (overrides or {}).items():
        params[key] = str(Path(value).resolve()) if key in ("data_root", "cache_dir") else value
    missing = [k for k in REQUIRED_KEYS if k not in params]
    if missing:
        hints = "; ".join(f"{k}: {REQUIRED_KEYS[k]}" for k in missing)
        raise ValueError(f"parameter file {path} lacks required keys {missing} ({hints})")
    params["params_file"] = str(path.resolve())
    return params


def config_hash(config: Any, *, length: int = 12) -> str:
    """Stable short hash of a JSON-serialisable configuration (order of dict keys ignored)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
