"""Pool frame-level states into word-level states with one word × frame weight matrix.

The same code pools audio frames over word intervals (seconds) and text tokens over word character
spans (for the text baseline, token "times" are character centres).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["POOLING_METHODS", "word_frame_weights", "pool_words"]

POOLING_METHODS = ("mean", "last", "center")


def word_frame_weights(onsets, offsets, frame_times, *, method: str = "mean") -> torch.Tensor:
    """Weights that turn frame states into word states.

    Parameters
    ----------
    onsets, offsets : array-like, shape (n_words,)
        Word intervals ``[onset, offset)`` in the frame-time unit (s, or characters).
    frame_times : array-like, shape (n_frames,)
        Centre of every frame, same unit.
    method : {"mean", "last", "center"}
        ``"mean"``: mean over frames whose centre lies in the interval; ``"last"``: the last such
        frame; ``"center"``: the frame nearest the interval's midpoint. A word containing no frame
        centre (shorter than one frame) takes the frame nearest its midpoint, whatever the method.

    Returns
    -------
    weights : Tensor, shape (n_words, n_frames), float64
        Each row sums to 1.
    """
    if method not in POOLING_METHODS:
        raise ValueError(f"pooling method {method!r} is not one of {POOLING_METHODS}")
    # copies: read-only inputs (an xarray coordinate's values) would make read-only tensors
    onsets = torch.tensor(np.asarray(onsets, dtype=np.float64))
    offsets = torch.tensor(np.asarray(offsets, dtype=np.float64))
    times = torch.tensor(np.asarray(frame_times, dtype=np.float64))
    if onsets.numel() == 0:
        raise ValueError("no words to pool: the word list is empty")
    if times.numel() == 0:
        raise ValueError("no frames to pool from: the audio produced no frames")
    if bool((offsets < onsets).any()):
        bad = int(torch.nonzero(offsets < onsets)[0])
        raise ValueError(f"word {bad} ends before it starts (onset {onsets[bad]:.3f} > offset {offsets[bad]:.3f})")
    inside = (times[None, :] >= onsets[:, None]) & (times[None, :] < offsets[:, None])
    midpoints = (onsets + offsets) / 2
    nearest = torch.argmin((times[None, :] - midpoints[:, None]).abs(), dim=1)
    n_words, n_frames = inside.shape
    weights = torch.zeros(n_words, n_frames, dtype=torch.float64)
    if method == "mean":
        weights = inside.double()
    elif method == "last":
        index = torch.arange(n_frames)
        last = torch.where(inside, index, -1).max(dim=1).values
        rows = torch.nonzero(last >= 0).squeeze(1)
        weights[rows, last[rows]] = 1.0
    counts = weights.sum(dim=1)
    empty = counts == 0 if method != "center" else torch.ones(n_words, dtype=torch.bool)
    weights[empty] = 0.0
    weights[empty.nonzero().squeeze(1), nearest[empty]] = 1.0
    return weights / weights.sum(dim=1, keepdim=True)


def pool_words(states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Apply word × frame weights to layer states.

    Parameters
    ----------
    states : Tensor, shape (n_layers, n_frames, n_features)
    weights : Tensor, shape (n_words, n_frames)

    Returns
    -------
    Tensor, shape (n_layers, n_words, n_features), float32
    """
    weights = weights.to(device=states.device, dtype=torch.float32)
    return torch.matmul(weights, states.float())
