"""The compiled loops of :mod:`hearlike.metrics.nuclear` (numba; imported on first use only).

Two loops compute the same numbers with the same operations in the same order:

- :func:`lane_nuclear_norms`, the fast one, takes the products up to :data:`LANES` at a time and
  runs each step of their algorithm for every lane before the next step. The lanes are independent:
  each step's loop over them runs in SIMD vectors, and their chains of dependent square roots and
  divisions overlap, which a single matrix leaves waiting on each other. At the grid's 11 x 11
  matrices: ~2.8 µs per product with 8 lanes (the compiler unrolled them into scalar code, no SIMD),
  ~2.2 µs with 64 (``bench/RESULTS.md``).
- :func:`product_nuclear_norms` takes one product at a time. It redoes the few products the lanes
  flag (an exact zero met by the QL iteration, or no convergence), and is the reference of the tests.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: QL sweeps per eigenvalue before giving up (NaN); 2-3 are typical, LAPACK allows 30 per eigenvalue
_MAX_SWEEPS = 60
_EPS = float(np.finfo(np.float64).eps)
#: products computed side by side by :func:`lane_nuclear_norms`, at most: each step of the algorithm
#: is a loop over the lanes, long enough that the compiler runs it in SIMD vectors (numba cannot
#: prove the lane arrays apart, so it checks at run time; 8 constant lanes were unrolled to scalar code)
LANES = 64
#: a group of products is computed on its size rounded up to a multiple of this (whole vectors)
_STEP = 8


@njit(cache=True, nogil=True)
def _tridiagonal_eigenvalues(a, d, e):  # pragma: no cover - compiled
    """Eigenvalues of the symmetric matrix whose lower triangle is ``a (k, k)`` (overwritten), into
    ``d (k,)`` (``e (k,)`` is workspace). Returns False if the QL iteration did not converge."""
    _householder_tridiagonal(a, d, e)
    return _ql_eigenvalues(d, e)


@njit(cache=True, nogil=True)
def _householder_tridiagonal(a, d, e):  # pragma: no cover - compiled
    """Reduce the lower triangle ``a (k, k)`` (overwritten) to tridiagonal form: diagonal into
    ``d``, subdiagonal into ``e[1:]`` (``e[i] = T[i, i-1]``)."""
    k = a.shape[0]
    # Householder reduction of rows k-1 .. 1 to tridiagonal form (d: diagonal, e[i]: a[i, i-1])
    for i in range(k - 1, 0, -1):
        last = i - 1
        h = 0.0
        if last > 0:
            scale = 0.0
            for j in range(last + 1):
                scale += abs(a[i, j])
            if scale == 0.0:
                e[i] = a[i, last]
            else:
                for j in range(last + 1):
                    a[i, j] /= scale
                    h += a[i, j] * a[i, j]
                f = a[i, last]
                g = -math.sqrt(h) if f >= 0.0 else math.sqrt(h)
                e[i] = scale * g
                h -= f * g
                a[i, last] = f - g
                f = 0.0
                for j in range(last + 1):  # p = A u / h into e[:i]
                    g = 0.0
                    for m in range(j + 1):
                        g += a[j, m] * a[i, m]
                    for m in range(j + 1, last + 1):
                        g += a[m, j] * a[i, m]
                    e[j] = g / h
                    f += e[j] * a[i, j]
                hh = f / (h + h)
                for j in range(last + 1):  # A -= u qᵀ + q uᵀ, q = p - (uᵀp / 2h) u
                    f = a[i, j]
                    g = e[j] - hh * f
                    e[j] = g
                    for m in range(j + 1):
                        a[j, m] -= f * e[m] + g * a[i, m]
        else:
            e[i] = a[i, last]
    for i in range(k):
        d[i] = a[i, i]


@njit(cache=True, nogil=True)
def _ql_eigenvalues(d, e):  # pragma: no cover - compiled
    """Eigenvalues of the tridiagonal ``(d, e[1:])`` into ``d``: implicit QL with Wilkinson's shift
    (``e`` renumbered to ``e[i] = T[i+1, i]`` and overwritten). False if it did not converge."""
    k = d.shape[0]
    for i in range(1, k):
        e[i - 1] = e[i]
    e[k - 1] = 0.0
    for first in range(k):
        sweeps = 0
        while True:
            m = first
            while m < k - 1:  # the first negligible off-diagonal splits the matrix
                if abs(e[m]) <= _EPS * (abs(d[m]) + abs(d[m + 1])):
                    break
                m += 1
            if m == first:
                break
            sweeps += 1
            if sweeps > _MAX_SWEEPS:
                return False
            g = (d[first + 1] - d[first]) / (2.0 * e[first])
            r = math.sqrt(g * g + 1.0)
            g = d[m] - d[first] + e[first] / (g + (r if g >= 0.0 else -r))
            s = 1.0
            c = 1.0
            p = 0.0
            deflated = False
            for i in range(m - 1, first - 1, -1):  # chase the bulge with plane rotations
                f = s * e[i]
                b = c * e[i]
                r = math.sqrt(f * f + g * g)
                e[i + 1] = r
                if r == 0.0:  # underflow: the rotation splits the matrix, start again
                    d[i + 1] -= p
                    e[m] = 0.0
                    deflated = True
                    break
                inv = 1.0 / r
                s = f * inv
                c = g * inv
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
            if deflated:
                continue
            d[first] -= p
            e[first] = g
            e[m] = 0.0
    return True


@njit(cache=True, nogil=True)
def product_nuclear_norms(x, y, ix, iy, cols_x, count_x, cols_y, count_y, out):  # pragma: no cover - compiled
    """``out[b] = ‖x[ix[b]]ᵀ y[iy[b]]‖_*`` for ``x (Bx, n, r)``, ``y (By, n, s)`` float64.

    Per factor, prepared once (not per product): ``cols_x[i, :count_x[i]]`` are the columns of
    ``x[i]`` that hold a non-zero, ``count_x[i] < 0`` marks a factor with a non-finite entry (NaN);
    the same for ``y``. Zero columns (SVCCA's dropped components) give zero rows or columns of the
    product and are left out of it: the Gram is then smaller and its zero eigenvalues are not
    computed as round-off whose square roots (~1e-8) would be added to the norm.
    """
    n, rows_max = x.shape[1], x.shape[2]
    cols_max = y.shape[2]
    m = np.empty((rows_max, cols_max))
    kmax = min(rows_max, cols_max)
    a = np.empty((kmax, kmax))
    d = np.empty(kmax)
    e = np.empty(kmax)
    for b in range(out.shape[0]):
        rows = count_x[ix[b]]
        cols = count_y[iy[b]]
        if rows < 0 or cols < 0:
            out[b] = np.nan
            continue
        xb = x[ix[b]]
        yb = y[iy[b]]
        used_x = cols_x[ix[b]]
        used_y = cols_y[iy[b]]
        k = min(rows, cols)
        if k == 0:
            out[b] = 0.0
            continue
        for i in range(rows):
            ci = used_x[i]
            for j in range(cols):
                cj = used_y[j]
                acc = 0.0
                for t in range(n):
                    acc += xb[t, ci] * yb[t, cj]
                m[i, j] = acc
        for i in range(k):  # lower triangle of the smaller Gram: MᵀM (cols <= rows) or MMᵀ
            for j in range(i + 1):
                acc = 0.0
                if cols <= rows:
                    for t in range(rows):
                        acc += m[t, i] * m[t, j]
                else:
                    for t in range(cols):
                        acc += m[i, t] * m[j, t]
                a[i, j] = acc
        if not _tridiagonal_eigenvalues(a[:k, :k], d[:k], e[:k]):
            out[b] = np.nan
            continue
        total = 0.0
        for i in range(k):
            if d[i] > 0.0:
                total += math.sqrt(d[i])
        out[b] = total


# --------------------------------------------------------------------------------------------
# the same algorithm, LANES products side by side (arrays (..., LANES): one column per lane)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def lane_nuclear_norms(x, y, ix, iy, cols_x, count_x, cols_y, count_y, order, out, redo):  # pragma: no cover
    """``out[b] = ‖x[ix[b]]ᵀ y[iy[b]]‖_*`` for every ``b`` in ``order``, :data:`LANES` products at a time.

    Inputs as :func:`product_nuclear_norms`. ``order`` lists the products to compute, sorted so that
    those with the same number of used columns on both sides (``count_x[ix[b]]``, ``count_y[iy[b]]``,
    each >= 1) are adjacent: a group of lanes shares its matrix sizes. ``redo[b]`` is set where the QL
    iteration met an exact zero (the one-at-a-time loop deflates there) or did not converge: those
    ``out[b]`` must be recomputed by :func:`product_nuclear_norms`.
    """
    n, rows_max, cols_max = x.shape[1], x.shape[2], y.shape[2]
    kmax = min(rows_max, cols_max)
    xg = np.empty((n, rows_max, LANES))
    yg = np.empty((n, cols_max, LANES))
    m = np.empty((rows_max, cols_max, LANES))
    a = np.empty((kmax, kmax, LANES))
    d = np.empty((kmax, LANES))
    e = np.empty((kmax, LANES))
    work = np.empty((8, LANES))
    steps = np.empty((2, LANES), dtype=np.int64)  # the QL's split point and sweep count per lane
    active = np.empty(LANES, dtype=np.bool_)
    flags = np.zeros(LANES, dtype=np.bool_)
    lanes = np.empty(LANES, dtype=np.int64)
    start = 0
    while start < order.shape[0]:
        rows = count_x[ix[order[start]]]
        cols = count_y[iy[order[start]]]
        size = 1  # the group: up to LANES products of these sizes; the lanes up to w repeat its last
        while (size < LANES and start + size < order.shape[0] and count_x[ix[order[start + size]]] == rows
               and count_y[iy[order[start + size]]] == cols):
            size += 1
        # the lanes computed: the group, rounded up to a multiple of _STEP (whole SIMD vectors)
        w = min(LANES, (size + _STEP - 1) // _STEP * _STEP)
        for lane in range(w):
            lanes[lane] = order[start + min(lane, size - 1)]
            flags[lane] = False
        for lane in range(w):  # the used columns of both factors, lane-major
            b = lanes[lane]
            xb, yb, used_x, used_y = x[ix[b]], y[iy[b]], cols_x[ix[b]], cols_y[iy[b]]
            for t in range(n):
                for i in range(rows):
                    xg[t, i, lane] = xb[t, used_x[i]]
                for j in range(cols):
                    yg[t, j, lane] = yb[t, used_y[j]]
        k = min(rows, cols)
        _lane_gram(xg, yg, m, a, n, rows, cols, w)
        _lane_householder(a, d, e, k, work, w)
        _lane_ql(d, e, k, work, steps, active, flags, w)
        for lane in range(size):
            total = 0.0
            for i in range(k):
                if d[i, lane] > 0.0:
                    total += math.sqrt(d[i, lane])
            out[lanes[lane]] = total
            redo[lanes[lane]] = flags[lane]
        start += size


@njit(cache=True, nogil=True)
def _lane_gram(xg, yg, m, a, n, rows, cols, w):  # pragma: no cover - compiled
    """Per lane the product ``m = xgᵀ yg (rows, cols)`` and the lower triangle of its smaller Gram into ``a``."""
    for i in range(rows):
        for j in range(cols):
            for lane in range(w):
                m[i, j, lane] = 0.0
            for t in range(n):
                for lane in range(w):
                    m[i, j, lane] += xg[t, i, lane] * yg[t, j, lane]
    for i in range(min(rows, cols)):
        for j in range(i + 1):
            for lane in range(w):
                a[i, j, lane] = 0.0
            if cols <= rows:
                for t in range(rows):
                    for lane in range(w):
                        a[i, j, lane] += m[t, i, lane] * m[t, j, lane]
            else:
                for t in range(cols):
                    for lane in range(w):
                        a[i, j, lane] += m[i, t, lane] * m[j, t, lane]


@njit(cache=True, nogil=True)
def _lane_householder(a, d, e, k, work, w):  # pragma: no cover - compiled
    """:func:`_householder_tridiagonal` of each lane's ``a[:k, :k]``. A zero row, which the
    one-at-a-time loop skips, is divided by 1 instead of 0 here: every update it makes is then zero."""
    scale, h, hsafe, f_sum, hh, acc, fj, gj = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    for i in range(k - 1, 0, -1):
        last = i - 1
        if last == 0:
            for lane in range(w):
                e[i, lane] = a[i, last, lane]
            continue
        for lane in range(w):
            scale[lane] = 0.0
            h[lane] = 0.0
        for j in range(last + 1):
            for lane in range(w):
                scale[lane] += abs(a[i, j, lane])
        for lane in range(w):
            scale[lane] = scale[lane] if scale[lane] != 0.0 else 1.0
        for j in range(last + 1):
            for lane in range(w):
                a[i, j, lane] /= scale[lane]
                h[lane] += a[i, j, lane] * a[i, j, lane]
        for lane in range(w):
            f = a[i, last, lane]
            root = math.sqrt(h[lane])
            g = -root if f >= 0.0 else root
            e[i, lane] = scale[lane] * g
            reduced = h[lane] - f * g
            a[i, last, lane] = f - g
            hsafe[lane] = reduced if reduced != 0.0 else 1.0
            f_sum[lane] = 0.0
        for j in range(last + 1):  # p = A u / h into e[:i]
            for lane in range(w):
                acc[lane] = 0.0
            for q in range(j + 1):
                for lane in range(w):
                    acc[lane] += a[j, q, lane] * a[i, q, lane]
            for q in range(j + 1, last + 1):
                for lane in range(w):
                    acc[lane] += a[q, j, lane] * a[i, q, lane]
            for lane in range(w):
                e[j, lane] = acc[lane] / hsafe[lane]
                f_sum[lane] += e[j, lane] * a[i, j, lane]
        for lane in range(w):
            hh[lane] = f_sum[lane] / (hsafe[lane] + hsafe[lane])
        for j in range(last + 1):  # A -= u qᵀ + q uᵀ
            for lane in range(w):
                f = a[i, j, lane]
                g = e[j, lane] - hh[lane] * f
                e[j, lane] = g
                fj[lane] = f
                gj[lane] = g
            for q in range(j + 1):
                for lane in range(w):
                    a[j, q, lane] -= fj[lane] * e[q, lane] + gj[lane] * a[i, q, lane]
    for i in range(k):
        for lane in range(w):
            d[i, lane] = a[i, i, lane]


@njit(cache=True, nogil=True)
def _lane_ql(d, e, k, work, steps, active, flags, w):  # pragma: no cover - compiled
    """:func:`_ql_eigenvalues` of each lane's ``(d[:k], e[1:k])``. Each sweep chases every lane whose
    top eigenvalue has not converged, each from its own split point; the others keep their values.
    A lane that meets an exact zero, or needs more than :data:`_MAX_SWEEPS` sweeps, is flagged and
    left alone (its values are then meaningless)."""
    s_, c_, g_, p_ = work[0], work[1], work[2], work[3]
    split, sweeps = steps[0], steps[1]
    for i in range(1, k):
        for lane in range(w):
            e[i - 1, lane] = e[i, lane]
    for lane in range(w):
        e[k - 1, lane] = 0.0
        sweeps[lane] = 0
    for first in range(k - 1):
        while True:
            for lane in range(w):
                split[lane] = k - 1
            for j in range(k - 2, first - 1, -1):  # the first negligible off-diagonal from first on
                for lane in range(w):
                    small = abs(e[j, lane]) <= _EPS * (abs(d[j, lane]) + abs(d[j + 1, lane]))
                    split[lane] = j if small else split[lane]
            top = first
            for lane in range(w):
                on = split[lane] != first and not flags[lane]
                sweeps[lane] += 1 if on else 0
                if sweeps[lane] > _MAX_SWEEPS:
                    flags[lane] = True
                    on = False
                active[lane] = on
                if on and split[lane] > top:
                    top = split[lane]
            if top == first:
                break
            for lane in range(w):  # Wilkinson's shift, as the one-at-a-time loop
                on = active[lane]
                mm = split[lane] if on else first + 1
                ef = e[first, lane] if on else 1.0
                g = (d[first + 1, lane] - d[first, lane]) / (2.0 * ef)
                r = math.sqrt(g * g + 1.0)
                g_[lane] = d[mm, lane] - d[first, lane] + ef / (g + (r if g >= 0.0 else -r))
                s_[lane] = 1.0
                c_[lane] = 1.0
                p_[lane] = 0.0
            for i in range(top - 1, first - 1, -1):  # chase the bulge: lanes with i < their split
                for lane in range(w):
                    on = active[lane] & (i < split[lane])
                    f = s_[lane] * e[i, lane]
                    b = c_[lane] * e[i, lane]
                    r = math.sqrt(f * f + g_[lane] * g_[lane])
                    zero = r == 0.0
                    inv = 1.0 / (1.0 if zero else r)
                    s = f * inv
                    c = g_[lane] * inv
                    g = d[i + 1, lane] - p_[lane]
                    r2 = (d[i, lane] - g) * s + 2.0 * c * b
                    p = s * r2
                    e[i + 1, lane] = r if on else e[i + 1, lane]
                    d[i + 1, lane] = g + p if on else d[i + 1, lane]
                    g_[lane] = c * r2 - b if on else g_[lane]
                    s_[lane] = s if on else s_[lane]
                    c_[lane] = c if on else c_[lane]
                    p_[lane] = p if on else p_[lane]
                    flags[lane] = flags[lane] | (on & zero)
            for lane in range(w):
                if active[lane]:
                    d[first, lane] -= p_[lane]
                    e[first, lane] = g_[lane]
                    e[split[lane], lane] = 0.0
