"""Study parameters: one typed, validated :class:`Params` object loaded from ``params.yml``.

Every stage of the study reads its options from one YAML file so that the whole book can be re-run
on other data or models with ``make book PARAMS=other.yml`` and no notebook edits. The file is
checked once, here, when it is loaded: unknown keys are rejected with the nearest valid key named,
values are type- and range-checked, and model, metric, region and dataset names are checked against
their registries. Everything downstream takes a :class:`Params` (or plain arguments), never a raw dict.

Keys and defaults (the study's own; ``params.yml`` spells them out)
-------------------------------------------------------------------
``dataset``, ``data_root``, ``cache_dir``, ``models`` are required; every other key has a default:
``device`` ``"cpu"``, ``seed`` 0, ``metrics`` the 8 study metrics, ``extra_metrics`` debiased CKA and
dCor, ``windows`` four 250 ms windows, ``regions`` the 7 standard regions (or a dict of channel
lists), ``factor_metric_regions`` ``["all"]``, ``min_words`` 4, ``n_permutations`` 100,
``null_kind`` ``"shift"``, ``keep`` ``[sentence]`` (per-sentence scores, which the by-sentence group tests need; ``[]`` stores none),
``scheduler`` none (the grid's chunks run here; ``local`` or a Dask scheduler address), ``stimuli_file`` ``"stimuli/stimuli.tsv"``, ``eeg`` (see
:data:`hearlike.eeg.DEFAULT_PREPROCESSING`), ``tnc`` (:class:`TncParams`), ``extraction``
(:class:`ExtractionParams`), ``notebooks`` (per-notebook papermill parameters), ``subjects``
(None: the dataset's default selection; ``all``, ``paper`` or a list), ``runs`` (None: all runs),
``protocol`` ``"hearlike"`` (or ``"paper"``: the reference study's protocol as a preset, ``params-paper.yml``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml


logger = logging.getLogger(__name__)
__all__ = ["Params", "TncParams", "ExtractionParams", "load_params", "params_from_dict", "project_root",
           "REFERENCE_PREFIX", "TINY_PREFIX", "KEEP_OPTIONS"]

from .checks import REQUIRED_KEYS, Checker, check_keys
from .records import (_DEFAULT_METRICS, _DEFAULT_REGIONS, _VALIDATE, KEEP_OPTIONS, REFERENCE_PREFIX, TINY_PREFIX,
                      ExtractionParams, Params, TncParams, project_root)


def load_params(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Params:
    """Load and validate a study parameter file.

    Parameters
    ----------
    path : str or Path
        YAML file such as ``params.yml``. Relative paths inside it (``data_root``, ``cache_dir``)
        are resolved against the file's folder.
    overrides : mapping, optional
        Values replacing entries of the file (e.g. a tiny test configuration), applied before
        validation; their relative paths are resolved against the current directory.

    Returns
    -------
    Params

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For invalid YAML, unknown keys (the nearest valid key is named), wrong types or ranges, or
        unknown model/metric/region/dataset names; the message names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} does not exist (copy params.yml and edit it)")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"parameter file {path} is not valid YAML: {err}") from err
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"parameter file {path} must hold a mapping of keys, got {type(values).__name__}")
    odd = [k for k in values if not isinstance(k, str)]
    if odd:
        raise ValueError(
            f"parameter file {path} has key(s) {odd} that YAML does not read as names (a bare `null:`, `true:`, "
            "`no:` or a number); write the intended key, e.g. `null_kind:`"
        )
    base = path.resolve().parent
    values = {k: (str((base / v).resolve()) if k in ("data_root", "cache_dir") and isinstance(v, str) else v)
              for k, v in values.items()}
    if isinstance(values.get("model_paths"), dict):
        values["model_paths"] = {k: str((base / v).resolve()) if isinstance(v, str) else v
                                 for k, v in values["model_paths"].items()}
    for key, value in (overrides or {}).items():
        values[key] = str(Path(value).resolve()) if key in ("data_root", "cache_dir") else value
    return params_from_dict(values, source=path.resolve(), base=None)


def params_from_dict(values: Mapping[str, Any], *, source: str | Path | None = None,
                     base: str | Path | None = None) -> Params:
    """Validate a mapping of parameter values (as in ``params.yml``) and build :class:`Params`.

    Parameters
    ----------
    values : mapping
        Keys as in ``params.yml``.
    source : path, optional
        The file the values came from (named in error messages; stored as ``params_file``).
    base : path, optional
        Folder that relative ``data_root``/``cache_dir`` are resolved against (default: the cwd).
    """
    where = f"parameter file {source}" if source else "parameters"
    values = dict(values)
    values.pop("params_file", None)
    check_keys(values, where)
    missing = [k for k in REQUIRED_KEYS if k not in values]
    if missing:
        hints = "; ".join(f"{k}: {REQUIRED_KEYS[k]}" for k in missing)
        raise ValueError(f"{where} lacks required keys {missing} ({hints})")
    check = Checker(where)
    base = Path(base) if base is not None else Path.cwd()
    eeg = check.eeg(values.get("eeg"))
    protocol = check.protocol(values.get("protocol", "hearlike"))
    kwargs = dict(
        dataset=check.name("dataset", values["dataset"]),
        data_root=(base / check.text("data_root", values["data_root"])).resolve(),
        cache_dir=(base / check.text("cache_dir", values["cache_dir"])).resolve(),
        models=check.models(values["models"]),
        metrics=check.metrics("metrics", values.get("metrics", _DEFAULT_METRICS)),
        extra_metrics=check.metrics("extra_metrics", values.get("extra_metrics", ("cka_debiased", "dcor_debiased"))),
        windows=check.windows(values.get("windows"), eeg, protocol=protocol),
        regions=check.regions(values.get("regions", _DEFAULT_REGIONS)),
        min_words=check.integer("min_words", values.get("min_words", 4), low=3),
        n_permutations=check.integer("n_permutations", values.get("n_permutations", 100), low=1),
        null_kind=check.null_kind(values.get("null_kind", "shift")),
        seed=check.integer("seed", values.get("seed", 0), low=0),
        keep=check.keep(values.get("keep", ("sentence",))),
        scheduler=check.scheduler(values.get("scheduler")),
        device=check.device(values.get("device", "cpu")),
        stimuli_file=check.text("stimuli_file", values.get("stimuli_file", "stimuli/stimuli.tsv")),
        eeg=MappingProxyType(eeg),
        tnc=check.record("tnc", values.get("tnc"), TncParams),
        extraction=check.extraction(values.get("extraction")),
        notebooks=check.notebooks(values.get("notebooks")),
        subjects=check.subjects(values.get("subjects")),
        runs=check.runs(values.get("runs")),
        model_paths=check.model_paths(values.get("model_paths"), base),
        protocol=protocol,
        params_file=Path(source) if source else None,
    )
    kwargs["factor_metric_regions"] = check.factor_regions(values.get("factor_metric_regions", ("all",)),
                                                           kwargs["regions"])
    params = Params(**kwargs)
    check.metric_words(params)
    check.paper_metrics(params)
    check.tnc_model(params)
    check.demo_flavour(params)
    return params



_VALIDATE.append(params_from_dict)  # Params.replace validates through the loader
