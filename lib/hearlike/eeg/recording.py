"""The one epoch-acceptance rule, and the preprocessed continuous recording kept for surrogates.

A word epoch (samples ``onset + offsets``, ``offsets`` from ``tmin_s`` to ``tmax_s``) is *usable*
when

1. it lies inside the recording (and the onset is known),
2. none of its samples is covered by a ``BAD*``/``EDGE*`` annotation (recording joins, NaN
   stretches, marked artefacts), and
3. its peak-to-peak amplitude is at most ``reject_peak_to_peak_v`` on every channel (baseline
   correction subtracts a constant per channel, so it does not change peak-to-peak).

:func:`epoch_rejections` applies the rule to given onsets (the real epochs of
:func:`hearlike.eeg.epochs.epoch_words`); :func:`epoch_start_ok` applies it to every possible
onset of a recording at once (where the ``shift`` null may move a sentence,
:mod:`hearlike.eeg.surrogates`). Both read the same helpers below, so the real and the surrogate
epochs are accepted by one rule.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import mne
import numpy as np
import xarray as xr
from scipy.ndimage import maximum_filter1d, minimum_filter1d

__all__ = [
    "bad_sample_mask", "baseline_mask", "epoch_rejections", "epoch_start_ok", "onset_samples",
    "peak_to_peak_exceeds", "recording_of", "sample_offsets",
]  # fmt: skip

#: onset sample of a word that was not heard (no epoch)
NO_ONSET = -1


def sample_offsets(params: Mapping[str, Any], sfreq_hz: float) -> np.ndarray:
    """Epoch samples relative to the onset, ``round(tmin_s * sfreq)`` .. ``round(tmax_s * sfreq)``.

    Returns
    -------
    ndarray of int, shape (n_times,)
    """
    return np.arange(int(round(params["tmin_s"] * sfreq_hz)), int(round(params["tmax_s"] * sfreq_hz)) + 1)


def baseline_mask(params: Mapping[str, Any], offsets: np.ndarray, sfreq_hz: float) -> np.ndarray | None:
    """Epoch samples inside ``baseline_s`` (their per-channel mean is subtracted), or None for no baseline.

    Returns
    -------
    ndarray of bool, shape (n_times,), or None
    """
    if params.get("baseline_s") is None:
        return None
    b0, b1 = params["baseline_s"]
    times = np.asarray(offsets) / sfreq_hz
    return (times >= b0 - 1e-9) & (times <= b1 + 1e-9)


def onset_samples(onsets_s: np.ndarray, sfreq_hz: float) -> np.ndarray:
    """Onsets (s from the first sample) as sample numbers; :data:`NO_ONSET` where NaN/inf.

    Returns
    -------
    ndarray of int64, shape (n_words,)
    """
    onsets_s = np.asarray(onsets_s, dtype=float)
    finite = np.isfinite(onsets_s)
    return np.where(finite, np.round(np.where(finite, onsets_s, 0) * sfreq_hz), NO_ONSET).astype(np.int64)


def bad_sample_mask(raw: mne.io.BaseRaw) -> np.ndarray:
    """True at samples covered by ``BAD*``/``EDGE*`` annotations (zero-length ones cover one sample).

    Returns
    -------
    ndarray of bool, shape (n_samples,)
    """
    mask = np.zeros(raw.n_times, dtype=bool)
    sfreq = raw.info["sfreq"]
    onsets = np.asarray(raw.annotations.onset, dtype=float)
    if raw.annotations.orig_time is not None:
        onsets = onsets - raw.first_time
    for onset, duration, description in zip(onsets, raw.annotations.duration, raw.annotations.description):
        if description.lower().startswith(("bad", "edge")):
            start = int(np.floor(onset * sfreq))
            stop = max(int(np.ceil((onset + duration) * sfreq)), start + 1)
            mask[max(start, 0) : max(min(stop, raw.n_times), 0)] = True
    return mask


def epoch_rejections(onset_sample: np.ndarray, offsets: np.ndarray, bad: np.ndarray) -> dict[str, np.ndarray]:
    """Rules 1 and 2 (inside the recording, no BAD/EDGE sample) for the epochs at ``onset_sample``.

    Parameters
    ----------
    onset_sample : ndarray of int, shape (n_words,)
        Onsets in samples; negative (:data:`NO_ONSET`) = not heard.
    offsets : ndarray of int, shape (n_times,)
        :func:`sample_offsets`.
    bad : ndarray of bool, shape (n_samples,)
        :func:`bad_sample_mask`.

    Returns
    -------
    dict
        ``out_of_bounds`` and ``bad_segment``: ndarray of bool, shape (n_words,), disjoint (an
        epoch outside the recording is not also counted as touching a BAD segment). Rule 3 (peak
        to peak) needs the signal: :func:`peak_to_peak_exceeds`.
    """
    onset_sample = np.asarray(onset_sample, dtype=np.int64)
    n_samples = len(bad)
    starts, stops = onset_sample + offsets[0], onset_sample + offsets[-1]
    out_of_bounds = (starts < 0) | (stops >= n_samples) | (onset_sample < 0)
    bad_cumsum = np.concatenate([[0], np.cumsum(bad)])
    safe_starts, safe_stops = np.clip(starts, 0, n_samples), np.clip(stops + 1, 0, n_samples)
    in_bad = ~out_of_bounds & (bad_cumsum[safe_stops] - bad_cumsum[safe_starts] > 0)
    return {"out_of_bounds": out_of_bounds, "bad_segment": in_bad}


def peak_to_peak_exceeds(block: np.ndarray, reject_peak_to_peak_v: float | None) -> np.ndarray:
    """Rule 3: True for epochs whose peak-to-peak exceeds the threshold on any channel.

    Parameters
    ----------
    block : ndarray, shape (n_epochs, n_channels, n_times)
        Epochs, volts (with or without baseline correction).
    reject_peak_to_peak_v : float or None
        Threshold in volts; None rejects nothing.

    Returns
    -------
    ndarray of bool, shape (n_epochs,)
    """
    if reject_peak_to_peak_v is None:
        return np.zeros(block.shape[0], dtype=bool)
    ptp = block.max(axis=2) - block.min(axis=2)
    return (ptp > reject_peak_to_peak_v).any(axis=1)


def epoch_start_ok(signal: np.ndarray, bad: np.ndarray, offsets: np.ndarray, *,
                   reject_peak_to_peak_v: float | None) -> np.ndarray:
    """The acceptance rule at every possible onset: True at sample ``o`` if an epoch there is usable.

    Parameters
    ----------
    signal : ndarray, shape (n_channels, n_samples)
        Preprocessed EEG, volts.
    bad : ndarray of bool, shape (n_samples,)
        :func:`bad_sample_mask`.
    offsets : ndarray of int, shape (n_times,)
        Consecutive epoch samples relative to the onset (:func:`sample_offsets`).
    reject_peak_to_peak_v : float or None
        Peak-to-peak threshold (volts, any channel).

    Returns
    -------
    ndarray of bool, shape (n_samples,)
        The decision of :func:`epoch_rejections` and :func:`peak_to_peak_exceeds` for every onset
        (peak-to-peak by running max/min filters instead of cutting every epoch).
    """
    n_samples = signal.shape[1]
    length = int(offsets[-1] - offsets[0] + 1)
    rejected = epoch_rejections(np.arange(n_samples), offsets, bad)
    ok = ~rejected["out_of_bounds"] & ~rejected["bad_segment"]
    n_starts = n_samples - length + 1
    if n_starts <= 0 or reject_peak_to_peak_v is None:
        return ok
    # window [s, s + length - 1]: the centred filter at s + length // 2 covers exactly that
    centre = np.arange(n_starts) + length // 2
    high = maximum_filter1d(signal, size=length, axis=1, mode="nearest")[:, centre]
    low = minimum_filter1d(signal, size=length, axis=1, mode="nearest")[:, centre]
    small = ((high - low) <= reject_peak_to_peak_v).all(axis=0)  # by window start
    onsets = np.arange(n_starts) - offsets[0]  # window start s belongs to onset s - offsets[0]
    inside = (onsets >= 0) & (onsets < n_samples)
    ok[onsets[inside]] &= small[inside]
    return ok


def recording_of(raw: mne.io.BaseRaw, onsets_s: np.ndarray, words: Sequence[str], *, params: Mapping[str, Any],
                 bad: np.ndarray | None = None) -> xr.Dataset:
    """The preprocessed continuous recording of one subject, kept for surrogate epochs.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Preprocessed EEG (volts), as epoched by :func:`hearlike.eeg.epochs.epoch_words`.
    onsets_s : ndarray, shape (n_words,)
        Word onsets (s from the first sample), in the stimulus table's order; NaN = not heard.
    words : sequence of str
        Word labels (``"{sentence_id}:{word_index}"``) in the same order.
    params : mapping
        Validated EEG options (``tmin_s``, ``tmax_s``, ``baseline_s``, ``reject_peak_to_peak_v``).
    bad : ndarray of bool, optional
        BAD/EDGE samples (default: :func:`bad_sample_mask` of ``raw``).

    Returns
    -------
    Dataset
        ``signal`` (channel, sample) float32 volts, ``epoch_ok`` (sample) bool (see
        :func:`epoch_start_ok`), ``onset_sample`` (word) int64 (-1 where not heard); attrs
        ``sfreq_hz``.
    """
    sfreq = float(raw.info["sfreq"])
    signal = raw.get_data().astype(np.float32)
    offsets = sample_offsets(params, sfreq)
    bad = bad_sample_mask(raw) if bad is None else bad
    ok = epoch_start_ok(signal, bad, offsets, reject_peak_to_peak_v=params.get("reject_peak_to_peak_v"))
    return xr.Dataset(
        {
            "signal": (("channel", "sample"), signal),
            "epoch_ok": ("sample", ok),
            "onset_sample": ("word", onset_samples(onsets_s, sfreq)),
        },
        coords={"channel": list(raw.ch_names), "word": list(words)},
        attrs={"sfreq_hz": sfreq, "units": "V"},
    )
