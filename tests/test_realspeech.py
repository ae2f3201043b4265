"""The real-speech chapter's checks recover planted structure; the shipped word table is sane."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hearlike.realspeech import NAPLIB_WORDS, frame_coverage, text_rsa, word_retrieval


def _stacked(layers: list[np.ndarray], table: pd.DataFrame) -> xr.DataArray:
    from hearlike.models import stack_layers

    words = [f"{s}:{i}" for s, i in zip(table["sentence_id"], table["word_index"])]
    ds = xr.Dataset({"encoder": (("encoder_layer", "word", "encoder_feature"), np.stack(layers).astype(np.float32))},
                    coords={"word": words, "sentence_id": ("word", table["sentence_id"].to_numpy()),
                            "word_index": ("word", table["word_index"].to_numpy()),
                            "word_text": ("word", table["word"].to_numpy())})
    return stack_layers(ds)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    vocabulary = [f"w{k}" for k in range(12)]
    rows = []
    for s in range(20):
        onset = 0.0
        for i in range(8):
            duration = rng.uniform(0.15, 0.5)
            rows.append(dict(sentence_id=f"s{s:02d}", word_index=i, word=vocabulary[rng.integers(12)],
                             onset_s=onset, offset_s=onset + duration))
            onset += duration + rng.uniform(0.0, 0.1)
    return pd.DataFrame(rows)


def test_retrieval_finds_planted_word_identity_and_noise_stays_at_chance(table):
    rng = np.random.default_rng(1)
    identity = {w: rng.standard_normal(32) for w in table["word"].unique()}
    planted = np.stack([identity[w] for w in table["word"]]) + 0.3 * rng.standard_normal((len(table), 32))
    noise = rng.standard_normal((len(table), 32))
    result = word_retrieval(_stacked([noise, planted], table)).set_index("layer")
    chance = result["chance"].iloc[0]
    assert 1 / 13 < chance < 1 / 11  # 12 equally likely words
    assert result.loc["encoder.1", "accuracy"] > 0.95
    assert abs(result.loc["encoder.0", "accuracy"] - chance) < 0.06


def test_text_rsa_is_one_for_the_text_itself_and_the_timing_control_removes_timing(table):
    rng = np.random.default_rng(2)
    onsets = table["onset_s"].to_numpy()[:, None]
    frequency, phase = rng.uniform(0.3, 1.0, 16), rng.uniform(0, 2 * np.pi, 16)
    timing = np.sin(onsets * frequency + phase)  # a state that encodes only when the word came
    text = rng.standard_normal((len(table), 16)) + 3 * timing  # a reference that shares that timing
    result = text_rsa(_stacked([text, timing], table), table, text).set_index("layer")
    assert result.loc["encoder.0", "rsa"] == pytest.approx(1.0)
    assert result.loc["encoder.0", "rsa_timing_controlled"] > 0.9
    assert result.loc["encoder.1", "rsa"] > 0.3
    assert abs(result.loc["encoder.1", "rsa_timing_controlled"]) < result.loc["encoder.1", "rsa"] / 3


def test_frame_coverage_counts_frame_centres_inside_each_word():
    words = pd.DataFrame({"onset_s": [0.0, 0.015, 0.10], "offset_s": [0.04, 0.02, 0.30]})
    # frame centres at 0.01, 0.03, 0.05, ...: two in [0, .04), none in [.015, .02), ten in [.1, .3)
    assert frame_coverage(words).tolist() == [2, 0, 10]


def test_the_shipped_alignment_is_ordered_and_plausible():
    words = pd.read_csv(NAPLIB_WORDS, sep="\t")
    assert words["trial"].nunique() >= 9 and len(words) > 1500
    durations_s = [62.0, 52.0, 64.3, 62.1, 65.6, 71.9, 85.4, 65.9, 59.0, 56.2]  # naplib's excerpts
    for number, trial in words.groupby("trial"):
        assert (np.diff(trial["onset_s"]) >= 0).all() and (trial["offset_s"] > trial["onset_s"]).all()
        assert trial["offset_s"].max() <= durations_s[number]
    durations = words["offset_s"] - words["onset_s"]
    assert 0.15 < durations.median() < 0.4  # read speech: a few words per second
