"""TNC labelling: planted-negative recovery, no leakage, peer agreement, degenerate inputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile
import xarray as xr

from hearlike import prosody, tnc

# --------------------------------------------------------------------------- constructed views


def planted_views(seed, *, n=90, n_negative=30, dim=12, seed_noise=1.0, embedding_noise=1.4):
    """Three independent noisy views of planted negatives.

    Each view embeds a sentence as its class centroid plus isotropic noise, and (prosody, text)
    scores it as -1 (planted negative) or +1 plus Gaussian noise, so each view alone mislabels
    some sentences, independently of the others.
    """
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    planted = np.zeros(n, bool)
    planted[rng.choice(n, n_negative, replace=False)] = True
    embeddings, seeds = {}, {}
    for view in tnc.MODALITIES:
        centroids = rng.standard_normal((2, dim))
        x = centroids[planted.astype(int)] + embedding_noise * rng.standard_normal((n, dim))
        embeddings[view] = pd.DataFrame(x, index=ids)
        if view != "model":
            score = np.where(planted, -1.0, 1.0) + seed_noise * rng.standard_normal(n)
            seeds[view] = pd.Series(score, index=ids)
    return embeddings, seeds, pd.Series(planted, index=ids)


THRESHOLDS = {"prosody": 0.0, "text": 0.0}


def precision(called, planted):
    return (called & planted).sum() / called.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tnc_beats_every_single_view_on_precision(seed):
    embeddings, seeds, planted = planted_views(seed)
    result = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS)
    tnc_negative = result["label"] == "negative"
    tnc_precision = precision(tnc_negative, planted)
    single = {view: precision(result[f"{view}_negative"], planted) for view in tnc.MODALITIES}
    assert all(tnc_precision > p for p in single.values()), (tnc_precision, single)
    assert tnc_precision >= 0.95
    assert tnc_negative.sum() >= 0.3 * planted.sum()  # still finds a useful share
    # the planted negatives are rarely called non-negative
    assert (result.loc[planted, "label"] == "non-negative").mean() < 0.05


def test_neighbourhood_adds_precision_over_seed_agreement_alone():
    tnc_precision, agreement_precision = [], []
    for seed in range(10):
        embeddings, seeds, planted = planted_views(seed, seed_noise=1.5)
        result = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS)
        agreed = result[[f"{v}_negative" for v in tnc.MODALITIES]].all(axis=1)
        tnc_precision.append(precision(result["label"] == "negative", planted))
        agreement_precision.append(precision(agreed, planted))
    tnc_precision, agreement_precision = np.array(tnc_precision), np.array(agreement_precision)
    assert (tnc_precision >= agreement_precision).all()
    assert tnc_precision.mean() > agreement_precision.mean() + 0.01


def test_labels_follow_the_criterion():
    embeddings, seeds, _ = planted_views(3)
    result = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS, k=7, theta=0.7)
    negatives = result[[f"{v}_negative" for v in tnc.MODALITIES]]
    consistency = result[[f"{v}_consistency" for v in tnc.MODALITIES]]
    expected = np.where(
        negatives.all(axis=1) & (consistency >= 0.7 - 1e-12).all(axis=1),
        "negative",
        np.where(negatives.any(axis=1), "ambiguous", "non-negative"),
    )
    assert (result["label"] == expected).all()
    assert set(result["label"]) == set(tnc.LABELS)
    assert result.attrs["counts"] == result["label"].value_counts().to_dict()
    assert result.attrs["k"] == 7 and result.attrs["theta"] == 0.7
    # consistency is a fraction of 7 neighbours
    np.testing.assert_allclose((consistency * 7) % 1, 0, atol=1e-9)
    assert result.loc[result["label"] == "ambiguous", "confidence"].isna().all()
    labelled = result.loc[result["label"] != "ambiguous", "confidence"]
    assert labelled.between(0, 1).all()


def test_result_is_invariant_to_row_order():
    embeddings, seeds, _ = planted_views(4)
    reference = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS)
    rng = np.random.default_rng(0)
    shuffled_embeddings = {v: e.iloc[rng.permutation(len(e))] for v, e in embeddings.items()}
    shuffled_seeds = {v: s.iloc[rng.permutation(len(s))] for v, s in seeds.items()}
    result = tnc.tnc_labels(
        shuffled_embeddings, shuffled_seeds, thresholds=THRESHOLDS, sentence_ids=reference.index[::-1]
    )
    pd.testing.assert_frame_equal(result.loc[reference.index], reference, check_exact=False)


# --------------------------------------------------------------------------- building blocks


def test_neighbour_fraction_agrees_with_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 6)) + 3.0  # offset: centring must matter
    negative = rng.random(40) < 0.4
    ours = tnc.neighbour_negative_fraction(x, negative, k=4)
    centred = x - x.mean(axis=0)
    index = NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute").fit(centred)
    neighbours = index.kneighbors(centred, return_distance=False)[:, 1:]  # first is self
    np.testing.assert_allclose(ours, negative[neighbours].mean(axis=1))


def test_leave_one_out_projection_matches_slow_refit_and_ignores_own_label():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((25, 8))
    negative = np.arange(25) < 8
    non_negative = np.arange(25) >= 14
    fast = tnc.leave_one_out_projection(x, negative, non_negative)

    centred = x - x.mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    for i in range(25):
        keep = np.arange(25) != i
        mean_neg = unit[keep & negative].mean(axis=0)
        mean_non = unit[keep & non_negative].mean(axis=0)
        w = mean_non - mean_neg
        slow = 2 * (unit[i] - (mean_neg + mean_non) / 2) @ w / (w @ w)
        assert fast[i] == pytest.approx(slow, rel=1e-9)

    # no leakage: moving sentence 3 out of the negative class leaves its own score unchanged
    moved = negative.copy()
    moved[3] = False
    again = tnc.leave_one_out_projection(x, moved, non_negative)
    assert again[3] == pytest.approx(fast[3], rel=1e-12)
    assert not np.allclose(np.delete(again, 3), np.delete(fast, 3))
    # a fit left without any negative is undefined
    assert np.isnan(tnc.leave_one_out_projection(x, np.arange(25) == 0, non_negative)[0])


def test_model_seed_does_not_see_the_sentence_own_prosody_or_text():
    embeddings, seeds, planted = planted_views(7, n=40, n_negative=12)
    reference = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS)
    sentence = planted[planted].index[0]
    flipped = {v: s.copy() for v, s in seeds.items()}
    flipped["prosody"][sentence] = 5.0
    flipped["text"][sentence] = 5.0
    result = tnc.tnc_labels(embeddings, flipped, thresholds=THRESHOLDS)
    assert result.loc[sentence, "model_seed"] == pytest.approx(reference.loc[sentence, "model_seed"])
    assert result.loc[sentence, "label"] != "negative"


def test_sentence_embeddings_are_word_means():
    rng = np.random.default_rng(8)
    sentence_ids = ["b", "b", "a", "a", "a", "c"]
    states = xr.DataArray(
        rng.standard_normal((6, 5)).astype(np.float32),
        dims=("word", "decoder_feature"),
        coords={
            "word": [f"{s}:{i}" for i, s in enumerate(sentence_ids)],
            "sentence_id": ("word", sentence_ids),
            "word_index": ("word", [0, 1, 0, 1, 2, 0]),
        },
    )
    result = tnc.sentence_embeddings(states)
    assert result.dims == ("sentence", "decoder_feature")
    assert list(result["sentence"].values) == ["b", "a", "c"]
    reference = states.groupby("sentence_id").mean()
    for sid in ["a", "b", "c"]:
        np.testing.assert_allclose(result.sel(sentence=sid), reference.sel(sentence_id=sid), rtol=1e-6)
    with pytest.raises(ValueError, match=r"select one layer first"):
        tnc.sentence_embeddings(states.expand_dims(layer=["decoder.0"]))


def test_sensitivity_agrees_with_labels_and_tightens_with_theta(caplog):
    embeddings, seeds, planted = planted_views(9, n=60, n_negative=20)
    grid = tnc.tnc_sensitivity(
        embeddings, seeds, thresholds=THRESHOLDS, planted=planted, ks=(3, 5, 7, 10, 60)
    )
    assert "skipping k=[60]" in caplog.text
    assert sorted(grid["k"].unique()) == [3, 5, 7, 10] and len(grid) == 16
    assert (grid[["n_negative", "n_non_negative", "n_ambiguous"]].sum(axis=1) == 60).all()
    for _, cell in grid.groupby("k"):
        assert cell.sort_values("theta")["n_negative"].is_monotonic_decreasing
    single = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS, k=5, theta=0.6)
    row = grid[(grid["k"] == 5) & (grid["theta"] == 0.6)].iloc[0]
    called = single["label"] == "negative"
    assert row["n_negative"] == called.sum()
    assert row["n_ambiguous"] == single.attrs["counts"]["ambiguous"]
    assert row["precision"] == pytest.approx(precision(called, planted))
    assert row["recall"] == pytest.approx((called & planted).sum() / planted.sum())


# --------------------------------------------------------------------------- degenerate inputs


def test_k_not_below_sentence_count_is_an_error():
    embeddings, seeds, _ = planted_views(10, n=6, n_negative=3)
    with pytest.raises(ValueError, match=r"k=6 nearest neighbours need more than k sentences .* got 6: pass k <= 5"):
        tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS, k=6)
    with pytest.raises(ValueError, match=r"every k in \[6, 8\] is >= the number of sentences \(6\)"):
        tnc.tnc_sensitivity(embeddings, seeds, thresholds=THRESHOLDS, ks=(6, 8))


def test_all_sentences_negative_is_an_error():
    embeddings, seeds, _ = planted_views(11, n=20, n_negative=10)
    negative = {v: s - 10.0 for v, s in seeds.items()}
    with pytest.raises(ValueError, match="all 20 sentences are seed-negative in both the prosody and text views"):
        tnc.tnc_labels(embeddings, negative, thresholds=THRESHOLDS)


def test_no_agreed_negative_labels_nothing_negative(caplog):
    embeddings, seeds, _ = planted_views(12, n=20, n_negative=10)
    seeds["text"] = seeds["text"] + 10.0  # text calls nothing negative
    with caplog.at_level(logging.WARNING):
        result = tnc.tnc_labels(embeddings, seeds, thresholds=THRESHOLDS)
    assert "only 0 sentence(s) are negative in both prosody and text" in caplog.text
    assert result["model_seed"].isna().all() and not result["model_negative"].any()
    assert (result["label"] != "negative").all()
    assert (result["label"] == "non-negative").sum() == (~result["prosody_negative"]).sum()


def test_malformed_views_are_rejected():
    embeddings, seeds, _ = planted_views(13, n=20, n_negative=10)
    with pytest.raises(ValueError, match="seeds must not contain 'model'"):
        tnc.tnc_labels(embeddings, {**seeds, "model": seeds["text"]})
    short = {**embeddings, "text": embeddings["text"].iloc[:-2]}
    with pytest.raises(ValueError, match=r"text embedding lacks 2 sentence\(s\), e.g. \['s018', 's019'\]"):
        tnc.tnc_labels(short, seeds)
    with pytest.raises(ValueError, match=r"theta is a fraction of neighbours in \(0, 1\]; got 1.5"):
        tnc.tnc_labels(embeddings, seeds, theta=1.5)
    nan_seeds = {**seeds, "text": seeds["text"].where(seeds["text"] > 0)}
    with pytest.raises(ValueError, match="text seeds contain NaN"):
        tnc.tnc_labels(embeddings, nan_seeds)


# --------------------------------------------------------------------------- from project data

SFREQ_HZ = 16000
NEGATIVE_TEXTS = [
    "The funeral was a terrible and painful day.",
    "I hate how miserable and lonely this feels.",
    "The war left everyone hurt, afraid and sad.",
    "Her awful illness made us cry in despair.",
    "That cruel failure was a horrible disaster.",
    "We lost everything and felt hopeless and broken.",
]
POSITIVE_TEXTS = [
    "The party was a wonderful and happy surprise.",
    "I love this beautiful sunny morning.",
    "Our friends laughed and enjoyed the great feast.",
    "She won the prize and smiled with joy.",
    "What a lovely, delightful and fun holiday.",
    "The children were excited and grateful for the gift.",
    "The bus leaves the station at nine.",
    "He put the books on the table.",
]


def tone(f0_hz, duration_s, amplitude, glide_st):
    t = np.arange(int(duration_s * SFREQ_HZ)) / SFREQ_HZ
    f0 = f0_hz * 2.0 ** (glide_st * np.sin(2 * np.pi * t / duration_s) / 12.0)
    phase = 2 * np.pi * np.cumsum(f0) / SFREQ_HZ
    wave = sum(k**-1.0 * np.sin(k * phase) for k in range(1, 8))
    return amplitude * wave / np.abs(wave).max()


def demo_like(folder, rng):
    """Negative sentences spoken low, flat, soft and slow; the others lively."""
    rows, planted = [], {}
    texts = [(t, True) for t in NEGATIVE_TEXTS] + [(t, False) for t in POSITIVE_TEXTS]
    for i, (text, negative) in enumerate(texts):
        sid = f"s{i:02d}"
        words = text.rstrip(".").split()
        rate = rng.uniform(1.8, 2.2) if negative else rng.uniform(3.5, 4.0)
        duration_s = len(words) / rate
        signal = tone(
            rng.uniform(95, 105) if negative else rng.uniform(170, 190),
            duration_s,
            0.05 if negative else 0.25,
            0.5 if negative else 4.0,
        )
        soundfile.write(folder / f"{sid}.wav", signal, SFREQ_HZ)
        step = duration_s / len(words)
        for j, word in enumerate(words):
            rows.append(dict(sentence_id=sid, word_index=j, word=word, onset_s=j * step,
                             offset_s=(j + 0.9) * step, audio_path=f"{sid}.wav", sentence_text=text))
        planted[sid] = negative
    stimuli = pd.DataFrame(rows)
    # tiny "model" word states: a valence direction plus noise
    direction = rng.standard_normal(16)
    negative_word = stimuli["sentence_id"].map(planted).to_numpy()
    values = rng.standard_normal((len(stimuli), 16)) + np.where(negative_word, -1.5, 1.5)[:, None] * direction
    states = xr.DataArray(
        values.astype(np.float32),
        dims=("word", "decoder_feature"),
        coords={
            "word": [f"{s}:{i}" for s, i in zip(stimuli["sentence_id"], stimuli["word_index"])],
            "sentence_id": ("word", stimuli["sentence_id"]),
            "word_index": ("word", stimuli["word_index"]),
            "word_text": ("word", stimuli["word"]),
        },
    )
    return stimuli, states, pd.Series(planted)


def test_tnc_from_stimuli_recovers_planted_negative_prosody(tmp_path):
    from hearlike.text import embed_texts

    stimuli, states, planted = demo_like(tmp_path, np.random.default_rng(14))
    result = tnc.tnc_from_stimuli(stimuli, states, root=tmp_path, embed_fn=embed_texts, k=3)
    called = result["label"] == "negative"
    assert called.sum() >= 4
    assert planted[called.index[called]].all()
    assert (result.loc[planted[~planted].index, "label"] != "negative").all()
    assert list(result.columns[:2]) == ["label", "sentence_text"]
    assert not result["f0_imputed"].any()
    assert (result["prosody_seed"][planted] < prosody.DEFAULT_PROSODY_THRESHOLD).all()


def test_tnc_views_reject_states_for_other_sentences(tmp_path):
    stimuli, states, _ = demo_like(tmp_path, np.random.default_rng(15))
    partial = states.isel(word=states["sentence_id"] != "s03")
    with pytest.raises(ValueError, match=r"word_states lack 1 sentence\(s\) of the stimulus table, e.g. \['s03'\]"):
        tnc.tnc_views(stimuli, partial, root=tmp_path, embed_fn=lambda t: np.ones((len(t), 3)))


def test_tnc_on_demo_sentences_spoken_by_espeak(tmp_path):
    """Demo sentences, negative ones spoken with espeak 'negative prosody' as write_demo does."""
    demo = pytest.importorskip("hearlike.demo")
    from hearlike import tts
    from hearlike.text import embed_texts

    sentences = demo.load_sentence_list(n_sentences=18)
    tables = []
    for sentence in sentences.itertuples():
        negative = sentence.condition == "negative"
        settings = tts.NEGATIVE_PROSODY if negative else tts.NORMAL_PROSODY
        audio, sfreq_hz, words = tts.synthesize(sentence.text, **settings)
        soundfile.write(tmp_path / f"{sentence.sentence_id}.wav", audio, sfreq_hz)
        tables.append(words.assign(
            sentence_id=sentence.sentence_id, word_index=range(len(words)),
            audio_path=f"{sentence.sentence_id}.wav", sentence_text=sentence.text,
        ))  # fmt: skip
    stimuli = pd.concat(tables, ignore_index=True)
    planted = sentences.set_index("sentence_id")["condition"] == "negative"
    # a tiny model whose word states carry the sentence's condition along one direction
    rng = np.random.default_rng(16)
    sign = np.where(stimuli["sentence_id"].map(planted), -1.0, 1.0)
    values = rng.standard_normal((len(stimuli), 32)) + sign[:, None] * rng.standard_normal(32)
    states = xr.DataArray(values.astype(np.float32), dims=("word", "decoder_feature"),
                          coords={"sentence_id": ("word", stimuli["sentence_id"])})
    embeddings, seeds = tnc.tnc_views(stimuli, states, root=tmp_path, embed_fn=embed_texts)
    result = tnc.tnc_labels(embeddings, seeds, k=3)
    called = result["label"] == "negative"
    assert planted[called[called].index].all()  # precision 1
    assert called[planted[planted].index].mean() >= 0.8  # recall
    grid = tnc.tnc_sensitivity(embeddings, seeds, planted=planted, ks=(3, 5), thetas=(0.6,))
    assert (grid["precision"] == 1.0).all()
