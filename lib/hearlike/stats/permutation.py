"""Permutation inference: the one p-value rule, max-T FWE, FDR, sign-flip tests (subjects; sentences as a
random effect), Holm, binomial bounds."""

from __future__ import annotations

import itertools
import logging
from typing import Hashable, Sequence

import numpy as np
import scipy.stats as ss
import xarray as xr

logger = logging.getLogger(__name__)


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
