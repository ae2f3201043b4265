"""Broderick-format (.mat) reader, preprocessing and word epochs on small planted data."""

from __future__ import annotations

import json

import mne
import numpy as np
import pandas as pd
import pytest
import scipy.io

from hearlike import eeg
from hearlike.eeg import epochs as epochs_module
from hearlike.eeg.datasets import broderick

SFREQ = 128.0
RUN_S = 25.0
LATENCY_S = 0.4
PLANT_CHANNEL = "A1"
SPIKE_WORD = 6  # run-1 word carrying a 400 µV artifact → rejected by peak-to-peak


def _words_for_run(run: int, rng: np.random.Generator) -> pd.DataFrame:
    onsets = [0.1]  # too close to the run start: run 1 → out of bounds, run 2 → crosses the join
    t = 0.6
    while t < RUN_S - 1.5:
        onsets.append(t)
        t += rng.uniform(0.55, 0.85)
    words = [f"w{run}x{i}" for i in range(len(onsets))]
    return pd.DataFrame({"word": words, "onset_s": onsets, "offset_s": np.array(onsets) + 0.3})


def _bump(n_times: int, centres_s: np.ndarray, sigma_s: float = 0.03) -> np.ndarray:
    t = np.arange(n_times) / SFREQ
    out = np.zeros(n_times)
    for c in centres_s:
        sel = np.abs(t - c) < 5 * sigma_s
        out[sel] += np.exp(-0.5 * ((t[sel] - c) / sigma_s) ** 2)
    return out


def write_broderick(root, *, subjects=("1", "2"), runs=(1, 2), seed=0, tweak=None):
    """Write a tiny Broderick-like dataset (µV, samples x channels) with a planted response."""
    rng = np.random.default_rng(seed)
    names = mne.channels.make_standard_montage("biosemi128").ch_names
    n_times = int(RUN_S * SFREQ)
    tables = {}
    for run in runs:
        words = _words_for_run(run, rng)
        tables[run] = words
        (root / "Stimuli" / "Text").mkdir(parents=True, exist_ok=True)
        cell = np.empty((len(words), 1), dtype=object)
        cell[:, 0] = list(words["word"])
        scipy.io.savemat(
            root / "Stimuli" / "Text" / f"Run{run}.mat",
            {"wordVec": cell, "onset_time": words[["onset_s"]].to_numpy(), "offset_time": words[["offset_s"]].to_numpy()},
        )
    channel_sd = np.exp(rng.normal(0, 0.25, 128))  # channels differ in noise level, as on a real cap
    for subject in subjects:
        folder = root / "EEG" / f"Subject{subject}"
        folder.mkdir(parents=True, exist_ok=True)
        for run in runs:
            eeg_uv = rng.normal(0, 2.0, (n_times, 128)) * channel_sd
            eeg_uv[:, names.index(PLANT_CHANNEL)] += 8.0 * _bump(n_times, tables[run]["onset_s"].to_numpy() + LATENCY_S)
            common = 20.0 * np.sin(2 * np.pi * 3.0 * np.arange(n_times) / SFREQ)  # removed by re-referencing
            eeg_uv += common[:, None]
            mastoids = rng.normal(0, 1.0, (n_times, 2)) + common[:, None]
            if run == 1:
                spike_at = tables[run]["onset_s"].iat[SPIKE_WORD] + 0.3
                eeg_uv[int(spike_at * SFREQ) : int(spike_at * SFREQ) + 3, names.index("A10")] += 400.0
            payload = {"eegData": eeg_uv, "mastoids": mastoids, "fs": SFREQ}
            if tweak is not None:
                payload = tweak(subject, run, payload, names)
            scipy.io.savemat(folder / f"Subject{subject}_Run{run}.mat", payload)
    return tables


def stimulus_table(tables) -> pd.DataFrame:
    rows = []
    for run, words in tables.items():
        for i, row in enumerate(words.itertuples()):
            rows.append(
                {
                    "sentence_id": f"run{run:02d}-{i // 5:03d}",
                    "word_index": i % 5,
                    "word": row.word,
                    "onset_s": row.onset_s,
                    "offset_s": row.offset_s,
                    "audio_path": f"Stimuli/Audio/audio{run}.wav",
                    "sentence_text": "",
                }
            )
    return pd.DataFrame(rows)


def _bad_channels(subject, run, payload, names):
    if subject == "1":
        payload["eegData"][:, names.index("B5")] = 0.0  # flat
        payload["eegData"][:, names.index("C10")] *= 40.0  # extreme variance
        payload["eegData"][100:300, names.index("D3")] = np.nan  # missing samples
    return payload


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("broderick")
    tables = write_broderick(root, tweak=_bad_channels)
    return root, stimulus_table(tables)


@pytest.fixture(scope="module")
def epochs(dataset):
    root, stimuli = dataset
    return eeg.load_epochs("broderick2018", stimuli=stimuli, root=root)


def test_contract_dims_coords_and_units(epochs, dataset):
    _, stimuli = dataset
    assert epochs.dims == ("subject", "word", "channel", "time")
    assert epochs.dtype == np.float32
    assert list(epochs["subject"].values) == ["1", "2"]
    assert epochs.sizes["channel"] == 128  # mastoids dropped
    assert epochs.attrs["sfreq_hz"] == 128.0 and epochs.attrs["dataset"] == "broderick2018"
    expected = [f"{s}:{i}" for s, i in zip(stimuli["sentence_id"], stimuli["word_index"])]
    assert list(epochs["word"].values) == expected
    assert list(epochs["word_text"].values) == list(stimuli["word"])
    assert epochs["time"].values[0] == pytest.approx(-0.2, abs=1 / 128)
    assert epochs["time"].values[-1] == pytest.approx(1.0, abs=1 / 128)
    for coord in ("ch_x", "ch_y", "ch_z"):
        assert np.all(np.abs(epochs[coord].values) < 0.2)  # metres, on a head
    amplitude = float(np.nanstd(epochs.values))
    assert 1e-7 < amplitude < 1e-4  # volts, not µV


def test_planted_response_recovered_at_latency_and_channel(epochs):
    evoked = epochs.mean(["subject", "word"], skipna=True)
    at_channel = evoked.sel(channel=PLANT_CHANNEL)
    peak_time = float(at_channel["time"][int(np.argmax(at_channel.values))])
    assert peak_time == pytest.approx(LATENCY_S, abs=1.5 / SFREQ)
    at_latency = np.abs(evoked.sel(time=LATENCY_S, method="nearest"))
    assert str(at_latency["channel"][int(np.argmax(at_latency.values))].values) == PLANT_CHANNEL
    assert float(at_channel.max()) == pytest.approx(8e-6, rel=0.35)  # 8 µV bump survives the 0.5-30 Hz band


def test_rejections_are_nan_and_counted(epochs, dataset):
    _, stimuli = dataset
    log = eeg.preprocessing_log(epochs)
    nan_words = epochs.isnull().all(["channel", "time"]).sum("word").values
    assert list(log["n_rejected"]) == list(nan_words)
    first_of_run = np.flatnonzero(stimuli["onset_s"].to_numpy() == 0.1)
    assert epochs.isel(word=first_of_run).isnull().all()
    assert list(log["n_out_of_bounds"]) == [1, 1]  # run 1 word at 0.1 s
    assert list(log["n_bad_segment"]) == [1, 1]  # run 2 word at 0.1 s crosses the run join
    spike_word = stimuli.index[(stimuli["audio_path"].str.endswith("audio1.wav"))][SPIKE_WORD]
    assert epochs.isel(word=spike_word).isnull().all()
    assert (log["n_peak_to_peak"] >= 1).all()
    assert (log["n_rejected"] < 0.3 * log["n_words"]).all()


def test_bad_channels_detected_interpolated_and_logged(epochs):
    log = eeg.preprocessing_log(epochs).set_index("subject")
    assert set(log.loc["1", "interpolated_channels"].split(",")) == {"B5", "C10", "D3"}
    assert log.loc["2", "interpolated_channels"] == ""
    assert log.loc["1", "n_nan_channels"] == 1
    rows = json.loads(epochs.attrs["preprocessing_log"])
    reasons = rows[0]["bad_channels"]
    assert reasons["B5"].startswith("flat") and reasons["C10"].startswith("high variance")
    assert reasons["D3"] == "missing samples (NaN)"
    assert not np.isnan(epochs.sel(subject="1", channel="B5").isel(word=5)).any()  # repaired, not NaN


def test_mastoid_reference_removes_common_signal(dataset):
    root, stimuli = dataset
    params = {"reference": "mastoids", "resample_hz": None, "reject_peak_to_peak_v": None}
    result = eeg.load_epochs("broderick2018", stimuli=stimuli, root=root, subjects=["2"], params=params)
    evoked = result.mean(["subject", "word"], skipna=True)
    peak = evoked.sel(channel=PLANT_CHANNEL)
    assert float(peak["time"][int(np.argmax(peak.values))]) == pytest.approx(LATENCY_S, abs=1.5 / SFREQ)
    # the 20 µV common 3 Hz oscillation is gone: residual SD is that of the 2 µV noise
    assert float(result.sel(channel="B20").std()) < 4e-6


def test_cache_is_reused_and_keyed_by_params(dataset, tmp_path, monkeypatch):
    root, stimuli = dataset
    first = eeg.load_epochs("broderick2018", stimuli=stimuli, root=root, subjects=["2"], cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    # the epochs and the continuous recording behind them (for the timing-preserving null), one key
    assert len(files) == 2 and files[0].startswith("epochs-broderick2018-2-") and files[0].endswith(".nc")
    assert files[1] == files[0].replace("epochs-", "recording-")

    def no_reading(*args, **kwargs):
        raise AssertionError("the reader ran although the cache was valid")

    monkeypatch.setattr(epochs_module, "read_subject", no_reading)
    second = eeg.load_epochs("broderick2018", stimuli=stimuli, root=root, subjects=["2"], cache_dir=tmp_path)
    np.testing.assert_array_equal(first.values, second.values)
    assert second.attrs["config_hash"] == first.attrs["config_hash"]
    recording = eeg.load_recordings("broderick2018", stimuli=stimuli, root=root, subjects=["2"], cache_dir=tmp_path)["2"]
    assert recording["onset_sample"].sizes["word"] == first.sizes["word"]
    with pytest.raises(AssertionError, match="reader ran"):
        eeg.load_epochs(
            "broderick2018", stimuli=stimuli, root=root, subjects=["2"], cache_dir=tmp_path, params={"h_freq_hz": 20.0}
        )


def test_word_mismatch_lists_the_words(dataset):
    root, stimuli = dataset
    wrong = stimuli.copy()
    wrong.loc[3, "word"] = "marlin"
    with pytest.raises(eeg.WordAlignmentError, match=r"stimulus word 'marlin' but EEG word 'w1x3'"):
        eeg.load_epochs("broderick2018", stimuli=wrong, root=root, subjects=["2"])
    shifted = stimuli.copy()
    shifted.loc[7, "onset_s"] += 0.2
    with pytest.raises(eeg.WordAlignmentError, match=r"no EEG word within 25 ms"):
        eeg.load_epochs("broderick2018", stimuli=shifted, root=root, subjects=["2"])
    fewer = stimuli.drop(index=[4]).reset_index(drop=True)
    with pytest.raises(eeg.WordAlignmentError, match=r"EEG word 'w1x4' \(audio1.wav @ .*\) has no stimulus word"):
        eeg.load_epochs("broderick2018", stimuli=fewer, root=root, subjects=["2"])
    lenient = eeg.load_epochs("broderick2018", stimuli=fewer, root=root, subjects=["2"], strict=False)
    assert lenient.sizes["word"] == len(fewer)


def _write_single(tmp_path, tweak):
    write_broderick(tmp_path, subjects=("1",), runs=(1, 2), tweak=tweak)
    return tmp_path


def test_channel_count_mismatch(tmp_path):
    def drop_channels(subject, run, payload, names):
        payload["eegData"] = payload["eegData"][:, :64]
        return payload

    root = _write_single(tmp_path, drop_channels)
    with pytest.raises(ValueError, match=r"Subject1_Run1.mat: eegData has shape \(3200, 64\); expected \(samples, 128\).*channel count mismatch"):
        broderick.read_subject(root, "1")


def test_sampling_rate_mismatch_between_runs(tmp_path):
    def other_rate(subject, run, payload, names):
        if run == 2:
            payload["fs"] = 512.0
        return payload

    root = _write_single(tmp_path, other_rate)
    with pytest.raises(ValueError, match=r"Subject1_Run2.mat: sampling rate 512 Hz differs from 128 Hz.*sampling-rate mismatch between runs"):
        broderick.read_subject(root, "1")


def test_missing_field_and_missing_files(tmp_path):
    def no_mastoids(subject, run, payload, names):
        payload.pop("mastoids")
        return payload

    root = _write_single(tmp_path, no_mastoids)
    with pytest.raises(ValueError, match=r"Subject1_Run1.mat lacks fields \['mastoids'\]"):
        broderick.read_subject(root, "1")
    with pytest.raises(FileNotFoundError, match=r"no EEG folder for Broderick subject '7'"):
        broderick.read_subject(root, "7")
    (root / "Stimuli" / "Text" / "Run2.mat").unlink()
    with pytest.raises((FileNotFoundError, ValueError), match=r"missing file .*Run2.mat|lacks fields"):
        broderick.read_subject(root, "1")


def test_non_monotonic_onsets(tmp_path):
    write_broderick(tmp_path, subjects=("1",), runs=(1,))
    path = tmp_path / "Stimuli" / "Text" / "Run1.mat"
    mat = scipy.io.loadmat(path)
    onsets = mat["onset_time"].copy()
    onsets[[4, 5]] = onsets[[5, 4]]
    scipy.io.savemat(path, {"wordVec": mat["wordVec"], "onset_time": onsets, "offset_time": mat["offset_time"]})
    with pytest.raises(ValueError, match=r"Run1.mat: word onsets are not monotonic: row 5 starts at"):
        broderick.read_subject(tmp_path, "1")


def test_all_channels_broken_is_a_clear_error(tmp_path):
    def wreck(subject, run, payload, names):
        payload["eegData"][:, :60] = 0.0
        return payload

    write_broderick(tmp_path, subjects=("1",), runs=(1,), tweak=wreck)
    tables = {1: broderick.read_words(tmp_path, 1)}
    with pytest.raises(ValueError, match=r"broderick2018 subject 1: 60 of 128 channels are bad .*raise max_bad_fraction"):
        eeg.load_epochs("broderick2018", stimuli=stimulus_table(tables), root=tmp_path)
