"""The study end to end, cached: stimuli -> model states -> EEG epochs -> metric grid.

Every notebook calls these functions with the parameter dict from :func:`hearlike.config.load_params`,
so the three findings share one set of cached intermediate results under ``params["cache_dir"]``:

- ``states/<model>__<dataset>.nc``  per-word layer states (written by :mod:`hearlike.models`);
- ``epochs-*.nc``                   word epochs per subject (written by :mod:`hearlike.eeg`);
- ``grid-<hash>.nc``                the metric grid (written here, atomically).

A killed run resumes from whatever was cached; a changed parameter changes the hash and recomputes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .cache import read_netcdf
from .config import config_hash

logger = logging.getLogger(__name__)

#: model keys served from the dataset folder (``<data_root>/states/<key>.nc``) instead of a network
REFERENCE_PREFIX = "oracle"
#: prefix of tiny random-weight models built offline from a real architecture's config
TINY_PREFIX = "tiny-"


def windows_of(params: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``[(name, start_ms, stop_ms), ...]`` from ``params["windows"]`` (mapping name -> [start, stop])."""
    from .eeg import DEFAULT_WINDOWS

    windows = params.get("windows")
    if not windows:
        return list(DEFAULT_WINDOWS)
    return [(str(name), float(span[0]), float(span[1])) for name, span in windows.items()]


def stimuli_path(params: dict[str, Any]) -> Path:
    """The stimulus table: ``params["stimuli_file"]`` relative to ``data_root`` (default
    ``stimuli/stimuli.tsv``). Its ``audio_path`` entries are relative to its folder."""
    return Path(params["data_root"]) / params.get("stimuli_file", "stimuli/stimuli.tsv")


def stimuli_of(params: dict[str, Any]) -> pd.DataFrame:
    """The study's stimulus table (validated; see :func:`stimuli_path`)."""
    from .stimuli import load_stimuli

    return load_stimuli(stimuli_path(params))


def data_fingerprint(params: dict[str, Any]) -> str:
    """A short hash identifying the dataset's content, so caches never outlive the data they came from.

    The demo's own configuration hash (``ground_truth.json``) when present; otherwise the stimulus
    table's bytes plus the size and modification time of every file under ``data_root``.
    """
    import hashlib
    import json

    root = Path(params["data_root"])
    truth = root / "ground_truth.json"
    if truth.exists():
        return str(json.loads(truth.read_text()).get("config_hash", ""))[:12] or config_hash(truth.read_text())
    digest = hashlib.sha256()
    table = stimuli_path(params)
    if table.exists():
        digest.update(table.read_bytes())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def _cache(params: dict[str, Any], kind: str) -> Path:
    """``<cache_dir>/<kind>/<data fingerprint>``: caches of one version of the data."""
    return Path(params["cache_dir"]) / kind / data_fingerprint(params)


def tiny_stands_for(key: str) -> str:
    """The registry key whose architecture the tiny model ``key`` (``"tiny-<family>"``) is built from:
    the first registry entry of that family."""
    from .models import REGISTRY
    from .models.tiny import TINY_FAMILIES

    family = key[len(TINY_PREFIX):].replace("-", "_").replace(".", "_")
    if family not in TINY_FAMILIES:
        known = sorted(TINY_PREFIX + f.replace("_", "-") for f in TINY_FAMILIES)
        raise ValueError(f"unknown tiny model {key!r}; known: {known}")
    return next(k for k, spec in REGISTRY.items() if spec.family == family)


def model_states(params: dict[str, Any], key: str, *, model_path: str | Path | None = None) -> xr.Dataset:
    """Per-word layer states of model ``key`` for the study's dataset.

    Parameters
    ----------
    params : dict
        Study parameters (``data_root``, ``cache_dir``, ``dataset``, ``device``).
    key : str
        ``"oracle..."`` (reference states shipped with the dataset), ``"tiny-<family>"`` (a tiny
        random-weight model of a real architecture, built offline and saved under the cache), or a
        registry key from ``hearlike models`` (real weights from ``model_path`` or the Hub cache).
    model_path : path, optional
        Local weights folder for a registry model.

    Returns
    -------
    Dataset
        ``encoder`` / ``decoder`` states with word coordinates (see ARCHITECTURE.md).
    """
    from .models import REGISTRY, extract_states, save_tiny

    if key.startswith(REFERENCE_PREFIX):
        path = Path(params["data_root"]) / "states" / f"{key}.nc"
        states = read_netcdf(path)
        if states is None:
            raise FileNotFoundError(f"reference states {path} are missing; write the demo with `python -m hearlike demo`")
        return states
    cache_dir = _cache(params, "states")
    registry_key = key
    if key.startswith(TINY_PREFIX):
        registry_key = tiny_stands_for(key)
        family = REGISTRY[registry_key].family
        model_path = Path(params["cache_dir"]) / "tiny-models" / family
        if not (model_path / "config.json").exists():
            save_tiny(family, model_path, seed=int(params.get("seed", 0)))
        cache_dir = cache_dir / "tiny"
    return extract_states(
        registry_key, stimuli_of(params), stimuli_root=stimuli_path(params).parent, cache_dir=cache_dir,
        model_path=model_path, dataset=params["dataset"], device=params.get("device", "cpu"),
        **(params.get("extraction") or {}),
    )


def layer_states(params: dict[str, Any], key: str) -> xr.DataArray:
    """Model states of ``key`` stacked along ``layer`` (see :func:`hearlike.models.stack_layers`)."""
    from .models import stack_layers

    return stack_layers(model_states(params, key))


def epochs_of(params: dict[str, Any]) -> xr.DataArray:
    """Word epochs (subject, word, channel, time) of the study's dataset, cached per subject."""
    from .eeg import load_epochs

    return load_epochs(
        params["dataset"], stimuli=stimuli_of(params), params=params.get("eeg"),
        cache_dir=_cache(params, "epochs"), root=params["data_root"],
    )


def surrogates_of(params: dict[str, Any], epochs: xr.DataArray, n_surrogates: int):
    """Timing-preserving surrogate epochs for the ``shift`` null (:mod:`hearlike.eeg.surrogates`)."""
    from .eeg import load_recordings, surrogate_epochs, validate_preprocessing

    recordings = load_recordings(
        params["dataset"], stimuli=stimuli_of(params), params=params.get("eeg"),
        cache_dir=_cache(params, "epochs"), root=params["data_root"],
    )
    return surrogate_epochs(recordings, epochs, n_surrogates=n_surrogates, params=validate_preprocessing(params.get("eeg")),
                            seed=int(params.get("seed", 0)))


def regions_of(params: dict[str, Any], epochs: xr.DataArray) -> dict[str, list[str]]:
    """Scalp regions named in ``params["regions"]`` from the epochs' channel positions."""
    from .eeg import epochs_info, regions_from_montage

    regions = regions_from_montage(epochs_info(epochs))
    wanted = params.get("regions") or list(regions)
    unknown = [r for r in wanted if r not in regions]
    if unknown:
        raise ValueError(f"unknown regions {unknown} in {params.get('params_file')}; known: {sorted(regions)}")
    return {r: regions[r] for r in wanted}


def grid_config(params: dict[str, Any]) -> dict[str, Any]:
    """The part of the parameters that determines the metric grid (its cache key)."""
    keys = ("dataset", "data_root", "models", "metrics", "extra_metrics", "windows", "regions", "factor_metric_regions",
            "min_words", "n_permutations", "seed", "eeg", "extraction")
    return {k: params.get(k) for k in keys} | {"null_kind": null_kind_of(params), "data": data_fingerprint(params)}


def null_kind_of(params: dict[str, Any]) -> str:
    """The permutation null of the study (``null_kind``, default ``"shift"``; see :data:`hearlike.grid.NULLS`)."""
    from .grid import NULLS

    kind = params.get("null_kind", "shift")
    if kind not in NULLS:
        raise ValueError(f"null_kind {kind!r} in {params.get('params_file')} is not one of {NULLS}")
    return kind


def metric_grid(params: dict[str, Any], *, keep_sentences: bool = True, recompute: bool = False) -> xr.Dataset:
    """The metric grid (model, layer, subject, window, region, metric) of the study, cached.

    Parameters
    ----------
    params : dict
        Study parameters.
    keep_sentences : bool
        Keep per-sentence scores (dim ``sentence``) for condition contrasts (finding 3).
    recompute : bool
        Ignore a cached grid.

    Returns
    -------
    Dataset
        See :func:`hearlike.grid.compute_grid`, plus ``group_null`` (model, layer, window, region,
        metric, permutation): the subject-mean null samples; cached as ``<cache_dir>/grid-<hash>.nc``.
    """
    from .grid import compute_grid, load_grid, save_grid

    config = dict(grid_config(params), keep_sentences=keep_sentences)
    digest = config_hash(config)
    path = Path(params["cache_dir"]) / f"grid-{digest}.nc"
    if not recompute and path.exists():
        cached = load_grid(path, config_hash=digest)
        if cached is not None:
            return cached
    epochs = epochs_of(params)
    states = {key: layer_states(params, key) for key in params["models"]}
    metrics = list(params["metrics"]) + list(params.get("extra_metrics") or [])
    regions = regions_of(params, epochs)
    common = dict(windows=windows_of(params), n_permutations=int(params["n_permutations"]), seed=int(params["seed"]),
                  null_kind=null_kind_of(params),
                  device=params.get("device", "cpu"), min_words=int(params.get("min_words", 3)),
                  keep_sentences=keep_sentences, keep_null=True)
    if common["null_kind"] == "shift":
        common["surrogates"] = surrogates_of(params, epochs, common["n_permutations"])
    # Procrustes and SVCCA need a small eigendecomposition per sentence × cell × permutation, the
    # other metrics one inner product; the former are computed only over `factor_metric_regions`
    # (default: all regions), and are NaN for the other regions.
    factor_regions = [r for r in (params.get("factor_metric_regions") or list(regions)) if r in regions]
    grid = compute_grid(states, epochs, regions=regions, metrics=metrics, factor_regions=factor_regions, **common)
    # group-level null (subject mean under the same permutations) for corrected group statistics;
    # the per-subject null samples are large and not needed downstream
    grid["group_null"] = grid["null"].mean("subject").astype("float32")
    grid = grid.drop_vars("null")
    grid.attrs["config_hash"] = digest
    grid.attrs["dataset"] = params["dataset"]
    save_grid(grid, path)
    return grid


def searchlight(params: dict[str, Any], *, model: str, layer: str, metric: str = "spearman_rsa",
                n_neighbours: int = 4, n_permutations: int | None = None) -> xr.Dataset:
    """Channel searchlight: alignment of one model layer with each channel's neighbourhood.

    Each "region" is one channel plus its ``n_neighbours`` nearest channels (3-D montage
    distance); every window of the study is scored. Cached like :func:`metric_grid`.

    Returns
    -------
    Dataset
        The grid restricted to that model/layer/metric, with the ``region`` dim renamed ``channel``
        (dims subject, window, channel): ``score``, ``null_mean``, ``excess``, ``p_value``.
    """
    import numpy as np

    from .grid import compute_grid, load_grid, save_grid

    n_permutations = int(params["n_permutations"] if n_permutations is None else n_permutations)
    config = dict(grid_config(params), searchlight=[model, layer, metric, n_neighbours, n_permutations])
    digest = config_hash(config)
    path = Path(params["cache_dir"]) / f"searchlight-{digest}.nc"
    cached = load_grid(path, config_hash=digest) if path.exists() else None
    if cached is not None:
        return cached
    epochs = epochs_of(params)
    positions = np.stack([epochs[c].values for c in ("ch_x", "ch_y", "ch_z")], axis=1)
    names = [str(c) for c in epochs["channel"].values]
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    neighbourhoods = {names[i]: [names[j] for j in np.argsort(distances[i])[: n_neighbours + 1]] for i in range(len(names))}
    states = layer_states(params, model).sel(layer=[layer])
    null_kind = null_kind_of(params)
    surrogates = surrogates_of(params, epochs, n_permutations) if null_kind == "shift" else None
    grid = compute_grid({model: states}, epochs, windows=windows_of(params), regions=neighbourhoods, metrics=[metric],
                        n_permutations=n_permutations, seed=int(params["seed"]), device=params.get("device", "cpu"),
                        null_kind=null_kind, surrogates=surrogates,
                        min_words=int(params.get("min_words", 3)))
    grid = grid.squeeze(["model", "layer", "metric"], drop=True).rename(region="channel")
    grid.attrs["config_hash"] = digest
    save_grid(grid, path)
    return grid


def tnc_of(params: dict[str, Any]) -> dict[str, Any]:
    """TNC labels of the study's sentences, and their sensitivity to ``k`` and ``theta``.

    The model view uses ``params["tnc"]["model"]`` (default: the first model) at the layer whose
    relative depth is closest to ``params["tnc"]["model_layer_depth"]`` (default 0.6).

    Returns
    -------
    dict
        ``labels`` (DataFrame, one row per sentence: label, seeds, consistencies, confidence),
        ``sensitivity`` (DataFrame over k × theta; precision/recall when the stimuli carry planted
        ``prosody`` labels), ``planted`` (bool Series or None), ``model``, ``layer``.
    """
    import numpy as np

    from .tnc import tnc_labels, tnc_sensitivity, tnc_views

    options = dict(params.get("tnc") or {})
    model = options.get("model", params["models"][0])
    states = layer_states(params, model)
    depth = np.asarray(states["relative_depth"].values, dtype=float)
    index = int(np.argmin(np.abs(depth - float(options.get("model_layer_depth", 0.6)))))
    layer = str(states["layer"].values[index])
    word_states = states.isel(layer=index)
    width = int(word_states["n_features"]) if "n_features" in word_states.coords else word_states.sizes["feature"]
    word_states = word_states.isel(feature=slice(0, width))
    table = stimuli_of(params)
    embeddings, seeds = tnc_views(table, word_states, root=stimuli_path(params).parent)
    k, theta = int(options.get("k", 5)), float(options.get("theta", 0.6))
    labels = tnc_labels(embeddings, seeds, k=k, theta=theta)
    labels["sentence_text"] = table.groupby("sentence_id")["sentence_text"].first().reindex(labels.index)
    planted = None
    if "prosody" in table.columns:
        planted = table.groupby("sentence_id")["prosody"].first().eq("negative")
    sensitivity = tnc_sensitivity(embeddings, seeds, planted=planted)
    return {"labels": labels, "sensitivity": sensitivity, "planted": planted, "model": model, "layer": layer,
            "embeddings": embeddings, "seeds": seeds}
