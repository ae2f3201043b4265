"""The reference study's TNC *score* ("Triangulated Neuro-Computational"), beside hearlike's TNC labelling.

Not to be confused with :func:`hearlike.tnc.tnc_labels` (Tri-modal Neighborhood Consistency), which
*labels sentences* negative by agreement of prosody, text and model views. The study's score asks,
per sentence, how much of the relation between the prosody and the EEG geometry the model's
geometry accounts for. With three RDMs over the sentence's items -- prosody ``P``, EEG ``E``,
model ``M`` -- and Spearman correlations ``r`` of their upper triangles::

    r(P, E | M) = (r_PE - r_PM r_EM) / sqrt((1 - r_PM^2) (1 - r_EM^2))
    score       = 1 - r(P, E | M)^2 / r_PE^2

(the first-order partial correlation of the ranks; equal to the Pearson correlation of the ranks
of ``P`` and ``E`` after regressing both on the ranks of ``M``). A score of 1: the model accounts
for the whole prosody-EEG relation; 0: for none of it; below 0: controlling for the model
strengthens the relation (suppression). It is not bounded below.

Items are words here (the study's are 20 ms model frames); the prosody RDM is the correlation
distance between the items' :data:`hearlike.prosody.FRAME_FEATURES` (frame-wise F0, energy,
zero-crossing rate and spectral centroid, bandwidth and roll-off, pooled per word), each feature
z-scored over the sentence's items first (the study correlates raw features, where the Hz-valued
spectral ones dominate); EEG and model RDMs are correlation distances as in the metric grid.

**Undefined** (NaN, with the reason counted, where the study's code returns 0): fewer than
``min_items`` items (a partial correlation over ``n`` items' ``n (n - 1) / 2`` pairs needs more
than 3 pairs), a constant or undefined RDM, ``|r_PE| < min_abs_r`` (no prosody-EEG relation to
explain), or ``|r_PM| = 1`` / ``|r_EM| = 1`` (the partial correlation is undefined).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats as ss
import torch
import xarray as xr

from ..geometry import _correlation_rdm_upper

logger = logging.getLogger(__name__)

__all__ = ["UNDEFINED_REASONS", "correlation_rdm", "partial_spearman", "triangulated_score",
           "sentence_triangulated_scores", "eeg_word_vectors"]  # fmt: skip

UNDEFINED_REASONS = ("too few items", "constant RDM", "no prosody-EEG relation", "perfect collinearity")
"""Why a sentence's score is NaN (column ``undefined`` of :func:`sentence_triangulated_scores`)."""


def correlation_rdm(items: np.ndarray) -> np.ndarray:
    """Upper triangle (row-major, diagonal excluded) of the correlation-distance RDM of items.

    Parameters
    ----------
    items : array, shape (..., n_items, n_features)

    Returns
    -------
    ndarray, shape (..., n_items * (n_items - 1) / 2), float64, in [0, 2]
        ``1 - Pearson r`` between items' feature vectors; NaN where an item's features are constant.
    """
    x = torch.as_tensor(np.asarray(items, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _correlation_rdm_upper(x).numpy()


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """Spearman correlations of three vectors and the partial correlation of ``x`` and ``y`` given ``z``.

    Parameters
    ----------
    x, y, z : array, shape (..., n)
        e.g. RDM upper triangles, one row per sentence (broadcast against each other).

    Returns
    -------
    dict of ndarray, shape (...)
        ``r_xy``, ``r_xz``, ``r_yz`` (Spearman, average ranks for ties) and ``partial``
        (``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``); NaN where a vector is constant
        or ``|r_xz|`` or ``|r_yz|`` is 1.
    """
    x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, z)))
    rx, ry, rz = (ss.rankdata(v, axis=-1) for v in (x, y, z))
    r_xy, r_xz, r_yz = _pearson(rx, ry), _pearson(rx, rz), _pearson(ry, rz)
    denominator = (1 - r_xz**2) * (1 - r_yz**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        partial = np.where(denominator > 1e-12, (r_xy - r_xz * r_yz) / np.sqrt(np.maximum(denominator, 1e-300)),
                           np.nan)  # fmt: skip
    return {"r_xy": r_xy, "r_xz": r_xz, "r_yz": r_yz, "partial": partial}


def triangulated_score(prosody_rdm: np.ndarray, eeg_rdm: np.ndarray, model_rdm: np.ndarray, *,
                       min_abs_r: float = 1e-6) -> dict[str, np.ndarray]:
    """The study's TNC score ``1 - r^2(P, E | M) / r^2(P, E)`` of RDM upper triangles.

    Parameters
    ----------
    prosody_rdm, eeg_rdm, model_rdm : array, shape (..., n_pairs)
        Upper triangles of the three RDMs (same item order), e.g. one row per sentence.
    min_abs_r : float
        ``|r_PE|`` below this counts as no prosody-EEG relation: the score is NaN.

    Returns
    -------
    dict of ndarray, shape (...)
        ``r_prosody_eeg``, ``r_prosody_model``, ``r_model_eeg``, ``r_partial`` (prosody-EEG given
        the model) and ``score`` (dimensionless, <= 1; NaN where undefined, see the module).
    """
    r = partial_spearman(prosody_rdm, eeg_rdm, model_rdm)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.abs(r["r_xy"]) >= min_abs_r, 1.0 - r["partial"] ** 2 / r["r_xy"] ** 2, np.nan)
    return {"r_prosody_eeg": r["r_xy"], "r_prosody_model": r["r_xz"], "r_model_eeg": r["r_yz"],
            "r_partial": r["partial"], "score": score}  # fmt: skip


def eeg_word_vectors(epochs: xr.DataArray, *, window_ms: tuple[float, float],
                     channels: Sequence[str] | None = None) -> xr.DataArray:
    """Each word's EEG in a window as one vector (channels x samples), per subject.

    Parameters
    ----------
    epochs : DataArray, dims (subject, word, channel, time)
        Word epochs (volts; ``time`` in s from word onset), word coordinates as in ``ARCHITECTURE.md``.
    window_ms : (start_ms, stop_ms)
        Samples with ``start_ms <= t < stop_ms`` after word onset.
    channels : sequence of str, optional
        A region's channels (default all).

    Returns
    -------
    DataArray, dims (subject, word, feature), float64
    """
    start, stop = window_ms
    times_ms = np.asarray(epochs["time"].values, dtype=float) * 1000
    inside = (times_ms >= start) & (times_ms < stop)
    if not inside.any():
        raise ValueError(f"no EEG sample lies in the window {start}-{stop} ms (epochs span "
                         f"{times_ms.min():.0f}-{times_ms.max():.0f} ms)")
    selected = epochs.isel(time=np.nonzero(inside)[0])
    if channels is not None:
        missing = sorted(set(channels) - set(map(str, epochs["channel"].values)))
        if missing:
            raise ValueError(f"channels {missing} are not in the epochs")
        selected = selected.sel(channel=list(channels))
    flat = selected.transpose("subject", "word", "channel", "time").astype(np.float64)
    return flat.stack(feature=("channel", "time")).reset_index("feature", drop=True)


def _word_rows(name: str, data) -> pd.DataFrame:
    """(sentence_id, word_index) of each word of a DataFrame (index ``word``) or DataArray (dim ``word``)."""
    if isinstance(data, pd.DataFrame):
        ids, order = data.get("sentence_id"), data.get("word_index")
        words = data.index
    else:
        ids = data["sentence_id"].values if "sentence_id" in data.coords else None
        order = data["word_index"].values if "word_index" in data.coords else None
        words = data["word"].values
    if ids is None or order is None:
        raise ValueError(f"{name} lacks the word coordinates 'sentence_id' and 'word_index' (see ARCHITECTURE.md)")
    rows = pd.DataFrame({"sentence_id": np.asarray(ids).astype(str), "word_index": np.asarray(order).astype(int)},
                        index=pd.Index(np.asarray(words).astype(str), name="word"))
    if rows.index.has_duplicates:
        raise ValueError(f"{name} repeats word label {rows.index[rows.index.duplicated()][0]!r}")
    return rows


def _zscore_items(values: np.ndarray) -> np.ndarray:
    """Z-score each feature over the items (axis -2); a NaN (e.g. an unvoiced word's F0) becomes 0, the mean."""
    finite = np.isfinite(values)
    count = finite.sum(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0).sum(axis=-2, keepdims=True) / count
        sd = np.sqrt(np.where(finite, (values - mean) ** 2, 0.0).sum(axis=-2, keepdims=True) / count)
        z = (values - mean) / np.where(sd > 1e-12, sd, np.nan)
    return np.nan_to_num(z, nan=0.0)


def _group_rdm(rdms: np.ndarray) -> np.ndarray:
    """Mean over subjects (axis 0) of the subjects whose RDM is finite; all NaN when none is."""
    finite = np.isfinite(rdms).all(axis=-1)
    return rdms[finite].mean(axis=0) if finite.any() else np.full(rdms.shape[-1], np.nan)


def sentence_triangulated_scores(prosody: pd.DataFrame, eeg: xr.DataArray, model: xr.DataArray, *,
                                 features: Sequence[str] | None = None, min_items: int = 4,
                                 min_abs_r: float = 1e-6) -> pd.DataFrame:
    """The study's TNC score of every sentence, with words as items.

    Parameters
    ----------
    prosody : DataFrame, index ``word``
        Per-word prosody with ``sentence_id`` and ``word_index`` columns (e.g.
        :func:`hearlike.prosody.word_prosody`).
    eeg : DataArray, dims (subject, word, feature) or (word, feature)
        e.g. :func:`eeg_word_vectors`. With ``subject``, each subject's RDM is computed and the
        RDMs are averaged over subjects (the group RDM) before scoring.
    model : DataArray, dims (word, feature)
        One layer of a model's word states (NaN-padded feature columns are dropped).
    features : sequence of str, optional
        Prosody columns (default :data:`hearlike.prosody.FRAME_FEATURES`).
    min_items : int
        Sentences with fewer words common to all three are undefined (>= 4: a partial correlation
        needs more than 3 pairs).
    min_abs_r : float
        As for :func:`triangulated_score`.

    Returns
    -------
    DataFrame, index ``sentence_id`` (sorted)
        ``n_words``, ``r_prosody_eeg``, ``r_prosody_model``, ``r_model_eeg``, ``r_partial``,
        ``score`` and ``undefined`` (one of :data:`UNDEFINED_REASONS`, "" where defined);
        ``attrs["counts"]``: sentences per reason, ``attrs["n_defined"]``.
    """
    from ..prosody import FRAME_FEATURES

    if min_items < 4:
        raise ValueError(f"min_items must be >= 4 (a partial correlation needs more than 3 item pairs); got {min_items}")
    features = list(features or FRAME_FEATURES)
    missing = [f for f in features if f not in prosody.columns]
    if missing:
        raise ValueError(f"prosody lacks column(s) {missing}; use hearlike.prosody.word_prosody()")
    if "subject" not in eeg.dims:
        eeg = eeg.expand_dims(subject=["all"])
    eeg = eeg.transpose("subject", "word", ...)
    model = model.transpose("word", ...)
    if eeg.ndim != 3 or model.ndim != 2:
        raise ValueError(f"eeg must have dims (subject, word, feature) and model (word, feature); got {eeg.dims}, {model.dims}")
    rows = {n: _word_rows(n, d) for n, d in (("prosody", prosody), ("eeg", eeg), ("model", model))}
    common = rows["prosody"].index.intersection(rows["eeg"].index).intersection(rows["model"].index)
    words = rows["model"].loc[common].sort_values(["sentence_id", "word_index"])
    position = {n: pd.Series(np.arange(len(r)), index=r.index) for n, r in rows.items()}
    prosody_values = prosody[features].to_numpy(float)
    eeg_values, model_values = np.asarray(eeg.values, dtype=float), np.asarray(model.values, dtype=float)
    out = []
    all_ids = sorted(set(rows["prosody"]["sentence_id"]) | set(rows["model"]["sentence_id"]))
    for sentence_id in all_ids:
        chosen = words.index[words["sentence_id"] == sentence_id]
        row = {"sentence_id": sentence_id, "n_words": len(chosen), "undefined": ""}
        row.update(dict.fromkeys(("r_prosody_eeg", "r_prosody_model", "r_model_eeg", "r_partial", "score"), np.nan))
        if len(chosen) < min_items:
            out.append(row | {"undefined": "too few items"})
            continue
        p = correlation_rdm(_zscore_items(prosody_values[position["prosody"][chosen].to_numpy()]))
        e = _group_rdm(correlation_rdm(eeg_values[:, position["eeg"][chosen].to_numpy()]))
        m_items = model_values[position["model"][chosen].to_numpy()]
        m = correlation_rdm(m_items[:, np.isfinite(m_items).all(axis=0)])
        if not all(np.isfinite(v).all() and np.ptp(v) > 0 for v in (p, e, m)):
            out.append(row | {"undefined": "constant RDM"})
            continue
        row.update({k: float(v) for k, v in triangulated_score(p, e, m, min_abs_r=min_abs_r).items()})
        if np.isnan(row["score"]):
            row["undefined"] = ("no prosody-EEG relation" if abs(row["r_prosody_eeg"]) < min_abs_r
                                else "perfect collinearity")  # fmt: skip
        out.append(row)
    table = pd.DataFrame(out).set_index("sentence_id")
    counts = {reason: int((table["undefined"] == reason).sum()) for reason in UNDEFINED_REASONS}
    table.attrs.update(counts=counts, n_defined=int((table["undefined"] == "").sum()), min_abs_r=min_abs_r,
                       min_items=min_items, features=features)
    if any(counts.values()):
        logger.info("study TNC score undefined for %s", {k: v for k, v in counts.items() if v})
    return table
