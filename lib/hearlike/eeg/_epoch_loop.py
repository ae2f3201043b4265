"""The compiled loop of :mod:`hearlike.eeg.surrogates` (numba; imported on first use only).

:func:`copy_baselined_epochs` cuts epochs of consecutive samples out of a continuous signal and
removes each epoch's baseline mean per channel, in one pass: the same numbers, in the same float32
operations and order, as the NumPy slice copy and ``block -= block[..., baseline, :].mean(...)`` it
replaces, without a Python iteration per epoch (the shift null cuts millions of epochs), and lays
each epoch out by channel block in the same pass (see :meth:`hearlike.eeg.SurrogateEpochs.cut`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def copy_baselined_epochs(signal, starts, baseline, bounds, out):  # pragma: no cover - compiled
    """``out[e]`` = ``signal[starts[e] : starts[e] + T]`` minus its mean over the rows ``baseline``,
    laid out block by block of channels.

    signal (n_samples, n_channels) float32; starts (E,) int64, the first sample of each epoch (rows
    outside the signal are clipped to its first or last row, like ``np.take(..., mode="clip")``);
    baseline (B,) int64, rows of an epoch (empty: no baseline removed); bounds (A + 1,) int64, the
    channel blocks ``[bounds[a], bounds[a + 1])`` covering every channel (``[0, n_channels]``: one
    block, the plain ``(T, n_channels)`` layout); out (E, T · n_channels) float32: block ``a`` of an
    epoch at ``T · bounds[a]``, as ``(T, block width)``. The baseline means are summed from the
    signal's rows (the values the epoch copies), so each epoch is written once.
    """
    n_samples, n_channels = signal.shape
    n_epochs = out.shape[0]
    n_times = out.shape[1] // n_channels
    n_base = baseline.shape[0]
    count = np.float32(n_base)
    mean = np.zeros(n_channels, dtype=np.float32)
    for e in range(n_epochs):
        start = starts[e]
        inside = start >= 0 and start + n_times <= n_samples
        mean[:] = np.float32(0.0)
        if n_base:
            for b in range(n_base):
                row = start + baseline[b]
                if not inside:
                    row = min(max(row, 0), n_samples - 1)
                for c in range(n_channels):
                    mean[c] += signal[row, c]
            for c in range(n_channels):
                mean[c] = mean[c] / count
        epoch = out[e]
        for a in range(bounds.shape[0] - 1):
            c0, c1 = bounds[a], bounds[a + 1]
            width = c1 - c0
            base = n_times * c0
            for t in range(n_times):
                row = start + t
                if not inside:
                    row = min(max(row, 0), n_samples - 1)
                source = signal[row]
                at = base + t * width
                for c in range(width):
                    epoch[at + c] = source[c0 + c] - mean[c0 + c]
