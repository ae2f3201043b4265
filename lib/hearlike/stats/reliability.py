"""Uncertainty and reliability: bootstrap CIs over subjects, noise ceilings, rank agreement across metrics."""

from __future__ import annotations

import logging
from typing import Hashable, Sequence

import numpy as np
import scipy.stats as ss
import xarray as xr

logger = logging.getLogger(__name__)


from .permutation import _require_dims


def bootstrap_ci(
    values: xr.DataArray,
    *,
    dim: str = "sentence",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> xr.Dataset:
    """Percentile bootstrap CI of the mean over ``dim`` (sentences or subjects), seeded.

    Parameters
    ----------
    values : DataArray
        e.g. the grid's ``sentence_score`` (``dim="sentence"``) or ``excess`` (``dim="subject"``).
    dim : str
        Resampled with replacement.
    n_boot : int
        Bootstrap samples.
    ci : float
        Coverage of the interval, in ``(0, 1)``.
    seed : int
        Seeds the resampling; the same seed gives the same interval.

    Returns
    -------
    Dataset
        ``estimate`` (mean over ``dim``), ``low``, ``high``; dims of ``values`` without ``dim``.
    """
    _require_dims(values, [dim], "values")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    n = values.sizes[dim]
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n  # (boot, n)
    moved = values.transpose(..., dim)
    data = moved.values
    flat = data.reshape(-1, n)
    boot = np.empty((n_boot, flat.shape[0]))
    step = max(1, 2**24 // max(1, flat.shape[0]))
    for b0 in range(0, n_boot, step):
        boot[b0 : b0 + step] = weights[b0 : b0 + step] @ flat.T
    alpha = (1 - ci) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    shape = data.shape[:-1]
    other = [d for d in moved.dims if d != dim]
    coords = {k: v for k, v in moved.coords.items() if dim not in v.dims}
    out = xr.Dataset(
        {
            "estimate": (other, flat.mean(axis=1).reshape(shape)),
            "low": (other, low.reshape(shape)),
            "high": (other, high.reshape(shape)),
        },
        coords=coords,
    )
    out.attrs.update(dim=dim, n_boot=n_boot, ci=ci, seed=seed)
    return out


def _rank(a: np.ndarray) -> np.ndarray:
    return ss.rankdata(a, axis=-1, nan_policy="omit")


def _nan_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis over entries finite in both."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    k = ok.sum(-1)
    a = np.where(ok, a - a.sum(-1, keepdims=True) / k[..., None], 0.0)
    b = np.where(ok, b - b.sum(-1, keepdims=True) / k[..., None], 0.0)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def noise_ceiling(
    rdms: xr.DataArray,
    *,
    subject_dim: str = "subject",
    pair_dim: str = "pair",
    method: str = "spearman",
    mean_over: Sequence[Hashable] = ("sentence",),
) -> xr.Dataset:
    """Leave-one-subject-out noise ceiling of RSA (Nili et al. 2014).

    Each subject's RDM is compared with the subject-average RDM: of all subjects (``upper`` bound)
    and of the other subjects (``lower`` bound); the bounds are means over subjects. Pooling follows
    rsatoolbox: ranks are averaged for ``"spearman"``, z-scores for ``"pearson"``.

    Parameters
    ----------
    rdms : DataArray
        Upper-triangle RDM vectors with dims ``subject_dim``, ``pair_dim`` and any others (e.g.
        ``window, region, sentence`` from :func:`hearlike.grid.eeg_rdms`). NaN pairs (shorter
        sentences padded) are ignored.
    subject_dim, pair_dim : str
        Names of the subject and pair dims.
    method : {"spearman", "pearson"}
        RDM comparison, as in the grid's ``spearman_rsa`` / ``pearson_rsa``.
    mean_over : sequence of str
        Dims averaged after computing the bounds (those present), default ``("sentence",)``.

    Returns
    -------
    Dataset
        ``lower`` and ``upper``, dims of ``rdms`` without subject, pair and ``mean_over``.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    _require_dims(rdms, [subject_dim, pair_dim], "rdms")
    n_subj = rdms.sizes[subject_dim]
    if n_subj < 2:
        raise ValueError(f"the noise ceiling needs >= 2 subjects, got {n_subj}")
    moved = rdms.transpose(..., subject_dim, pair_dim)
    a = moved.values.astype(np.float64)
    if method == "spearman":
        pooled_in = _rank(a)
    else:
        mu = np.nanmean(a, axis=-1, keepdims=True)
        pooled_in = (a - mu) / np.nanstd(a, axis=-1, keepdims=True)
    total = pooled_in.sum(axis=-2, keepdims=True)
    loo = (total - pooled_in) / (n_subj - 1)
    everyone = np.broadcast_to(total / n_subj, a.shape)
    if method == "spearman":
        a, loo, everyone = _rank(a), _rank(loo), _rank(everyone)
    lower = _nan_pearson(a, loo).mean(axis=-1)
    upper = _nan_pearson(a, everyone).mean(axis=-1)
    other = [d for d in moved.dims if d not in (subject_dim, pair_dim)]
    coords = {k: v for k, v in moved.coords.items() if subject_dim not in v.dims and pair_dim not in v.dims}
    out = xr.Dataset({"lower": (other, lower), "upper": (other, upper)}, coords=coords)
    present = [d for d in mean_over if d in out.dims]
    if present:
        out = out.mean(present)
    out.attrs.update(method=method, n_subjects=n_subj)
    return out


def split_half_ceiling(
    rdms: xr.DataArray,
    *,
    subject_dim: str = "subject",
    pair_dim: str = "pair",
    mean_over: Sequence[Hashable] = ("sentence",),
    n_splits: int = 100,
    seed: int = 0,
) -> xr.Dataset:
    """Split-half reliability of the group RDM with the Spearman-Brown correction (a noise ceiling).

    For each of ``n_splits`` random halvings of the subjects, the rank-averaged RDMs of the two
    halves are Spearman-correlated (per sentence, NaN pairs ignored); ``split_half`` is the mean over
    sentences and splits, ``ceiling = 2 r / (1 + r)`` its Spearman-Brown step-up to the full group.

    Parameters
    ----------
    rdms : DataArray
        Upper-triangle RDM vectors, dims ``subject_dim``, ``pair_dim`` and any others (as for
        :func:`noise_ceiling`).
    subject_dim, pair_dim, mean_over
        As in :func:`noise_ceiling`.
    n_splits : int
        Random halvings (subjects beyond an even count are left out of each split at random).
    seed : int
        Seeds the halvings.

    Returns
    -------
    Dataset
        ``split_half`` and ``ceiling``, dims of ``rdms`` without subject, pair and ``mean_over``.
    """
    _require_dims(rdms, [subject_dim, pair_dim], "rdms")
    n_subj = rdms.sizes[subject_dim]
    if n_subj < 2:
        raise ValueError(f"the split-half ceiling needs >= 2 subjects, got {n_subj}")
    moved = rdms.transpose(..., subject_dim, pair_dim)
    ranks = _rank(moved.values.astype(np.float64))
    rng = np.random.default_rng(seed)
    half = n_subj // 2
    rs = []
    for _ in range(n_splits):
        order = rng.permutation(n_subj)
        a = _rank(ranks[..., order[:half], :].mean(-2))
        b = _rank(ranks[..., order[half:2 * half], :].mean(-2))
        rs.append(_nan_pearson(a, b))
    r = np.mean(rs, axis=0)
    other = [d for d in moved.dims if d not in (subject_dim, pair_dim)]
    coords = {k: v for k, v in moved.coords.items() if subject_dim not in v.dims and pair_dim not in v.dims}
    out = xr.Dataset({"split_half": (other, r)}, coords=coords)
    present = [d for d in mean_over if d in out.dims]
    if present:
        out = out.mean(present)
    out["ceiling"] = 2 * out["split_half"] / (1 + out["split_half"])
    out.attrs.update(n_subjects=n_subj, n_splits=n_splits, seed=seed)
    return out


def _kendall_w_2d(scores: np.ndarray) -> float:
    """Tie-corrected W of ``scores (n_items, n_raters)``."""
    n, m = scores.shape
    ranks = ss.rankdata(scores, axis=0)
    ties = 0.0
    for j in range(m):
        _, counts = np.unique(ranks[:, j], return_counts=True)
        ties += float((counts**3 - counts).sum())
    r = ranks.sum(axis=1)
    s = float(((r - r.mean()) ** 2).sum())
    return 12 * s / (m**2 * (n**3 - n) - m * ties)


def kendall_w(scores: xr.DataArray, *, item_dim: str = "model", rater_dim: str = "metric") -> xr.Dataset:
    """Kendall's coefficient of concordance W of the raters' rankings of the items.

    E.g. do the metrics (raters) rank the models (items) alike? Ties get average ranks and the
    tie-corrected W; the chi-square test uses ``m (n - 1) W ~ chi²(n - 1)``.

    Parameters
    ----------
    scores : DataArray
        Dims ``item_dim``, ``rater_dim`` and any others (separate tests).
    item_dim, rater_dim : str
        What is ranked and who ranks.

    Returns
    -------
    Dataset
        ``w`` in ``[0, 1]``, ``chi2``, ``p_value``; attr ``dof``.
    """
    _require_dims(scores, [item_dim, rater_dim], "scores")
    n, m = scores.sizes[item_dim], scores.sizes[rater_dim]
    if n < 2 or m < 2:
        raise ValueError(f"Kendall's W needs >= 2 items and >= 2 raters, got {n} {item_dim} and {m} {rater_dim}")
    if scores.isnull().any():
        raise ValueError("scores contain NaN; select the cells every rater scored (e.g. .dropna)")
    w = xr.apply_ufunc(
        _kendall_w_2d, scores, input_core_dims=[[item_dim, rater_dim]], vectorize=True
    )
    chi2 = m * (n - 1) * w
    p = xr.apply_ufunc(ss.chi2.sf, chi2, n - 1)
    out = xr.Dataset({"w": w, "chi2": chi2, "p_value": p})
    out.attrs.update(dof=n - 1, n_items=n, n_raters=m)
    return out


def _tau_b_matrix(means: np.ndarray) -> np.ndarray:
    """Kendall tau-b between all rater pairs: ``means (..., item, rater) -> (..., rater, rater)``."""
    sign = np.sign(means[..., :, None, :] - means[..., None, :, :])  # (..., i, j, rater)
    num = np.einsum("...ijr,...ijs->...rs", sign, sign)
    norm = np.einsum("...ijr,...ijr->...r", sign, sign)
    return num / np.sqrt(norm[..., :, None] * norm[..., None, :])


def pairwise_kendall_tau(
    values: xr.DataArray,
    *,
    item_dim: str = "model",
    rater_dim: str = "metric",
    sample_dim: str = "sentence",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> xr.Dataset:
    """Kendall tau-b between every pair of raters' rankings of the items, with bootstrap CIs.

    The rankings come from the mean over ``sample_dim``; the CI resamples ``sample_dim`` with
    replacement (seeded) and recomputes the means and taus.

    Parameters
    ----------
    values : DataArray
        Dims ``item_dim, rater_dim, sample_dim`` exactly (select or reduce other dims first),
        e.g. per-sentence scores of each model's best layer.
    item_dim, rater_dim, sample_dim : str
        Ranked items, raters, resampled units.
    n_boot, ci, seed
        As in :func:`bootstrap_ci`.

    Returns
    -------
    Dataset
        ``tau``, ``low``, ``high`` with dims ``(rater_dim, rater_dim + "_other")``.
    """
    _require_dims(values, [item_dim, rater_dim, sample_dim], "values")
    if set(values.dims) != {item_dim, rater_dim, sample_dim}:
        raise ValueError(
            f"values must have exactly dims ({item_dim}, {rater_dim}, {sample_dim}), got {values.dims}; "
            "select or average the others first"
        )
    data = values.transpose(sample_dim, item_dim, rater_dim).values.astype(np.float64)
    n = data.shape[0]
    tau = _tau_b_matrix(data.mean(axis=0))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n
    boot_means = np.einsum("bs,sir->bir", weights, data)
    boots = _tau_b_matrix(boot_means)
    alpha = (1 - ci) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha], axis=0)
    other = f"{rater_dim}_other"
    raters = values[rater_dim].values
    dims = (rater_dim, other)
    return xr.Dataset(
        {"tau": (dims, tau), "low": (dims, low), "high": (dims, high)},
        coords={rater_dim: raters, other: raters},
        attrs=dict(n_boot=n_boot, ci=ci, seed=seed, sample_dim=sample_dim),
    )
