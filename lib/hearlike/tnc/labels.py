"""The TNC labelling rule and its geometry: cosine neighbours, the model view's leave-one-out
projection, and the labels (criterion in :mod:`hearlike.tnc`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

logger = logging.getLogger(__name__)

MODALITIES = ("prosody", "text", "model")
"""The three views, in column order."""

DEFAULT_THRESHOLDS = {"prosody": -0.3, "text": -0.05, "model": 0.0}
"""Seed score below which a view calls a sentence negative."""

LABELS = ("negative", "non-negative", "ambiguous")


def _normalised(embedding: np.ndarray) -> torch.Tensor:
    """Centre over rows, then L2-normalise rows; shape (n, d) float64."""
    x = torch.from_numpy(np.array(embedding, dtype=np.float64))  # a copy: inputs may be read-only
    x = x - x.mean(dim=0, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _neighbour_order(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k nearest rows by cosine, self excluded; shape (n, k)."""
    similarity = x @ x.T
    similarity.fill_diagonal_(-math.inf)
    return similarity.topk(k, dim=1).indices


def neighbour_negative_fraction(
    embedding: np.ndarray, seed_negative: np.ndarray, *, k: int = 5
) -> np.ndarray:
    """Fraction of each sentence's k nearest neighbours (cosine, self excluded) that are negative.

    Parameters
    ----------
    embedding : array, shape (n, d)
        One view's sentence embeddings (centred and L2-normalised here).
    seed_negative : array of bool, shape (n,)
    k : int
        Number of neighbours, 1 <= k < n.

    Returns
    -------
    ndarray, shape (n,), float64, in [0, 1]
    """
    embedding = np.asarray(embedding, dtype=float)
    seed_negative = np.asarray(seed_negative, dtype=bool)
    _check_k(k, embedding.shape[0])
    order = _neighbour_order(_normalised(embedding), k)
    return torch.as_tensor(seed_negative)[order].double().mean(dim=1).numpy()


def leave_one_out_projection(
    embedding: np.ndarray, negative: np.ndarray, non_negative: np.ndarray
) -> np.ndarray:
    """Project each sentence on the negative→non-negative direction fitted without it.

    The direction is the difference of class centroids (of centred, L2-normalised rows), which
    stays well-posed when features outnumber sentences.

    Parameters
    ----------
    embedding : array, shape (n, d)
    negative, non_negative : array of bool, shape (n,)
        Training classes (disjoint); sentences in neither are only scored.

    Returns
    -------
    ndarray, shape (n,), float64
        ``2 (x_i - m_i) . w_i / |w_i|^2`` with ``w_i`` the leave-one-out centroid difference and
        ``m_i`` the centroids' midpoint: -1 at the negatives' centroid, +1 at the non-negatives',
        NaN where the leave-one-out fit lacks a class.
    """
    x = _normalised(np.asarray(embedding, dtype=float))
    negative = torch.as_tensor(np.asarray(negative, dtype=bool))
    non_negative = torch.as_tensor(np.asarray(non_negative, dtype=bool))
    if (negative & non_negative).any():
        raise ValueError("a sentence cannot be in both the negative and non-negative classes")

    def loo_mean(member: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = x[member].sum(dim=0, keepdim=True)  # (1, d)
        counts = member.sum() - member.double()  # (n,)
        sums = total - x * member.double()[:, None]
        return sums / counts.clamp_min(1)[:, None], counts

    negative_mean, negative_count = loo_mean(negative)
    non_negative_mean, non_negative_count = loo_mean(non_negative)
    direction = non_negative_mean - negative_mean
    midpoint = (non_negative_mean + negative_mean) / 2
    squared = (direction**2).sum(dim=1)
    score = 2 * ((x - midpoint) * direction).sum(dim=1) / squared.clamp_min(1e-24)
    undefined = (negative_count < 1) | (non_negative_count < 1) | (squared < 1e-24)
    score[undefined] = math.nan
    return score.numpy()



def _check_k(k: int, n_sentences: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    if k >= n_sentences:
        raise ValueError(
            f"k={k} nearest neighbours need more than k sentences (a sentence is not its own "
            f"neighbour); got {n_sentences}: pass k <= {n_sentences - 1}"
        )


def _aligned(
    embeddings: Mapping[str, object],
    seeds: Mapping[str, object],
    sentence_ids: Sequence[str] | None,
) -> tuple[pd.Index, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Validate the views and align them to one sentence order."""
    missing = [m for m in MODALITIES if m not in embeddings]
    if missing:
        raise ValueError(f"embeddings lacks view(s) {missing}; need keys {list(MODALITIES)}")
    if "model" in seeds:
        raise ValueError(
            "seeds must not contain 'model': the model view's seed is the leave-one-out "
            "projection computed here; pass seeds for 'prosody' and 'text' only"
        )
    missing = [m for m in ("prosody", "text") if m not in seeds]
    if missing:
        raise ValueError(f"seeds lacks view(s) {missing}; need keys ['prosody', 'text']")

    frames: dict[str, pd.DataFrame | np.ndarray] = {}
    for name in MODALITIES:
        value = embeddings[name]
        if isinstance(value, xr.DataArray):
            if value.ndim != 2 or value.dims[0] != "sentence":
                raise ValueError(f"{name} embedding must have dims (sentence, feature); got {value.dims}")
            value = value.to_pandas()
        if not isinstance(value, pd.DataFrame):
            value = np.asarray(value, dtype=float)
            if value.ndim != 2:
                raise ValueError(f"{name} embedding must be 2-D (sentence, feature); got shape {value.shape}")
        frames[name] = value
    if sentence_ids is None:  # the first view that carries sentence ids, else 0..n-1
        labelled = [f.index for f in frames.values() if isinstance(f, pd.DataFrame)]
        sentence_ids = labelled[0] if labelled else range(len(frames["prosody"]))
    index = pd.Index([str(s) for s in sentence_ids], name="sentence_id")
    for name, value in frames.items():
        if isinstance(value, np.ndarray):
            if value.shape[0] != len(index):
                raise ValueError(
                    f"{name} embedding has {value.shape[0]} rows for {len(index)} sentences"
                )
            frames[name] = pd.DataFrame(value, index=index)
    if index.has_duplicates:
        raise ValueError(f"sentence ids repeat, e.g. {index[index.duplicated()][0]!r}")

    def reindex(name: str, value: pd.DataFrame | pd.Series, kind: str):
        value = value.copy()
        value.index = value.index.astype(str)
        absent = index.difference(value.index)
        if len(absent):
            raise ValueError(
                f"{name} {kind} lacks {len(absent)} sentence(s), e.g. {list(absent[:3])}; "
                "every view must cover the same sentences"
            )
        return value.loc[index].to_numpy(dtype=float)

    embedding_arrays = {m: reindex(m, frames[m], "embedding") for m in MODALITIES}
    seed_arrays = {}
    for name in ("prosody", "text"):
        value = seeds[name]
        if not isinstance(value, pd.Series):
            array = np.asarray(value, dtype=float)
            if array.shape != (len(index),):
                raise ValueError(f"{name} seeds must have shape ({len(index)},); got {array.shape}")
            value = pd.Series(array, index=index)
        seed_arrays[name] = reindex(name, value, "seeds")
        if not np.isfinite(seed_arrays[name]).all():
            raise ValueError(f"{name} seeds contain NaN or infinite values")
    for name, array in embedding_arrays.items():
        if not np.isfinite(array).all():
            raise ValueError(f"{name} embedding contains NaN or infinite values")
    return index, embedding_arrays, seed_arrays


def _prepare(embeddings, seeds, sentence_ids, thresholds):
    """Seeds (with the model's leave-one-out projection) and normalised views."""
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    unknown = set(thresholds) - set(MODALITIES)
    if unknown:
        raise ValueError(f"thresholds has unknown view(s) {sorted(unknown)}; use {list(MODALITIES)}")
    index, embedding_arrays, scores = _aligned(embeddings, seeds, sentence_ids)
    negative = {m: scores[m] < thresholds[m] for m in ("prosody", "text")}
    agreed_negative = negative["prosody"] & negative["text"]
    agreed_non_negative = ~negative["prosody"] & ~negative["text"]
    if agreed_negative.all():
        raise ValueError(
            f"all {len(index)} sentences are seed-negative in both the prosody and text views, so "
            "there is no non-negative sentence to contrast them with; check the data or lower "
            f"thresholds (prosody={thresholds['prosody']}, text={thresholds['text']})"
        )
    if not agreed_non_negative.any():
        raise ValueError(
            "no sentence is non-negative in both the prosody and text views, so the model view's "
            "direction cannot be fitted; check the data or lower the thresholds "
            f"(prosody={thresholds['prosody']}, text={thresholds['text']})"
        )
    if agreed_negative.sum() < 2:
        logger.warning(
            "only %d sentence(s) are negative in both prosody and text: the model direction "
            "needs >= 2 to be fitted leave-one-out, so no sentence can be TNC-negative",
            int(agreed_negative.sum()),
        )
    scores["model"] = leave_one_out_projection(
        embedding_arrays["model"], agreed_negative, agreed_non_negative
    )
    negative["model"] = np.nan_to_num(scores["model"], nan=np.inf) < thresholds["model"]
    views = {m: _normalised(embedding_arrays[m]) for m in MODALITIES}
    return index, views, scores, negative, thresholds


def _label(negative, fractions, theta, k, views=MODALITIES):
    """Labels and confidences from seed negatives and neighbour fractions (all arrays, (n,)) of ``views``."""
    needed = math.ceil(theta * k - 1e-9)
    seeds_all = np.all([negative[m] for m in views], axis=0)
    seeds_any = np.any([negative[m] for m in views], axis=0)
    counts = {m: np.rint(fractions[m] * k) for m in views}
    consistent = np.all([counts[m] >= needed for m in views], axis=0)
    label = np.full(seeds_all.shape, "ambiguous", dtype=object)
    label[~seeds_any] = "non-negative"
    label[seeds_all & consistent] = "negative"
    stacked = np.stack([fractions[m] for m in views])
    confidence = np.full(label.shape, np.nan)
    confidence[label == "negative"] = stacked.min(axis=0)[label == "negative"]
    confidence[label == "non-negative"] = (1 - stacked).min(axis=0)[label == "non-negative"]
    return label, confidence


def _check_theta(theta: float) -> None:
    if not 0 < theta <= 1:
        raise ValueError(f"theta is a fraction of neighbours in (0, 1]; got {theta}")


def tnc_labels(
    embeddings: Mapping[str, object],
    seeds: Mapping[str, object],
    *,
    sentence_ids: Sequence[str] | None = None,
    k: int = 5,
    theta: float = 0.6,
    thresholds: Mapping[str, float] | None = None,
    views: Sequence[str] = MODALITIES,
) -> pd.DataFrame:
    """Label sentences negative / non-negative / ambiguous by tri-modal neighbourhood consistency.

    Parameters
    ----------
    embeddings : mapping with keys ``"prosody"``, ``"text"``, ``"model"``
        Each a DataFrame (index = sentence id), a DataArray (sentence, feature) or an array of
        shape (n, d_view) in ``sentence_ids`` order.
    seeds : mapping with keys ``"prosody"``, ``"text"``
        Seed scores, low = negative: Series (index = sentence id) or arrays of shape (n,). The
        model seed is computed here (leave-one-out projection, :mod:`hearlike.tnc`).
    sentence_ids : sequence of str, optional
        Sentence order; defaults to the index of the first view given as a DataFrame or
        DataArray, else ``"0" .. "n-1"``. Plain arrays are taken to be in this order.
    k : int
        Neighbours per view, 1 <= k < n.
    theta : float
        Minimum fraction of the k neighbours that must be seed-negative, in (0, 1].
    thresholds : mapping, optional
        Per-view seed thresholds overriding :data:`DEFAULT_THRESHOLDS`.
    views : sequence of str
        The views whose seeds and neighbourhoods decide the label (default all three). With
        ``("prosody", "text")`` the model's representation plays no part in the label -- e.g. where
        the model view's model generated the EEG, which would make the labels circular. Every
        view's columns are reported either way.

    Returns
    -------
    DataFrame, index ``sentence_id``
        ``label`` (one of :data:`LABELS`); per view ``{view}_seed`` (score),
        ``{view}_negative`` (bool) and ``{view}_consistency`` (fraction of its k neighbours in
        that view that are seed-negative, 0-1); ``n_negative_seeds`` (0 to len(views)); ``confidence``
        (0-1: for negatives the smallest consistency over views, for non-negatives the smallest
        ``1 - consistency``, NaN for ambiguous). ``attrs`` holds ``k``, ``theta``,
        ``thresholds`` and ``counts`` (sentences per label).
    """
    _check_theta(theta)
    deciding = tuple(views)
    if not deciding or not set(deciding) <= set(MODALITIES) or len(set(deciding)) != len(deciding):
        raise ValueError(f"views must be distinct names among {list(MODALITIES)}; got {list(deciding)}")
    index, spaces, scores, negative, thresholds = _prepare(embeddings, seeds, sentence_ids, thresholds)
    _check_k(k, len(index))
    fractions = {
        m: torch.as_tensor(negative[m])[_neighbour_order(spaces[m], k)].double().mean(dim=1).numpy()
        for m in MODALITIES
    }
    label, confidence = _label(negative, fractions, theta, k, deciding)
    columns = {"label": label}
    for m in MODALITIES:
        columns[f"{m}_seed"] = scores[m]
    for m in MODALITIES:
        columns[f"{m}_negative"] = negative[m]
    for m in MODALITIES:
        columns[f"{m}_consistency"] = fractions[m]
    columns["n_negative_seeds"] = np.sum([negative[m] for m in deciding], axis=0)
    columns["confidence"] = confidence
    result = pd.DataFrame(columns, index=index)
    counts = {name: int((label == name).sum()) for name in LABELS}
    result.attrs.update(k=int(k), theta=float(theta), thresholds=dict(thresholds), counts=counts, views=list(deciding))
    logger.info(
        "TNC (k=%d, theta=%.2f): %d negative, %d non-negative, %d ambiguous (excluded from the contrast)",
        k, theta, counts["negative"], counts["non-negative"], counts["ambiguous"],
    )
    return result


def tnc_sensitivity(
    embeddings: Mapping[str, object],
    seeds: Mapping[str, object],
    *,
    sentence_ids: Sequence[str] | None = None,
    ks: Sequence[int] = (3, 5, 7, 10),
    thetas: Sequence[float] = (0.5, 0.6, 0.7, 0.8),
    thresholds: Mapping[str, float] | None = None,
    planted: Sequence[bool] | pd.Series | None = None,
) -> pd.DataFrame:
    """Label counts (and accuracy against planted labels) over a grid of ``k`` and ``theta``.

    Seeds and neighbour orders are computed once; each (k, theta) cell only re-thresholds.

    Parameters
    ----------
    embeddings, seeds, sentence_ids, thresholds
        As for :func:`tnc_labels`.
    ks : sequence of int
        Neighbour counts; those >= the number of sentences are skipped with a warning.
    thetas : sequence of float
        Neighbour fractions in (0, 1].
    planted : bool array of shape (n,) or bool Series indexed by sentence id, optional
        True for sentences planted negative (e.g. the demo's ``condition``).

    Returns
    -------
    DataFrame, one row per (k, theta)
        ``k``, ``theta``, ``n_negative``, ``n_non_negative``, ``n_ambiguous``; with ``planted``
        also ``precision`` (planted among TNC-negatives; NaN when none) and ``recall`` (TNC-negative
        among planted).
    """
    for theta in thetas:
        _check_theta(theta)
    index, views, scores, negative, thresholds = _prepare(embeddings, seeds, sentence_ids, thresholds)
    n = len(index)
    usable = [int(k) for k in ks if int(k) < n]
    skipped = [k for k in ks if int(k) >= n]
    for k in usable:
        _check_k(k, n)
    if skipped:
        logger.warning("skipping k=%s: need fewer neighbours than the %d sentences", skipped, n)
    if not usable:
        raise ValueError(f"every k in {list(ks)} is >= the number of sentences ({n}); pass smaller ks")
    if planted is not None:
        if isinstance(planted, pd.Series):
            planted = planted.copy()
            planted.index = planted.index.astype(str)
            absent = index.difference(planted.index)
            if len(absent):
                raise ValueError(f"planted lacks sentence(s) {list(absent[:3])}")
            planted = planted.loc[index]
        planted = np.asarray(planted)
        if planted.shape != (n,) or planted.dtype != bool:
            raise ValueError(f"planted must be a bool array of shape ({n},); got {planted.dtype} {planted.shape}")
    orders = {m: _neighbour_order(views[m], max(usable)) for m in MODALITIES}
    rows = []
    for k in usable:
        fractions = {
            m: torch.as_tensor(negative[m])[orders[m][:, :k]].double().mean(dim=1).numpy()
            for m in MODALITIES
        }
        for theta in thetas:
            label, _ = _label(negative, fractions, theta, k)
            row = {
                "k": k,
                "theta": float(theta),
                "n_negative": int((label == "negative").sum()),
                "n_non_negative": int((label == "non-negative").sum()),
                "n_ambiguous": int((label == "ambiguous").sum()),
            }
            if planted is not None:
                called = label == "negative"
                hits = int((called & planted).sum())
                row["precision"] = hits / called.sum() if called.any() else math.nan
                row["recall"] = hits / planted.sum() if planted.any() else math.nan
            rows.append(row)
    return pd.DataFrame(rows)
