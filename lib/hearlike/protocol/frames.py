"""The reference study's items: 20 ms model frames within a sentence, PCA-20 states, EEG at the frame count.

The study (arXiv 2601.16540) takes every 20 ms frame of a sentence as an item. A model's hidden states
of one sentence (frames × features) are reduced to their first 20 principal components and each
component is z-scored over the sentence's frames; the sentence's EEG (channels × samples from sentence
onset) is linearly interpolated to the same number of frames and z-scored per channel.

Frame states from word states
-----------------------------
``hearlike`` caches one state per word (:mod:`hearlike.models.extract`; the demo's oracle states are
per word too). :func:`word_frames` therefore derives frame states from word states: every frame takes
the vector of the word whose ``[onset, offset)`` holds the frame's centre (a frame in a pause takes the
preceding word; frames before the first word take the first). This is an approximation of the study's
per-frame hidden states: within a word all frames are identical, so a window inside one word has no
defined RDM (such sentence × window cells are left out and counted). For a real model,
:func:`model_frames` puts one sentence's states (``Adapter.run_audio``) on the 20 ms grid, either by the
study's assumption (item ``i`` is frame ``i``) or by hearlike's frame times; the paper grid does not call
it yet (it reads the cached word states).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FRAME_S", "N_COMPONENTS", "n_frames", "frame_word_index", "word_frames", "pca_frames", "pca_word_frames",
           "model_frames", "eeg_to_frames", "window_frames"]

#: the study's frame length: 20 ms for every model
FRAME_S = 0.02
#: principal components kept per sentence
N_COMPONENTS = 20


def n_frames(duration_s: float, *, frame_s: float = FRAME_S) -> int:
    """Whole frames in ``duration_s`` seconds (from sentence onset to the last word's offset)."""
    return int(np.floor(duration_s / frame_s + 1e-9))


def frame_word_index(onsets_s: np.ndarray, offsets_s: np.ndarray, *, frame_s: float = FRAME_S) -> np.ndarray:
    """For each frame of a sentence, the index of the word it belongs to.

    Parameters
    ----------
    onsets_s, offsets_s : array, shape (n_words,)
        Word times (seconds, any origin; sorted by onset).

    Returns
    -------
    ndarray of int, shape (n_frames,)
        Word index per frame; frame ``f`` covers ``[f, f + 1) * frame_s`` from the first onset and is
        assigned by its centre (pauses: the preceding word).
    """
    onsets = np.asarray(onsets_s, float) - float(onsets_s[0])
    offsets = np.asarray(offsets_s, float) - float(onsets_s[0])
    count = n_frames(float(offsets.max()), frame_s=frame_s)
    centres = (np.arange(count) + 0.5) * frame_s
    return np.clip(np.searchsorted(onsets, centres, side="right") - 1, 0, len(onsets) - 1)


def word_frames(states: np.ndarray, table: pd.DataFrame, *, frame_s: float = FRAME_S) -> np.ndarray:
    """Frame states of one sentence from its word states (each frame takes its word's vector).

    Parameters
    ----------
    states : array, shape (n_layers, n_words, n_features)
        One sentence's word states, in word order.
    table : DataFrame
        The sentence's rows of the stimulus table (``onset_s``, ``offset_s``), in word order.

    Returns
    -------
    ndarray, shape (n_layers, n_frames, n_features)
    """
    if states.shape[1] != len(table):
        raise ValueError(f"word_frames: {states.shape[1]} word states but {len(table)} words in the table "
                         f"(sentence {table['sentence_id'].iloc[0] if len(table) else '?'})")
    index = frame_word_index(table["onset_s"].to_numpy(), table["offset_s"].to_numpy(), frame_s=frame_s)
    return states[:, index]


def pca_frames(frames: np.ndarray, *, n_components: int = N_COMPONENTS, rtol: float = 1e-5) -> np.ndarray:
    """Per-sentence PCA of frame states, each component z-scored over the frames.

    Parameters
    ----------
    frames : array, shape (..., n_frames, n_features)
        Frame states of one sentence (leading dims, e.g. layers, are independent PCAs).
    n_components : int
        Components kept (the study's 20). When the frames span fewer dimensions (fewer frames, or
        frames copied from fewer words), the components beyond their rank are returned as zeros:
        z-scoring numerical noise would invent structure.
    rtol : float
        A component whose singular value is below ``rtol`` times the largest counts as rank-deficient.

    Returns
    -------
    ndarray, shape (..., n_frames, n_components), float64
        Component scores, each with mean 0 and SD 1 (population SD) over the frames, or all 0. Signs
        are arbitrary (as in any PCA); the distances between frames do not depend on them.
    """
    x = np.asarray(frames, dtype=np.float64)
    x = x - x.mean(axis=-2, keepdims=True)
    # the frames' Gram (frames × frames) is small: its eigenvectors scaled by sqrt(eigenvalue) are the PC scores
    values, vectors = np.linalg.eigh(x @ np.swapaxes(x, -1, -2))
    values, vectors = values[..., ::-1], vectors[..., ::-1]
    k = min(n_components, values.shape[-1])
    s = np.sqrt(np.clip(values[..., :k], 0.0, None))
    scores = vectors[..., :k] * s[..., None, :]
    return _zscored_components(scores, s, n_components, rtol)


def _zscored_components(scores: np.ndarray, s: np.ndarray, n_components: int, rtol: float) -> np.ndarray:
    """PC ``scores`` (..., n_frames, k) z-scored per component; components with singular value ``s``
    below ``rtol`` × the first (beyond the data's rank) and those past ``k`` are 0."""
    k = scores.shape[-1]
    keep = s > rtol * np.maximum(s[..., :1], np.finfo(float).tiny)
    sd = scores.std(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(keep[..., None, :], scores / np.where(sd > 0, sd, 1.0), 0.0)
    if k < n_components:
        z = np.concatenate([z, np.zeros((*z.shape[:-1], n_components - k))], axis=-1)
    return z


def pca_word_frames(states: np.ndarray, frame_word: np.ndarray, *, n_components: int = N_COMPONENTS,
                    rtol: float = 1e-5) -> np.ndarray:
    """:func:`pca_frames` of frames copied from word states (:func:`word_frames`), computed in word space.

    With ``X_f = E X_w`` (``E`` the frame-to-word indicator, ``c`` the frames per word), the frames'
    principal components are those of the words weighted by ``c``: the eigenvectors ``u`` of
    ``C^½ Y Yᵀ C^½`` (``Y`` the words centred on the frame mean) give the frame scores ``E C^-½ u s``.
    Exactly :func:`pca_frames` of the copied frames (up to each component's sign), on an
    ``n_words × n_words`` problem instead of ``n_frames × n_frames``.

    Parameters
    ----------
    states : array, shape (..., n_words, n_features)
    frame_word : array of int, shape (n_frames,)
        Word index per frame (:func:`frame_word_index`).

    Returns
    -------
    ndarray, shape (..., n_frames, n_components), float64
    """
    x = np.asarray(states, dtype=np.float64)
    frame_word = np.asarray(frame_word)
    counts = np.bincount(frame_word, minlength=x.shape[-2]).astype(float)
    used = np.flatnonzero(counts > 0)
    x, c = x[..., used, :], counts[used]
    index = np.searchsorted(used, frame_word)
    y = x - (c[:, None] * x).sum(axis=-2, keepdims=True) / c.sum()
    root = np.sqrt(c)
    values, vectors = np.linalg.eigh(root[:, None] * (y @ np.swapaxes(y, -1, -2)) * root[None, :])
    values, vectors = values[..., ::-1], vectors[..., ::-1]
    k = min(n_components, values.shape[-1])
    s = np.sqrt(np.clip(values[..., :k], 0.0, None))
    scores = (vectors[..., :k] / root[:, None] * s[..., None, :])[..., index, :]  # (..., n_frames, k)
    return _zscored_components(scores, s, n_components, rtol)


def eeg_to_frames(segment: np.ndarray, n: int, *, sfreq_hz: float, frame_s: float = FRAME_S) -> np.ndarray:
    """EEG of one sentence at the frame count: linear interpolation at frame centres, z-scored per channel.

    Parameters
    ----------
    segment : array, shape (..., n_channels, n_samples)
        EEG from sentence onset (sample 0 at onset), at least ``n * frame_s`` seconds long.
    n : int
        Frames of the sentence.
    sfreq_hz : float
        Sampling rate of ``segment``.

    Returns
    -------
    ndarray, shape (..., n_channels, n), float64
        Each channel z-scored over the sentence's frames (a flat channel: all 0).
    """
    segment = np.asarray(segment, dtype=np.float64)
    times = np.arange(segment.shape[-1]) / float(sfreq_hz)
    if times[-1] + 1.0 / sfreq_hz < n * frame_s - 1e-9:
        raise ValueError(f"eeg_to_frames: {segment.shape[-1]} samples at {sfreq_hz:g} Hz cover "
                         f"{segment.shape[-1] / sfreq_hz:.3f} s, fewer than the {n} frames' {n * frame_s:.3f} s")
    centres = (np.arange(n) + 0.5) * frame_s
    flat = segment.reshape(-1, segment.shape[-1])
    out = np.stack([np.interp(centres, times, row) for row in flat]).reshape(*segment.shape[:-1], n)
    out = out - out.mean(axis=-1, keepdims=True)
    sd = out.std(axis=-1, keepdims=True)
    return np.where(sd > 0, out / np.where(sd > 0, sd, 1.0), 0.0)


def window_frames(start_ms: float, stop_ms: float, *, frame_s: float = FRAME_S) -> slice:
    """The frames of a window counted from sentence onset: ``int(start / frame)`` to ``int(stop / frame)``."""
    step = frame_s * 1000.0
    return slice(int(start_ms / step + 1e-9), int(stop_ms / step + 1e-9))


def model_frames(states, n: int, *, part: str = "decoder", onset_s: float = 0.0, timing: str = "study",
                 frame_s: float = FRAME_S) -> np.ndarray:
    """A real model's states of one sentence on the study's 20 ms frame grid (``n`` frames from sentence onset).

    Parameters
    ----------
    states : hearlike.models.adapters.ItemStates
        One sentence's layer states (``Adapter.run_audio``): ``encoder``/``decoder`` (layers, items,
        features) with item times ``encoder_times``/``decoder_times`` (s from the audio's start).
    n : int
        Frames of the sentence (:func:`n_frames`).
    part : {"decoder", "encoder"}
        The study reads the language decoder's hidden states (no prompt).
    onset_s : float
        Sentence onset in the audio (s), where frame 0 starts.
    timing : {"study", "times"}
        ``"study"``: the study's assumption that every model emits one state per 20 ms: item ``i`` is
        frame ``i`` (items from the first one at or after ``onset_s``; missing frames repeat the last
        item). ``"times"``: each frame takes the item whose time is nearest its centre (``hearlike``'s
        frame times, :mod:`hearlike.models.frames`).

    Returns
    -------
    ndarray, shape (n_layers, n, n_features), float64
    """
    values = getattr(states, part)
    times = np.asarray(getattr(states, f"{part}_times"), dtype=float)
    if values is None or len(times) == 0:
        raise ValueError(f"model_frames: these states have no {part} items; use part='encoder' or 'decoder'")
    values = values.detach().double().cpu().numpy() if hasattr(values, "detach") else np.asarray(values, float)
    if timing == "study":
        first = int(np.searchsorted(times, onset_s - 1e-9))
        index = np.minimum(first + np.arange(n), len(times) - 1)
    elif timing == "times":
        centres = onset_s + (np.arange(n) + 0.5) * frame_s
        right = np.clip(np.searchsorted(times, centres), 1, len(times) - 1)
        index = np.where(np.abs(times[right - 1] - centres) <= np.abs(times[right] - centres), right - 1, right)
        index = np.clip(index, 0, len(times) - 1)
    else:
        raise ValueError(f"model_frames: timing must be 'study' or 'times', got {timing!r}")
    return values[:, index]
