"""Nuclear norms of many small matrices on a CPU, compiled: the factor metrics' inner loop.

Orthogonal Procrustes and SVCCA score a pair of sentences by the nuclear norm (the sum of singular
values) of an ``r x s`` matrix ``M = rep_xᵀ rep_y`` with ``r, s < n_words``; a grid takes one per
layer × EEG cell × sentence × permutation, millions of them. LAPACK's batched ``syevd`` spends ~5-7
µs on each 11 × 11 matrix, mostly call overhead, and was most of the grid's time.

:func:`nuclear_norms` computes the same number in one compiled loop over the batch: per matrix the
product without the factors' zero columns, the lower triangle of its smaller Gram ``MᵀM`` (or ``MMᵀ``), its Householder reduction to tridiagonal
form and the implicit QL iteration with shifts (Golub & Van Loan, *Matrix Computations*, §8.3;
Wilkinson & Reinsch, *Handbook*, II/2-4), eigenvalues only, then ``Σ sqrt(max(λ, 0))``. The
algorithms are backward stable, like LAPACK's: the two agree to ~1e-12 relative
(``tests/test_metrics_nuclear.py`` checks them against ``torch.linalg.eigvalsh`` and against an SVD).
The products run up to 64 side by side, sorted by size, each step in SIMD vectors
(:mod:`._nuclear_loop`): ~2.2 µs per 11 × 11 product on the 2026-12-07 machine, where eight side by
side took ~2.8 µs, one at a time ~4 µs and ``eigvalsh`` ~7 µs; no expanded copies of the broadcast
factors are made (``bench/RESULTS.md``).

A matrix holding a NaN or an infinity gives NaN. On a GPU, or where numba is missing, the callers
use ``torch.linalg.eigvalsh`` (:func:`hearlike.metrics.compare._nuclear`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["AVAILABLE", "nuclear_norms"]

#: whether the compiled path runs here: numba is installed (a dependency; imported, and the loop
#: compiled or read from numba's cache, on first use: ~1 s, ~5 s the first time on a machine) and
#: the environment variable ``HEARLIKE_COMPILED`` is not ``0`` (set it to time or debug the LAPACK path)
AVAILABLE = importlib.util.find_spec("numba") is not None and os.environ.get("HEARLIKE_COMPILED", "1") != "0"


@functools.cache
def _kernels():
    """The compiled loops (numba imported, and the loops compiled or read from its cache, here):
    ``(lane_nuclear_norms, product_nuclear_norms)``."""
    from ._nuclear_loop import lane_nuclear_norms, product_nuclear_norms

    return lane_nuclear_norms, product_nuclear_norms


def _batch_index(arr: np.ndarray, shape: tuple) -> np.ndarray:
    """Index of each of ``shape``'s elements into ``arr``'s flattened batch (broadcasting)."""
    lead = arr.shape[:-2]
    return np.broadcast_to(np.arange(int(np.prod(lead, dtype=np.int64))).reshape(lead), shape).ravel()


def nuclear_norms(x: np.ndarray, y: np.ndarray, *, threads: int = 1) -> np.ndarray:
    """Nuclear norms (sums of singular values) of ``xᵀ y`` for ``x (..., n, r)``, ``y (..., n, s)``.

    The leading dims broadcast (no expanded copy is made: each product is formed in the loop) and
    give the result's shape, float64. NaN where ``x`` or ``y`` holds a non-finite entry, or in the
    (never seen) case that the QL iteration does not converge. ``threads`` > 1 splits the batch
    between threads (the loop releases the GIL). Requires :data:`AVAILABLE`.
    """
    if not AVAILABLE:
        raise RuntimeError("nuclear_norms needs numba (pip install numba)")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-2] != y.shape[-2]:
        raise ValueError(f"nuclear_norms: expected x (..., n, r) and y (..., n, s), got {x.shape} and {y.shape}")
    shape = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    xf = np.ascontiguousarray(x.reshape(-1, *x.shape[-2:]))
    yf = np.ascontiguousarray(y.reshape(-1, *y.shape[-2:]))
    out = np.zeros(int(np.prod(shape, dtype=np.int64)))
    if out.shape[0] and min(x.shape[-1], y.shape[-1]) > 0:
        _run(xf, yf, _batch_index(x, shape), _batch_index(y, shape), out, threads)
    return out.reshape(shape)


def _columns(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per factor of ``f (B, n, r)``: its non-zero columns first ``(B, r)`` and their count ``(B,)``,
    -1 for a factor holding a non-finite entry (the compiled loop's inputs, prepared once per factor)."""
    nonzero = (f != 0).any(axis=1)
    order = np.argsort(~nonzero, axis=1, kind="stable").astype(np.int64)
    count = np.where(np.isfinite(f).all(axis=(1, 2)), nonzero.sum(axis=1), -1).astype(np.int64)
    return order, count


#: products per thread below which one thread does them all
_PER_THREAD = 4096


def _run(xf, yf, ix, iy, out, threads):
    """The compiled loops over the products ``(ix[b], iy[b])`` into ``out``, split into ``threads``
    contiguous parts (the loops release the GIL).

    NaN factors and empty products are settled here; the others go to the side-by-side loop sorted
    by their sizes, and the few it flags to the one-at-a-time loop.
    """
    lanes, one_at_a_time = _kernels()
    (cols_x, count_x), (cols_y, count_y) = _columns(xf), _columns(yf)
    rows, cols = count_x[ix], count_y[iy]
    out[(rows < 0) | (cols < 0)] = np.nan
    todo = np.flatnonzero(np.minimum(rows, cols) > 0)  # (zero where a factor has no non-zero column)
    sizes = rows[todo] * (int(cols.max(initial=0)) + 1) + cols[todo]
    uniform = sizes.size == 0 or sizes.min() == sizes.max()  # the usual case: no sort needed
    order = todo if uniform else todo[np.argsort(sizes, kind="stable")]
    redo = np.zeros(out.shape[0], dtype=bool)
    threads = max(1, min(int(threads), order.shape[0] // _PER_THREAD))
    bounds = np.linspace(0, order.shape[0], threads + 1).astype(np.int64)
    parts = [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    _map(lambda part: lanes(xf, yf, ix, iy, cols_x, count_x, cols_y, count_y, part, out, redo), parts)
    flagged = np.flatnonzero(redo)
    if flagged.size:
        part = np.empty(flagged.size)
        one_at_a_time(xf, yf, ix[flagged], iy[flagged], cols_x, count_x, cols_y, count_y, part)
        out[flagged] = part


def _map(fn, parts):
    """``fn`` over ``parts``, in threads when there are several."""
    if len(parts) == 1:
        fn(parts[0])
        return
    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(fn, parts))
