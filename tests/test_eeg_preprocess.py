"""Preprocessing options, bad channels, NaN repair, ICA, and epoching against mne.Epochs."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from hearlike import eeg

CHANNELS = ["Fp1", "Fp2", "F3", "Fz", "F4", "T7", "C3", "Cz", "C4", "T8", "P3", "Pz", "P4", "O1", "Oz", "O2"]


def montage_1005():
    names = mne.channels.get_builtin_montages()
    return mne.channels.make_standard_montage("colin27_1005" if "colin27_1005" in names else "standard_1005")


def make_raw(seed=0, *, seconds=40.0, sfreq=128.0, channels=CHANNELS):
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 5e-6, (len(channels), int(seconds * sfreq))) * np.exp(rng.normal(0, 0.2, (len(channels), 1)))
    raw = mne.io.RawArray(data, mne.create_info(channels, sfreq, "eeg"), verbose="error")
    raw.set_montage(montage_1005())
    return raw


# ---------------------------------------------------------------------------- epoching vs MNE
def test_epoch_words_matches_mne_epochs():
    raw = make_raw(1, seconds=30.0)
    sfreq = raw.info["sfreq"]
    rng = np.random.default_rng(2)
    samples = np.sort(rng.choice(np.arange(-40, int(30 * sfreq) + 40), size=60, replace=False))
    raw.annotations.append(12.0, 0.5, "BAD_muscle")
    raw._data[3, int(20 * sfreq)] += 200e-6  # one spike → peak-to-peak rejection
    params = {"tmin_s": -0.2, "tmax_s": 0.8, "baseline_s": [-0.2, 0.0], "reject_peak_to_peak_v": 100e-6}
    data, times, counts = eeg.epoch_words(raw, samples / sfreq, params=params)

    inside = (samples >= 0) & (samples < raw.n_times)  # mne.Epochs needs events inside the recording
    events = np.column_stack([samples[inside], np.zeros(inside.sum(), int), np.ones(inside.sum(), int)])
    reference = mne.Epochs(
        raw, events, tmin=-0.2, tmax=0.8, baseline=(-0.2, 0.0), reject=dict(eeg=100e-6),
        reject_by_annotation=True, preload=True, verbose="error",
    )
    np.testing.assert_allclose(times, reference.times)
    kept = np.flatnonzero(inside)[reference.selection]
    assert set(np.flatnonzero(~np.isnan(data).all(axis=(1, 2)))) == set(kept)
    np.testing.assert_allclose(data[kept], reference.get_data(), atol=1e-12, rtol=1e-5)
    assert counts["n_rejected"] == len(samples) - len(kept)
    assert counts["n_out_of_bounds"] >= (~inside).sum() and counts["n_bad_segment"] >= 1 and counts["n_peak_to_peak"] >= 1


# ---------------------------------------------------------------------------- bad channels
def test_find_bad_channels_flags_flat_and_noisy_but_not_a_spike():
    raw = make_raw(3)
    raw._data[CHANNELS.index("C3")] = 0.0
    raw._data[CHANNELS.index("P4")] *= 30
    raw._data[CHANNELS.index("Oz"), 500:503] += 500e-6  # brief artifact: left to epoch rejection
    reasons = eeg.find_bad_channels(raw, picks=CHANNELS, flat_std_v=1e-7, z_threshold=5.0)
    assert set(reasons) == {"C3", "P4"}
    assert reasons["C3"].startswith("flat") and reasons["P4"].startswith("high variance")


def test_nan_segment_and_nan_channel_are_repaired_and_counted():
    raw = make_raw(4)
    sfreq = raw.info["sfreq"]
    raw._data[:, int(10 * sfreq) : int(11 * sfreq)] = np.nan  # dropout in every channel
    raw._data[CHANNELS.index("F4"), 2000:2100] = np.nan  # one channel with gaps
    cleaned, report = eeg.preprocess_raw(raw, params={"resample_hz": None})
    assert report["nan_segments_s"] == pytest.approx(1.0, abs=1 / sfreq)
    assert report["interpolated_channels"] == ["F4"] and report["n_nan_channels"] == 1
    assert np.isfinite(cleaned.get_data()).all()
    onsets = np.array([5.0, 10.5, 11.1, 20.0])
    data, _, counts = eeg.epoch_words(cleaned, onsets, params={})
    assert counts["n_bad_segment"] == 2  # the two words whose epochs touch the dropout
    assert np.isnan(data[1:3]).all() and np.isfinite(data[[0, 3]]).all()


def test_too_many_bad_channels_is_an_error():
    raw = make_raw(5)
    raw._data[:6] = 0.0
    with pytest.raises(ValueError, match=r"subj-x: 6 of 16 channels are bad .*raise max_bad_fraction \(now 0.25\)"):
        eeg.preprocess_raw(raw, label="subj-x")


def test_mastoid_reference_needs_known_mastoids():
    with pytest.raises(ValueError, match=r"no mastoid channels are known for this dataset"):
        eeg.preprocess_raw(make_raw(6), params={"reference": "mastoids"})


# ---------------------------------------------------------------------------- ICA
@pytest.mark.filterwarnings("ignore:FastICA did not converge")  # Gaussian background sources
def test_ica_removes_planted_blinks():
    rng = np.random.default_rng(7)
    sfreq, seconds = 128.0, 60.0
    n = int(seconds * sfreq)
    raw = make_raw(8, seconds=seconds)
    t = np.arange(n) / sfreq
    blink = np.zeros(n)
    blink_times = np.sort(rng.uniform(1, seconds - 1, 25))
    for c in blink_times:
        blink += np.exp(-0.5 * ((t - c) / 0.08) ** 2)
    positions = np.array([raw.info["chs"][i]["loc"][:3] for i in range(len(CHANNELS))])
    weights = np.clip((positions[:, 1] - positions[:, 1].min()) / np.ptp(positions[:, 1]), 0, 1) ** 3
    raw._data += 150e-6 * weights[:, None] * blink[None, :]
    params = {"ica": True, "ica_n_components": 10, "resample_hz": None, "seed": 0}
    cleaned, report = eeg.preprocess_raw(raw.copy(), params=params)
    plain, _ = eeg.preprocess_raw(raw.copy(), params=params | {"ica": False})
    assert report["ica_components_removed"]
    idx = (blink_times * sfreq).astype(int)
    fp1 = CHANNELS.index("Fp1")
    before = np.abs(plain.get_data()[fp1, idx]).mean()
    after = np.abs(cleaned.get_data()[fp1, idx]).mean()
    assert after < 0.25 * before


# ---------------------------------------------------------------------------- options and methods text
def test_describe_preprocessing_follows_the_options():
    text = eeg.describe_preprocessing(None)
    for fragment in ("between 0.5 and 30 Hz", "resampled to 128 Hz", "-200 to 1000 ms", "-200…0 ms", "150 µV", "average of all scalp"):
        assert fragment in text
    assert "No ICA" in text
    other = eeg.describe_preprocessing(
        {"l_freq_hz": 0.1, "h_freq_hz": 40.0, "reference": "mastoids", "ica": True, "reject_peak_to_peak_v": None, "resample_hz": 100}
    )
    assert "between 0.1 and 40 Hz" in other and "mastoids" in other and "ICA" in other and "No ICA" not in other
    assert "µV" not in other.split("Word epochs")[1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lfreq": 1.0}, r"unknown EEG preprocessing options \['lfreq'\]; known options: \["),
        ({"h_freq_hz": 70.0}, r"h_freq_hz \(70.0\) must be below half of resample_hz \(128.0\)"),
        ({"l_freq_hz": 40.0}, r"l_freq_hz \(40.0\) must be below h_freq_hz \(30.0\)"),
        ({"baseline_s": [-0.5, 0.0]}, r"baseline_s \[-0.5, 0.0\] must lie inside \[tmin_s, tmax_s\]"),
        ({"reference": "linked"}, r"reference must be one of \('average', 'mastoids'\)"),
    ],
)
def test_invalid_options_are_explained(params, message):
    with pytest.raises(ValueError, match=message):
        eeg.validate_preprocessing(params)


def test_defaults_are_the_documented_study_defaults():
    p = eeg.DEFAULT_PREPROCESSING
    assert (p["l_freq_hz"], p["h_freq_hz"], p["resample_hz"]) == (0.5, 30.0, 128.0)
    assert (p["tmin_s"], p["tmax_s"], p["baseline_s"]) == (-0.2, 1.0, [-0.2, 0.0])
    assert p["ica"] is False and p["reference"] == "average"


# ---------------------------------------------------------------------------- resampling
def test_resampling_keeps_the_new_rate_exactly_over_the_whole_recording():
    """500 -> 128 Hz on a length that is no whole number of 125-sample periods: MNE's polyphase ratio
    from the lengths would stretch time by up to half an output sample (a 10 Hz sine 14 % off at a
    4.5-minute recording's end); after the crop every output sample k lies at k / 128 s."""
    sfreq, n = 500.0, 136202  # 136202 = 1089 · 125 + 77
    rng = np.random.default_rng(7)
    amplitude = 8e-6 * rng.uniform(0.9, 1.1, len(CHANNELS))
    phase = rng.uniform(0, 2 * np.pi, len(CHANNELS))

    def sines(times_s):  # average-referenced, like the preprocessed data
        x = amplitude[:, None] * np.sin(2 * np.pi * 10.0 * times_s[None] + phase[:, None])
        return x - x.mean(axis=0)

    raw = mne.io.RawArray(sines(np.arange(n) / sfreq), mne.create_info(CHANNELS, sfreq, "eeg"), verbose="error")
    raw.set_montage(montage_1005())
    cleaned, report = eeg.preprocess_raw(raw, params={"l_freq_hz": None, "h_freq_hz": None, "resample_hz": 128.0})
    assert not report["bad_channels"]
    assert cleaned.info["sfreq"] == 128.0 and cleaned.n_times == (n - 77) * 128 // 500
    error = np.abs(cleaned.get_data() - sines(np.arange(cleaned.n_times) / 128.0))[:, 100:-100]
    assert error.max() < 1e-2 * amplitude.min()
