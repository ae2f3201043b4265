"""The compiled nuclear norms (Procrustes and SVCCA's inner loop) against an SVD and LAPACK."""

import numpy as np
import pytest
import torch

from hearlike.metrics import compare, nuclear
from hearlike.metrics.nuclear import nuclear_norms

pytestmark = pytest.mark.skipif(not nuclear.AVAILABLE, reason="numba not installed")


def _svd_nuclear(x, y):
    return np.linalg.svd(np.swapaxes(x, -1, -2) @ y, compute_uv=False).sum(-1)


@pytest.mark.parametrize("n, r, s", [(12, 11, 11), (12, 5, 5), (9, 8, 3), (9, 3, 8), (4, 1, 1), (30, 29, 29)])
def test_equals_svd(n, r, s):
    rng = np.random.default_rng(n * 100 + r * 10 + s)
    x = rng.standard_normal((50, n, r))
    y = rng.standard_normal((50, n, s))
    np.testing.assert_allclose(nuclear_norms(x, y), _svd_nuclear(x, y), rtol=1e-9, atol=0)


def test_rank_deficient_and_zero():
    """SVCCA's factors carry zero columns beyond the kept components; a zero product scores 0."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 12, 5))
    y = rng.standard_normal((40, 12, 5))
    x[:, :, 3:] = 0.0
    y[::2, :, 1:] = 0.0
    got, ref = nuclear_norms(x, y), _svd_nuclear(x, y)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    assert nuclear_norms(np.zeros((2, 6, 4)), y[:2, :6, :4]).tolist() == [0.0, 0.0]
    # a product of rank one, a multiple of a singular matrix: one singular value
    u = rng.standard_normal((12, 1))
    assert nuclear_norms(u @ np.ones((1, 5)), u @ np.ones((1, 5)))[()] == pytest.approx(5 * (u**2).sum(), rel=1e-12)


def test_broadcasting_equals_expanded_copies():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 1, 7, 10, 9))  # (layer, 1, sentence, n, r)
    y = rng.standard_normal((4, 1, 5, 7, 10, 9))  # (perm, 1, cell, sentence, n, r)
    got = nuclear_norms(x, y)
    shape = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    assert shape == (4, 3, 5, 7)
    assert got.shape == shape
    xe = np.broadcast_to(x, shape + x.shape[-2:])
    ye = np.broadcast_to(y, shape + y.shape[-2:])
    np.testing.assert_allclose(got, _svd_nuclear(xe, ye), rtol=1e-9)


def test_non_finite_gives_nan_only_there():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 8, 7))
    y = rng.standard_normal((6, 8, 7))
    x[1, 2, 3] = np.nan
    y[4, 0, 0] = np.inf
    got = nuclear_norms(x, y)
    assert np.isnan(got[[1, 4]]).all()
    keep = [0, 2, 3, 5]
    np.testing.assert_allclose(got[keep], _svd_nuclear(x[keep], y[keep]), rtol=1e-9)


def test_bad_shapes_and_empty():
    with pytest.raises(ValueError, match="expected x"):
        nuclear_norms(np.zeros((3, 4, 2)), np.zeros((3, 5, 2)))
    assert nuclear_norms(np.zeros((0, 4, 2)), np.zeros((0, 4, 2))).shape == (0,)


def test_compare_path_equals_lapack_path(monkeypatch):
    """``compare._nuclear`` gives LAPACK's numbers (``eigvalsh`` of ``MᵀM``) through the compiled loop,
    float32 and float64, NaN reps included."""
    rng = np.random.default_rng(4)
    for dtype in (torch.float64, torch.float32):
        a = torch.from_numpy(rng.standard_normal((5, 1, 6, 12, 11))).to(dtype)
        b = torch.from_numpy(rng.standard_normal((1, 3, 6, 12, 11))).to(dtype)
        b[0, 1, 2, 0, 0] = float("nan")
        got = compare._nuclear(a, b)
        monkeypatch.setattr(nuclear, "AVAILABLE", False)
        ref = compare._nuclear(a, b)
        monkeypatch.setattr(nuclear, "AVAILABLE", True)
        assert got.dtype == ref.dtype == dtype
        assert torch.equal(torch.isnan(got), torch.isnan(ref)) and bool(torch.isnan(got[:, 1, 2]).all())
        tol = 1e-10 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(got, ref, rtol=tol, atol=0, equal_nan=True)


def test_threads_split_gives_the_same_numbers(monkeypatch):
    monkeypatch.setattr(nuclear, "_PER_THREAD", 7)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((31, 9, 8))
    y = rng.standard_normal((1, 9, 8))
    assert np.array_equal(nuclear_norms(x, y, threads=3), nuclear_norms(x, y))


def _one_at_a_time(x, y):
    """Every product through the one-at-a-time loop (the side-by-side loop's reference)."""
    _, one = nuclear._kernels()
    (cx, nx), (cy, ny) = nuclear._columns(x), nuclear._columns(y)
    b = np.arange(x.shape[0])
    out = np.empty(x.shape[0])
    one(x, y, b, b, cx, nx, cy, ny, out)
    return out


def test_lanes_equal_the_one_at_a_time_loop():
    """Products of many sizes (zero columns at random: SVCCA's kept components), in groups that do
    not fill the lanes, NaN and empty ones among them: the same numbers, bit for bit."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((203, 10, 9))
    y = rng.standard_normal((203, 10, 9))
    for f in (x, y):
        kept = rng.integers(0, 10, f.shape[0])  # 0 .. 9 non-zero columns, scattered among the 9
        for i, k in enumerate(kept):
            f[i, :, rng.permutation(9)[k:]] = 0.0
    x[17, 3, 2] = np.nan
    got, ref = nuclear_norms(x, y), _one_at_a_time(x, y)
    assert np.isnan(got[17]) and np.isnan(ref[17])
    assert np.array_equal(got, ref, equal_nan=True)
    assert (got == 0).sum() >= 10  # factors without a non-zero column
    keep = ~np.isnan(got)
    np.testing.assert_allclose(got[keep], _svd_nuclear(x[keep], y[keep]), rtol=1e-9, atol=1e-12)


def test_flagged_lanes_are_recomputed(monkeypatch):
    """Products the side-by-side loop flags (an exact zero met, no convergence) are redone one at a
    time: here every third is flagged and its value spoilt, and the result is still exact."""
    lanes, one = nuclear._kernels()

    def spoiling(x, y, ix, iy, cx, nx, cy, ny, order, out, redo):
        lanes(x, y, ix, iy, cx, nx, cy, ny, order, out, redo)
        out[order[::3]] = -1.0
        redo[order[::3]] = True

    monkeypatch.setattr(nuclear, "_kernels", lambda: (spoiling, one))
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((40, 8, 7)), rng.standard_normal((40, 8, 7))
    assert np.array_equal(nuclear_norms(x, y), _one_at_a_time(x, y))
