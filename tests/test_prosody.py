"""Prosody features on synthetic audio whose pitch, energy and timing are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from hearlike import prosody

SFREQ_HZ = 16000


def harmonic(f0_hz, duration_s=1.0, *, amplitude=0.2, glide_st=0.0, rolloff=1.0):
    """Harmonic complex (10 harmonics, amplitude k**-rolloff), F0 gliding by glide_st semitones."""
    t = np.arange(int(duration_s * SFREQ_HZ)) / SFREQ_HZ
    f0 = f0_hz * 2.0 ** (glide_st * (t / duration_s - 0.5) / 12.0)
    phase = 2 * np.pi * np.cumsum(f0) / SFREQ_HZ
    wave = sum(k ** -rolloff * np.sin(k * phase) for k in range(1, 11))
    return amplitude * wave / np.abs(wave).max()


def write_sentences(folder, signals, *, words=None, group=None):
    """One wav per sentence, each word-table row covering a quarter of the sentence by default."""
    rows = []
    for i, signal in enumerate(signals):
        name = f"s{i}.wav"
        soundfile.write(folder / name, signal, SFREQ_HZ)
        duration_s = signal.size / SFREQ_HZ
        spans = words[i] if words else [(j * duration_s / 4, (j + 1) * duration_s / 4) for j in range(4)]
        for j, (onset, offset) in enumerate(spans):
            rows.append(
                dict(sentence_id=f"s{i}", word_index=j, word=f"w{j}", onset_s=onset,
                     offset_s=offset, audio_path=name, sentence_text="w0 w1 w2 w3")
            )
            if group is not None:
                rows[-1]["group"] = group[i]
    return pd.DataFrame(rows)


def test_f0_in_semitones_matches_tone_frequency(tmp_path):
    table = write_sentences(tmp_path, [harmonic(120), harmonic(220)])
    features = prosody.prosody_features(table, root=tmp_path)
    expected = 12 * np.log2(np.array([120, 220]) / 100)
    np.testing.assert_allclose(features["f0_mean_st"], expected, atol=0.15)
    assert (features["f0_sd_st"] < 0.2).all()


def test_louder_tone_has_six_db_more_intensity_per_doubling(tmp_path):
    table = write_sentences(tmp_path, [harmonic(150, amplitude=0.1), harmonic(150, amplitude=0.2)])
    features = prosody.prosody_features(table, root=tmp_path)
    difference = features["intensity_mean_db"].iloc[1] - features["intensity_mean_db"].iloc[0]
    assert difference == pytest.approx(20 * np.log10(2), abs=0.1)
    np.testing.assert_allclose(features["f0_mean_st"].iloc[0], features["f0_mean_st"].iloc[1], atol=0.05)


def test_gliding_pitch_has_larger_sd_and_range(tmp_path):
    table = write_sentences(tmp_path, [harmonic(150, 2.0), harmonic(150, 2.0, glide_st=8.0)])
    features = prosody.prosody_features(table, root=tmp_path)
    assert features["f0_sd_st"].iloc[1] > features["f0_sd_st"].iloc[0] + 1.5
    # 5th-95th percentile of a linear 8-semitone glide spans 90% of it (7.2 st), less the edges
    # where Praat has no full analysis window (3 periods of the 50 Hz floor: <= 0.06 s a side)
    assert 0.9 * 8.0 * (2.0 - 2 * 0.06) / 2.0 < features["f0_range_st"].iloc[1] < 0.9 * 8.0
    # and its SD is that of a uniform distribution over the glide, 8 / sqrt(12)
    assert features["f0_sd_st"].iloc[1] == pytest.approx(8.0 / np.sqrt(12), rel=0.08)


def test_brighter_spectrum_has_higher_tilt(tmp_path):
    table = write_sentences(tmp_path, [harmonic(200, rolloff=2.0), harmonic(200, rolloff=0.3)])
    features = prosody.prosody_features(table, root=tmp_path)
    assert features["spectral_tilt_db"].iloc[1] > features["spectral_tilt_db"].iloc[0] + 10


def test_speech_rate_and_pause_ratio_follow_word_timings(tmp_path):
    words = [
        [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0)],  # 4 words in 2 s, no pause
        [(0.0, 0.4), (0.6, 1.0), (1.5, 2.0)],  # 3 words in 2 s, 0.2 + 0.5 s pause
        [(0.0, 1.0), (0.5, 1.2), (1.6, 2.0)],  # overlapping words: union 1.6 s
    ]
    table = write_sentences(tmp_path, [harmonic(150, 2.0)] * 3, words=words)
    features = prosody.prosody_features(table, root=tmp_path)
    np.testing.assert_allclose(features["speech_rate_wps"], [2.0, 1.5, 1.5])
    np.testing.assert_allclose(features["pause_ratio"], [0.0, 0.35, 0.2], atol=1e-12)


def test_unvoiced_sentence_gets_median_f0_and_a_flag(tmp_path, caplog):
    rng = np.random.default_rng(0)
    noise = 0.1 * rng.standard_normal(SFREQ_HZ)
    table = write_sentences(tmp_path, [harmonic(110), harmonic(140), harmonic(200), noise])
    raw = prosody.prosody_features(table, root=tmp_path)
    assert raw.loc["s3", list(prosody.F0_FEATURES)].isna().all()
    assert raw.loc[["s0", "s1", "s2"], "f0_mean_st"].notna().all()
    z = prosody.standardize_prosody(raw)
    assert z["f0_imputed"].tolist() == [False, False, False, True]
    # the median voiced sentence (140 Hz) and the imputed one get the same F0 z-score
    assert z.loc["s3", "f0_mean_st"] == pytest.approx(z.loc["s1", "f0_mean_st"])
    assert "unvoiced" in caplog.text


def test_group_without_any_voiced_sentence_is_an_error(tmp_path):
    rng = np.random.default_rng(1)
    table = write_sentences(
        tmp_path, [harmonic(120), 0.1 * rng.standard_normal(SFREQ_HZ)], group=["a", "b"]
    )
    raw = prosody.prosody_features(table, root=tmp_path)
    with pytest.raises(ValueError, match="no sentence of group 'b' is voiced"):
        prosody.standardize_prosody(raw)


def test_silent_audio_error_names_the_file(tmp_path):
    table = write_sentences(tmp_path, [harmonic(120), np.zeros(SFREQ_HZ)])
    with pytest.raises(ValueError, match=r"audio file .*s1\.wav is silent for sentence 's1'"):
        prosody.prosody_features(table, root=tmp_path)


def test_missing_file_and_span_past_end_are_errors(tmp_path):
    table = write_sentences(tmp_path, [harmonic(120)])
    with pytest.raises(FileNotFoundError, match="pass that folder as root="):
        prosody.prosody_features(table, root=tmp_path / "elsewhere")
    late = table.assign(offset_s=table["offset_s"] + 0.5)
    with pytest.raises(ValueError, match=r"ends at 1\.500 s but audio file .*s0\.wav lasts 1\.000 s"):
        prosody.prosody_features(late, root=tmp_path)
    backwards = table.assign(offset_s=table["onset_s"])
    with pytest.raises(ValueError, match="offset_s <= onset_s"):
        prosody.sentence_spans(backwards)


def test_zscore_is_within_group_and_invariant_to_a_speaker_offset(tmp_path):
    # speaker b is the same sentences a fifth higher and 6 dB louder: within-group z must match
    f0s, amplitudes = [110, 130, 150, 170], [0.05, 0.2, 0.1, 0.15]
    signals = [harmonic(f, amplitude=a) for f, a in zip(f0s, amplitudes)]
    signals += [harmonic(1.5 * f, amplitude=2 * a) for f, a in zip(f0s, amplitudes)]
    table = write_sentences(tmp_path, signals, group=["a"] * 4 + ["b"] * 4)
    z = prosody.standardize_prosody(prosody.prosody_features(table, root=tmp_path))
    for column in ("f0_mean_st", "intensity_mean_db"):
        np.testing.assert_allclose(z[column].iloc[:4], z[column].iloc[4:], atol=0.05)
        np.testing.assert_allclose(z.groupby("group")[column].mean(), 0.0, atol=1e-9)
    assert z["f0_mean_st"].is_monotonic_increasing is False  # groups restart
    assert z["f0_mean_st"].iloc[:4].is_monotonic_increasing


def test_composite_seed_is_lowest_for_low_flat_soft_slow_speech(tmp_path):
    slow = [[(0.0, 0.6), (0.8, 1.4), (1.6, 2.0)]]
    lively = [[(j * 0.4, (j + 1) * 0.4) for j in range(5)]]
    signals = [
        harmonic(100, 2.0, amplitude=0.05),  # low, flat, soft, slow: negative prosody
        harmonic(180, 2.0, amplitude=0.3, glide_st=6),
        harmonic(160, 2.0, amplitude=0.2, glide_st=4),
        harmonic(200, 2.0, amplitude=0.25, glide_st=5),
    ]
    table = write_sentences(tmp_path, signals, words=slow + lively * 3)
    z = prosody.standardize_prosody(prosody.prosody_features(table, root=tmp_path))
    seed = prosody.negative_prosody_score(z)
    assert seed.idxmin() == "s0"
    assert seed["s0"] < prosody.DEFAULT_PROSODY_THRESHOLD < seed.drop("s0").min()


def test_espeak_negative_prosody_is_lower_flatter_softer_slower(tmp_path):
    from hearlike import tts

    texts = [
        "The old house stood quietly near a long road.",
        "We walked along the river after dinner.",
        "She opened the window and looked outside.",
    ]
    tables = []
    for i, text in enumerate(texts):
        for style, settings in [("negative", tts.NEGATIVE_PROSODY), ("normal", tts.NORMAL_PROSODY)]:
            audio, sfreq_hz, words = tts.synthesize(text, **settings)
            sentence_id = f"{style}{i}"
            soundfile.write(tmp_path / f"{sentence_id}.wav", audio, sfreq_hz)
            tables.append(words.assign(sentence_id=sentence_id, word_index=range(len(words)),
                                       audio_path=f"{sentence_id}.wav", sentence_text=text))
    raw = prosody.prosody_features(pd.concat(tables, ignore_index=True), root=tmp_path)
    seed = prosody.negative_prosody_score(prosody.standardize_prosody(raw))
    for i in range(len(texts)):
        negative, normal = raw.loc[f"negative{i}"], raw.loc[f"normal{i}"]
        for column in prosody.SEED_FEATURES:
            assert negative[column] < normal[column], (i, column)
        assert seed[f"negative{i}"] < prosody.DEFAULT_PROSODY_THRESHOLD < seed[f"normal{i}"]
    # espeak's "negative" voice sits near 75 Hz: no octave errors inflate its pitch SD
    assert (raw["f0_sd_st"] < 4).all()


# --------------------------------------------------------------------------- frame-wise features (the study's)


def slow_frame_features(samples, sfreq_hz, *, length=512, hop=160, f0_min_hz=50.0, f0_max_hz=500.0):
    """One frame at a time, the reference study's loop: energy, ZCR, spectrum, autocorrelation F0."""
    from scipy.signal import get_window

    rows = []
    for start in range(0, samples.size - length + 1, hop):
        frame = samples[start:start + length]
        magnitude = np.abs(np.fft.rfft(frame * get_window("hann", length)))
        freqs = np.fft.rfftfreq(length, 1.0 / sfreq_hz)
        centroid = (freqs * magnitude).sum() / magnitude.sum()
        cumulative = np.cumsum(magnitude)
        centred = frame - frame.mean()
        r = np.correlate(centred, centred, mode="full")[length - 1:]
        lo, hi = int(np.ceil(sfreq_hz / f0_max_hz)), min(int(sfreq_hz / f0_min_hz), length - 2)
        peak = lo + int(np.argmax(r[lo:hi + 1]))
        unbiased = r * length / (length - np.arange(length))
        for _ in range(3):
            peak = min(max(peak + int(np.argmax(unbiased[peak - 1:peak + 2])) - 1, lo), hi)
        a, b, c = unbiased[peak - 1], unbiased[peak], unbiased[peak + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
        rows.append({
            "energy_db": 10 * np.log10(np.mean(frame**2)),
            "zcr": np.sum(np.abs(np.diff(np.sign(frame)))) / (2 * length),
            "spectral_centroid_hz": centroid,
            "spectral_bandwidth_hz": np.sqrt(((freqs - centroid) ** 2 * magnitude).sum() / magnitude.sum()),
            "spectral_rolloff_hz": freqs[np.searchsorted(cumulative, 0.85 * cumulative[-1])],
            "f0_hz": sfreq_hz / (peak + np.clip(shift, -0.5, 0.5)) if r[peak] / r[0] >= 0.3 else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def test_frame_features_match_the_slow_loop_and_a_tone_known_values():
    rng = np.random.default_rng(3)
    tone = harmonic(150, 1.0, amplitude=0.3, glide_st=3.0)
    signal = np.concatenate([tone, 0.05 * rng.standard_normal(SFREQ_HZ // 2)])  # voiced, then noise
    fast = prosody.frame_features(signal, SFREQ_HZ)
    slow = slow_frame_features(signal, SFREQ_HZ)
    assert len(fast) == len(slow) == (signal.size - 512) // 160 + 1
    for column in slow.columns:
        np.testing.assert_allclose(fast[column], slow[column], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=column)
    voiced = fast["time_s"] < 0.95
    assert fast.loc[voiced, "f0_hz"].notna().all() and fast.loc[fast["time_s"] > 1.05, "f0_hz"].isna().mean() > 0.9


def test_pure_tone_has_its_frequency_energy_and_zero_crossings():
    t = np.arange(SFREQ_HZ) / SFREQ_HZ
    for f0_hz, amplitude in [(110.0, 0.5), (237.0, 0.1)]:
        frames = prosody.frame_features(amplitude * np.sin(2 * np.pi * f0_hz * t + 0.3), SFREQ_HZ)
        # a 32 ms frame holds 3.5 periods at 110 Hz: single frames err by up to ~1 % (0.17 st), unbiased on average
        np.testing.assert_allclose(frames["f0_hz"], f0_hz, rtol=0.012)
        assert frames["f0_hz"].mean() == pytest.approx(f0_hz, rel=0.002)
        np.testing.assert_allclose(frames["energy_db"], 10 * np.log10(amplitude**2 / 2), atol=0.05)
        np.testing.assert_allclose(frames["zcr"].mean(), 2 * f0_hz / SFREQ_HZ, rtol=0.02)
        np.testing.assert_allclose(frames["spectral_centroid_hz"], f0_hz, rtol=0.02)


def test_spectral_features_agree_with_librosa():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(4)
    signal = harmonic(180, 0.5, rolloff=0.5) + 0.02 * rng.standard_normal(SFREQ_HZ // 2)
    ours = prosody.frame_features(signal, SFREQ_HZ)
    options = dict(n_fft=512, hop_length=160, center=False, window="hann")
    peers = {
        "spectral_centroid_hz": librosa.feature.spectral_centroid(y=signal, sr=SFREQ_HZ, **options)[0],
        "spectral_bandwidth_hz": librosa.feature.spectral_bandwidth(y=signal, sr=SFREQ_HZ, **options)[0],
        "spectral_rolloff_hz": librosa.feature.spectral_rolloff(y=signal, sr=SFREQ_HZ, roll_percent=0.85, **options)[0],
    }
    for column, peer in peers.items():
        np.testing.assert_allclose(ours[column], peer, rtol=1e-6, err_msg=column)
    zcr = librosa.feature.zero_crossing_rate(signal, frame_length=512, hop_length=160, center=False)[0]
    np.testing.assert_allclose(ours["zcr"], zcr, atol=1.5 / 512)  # librosa counts crossings a sample apart


def test_word_prosody_pools_frames_inside_each_word(tmp_path):
    rng = np.random.default_rng(5)
    low_soft = harmonic(110, 0.5, amplitude=0.05)
    high_loud = harmonic(220, 0.5, amplitude=0.4)
    noise = 0.1 * rng.standard_normal(SFREQ_HZ // 2)
    signal = np.concatenate([low_soft, high_loud, noise])
    words = [[(0.05, 0.45), (0.55, 0.95), (1.05, 1.45), (0.2, 0.203)]]  # the last word is shorter than a hop
    table = write_sentences(tmp_path, [signal], words=words)
    pooled = prosody.word_prosody(table, root=tmp_path)
    assert list(pooled.index) == ["s0:0", "s0:1", "s0:2", "s0:3"] and list(pooled.columns[:2]) == ["sentence_id", "word_index"]
    np.testing.assert_allclose(pooled.loc[["s0:0", "s0:1"], "f0_st"], 12 * np.log2(np.array([110, 220]) / 100), atol=0.15)
    assert pooled.loc["s0:1", "energy_db"] - pooled.loc["s0:0", "energy_db"] == pytest.approx(20 * np.log10(8), abs=0.5)
    assert pooled.loc["s0:2", "zcr"] > 3 * pooled.loc["s0:1", "zcr"]  # noise crosses zero far more often
    assert pooled.loc["s0:3", "n_frames"] == 1
    frames = prosody.frame_features(soundfile.read(tmp_path / "s0.wav")[0], SFREQ_HZ)  # as written (16-bit)
    inside = (frames["time_s"] >= 0.55) & (frames["time_s"] < 0.95)
    assert pooled.loc["s0:1", "spectral_centroid_hz"] == pytest.approx(frames.loc[inside, "spectral_centroid_hz"].mean())
    late = table.assign(onset_s=table["onset_s"] + 2.0, offset_s=table["offset_s"] + 2.0)
    with pytest.raises(ValueError, match=r"word s0:0 starts at 2\.050 s but audio file .*s0\.wav lasts 1\.500 s"):
        prosody.word_prosody(late, root=tmp_path)
