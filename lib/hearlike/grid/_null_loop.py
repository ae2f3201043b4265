"""The compiled loops of the word-permutation nulls (numba; imported on first use only): the nulls of
``"gram"`` metrics (:func:`permuted_inner`, by :func:`hearlike.grid.nulls.reordered_null`) and the
permutations' Fisher-Yates swaps (:func:`fisher_yates`, by :func:`hearlike.grid.nulls.word_permutations`).

A ``"gram"`` metric scores a sentence by the inner product of two ``n × n`` reps; a word
permutation ``π`` of one side reorders its rows and columns: ``Σ_ij fixed[i, j] moved[π(i), π(j)]``.
The torch path gathers every permuted rep (``(P, C, S, n, n)``: twice, rows then columns) and
contracts the stack with one ``einsum``; this loop permutes one ``n × n`` rep at a time into a
scratch buffer in L1 and takes its inner products with every rep of the fixed side there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_FLAGS = {"reassoc", "contract"}


@njit(cache=True, nogil=True, fastmath=_FLAGS)
def permuted_inner(fixed, moved, perms, symmetric, out):  # pragma: no cover - compiled
    """``out[s, m, p, f] = Σ_ij fixed[f, s, i·n + j] · moved[m, s, π(i)·n + π(j)]``, ``π = perms[p, s]``.

    fixed (F, S, n·n) float64, moved (M, S, n·n) float64, both C-contiguous (a sentence's ``n × n``
    reps, flattened row-major); perms (P, S, n) int64; symmetric bool: both sides' reps are
    symmetric (Gram-type reps), and the sum runs over the upper triangle, off-diagonal terms twice
    (``n(n+1)/2`` products instead of ``n²``); out (S, M, P, F) float64, written. Per sentence and
    moved rep, its P permuted copies and the sentence's fixed reps meet in one matrix product (BLAS)
    written in place.
    """
    n_fixed, n_sent, nn = fixed.shape
    n_moved = moved.shape[0]
    n_perm, _, n = perms.shape
    n_terms = n * (n + 1) // 2 if symmetric else n * n
    shuffled = np.empty((n_perm, n_terms), dtype=np.float64)
    here = np.empty((n_fixed, n_terms), dtype=np.float64)
    for s in range(n_sent):
        for f in range(n_fixed):
            src = fixed[f, s]
            t = 0
            for i in range(n):
                for j in range(i if symmetric else 0, n):
                    here[f, t] = 2.0 * src[i * n + j] if symmetric and j > i else src[i * n + j]
                    t += 1
        for m in range(n_moved):
            src = moved[m, s]
            for p in range(n_perm):
                order = perms[p, s]
                dst = shuffled[p]
                t = 0
                for i in range(n):
                    row = order[i] * n
                    for j in range(i if symmetric else 0, n):
                        dst[t] = src[row + order[j]]
                        t += 1
            np.dot(shuffled, here.T, out[s, m])  # (P, F)


@njit(cache=True, nogil=True)
def fisher_yates(swaps, out):  # pragma: no cover - compiled
    """``out (R, n)`` int64, written: per row the Fisher-Yates shuffle of ``0..n-1`` in which position
    ``i`` (from ``n - 1`` down to 1) swaps with ``swaps[r, i]`` (int64, ``<= i``); what
    :func:`hearlike.grid.nulls._shuffled_orders` does with whole-array operations, the same result."""
    n_rows, n = out.shape
    for r in range(n_rows):
        row = out[r]
        for k in range(n):
            row[k] = k
        for i in range(n - 1, 0, -1):
            j = swaps[r, i]
            tmp = row[j]
            row[j] = row[i]
            row[i] = tmp
