"""The compiled loops of :func:`hearlike.geometry.gathered_geometry`,
:func:`~hearlike.geometry.cell_geometry` and :func:`~hearlike.geometry.cell_rejected` (numba;
imported on first use only).

Each sentence's words are gathered (a model layer's rows, or an EEG cell's channels × samples), cast
to float64, centred and multiplied into their Gram matrix one sentence at a time: the words of a
sentence (12 × 1024 float64 at the benchmark's anchor, 96 KiB) stay in the core's cache between
the steps, which the torch path runs as separate passes over memory (gather, cast, NaN to zero,
centring, batched product).

- **Centring without a pass of its own.** The word-centred Gram ``H x xᵀ H`` is the same for
  ``y = x - 1 x₀ᵀ`` (every word minus the first one), which the gather writes as it reads: ``H y yᵀ
  H`` is then centred on the small ``n × n`` matrix. Subtracting the first word removes any common
  offset (e.g. an LLM's massive features) before the products, so this keeps the precision of
  centring the words themselves. The row-centred words of the correlation distances subtract each
  word's mean feature right after its row is read, while the row is in L1.
- **Products in 4 × 4 tiles** (upper triangle of tiles only, the Gram is symmetric): sixteen sums
  in registers per pass over the features, two loads per four products; the rows are padded with
  zeros to a multiple of four.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# reassociation lets the sums over features run in SIMD lanes and FMA; NaN and inf keep their IEEE
# meaning (a NaN state gives a NaN Gram, which the caller reports)
_FLAGS = {"reassoc", "contract"}


@njit(cache=True, nogil=True, fastmath=_FLAGS, inline="always")
def _diagonal_tile(rows, I, m, out, off):  # pragma: no cover - compiled
    """The upper triangle of the diagonal tile ``rows[I:I + 4]`` (ten sums), mirrored into ``out``."""
    a0, a1, a2, a3 = rows[I], rows[I + 1], rows[I + 2], rows[I + 3]
    c00 = c01 = c02 = c03 = c11 = c12 = c13 = c22 = c23 = c33 = 0.0
    for k in range(rows.shape[1]):
        x0 = a0[k]
        x1 = a1[k]
        x2 = a2[k]
        x3 = a3[k]
        c00 += x0 * x0
        c01 += x0 * x1
        c02 += x0 * x2
        c03 += x0 * x3
        c11 += x1 * x1
        c12 += x1 * x2
        c13 += x1 * x3
        c22 += x2 * x2
        c23 += x2 * x3
        c33 += x3 * x3
    tile = (c00, c01, c02, c03, c01, c11, c12, c13, c02, c12, c22, c23, c03, c13, c23, c33)
    for p in range(min(4, m - I)):
        for q in range(min(4, m - I)):
            out[off + I + p, off + I + q] = tile[4 * p + q]


@njit(cache=True, nogil=True, fastmath=_FLAGS, inline="always")
def _tile_products(rows, m, out, off):  # pragma: no cover - compiled
    """Write the Gram matrix of ``rows[:m]`` (float64 ``(≥ m rounded up to 4, width)``, rows past ``m``
    zero) into ``out[off:off + m, off:off + m]``, 4 × 4 tiles at a time (ten sums on the diagonal)."""
    width = rows.shape[1]
    for I in range(0, m, 4):
        _diagonal_tile(rows, I, m, out, off)
        a0, a1, a2, a3 = rows[I], rows[I + 1], rows[I + 2], rows[I + 3]
        for J in range(I + 4, m, 4):
            b0, b1, b2, b3 = rows[J], rows[J + 1], rows[J + 2], rows[J + 3]
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = 0.0
            c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = 0.0
            for k in range(width):
                x0 = a0[k]
                x1 = a1[k]
                x2 = a2[k]
                x3 = a3[k]
                y0 = b0[k]
                y1 = b1[k]
                y2 = b2[k]
                y3 = b3[k]
                c00 += x0 * y0
                c01 += x0 * y1
                c02 += x0 * y2
                c03 += x0 * y3
                c10 += x1 * y0
                c11 += x1 * y1
                c12 += x1 * y2
                c13 += x1 * y3
                c20 += x2 * y0
                c21 += x2 * y1
                c22 += x2 * y2
                c23 += x2 * y3
                c30 += x3 * y0
                c31 += x3 * y1
                c32 += x3 * y2
                c33 += x3 * y3
            tile = (c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33)
            for p in range(4):
                i = I + p
                if i >= m:
                    break
                for q in range(4):
                    j = J + q
                    if j >= m:
                        break
                    out[off + i, off + j] = tile[4 * p + q]
                    out[off + j, off + i] = tile[4 * p + q]


@njit(cache=True, nogil=True, fastmath=_FLAGS, inline="always")
def _finish_gram(rows, n, centre_words, out):  # pragma: no cover - compiled
    """``out (n, n)``: the Gram matrix of a sentence's gathered rows. ``centre_words``: ``rows[:n - 1]``
    hold words 1..n-1 minus word 0, and the Gram of the mean-centred words is formed from theirs;
    otherwise ``rows[:n]`` are the row-centred words and their Gram is the result."""
    if not centre_words:
        _tile_products(rows, n, out, 0)
        return
    for j in range(n):
        out[0, j] = 0.0
        out[j, 0] = 0.0
    _tile_products(rows, n - 1, out, 1)
    total = 0.0
    means = np.empty(n)
    for i in range(n):
        r = 0.0
        for j in range(n):
            r += out[i, j]
        means[i] = r / n
        total += r
    total /= n * n
    for i in range(n):
        for j in range(n):
            out[i, j] = out[i, j] - means[i] - means[j] + total


@njit(cache=True, nogil=True)
def _row_buffer(n, width, centre_words):  # pragma: no cover - compiled
    """The zeroed gather buffer: ``n - 1`` (word-centred) or ``n`` rows, padded to a multiple of 4."""
    m = n - 1 if centre_words else n
    return np.zeros((max(4, (m + 3) // 4 * 4), width), dtype=np.float64)


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
    rows = _row_buffer(n, width, centre_words)
    first = np.empty(width, dtype=np.float64)
    with_energy = energy.shape[0] > 0
    for s in range(n_sent):
        total = 0.0
        for i in range(n):
            src = values[layer, positions[s, i]]
            if centre_words:
                if i == 0:
                    for k in range(width):
                        v = np.float64(src[k])
                        first[k] = v
                        total += v * v
                else:
                    row = rows[i - 1]
                    for k in range(width):
                        v = np.float64(src[k])
                        row[k] = v - first[k]
                        total += v * v
            else:
                row = rows[i]
                mean = 0.0
                for k in range(width):
                    v = np.float64(src[k])
                    row[k] = v
                    total += v * v
                    mean += v
                mean /= width
                for k in range(width):
                    row[k] -= mean
        if with_energy:
            energy[s] = total
        _finish_gram(rows, n, centre_words, gram[s])


@njit(cache=True, nogil=True, fastmath=_FLAGS)
def cell_grams(values, positions, channels, times, centre_words, gram, energy, rejected):  # pragma: no cover - compiled
    """Per subject and sentence the Gram matrix of an EEG cell's centred words, in float64.

    values (n_subjects, n_words_total, n_channels, n_times) float32 or float64, C-contiguous;
    positions (S, n) int64, each sentence's epochs in word order; channels (a,), times (b,) int64,
    the cell (a word's features: ``values[p, w][channels][:, times]``, channel-major); a NaN (a
    rejected epoch) counts as zero; centre_words as in :func:`word_grams`; gram (P, S, n, n) float64
    and energy (P, S) float64 (or shape (0, 0) to skip it), written; rejected (P, S) bool (or shape
    (0, 0)), written: whether the sentence has a NaN in the cell (what :func:`cell_nans` finds).
    """
    n_subj = values.shape[0]
    n_sent, n = positions.shape
    n_times = times.shape[0]
    width = channels.shape[0] * n_times
    t0 = times[0] if n_times > 0 and times[n_times - 1] - times[0] == n_times - 1 else -1
    for q in range(1, n_times):
        if times[q] != times[q - 1] + 1:
            t0 = -1
    rows = _row_buffer(n, width, centre_words)
    first = np.empty(width, dtype=np.float64)
    with_energy = energy.shape[0] > 0
    with_rejected = rejected.shape[0] > 0
    for p in range(n_subj):
        for s in range(n_sent):
            total = 0.0
            nan = False
            for i in range(n):
                row = first if centre_words and i == 0 else rows[i - 1 if centre_words else i]
                f = 0
                for c in channels:
                    src = values[p, positions[s, i], c]
                    if t0 >= 0:  # a window of consecutive samples: a contiguous run, vectorised
                        src = src[t0:t0 + n_times]
                        part = 0.0
                        bad = 0
                        for q in range(n_times):
                            v = np.float64(src[q])
                            isnan = v != v
                            bad += isnan
                            v = 0.0 if isnan else v
                            row[f + q] = v
                            part += v * v
                        total += part
                        nan = nan or bad > 0
                        f += n_times
                        continue
                    for t in times:
                        v = np.float64(src[t])
                        if v != v:
                            v = 0.0
                            nan = True
                        row[f] = v
                        total += v * v
                        f += 1
                if centre_words:
                    if i > 0:
                        for k in range(width):
                            row[k] -= first[k]
                else:
                    mean = 0.0
                    for k in range(width):
                        mean += row[k]
                    mean /= width
                    for k in range(width):
                        row[k] -= mean
            if with_energy:
                energy[p, s] = total
            if with_rejected:
                rejected[p, s] = nan
            _finish_gram(rows, n, centre_words, gram[p, s])


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


@njit(cache=True, nogil=True, error_model="numpy")
def correlation_distances(cov, out):  # pragma: no cover - compiled
    """``out (B, n(n-1)/2)``: the upper triangle (row-major, diagonal excluded) of ``1 - corr`` from the
    row-centred inner products ``cov (B, n, n)``, as :func:`hearlike.geometry._correlation_upper`
    computes it (``norm = sqrt(max(diag, 0))``; a word without variance gives NaN or -inf, as there)."""
    n_batch, n, _ = cov.shape
    norm = np.empty(n, dtype=np.float64)
    for b in range(n_batch):
        c = cov[b]
        for i in range(n):
            norm[i] = np.sqrt(max(c[i, i], 0.0))
        k = 0
        for i in range(n):
            for j in range(i + 1, n):
                out[b, k] = 1.0 - c[i, j] / (norm[i] * norm[j])
                k += 1
