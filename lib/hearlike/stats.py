"""Statistics on the metric grid: permutation p-values, FWE/FDR, bootstrap CIs, noise ceiling, rank agreement.

Everything takes and returns xarray objects with named dims (``model, layer, subject, window,
region, metric, sentence, permutation``); the arithmetic inside is vectorised NumPy.
"""

from __future__ import annotations

import itertools
import logging
from typing import Hashable, Sequence

import numpy as np
import scipy.stats as ss
import xarray as xr

logger = logging.getLogger(__name__)

__all__ = [
    "TIE_TOLERANCE",
    "exceedance_p",
    "permutation_p_value",
    "sign_flip_test",
    "sign_flip_null",
    "item_random_p",
    "binomial_upper",
    "holm",
    "max_statistic_fwe",
    "fdr_bh",
    "bootstrap_ci",
    "noise_ceiling",
    "split_half_ceiling",
    "kendall_w",
    "pairwise_kendall_tau",
]

#: relative tie tolerance of every permutation p-value: a null sample counts as reaching the
#: observed value when ``null >= observed - TIE_TOLERANCE * max(|observed|, max |null|)``, so
#: round-off never turns an exact tie into "null < observed"
TIE_TOLERANCE = 1e-9


def _require_dims(obj, dims, what):
    missing = [d for d in dims if d not in obj.dims]
    if missing:
        raise ValueError(f"{what} has dims {tuple(obj.dims)} but needs {missing}; rename or add them")


def exceedance_p(observed, null, *, axis: int = -1, tail: str = "greater",
                 null_includes_observed: bool = False) -> np.ndarray:
    """The one permutation p-value rule of the project, on arrays.

    ``p = (1 + #{null >= observed}) / (1 + n)`` -- the observed labelling counts as one
    permutation, so ``p`` is never 0 -- or ``#{null >= observed} / n`` when the null already
    holds the observed labelling (exact enumerations, sign flips with the identity). Ties within
    :data:`TIE_TOLERANCE` count as reaching the observed value.

    Parameters
    ----------
    observed : array_like
        Observed statistics, shape ``S``.
    null : array_like
        Null samples, shape ``S`` with the ``n`` samples inserted at ``axis``.
    axis : int
        The permutation axis of ``null``.
    tail : {"greater", "less", "two-sided"}
        ``"less"`` counts ``null <= observed``; ``"two-sided"`` compares distances from the null mean.
    null_includes_observed : bool
        See above.

    Returns
    -------
    ndarray, shape ``S``
        In ``(0, 1]``; NaN where ``observed`` is NaN, any null sample is NaN, or ``n`` is 0.
    """
    if tail not in ("greater", "less", "two-sided"):
        raise ValueError(f"tail must be 'greater', 'less' or 'two-sided', got {tail!r}")
    null = np.moveaxis(np.asarray(null, dtype=np.float64), axis, -1)
    observed = np.asarray(observed, dtype=np.float64)
    shape = np.broadcast_shapes(observed.shape, null.shape[:-1])
    null = np.broadcast_to(null, (*shape, null.shape[-1]))
    observed = np.broadcast_to(observed, shape)[..., None]
    n = null.shape[-1]
    if n == 0:
        return np.full(observed.shape[:-1], np.nan)
    if tail == "less":
        observed, null = -observed, -null
    elif tail == "two-sided":
        centre = null.mean(-1, keepdims=True)
        observed, null = np.abs(observed - centre), np.abs(null - centre)
    with np.errstate(invalid="ignore"):
        tol = TIE_TOLERANCE * np.maximum(np.abs(observed), np.abs(null).max(-1, keepdims=True))
        count = (null >= observed - tol).sum(-1)
    p = count / n if null_includes_observed else (1 + count) / (1 + n)
    undefined = np.isnan(observed[..., 0]) | np.isnan(null).any(-1)
    return np.where(undefined, np.nan, p)


def _xr_exceedance_p(observed: xr.DataArray, null: xr.DataArray, dim: str, **options) -> xr.DataArray:
    """:func:`exceedance_p` on DataArrays; dims ordered as ``null``'s (without ``dim``), then ``observed``'s."""
    p = xr.apply_ufunc(exceedance_p, observed, null, input_core_dims=[[], [dim]], kwargs=options)
    order = [d for d in null.dims if d != dim] + [d for d in observed.dims if d not in null.dims]
    return p.transpose(*order)


def permutation_p_value(
    observed: xr.DataArray, null: xr.DataArray, *, dim: str = "permutation", tail: str = "greater"
) -> xr.DataArray:
    """Permutation p-value ``(1 + #{null >= observed}) / (1 + n_permutations)``.

    Parameters
    ----------
    observed : DataArray
        Observed statistics, any dims.
    null : DataArray
        Null samples with the dims of ``observed`` plus ``dim``.
    dim : str
        The permutation dim of ``null``.
    tail : {"greater", "less", "two-sided"}
        ``"two-sided"`` compares distances from the null mean.

    Returns
    -------
    DataArray
        In ``(0, 1]``, dims of ``observed``; never 0 (the observed labelling counts as a permutation).
    """
    _require_dims(null, [dim], "null")
    return _xr_exceedance_p(observed, null, dim, tail=tail).rename("p_value")


def max_statistic_fwe(
    observed: xr.DataArray,
    null: xr.DataArray,
    *,
    dims: Sequence[Hashable],
    perm_dim: str = "permutation",
    standardize: bool = False,
) -> xr.DataArray:
    """Family-wise-error corrected p-values by the max statistic over ``dims``.

    For every permutation the null is maximised over the family ``dims``; each observed value is
    compared with that distribution of maxima (Nichols & Holmes 2002). Valid because the grid uses
    the same permutations for every cell.

    Parameters
    ----------
    observed : DataArray
        e.g. the grid's ``score``.
    null : DataArray
        e.g. the grid's ``null`` (dims of ``observed`` + ``perm_dim``).
    dims : sequence of str
        The family, e.g. ``("layer", "window", "region")``.
    perm_dim : str
        Permutation dim of ``null``.
    standardize : bool
        z-score each cell by its null mean/sd first (for families mixing scales, e.g. metrics).

    Returns
    -------
    DataArray
        Corrected p-values, dims of ``observed``.
    """
    dims = list(dims)
    _require_dims(null, dims + [perm_dim], "null")
    if standardize:
        mean, sd = null.mean(perm_dim), null.std(perm_dim, ddof=1)
        observed, null = (observed - mean) / sd, (null - mean) / sd
    max_null = null.max(dims)  # (other dims, permutation)
    return _xr_exceedance_p(observed, max_null, perm_dim).rename("p_fwe")


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values of a 1-D array (NaNs ignored and kept)."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)
    ranked = q[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    res = np.empty(m)
    res[order] = adjusted
    out[ok] = res
    return out


def fdr_bh(p_values: xr.DataArray, *, dims: Sequence[Hashable] | None = None) -> xr.DataArray:
    """Benjamini–Hochberg FDR-adjusted p-values over the family ``dims``.

    Parameters
    ----------
    p_values : DataArray
        Uncorrected p-values in ``[0, 1]`` (NaN = not tested, left NaN and not counted).
    dims : sequence of str, optional
        The dims forming one family (default: all dims, one family). Other dims index separate
        families.

    Returns
    -------
    DataArray
        Adjusted p-values (``q``), same dims; agrees with ``scipy.stats.false_discovery_control``.
    """
    dims = list(p_values.dims) if dims is None else list(dims)
    _require_dims(p_values, dims, "p_values")
    finite = p_values.values[np.isfinite(p_values.values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(f"p-values must lie in [0, 1], got range [{finite.min()}, {finite.max()}]")
    stacked = p_values.stack(_family=dims)
    adjusted = xr.apply_ufunc(
        _bh, stacked, input_core_dims=[["_family"]], output_core_dims=[["_family"]], vectorize=True
    )
    return adjusted.unstack("_family").transpose(*p_values.dims).rename("q_value")


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


def sign_flip_test(differences: xr.DataArray, *, dim: str = "subject", n_permutations: int = 10000,
                   seed: int = 0) -> xr.DataArray:
    """One-sided paired permutation test (sign flips over ``dim``) that the mean difference is > 0.

    Exact (all ``2**n`` flips, the identity among them) when ``2**n <= n_permutations``, else
    Monte-Carlo with ``seed`` (the first flip is the identity). ``p = #{null >= observed} / n_flips``
    by :func:`exceedance_p` (the identity included, so never 0).

    Parameters
    ----------
    differences : DataArray
        Paired differences with dim ``dim`` (e.g. subjects) and any others (separate tests).
    dim : str
        The dim whose signs are flipped.
    n_permutations : int
        Largest number of flips; more subjects than ``log2(n_permutations)`` means random flips.
    seed : int
        Seeds the random flips.

    Returns
    -------
    DataArray
        p-values in ``(0, 1]``, dims of ``differences`` without ``dim``; NaN where a difference is NaN.
    """
    _require_dims(differences, [dim], "differences")
    n = differences.sizes[dim]
    if 2**n <= n_permutations:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=n)))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice([1.0, -1.0], size=(n_permutations, n))
        signs[0] = 1.0
    values = differences.transpose(..., dim).values
    null = np.einsum("...n,pn->...p", values, signs) / n
    p = exceedance_p(values.mean(-1), null, axis=-1, null_includes_observed=True)
    dims = [d for d in differences.transpose(..., dim).dims if d != dim]
    coords = {k: v for k, v in differences.coords.items() if dim not in v.dims}
    return xr.DataArray(p, dims=dims, coords=coords, name="p_value")


def _flip_signs(n: int, n_permutations: int, seed: int) -> np.ndarray:
    """Sign vectors ``(n_flips, n)``: all ``2**n`` when that is ``<= n_permutations``, else random; identity first."""
    if 2**n <= n_permutations:
        return np.array(list(itertools.product([1.0, -1.0], repeat=n)))
    signs = np.random.default_rng(seed).choice([1.0, -1.0], size=(n_permutations, n))
    signs[0] = 1.0
    return signs


def sign_flip_null(values: xr.DataArray, *, dim: str = "sentence", n_permutations: int = 1000,
                   seed: int = 0) -> xr.DataArray:
    """Null distribution of the mean over ``dim`` under random sign flips of its units (identity first).

    The same flips are used for every other index (every cell), so the result can feed
    :func:`max_statistic_fwe`. NaN units (a sentence undefined in a cell) are left out of that
    cell's means; a cell with no finite unit is NaN.

    Parameters
    ----------
    values : DataArray
        Per-unit values centred at 0 under the null (e.g. the grid's ``sentence_excess`` averaged
        over subjects), dim ``dim`` and any others.
    dim : str
        The units whose signs are flipped (sentences: items as a random effect).
    n_permutations : int
        Flips; exact enumeration when ``2**n <= n_permutations``.
    seed : int
        Seeds the random flips.

    Returns
    -------
    DataArray
        Dims of ``values`` without ``dim``, then ``permutation``; ``[..., 0]`` is the observed mean.
    """
    _require_dims(values, [dim], "values")
    moved = values.transpose(..., dim)
    data = moved.values.astype(np.float64)
    finite = np.isfinite(data)
    count = finite.sum(-1)
    signs = _flip_signs(data.shape[-1], n_permutations, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        null = np.einsum("...n,pn->...p", np.where(finite, data, 0.0), signs) / count[..., None]
    null[count == 0] = np.nan
    dims = [d for d in moved.dims if d != dim] + ["permutation"]
    coords = {k: v for k, v in moved.coords.items() if dim not in v.dims}
    return xr.DataArray(null, dims=dims, coords=coords, name="sign_flip_null")


def item_random_p(values: xr.DataArray, *, family: Sequence[Hashable], dim: str = "sentence",
                  n_permutations: int = 1000, seed: int = 0) -> xr.Dataset:
    """By-item test: is the mean over ``dim`` (items) > 0, uncorrected and max-T FWE over ``family``?

    Items (sentences) are the random units: each cell's per-item values (e.g. excess over the
    timing-preserving null, averaged over subjects) are sign-flipped, the same flips for every
    cell, and the maximum of the standardised means over ``family`` gives the corrected p-value
    (:func:`max_statistic_fwe`). Valid when each item's value is symmetric about 0 under the null
    and items are independent -- which holds for a model whose states are unrelated to the EEG even
    when the EEG structure is shared by all subjects (the by-subject test does not).

    Returns
    -------
    Dataset
        ``observed`` (mean over ``dim``), ``p`` (one-sided, :func:`exceedance_p` with the identity
        in the null), ``p_fwe``; dims of ``values`` without ``dim``.
    """
    null = sign_flip_null(values, dim=dim, n_permutations=n_permutations, seed=seed)
    observed = null.isel(permutation=0, drop=True)
    p = xr.apply_ufunc(exceedance_p, observed, null, input_core_dims=[[], ["permutation"]],
                       kwargs=dict(null_includes_observed=True))
    p_fwe = max_statistic_fwe(observed, null, dims=list(family), perm_dim="permutation", standardize=True)
    return xr.Dataset({"observed": observed, "p": p.transpose(*observed.dims), "p_fwe": p_fwe.transpose(*observed.dims)})


def binomial_upper(k: int, n: int, *, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a rate ``k / n`` (1 when ``k == n``)."""
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    return 1.0 if k == n else float(ss.beta.ppf(level, k + 1, n - k))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values of a 1-D array (step-down, monotone, capped at 1).

    Parameters
    ----------
    p_values : array, shape (m,)
        Uncorrected p-values of one family of ``m`` tests.

    Returns
    -------
    ndarray, shape (m,)
        Adjusted p-values, in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out

