"""The reference study's extra metrics (Kendall τ-b RSA, RBF HSIC, Gaussian MI, dCor², RV) and mutual
k-NN's length-scaled k: against slow loops, peers (scipy, rsatoolbox, dcor), inside the grid, under
permutations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats as ss
import torch

from hearlike import grid as hg
from hearlike import metrics as hm
from hearlike.geometry import geometry_from_gram
from test_grid import REGIONS, WINDOWS, _cell_matrix, make_epochs, make_states

NEW = ("kendall_rsa", "hsic_rbf", "gaussian_mi", "dcor_squared", "rv")


def _pair(n, d=13, p=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = x[:, :p] @ rng.standard_normal((p, p)) * 0.7 + rng.standard_normal((n, p))
    return x, y


def _t(a):
    return torch.as_tensor(a, dtype=torch.float64)


# ------------------------------------------------------------------ slow references (loops)


def ref_kendall_tau_b(a, b):
    """τ-b by counting pairs of entries: (concordant - discordant) / sqrt((n0 - t_a)(n0 - t_b))."""
    conc = disc = ties_a = ties_b = 0
    m = len(a)
    for i, j in itertools.combinations(range(m), 2):
        da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
        ties_a += da == 0
        ties_b += db == 0
        conc += da * db > 0
        disc += da * db < 0
    n0 = m * (m - 1) / 2
    return (conc - disc) / np.sqrt((n0 - ties_a) * (n0 - ties_b))


def _rdm(x):
    """1 - Pearson r between words (rows), upper triangle, rounded so equal entries tie exactly."""
    n = len(x)
    return np.round(np.array([1 - np.corrcoef(x[i], x[j])[0, 1] for i, j in itertools.combinations(range(n), 2)]), 10)


def ref_hsic_rbf(x, y):
    """tr(K H L H) / (n - 1)² with K, L written entry by entry; σ² = median squared distance of word pairs."""
    n = len(x)

    def kernel(z):
        d2 = np.array([[np.sum((z[i] - z[j]) ** 2) for j in range(n)] for i in range(n)])
        s2 = np.median([d2[i, j] for i, j in itertools.combinations(range(n), 2)])
        return np.exp(-d2 / (2 * s2))

    h = np.eye(n) - 1.0 / n
    return np.trace(kernel(x) @ h @ kernel(y) @ h) / (n - 1) ** 2


def ref_gaussian_mi(x, y, n_components=20):
    """PCA per side (numpy SVD, components with variance), then the mean of -½ log(1 - ρ²) over pairs."""
    def scores(z):
        z = z - z.mean(axis=0)
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        k = min(n_components, len(z) - 1, int(np.sum(s > s[0] * 1e-8)))
        return u[:, :k] * s[:k]

    return ref_gaussian_mi_raw(scores(x), scores(y))


def ref_gaussian_mi_raw(x, y):
    vals = []
    for i in range(x.shape[1]):
        for j in range(y.shape[1]):
            a, b = x[:, i], y[:, j]
            rho = 0.0 if a.std() == 0 or b.std() == 0 else np.corrcoef(a, b)[0, 1]
            vals.append(-0.5 * np.log(1 - min(rho**2, 1 - 1e-7)))
    return np.mean(vals)


def ref_dcor_squared(x, y):
    def centred(z):
        d = ssd.squareform(ssd.pdist(z))
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x), centred(y)
    return (a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean())


def ref_rv(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    sx, sy = x @ x.T, y @ y.T
    return np.trace(sx @ sy) / np.sqrt(np.trace(sx @ sx) * np.trace(sy @ sy))


# ------------------------------------------------------------------ each metric vs its references and peers


@pytest.mark.parametrize("n", [4, 7, 11])
def test_kendall_rsa_is_tau_b_of_the_rdms_with_ties(n):
    x, y = _pair(n, seed=n)
    x[n - 1] = x[0]  # a repeated word: tied RDM entries on the x side
    if n > 4:
        x[2] = x[0]
    got = float(hm.kendall_rsa(_t(x), _t(y)))
    a, b = _rdm(x), _rdm(y)
    assert len(set(a)) < len(a)  # there are ties to handle
    assert got == pytest.approx(ref_kendall_tau_b(a, b), abs=1e-12)
    assert got == pytest.approx(ss.kendalltau(a, b, variant="b").statistic, abs=1e-12)
    # tau-a would differ: the ties matter
    assert abs(got - ss.kendalltau(a, b, variant="c").statistic) > 1e-6 or n == 4


def test_kendall_rsa_matches_rsatoolbox():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    x, y = _pair(12, seed=5)
    rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method="correlation")
    ry = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(y), method="correlation")
    want = float(rsatoolbox.rdm.compare(rx, ry, method="tau-b")[0, 0])
    assert float(hm.kendall_rsa(_t(x), _t(y))) == pytest.approx(want, abs=1e-12)
    # and the table's rsatoolbox name for Procrustes holds: Bures similarity of Euclidean RDMs
    ex = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method="euclidean")
    ey = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(y), method="euclidean")
    bures = float(rsatoolbox.rdm.compare(ex, ey, method="bures")[0, 0])
    assert float(hm.procrustes(_t(x), _t(y))) == pytest.approx(bures, abs=1e-8)


@pytest.mark.parametrize("n", [5, 10])
def test_dcor_squared_is_the_double_centred_v_statistic(n):
    x, y = _pair(n, seed=20 + n)
    got = float(hm.dcor_squared(_t(x), _t(y)))
    assert got == pytest.approx(ref_dcor_squared(x, y), abs=1e-12)
    assert got == pytest.approx(float(hm.dcor(_t(x), _t(y))) ** 2, abs=1e-12)


@pytest.mark.slow  # importing dcor compiles numba code (~8 s)
def test_dcor_squared_matches_the_dcor_package():
    dcor_pkg = pytest.importorskip("dcor")
    for n in (5, 10):
        x, y = _pair(n, seed=20 + n)
        assert float(hm.dcor_squared(_t(x), _t(y))) == pytest.approx(dcor_pkg.distance_correlation_sqr(x, y), abs=1e-10)


@pytest.mark.parametrize("n", [5, 10])
def test_hsic_rbf_matches_a_slow_loop_and_normalises_to_rbf_cka(n):
    x, y = _pair(n, seed=30 + n)
    got = float(hm.hsic_rbf(_t(x), _t(y)))
    assert got == pytest.approx(ref_hsic_rbf(x, y), rel=1e-10)
    # same kernels as RBF CKA: HSIC(x, y) / sqrt(HSIC(x, x) HSIC(y, y)) is RBF CKA
    cka = got / np.sqrt(float(hm.hsic_rbf(_t(x), _t(x))) * float(hm.hsic_rbf(_t(y), _t(y))))
    assert cka == pytest.approx(float(hm.rbf_cka(_t(x), _t(y))), rel=1e-10)
    # unnormalised: scales with neither side's units (RBF kernel) but is not bounded by 1 for n words
    assert got > 0


@pytest.mark.parametrize("n, d, p", [(6, 13, 7), (12, 40, 3), (25, 30, 30)])
def test_gaussian_mi_matches_a_slow_loop(n, d, p):
    x, y = _pair(n, d=d, p=p, seed=40 + n)
    got = float(hm.gaussian_mi(_t(x), _t(y)))
    assert got == pytest.approx(ref_gaussian_mi(x, y), rel=1e-9)
    # the registry metric is the same (PCA-20 per sentence and side)
    assert float(hm.METRICS["gaussian_mi"](_t(x), _t(y))) == pytest.approx(got, rel=1e-12)
    # raw features: every column pair
    raw = float(hm.gaussian_mi(_t(x), _t(y), n_components=None))
    assert raw == pytest.approx(ref_gaussian_mi_raw(x, y), rel=1e-9)
    assert float(hm.gaussian_mi(_t(x), _t(y), n_components=3)) == pytest.approx(ref_gaussian_mi(x, y, 3), rel=1e-9)


def test_gaussian_mi_clips_perfect_correlation_and_counts_constant_features_as_zero():
    x, _ = _pair(8, d=4, p=4, seed=1)
    y = np.column_stack([x[:, 0], np.ones(8)])  # one perfect copy, one constant feature
    raw = float(hm.gaussian_mi(_t(x), _t(y), n_components=None))
    assert np.isfinite(raw)
    assert raw == pytest.approx(ref_gaussian_mi_raw(x, y), rel=1e-9)
    assert raw >= -0.5 * np.log(1e-7) / (4 * 2) - 1e-9  # the clipped pair alone, averaged over 8 pairs


def test_gaussian_mi_rank_deficient_side_uses_only_components_with_variance():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 30))
    y = x[:, :2] @ rng.standard_normal((2, 5))  # 5 features of rank 2
    rep = hm.prepare_gaussian_mi(_t(y))
    assert int((rep.square().sum(0) > 0.5).sum()) == 2
    assert float(hm.gaussian_mi(_t(x), _t(y))) == pytest.approx(ref_gaussian_mi(x, y), rel=1e-9)


def test_gaussian_mi_dilutes_one_shared_direction_over_the_components_kept():
    # the documented feature-count sensitivity: one shared component, averaged over k_x k_y pairs
    rng = np.random.default_rng(6)
    shared = rng.standard_normal((30, 1)) * 10
    x = np.hstack([shared, rng.standard_normal((30, 15))])
    y = np.hstack([shared + rng.standard_normal((30, 1)) * 0.1, rng.standard_normal((30, 15))])
    scores = [float(hm.gaussian_mi(_t(x), _t(y), n_components=k)) for k in (1, 4, 16)]
    assert scores[0] > 2 * scores[1] > 4 * scores[2] > 0


@pytest.mark.parametrize("name", NEW)
def test_a_side_without_variation_has_no_score(name):
    # the grid leaves such a sentence out of the cell (a rejected, zero-filled epoch)
    x = torch.zeros(6, 5, dtype=torch.float64)
    y = _t(np.random.default_rng(7).standard_normal((6, 4)))
    assert np.isnan(float(hm.METRICS[name](x, y)))


def test_rv_is_linear_cka():
    x, y = _pair(9, seed=50)
    got = float(hm.rv(_t(x), _t(y)))
    assert got == pytest.approx(ref_rv(x, y), abs=1e-12)
    assert got == float(hm.linear_cka(_t(x), _t(y)))
    assert hm.get_metric("rv").family == hm.get_metric("linear_cka").family


# ------------------------------------------------------------------ permutations, shift-null features, grid


@pytest.mark.parametrize("name", NEW + ("mutual_knn",))
def test_permuted_rep_scores_as_the_permuted_words(name):
    metric = hm.METRICS[name]
    rng = np.random.default_rng(3)
    x, y = _t(rng.standard_normal((3, 8, 11))), _t(rng.standard_normal((3, 8, 5)))
    perm = torch.stack([torch.as_tensor(rng.permutation(8)) for _ in range(3)])
    permuted = torch.stack([x[i, perm[i]] for i in range(3)])
    got = metric.compare(hm.permute_rep(metric.prepare(x), perm, kind=metric.kind), metric.prepare(y))
    want = metric(permuted, y)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-12)
    assert not np.allclose(want.numpy(), metric(x, y).numpy())  # the permutation changed something


def test_kendall_pair_permutation_reorders_the_sign_matrix_exactly():
    rng = np.random.default_rng(4)
    x = _t(rng.standard_normal((6, 9)))
    perm = torch.as_tensor(rng.permutation(6))
    got = hm.permute_rep(hm.prepare_kendall_rsa(x), perm, kind="gram")
    assert got.shape == (15, 15)
    torch.testing.assert_close(got, hm.prepare_kendall_rsa(x[perm]), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", NEW)
def test_metrics_read_only_what_the_shift_nulls_gram_geometry_keeps(name):
    # the shift null prepares surrogate EEG from each cell's Gram matrix and word sums alone
    x, y = _pair(9, d=20, p=6, seed=60)
    xt = _t(x)
    metric = hm.METRICS[name]
    got = metric.compare(metric.prepare_geometry(geometry_from_gram(xt @ xt.T, xt.sum(-1), x.shape[1])),
                         metric.prepare(_t(y)))
    assert float(got) == pytest.approx(float(metric(xt, _t(y))), rel=1e-9, abs=1e-12)


def test_new_metrics_inside_the_grid_equal_the_direct_function_with_their_nulls():
    lengths = [5, 6, 5, 7]
    epochs = make_epochs(lengths, seed=11)
    states = make_states(lengths, 3, 9, seed=12)
    n_perm = 5
    names = list(NEW) + ["mutual_knn"]
    ds = hg.compute_grid({"m": states}, epochs, windows=WINDOWS, regions=REGIONS, metrics=names, n_permutations=n_perm,
                         seed=3, min_words=4, keep_null=True, null_kind="shuffle")
    word_list = list(epochs["word"].values)
    for subject in range(2):
        for window in WINDOWS:
            for region in REGIONS:
                cell = _cell_matrix(epochs, subject, window, region)
                scores = np.zeros((3, len(names)))
                nulls = np.zeros((3, len(names), n_perm))
                for s, n in enumerate(lengths):
                    words = [f"s{s:02d}:{k}" for k in range(n)]
                    x = _t(states.sel(word=words).values)
                    y = _t(cell[[word_list.index(w) for w in words]])
                    perms = hg.sentence_permutations(f"s{s:02d}", n, n_perm, seed=3)
                    ys = torch.stack([y] + [y[p] for p in perms])
                    for k, name in enumerate(names):
                        vals = hm.METRICS[name](x[:, None], ys[None]).numpy()
                        scores[:, k] += vals[:, 0]
                        nulls[:, k] += vals[:, 1:]
                got = ds.sel(model="m", subject=f"sub-{subject}", window=window[0], region=region)
                np.testing.assert_allclose(got["score"].values, scores / len(lengths), rtol=1e-9, atol=1e-12)
                np.testing.assert_allclose(got["null"].values, nulls / len(lengths), rtol=1e-9, atol=1e-12)
    assert list(ds["family"].sel(metric=names).values) == ["geometric", "covariance", "covariance", "covariance",
                                                           "covariance", "geometric"]


@pytest.mark.slow  # builds continuous recordings with MNE
def test_new_metrics_under_the_shift_null_match_a_slow_loop():
    """The study's default null (surrogate epochs at the sentence's own onset gaps): every null sample."""
    from test_surrogates import WINDOWS as SHIFT_WINDOWS
    from test_surrogates import EEG, _grid, _study

    from hearlike.eeg import surrogate_epochs

    epochs, recordings, models = _study(planted_gain=0.5, n_subjects=1, n_sentences=6, n_words=5, seed=2)
    names, n_perm = list(NEW), 3
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=n_perm, params=EEG, seed=0)
    grid = _grid(epochs, recordings, models, "shift", n_permutations=n_perm, metrics=names)
    times_ms = epochs.time.values * 1000
    sentences = list(dict.fromkeys(epochs.sentence_id.values.tolist()))
    for window, start, stop in SHIFT_WINDOWS:
        tt = (times_ms >= start - 1e-6) & (times_ms < stop - 1e-6)
        for model, states in models.items():
            observed, null = np.zeros(len(names)), np.zeros((len(names), n_perm))
            for sentence in sentences:
                rows = np.nonzero(epochs.sentence_id.values == sentence)[0]
                x = _t(states.values[0, rows])
                real = _t(epochs.values[0, rows][:, :, tt].reshape(len(rows), -1))
                cut = surrogates.cut(slice(0, n_perm), rows)[0]  # (k, word, time, channel)
                fakes = torch.stack([_t(cut[k][:, tt].transpose(0, 2, 1).reshape(len(rows), -1))
                                     for k in range(n_perm)])
                for j, name in enumerate(names):
                    observed[j] += float(hm.METRICS[name](x, real))
                    null[j] += hm.METRICS[name](x, fakes).numpy()
            cell = dict(model=model, layer="decoder.0", subject=epochs.subject.values[0], window=window, region="all")
            np.testing.assert_allclose(grid["score"].sel(**cell, metric=names).values, observed / len(sentences),
                                       rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(grid["null"].sel(**cell, metric=names).values, null / len(sentences),
                                       rtol=1e-5, atol=2e-6)


# ------------------------------------------------------------------ mutual k-NN on short sentences


def test_knn_k_scales_with_sentence_length():
    assert [hm.knn_k(n) for n in range(3, 10)] == [1, 1, 2, 2, 3, 3, 3]
    assert all(hm.knn_k(n) < n - 1 for n in range(3, 40))  # never every other word


def test_mutual_knn_of_short_unrelated_sentences_is_no_longer_constant():
    rng = np.random.default_rng(5)
    x, y = _t(rng.standard_normal((400, 4, 16))), _t(rng.standard_normal((400, 4, 16)))
    scores = hm.mutual_knn(x, y).numpy()
    # k = 3 on 4 words took every other word: 1 for every pair. With k_n = 1 the overlap is 0 or 1,
    # at chance 1/3 (one of the 3 other words)
    assert set(np.round(scores, 12)) == {0.0, 0.25, 0.5, 0.75, 1.0} or scores.std() > 0.1
    assert scores.mean() == pytest.approx(1 / 3, abs=0.05)
    assert float(hm.mutual_knn(x[:1], x[:1])) == 1.0  # identical geometry still scores 1
    with pytest.raises(ValueError, match="mutual_knn: needs >= 3 words per sentence, got 2"):
        hm.mutual_knn(x[:, :2], y[:, :2])


# ------------------------------------------------------------------ registry, table, configuration


def test_metric_table_maps_names_and_marks_the_reference_studys_metrics():
    table = hm.metrics_table().set_index("name")
    assert {"rsatoolbox", "similarity", "reference_study"} <= set(table.columns)
    assert table.loc["kendall_rsa", "rsatoolbox"].startswith("tau-b")
    assert table.loc["spearman_rsa", "similarity"] == "rsa-rdm=correlation-compare=spearman"
    assert table.loc["gaussian_mi", "rsatoolbox"] == "—"
    study = set(table.index[table["reference_study"]])
    assert study == {"spearman_rsa", "pearson_rsa", "kendall_rsa", "linear_cka", "rbf_cka", "dcor_squared", "hsic",
                     "hsic_rbf", "rv", "gaussian_mi"}
    assert table.loc["gaussian_mi", "family"] == "covariance" and hm.METRICS["gaussian_mi"].kind == "factor"


def test_configuration_accepts_the_new_names():
    from hearlike.config import params_from_dict

    base = {"dataset": "demo", "data_root": "data/demo", "cache_dir": "cache/demo", "models": ["oracle"]}
    params = params_from_dict({**base, "extra_metrics": list(NEW)})
    assert params.extra_metrics == NEW
    with pytest.raises(ValueError, match="unknown metric 'kendall'"):
        params_from_dict({**base, "extra_metrics": ["kendall"]})


def test_gaussian_mi_chance_level_is_the_documented_one():
    # independent words: each component pair's -½ log(1 - ρ²) has mean ½[ψ((n-1)/2) - ψ((n-2)/2)]
    from scipy.special import digamma

    gen = torch.Generator().manual_seed(0)
    n = 10
    x = torch.randn(800, n, 30, generator=gen, dtype=torch.float64)
    y = torch.randn(800, n, 12, generator=gen, dtype=torch.float64)
    chance = 0.5 * (digamma((n - 1) / 2) - digamma((n - 2) / 2))
    assert float(hm.gaussian_mi(x, y).mean()) == pytest.approx(chance, rel=0.03)
    assert float(hm.gaussian_mi(x, y, n_components=None).mean()) == pytest.approx(chance, rel=0.03)


def test_methods_chapter_lists_every_metric_and_says_which_this_run_uses():
    from hearlike import methods
    from hearlike.config import params_from_dict

    base = {"dataset": "demo", "data_root": "data/demo", "cache_dir": "cache/demo", "models": ["oracle"]}
    params = params_from_dict({**base, "metrics": ["spearman_rsa", "kendall_rsa"], "extra_metrics": ["gaussian_mi"]})
    table = methods.metrics_table(params)
    assert list(table.index[:3]) == ["spearman_rsa", "kendall_rsa", "gaussian_mi"]
    assert list(table["run"][:3]) == ["main", "main", "extra"] and set(table.index) == set(hm.METRICS)
    assert (table["run"][3:] == "—").all()
    text = methods.describe_metrics(params)
    assert text.endswith("This run computes Kendall τ-b RSA, Gaussian MI.")
    assert "k = max(1, min(3, ⌊(n − 1)/2⌋))" in text and "PCA-20" in text
    assert methods.describe_metric_families(params) == "two *geometric* (Spearman RSA, Kendall τ-b RSA)"


def test_hsic_rbf_is_invariant_to_each_sides_scale():
    x, y = _pair(8, seed=70)
    assert float(hm.hsic_rbf(_t(x) * 1e-6, _t(y) * 3e4)) == pytest.approx(float(hm.hsic_rbf(_t(x), _t(y))), rel=1e-9)


def test_kendall_rsa_refuses_items_it_cannot_afford_with_the_alternative():
    x = torch.zeros(hm.KENDALL_MAX_WORDS + 1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"kendall_rsa: a sentence of 65 items has 2080 item pairs.*use spearman_rsa"):
        hm.kendall_rsa(x, x)
