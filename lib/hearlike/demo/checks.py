"""Verification of the planted measure disagreement: geometric vs covariance-based similarity of the
oracle and the demo EEG, sentence by sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..stimuli import load_stimuli
from .describe import demo_epochs, read_ground_truth
from .generate import CENTRO_PARIETAL, N400_WINDOW_MS
from .write import demo_paths


def _correlation_rdm(x):
    x = x - x.mean(axis=1, keepdims=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return 1 - x @ x.T


def _rank(x):
    return np.argsort(np.argsort(x)).astype(float)


def _linear_cka(x, y):
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def _distance_correlation(x, y):
    def centred(z):
        d = np.linalg.norm(z[:, None] - z[None], axis=-1)
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x), centred(y)
    return np.sqrt(max((a * b).mean(), 0) / np.sqrt((a * a).mean() * (b * b).mean()))


def _debiased_cka(x, y):
    def unbiased_hsic(k, l):
        n = len(k)
        k, l = k.copy(), l.copy()
        np.fill_diagonal(k, 0)
        np.fill_diagonal(l, 0)
        return ((k * l).sum() + k.sum() * l.sum() / ((n - 1) * (n - 2))
                - 2 * k.sum(0) @ l.sum(0) / (n - 2)) / (n * (n - 3))  # fmt: skip

    k, l = x @ x.T, y @ y.T
    return unbiased_hsic(k, l) / np.sqrt(max(unbiased_hsic(k, k) * unbiased_hsic(l, l), 1e-30))


def _hsic(x, y):
    """Biased linear HSIC of unit-variance-scaled data (scale-free across sentences)."""
    x = (x - x.mean(0)) / np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())
    y = (y - y.mean(0)) / np.sqrt(((y - y.mean(0)) ** 2).sum(1).mean())
    return float(np.linalg.norm(y.T @ x) ** 2 / len(x) ** 2)


def _spearman_rsa(x, y):
    upper = np.triu_indices(len(x), 1)
    return np.corrcoef(_rank(_correlation_rdm(x)[upper]), _rank(_correlation_rdm(y)[upper]))[0, 1]


def _pearson_rsa(x, y):
    upper = np.triu_indices(len(x), 1)
    return np.corrcoef(_correlation_rdm(x)[upper], _correlation_rdm(y)[upper])[0, 1]


_CHECK_METRICS = {
    "rsa_spearman": _spearman_rsa, "rsa_pearson": _pearson_rsa, "cka_linear": _linear_cka,
    "cka_debiased": _debiased_cka, "hsic": _hsic, "dcor": _distance_correlation,
}  # fmt: skip
#: the planted direction of each check metric under negative prosody
GEOMETRIC_METRICS = ("rsa_spearman", "rsa_pearson")
COVARIANCE_METRICS = ("cka_linear", "cka_debiased", "hsic", "dcor")


def word_patterns(epochs, *, window_ms=N400_WINDOW_MS, bin_ms=50):
    """Subject-mean word patterns in a window: channels x time bins, flattened.

    Parameters
    ----------
    epochs : DataArray, dims (subject, word, channel, time)
        From :func:`demo_epochs`.

    Returns
    -------
    ndarray, shape (n_words, n_channels * n_bins), microvolts
    """
    mean = epochs.mean("subject")
    times_ms = mean.time.values * 1000
    keep = (times_ms >= window_ms[0] - 1e-6) & (times_ms < window_ms[1] - 1e-6)
    bins = ((times_ms[keep] - window_ms[0]) // bin_ms).astype(int)
    data = mean.values[..., keep]
    binned = np.stack([data[..., bins == b].mean(-1) for b in np.unique(bins)], axis=-1)
    return binned.reshape(len(binned), -1).astype(float) * 1e6


def check_planted_effects(root, *, layer=None, region=None, window_ms=N400_WINDOW_MS, bin_ms=50,
                          n_permutations=50, seed=0, epochs=None):  # fmt: skip
    """Per-sentence geometric vs covariance-based similarity of the oracle and the demo EEG.

    Word patterns are the subject-mean EEG (:func:`demo_epochs` defaults) in ``window_ms`` over
    ``region`` (default the centro-parietal channels), as channels x ``bin_ms`` bins; the oracle's
    ``layer`` (default the planted peak) gives the model patterns. Each score also gets its
    excess over a word-permutation null (as the metric grid reports it), which removes the large
    small-sample bias of CKA and distance correlation on ~10 words.

    Returns
    -------
    DataFrame, one row per sentence
        ``sentence_id``, ``prosody``, and for each of ``rsa_spearman``, ``rsa_pearson`` (of
        correlation-distance RDMs), ``cka_linear``, ``cka_debiased``, ``hsic`` (biased, linear
        kernel, data scaled to unit mean squared norm), ``dcor`` (distance correlation): the
        score and ``<metric>_excess`` (score minus the mean over ``n_permutations`` shuffles of
        the EEG side's words).
    """
    truth = read_ground_truth(root)
    paths = demo_paths(root)
    layer = layer or truth["oracle"]["planted_peak_layer"]
    component, index = layer.split(".")
    with xr.open_dataset(paths["oracle"], engine="h5netcdf") as ds:
        states = ds[component].isel({f"{component}_layer": int(index)}).values.astype(float)
    if epochs is None:
        epochs = demo_epochs(root, tmin_s=-0.2, tmax_s=window_ms[1] / 1000, channels=region or CENTRO_PARIETAL)
    patterns = word_patterns(epochs, window_ms=window_ms, bin_ms=bin_ms)
    table = load_stimuli(paths["stimuli"], check_audio=False)
    rng = np.random.default_rng(seed)
    rows = []
    for sentence_id, words in table.groupby("sentence_id", sort=False).groups.items():
        words = np.asarray(list(words))
        x, y = states[words], patterns[words]
        shuffles = [rng.permutation(len(words)) for _ in range(n_permutations)]
        row = {"sentence_id": sentence_id, "prosody": table.prosody[words[0]]}
        for name, metric in _CHECK_METRICS.items():
            row[name] = float(metric(x, y))
            row[f"{name}_excess"] = row[name] - float(np.mean([metric(x, y[p]) for p in shuffles]))
        rows.append(row)
    return pd.DataFrame(rows)

