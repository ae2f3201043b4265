"""The reference study's protocol (``protocol: paper``): frame items, PCA-20, EEG at the frame count,
sentence-onset windows, per-electrode RSA against slow loops and scipy, and its parameter preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from hearlike.config import load_params
from hearlike.protocol.frames import (eeg_to_frames, frame_word_index, model_frames, pca_frames, pca_word_frames,
                                      window_frames, word_frames)
from hearlike.protocol.paper import (MEAN_REGION, electrode_rep, paper_grid, sliding_windows, window_scores,
                                     window_sums)

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ frames


def test_frame_word_index_assigns_frames_by_their_centre():
    # words 0-0.045, 0.045-0.10, pause, 0.12-0.20 s (from 1 s): 10 frames of 20 ms
    index = frame_word_index(np.array([1.0, 1.045, 1.12]), np.array([1.045, 1.10, 1.20]))
    assert index.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]  # frame 5 (centre 0.11 s, a pause) keeps word 1


def test_word_frames_copies_each_words_vector():
    table = pd.DataFrame({"sentence_id": "s", "onset_s": [0.0, 0.04], "offset_s": [0.04, 0.1]})
    states = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3)
    frames = word_frames(states, table)
    assert frames.shape == (2, 5, 3)
    np.testing.assert_array_equal(frames[:, :2], states[:, [0, 0]])
    np.testing.assert_array_equal(frames[:, 2:], states[:, [1, 1, 1]])
    with pytest.raises(ValueError, match="3 words in the table"):
        word_frames(states, pd.concat([table, table.iloc[:1]]))


def test_pca_frames_shape_and_z_scoring():
    x = np.random.default_rng(0).standard_normal((3, 40, 64)) * 5 + 2
    z = pca_frames(x)
    assert z.shape == (3, 40, 20)
    np.testing.assert_allclose(z.mean(axis=-2), 0, atol=1e-10)
    np.testing.assert_allclose(z.std(axis=-2), 1, atol=1e-10)
    # components are the principal axes: uncorrelated over frames
    corr = np.einsum("lfi,lfj->lij", z, z) / 40
    np.testing.assert_allclose(corr, np.broadcast_to(np.eye(20), corr.shape), atol=1e-8)


def test_pca_frames_reconstructs_low_rank_data_and_zeroes_the_rest():
    rng = np.random.default_rng(1)
    rank = 3
    x = rng.standard_normal((50, rank)) @ rng.standard_normal((rank, 30)) + 7.0  # 50 frames of rank 3
    z = pca_frames(x)
    kept = np.flatnonzero(np.abs(z).sum(axis=0) > 0)
    assert kept.tolist() == [0, 1, 2]  # noise beyond the rank is not z-scored into structure
    centred = x - x.mean(axis=0)
    coef, *_ = np.linalg.lstsq(z[:, kept], centred, rcond=None)
    np.testing.assert_allclose(z[:, kept] @ coef, centred, atol=1e-8)  # the 3 components span the data
    few = pca_frames(rng.standard_normal((6, 30)))  # fewer frames than components
    assert few.shape == (6, 20) and np.all(few[:, 6:] == 0)


def test_pca_word_frames_equals_pca_of_the_copied_frames():
    rng = np.random.default_rng(2)
    words = rng.standard_normal((2, 9, 48))
    index = np.sort(np.r_[np.arange(9), rng.integers(0, 9, 60)])
    fast, slow = pca_word_frames(words, index), pca_frames(words[:, index])
    np.testing.assert_allclose(np.abs(fast), np.abs(slow), atol=1e-9)  # each component up to its sign
    np.testing.assert_allclose(fast @ fast.swapaxes(-1, -2), slow @ slow.swapaxes(-1, -2), atol=1e-8)


def test_eeg_to_frames_interpolates_at_frame_centres_and_z_scores_per_channel():
    sfreq = 128.0
    t = np.arange(200) / sfreq
    segment = np.stack([3 * t + 1, np.sin(2 * np.pi * 2 * t), np.zeros_like(t)])  # ramp, sine, flat
    out = eeg_to_frames(segment, 70, sfreq_hz=sfreq)
    assert out.shape == (3, 70)
    centres = (np.arange(70) + 0.5) * 0.02
    ramp = 3 * centres + 1
    np.testing.assert_allclose(out[0], (ramp - ramp.mean()) / ramp.std(), atol=1e-10)  # linear: exact
    np.testing.assert_allclose(out[1].std(), 1.0)
    assert np.all(out[2] == 0)  # a flat channel stays 0, not NaN
    with pytest.raises(ValueError, match="fewer than the 90 frames"):
        eeg_to_frames(segment, 90, sfreq_hz=sfreq)


def test_windows_count_frames_from_sentence_onset():
    assert window_frames(300, 500) == slice(15, 25)  # the N400 window: frames 15..24
    assert window_frames(80, 150) == slice(4, 7)
    windows = sliding_windows(1000)
    assert [w[1] for w in windows] == list(np.arange(0, 751, 50.0)) and all(w[2] - w[1] == 250 for w in windows)
    assert windows[0][0] == "0-250"


# ------------------------------------------------------------------------------- per-electrode RSA


def _slow_rsa(model: np.ndarray, electrode: np.ndarray, rank: bool) -> float:
    """The study's RSA of one electrode, by scipy: model RDM 1 − Pearson r, electrode RDM |x_i − x_j|."""
    a, b = pdist(model, "correlation"), pdist(electrode[:, None], "cityblock")
    return (spearmanr(a, b)[0] if rank else pearsonr(a, b)[0])


@pytest.mark.parametrize("metric", ["spearman_rsa", "pearson_rsa"])
def test_per_electrode_rsa_matches_a_slow_loop(metric):
    rng = np.random.default_rng(3)
    k, layers, subjects, channels, n = 3, 2, 2, 4, 7
    model = rng.standard_normal((k, layers, n, 20))
    eeg = rng.standard_normal((k, subjects, channels, n))
    perms = torch.as_tensor(np.stack([[rng.permutation(n) for _ in range(k)] for _ in range(5)]))
    observed, null = window_scores(torch.as_tensor(model), torch.as_tensor(eeg), metric, perms)
    rank = metric == "spearman_rsa"
    for s in range(k):
        for lay in range(layers):
            for subj in range(subjects):
                for c in range(channels):
                    expected = _slow_rsa(model[s, lay], eeg[s, subj, c], rank)
                    assert observed[s, lay, subj, c].item() == pytest.approx(expected, abs=1e-10)
                    for p in range(5):
                        shuffled = model[s, lay][perms[p, s].numpy()]
                        assert null[p, s, lay, subj, c].item() == pytest.approx(
                            _slow_rsa(shuffled, eeg[s, subj, c], rank), abs=1e-10)


@pytest.mark.parametrize("metric", ["spearman_rsa", "linear_cka", "rbf_cka"])
def test_linear_sums_equal_the_explicit_null(metric):
    rng = np.random.default_rng(4)
    model = torch.as_tensor(rng.standard_normal((4, 3, 6, 20)))
    eeg = torch.as_tensor(rng.standard_normal((4, 2, 5, 6)))
    eeg[1, 0] = np.nan  # a missing subject in one sentence: left out of every sum
    perms = torch.as_tensor(np.stack([[rng.permutation(6) for _ in range(4)] for _ in range(7)]))
    fast = window_sums(model, eeg, metric, perms, dtype=torch.float64)
    observed, null = window_scores(model, eeg, metric, perms)
    ok = torch.isfinite(observed)
    assert int(fast["count"].sum()) == int(ok.sum()) == 4 * 3 * 2 * 5 - 3 * 5
    torch.testing.assert_close(fast["total"], torch.where(ok, observed, 0.0).sum(0))
    torch.testing.assert_close(fast["null_total"], torch.where(ok, null, 0.0).sum(1))
    torch.testing.assert_close(fast["sentence_null"], torch.where(ok, null.mean(0), float("nan")), equal_nan=True)


def test_a_constant_model_window_has_no_score():
    model = torch.ones(1, 1, 5, 20)  # a window inside one word: identical frames
    eeg = torch.as_tensor(np.random.default_rng(5).standard_normal((1, 1, 2, 5)))
    observed, _ = window_scores(model, eeg, "spearman_rsa", None)
    assert torch.isnan(observed).all()
    assert electrode_rep(eeg, "spearman_rsa").shape == (1, 1, 2, 5, 5)


def _toy_study(n_sentences=4, n_subjects=2, channels=("C1", "C2", "C3"), sfreq=100.0, planted=0.0, seed=0):
    """Stimuli, word states and continuous recordings where each electrode follows the words' first state dim."""
    rng = np.random.default_rng(seed)
    rows, words, vectors, gap = [], [], [], 0.5
    for s in range(n_sentences):
        for i in range(6):
            rows.append(dict(sentence_id=f"s{s}", word_index=i, word="w", onset_s=0.1 * i, offset_s=0.1 * (i + 1),
                             audio_path="a.wav", sentence_text="x"))
            words.append(f"s{s}:{i}")
            vectors.append(rng.standard_normal(16))
    stimuli = pd.DataFrame(rows)
    vectors = np.array(vectors)
    states = xr.DataArray(np.stack([vectors, rng.standard_normal(vectors.shape)]), dims=("layer", "word", "feature"),
                          coords={"layer": ["decoder.0", "decoder.1"], "word": words,
                                  "relative_depth": ("layer", [0.0, 1.0]), "component": ("layer", ["decoder"] * 2)})
    length = int((n_sentences * (0.6 + gap) + 1) * sfreq)
    recordings = {}
    for subj in range(n_subjects):
        signal = rng.standard_normal((len(channels), length)) * 1e-6
        onsets = {}
        for s in range(n_sentences):
            start = int((0.2 + s * (0.6 + gap)) * sfreq)
            for i in range(6):
                onsets[f"s{s}:{i}"] = start + int(0.1 * i * sfreq)
                a, b = onsets[f"s{s}:{i}"], onsets[f"s{s}:{i}"] + int(0.1 * sfreq)
                signal[:, a:b] += planted * 1e-6 * vectors[s * 6 + i, 0]
        recordings[f"{subj:02d}"] = xr.Dataset(
            {"signal": (("channel", "sample"), signal), "onset_sample": ("word", [onsets[w] for w in words])},
            coords={"channel": list(channels), "word": words}, attrs={"sfreq_hz": sfreq})
    return stimuli, {"toy": states}, recordings


def test_paper_grid_layout_and_electrode_mean():
    stimuli, states, recordings = _toy_study()
    grid = paper_grid(states, recordings, stimuli, windows=[("0-300", 0.0, 300.0), ("100-600", 100.0, 600.0)],
                      metrics=["spearman_rsa", "linear_cka"], n_permutations=9, seed=0)
    assert dict(grid["score"].sizes) == {"model": 1, "layer": 2, "subject": 2, "window": 2, "region": 4, "metric": 2}
    assert list(grid["region"].values) == ["C1", "C2", "C3", MEAN_REGION]
    per_electrode = grid["score"].drop_sel(region=MEAN_REGION).mean("region")
    np.testing.assert_allclose(grid["score"].sel(region=MEAN_REGION), per_electrode)
    p = grid["p_value"].values
    assert np.all((p >= 1 / 10) & (p <= 1))
    assert grid.attrs["protocol"] == "paper" and grid.attrs["null"] == "frame shuffle"
    assert grid["sentence_score"].sizes["sentence"] == 4 and grid["group_null"].sizes["permutation"] == 9
    assert list(grid["n_words"].values) == [6] * 4 and list(grid["n_frames"].values) == [30] * 4


def test_paper_grid_finds_a_planted_electrode_effect():
    stimuli, states, recordings = _toy_study(n_sentences=6, planted=20.0)
    grid = paper_grid(states, recordings, stimuli, windows=[("0-600", 0.0, 600.0)], metrics=["spearman_rsa"],
                      n_permutations=19, seed=0)
    excess = grid["excess"].sel(region=MEAN_REGION, metric="spearman_rsa").mean("subject")
    assert excess.sel(model="toy", layer="decoder.0").item() > 0.1  # the electrodes follow layer 0's first dimension


# ------------------------------------------------------------------------------------- parameters


def test_params_paper_loads_and_validates():
    params = load_params(ROOT / "params-paper.yml")
    assert params.protocol == "paper"
    assert ("N400", 300.0, 500.0) in params.windows
    assert params.eeg["filter"] == "butterworth" and params.eeg["notch_hz"] == 50.0
    assert load_params(ROOT / "params.yml").protocol == "hearlike"


def test_bad_protocol_value_is_a_clear_error(tmp_path):
    text = (ROOT / "params.yml").read_text() + "\nprotocol: papr\n"
    path = tmp_path / "params.yml"
    path.write_text(text.replace("data/demo", str(ROOT / "data" / "demo")))
    with pytest.raises(ValueError, match=r"`protocol` is 'papr'; choose one of \['hearlike', 'paper'\].*'paper'"):
        load_params(path)


def test_paper_protocol_refuses_factor_metrics():
    with pytest.raises(ValueError, match="`metrics` names \\['procrustes'\\] but `protocol: paper`"):
        load_params(ROOT / "params-paper.yml", {"metrics": ["spearman_rsa", "procrustes"]})


def test_paper_windows_may_pass_the_word_epoch_but_not_precede_onset():
    params = load_params(ROOT / "params-paper.yml", {"windows": {"late": [1500, 2000]}})
    assert params.windows == (("late", 1500.0, 2000.0),)
    with pytest.raises(ValueError, match="starts before sentence onset"):
        load_params(ROOT / "params-paper.yml", {"windows": {"early": [-100, 100]}})


def test_paper_preprocessing_options_are_checked_and_optional():
    from hearlike.eeg.preprocess import DEFAULT_PREPROCESSING, validate_preprocessing

    assert set(validate_preprocessing({})) == set(DEFAULT_PREPROCESSING)  # defaults (and cache keys) unchanged
    assert validate_preprocessing({"filter": "butterworth", "notch_hz": 50})["notch_hz"] == 50
    with pytest.raises(ValueError, match="filter must be one of"):
        validate_preprocessing({"filter": "chebyshev"})
    with pytest.raises(ValueError, match="bad_channel_min_r must lie in"):
        validate_preprocessing({"bad_channel_min_r": 1.5})


def test_uncorrelated_channel_is_bad():
    import mne

    from hearlike.eeg.preprocess import uncorrelated_channels

    rng = np.random.default_rng(6)
    shared = rng.standard_normal(2000)
    data = np.stack([shared + 0.3 * rng.standard_normal(2000) for _ in range(4)] + [rng.standard_normal(2000)])
    raw = mne.io.RawArray(data * 1e-6, mne.create_info([f"E{i}" for i in range(5)], 100.0, "eeg"), verbose="error")
    bad = uncorrelated_channels(raw, picks=raw.ch_names, min_r=0.4)
    assert list(bad) == ["E4"] and "uncorrelated" in bad["E4"]


def test_choices_table_is_generated_from_both_presets():
    from hearlike.protocol.choices import choices_table

    hearlike, paper = load_params(ROOT / "params.yml"), load_params(ROOT / "params-paper.yml")
    table = choices_table(hearlike, paper)
    for row in ("models", "items", "windows", "metrics", "null", "multiple comparisons", "TNC", "preprocessing"):
        assert row in table.index
    paper_col = [c for c in table.columns if c.startswith("paper")][0]
    assert "frame shuffle" in table.loc["null", paper_col] and f"({paper.n_permutations} permutations" in \
        table.loc["null", paper_col]
    assert table.loc["multiple comparisons", paper_col].startswith("none")
    assert "sentence onset" in table.loc["windows", paper_col] and "N400 300–500" in table.loc["windows", paper_col]
    assert "50 Hz notch" in table.loc["preprocessing", paper_col]
    assert table.loc["items", "differs"] == "yes" and table.loc["models", "differs"] == "same"
    changed = load_params(ROOT / "params.yml", {"n_permutations": 7})
    assert "(7 permutations)" in choices_table(changed, paper).iloc[:, 0]["null"]  # read from the parameters


def test_random_frame_states_are_independent_per_frame_and_reproducible():
    from hearlike.protocol.calibration import random_frame_states

    models = random_frame_states(n_models=2, n_layers=3, n_features=8)
    labels, make = models["random-frame-00"]
    assert labels == ["frame.0", "frame.1", "frame.2"]
    a = make("demo-001", 50)
    assert a.shape == (3, 50, 8) and np.array_equal(a, make("demo-001", 50))
    assert not np.array_equal(a, make("demo-002", 50)) and not np.array_equal(a, models["random-frame-01"][1]("demo-001", 50))
    assert abs(np.corrcoef(a[0, :-1].ravel(), a[0, 1:].ravel())[0, 1]) < 0.1  # neighbouring frames unrelated


def test_methods_text_names_the_paper_protocol():
    from hearlike import methods

    paper = load_params(ROOT / "params-paper.yml")
    assert "frame shuffle" in methods.describe_null(paper) and "uncorrected" in methods.describe_null(paper)
    assert methods.window_label(paper, "N400") == "300–500 ms after sentence onset"
    assert "does not keep that timing" in methods.null_rationale(paper)
    assert "`protocol: paper`" in methods.describe_statistics(paper)
    assert "after sentence onset: P200 (150–250 ms)" in methods.describe_eeg(paper)
    hearlike = load_params(ROOT / "params.yml")
    assert methods.window_label(hearlike, "250-500") == "250–500 ms" and "frame" not in methods.describe_null(hearlike)


def test_calibration_statement_reads_its_numbers():
    from hearlike.protocol.calibration import calibration_statement

    row = dict(protocol="paper", data="planted demo", control="random word states")
    table = pd.DataFrame([row | {"claim": "model aligns", "positives": 3, "out of": 4, "rate": 0.75, "upper 95 %": 0.99},
                          row | {"claim": "cell p < .05", "positives": 9, "out of": 90, "rate": 0.1, "upper 95 %": 0.17}])
    oracle = pd.DataFrame([{"protocol": "paper", "data": "planted demo", "oracle aligns": False},
                           {"protocol": "paper", "data": "null twin", "oracle aligns": True}])
    text = calibration_statement({"table": table, "oracle": oracle})
    assert "3 of 4 random-state models" in text and "75%" in text and "10.0% of 90" in text
    assert "`paper` misses it on the planted demo and claims it on the null twin" in text
    assert "hearlike" not in text  # no protocol it did not run


def test_model_frames_of_a_tiny_real_architecture(tmp_path):
    from hearlike.models import load_adapter, save_tiny

    path = save_tiny("qwen2_audio", tmp_path / "qwen2_audio", seed=0)
    adapter = load_adapter("qwen2-audio-7b-instruct", model_path=path)
    audio = (0.1 * np.sin(2 * np.pi * 220 * np.arange(int(1.5 * adapter.sampling_rate_hz)) /
                          adapter.sampling_rate_hz)).astype(np.float32)
    item = adapter.run_audio([audio])[0]
    n = 50  # 1 s of 20 ms frames from 0.2 s
    study = model_frames(item, n, onset_s=0.2)
    timed = model_frames(item, n, onset_s=0.2, timing="times")
    decoder = item.decoder.double().numpy()
    assert study.shape == timed.shape == (decoder.shape[0], n, decoder.shape[2])
    first = int(np.searchsorted(item.decoder_times, 0.2 - 1e-9))
    np.testing.assert_allclose(study[:, 0], decoder[:, first])  # the study: item i is frame i
    centre = 0.2 + 0.5 * 0.02
    nearest = int(np.argmin(np.abs(item.decoder_times - centre)))
    np.testing.assert_allclose(timed[:, 0], decoder[:, nearest])  # hearlike: the item nearest the frame centre
    z = pca_frames(study)
    assert z.shape == (decoder.shape[0], n, 20) and np.isfinite(z).all()
    with pytest.raises(ValueError, match="timing must be"):
        model_frames(item, n, timing="words")
