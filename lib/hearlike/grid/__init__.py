"""The metric grid: model × layer × subject × window × region × metric, with permutation nulls.

For every sentence, the words' model vectors (one layer) are compared with the same words' EEG
patterns (one subject, the channels of one region × the samples of one time window, flattened) by
each metric of :mod:`hearlike.metrics`; scores are averaged over sentences and tested against a
within-sentence permutation null.

How it stays fast
-----------------
Sentences are bucketed by length (the metrics take equal-length batches; no padding, no masks).
Within a bucket each metric's representation is prepared once per model layer and once per EEG
cell, then all layer × cell × sentence comparisons are one ``einsum`` (``"gram"`` metrics) or one
batched SVD (``"factor"`` metrics). Permutation nulls reorder the prepared representations of one
side (the side with fewer representations) -- the same permutations for every cell, so max-statistic
family-wise corrections are valid. Python loops run only over models, length buckets, metrics and
chunks.

Small-n bias
------------
At n ≈ 10 words biased CKA, dCor and Procrustes of *independent* high-dimensional data are close to
1, and the level moves with n. ``excess = score - null_mean`` removes this bias (≈ 0 under
independence); read ``excess`` and ``p_value``, never raw ``score``, for those metrics.

Where it lives
--------------
:mod:`~hearlike.grid.cells` (input checks, word alignment, length buckets, EEG cells, prepared
representations), :mod:`~hearlike.grid.compare` (all-pairs comparisons),
:mod:`~hearlike.grid.nulls` (one object per null kind, :func:`~hearlike.grid.nulls.make_null`),
:mod:`~hearlike.grid.shift` (the surrogate null's Gram machinery), :mod:`~hearlike.grid.results`
(running sums and the Dataset); this module composes them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..cache import read_netcdf, write_netcdf
from ..geometry import _correlation_rdm_upper
from ..metrics import METRICS, STUDY_METRICS
from ..progress import disabled
from .cells import (Bucket, align_words, check_inputs, eeg_cells, eeg_geometry, eeg_valid, layer_groups, layer_union,
                    length_buckets, model_geometry, region_cells)
from .compare import Scored, observed_scores
from .nulls import NULLS, make_null, sentence_permutations, sentence_swaps, word_permutations
from .results import GridSums, grid_dataset

if TYPE_CHECKING:
    from ..eeg.surrogates import SurrogateEpochs

logger = logging.getLogger(__name__)

__all__ = ["compute_grid", "eeg_rdms", "save_grid", "load_grid", "sentence_permutations", "sentence_swaps",
           "word_permutations", "DEFAULT_METRICS", "NULLS"]

DEFAULT_METRICS: tuple[str, ...] = STUDY_METRICS


def compute_grid(
    model_states: Mapping[str, xr.DataArray],
    epochs: xr.DataArray,
    *,
    windows: Sequence[tuple[str, float, float]],
    regions: Mapping[str, Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_permutations: int = 100,
    seed: int = 0,
    device: str | torch.device = "cpu",
    min_words: int = 4,
    chunk: int = 2**24,
    dtype: torch.dtype = torch.float64,
    keep_null: bool = False,
    keep_sentences: bool = False,
    null_kind: str = "shift",
    surrogates: "SurrogateEpochs | None" = None,
    factor_regions: Sequence[str] | None = None,
) -> xr.Dataset:
    """Score every model layer against every EEG cell by every metric, with permutation nulls.

    Parameters
    ----------
    model_states : dict of str to DataArray, each shape (n_layers, n_words, n_features)
        Dims ``layer, word, feature`` (e.g. from :func:`hearlike.models.stack_layers`); layer coords
        ``component`` and ``relative_depth`` are carried over; an ``n_features`` layer coord marks
        NaN-padded widths, which are cut off. Feature sizes may differ between models.
    epochs : DataArray, shape (n_subjects, n_words, n_channels, n_times)
        Word epochs (volts), ``time`` in seconds from word onset. Words are matched to the model
        states by the ``word`` label.
    windows : list of (name, start_ms, stop_ms)
        Samples with ``start_ms <= t < stop_ms``.
    regions : dict of str to list of str
        Channel names per region. A cell's features are its channels × its window's samples.
    metrics : sequence of str
        Names in :data:`hearlike.metrics.METRICS`.
    n_permutations : int
        Null samples (the same permutations or surrogates for every cell). 0 keeps the scores
        only: ``null_mean``, ``null_sd``, ``excess`` and ``p_value`` are NaN (a WARNING says so).
    seed : int
        Seeds the permutations (see :func:`sentence_permutations`).
    device : str or torch.device
        Where the comparisons run (``"cuda"`` works unchanged).
    min_words : int
        Sentences with fewer matched words are excluded (counted in attrs and logged); the
        study's 4 by default.
    chunk : int
        Upper bound on the elements of the largest intermediate tensor; lower it to save memory.
    dtype : torch.dtype
        Working precision (float64 default; float32 halves time and memory).
    keep_null : bool
        Also return the sentence-mean null samples (dim ``permutation``).
    keep_sentences : bool
        Also return per-sentence scores ``sentence_score``, their permutation-null means
        ``sentence_null_mean`` and ``sentence_excess`` (the difference), with dim ``sentence``.
    null_kind : {"shift", "swap", "cyclic", "shuffle"}
        The null (see :mod:`hearlike.grid.nulls`); the study's ``"shift"`` by default, which needs
        ``surrogates``.
    surrogates : SurrogateEpochs, optional
        For ``null_kind="shift"``: cuts the surrogate epochs (same subjects and word axis as
        ``epochs``; :func:`hearlike.eeg.surrogate_epochs`), with at least ``n_permutations``
        surrogates.
    factor_regions : sequence of str, optional
        Regions over which the ``"factor"`` metrics (Procrustes, SVCCA: a small eigendecomposition
        per sentence × cell × permutation) are computed; NaN in the other regions. Default: all.

    Returns
    -------
    Dataset
        ``score``, ``null_mean``, ``null_sd``, ``excess`` (score − null_mean), ``p_value``
        (``(1 + #{null >= score}) / (1 + n_permutations)``), each with dims
        ``model, layer, subject, window, region, metric``; NaN where a model lacks a layer. A
        sentence whose score is undefined in a cell (a rejected epoch; EEG or states that do not
        vary over its words) is left out of that cell's means. Attrs hold ``n_sentences_used``,
        ``n_sentences_excluded``, ``n_cell_sentences_rejected``, ``n_scores_undefined``,
        ``config_hash``, ``hearlike_version``.
    """
    metric_names = list(metrics)
    check_inputs(model_states, epochs, windows, regions, metric_names, min_words, n_permutations)
    if factor_regions is not None and (not factor_regions or not set(factor_regions) <= set(regions)):
        raise ValueError(f"factor_regions {sorted(set(factor_regions) - set(regions)) or '[]'} are not in regions "
                         f"{list(regions)}; name at least one region of this grid, or pass None for all")
    epochs = epochs.transpose("subject", "word", "channel", "time")
    n_perm, device = int(n_permutations), torch.device(device)
    cells = eeg_cells(epochs, windows, regions)
    factor_pairs = region_cells(1, len(windows), list(regions), list(factor_regions or regions))
    null = make_null(null_kind, n_permutations=n_perm, seed=seed, chunk=chunk, surrogates=surrogates, epochs=epochs,
                     cells=cells, factor_pairs=factor_pairs, dtype=dtype, device=device)
    if n_perm == 0:
        logger.warning("n_permutations=0: the grid holds scores only; null_mean, null_sd, excess and p_value are NaN")
    used, excluded, n_unmatched = align_words(model_states, epochs, min_words)
    buckets = length_buckets(used)
    models, layers, subjects = list(model_states), layer_union(model_states), np.asarray(epochs["subject"].values)
    n_cells = len(subjects) * len(cells)
    sums = GridSums.zeros((len(models), len(layers), n_cells, len(metric_names)), n_permutations=n_perm,
                          n_sentences=len(used), keep_sentences=keep_sentences)
    setup = dict(models=models, model_states=model_states, metrics=metric_names, cells=cells, eeg=np.asarray(epochs.values),
                 n_subjects=len(subjects), factor_pairs=factor_pairs, dtype=dtype, device=device, chunk=chunk)
    # the parts of the words' geometry that the metrics read, computed once for all of them
    needs = tuple(sorted({part for name in metric_names for part in METRICS[name].needs}))
    progress = tqdm(total=len(buckets) * len(metric_names) * len(models), desc="metric grid", unit="step",
                    disable=disabled(None))
    n_rejected = 0
    for n, idx in buckets.items():
        epoch_pos = np.stack([used[i]["epochs"] for i in idx])
        eeg_geom, valid = eeg_geometry(setup["eeg"], cells, epoch_pos, n, needs=needs, dtype=dtype, device=device,
                                       chunk=chunk)
        n_rejected += int((~valid).sum())
        bucket = Bucket(n, np.asarray(idx), [used[i]["sentence_id"] for i in idx], epoch_pos,
                        torch.as_tensor(valid, device=device))
        scored = _scored_bucket(bucket, eeg_geom, [np.stack([used[i]["models"][m] for i in idx]) for m in models],
                                setup, needs=needs, layers=layers, sums=sums, progress=progress)
        if n_perm:
            for s, null_sum, sentence_null in null.bucket_nulls(bucket, scored):
                sums.add_null(s, bucket, null_sum, sentence_null)
        else:
            for _ in scored:
                pass
    progress.close()
    logger.info(
        "metric grid: %d models × %d layers × %d cells × %d metrics over %d sentences, %d permutations (%s null)",
        len(models), len(layers), n_cells, len(metric_names), len(used), n_perm, null_kind,
    )
    config = _config(model_states, epochs, windows=windows, regions=regions, metrics=metric_names, n_permutations=n_perm,
                     null_kind=null_kind, seed=seed, min_words=min_words, factor_regions=factor_regions)
    permuted_side = {m: null.permuted_side(n_cells, model_states[m].sizes["layer"]) for m in models}
    meta = dict(models=models, layers=layers, model_states=model_states, subjects=subjects, windows=windows,
                regions=regions, metrics=metric_names, used=used, excluded=excluded, n_unmatched=n_unmatched,
                buckets=buckets, n_rejected=n_rejected, permuted_side=permuted_side,
                factor_regions=factor_regions, config=config)
    return grid_dataset(sums, meta, keep_null=keep_null)


def _config(model_states, epochs, *, windows, regions, metrics, n_permutations, null_kind, seed, min_words,
            factor_regions) -> dict:
    """What determines a grid (hashed into its ``config_hash``)."""
    config = {
        "windows": [list(w) for w in windows],
        "regions": {k: list(v) for k, v in regions.items()},
        "metrics": metrics,
        "n_permutations": n_permutations,
        "null": null_kind,
        "seed": int(seed),
        "min_words": int(min_words),
        "models": {m: [int(s) for s in model_states[m].shape] for m in model_states},
        "model_config_hashes": {m: str(model_states[m].attrs.get("config_hash", "")) for m in model_states},
        "epochs": [int(s) for s in epochs.shape],
        "epochs_dataset": str(epochs.attrs.get("dataset", "")),
    }
    if factor_regions is not None:
        config["factor_regions"] = list(factor_regions)
    return config


def _scored_bucket(bucket: Bucket, eeg_geom, model_positions, setup: dict, *, needs, layers, sums: GridSums,
                   progress):
    """Yield every (metric, model) of one bucket as :class:`Scored`, its observed scores added to ``sums``.

    The words' geometry (one Gram matrix per layer or cell and sentence; the EEG's, ``eeg_geom``,
    from :func:`eeg_geometry`) is computed once for all metrics; a metric's EEG reps are prepared
    from it once over its cells (the ``"factor"`` metrics only over ``factor_pairs``), a model's
    once per metric; the caller's null consumes them lazily.
    """
    n_subjects, cells = setup["n_subjects"], setup["cells"]
    options = dict(dtype=setup["dtype"], device=setup["device"], chunk=setup["chunk"])
    metrics = [METRICS[name] for name in setup["metrics"]]
    model_geom = {}
    for k, metric in enumerate(metrics):
        pairs = setup["factor_pairs"] if metric.kind == "factor" else np.arange(len(cells))
        flat = (np.arange(n_subjects)[:, None] * len(cells) + pairs[None, :]).reshape(-1)
        if len(pairs) == len(cells):
            eeg_rep, valid = metric.prepare_geometry(eeg_geom), bucket.valid
        else:
            eeg_rep = metric.prepare_geometry(eeg_geom.select(torch.as_tensor(flat, device=setup["device"])))
            # the mask as eeg_valid lays it out (its strides fix the order of the sentence sums)
            valid = torch.as_tensor(eeg_valid(setup["eeg"], [cells[j] for j in pairs], bucket.epoch_pos),
                                    device=bucket.valid.device)
        for m, model in enumerate(setup["models"]):
            da = setup["model_states"][model]
            labels = np.asarray(da["layer"].values).astype(str).tolist()
            if model not in model_geom:
                model_geom[model] = model_geometry(da.values, model, labels, layer_groups(da), model_positions[m],
                                                   needs=needs, **options)
            model_rep = metric.prepare_geometry(model_geom[model])
            s = Scored(k, m, metric, [layers.index(lab) for lab in labels], model_rep, eeg_rep, flat, pairs, valid)
            sums.add_observed(s, bucket, observed_scores(s, chunk=setup["chunk"]))
            progress.update(1)
            yield s


def eeg_rdms(
    epochs: xr.DataArray,
    *,
    windows: Sequence[tuple[str, float, float]],
    regions: Mapping[str, Sequence[str]],
    min_words: int = 4,
    dtype: torch.dtype = torch.float64,
) -> xr.DataArray:
    """Per-sentence correlation-distance RDMs of every EEG cell (for the RSA noise ceiling).

    Parameters
    ----------
    epochs, windows, regions, min_words
        As in :func:`compute_grid` (same cells, same sentences, same word order).
    dtype : torch.dtype
        Working precision.

    Returns
    -------
    DataArray, shape (n_subjects, n_windows, n_regions, n_sentences, n_pairs)
        Upper triangles (row-major) of each sentence's RDM; ``n_pairs`` is that of the longest
        sentence and shorter sentences are NaN-padded. Feed to :func:`hearlike.stats.noise_ceiling`.
    """
    probe = xr.DataArray(
        np.zeros((1, epochs.sizes["word"], 1)), dims=("layer", "word", "feature"),
        coords={k: v for k, v in epochs.coords.items() if v.dims == ("word",)},
    )
    check_inputs({"_": probe}, epochs, windows, regions, [], min_words, 0)
    epochs = epochs.transpose("subject", "word", "channel", "time")
    used, _, _ = align_words({"_": probe}, epochs, min_words)
    n_max = max(s["n"] for s in used)
    values = np.asarray(epochs.values)
    out = np.full((epochs.sizes["subject"], len(windows), len(regions), len(used), n_max * (n_max - 1) // 2), np.nan)
    for c, (ch, tt) in enumerate(eeg_cells(epochs, windows, regions)):
        w, r = divmod(c, len(regions))
        sub = values[:, :, ch][:, :, :, tt]
        for n, idx in length_buckets(used).items():
            pos = np.stack([used[i]["epochs"] for i in idx]).reshape(-1)
            x = torch.as_tensor(sub[:, pos].reshape(sub.shape[0], len(idx), n, -1), dtype=dtype)
            upper = _correlation_rdm_upper(x).numpy()  # (subject, S_n, pairs)
            out[:, w, r, np.array(idx), : upper.shape[-1]] = upper
    return xr.DataArray(
        out,
        dims=("subject", "window", "region", "sentence", "pair"),
        coords={
            "subject": epochs["subject"].values,
            "window": [w[0] for w in windows],
            "region": list(regions),
            "sentence": [s["sentence_id"] for s in used],
            "n_words": ("sentence", [s["n"] for s in used]),
        },
        name="rdm",
        attrs={"dissimilarity": "correlation distance (1 - Pearson r)"},
    )


def save_grid(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a grid to netCDF (h5netcdf) atomically: a temp file renamed into place."""
    return write_netcdf(ds, path, config_hash=ds.attrs.get("config_hash"))


def load_grid(path: str | Path, *, config_hash: str | None = None) -> xr.Dataset:
    """Read a grid written by :func:`save_grid`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or is unreadable, or was made with another ``config_hash``.
    """
    ds = read_netcdf(path, config_hash=config_hash)
    if ds is None:
        raise FileNotFoundError(
            f"{path}: no readable metric grid"
            + (f" made with config_hash={config_hash!r}" if config_hash else "")
            + "; recompute it with hearlike.grid.compute_grid"
        )
    return ds
