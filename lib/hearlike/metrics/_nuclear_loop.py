"""The compiled loop of :mod:`hearlike.metrics.nuclear` (numba; imported on first use only)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: QL sweeps per eigenvalue before giving up (NaN); 2-3 are typical, LAPACK allows 30 per eigenvalue
_MAX_SWEEPS = 60
_EPS = float(np.finfo(np.float64).eps)


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
