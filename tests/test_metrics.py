"""hearlike.metrics against slow NumPy references, peer libraries and invariances."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats as ss
import torch

from hearlike import geometry
from hearlike import metrics as hm
from hearlike.metrics import compare as metrics_compare
from hearlike.metrics import prepare as metrics_prepare

RNG = np.random.default_rng(1234)
N, D, P, BATCH = 9, 13, 7, 3


def _pair(n=N, d=D, p=P, batch=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n, d))
    # y shares some structure with x so scores are not all ~0
    y = x[..., :p] @ rng.standard_normal((p, p)) * 0.7 + rng.standard_normal((batch, n, p))
    return x, y


# ------------------------------------------------------------------ slow NumPy references


def _centre(a):
    return a - a.mean(axis=0)


def ref_rsa(x, y, method):
    a, b = ssd.pdist(x, "correlation"), ssd.pdist(y, "correlation")
    if method == "spearman":
        return ss.spearmanr(a, b).statistic
    return np.corrcoef(a, b)[0, 1]


def ref_linear_cka(x, y):
    x, y = _centre(x), _centre(y)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def _h(n):
    return np.eye(n) - np.ones((n, n)) / n


def ref_rbf_cka(x, y):
    def kern(a):
        d2 = ssd.squareform(ssd.pdist(a, "sqeuclidean"))
        s2 = np.median(ssd.pdist(a, "sqeuclidean"))
        return np.exp(-d2 / (2 * s2))

    k, l, h = kern(x), kern(y), _h(len(x))
    hs = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    return hs(k, l) / np.sqrt(hs(k, k) * hs(l, l))


def ref_hsic(x, y):
    n, h = len(x), _h(len(x))
    return np.trace((x @ x.T) @ h @ (y @ y.T) @ h) / (n - 1) ** 2


def ref_unbiased_hsic(k, l):
    """Song et al. 2012, eq. 5, written out literally."""
    n = len(k)
    k, l = k.copy(), l.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    t1 = np.trace(k @ l)
    t2 = (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
    t3 = 2 / (n - 2) * (one @ k @ l @ one)
    return (t1 + t2 - t3) / (n * (n - 3))


def ref_cka_debiased(x, y):
    k, l = x @ x.T, y @ y.T
    return ref_unbiased_hsic(k, l) / np.sqrt(ref_unbiased_hsic(k, k) * ref_unbiased_hsic(l, l))


def ref_dcor(x, y):
    def a(z):
        d = ssd.squareform(ssd.pdist(z))
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    ax, ay = a(x), a(y)
    return np.sqrt((ax * ay).mean() / np.sqrt((ax * ax).mean() * (ay * ay).mean()))


def ref_procrustes(x, y):
    x, y = _centre(x), _centre(y)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    return np.linalg.norm(x.T @ y, "nuc")


def ref_mutual_knn(x, y, k=3):
    n = len(x)
    k = max(1, min(k, (n - 1) // 2))  # at most half the other words (a constant 1 otherwise)
    dx, dy = ssd.squareform(ssd.pdist(x)), ssd.squareform(ssd.pdist(y))
    total = 0.0
    for i in range(n):
        nx = [j for j in np.argsort(dx[i]) if j != i][:k]
        ny = [j for j in np.argsort(dy[i]) if j != i][:k]
        total += len(set(nx) & set(ny)) / k
    return total / n


def ref_svcca(x, y, variance=0.99):
    n = len(x)
    kmax = max((n - 1) // 2, 1)

    def reduce(a):
        a = _centre(a)
        u, s, _ = np.linalg.svd(a, full_matrices=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        k = min(int(np.searchsorted(frac, variance - 1e-12) + 1), kmax)
        return u[:, :k] * s[:k]

    a, b = reduce(x), reduce(y)
    # classical CCA: eigenvalues of Sxx^-1 Sxy Syy^-1 Syx are the squared canonical correlations
    sxx, syy, sxy = a.T @ a, b.T @ b, a.T @ b
    m = np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T)
    rho2 = np.sort(np.real(np.linalg.eigvals(m)))[::-1][: min(a.shape[1], b.shape[1])]
    return np.mean(np.sqrt(np.clip(rho2, 0, 1)))


REFERENCES = {
    "spearman_rsa": lambda x, y: ref_rsa(x, y, "spearman"),
    "pearson_rsa": lambda x, y: ref_rsa(x, y, "pearson"),
    "linear_cka": ref_linear_cka,
    "rbf_cka": ref_rbf_cka,
    "hsic": ref_hsic,
    "cka_debiased": ref_cka_debiased,
    "dcor": ref_dcor,
    "procrustes": ref_procrustes,
    "mutual_knn": ref_mutual_knn,
    "svcca": ref_svcca,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("n", [5, 10])
def test_metric_matches_numpy_reference(name, n):
    x, y = _pair(n=n, seed=n)
    got = hm.METRICS[name](torch.as_tensor(x), torch.as_tensor(y)).numpy()
    want = np.array([REFERENCES[name](a, b) for a, b in zip(x, y)])
    assert got.shape == (BATCH,)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_prepare_compare_equals_one_call_and_broadcasts():
    x, y = _pair()
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for metric in hm.METRICS.values():
        rx, ry = metric.prepare(xt), metric.prepare(yt)
        # all pairs by broadcasting (batch, 1) x (1, batch)
        grid = metric.compare(rx.unsqueeze(1), ry.unsqueeze(0))
        assert grid.shape == (BATCH, BATCH)
        np.testing.assert_allclose(torch.diagonal(grid).numpy(), metric(xt, yt).numpy(), atol=1e-12)


# ------------------------------------------------------------------ peers


def test_rsa_matches_rsatoolbox_and_mne_rsa():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    mne_rsa = pytest.importorskip("mne_rsa")
    x, y = _pair(n=12, batch=1, seed=5)
    x, y = x[0], y[0]
    rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method="correlation")
    ry = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(y), method="correlation")
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for ours, theirs, mne_name in [
        (hm.spearman_rsa, "spearman", "spearman"),
        (hm.pearson_rsa, "corr", "pearson"),
    ]:
        value = float(ours(xt, yt))
        assert value == pytest.approx(float(rsatoolbox.rdm.compare(rx, ry, method=theirs)[0, 0]), abs=1e-9)
        mne_value = mne_rsa.rsa(
            mne_rsa.compute_rdm(x, metric="correlation"),
            mne_rsa.compute_rdm(y, metric="correlation"),
            metric=mne_name,
        )
        assert value == pytest.approx(float(mne_value), abs=1e-9)


def test_spearman_matches_scipy_with_ties():
    # duplicated words create tied RDM entries: average ranks must agree with scipy
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 5))
    x[4] = x[1]
    x[6] = x[1]
    y = rng.standard_normal((8, 6))
    got = float(hm.spearman_rsa(torch.as_tensor(x), torch.as_tensor(y)))
    want = ss.spearmanr(ssd.pdist(x, "correlation"), ssd.pdist(y, "correlation")).statistic
    assert got == pytest.approx(want, abs=1e-12)


def test_average_ranks_equal_scipy_rows_with_and_without_ties():
    """Rows ranked by their sort order and rows with ties (ranked by search) in one batch: scipy's
    average ranks for every row; a row holding a NaN keeps it out of the other rows' ranks."""
    rng = np.random.default_rng(5)
    v = rng.integers(0, 40, (30, 12)).astype(float)  # many rows with ties
    v[::3] = rng.standard_normal((10, 12))  # and rows without
    v[7] = 2.0  # one constant row
    got = geometry._average_ranks(torch.as_tensor(v)).numpy()
    np.testing.assert_array_equal(got, ss.rankdata(v, axis=-1))
    v[4, 2] = np.nan
    with_nan = geometry._average_ranks(torch.as_tensor(v)).numpy()
    np.testing.assert_array_equal(np.delete(with_nan, 4, axis=0), np.delete(got, 4, axis=0))


def test_dcor_matches_dcor_package():
    dcor_pkg = pytest.importorskip("dcor")
    x, y = _pair(n=11, seed=7)
    got = hm.dcor(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    got_u = hm.dcor_debiased(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    for i in range(BATCH):
        assert got[i] == pytest.approx(dcor_pkg.distance_correlation(x[i], y[i]), abs=1e-9)
        assert got_u[i] == pytest.approx(dcor_pkg.u_distance_correlation_sqr(x[i], y[i]), abs=1e-9)


def test_float32_close_to_float64():
    x, y = _pair(n=10, d=50, p=40, seed=11)
    for name, metric in hm.METRICS.items():
        if name in ("mutual_knn",):  # neighbour sets are discrete
            continue
        a = metric(torch.as_tensor(x), torch.as_tensor(y)).numpy()
        b = metric(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32))
        np.testing.assert_allclose(b.numpy(), a, atol=2e-4, err_msg=name)


# ------------------------------------------------------------------ invariances


def _orthogonal(d, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_cka_invariant_to_orthogonal_transform_and_isotropic_scaling():
    x, y = _pair(seed=2)
    q = _orthogonal(D, 3)
    for metric in (hm.linear_cka, hm.rbf_cka, hm.cka_debiased, hm.dcor, hm.procrustes):
        base = metric(torch.as_tensor(x), torch.as_tensor(y))
        moved = metric(torch.as_tensor(3.7 * x @ q), torch.as_tensor(y))
        np.testing.assert_allclose(moved.numpy(), base.numpy(), atol=1e-10)


def test_procrustes_is_one_for_rotated_copy_and_less_otherwise():
    x, _ = _pair(seed=4)
    q = _orthogonal(D, 5)
    xt = torch.as_tensor(x)
    np.testing.assert_allclose(hm.procrustes(xt, torch.as_tensor(2.0 * x @ q + 1.0)).numpy(), 1.0, atol=1e-10)
    other = torch.as_tensor(np.random.default_rng(6).standard_normal(x.shape))
    assert (hm.procrustes(xt, other) < 0.99).all()


def test_spearman_rsa_invariant_to_monotone_rdm_transform():
    # scaling y by a positive factor and shifting it per word leave the correlation-distance RDM
    # unchanged; a monotone map of the RDM itself must leave Spearman RSA unchanged too
    x, y = _pair(seed=8)
    xt = torch.as_tensor(x)
    base = hm.spearman_rsa(xt, torch.as_tensor(y))
    rep = hm.METRICS["spearman_rsa"].prepare
    ux = geometry._correlation_rdm_upper(xt)
    uy = geometry._correlation_rdm_upper(torch.as_tensor(y))
    warped = geometry._symmetric_from_upper(metrics_prepare._zscore_unit(geometry._average_ranks(torch.exp(3 * uy) ** 2)), N)
    np.testing.assert_allclose(metrics_compare._inner(rep(xt), warped).numpy(), base.numpy(), atol=1e-12)
    # Pearson RSA is not invariant to that warp (the test above could fail)
    pear = metrics_compare._inner(
        geometry._symmetric_from_upper(metrics_prepare._zscore_unit(ux), N),
        geometry._symmetric_from_upper(metrics_prepare._zscore_unit(torch.exp(3 * uy) ** 2), N),
    )
    assert not np.allclose(pear.numpy(), hm.pearson_rsa(xt, torch.as_tensor(y)).numpy(), atol=1e-3)


# raw HSIC (linear, RBF) and Gaussian MI are unnormalised
@pytest.mark.parametrize("name", sorted(name for name, m in hm.METRICS.items() if m.range[1] == 1.0))
def test_self_similarity_is_one(name):
    x, _ = _pair(seed=9)
    xt = torch.as_tensor(x)
    np.testing.assert_allclose(hm.METRICS[name](xt, xt).numpy(), 1.0, atol=1e-10)


def test_permute_rep_equals_prepare_of_permuted_words():
    x, _ = _pair(seed=10)
    xt = torch.as_tensor(x)
    perm = torch.stack([torch.randperm(N, generator=torch.Generator().manual_seed(i)) for i in range(BATCH)])
    permuted = torch.stack([xt[i, perm[i]] for i in range(BATCH)])
    for metric in hm.METRICS.values():
        got = hm.permute_rep(metric.prepare(xt), perm, kind=metric.kind)
        want = metric.prepare(permuted)
        # reps are equal up to sign flips of eigenvectors for factor metrics: compare via scores
        y = torch.as_tensor(np.random.default_rng(1).standard_normal((BATCH, N, 5)))
        ry = metric.prepare(y)
        np.testing.assert_allclose(metric.compare(got, ry).numpy(), metric.compare(want, ry).numpy(), atol=1e-10)


# ------------------------------------------------------------------ small-n trap and errors


def test_small_n_trap_biased_cka_large_debiased_near_zero():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 10, 2000, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 10, 2000, generator=gen, dtype=torch.float64)
    assert hm.linear_cka(x, y).mean() > 0.5
    assert abs(float(hm.cka_debiased(x, y).mean())) < 0.05
    assert abs(float(hm.dcor_debiased(x, y).mean())) < 0.05


def test_bad_input_messages():
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match="x has 5 words but y has 4"):
        hm.linear_cka(x, torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r"cka_debiased: needs >= 4 words per sentence, got 3"):
        hm.cka_debiased(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(TypeError, match="torch.as_tensor"):
        hm.dcor(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="unknown metric 'cca'"):
        hm.get_metric("cca")
