"""hearlike.stats: p-values, FWE/FDR, bootstrap CIs, noise ceiling, rank agreement."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
import xarray as xr

from hearlike import stats as hs


def _null_and_observed(n_rep, n_cells, n_perm, seed, shift=0.0):
    """Exchangeable case: observed is one more draw from the null (plus ``shift``)."""
    rng = np.random.default_rng(seed)
    null = xr.DataArray(rng.standard_normal((n_rep, n_cells, n_perm)), dims=("rep", "cell", "permutation"))
    observed = xr.DataArray(rng.standard_normal((n_rep, n_cells)) + shift, dims=("rep", "cell"))
    return observed, null


def test_permutation_p_value_formula_and_ties():
    null = xr.DataArray([0.1, 0.5, 0.5, 0.9], dims="permutation")
    observed = xr.DataArray(0.5)
    assert float(hs.permutation_p_value(observed, null)) == pytest.approx((1 + 3) / 5)
    assert float(hs.permutation_p_value(observed, null, tail="less")) == pytest.approx((1 + 3) / 5)
    # an exact tie computed with round-off still counts as a tie
    assert float(hs.permutation_p_value(observed * (1 + 1e-14), null)) == pytest.approx(4 / 5)
    assert float(hs.permutation_p_value(observed + 1.0, null)) == pytest.approx(1 / 5)


def test_permutation_p_values_uniform_under_exchangeability():
    observed, null = _null_and_observed(1, 2000, 99, seed=0)
    p = hs.permutation_p_value(observed, null).values.ravel()
    # p takes the values k/100: each decile bin holds 10 of them, so counts must be equal
    counts = np.histogram(p, bins=np.linspace(0, 1, 11) + 0.005)[0]
    assert counts.sum() == 2000 - (p <= 0.005).sum() and ss.chisquare(counts).pvalue > 0.01
    assert p.min() >= 0.01 and p.max() <= 1.0


def test_max_statistic_controls_family_wise_error():
    observed, null = _null_and_observed(1000, 20, 99, seed=1)
    p_fwe = hs.max_statistic_fwe(observed, null, dims=["cell"])
    p_raw = hs.permutation_p_value(observed, null)
    fwer = float((p_fwe <= 0.05).any("cell").mean())
    raw_fwer = float((p_raw <= 0.05).any("cell").mean())
    assert 0.02 < fwer < 0.08  # nominal 5 %
    assert raw_fwer > 0.4  # uncorrected tests over 20 cells: ~1 - 0.95**20
    assert (p_fwe >= p_raw - 1e-12).all()
    # a single-cell family is the plain permutation p-value
    one = hs.max_statistic_fwe(observed.isel(cell=[0]), null.isel(cell=[0]), dims=["cell"])
    np.testing.assert_allclose(one, p_raw.isel(cell=[0]))
    # a strong effect survives correction; standardising changes nothing for equal-scale cells
    strong, null2 = _null_and_observed(5, 20, 99, seed=2, shift=6.0)
    assert (hs.max_statistic_fwe(strong, null2, dims=["cell"], standardize=True) <= 0.05).all()


def test_fdr_bh_matches_scipy_per_family():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=(4, 30)), rng.uniform(0, 0.01, size=(4, 10))], axis=1)
    p[1, 5] = np.nan
    da = xr.DataArray(p, dims=("model", "layer"))
    q = hs.fdr_bh(da, dims=["layer"])
    assert q.dims == ("model", "layer")
    for m in range(4):
        ok = np.isfinite(p[m])
        np.testing.assert_allclose(q.values[m][ok], ss.false_discovery_control(p[m][ok], method="bh"))
    assert np.isnan(q.values[1, 5])
    q_all = hs.fdr_bh(da)
    ok = np.isfinite(p)
    np.testing.assert_allclose(q_all.values[ok], ss.false_discovery_control(p[ok], method="bh"))
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        hs.fdr_bh(da + 1)


def test_bootstrap_ci_is_seeded_and_covers_the_true_mean():
    rng = np.random.default_rng(4)
    values = xr.DataArray(rng.standard_normal((400, 40)) + 2.0, dims=("rep", "sentence"))
    ci = hs.bootstrap_ci(values, dim="sentence", n_boot=500, seed=0)
    again = hs.bootstrap_ci(values, dim="sentence", n_boot=500, seed=0)
    xr.testing.assert_identical(ci, again)
    assert not np.allclose(ci["low"], hs.bootstrap_ci(values, dim="sentence", n_boot=500, seed=1)["low"])
    np.testing.assert_allclose(ci["estimate"], values.mean("sentence"))
    coverage = float(((ci["low"] <= 2.0) & (ci["high"] >= 2.0)).mean())
    assert 0.9 < coverage < 0.98  # percentile bootstrap slightly under-covers at n = 40
    width = float((ci["high"] - ci["low"]).mean())
    assert width == pytest.approx(2 * 1.96 / np.sqrt(40), rel=0.1)
    # subjects work the same way
    by_subject = hs.bootstrap_ci(values.rename(sentence="subject"), dim="subject", n_boot=50)
    assert set(by_subject.dims) == {"rep"}


def test_noise_ceiling_matches_rsatoolbox():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import boot_noise_ceiling

    rng = np.random.default_rng(5)
    shared = rng.uniform(size=28)
    vectors = shared + 0.5 * rng.uniform(size=(6, 28))
    rdms = xr.DataArray(vectors, dims=("subject", "pair"))
    for method, theirs in (("spearman", "spearman"), ("pearson", "corr")):
        ours = hs.noise_ceiling(rdms, method=method)
        lower, upper = boot_noise_ceiling(rsatoolbox.rdm.RDMs(vectors), method=theirs)
        assert float(ours["lower"]) == pytest.approx(lower, abs=1e-10)
        assert float(ours["upper"]) == pytest.approx(upper, abs=1e-10)
        assert float(ours["lower"]) < float(ours["upper"])


def test_noise_ceiling_ignores_nan_padding_of_short_sentences():
    rng = np.random.default_rng(6)
    vectors = rng.uniform(size=(5, 2, 15))
    vectors[:, 1, 6:] = np.nan  # sentence 1 has 4 words: 6 pairs
    rdms = xr.DataArray(vectors, dims=("subject", "sentence", "pair"))
    both = hs.noise_ceiling(rdms, mean_over=())
    short = hs.noise_ceiling(rdms.isel(sentence=[1], pair=slice(0, 6)), mean_over=())
    np.testing.assert_allclose(both["lower"].isel(sentence=1), short["lower"].isel(sentence=0))
    assert float(hs.noise_ceiling(rdms)["upper"]) == pytest.approx(float(both["upper"].mean()))


def test_eeg_rdms_feed_the_noise_ceiling():
    from test_grid import REGIONS, WINDOWS, make_epochs  # tiny synthetic epochs

    lengths = [4, 6, 5]
    latent = np.random.default_rng(7).standard_normal((sum(lengths), 3))
    epochs = make_epochs(lengths, n_subjects=4, signal=latent, snr=2.0)
    from hearlike.grid import eeg_rdms

    rdms = eeg_rdms(epochs, windows=WINDOWS, regions=REGIONS)
    assert rdms.dims == ("subject", "window", "region", "sentence", "pair") and rdms.sizes["pair"] == 15
    assert int(rdms.isel(sentence=0).notnull().sum("pair").max()) == 6
    ceiling = hs.noise_ceiling(rdms)
    assert ceiling["upper"].dims == ("window", "region")
    assert (ceiling["lower"] > 0.3).all() and (ceiling["upper"] >= ceiling["lower"]).all()


def test_kendall_w_constructed_cases():
    items = ["a", "b", "c", "d"]
    # two raters agree, one reverses: rank sums 6, 7, 8, 9 -> S = 5, W = 12·5 / (9·60) = 1/9
    scores = xr.DataArray(
        np.array([[1, 1, 4], [2, 2, 3], [3, 3, 2], [4, 4, 1]], dtype=float),
        dims=("model", "metric"), coords={"model": items},
    )
    res = hs.kendall_w(scores)
    assert float(res["w"]) == pytest.approx(1 / 9)
    assert float(res["chi2"]) == pytest.approx(3 * 3 / 9)
    assert float(res["p_value"]) == pytest.approx(ss.chi2.sf(1.0, 3))
    # perfect agreement (scores on different scales) -> W = 1
    perfect = xr.DataArray(np.outer(np.arange(5.0), [1, 10, 0.1]), dims=("model", "metric"))
    assert float(hs.kendall_w(perfect)["w"]) == pytest.approx(1.0)
    # two raters with opposite rankings -> W = 0
    opposite = xr.DataArray(np.stack([np.arange(5.0), -np.arange(5.0)], 1), dims=("model", "metric"))
    assert float(hs.kendall_w(opposite)["w"]) == pytest.approx(0.0)
    # ties: rater 2 ties two items; tie-corrected W (T = 2³ - 2 = 6): ranks [1,2,3],[1.5,1.5,3]
    tied = xr.DataArray(np.array([[1, 5], [2, 5], [3, 9]], dtype=float), dims=("model", "metric"))
    r = np.array([2.5, 3.5, 6.0])
    want = 12 * ((r - r.mean()) ** 2).sum() / (4 * 24 - 2 * 6)
    assert float(hs.kendall_w(tied)["w"]) == pytest.approx(want)
    with pytest.raises(ValueError, match="needs >= 2 items"):
        hs.kendall_w(scores.isel(model=[0]))


def test_pairwise_kendall_tau_matches_scipy_and_ci_brackets():
    rng = np.random.default_rng(8)
    base = rng.standard_normal(6)
    values = xr.DataArray(
        base[None, :, None] * np.array([1.0, 0.8, -1.0])[None, None, :] + 0.3 * rng.standard_normal((30, 6, 3)),
        dims=("sentence", "model", "metric"), coords={"metric": ["a", "b", "c"]},
    )
    res = hs.pairwise_kendall_tau(values, n_boot=300, seed=0)
    means = values.mean("sentence").values
    for i in range(3):
        for j in range(3):
            want = ss.kendalltau(means[:, i], means[:, j]).statistic
            assert float(res["tau"][i, j]) == pytest.approx(want)
    assert float(res["tau"].sel(metric="a", metric_other="b")) > 0.5
    assert float(res["tau"].sel(metric="a", metric_other="c")) < -0.5
    assert (res["low"] <= res["tau"] + 1e-12).all() and (res["high"] >= res["tau"] - 1e-12).all()
    with pytest.raises(ValueError, match="exactly dims"):
        hs.pairwise_kendall_tau(values.expand_dims(layer=2))


def _slow_p(observed, null, *, tail="greater", includes_observed=False):
    """The rule spelled out sample by sample (ties within 1e-9 relative count as reaching)."""
    obs, nul = (-observed, [-v for v in null]) if tail == "less" else (observed, list(null))
    tol = 1e-9 * max([abs(obs)] + [abs(v) for v in nul])
    count = sum(v >= obs - tol for v in nul)
    return count / len(nul) if includes_observed else (1 + count) / (1 + len(nul))


@pytest.mark.parametrize("tail", ["greater", "less"])
@pytest.mark.parametrize("includes_observed", [False, True])
def test_exceedance_p_agrees_with_a_sample_by_sample_loop(tail, includes_observed):
    rng = np.random.default_rng(3)
    null = rng.standard_normal((4, 3, 25)).round(1)  # rounded: many exact ties
    observed = null[..., 7] * (1 + 1e-13)  # a tie broken only by round-off
    observed[0, 0] = np.nan
    got = hs.exceedance_p(observed, null, axis=-1, tail=tail, null_includes_observed=includes_observed)
    assert np.isnan(got[0, 0])
    for i, j in np.ndindex(4, 3):
        if (i, j) != (0, 0):
            assert got[i, j] == _slow_p(observed[i, j], null[i, j], tail=tail, includes_observed=includes_observed)
    moved = hs.exceedance_p(observed, np.moveaxis(null, -1, 0), axis=0, tail=tail,
                            null_includes_observed=includes_observed)
    np.testing.assert_array_equal(moved, got)


def test_exceedance_p_is_nan_for_a_nan_null_or_no_null():
    assert np.isnan(hs.exceedance_p(0.5, [0.1, np.nan, 0.9]))
    assert np.isnan(hs.exceedance_p(0.5, np.zeros(0)))
    with pytest.raises(ValueError, match="tail must be 'greater', 'less' or 'two-sided', got 'up'"):
        hs.exceedance_p(0.5, [0.1], tail="up")


def test_sign_flip_test_is_exact_for_few_subjects_and_holm_matches_a_loop():
    diff = xr.DataArray([[0.3, 0.1, 0.2, 0.4], [0.3, -0.1, 0.2, -0.4]], dims=("window", "subject"))
    p = hs.sign_flip_test(diff, dim="subject")
    # all 16 flips: the all-positive row is the largest mean in row 0 (only itself reaches it)
    assert float(p[0]) == 1 / 16
    flips = np.array(list(__import__("itertools").product([1, -1], repeat=4)))
    assert float(p[1]) == np.mean((flips @ diff.values[1]) / 4 >= diff.values[1].mean() - 1e-12)
    raw = np.array([0.01, 0.04, 0.03, 0.2])
    order = np.argsort(raw)
    slow = np.empty(4)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (4 - rank) * raw[i])
        slow[i] = min(running, 1.0)
    np.testing.assert_array_equal(hs.holm(raw), slow)


def _loop_item_p(values, n_flips_exact):
    """Slow reference of the by-item test: enumerate every sign vector, loop over cells."""
    import itertools

    n = values.shape[-1]
    signs = list(itertools.product([1.0, -1.0], repeat=n))
    assert len(signs) <= n_flips_exact
    p = np.empty(values.shape[:-1])
    means = np.empty(values.shape[:-1] + (len(signs),))
    for idx in np.ndindex(values.shape[:-1]):
        v = values[idx]
        ok = np.isfinite(v)
        for j, s in enumerate(signs):
            means[idx + (j,)] = (np.asarray(s)[ok] * v[ok]).sum() / ok.sum()
        p[idx] = np.mean(means[idx] >= means[idx + (0,)] - 1e-12)
    # max-T: standardise each cell by its flip distribution, max over cells (the one family)
    z = (means - means.mean(-1, keepdims=True)) / means.std(-1, ddof=1, keepdims=True)
    max_null = z.max(axis=0)
    p_fwe = np.array([(1 + np.sum(max_null >= z[c, 0] - 1e-12)) / (1 + len(signs)) for c in range(z.shape[0])])
    return p, p_fwe


def test_item_random_p_matches_slow_reference_with_nan_items():
    rng = np.random.default_rng(3)
    values = rng.standard_normal((4, 8)) + np.array([[0.0], [0.3], [1.0], [-0.5]])
    values[1, 2] = np.nan  # an item undefined in one cell is left out of that cell's mean
    da = xr.DataArray(values, dims=("cell", "sentence"))
    got = hs.item_random_p(da, family=["cell"], n_permutations=1000)
    p, p_fwe = _loop_item_p(values, 1000)
    np.testing.assert_allclose(got["p"].values, p)
    np.testing.assert_allclose(got["p_fwe"].values, p_fwe)
    np.testing.assert_allclose(got["observed"].values, np.nanmean(values, axis=1))
    assert got["p"].values[2] < 0.05 < got["p"].values[3]


def test_item_random_p_is_calibrated_and_finds_a_shift():
    # 400 null families of 6 cells × 20 items: the FWE rate stays near 5 %; a 0.8 SD shift is found
    rng = np.random.default_rng(0)
    null = xr.DataArray(rng.standard_normal((400, 6, 20)), dims=("rep", "cell", "sentence"))
    p_fwe = hs.item_random_p(null, family=["cell"], n_permutations=500)["p_fwe"]
    rate = float((p_fwe.min("cell") < 0.05).mean())
    assert 0.02 < rate < 0.08
    shifted = hs.item_random_p(null + 0.8, family=["cell"], n_permutations=500)["p_fwe"]
    assert float((shifted.min("cell") < 0.05).mean()) > 0.9


def test_sign_flip_null_identity_first_and_all_nan_cell():
    da = xr.DataArray([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]], dims=("cell", "sentence"))
    null = hs.sign_flip_null(da, n_permutations=100)
    assert null.dims == ("cell", "permutation") and null.sizes["permutation"] == 8
    assert float(null[0, 0]) == pytest.approx(2.0)
    assert np.isnan(null[1]).all()


def test_binomial_upper_is_clopper_pearson():
    # 0 of 60 -> 1 - 0.05**(1/60) (exact for k = 0); agrees with scipy's binomtest interval
    assert hs.binomial_upper(0, 60) == pytest.approx(1 - 0.05 ** (1 / 60))
    ref = ss.binomtest(3, 40).proportion_ci(confidence_level=0.90, method="exact").high
    assert hs.binomial_upper(3, 40) == pytest.approx(ref)
    assert hs.binomial_upper(5, 5) == 1.0
    with pytest.raises(ValueError, match="need 0 <= k <= n"):
        hs.binomial_upper(6, 5)


def test_split_half_ceiling_matches_a_slow_loop_and_rises_with_shared_signal():
    rng = np.random.default_rng(4)
    shared = rng.standard_normal((3, 10))  # 3 sentences × 10 pairs
    data = shared + 0.8 * rng.standard_normal((6, 3, 10))  # 6 subjects
    data[:, 2, 7:] = np.nan  # a shorter sentence: NaN-padded pairs
    rdms = xr.DataArray(data, dims=("subject", "sentence", "pair"))
    got = hs.split_half_ceiling(rdms, n_splits=20, seed=1)
    # slow reference: the same halvings, scipy's spearmanr per sentence
    rng2 = np.random.default_rng(1)
    rs = []
    for _ in range(20):
        order = rng2.permutation(6)
        per_sentence = []
        for s in range(3):
            ok = np.isfinite(data[0, s])
            ranks = np.array([ss.rankdata(data[j, s, ok]) for j in range(6)])
            per_sentence.append(ss.spearmanr(ranks[order[:3]].mean(0), ranks[order[3:]].mean(0))[0])
        rs.append(np.mean(per_sentence))
    r = np.mean(rs)
    assert float(got["split_half"]) == pytest.approx(r)
    assert float(got["ceiling"]) == pytest.approx(2 * r / (1 + r))
    noisier = hs.split_half_ceiling(xr.DataArray(shared + 3 * rng.standard_normal((6, 3, 10)),
                                                 dims=("subject", "sentence", "pair")), n_splits=20)
    assert float(noisier["ceiling"]) < float(got["ceiling"])
