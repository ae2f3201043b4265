"""Timing-preserving surrogate epochs: each sentence's word onsets moved, as a block, elsewhere in the recording.

Why
    Word epochs of continuous speech overlap, and background EEG is autocorrelated (1/f activity,
    alpha), so the EEG similarity of two words of a sentence depends on *when* they were heard:
    on the exact gaps between their onsets. A model whose states also carry timing (positional
    embeddings, durations, context that spreads over neighbours) then "aligns" with EEG that holds
    no word-specific response at all. Timing is specific to each sentence, so a null that pairs a
    sentence's model states with another sentence's EEG (``swap``) or reorders words (``shuffle``,
    ``cyclic``) does not contain it.

What
    Surrogate ``k`` of sentence ``s`` in one subject's recording: the EEG epoched at ``s``'s own
    word onsets, all shifted by one offset that moves the sentence's first word onto the first word
    of another sentence ``b`` (drawn at random; ``b`` and the shift differ per subject, sentence and
    surrogate). The within-sentence onset gaps -- and so every timing-driven EEG similarity -- are
    exactly those of the real epochs; the stimulus lock is broken. Surrogates are drawn only where
    every shifted epoch would have passed the same rejection rules as the real ones (inside the
    recording, no BAD segment, peak-to-peak under the threshold) and where no shifted epoch
    overlaps the sentence's own epochs (the one rule of :mod:`hearlike.eeg.recording`, evaluated
    at every sample by :func:`~hearlike.eeg.recording.epoch_start_ok`). The recordings are kept as
    preprocessed continuous signals (:func:`~hearlike.eeg.recording.recording_of`), cached beside
    the epochs.
"""

from __future__ import annotations

import functools
import logging
import mmap
import zlib
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..metrics.nuclear import AVAILABLE as COMPILED
from .recording import baseline_mask, sample_offsets

logger = logging.getLogger(__name__)

__all__ = ["relocation_shifts", "SurrogateEpochs", "surrogate_epochs"]

#: redraws of a surrogate whose shifted epochs would be rejected, before falling back to no shift
MAX_DRAWS = 50


def relocation_shifts(onset_sample: np.ndarray, sentence_ids: np.ndarray, epoch_ok: np.ndarray, *,
                      n_surrogates: int, span_samples: int, seed: int, key: str = "") -> tuple[np.ndarray, int]:
    """Per-word sample shifts of the surrogates of one recording.

    Parameters
    ----------
    onset_sample : ndarray of int, shape (n_words,)
        Word onsets (samples; -1 = not heard, never shifted).
    sentence_ids : ndarray of str, shape (n_words,)
    epoch_ok : ndarray of bool, shape (n_samples,)
        :func:`~hearlike.eeg.recording.epoch_start_ok` of the recording.
    n_surrogates : int
    span_samples : int
        Epoch length in samples; a surrogate's epochs may not overlap the sentence's own epochs.
    seed : int
        With ``key`` (e.g. the subject) and each sentence id, seeds each sentence's draws.

    Returns
    -------
    shifts : ndarray of int64, shape (n_surrogates, n_words)
        Add to ``onset_sample``; equal within a sentence.
    n_fallback : int
        Surrogates left unshifted (no acceptable place was found in :data:`MAX_DRAWS` draws; such
        a null sample equals the observed one, which is conservative).
    """
    onset_sample = np.asarray(onset_sample, dtype=np.int64)
    sentence_ids = np.asarray(sentence_ids).astype(str)
    heard = onset_sample >= 0
    names = list(dict.fromkeys(sentence_ids[heard].tolist()))
    first = {s: int(onset_sample[heard & (sentence_ids == s)].min()) for s in names}
    starts = np.array([first[s] for s in names], dtype=np.int64)
    n_samples = len(epoch_ok)
    shifts = np.zeros((n_surrogates, len(onset_sample)), dtype=np.int64)
    n_fallback = 0
    for s in names:
        members = np.nonzero(heard & (sentence_ids == s))[0]
        onsets = onset_sample[members]
        extent = int(onsets.max() - onsets.min()) + span_samples
        rng = np.random.default_rng([int(seed), zlib.crc32(f"{key}|{s}".encode())])
        chosen = np.zeros(n_surrogates, dtype=np.int64)
        todo = np.arange(n_surrogates)
        for _ in range(MAX_DRAWS):
            if not len(todo):
                break
            shift = starts[rng.integers(0, len(starts), size=len(todo))] - first[s]
            moved = onsets[None, :] + shift[:, None]
            inside = (moved >= 0) & (moved < n_samples)
            good = (np.abs(shift) >= extent) & inside.all(axis=1)
            good &= np.where(inside, epoch_ok[np.clip(moved, 0, n_samples - 1)], False).all(axis=1)
            chosen[todo[good]] = shift[good]
            todo = todo[~good]
        n_fallback += len(todo)
        shifts[:, members] = chosen[:, None]
    return shifts, n_fallback


@dataclass(frozen=True)
class SurrogateEpochs:
    """Cuts timing-preserving surrogate epochs on demand (the recordings stay continuous).

    Attributes
    ----------
    signals : list of ndarray, each shape (n_samples_subject, n_channels)
        Preprocessed continuous EEG per subject, volts, sample-major (a cut reads whole rows); or a
        lazily opened ``signal`` DataArray (channel, sample) of a cached recording, read by
        :meth:`for_subjects` (so a grid task holds its block of subjects' recordings only).
    onset_sample : ndarray of int64, shape (n_subjects, n_words)
        Real onsets in the epochs' word order (-1 = no epoch: cut as NaN).
    shifts : ndarray of int64, shape (n_subjects, n_surrogates, n_words)
    offsets : ndarray of int, shape (n_times,)
        Epoch samples relative to onset (the epochs' ``time`` axis times ``sfreq_hz``).
    baseline : ndarray of bool, shape (n_times,), or None
        Samples averaged and subtracted per channel, as for the real epochs.
    n_fallback : int
        Surrogates that could not be moved (see :func:`relocation_shifts`).
    """

    signals: list
    onset_sample: np.ndarray
    shifts: np.ndarray
    offsets: np.ndarray
    baseline: np.ndarray | None
    n_fallback: int = 0

    @property
    def n_surrogates(self) -> int:
        return int(self.shifts.shape[1])

    @property
    def n_channels(self) -> int:
        signal = self.signals[0]
        return int(signal.shape[1] if isinstance(signal, np.ndarray) else signal.sizes["channel"])

    def for_subjects(self, subjects: Sequence[int]) -> "SurrogateEpochs":
        """The surrogates of the subjects at positions ``subjects`` alone, in that order, their signals read."""
        subjects = list(subjects)
        return replace(self, signals=[_read_signal(self.signals[j]) for j in subjects],
                       onset_sample=self.onset_sample[subjects], shifts=self.shifts[subjects])

    def with_channels(self, channels: np.ndarray) -> "SurrogateEpochs":
        """The same surrogates with the channels selected and ordered by ``channels`` (indices)."""
        channels = np.asarray(channels, dtype=np.int64)
        if np.array_equal(channels, np.arange(self.n_channels)):
            return self
        return replace(self, signals=[np.ascontiguousarray(_read_signal(signal)[:, channels]) for signal in self.signals])

    def cut(self, surrogates: slice, words: np.ndarray, *, workspace: np.ndarray | None = None,
            blocks: Sequence[int] | None = None) -> np.ndarray:
        """Surrogate epochs ``(n_subjects, n_surrogates_in_slice, len(words), n_times, n_channels)``, float32 volts.

        Subject first and time before channels (the layout the surrogate null reads fastest).
        ``words`` indexes the epochs' word axis; words without an onset are NaN. ``workspace``, a
        flat float32 array at least that large, holds the result (overwritten) instead of a new
        array (:func:`cut_buffer`): a cut writes hundreds of MB, and memory written for the first
        time costs a page fault per page.

        ``blocks``, channel boundaries ``[0, b_1, ..., n_channels]``, lays each epoch out block by
        block instead: shape ``(n_subjects, n_surrogates_in_slice, len(words), n_times ·
        n_channels)``, block ``[b_a, b_a+1)`` at ``n_times · b_a`` as ``(n_times, block width)``. Any
        window of samples of one block is then a contiguous run of each epoch (a view, where the
        plain layout needs a copy of a region's channels).
        """
        words = np.asarray(words, dtype=np.int64)
        index = np.arange(self.n_surrogates)[surrogates]
        n_times, n_channels = len(self.offsets), self.n_channels
        bounds = np.asarray([0, n_channels] if blocks is None else blocks, dtype=np.int64)
        if bounds[0] != 0 or bounds[-1] != n_channels or np.any(np.diff(bounds) <= 0):
            raise ValueError(f"cut: blocks must rise from 0 to the {n_channels} channels, got {bounds.tolist()}")
        shape = (len(self.signals), len(index), len(words), n_times, n_channels)
        if workspace is None:
            out = cut_buffer(int(np.prod(shape))).reshape(shape)
        else:
            out = workspace[: int(np.prod(shape))].reshape(shape)
        for j, signal in enumerate(self.signals):
            signal = _read_signal(signal)
            onsets = self.onset_sample[j, words]
            starts = onsets[None, :] + self.shifts[j][np.ix_(index, words)]  # (k, w): the onsets moved
            block = out[j]
            _copy_epochs(signal, starts, self.offsets, block, baseline=self.baseline, bounds=bounds)
            block[:, onsets < 0] = np.nan
        return out if blocks is None else out.reshape(*shape[:3], n_times * n_channels)


def cut_buffer(size: int) -> np.ndarray:
    """A new float32 array of ``size`` values for :meth:`SurrogateEpochs.cut`, in memory mapped
    without transparent huge pages.

    NumPy asks the kernel for huge pages for arrays of 4 MB and more; where the kernel then compacts
    memory to find them on the first write (``defrag`` = ``madvise``, common), writing a fresh 256 MB
    ``np.empty`` took 3.2 s here, far more than the copy itself, and varied with the machine's memory
    state (``bench/RESULTS.md``). Mapped without them, 0.21 s. Freed with the array.
    """
    if size <= 0:
        return np.empty(0, dtype=np.float32)
    return np.frombuffer(mmap.mmap(-1, 4 * int(size)), dtype=np.float32)


def _copy_epochs(signal: np.ndarray, onsets: np.ndarray, offsets: np.ndarray, out: np.ndarray, *,
                 baseline: np.ndarray | None = None, bounds: np.ndarray | None = None) -> None:
    """``out[k, w] = signal[onsets[k, w] + offsets]``, rows clipped to the signal, each epoch's mean
    over the samples ``baseline`` (a boolean mask over ``offsets``) removed per channel.

    signal (n_samples, n_channels); onsets (K, W) int; offsets (T,) int; out (K, W, T, n_channels),
    C-contiguous, holding each epoch block by block of channels when ``bounds`` (channel boundaries
    from 0 to n_channels, see :meth:`SurrogateEpochs.cut`) has more than one block. With consecutive
    offsets (an epoch's samples) into float32 arrays, one compiled pass copies each epoch, removes
    its baseline and lays out its blocks (:mod:`._epoch_loop`; the same numbers, as fast as the NumPy
    path's slice copies alone, which need a pass more for the baseline and a copy more for the
    blocks). Otherwise,
    or without numba (``HEARLIKE_COMPILED=0``), NumPy: an epoch inside the signal is one contiguous
    block of rows, copied as a slice (~7x faster than ``np.take``'s row-by-row gather, which the
    epochs reaching past either end of the signal, and non-consecutive offsets, still use), then the
    baseline means are removed and the blocks laid out.
    """
    n_times, n_channels = len(offsets), signal.shape[1]
    bounds = np.asarray([0, n_channels] if bounds is None else bounds, dtype=np.int64)
    consecutive = n_times >= 2 and bool(np.all(np.diff(offsets) == 1))
    if (consecutive and COMPILED and signal.dtype == out.dtype == np.float32 and signal.flags.c_contiguous
            and out.flags.c_contiguous):
        rows = (np.flatnonzero(baseline) if baseline is not None else np.zeros(0)).astype(np.int64)
        starts = (np.asarray(onsets, dtype=np.int64) + int(offsets[0])).ravel()
        _kernel()(signal, starts, rows, bounds, out.reshape(-1, n_times * n_channels))
        return
    if not consecutive:
        np.take(signal, onsets[..., None] + offsets, axis=0, out=out, mode="clip")
    else:
        starts = (onsets + offsets[0]).ravel()
        epochs = out.reshape(-1, n_times, n_channels)
        inside = (starts >= 0) & (starts + n_times <= len(signal))
        for i, start in zip(np.flatnonzero(inside).tolist(), starts[inside].tolist()):
            epochs[i] = signal[start:start + n_times]
        edge = np.flatnonzero(~inside)
        if edge.size:
            epochs[edge] = np.take(signal, starts[edge, None] + np.arange(n_times), axis=0, mode="clip")
    if baseline is not None:
        out -= out[..., baseline, :].mean(axis=-2, keepdims=True)
    if len(bounds) > 2:  # block by block: (..., T, C) -> each block's (..., T, width) in turn
        plain = out.copy()
        flat = out.reshape(*out.shape[:-2], n_times * n_channels)
        for c0, c1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            flat[..., n_times * c0 : n_times * c1] = plain[..., c0:c1].reshape(*out.shape[:-2], -1)


@functools.cache
def _kernel():
    """The compiled copy (numba imported, and the loop compiled or read from its cache, here)."""
    from ._epoch_loop import copy_baselined_epochs

    return copy_baselined_epochs


def surrogate_epochs(recordings: Mapping[str, xr.Dataset], epochs: xr.DataArray, *, n_surrogates: int,
                     params: Mapping[str, Any], seed: int) -> SurrogateEpochs:
    """Surrogates for ``epochs`` (subject, word, channel, time) from the subjects' recordings.

    Parameters
    ----------
    recordings : dict of subject to Dataset
        :func:`~hearlike.eeg.recording.recording_of` per subject (e.g. :func:`hearlike.eeg.load_recordings`).
    epochs : DataArray
        The real epochs; its subject, word and channel order is kept.
    n_surrogates : int
    params : mapping
        The validated EEG options the epochs were cut with.
    seed : int
    """
    subjects = [str(s) for s in epochs["subject"].values]
    words = [str(w) for w in epochs["word"].values]
    channels = [str(c) for c in epochs["channel"].values]
    sentence_ids = np.asarray(epochs["sentence_id"].values).astype(str)
    sfreq = float(epochs.attrs["sfreq_hz"])
    offsets = np.round(np.asarray(epochs["time"].values) * sfreq).astype(np.int64)
    expected = sample_offsets(params, sfreq)
    if len(expected) != len(offsets) or not np.array_equal(expected, offsets):
        raise ValueError(f"surrogate epochs: the epochs' time axis ({len(offsets)} samples) does not match "
                         f"tmin_s/tmax_s of the EEG options ({len(expected)} samples); recompute the epochs")
    signals, onsets, shifts, n_fallback = [], [], [], 0
    for subject in subjects:
        if subject not in recordings:
            raise ValueError(f"surrogate epochs: no recording for subject {subject!r}")
        rec = recordings[subject]
        rec_channels = [str(c) for c in rec["channel"].values]
        if rec_channels != channels:
            raise ValueError(f"surrogate epochs: subject {subject} recording channels differ from its epochs' "
                             "channels; recompute the epoch cache")
        onset = rec["onset_sample"].to_series().reindex(words).to_numpy()
        if np.isnan(onset.astype(float)).any():
            missing = [w for w, o in zip(words, onset) if o != o][:5]
            raise ValueError(f"surrogate epochs: subject {subject} recording lacks words {missing}; recompute the epoch cache")
        onset = onset.astype(np.int64)
        shift, fallback = relocation_shifts(onset, sentence_ids, np.asarray(rec["epoch_ok"].values),
                                            n_surrogates=n_surrogates, span_samples=len(offsets), seed=seed,
                                            key=subject)
        signal = rec["signal"]
        signals.append(signal if signal.chunks is not None else _read_signal(signal))  # a lazy one stays lazy
        onsets.append(onset)
        shifts.append(shift)
        n_fallback += fallback
    if n_fallback:
        logger.warning("surrogate epochs: %d sentence surrogates found no acceptable place and stay unshifted "
                       "(their null sample equals the observed score: conservative)", n_fallback)
    return SurrogateEpochs(signals=signals, onset_sample=np.stack(onsets), shifts=np.stack(shifts),
                           offsets=offsets, baseline=baseline_mask(params, offsets, sfreq), n_fallback=n_fallback)


def _read_signal(signal) -> np.ndarray:
    """A recording's signal as a contiguous (sample, channel) float32 array, read now if it is a lazy
    (channel, sample) DataArray."""
    if isinstance(signal, np.ndarray):
        return signal
    return np.ascontiguousarray(np.asarray(signal.values, dtype=np.float32).T)
