"""hearlike.geometry's compiled gathers (gathered_geometry, cell_geometry) against the torch path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hearlike import grid as hg
from hearlike.geometry import GEOMETRY_PARTS, cell_geometry, gathered_geometry, word_geometry
from hearlike.grid import cells as grid_cells
from hearlike.metrics import STUDY_METRICS, nuclear

from test_grid import REGIONS, WINDOWS, make_epochs, make_states

pytestmark = pytest.mark.skipif(not nuclear.AVAILABLE, reason="numba is not installed or HEARLIKE_COMPILED=0")

NEEDS = [GEOMETRY_PARTS, ("gram",), ("correlation",), ("energy",), ("correlation", "energy")]


def _close(got, want, rtol=1e-12, scale=None):
    """Equal up to rounding, relative to ``scale`` (default: the array's largest value; NaN where NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.abs(got[ok] - want[ok]).max() <= rtol * (scale or max(np.abs(want[ok]).max(), 1e-300))


def _same_geometry(got, want, needs):
    for part in GEOMETRY_PARTS:
        a, b = getattr(got, part), getattr(want, part)
        assert (a is None) == (part not in needs) and (b is None) == (part not in needs)
        if a is not None:
            assert a.dtype == torch.float64
            _close(a, b, scale=1.0 if part == "correlation" else None)  # 1 - r: digits of r, not of the distance


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 4, 5, 9, 12])  # 4 x 4 tiles of n - 1 or n rows, padded; the anchor's n
def test_gathered_model_geometry_equals_word_geometry_of_the_gathered_words(dtype, n):
    """A layer's words gathered, cast, centred and multiplied in one compiled pass: the numbers of
    word_geometry on the gathered float64 words, for every part, a narrower layer width included,
    and with a large common offset (the massive activations of LLM states)."""
    rng = np.random.default_rng(n)
    values = rng.standard_normal((3, 40, 33)).astype(dtype)
    values[:, :, 5] += 300.0  # one outlier feature shared by every word
    positions = rng.permutation(40)[: 3 * n].reshape(3, n)
    for width in (33, 20):
        for needs in NEEDS:
            for layer in range(3):
                x = values[layer, positions.reshape(-1), :width].astype(np.float64).reshape(3, n, width)
                _same_geometry(gathered_geometry(values, layer, positions, width, needs=needs),
                               word_geometry(torch.from_numpy(x), needs=needs), needs)


def test_compiled_correlation_distances_are_the_row_centred_ones():
    """The compiled pass centres each word over its features before the product; with a common
    offset 1e4 times the spread the raw-Gram formula of word_geometry loses digits, this does not."""
    rng = np.random.default_rng(1)
    values = (rng.standard_normal((1, 6, 50)) + 1e4)
    positions = np.arange(6).reshape(1, 6)
    got = gathered_geometry(values, 0, positions, 50, needs=("correlation",)).correlation.numpy()
    x = values[0] - values[0].mean(axis=1, keepdims=True)
    corr = 1 - (x @ x.T) / np.sqrt(np.outer((x * x).sum(1), (x * x).sum(1)))
    want = corr[np.triu_indices(6, 1)]
    assert np.abs(got - want).max() < 1e-13


def test_a_nan_state_makes_its_sentence_geometry_nan():
    values = np.ones((1, 8, 6), np.float32) + np.arange(6)
    values[0, 5, 2] = np.nan
    positions = np.arange(8).reshape(2, 4)
    g = gathered_geometry(values, 0, positions, 6)
    for part in (g.gram, g.correlation, g.energy):
        flat = part.reshape(2, -1)
        assert torch.isnan(flat[1]).any() and not torch.isnan(flat[0]).any()


def test_cell_geometry_equals_the_torch_path_with_rejected_epochs(monkeypatch):
    """An EEG cell's words (channels × samples, NaN as zero) for every subject: the numbers of the
    torch path (eeg_geometry without numba), and eeg_valid flags the same sentences."""
    rng = np.random.default_rng(3)
    epochs = make_epochs([5, 5, 5, 7, 7], n_subjects=3, n_times=10)
    values = np.array(epochs.values)  # (subject, word, channel, time) float32
    values[1, 3, 2, 4] = np.nan
    values[2, 20, :, :] = np.nan
    values[0, 11, 5, 9] = np.nan
    cells = hg.eeg_cells(epochs, WINDOWS, REGIONS)
    for positions in (np.arange(15).reshape(3, 5), 15 + rng.permutation(14).reshape(2, 7)):
        n = positions.shape[1]
        for needs in NEEDS:
            got, got_valid = grid_cells.eeg_geometry(values, cells, positions, n, needs=needs, dtype=torch.float64,
                                                     device="cpu", chunk=2**20)
            valid = grid_cells.eeg_valid(values, cells, positions)
            monkeypatch.setattr(grid_cells, "COMPILED_GATHER", False)
            want, want_valid = grid_cells.eeg_geometry(values, cells, positions, n, needs=needs, dtype=torch.float64,
                                                       device="cpu", chunk=2**20)
            scanned = grid_cells.eeg_valid(values, cells, positions)
            monkeypatch.setattr(grid_cells, "COMPILED_GATHER", True)
            _same_geometry(got, want, needs)
            # the NaN found while gathering = the compiled scan = NumPy's isnan
            for mask in (got_valid, want_valid, valid):
                np.testing.assert_array_equal(mask, scanned)
        assert not valid.all()  # a rejected epoch is in each set of sentences


@pytest.mark.parametrize("times", [np.arange(2, 7), np.array([1, 3, 4, 8]), np.array([5])])
def test_one_cell_geometry_is_the_gathered_cell(times):
    """Consecutive samples (a window: the contiguous, vectorised gather) or not; NaN as zero and
    flagged per subject and sentence."""
    rng = np.random.default_rng(4)
    values = rng.standard_normal((2, 12, 6, 9))
    values[1, 7, 2, times[0]] = np.nan
    channels = np.array([4, 1, 2])
    positions = rng.permutation(12).reshape(3, 4)
    x = values[:, positions.reshape(-1)][:, :, channels][:, :, :, times].reshape(2, 3, 4, -1)
    want = word_geometry(torch.from_numpy(np.nan_to_num(x)))
    rejected = np.empty((2, 3), dtype=bool)
    _same_geometry(cell_geometry(values, positions, channels, times, rejected=rejected), want, GEOMETRY_PARTS)
    np.testing.assert_array_equal(rejected, np.isnan(x).any(axis=(2, 3)))
    assert rejected.sum() == 1


@pytest.mark.parametrize("null_kind", ["swap", "shuffle"])
def test_the_grid_gives_the_same_numbers_with_and_without_the_compiled_gathers(monkeypatch, null_kind):
    """End to end: ragged sentences, a rejected epoch, several layers of two widths, every study
    metric and a permutation null (the shuffle null's inner products in the compiled loop of
    :mod:`hearlike.grid._null_loop`): the same scores and null samples to rounding."""
    lengths = [5, 6, 5, 7, 6, 8, 5]
    epochs = make_epochs(lengths, n_subjects=2)
    values = epochs.values.copy()
    values[1, 4] = np.nan
    epochs = epochs.copy(data=values)
    states = {"m": make_states(lengths, 3, 16, widths=[16, 16, 9])}
    kw = dict(windows=WINDOWS, regions=REGIONS, metrics=list(STUDY_METRICS), n_permutations=5, seed=0, keep_null=True,
              null_kind=null_kind)
    got = hg.compute_grid(states, epochs, **kw)
    monkeypatch.setattr(grid_cells, "COMPILED_GATHER", False)
    want = hg.compute_grid(states, epochs, **kw)
    for var in ("score", "null"):
        _close(got[var].values, want[var].values, rtol=1e-9)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("permute_eeg", [True, False])
def test_permuted_inner_products_equal_the_permuted_reps_contracted(permute_eeg, symmetric):
    """The compiled null of "gram" metrics: each sentence's EEG reps reordered by the permutations
    (or the model's by their inverses) and contracted with the other side, as permute_rep + einsum
    (for symmetric reps the loop sums the upper triangle, off-diagonal terms twice)."""
    from hearlike.grid.nulls import _permuted_inner
    from hearlike.metrics import permute_rep

    rng = np.random.default_rng(5)
    n_layers, n_cells, n_sent, n, n_perm = 4, 3, 6, 7, 5
    a = torch.from_numpy(rng.standard_normal((n_layers, n_sent, n, n)))
    b = torch.from_numpy(rng.standard_normal((n_cells, n_sent, n, n)))
    if symmetric:  # as Gram-type reps are; mutual k-NN's neighbour indicators are not
        a, b = a + a.transpose(-1, -2), b + b.transpose(-1, -2)
    perms = torch.from_numpy(np.stack([[rng.permutation(n) for _ in range(n_sent)] for _ in range(n_perm)]))
    permuted = permute_rep(b.unsqueeze(0), perms.unsqueeze(1), kind="gram")  # (P, C, S, n, n)
    want = torch.einsum("lsij,pcsij->plcs", a, permuted)
    given = perms if permute_eeg else torch.argsort(perms, dim=-1)
    got = _permuted_inner(a, b, given, permute_eeg=permute_eeg, symmetric=symmetric)
    assert got.shape == (n_perm, n_layers, n_cells, n_sent)
    _close(got, want)
    assert not torch.allclose(want, torch.einsum("lsij,csij->lcs", a, b).expand_as(want))  # the order matters


def test_compiled_correlation_distances_equal_the_torch_formula():
    """The compiled upper triangle of 1 - corr: the same numbers as geometry._correlation_upper,
    a word without variance (a zero row: NaN against itself, -inf or NaN against others) included."""
    from hearlike._geometry_loop import correlation_distances
    from hearlike.geometry import _correlation_upper

    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 6, 9))
    x[2, 3] = 0.0
    x -= x.mean(axis=-1, keepdims=True)
    cov = x @ np.swapaxes(x, -1, -2)
    got = np.empty((5, 15))
    correlation_distances(cov, got)
    want = _correlation_upper(torch.from_numpy(cov)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=4e-16)  # NaN where NaN
    assert np.isnan(got[2]).sum() == 5 and np.isfinite(got[[0, 1, 3, 4]]).all()
