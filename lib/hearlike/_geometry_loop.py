"""The compiled loops of :func:`hearlike.geometry.gathered_geometry`,
:func:`~hearlike.geometry.cell_geometry` and :func:`~hearlike.geometry.cell_rejected` (numba;
imported on first use only).

Each sentence's words are gathered (a model layer's rows, or an EEG cell's channels × samples), cast
to float64, centred and multiplied into their Gram matrix one sentence at a time: the words of a
sentence (12 × 1024 float64 at the benchmark's anchor, 96 KiB) stay in the core's cache between
the steps, which the torch path runs as separate passes over memory (gather, cast, NaN to zero,
centring, batched product). Only the upper triangle is formed (the Gram is symmetric), four
columns at a time so that a row is read once per four products.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# reassociation lets the sums over features run in SIMD lanes and FMA; NaN and inf keep their IEEE
# meaning (a NaN state gives a NaN Gram, which the caller reports)
_FLAGS = {"reassoc", "contract"}


@njit(cache=True, nogil=True, fastmath=_FLAGS, inline="always")
def _centred_gram(rows, centre_words, mean, out):  # pragma: no cover - compiled
    """Centre ``rows (n, width)`` float64 in place (the mean word, or each word's mean feature) and
    write their Gram matrix into ``out (n, n)``; ``mean (width,)`` is scratch."""
    n, width = rows.shape
    if centre_words:
        mean[:] = 0.0
        for i in range(n):
            for k in range(width):
                mean[k] += rows[i, k]
        for k in range(width):
            mean[k] /= n
        for i in range(n):
            for k in range(width):
                rows[i, k] -= mean[k]
    else:
        for i in range(n):
            m = 0.0
            for k in range(width):
                m += rows[i, k]
            m /= width
            for k in range(width):
                rows[i, k] -= m
    for i in range(n):
        a = rows[i]
        j = i
        while j + 3 < n:
            b0, b1, b2, b3 = rows[j], rows[j + 1], rows[j + 2], rows[j + 3]
            c0 = 0.0
            c1 = 0.0
            c2 = 0.0
            c3 = 0.0
            for k in range(width):
                ak = a[k]
                c0 += ak * b0[k]
                c1 += ak * b1[k]
                c2 += ak * b2[k]
                c3 += ak * b3[k]
            out[i, j] = c0
            out[i, j + 1] = c1
            out[i, j + 2] = c2
            out[i, j + 3] = c3
            out[j, i] = c0
            out[j + 1, i] = c1
            out[j + 2, i] = c2
            out[j + 3, i] = c3
            j += 4
        while j < n:
            b0 = rows[j]
            c0 = 0.0
            for k in range(width):
                c0 += a[k] * b0[k]
            out[i, j] = c0
            out[j, i] = c0
            j += 1


@njit(cache=True, nogil=True, fastmath=_FLAGS)
def word_grams(values, layer, positions, width, centre_words, gram, energy):  # pragma: no cover - compiled
    """Per sentence the Gram matrix of a model layer's centred words, in float64.

    values (n_layers, n_words_total, n_features) float32 or float64, C-contiguous; layer int;
    positions (S, n) int64, each sentence's rows of ``values[layer]`` in word order; width int, the
    features used (``values[layer, :, :width]``); centre_words bool: True subtracts the mean word
    (the word-centred Gram ``(x - 1 x̄ᵀ)(x - 1 x̄ᵀ)ᵀ``), False each word's mean feature (the
    row-centred inner products of the correlation distance); gram (S, n, n) float64, written;
    energy (S,) float64, written with ``sum(x²)`` per sentence, or shape (0,) to skip it.
    """
    n_sent, n = positions.shape
    rows = np.empty((n, width), dtype=np.float64)
    mean = np.empty(width, dtype=np.float64)
    with_energy = energy.shape[0] > 0
    for s in range(n_sent):
        total = 0.0
        for i in range(n):
            src = values[layer, positions[s, i]]
            for k in range(width):
                v = np.float64(src[k])
                rows[i, k] = v
                total += v * v
        if with_energy:
            energy[s] = total
        _centred_gram(rows, centre_words, mean, gram[s])


@njit(cache=True, nogil=True, fastmath=_FLAGS)
def cell_grams(values, positions, channels, times, centre_words, gram, energy):  # pragma: no cover - compiled
    """Per subject and sentence the Gram matrix of an EEG cell's centred words, in float64.

    values (n_subjects, n_words_total, n_channels, n_times) float32 or float64, C-contiguous;
    positions (S, n) int64, each sentence's epochs in word order; channels (a,), times (b,) int64,
    the cell (a word's features: ``values[p, w][channels][:, times]``, channel-major); a NaN (a
    rejected epoch) counts as zero; centre_words as in :func:`word_grams`; gram (P, S, n, n) float64
    and energy (P, S) float64 (or shape (0, 0) to skip it), written.
    """
    n_subj = values.shape[0]
    n_sent, n = positions.shape
    width = channels.shape[0] * times.shape[0]
    rows = np.empty((n, width), dtype=np.float64)
    mean = np.empty(width, dtype=np.float64)
    with_energy = energy.shape[0] > 0
    for p in range(n_subj):
        for s in range(n_sent):
            total = 0.0
            for i in range(n):
                f = 0
                for c in channels:
                    src = values[p, positions[s, i], c]
                    for t in times:
                        v = np.float64(src[t])
                        if v != v:
                            v = 0.0
                        rows[i, f] = v
                        total += v * v
                        f += 1
            if with_energy:
                energy[p, s] = total
            _centred_gram(rows, centre_words, mean, gram[p, s])


@njit(cache=True, nogil=True)
def cell_nans(values, positions, channels, times, out):  # pragma: no cover - compiled
    """``out (P, S)`` bool: whether a subject's sentence has a NaN (a rejected epoch) in the EEG cell
    ``channels × times`` (arguments as in :func:`cell_grams`)."""
    n_subj = values.shape[0]
    n_sent, n = positions.shape
    for p in range(n_subj):
        for s in range(n_sent):
            found = False
            for i in range(n):
                for c in channels:
                    src = values[p, positions[s, i], c]
                    for t in times:
                        if src[t] != src[t]:
                            found = True
                            break
                    if found:
                        break
                if found:
                    break
            out[p, s] = found
