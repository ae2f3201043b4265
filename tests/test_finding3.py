"""Finding 3 beside the reference study: two-view labels (no model view), their agreement with the
three-view labels, the circularity statement, the study's TNC score against the labels, and the
contrast stratified by length and speech rate everywhere (the sensitivity analysis included)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hearlike import tnc
from hearlike.findings import affect

from test_tnc import THRESHOLDS, planted_views


def test_two_view_labels_ignore_the_model_view():
    embeddings, seeds, planted = planted_views(0)
    two = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS, views=("prosody", "text"))
    rng = np.random.default_rng(1)
    scrambled = {**embeddings, "model": pd.DataFrame(rng.standard_normal(embeddings["model"].shape),
                                                     index=embeddings["model"].index)}
    again = tnc.tnc_labels(scrambled, seeds, thresholds=THRESHOLDS, views=("prosody", "text"))
    pd.testing.assert_series_equal(two["label"], again["label"])
    three = tnc.tnc_labels(scrambled, seeds, thresholds=THRESHOLDS)
    assert (three["label"] != two["label"]).any()  # the model view does change three-view labels
    # the rule, with two views: negative = both seeds negative and both neighbourhoods consistent
    consistent = (two[["prosody_consistency", "text_consistency"]] >= 0.6 - 1e-12).all(axis=1)
    both = two["prosody_negative"] & two["text_negative"]
    expected = np.where(both & consistent, "negative",
                        np.where(two["prosody_negative"] | two["text_negative"], "ambiguous", "non-negative"))
    assert (two["label"] == expected).all() and two.attrs["views"] == ["prosody", "text"]
    with pytest.raises(ValueError, match=r"views must be distinct names among \['prosody', 'text', 'model'\]"):
        tnc.tnc_labels(embeddings, seeds, views=("prosody", "audio"))


def test_label_agreement_kappa_matches_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(2)
    ids = [f"s{i}" for i in range(40)]
    first = pd.DataFrame({"label": rng.choice(tnc.LABELS, 40)}, index=ids)
    second = first.copy()
    flip = rng.random(40) < 0.3
    second.loc[flip, "label"] = rng.choice(tnc.LABELS, flip.sum())
    result = affect.label_agreement(first, second.iloc[::-1])  # order must not matter
    assert result["kappa"] == pytest.approx(cohen_kappa_score(first["label"], second["label"]))
    assert result["agreement"] == pytest.approx((first["label"] == second["label"]).mean())
    assert result["crosstab"].to_numpy().sum() == 40 and np.trace(result["crosstab"].to_numpy()) == (~flip).sum() + (
        (first["label"] == second["label"]) & flip).sum()
    with pytest.raises(ValueError, match="the second labelling lacks sentence"):
        affect.label_agreement(first, second.iloc[:-1])


def test_generator_models_read_the_demo_ground_truth(tmp_path):
    truth = {"planted_in_eeg": True, "oracle": {"model_id": "oracle"}, "prosody_model": {"model_id": "oracle-prosody"}}
    (tmp_path / "ground_truth.json").write_text(json.dumps(truth))
    assert affect.generator_models(tmp_path) == ["oracle", "oracle-prosody"]
    (tmp_path / "ground_truth.json").write_text(json.dumps(truth | {"planted_in_eeg": False}))
    assert affect.generator_models(tmp_path) == []  # the null twin: no EEG was generated from the states
    assert affect.generator_models(tmp_path / "elsewhere") == []  # real data
    agreement = {"agreement": 0.9, "n": 60, "kappa": 0.8, "n_negative": (15, 20), "n_negative_both": 15}
    circular = affect.circularity_statement("oracle", ["oracle"], agreement)
    assert circular.startswith("**The labels are partly circular here**: the model view uses `oracle`")
    assert "agree with the three-view labels on 90% of 60 sentences (Cohen's κ = 0.80)" in circular
    clean = affect.circularity_statement("whisper-tiny.en", ["oracle"], agreement)
    assert "circular" not in clean and clean.startswith("The model view uses `whisper-tiny.en`, which did not generate")


def planted_study(n_sentences=48, n_items=7, *, mediated_negative=True, seed=4):
    """Word inputs where the model mediates the prosody-EEG relation in negative sentences only.

    In the other sentences the EEG carries the prosody directly and the model is unrelated, so the
    study's score is near 1 for negative sentences and near 0 for the rest (``mediated_negative``),
    or the same mixture regardless of the label (``False``).
    """
    from hearlike.prosody import FRAME_FEATURES

    rng = np.random.default_rng(seed)
    negative = np.arange(n_sentences) % 2 == 0
    mediated = negative if mediated_negative else rng.random(n_sentences) < 0.5
    rows, eeg, model = [], [], []
    mixing = rng.standard_normal((6, 16))
    for s in range(n_sentences):
        prosody = rng.standard_normal((n_items, 6))
        if mediated[s]:
            m = prosody @ mixing + 0.7 * rng.standard_normal((n_items, 16))
            e = m + rng.standard_normal((n_items, 16))
        else:
            m = rng.standard_normal((n_items, 16))
            e = prosody @ mixing + 0.7 * rng.standard_normal((n_items, 16))
        for w in range(n_items):
            rows.append({"word": f"s{s:02d}:{w}", "sentence_id": f"s{s:02d}", "word_index": w,
                         **dict(zip(FRAME_FEATURES, prosody[w]))})
        eeg.append(e)
        model.append(m)
    table = pd.DataFrame(rows).set_index("word")
    coords = {"word": table.index.to_numpy(), "sentence_id": ("word", table["sentence_id"].to_numpy()),
              "word_index": ("word", table["word_index"].to_numpy())}
    eeg = xr.DataArray(np.concatenate(eeg)[None], dims=("subject", "word", "feature"), coords={"subject": ["01"], **coords})
    model = xr.DataArray(np.concatenate(model), dims=("word", "feature"), coords=coords)
    ids = [f"s{s:02d}" for s in range(n_sentences)]
    labels = pd.DataFrame({"label": np.where(negative, "negative", "non-negative")}, index=ids)
    labels.iloc[-1, 0] = "ambiguous"  # excluded from the relation, still scored
    rate = pd.Series(rng.uniform(2, 4, n_sentences), index=ids)
    return table, eeg, model, labels, rate


def test_study_scores_find_a_planted_relation_to_the_labels_and_none_where_there_is_none():
    table, eeg, model, labels, rate = planted_study()
    result = affect.study_scores(table, eeg, {"m": model, "twin": model.copy()}, labels, rate=rate, n_permutations=300)
    row = result["summary"].loc["m"]
    assert row["n_defined"] == 48 and row["n_used"] == 47
    assert row["median_negative"] > 0.8 and abs(row["median_other"]) < 0.15
    assert row["r_negative"] > 0.6 and row["p"] < 0.01 and row["p_holm"] == pytest.approx(min(1.0, 2 * row["p"]))
    assert result["scores"].loc[("m", "s47"), "label"] == "ambiguous"
    statement = affect.study_score_statement(result)
    assert statement.startswith("The study's score is defined for 48 of 48 sentences per model")
    assert "It differs between TNC-negative and other sentences in 2 of 2 models" in statement
    assert "`m` (r = +0." in statement and "higher for TNC-negative sentences" in statement

    table, eeg, model, labels, rate = planted_study(mediated_negative=False, seed=5)
    null = affect.study_scores(table, eeg, {"m": model}, labels, rate=rate, n_permutations=300)
    assert null["summary"].loc["m", "p"] > 0.05
    assert "In none of 1 model does it differ between TNC-negative and other sentences" in affect.study_score_statement(null)


def test_study_relation_is_two_sided_and_shuffles_within_length_and_rate_strata():
    table, eeg, model, labels, rate = planted_study(n_sentences=24, n_items=5, seed=6)
    result = affect.study_scores(table, eeg, {"m": model}, labels, rate=rate, n_permutations=200, seed=3)
    scores = result["scores"].loc["m"]
    used = scores[scores["label"].isin(["negative", "non-negative"]) & scores["score"].notna()]
    negative = (used["label"] == "negative").to_numpy(float)
    strata = affect.rate_strata(rate.reindex(used.index).to_numpy(), affect.length_strata(used["n_words"].to_numpy()))
    ranks = used["score"].rank().to_numpy()
    rng = np.random.default_rng(3)
    null = np.array([np.corrcoef(ranks, affect._permute_within(negative, strata, rng))[0, 1] for _ in range(200)])
    observed = np.corrcoef(ranks, negative)[0, 1]
    expected = (1 + (np.abs(null - null.mean()) >= abs(observed - null.mean()) - 1e-12).sum()) / 201
    assert result["summary"].loc["m", "r_negative"] == pytest.approx(observed)
    assert result["summary"].loc["m", "p"] == pytest.approx(expected)
    # within strata: every shuffle keeps each stratum's count of negatives
    shuffled = affect._permute_within(negative, strata, np.random.default_rng(0))
    for s in np.unique(strata):
        assert shuffled[strata == s].sum() == negative[strata == s].sum()


def test_sensitivity_analysis_is_stratified_by_speech_rate_like_the_main_contrast():
    embeddings, seeds, _ = planted_views(7, n=48, n_negative=16)
    rng = np.random.default_rng(8)
    ids = list(embeddings["prosody"].index)
    scores = xr.DataArray(rng.standard_normal((1, 4, 48)), dims=("model", "metric", "sentence"),
                          coords={"model": ["a"], "metric": ["g0", "g1", "c0", "c1"], "sentence": ids,
                                  "n_words": ("sentence", 4 + np.arange(48) % 6)})
    families = xr.DataArray(["geometric", "geometric", "covariance", "covariance"], dims="metric",
                            coords={"metric": ["g0", "g1", "c0", "c1"]})
    rate = pd.Series(rng.uniform(2, 4, 48), index=ids)
    grid = tnc.tnc_sensitivity(embeddings, seeds, thresholds=THRESHOLDS, ks=(3,), thetas=(0.6,))
    table = affect.contrast_sensitivity(scores, grid, embeddings, seeds, families=families, model="a",
                                        n_permutations=100, seed=1, rate=rate)
    labels = tnc.tnc_labels(embeddings, seeds, k=3, theta=0.6)
    included = labels["label"].isin(["negative", "non-negative"])
    direct = affect.prosody_contrast(scores, labels.loc[included, "label"] == "negative", families=families,
                                     n_permutations=100, seed=1, rate=rate)
    assert direct.attrs["rate_stratified"]
    assert table["p_interaction"].iloc[0] == pytest.approx(float(direct["p_interaction"].sel(model="a")))
    assert table["interaction"].iloc[0] == pytest.approx(float(direct["interaction"].sel(model="a")))
