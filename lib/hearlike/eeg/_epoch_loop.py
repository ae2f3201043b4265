"""The compiled loop of :mod:`hearlike.eeg.surrogates` (numba; imported on first use only).

:func:`copy_baselined_epochs` cuts epochs of consecutive samples out of a continuous signal and
removes each epoch's baseline mean per channel, in one pass: the same numbers, in the same float32
operations and order, as the NumPy slice copy and ``block -= block[..., baseline, :].mean(...)`` it
replaces, without a Python iteration per epoch (the shift null cuts millions of epochs).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def copy_baselined_epochs(signal, starts, baseline, out):  # pragma: no cover - compiled
    """``out[e] = signal[starts[e] : starts[e] + T]`` minus its mean over the rows ``baseline``.

    signal (n_samples, n_channels) float32; starts (E,) int64, the first sample of each epoch (rows
    outside the signal are clipped to its first or last row, like ``np.take(..., mode="clip")``);
    baseline (B,) int64, rows of an epoch (empty: no baseline removed); out (E, T, n_channels) float32.
    The baseline means are summed from the signal's rows (the values the epoch copies), so each
    epoch is written once.
    """
    n_samples, n_channels = signal.shape
    n_epochs, n_times = out.shape[0], out.shape[1]
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
        for t in range(n_times):
            row = start + t
            if not inside:
                row = min(max(row, 0), n_samples - 1)
            source = signal[row]
            target = epoch[t]
            for c in range(n_channels):
                target[c] = source[c] - mean[c]
