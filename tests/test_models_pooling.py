"""Word pooling: exact weights on constructed cases, agreement with a per-word reference loop."""

import numpy as np
import pytest
import torch

from hearlike.models import pool_words, word_frame_weights


def _reference(onsets, offsets, times, states, method):
    """Slow per-word reference of the documented rule."""
    out = []
    for on, off in zip(onsets, offsets):
        inside = np.nonzero((times >= on) & (times < off))[0]
        nearest = int(np.argmin(np.abs(times - (on + off) / 2)))
        if method == "center" or len(inside) == 0:
            out.append(states[:, nearest])
        elif method == "mean":
            out.append(states[:, inside].mean(axis=1))
        else:
            out.append(states[:, inside[-1]])
    return np.stack(out, axis=1)


@pytest.mark.parametrize("method", ["mean", "last", "center"])
def test_pooling_matches_reference(method):
    rng = np.random.default_rng(0)
    times = np.arange(50) * 0.02
    onsets = np.sort(rng.uniform(0, 0.9, 12))
    offsets = onsets + rng.uniform(0.005, 0.3, 12)  # some words shorter than a frame
    states = rng.standard_normal((3, 50, 5))
    weights = word_frame_weights(onsets, offsets, times, method=method)
    pooled = pool_words(torch.as_tensor(states), weights).numpy()
    np.testing.assert_allclose(pooled, _reference(onsets, offsets, times, states, method), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.sum(1).numpy(), 1.0)


def test_mean_pooling_exact_constructed_case():
    times = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    states = torch.arange(5, dtype=torch.float32).reshape(1, 5, 1)  # state = frame index
    # word 0 holds frames 0, 1 (0.2 is excluded: half-open); word 1 holds frames 2..4; word 2 is
    # shorter than a frame and sits nearest frame 3
    weights = word_frame_weights([0.0, 0.2, 0.31], [0.2, 0.5, 0.32], times)
    pooled = pool_words(states, weights)[0, :, 0]
    torch.testing.assert_close(pooled, torch.tensor([0.5, 3.0, 3.0]))


def test_pooling_errors():
    with pytest.raises(ValueError, match="the word list is empty"):
        word_frame_weights([], [], [0.0, 0.1])
    with pytest.raises(ValueError, match="is not one of"):
        word_frame_weights([0.0], [0.1], [0.0], method="max")
    with pytest.raises(ValueError, match="word 0 ends before it starts"):
        word_frame_weights([0.2], [0.1], [0.0])
