"""How much of an RSA alignment is word timing: onset-gap and duration RDMs, partial Spearman RSA.

Within a sentence two words' EEG patterns are more alike the closer their onsets (overlapping
epochs, autocorrelated background), and a model's states can carry the same timing (position,
duration, context). :func:`timing_rdms` builds, per sentence, the dissimilarity of the words'
onset gaps (``|onset_i - onset_j|``) and durations (``|dur_i - dur_j|``);
:func:`partial_spearman` correlates a model RDM with an EEG RDM after regressing both (ranked) on
those timing RDMs; :func:`timing_controlled_rsa` scores one layer per model both ways, per subject
and sentence, on the grid's own word alignment.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd
import scipy.stats as ss
import torch
import xarray as xr

from .grid.cells import align_words
from .geometry import _correlation_rdm_upper

logger = logging.getLogger(__name__)

__all__ = ["timing_rdms", "partial_spearman", "timing_controlled_rsa"]

COVARIATES = ("onset_gap", "duration")


def _upper(values: np.ndarray) -> np.ndarray:
    """Upper triangle (row-major, no diagonal) of ``|v_i - v_j|`` for ``values (..., n)``."""
    n = values.shape[-1]
    iu = np.triu_indices(n, 1)
    return np.abs(values[..., :, None] - values[..., None, :])[..., iu[0], iu[1]]


def timing_rdms(onsets_s: np.ndarray, offsets_s: np.ndarray) -> np.ndarray:
    """Onset-gap and duration RDMs of one sentence's words.

    Parameters
    ----------
    onsets_s, offsets_s : array, shape (n_words,)
        Word onsets and offsets (seconds, any origin).

    Returns
    -------
    ndarray, shape (2, n_words * (n_words - 1) / 2)
        Row-major upper triangles of ``|onset_i - onset_j|`` and ``|duration_i - duration_j|`` (s).
    """
    onsets, offsets = np.asarray(onsets_s, dtype=float), np.asarray(offsets_s, dtype=float)
    if onsets.shape != offsets.shape or onsets.ndim != 1:
        raise ValueError(f"onsets and offsets must be 1-D of the same length, got {onsets.shape} and {offsets.shape}")
    return np.stack([_upper(onsets), _upper(offsets - onsets)])


def partial_spearman(model: np.ndarray, eeg: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    """Spearman correlation of two RDM vectors after regressing both (ranked) on ranked covariates.

    Parameters
    ----------
    model, eeg : array, shape (..., n_pairs)
        RDM upper triangles (broadcast against each other).
    covariates : array, shape (k, n_pairs)
        Covariate RDMs (e.g. :func:`timing_rdms`); ``k = 0`` gives plain Spearman RSA.

    Returns
    -------
    ndarray, shape (...)
        Partial Spearman r; NaN where a residual is constant.
    """
    m, e = np.broadcast_arrays(ss.rankdata(model, axis=-1), ss.rankdata(eeg, axis=-1))
    n = m.shape[-1]
    design = np.column_stack([np.ones(n)] + [ss.rankdata(c) for c in np.atleast_2d(covariates)])
    hat = design @ np.linalg.pinv(design)  # projection onto the covariates (and the mean)
    rm, re = m - m @ hat.T, e - e @ hat.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rm * re).sum(-1) / np.sqrt((rm * rm).sum(-1) * (re * re).sum(-1))


def timing_controlled_rsa(layer_states: Mapping[str, xr.DataArray], epochs: xr.DataArray, table: pd.DataFrame, *,
                          window: tuple[str, float, float], channels: list[str], min_words: int = 4) -> xr.Dataset:
    """Plain and timing-controlled Spearman RSA of one layer per model, per subject and sentence.

    Parameters
    ----------
    layer_states : dict of str to DataArray, dims (word, feature)
        One layer of each model (e.g. its peak layer), word labels as in the grid.
    epochs : DataArray, dims (subject, word, channel, time)
        Word epochs with ``sentence_id`` and ``word_index`` coords on ``word``.
    table : DataFrame
        Stimulus table with ``sentence_id, word_index, onset_s, offset_s``.
    window : (name, start_ms, stop_ms)
        The EEG time window.
    channels : list of str
        The region's channels.
    min_words : int
        As in the grid.

    Returns
    -------
    Dataset
        ``plain`` and ``partial`` (model, subject, sentence): Spearman RSA without and with the
        onset-gap and duration RDMs partialled out of both sides.
    """
    epochs = epochs.transpose("subject", "word", "channel", "time")
    states = {m: da.expand_dims("layer") if "layer" not in da.dims else da for m, da in layer_states.items()}
    used, _, _ = align_words(states, epochs, min_words)
    times_ms = epochs["time"].values * 1000
    _, start, stop = window
    tt = np.nonzero((times_ms >= start) & (times_ms < stop))[0]
    ch = [list(epochs["channel"].values).index(c) for c in channels]
    eeg = np.asarray(epochs.values)[:, :, ch][:, :, :, tt]
    timing = table.set_index(["sentence_id", "word_index"])[["onset_s", "offset_s"]]
    sids, widx = epochs["sentence_id"].values, epochs["word_index"].values
    models = list(states)
    plain = np.full((len(models), eeg.shape[0], len(used)), np.nan)
    partial = np.full_like(plain, np.nan)
    for s, sent in enumerate(used):
        pos = sent["epochs"]
        t = timing.loc[[(sids[p], widx[p]) for p in pos]].to_numpy()
        cov = timing_rdms(t[:, 0], t[:, 1])
        x = torch.as_tensor(eeg[:, pos].reshape(eeg.shape[0], len(pos), -1), dtype=torch.float64)
        eeg_rdm = _correlation_rdm_upper(x).numpy()  # (subject, pairs)
        for i, m in enumerate(models):
            feats = np.asarray(states[m].isel(layer=0).values)[sent["models"][m]]
            feats = feats[:, np.isfinite(feats).all(0)]  # NaN-padded widths (stacked layers of unequal size)
            model_rdm = _correlation_rdm_upper(torch.as_tensor(feats, dtype=torch.float64)).numpy()
            plain[i, :, s] = partial_spearman(model_rdm, eeg_rdm, np.empty((0, cov.shape[-1])))
            partial[i, :, s] = partial_spearman(model_rdm, eeg_rdm, cov)
    coords = {"model": models, "subject": epochs["subject"].values, "sentence": [u["sentence_id"] for u in used]}
    dims = ("model", "subject", "sentence")
    return xr.Dataset({"plain": (dims, plain), "partial": (dims, partial)}, coords=coords,
                      attrs={"window": window[0], "covariates": list(COVARIATES)})
