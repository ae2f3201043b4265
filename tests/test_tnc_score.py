"""The reference study's TNC score (Triangulated Neuro-Computational): partial Spearman against slow
references, the score on planted data, undefined cases counted, the per-sentence table against a loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
import xarray as xr
from scipy.spatial.distance import pdist

from hearlike import tnc


def residual_partial(x, y, z):
    """Slow reference: ranks of x and y regressed (least squares) on an intercept and the ranks of z."""
    rx, ry, rz = ss.rankdata(x), ss.rankdata(y), ss.rankdata(z)
    design = np.column_stack([np.ones_like(rz), rz])
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    return ss.pearsonr(res_x, res_y)[0]


def formula_partial(x, y, z):
    """Second reference, pingouin's formula written out on scipy's Spearman correlations."""
    r_xy, r_xz, r_yz = ss.spearmanr(x, y)[0], ss.spearmanr(x, z)[0], ss.spearmanr(y, z)[0]
    return (r_xy - r_xz * r_yz) / np.sqrt((1 - r_xz**2) * (1 - r_yz**2))


def test_partial_spearman_matches_residuals_and_the_formula_with_ties():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 21))
    x = z + rng.standard_normal((50, 21))
    y = 0.5 * z + rng.standard_normal((50, 21))
    x[:, :5] = np.round(x[:, :5])  # ties
    y[:, 3:9] = 1.0
    fast = tnc.partial_spearman(x, y, z)
    for i in range(50):
        assert fast["partial"][i] == pytest.approx(residual_partial(x[i], y[i], z[i]), abs=1e-10)
        assert fast["partial"][i] == pytest.approx(formula_partial(x[i], y[i], z[i]), abs=1e-10)
        assert fast["r_xy"][i] == pytest.approx(ss.spearmanr(x[i], y[i])[0], abs=1e-12)
    # the covariate matters: partialling z out moves the correlation
    assert np.abs(fast["partial"] - fast["r_xy"]).mean() > 0.05


def test_partial_spearman_is_nan_for_a_constant_or_collinear_covariate():
    x, y = np.arange(10.0), np.arange(10.0)[::-1] ** 2
    assert np.isnan(tnc.partial_spearman(x, y, np.ones(10))["partial"])
    assert np.isnan(tnc.partial_spearman(x, y, 2 * x + 1)["partial"])  # |r_xz| = 1


def planted_sentences(kind, *, n_sentences=120, n_items=9, seed=1):
    """Item features of prosody, EEG and model for many sentences.

    ``kind="model"``: the model's geometry carries the prosody geometry and the EEG is the model
    plus noise (the model mediates the prosody-EEG relation). ``kind="prosody"``: the EEG carries
    the prosody directly and the model is unrelated.
    """
    rng = np.random.default_rng(seed)
    prosody = rng.standard_normal((n_sentences, n_items, 6))
    mixing = rng.standard_normal((6, 24))
    if kind == "model":
        model = prosody @ mixing + 0.7 * rng.standard_normal((n_sentences, n_items, 24))
        eeg = model + 1.0 * rng.standard_normal(model.shape)
    else:
        model = rng.standard_normal((n_sentences, n_items, 24))
        eeg = prosody @ mixing + 0.7 * rng.standard_normal((n_sentences, n_items, 24))
    return prosody, eeg, model


def test_score_is_near_one_when_the_model_mediates_and_near_zero_when_it_is_unrelated():
    mediated = tnc.triangulated_score(*(tnc.correlation_rdm(v) for v in planted_sentences("model")))
    direct = tnc.triangulated_score(*(tnc.correlation_rdm(v) for v in planted_sentences("prosody")))
    assert np.nanmedian(mediated["r_prosody_eeg"]) > 0.3 and np.nanmedian(direct["r_prosody_eeg"]) > 0.3
    assert np.nanmedian(mediated["score"]) > 0.85
    assert abs(np.nanmedian(direct["score"])) < 0.1
    assert (mediated["score"] <= 1 + 1e-12).all()
    # the score is the defined function of the three correlations
    r = mediated
    np.testing.assert_allclose(r["score"], 1 - r["r_partial"] ** 2 / r["r_prosody_eeg"] ** 2)


def test_correlation_rdm_matches_scipy_pdist():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 7, 5))
    ours = tnc.correlation_rdm(x)
    for i in range(3):
        np.testing.assert_allclose(ours[i], pdist(x[i], "correlation"), atol=1e-12)


# ------------------------------------------------------------------------ per sentence, words as items


def word_tables(prosody, eeg, model, *, n_subjects=2, seed=3):
    """Word-indexed inputs of sentence_triangulated_scores from (sentence, item, feature) arrays."""
    rng = np.random.default_rng(seed)
    n_sentences, n_items = prosody.shape[:2]
    sid = np.repeat([f"s{i:03d}" for i in range(n_sentences)], n_items)
    widx = np.tile(np.arange(n_items), n_sentences)
    labels = [f"{s}:{w}" for s, w in zip(sid, widx)]
    columns = list(tnc_prosody_features())
    table = pd.DataFrame(prosody.reshape(-1, prosody.shape[-1]), columns=columns, index=pd.Index(labels, name="word"))
    table.insert(0, "word_index", widx)
    table.insert(0, "sentence_id", sid)
    coords = {"word": labels, "sentence_id": ("word", sid), "word_index": ("word", widx)}
    subjects = eeg.reshape(-1, eeg.shape[-1])[None] + 0.3 * rng.standard_normal((n_subjects, sid.size, eeg.shape[-1]))
    eeg_da = xr.DataArray(subjects, dims=("subject", "word", "feature"), coords={"subject": ["01", "02"][:n_subjects], **coords})
    model_da = xr.DataArray(model.reshape(-1, model.shape[-1]), dims=("word", "feature"), coords=coords)
    return table, eeg_da, model_da


def tnc_prosody_features():
    from hearlike.prosody import FRAME_FEATURES

    return FRAME_FEATURES


def test_sentence_scores_match_a_slow_loop_over_sentences():
    prosody, eeg, model = planted_sentences("model", n_sentences=6, n_items=7)
    table, eeg_da, model_da = word_tables(prosody, eeg, model)
    # shuffle the word order of every input: the scores must follow the word labels
    rng = np.random.default_rng(4)
    result = tnc.sentence_triangulated_scores(table.iloc[rng.permutation(len(table))], eeg_da.isel(word=rng.permutation(eeg_da.sizes["word"])),
                                              model_da.isel(word=rng.permutation(model_da.sizes["word"])))
    for i, sentence_id in enumerate(sorted(set(table["sentence_id"]))):
        rows = table[table["sentence_id"] == sentence_id].sort_values("word_index")
        feats = rows[list(tnc_prosody_features())].to_numpy()
        z = (feats - feats.mean(0)) / feats.std(0)
        p = pdist(z, "correlation")
        e = np.mean([pdist(eeg_da.sel(subject=s).sel(word=rows.index).values, "correlation") for s in ["01", "02"]], axis=0)
        m = pdist(model_da.sel(word=rows.index).values, "correlation")
        r_pe = ss.spearmanr(p, e)[0]
        expected = 1 - formula_partial(p, e, m) ** 2 / r_pe**2
        assert result.loc[sentence_id, "score"] == pytest.approx(expected, abs=1e-9)
        assert result.loc[sentence_id, "r_prosody_eeg"] == pytest.approx(r_pe, abs=1e-12)
    assert result.attrs["n_defined"] == 6 and not any(result.attrs["counts"].values())


def test_undefined_sentences_are_nan_and_counted():
    prosody, eeg, model = planted_sentences("prosody", n_sentences=4, n_items=6)
    prosody[1] = prosody[1, :1]  # every word of sentence 1 has the same prosody: a constant RDM
    table, eeg_da, model_da = word_tables(prosody, eeg, model)
    short = table.index[(table["sentence_id"] == "s002") & (table["word_index"] > 2)]
    result = tnc.sentence_triangulated_scores(table.drop(short), eeg_da, model_da)
    assert result.loc["s001", "undefined"] == "constant RDM" and np.isnan(result.loc["s001", "score"])
    assert result.loc["s002", "undefined"] == "too few items" and result.loc["s002", "n_words"] == 3
    assert result.attrs["counts"]["constant RDM"] == 1 and result.attrs["counts"]["too few items"] == 1
    # a prosody-EEG relation below min_abs_r leaves nothing to explain
    strict = tnc.sentence_triangulated_scores(table, eeg_da, model_da, min_abs_r=0.999)
    assert strict.attrs["counts"]["no prosody-EEG relation"] == 3 and strict["score"].isna().all()
    assert strict.attrs["n_defined"] == 0


def test_bad_inputs_say_what_is_wrong():
    prosody, eeg, model = planted_sentences("model", n_sentences=2, n_items=5)
    table, eeg_da, model_da = word_tables(prosody, eeg, model)
    with pytest.raises(ValueError, match=r"prosody lacks column\(s\) \['zcr'\]"):
        tnc.sentence_triangulated_scores(table.drop(columns="zcr"), eeg_da, model_da)
    with pytest.raises(ValueError, match="min_items must be >= 4"):
        tnc.sentence_triangulated_scores(table, eeg_da, model_da, min_items=3)
    with pytest.raises(ValueError, match="model lacks the word coordinates"):
        tnc.sentence_triangulated_scores(table, eeg_da, model_da.drop_vars("word_index"))


def test_eeg_word_vectors_take_the_window_and_channels():
    times = np.arange(-10, 60) / 100
    values = np.arange(2 * 3 * 4 * times.size, dtype=float).reshape(2, 3, 4, times.size)
    epochs = xr.DataArray(values, dims=("subject", "word", "channel", "time"),
                          coords={"subject": ["01", "02"], "word": ["a:0", "a:1", "a:2"], "channel": list("ABCD"),
                                  "time": times, "sentence_id": ("word", ["a"] * 3), "word_index": ("word", [0, 1, 2])})
    vectors = tnc.eeg_word_vectors(epochs, window_ms=(250, 500), channels=["B", "D"])
    inside = (times >= 0.25) & (times < 0.5)
    assert vectors.dims == ("subject", "word", "feature") and vectors.sizes["feature"] == 2 * inside.sum()
    np.testing.assert_array_equal(vectors.values[1, 2], values[1, 2][[1, 3]][:, inside].reshape(-1))
    with pytest.raises(ValueError, match="no EEG sample lies in the window 700-900 ms"):
        tnc.eeg_word_vectors(epochs, window_ms=(700, 900))
