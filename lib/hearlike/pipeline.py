"""The study end to end, cached: stimuli -> model states -> EEG epochs -> metric grid.

Every notebook calls these functions with the :class:`~hearlike.config.Params` from
:func:`hearlike.config.load_params`, so the three findings share one set of cached intermediate results
under ``params.cache_dir``:

- ``states/<model>__<dataset>.nc``  per-word layer states (written by :mod:`hearlike.models`);
- ``epochs-*.nc``                   word epochs per subject (written by :mod:`hearlike.eeg`);
- ``grid-<hash>.nc``                the metric grid (written here, atomically).

A killed run resumes from whatever was cached; a changed parameter changes the hash and recomputes.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any
import pandas as pd
import xarray as xr

from .cache import config_hash, file_lock, read_netcdf
from .config import REFERENCE_PREFIX, TINY_PREFIX, Params

logger = logging.getLogger(__name__)


def windows_of(params: Params) -> list[tuple[str, float, float]]:
    """``[(name, start_ms, stop_ms), ...]`` of the study."""
    return [tuple(w) for w in params.windows]


def stimuli_path(params: Params) -> Path:
    """The stimulus table (``data_root / stimuli_file``); its ``audio_path`` entries are relative to its folder."""
    return params.stimuli_path


def stimuli_of(params: Params) -> pd.DataFrame:
    """The study's stimulus table (validated; see :func:`stimuli_path`)."""
    from .stimuli import load_stimuli

    return load_stimuli(stimuli_path(params))


#: small text files whose bytes enter the data fingerprint (headers, event tables, word tables, metadata)
_FINGERPRINT_TEXT = {".tsv", ".csv", ".json", ".vhdr", ".vmrk", ".txt", ".textgrid", ".yml", ".yaml", ".sfp"}
_FINGERPRINT_TEXT_MAX_BYTES = 2_000_000


#: data_root -> (its files' stat signature, fingerprint): the bytes are hashed again only when a stat changes
_FINGERPRINTS: dict[Path, tuple[int, str]] = {}


def _data_files(root: Path) -> list[tuple[str, os.stat_result]]:
    """``(relative path, stat)`` of every file under ``root`` (hidden files left out), sorted."""
    found = []
    for folder, _, files in os.walk(root):  # like Path.rglob: symlinked folders are not entered
        for name in files:
            path = os.path.join(folder, name)
            if not name.startswith(".") and os.path.isfile(path):
                found.append((os.path.relpath(path, root), os.stat(path)))
    return sorted(found, key=lambda item: Path(item[0]))


def _stat_signature(stat) -> tuple:
    """What changes when a file is edited, even in place keeping its size and modification time."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def data_fingerprint(params: Params) -> str:
    """A short hash identifying the dataset's content, so caches never outlive the data they came from.

    Every file under ``data_root`` that a reader may open enters with its path, size and modification
    time; small text files (stimulus and event tables, BrainVision headers and markers, JSON sidecars,
    the demo's ``ground_truth.json``) also with their bytes. Editing, truncating or replacing any
    file (a subject's EEG in place, too) therefore changes the fingerprint and the caches keyed by it.

    Computed once per process and data folder: later calls only stat the files (path, size,
    modification and status-change times, inode) and hash the bytes again when any of these
    changed -- an edit in place changes the status-change time even when it keeps size and
    modification time.
    """
    import hashlib

    root = params.data_root
    if not root.is_dir():
        raise FileNotFoundError(f"data_root {root} (from {params.source}) is not a folder; "
                                "write the demo with `python -m hearlike demo` or point data_root at the dataset")
    files = _data_files(root)
    signature = hash(tuple((rel, *_stat_signature(st)) for rel, st in files))
    known = _FINGERPRINTS.get(root.resolve())
    if known is not None and known[0] == signature:
        return known[1]
    digest = hashlib.sha256()
    for rel, stat in files:
        digest.update(f"{Path(rel).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        if Path(rel).suffix.lower() in _FINGERPRINT_TEXT and stat.st_size <= _FINGERPRINT_TEXT_MAX_BYTES:
            digest.update((root / rel).read_bytes())
    _FINGERPRINTS[root.resolve()] = (signature, digest.hexdigest()[:12])
    return digest.hexdigest()[:12]


#: per audio file: (its stat signature, the sha256 of its bytes), so a file is hashed once per process
_AUDIO_DIGESTS: dict[Path, tuple[tuple, str]] = {}


def stimuli_fingerprint(params: Params, table: pd.DataFrame | None = None) -> str:
    """A short hash of everything the models hear and are told: the stimulus table (words, timings,
    texts) and the bytes of every audio file it names.

    Model states depend on nothing else of the dataset, so they are cached under it (not under
    :func:`data_fingerprint`, which the EEG enters): datasets with the same stimuli and other EEG --
    the demo and its null twin -- extract each model once. Each audio file is hashed once per
    process, again only when its size, modification time or inode change. ``table``: the study's
    :func:`stimuli_of`, when already read.
    """
    import hashlib

    source = stimuli_path(params)
    digest = hashlib.sha256(source.read_bytes())
    table = stimuli_of(params) if table is None else table
    for rel in sorted(set(table["audio_path"].astype(str))):
        path = (source.parent / rel).resolve()
        signature = _stat_signature(path.stat())
        known = _AUDIO_DIGESTS.get(path)
        if known is None or known[0] != signature:
            known = (signature, hashlib.sha256(path.read_bytes()).hexdigest())
            _AUDIO_DIGESTS[path] = known
        digest.update(f"{rel}:{known[1]}\n".encode())
    return digest.hexdigest()[:12]


def _cache(params: Params, kind: str) -> Path:
    """``<cache_dir>/<kind>/<data fingerprint>``: caches of one version of the data."""
    return params.cache_dir / kind / data_fingerprint(params)


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


def model_states(params: Params, key: str, *, model_path: str | Path | None = None,
                 trust_remote_code: bool = False) -> xr.Dataset:
    """Per-word layer states of model ``key`` for the study's dataset.

    Parameters
    ----------
    params : Params
        Study parameters (``data_root``, ``cache_dir``, ``dataset``, ``device``, ``extraction``).
    key : str
        ``"oracle..."`` (reference states shipped with the dataset), ``"tiny-<family>"`` (a tiny
        random-weight model of a real architecture, built offline and saved under the cache), or a
        registry key from ``hearlike models`` (real weights from ``model_path`` or the Hub cache).
    model_path : path, optional
        Local weights folder for a registry model; default: ``params.model_paths[key]``, else the
        converted bundled weights (``ModelSpec.weights``) under ``cache_dir/models``, else the Hub id.
    trust_remote_code : bool
        Let a registry model that needs its own Python code run it (an explicit opt-in; the CLI's
        ``--trust-remote-code``; never read from the parameter file).

    Returns
    -------
    Dataset
        ``encoder`` / ``decoder`` states with word coordinates (see ARCHITECTURE.md).
    """
    from .models import REGISTRY, ensure_tiny, extract_states

    if key.startswith(REFERENCE_PREFIX):
        path = params.data_root / "states" / f"{key}.nc"
        states = read_netcdf(path)
        if states is None:
            raise FileNotFoundError(f"reference states {path} are missing; write the demo with `python -m hearlike demo`")
        return states
    table = stimuli_of(params)
    stimuli = stimuli_fingerprint(params, table)  # the states depend on the stimuli alone, not on the EEG
    cache_dir = params.cache_dir / "states" / stimuli
    registry_key = key
    if model_path is None and key in params.model_paths:
        model_path = params.model_paths[key]
        _check_folder(params, key, model_path)
    elif model_path is None and key in REGISTRY and REGISTRY[key].weights != "hub":
        from .models.bundled import ensure_bundled

        model_path = ensure_bundled(key, root=params.cache_dir / "models", seed=params.seed)
    if key.startswith(TINY_PREFIX):
        registry_key = tiny_stands_for(key)
        family = REGISTRY[registry_key].family
        model_path = ensure_tiny(family, params.cache_dir / "tiny-models" / family,
                                 seed=params.seed)  # rebuilds a half-written folder
        cache_dir = cache_dir / "tiny"
    return extract_states(
        registry_key, table, stimuli_root=stimuli_path(params).parent, cache_dir=cache_dir,
        model_path=model_path, dataset=f"stimuli-{stimuli}", device=params.device, trust_remote_code=trust_remote_code,
        **params.extraction.as_kwargs(),
    )


def _check_folder(params: Params, key: str, folder: Path) -> None:
    """A ``model_paths`` folder that is missing or holds another architecture: one error naming the entry."""
    from .models import get_spec
    from .models.adapters import check_model_folder

    try:
        check_model_folder(get_spec(key), folder)
    except (FileNotFoundError, ValueError) as err:
        raise type(err)(f"model_paths.{key} in {params.source}: {err}") from None


def layer_states(params: Params, key: str) -> xr.DataArray:
    """Model states of ``key`` stacked along ``layer`` (see :func:`hearlike.models.stack_layers`)."""
    from .models import stack_layers

    return stack_layers(model_states(params, key))


def epochs_of(params: Params, *, lazy: bool = False) -> xr.DataArray:
    """Word epochs (subject, word, channel, time) of the study's dataset, cached per subject;
    ``lazy``: opened from the cache as one dask chunk per subject, not read (the metric grid reads
    one block of subjects per task)."""
    from .eeg import load_epochs

    return load_epochs(
        params.dataset, stimuli=stimuli_of(params), params=dict(params.eeg),
        cache_dir=_cache(params, "epochs"), root=params.data_root, lazy=lazy, **_subject_options(params),
    )


def _subject_options(params: Params) -> dict[str, Any]:
    """``subjects``/``runs`` of :func:`hearlike.eeg.load_epochs` from the parameters."""
    subjects = params.subjects if params.subjects is None or isinstance(params.subjects, str) else list(params.subjects)
    return {"subjects": subjects, "runs": list(params.runs) if params.runs is not None else None}


def surrogates_of(params: Params, epochs: xr.DataArray, n_surrogates: int, *, lazy: bool = False):
    """Timing-preserving surrogate epochs for the ``shift`` null (:mod:`hearlike.eeg.surrogates`);
    ``lazy``: the continuous recordings stay in their cache files until a task reads its subjects'
    (:meth:`~hearlike.eeg.SurrogateEpochs.for_subjects`)."""
    from .eeg import load_recordings, surrogate_epochs, validate_preprocessing

    recordings = load_recordings(
        params.dataset, stimuli=stimuli_of(params), params=dict(params.eeg),
        cache_dir=_cache(params, "epochs"), root=params.data_root, lazy=lazy, **_subject_options(params),
    )
    return surrogate_epochs(recordings, epochs, n_surrogates=n_surrogates, params=validate_preprocessing(dict(params.eeg)),
                            seed=params.seed)


def regions_of(params: Params, epochs: xr.DataArray) -> dict[str, list[str]]:
    """The study's scalp regions: explicit channel lists, or standard regions from the epochs' montage.

    Only the requested regions are built and checked; a requested standard region without channels in
    this montage, or a listed channel missing from the epochs, is an error naming the parameter file.
    """
    from .eeg import epochs_info, regions_from_montage

    channels = [str(c) for c in epochs["channel"].values]
    if isinstance(params.regions, dict) or not isinstance(params.regions, tuple):
        regions = {name: list(chans) for name, chans in params.regions.items()}
        for name, chans in regions.items():
            missing = [c for c in chans if c not in channels]
            if missing:
                raise ValueError(f"region {name!r} in {params.source} lists channels {missing} that the "
                                 f"{params.dataset!r} epochs lack; channels: {channels}")
        return regions
    standard = regions_from_montage(epochs_info(epochs))
    empty = [r for r in params.regions if not standard.get(r)]
    if empty:
        raise ValueError(f"regions {empty} in {params.source} have no channels in the {params.dataset!r} montage; "
                         "drop them from `regions` or give explicit channel lists")
    return {r: standard[r] for r in params.regions}


def grid_config(params: Params) -> dict[str, Any]:
    """The part of the parameters that determines the metric grid (its cache key)."""
    keys = ("dataset", "data_root", "models", "metrics", "extra_metrics", "windows", "regions", "factor_metric_regions",
            "min_words", "n_permutations", "seed", "eeg", "extraction", "null_kind", "model_paths")
    values = params.to_dict()
    chosen = {k: values[k] for k in ("subjects", "runs") if values[k] is not None}  # unset: hashes as before
    from .grid.nulls import PERMUTATIONS_VERSION, WORD_PERMUTATION_NULLS
    from .grid.store import STORE_LAYOUT
    from .metrics import METRICS_VERSION

    if values["null_kind"] in WORD_PERMUTATION_NULLS:  # the permutations' draws (the other nulls hash as before)
        chosen["permutations_version"] = PERMUTATIONS_VERSION

    return {k: values[k] for k in keys} | chosen | {"data": data_fingerprint(params), "metrics_version": METRICS_VERSION,
                                                      "store_layout": STORE_LAYOUT}


def metric_grid(params: Params, *, keep_sentences: bool | None = None, recompute: bool = False) -> xr.Dataset:
    """The metric grid (model, layer, subject, window, region, metric) of the study, cached.

    Computed in tasks of one group of models (as many as fit 2 GiB of reduced states) × a block of
    subjects, the EEG side prepared once per task for the whole group, into a store on disk
    (:mod:`hearlike.grid.store`: ``<cache_dir>/grid-<hash>.grid/``, one file per task,
    resumable), on the Dask cluster named by ``params.scheduler`` if any; returned lazily opened.

    Parameters
    ----------
    params : Params
        Study parameters.
    keep_sentences : bool, optional
        Keep the per-sentence ``sentence_excess`` (dim ``sentence``, float32) for the by-item group
        tests and condition contrasts (finding 3);
        default: whether ``params.keep`` names ``"sentence"``.
    recompute : bool
        Ignore a cached grid.

    Returns
    -------
    Dataset
        See :func:`hearlike.grid.compute_grid`, plus ``group_null`` (model, layer, window, region,
        metric, permutation; float32): the subject-mean null samples.
    """
    from .grid.store import finished_store

    if params.protocol == "paper":  # the reference study's protocol (hearlike.protocol.paper)
        return _paper_grid(params, recompute=recompute)
    keep = "sentence" in params.keep if keep_sentences is None else bool(keep_sentences)
    config = dict(grid_config(params), keep_sentences=keep)
    digest = config_hash(config)
    path = params.cache_dir / f"grid-{digest}.grid"
    with file_lock(path.with_name(f"{path.name}.lock")):  # another process computing it: wait, then read it
        if recompute:
            shutil.rmtree(path, ignore_errors=True)
        cached = finished_store(path)
        return cached if cached is not None else _compute_metric_grid(params, path, config, digest, keep)


def _compute_metric_grid(params: Params, path: Path, config: dict, digest: str, keep: bool) -> xr.Dataset:
    """:func:`metric_grid`'s store computed (or resumed) at ``path``, on ``params.scheduler``'s cluster if any."""
    from .grid.nulls import needs_surrogates
    from .grid.store import compute_grid_store, grid_client

    # every subject's epochs and recordings stay in their cache files: a task reads its block's alone
    epochs = epochs_of(params, lazy=True)
    common = dict(windows=windows_of(params), regions=regions_of(params, epochs), metrics=params.all_metrics,
                  n_permutations=params.n_permutations, seed=params.seed, null_kind=params.null_kind,
                  device=params.device, min_words=params.min_words, keep_sentences=keep,
                  # Procrustes and SVCCA need a small eigendecomposition per sentence × cell × permutation,
                  # the other metrics one inner product: the former only over `factor_metric_regions`
                  factor_regions=list(params.factor_metric_regions),
                  attrs={"config_hash": digest, "dataset": params.dataset, "config": json.dumps(config, default=str)})
    if needs_surrogates(params.null_kind):
        common["surrogates"] = surrogates_of(params, epochs, params.n_permutations, lazy=True)
    client = grid_client(params.scheduler)
    try:
        return compute_grid_store(path, functools.partial(layer_states, params), list(params.models), epochs,
                                  client=client, **common)
    finally:
        if client is not None:
            cluster = client.cluster if params.scheduler == "local" else None
            client.close()
            if cluster is not None:
                cluster.close()


def within_sentence_grid(params: Params, *, window: str, region: str = "all") -> xr.Dataset:
    """The metric grid of one window and region under the within-sentence word-shuffle null, cached.

    For contrasts between groups of sentences (finding 3): each sentence's excess is taken over
    its own words shuffled against its own EEG, so the null keeps that sentence's EEG (its
    spectrum, length and speech rate) and with it the small-n baseline of the biased metrics. The
    study's ``shift`` null takes its baseline from other stretches of the recording, so a condition
    that changes the EEG itself moves the excess of every model, random ones included
    (``bench/calibration.py`` measures it). Per-sentence scores are kept.

    Under ``protocol: paper`` the study's grid itself (its frame-shuffle null is within-sentence).

    Returns
    -------
    Dataset
        As :func:`metric_grid`, with one window and one region.
    """
    if params.protocol == "paper":  # its null already shuffles within each sentence (frames)
        return metric_grid(params)
    spans = {name: [start, stop] for name, start, stop in windows_of(params) if name == window}
    if not spans:
        raise ValueError(f"window {window!r} is not one of the study's windows in {params.source}: "
                         f"{[w[0] for w in windows_of(params)]}")
    regions = {region: params.regions[region]} if isinstance(params.regions, dict) else [region]
    sub = params.replace(null_kind="shuffle", windows=spans, regions=regions, factor_metric_regions=[region])
    return metric_grid(sub, keep_sentences=True)


def recordings_of(params: Params) -> dict[str, xr.Dataset]:
    """The subjects' preprocessed continuous recordings (:func:`hearlike.eeg.load_recordings`), cached with the epochs."""
    from .eeg import load_recordings

    return load_recordings(params.dataset, stimuli=stimuli_of(params), params=dict(params.eeg),
                           cache_dir=_cache(params, "epochs"), root=params.data_root, **_subject_options(params))


def _paper_grid(params: Params, *, recompute: bool = False) -> xr.Dataset:
    """The metric grid under ``protocol: paper`` (:func:`hearlike.protocol.paper.cached_paper_grid`)."""
    from .protocol.paper import cached_paper_grid

    return cached_paper_grid(params, states_of=functools.partial(layer_states, params),
                             recordings_of=functools.partial(recordings_of, params),
                             stimuli=stimuli_of(params), data_fingerprint=data_fingerprint(params),
                             recompute=recompute)


def searchlight(params: Params, *, model: str, layer: str, metric: str = "spearman_rsa",
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

    from .grid import compute_grid, save_grid
    from .grid.nulls import needs_surrogates

    if params.protocol == "paper":  # its regions are electrodes already: the grid is the searchlight
        from .protocol.paper import electrode_map

        return electrode_map(metric_grid(params), model=model, layer=layer, metric=metric)
    n_permutations = int(params.n_permutations if n_permutations is None else n_permutations)
    config = dict(grid_config(params), searchlight=[model, layer, metric, n_neighbours, n_permutations])
    digest = config_hash(config)
    path = params.cache_dir / f"searchlight-{digest}.nc"
    cached = read_netcdf(path, config_hash=digest)  # None if missing or unreadable: recomputed
    if cached is not None:
        return cached
    epochs = epochs_of(params)
    positions = np.stack([epochs[c].values for c in ("ch_x", "ch_y", "ch_z")], axis=1)
    names = [str(c) for c in epochs["channel"].values]
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    neighbourhoods = {names[i]: [names[j] for j in np.argsort(distances[i])[: n_neighbours + 1]] for i in range(len(names))}
    states = layer_states(params, model).sel(layer=[layer])
    null_kind = params.null_kind
    surrogates = surrogates_of(params, epochs, n_permutations) if needs_surrogates(null_kind) else None
    grid = compute_grid({model: states}, epochs, windows=windows_of(params), regions=neighbourhoods, metrics=[metric],
                        n_permutations=n_permutations, seed=params.seed, device=params.device,
                        null_kind=null_kind, surrogates=surrogates,
                        min_words=params.min_words)
    grid = grid.squeeze(["model", "layer", "metric"], drop=True).rename(region="channel")
    grid.attrs["config_hash"] = digest
    save_grid(grid, path)
    return grid


def tnc_of(params: Params) -> dict[str, Any]:
    """TNC labels of the study's sentences, and their sensitivity to ``k`` and ``theta``.

    The model view uses ``params.tnc.model`` (default: the first model) at the layer whose
    relative depth is closest to ``params.tnc.model_layer_depth`` (default 0.6).

    Returns
    -------
    dict
        ``labels`` (DataFrame, one row per sentence: label, seeds, consistencies, confidence),
        ``sensitivity`` (DataFrame over k × theta; precision/recall when the stimuli carry planted
        ``prosody`` labels), ``planted`` (bool Series or None), ``model``, ``layer``.
    """
    import numpy as np

    from .tnc import tnc_labels, tnc_sensitivity, tnc_views

    options = params.tnc
    model = options.model or params.models[0]
    states = layer_states(params, model)
    depth = np.asarray(states["relative_depth"].values, dtype=float)
    index = int(np.argmin(np.abs(depth - options.model_layer_depth)))
    layer = str(states["layer"].values[index])
    word_states = states.isel(layer=index)
    width = int(word_states["n_features"]) if "n_features" in word_states.coords else word_states.sizes["feature"]
    word_states = word_states.isel(feature=slice(0, width))
    table = stimuli_of(params)
    embeddings, seeds = tnc_views(table, word_states, root=stimuli_path(params).parent)
    k, theta = options.k, options.theta
    labels = tnc_labels(embeddings, seeds, k=k, theta=theta)
    labels["sentence_text"] = table.groupby("sentence_id")["sentence_text"].first().reindex(labels.index)
    planted = None
    if "prosody" in table.columns:
        planted = table.groupby("sentence_id")["prosody"].first().eq("negative")
    sensitivity = tnc_sensitivity(embeddings, seeds, planted=planted)
    return {"labels": labels, "sensitivity": sensitivity, "planted": planted, "model": model, "layer": layer,
            "embeddings": embeddings, "seeds": seeds}
