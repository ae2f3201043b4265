"""Generic BIDS reader (the demo's code path): words from *_events.tsv, planted-response recovery."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest

from hearlike import eeg
from hearlike.eeg.datasets import bids

SFREQ = 256.0
CHANNELS = ["Fp1", "Fp2", "F3", "Fz", "F4", "T7", "C3", "Cz", "C4", "T8", "P3", "Pz", "P4", "O1", "Oz", "O2"]
LATENCY_S = 0.5
PLANT_CHANNEL = "Pz"
ARTIFACT_WORD = 9


def montage_1005():
    names = mne.channels.get_builtin_montages()
    return mne.channels.make_standard_montage("colin27_1005" if "colin27_1005" in names else "standard_1005")


def make_recording(seed: int, *, n_sentences: int = 10, words_per_sentence: int = 5):
    """A small raw (volts) with a planted word-locked response and its word table."""
    rng = np.random.default_rng(seed)
    rows, t = [], 1.0
    for s in range(n_sentences):
        for w in range(words_per_sentence):
            rows.append({"time_s": t, "sentence_id": f"demo-{s:03d}", "word_index": w, "word": f"word{s}_{w}"})
            t += rng.uniform(0.55, 0.8)
        t += 0.5
    words = pd.DataFrame(rows)
    n_times = int((t + 2.0) * SFREQ)
    data = rng.normal(0, 2e-6, (len(CHANNELS), n_times)) * np.exp(rng.normal(0, 0.25, (len(CHANNELS), 1)))
    times = np.arange(n_times) / SFREQ
    for onset in words["time_s"] + LATENCY_S:
        sel = np.abs(times - onset) < 0.15
        data[CHANNELS.index(PLANT_CHANNEL), sel] += 6e-6 * np.exp(-0.5 * ((times[sel] - onset) / 0.03) ** 2)
    artifact = int((words["time_s"].iat[ARTIFACT_WORD] + 0.6) * SFREQ)
    data[CHANNELS.index("Fz"), artifact : artifact + 4] += 300e-6
    raw = mne.io.RawArray(data, mne.create_info(CHANNELS, SFREQ, "eeg"), verbose="error")
    raw.set_montage(montage_1005())
    return raw, words


@pytest.fixture(scope="module")
def bids_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "bids"  # the demo keeps its BIDS tree in <data_root>/bids
    timings = {}
    for i, subject in enumerate(("01", "02")):  # same words, subject-specific timings
        raw, timings[subject] = make_recording(seed=i)
        eeg.write_bids_recording(raw, timings[subject], root=root, subject=subject, task="listening")
    return root, timings


def test_events_tsv_carries_word_columns(bids_root):
    root, timings = bids_root
    words = timings["01"]
    events = pd.read_csv(root / "sub-01" / "eeg" / "sub-01_task-listening_events.tsv", sep="\t")
    assert {"onset", "trial_type", "sentence_id", "word_index", "word"} <= set(events.columns)
    assert (events["trial_type"] == "word").sum() == len(words)
    raw, read_words = bids.read_subject(root, "01")
    np.testing.assert_allclose(read_words["time_s"], words["time_s"], atol=0.5 / SFREQ)
    assert list(read_words["word"]) == list(words["word"])
    assert eeg.list_subjects("bids", root=root) == ["01", "02"]


def test_planted_response_and_rejection(bids_root):
    root, timings = bids_root
    words = timings["01"]
    stimuli = words.drop(columns="time_s").assign(onset_s=0.0, offset_s=0.2, audio_path="x.wav", sentence_text="")
    epochs = eeg.load_epochs("bids", stimuli=stimuli, root=root)
    assert epochs.dims == ("subject", "word", "channel", "time")
    assert epochs.attrs["sfreq_hz"] == 128.0
    evoked = epochs.mean(["subject", "word"], skipna=True)
    trace = evoked.sel(channel=PLANT_CHANNEL).values
    assert float(evoked["time"][int(np.argmax(trace))]) == pytest.approx(LATENCY_S, abs=1.5 / 128)
    assert bool(epochs.isel(word=ARTIFACT_WORD).isnull().all())
    log = eeg.preprocessing_log(epochs)
    assert (log["n_peak_to_peak"] >= 1).all()
    nan_words = epochs.isnull().all(["channel", "time"]).sum("word").values
    assert list(log["n_rejected"]) == list(nan_words)
    assert int(nan_words.max()) <= 3  # the artifact's neighbours at most


def test_demo_name_uses_the_bids_reader(bids_root):
    root, timings = bids_root
    raw, demo_words = eeg.read_subject("demo", "02", root=root.parent)  # data_root holding bids/
    np.testing.assert_allclose(demo_words["time_s"], timings["02"]["time_s"], atol=0.5 / SFREQ)
    assert eeg.list_subjects("demo", root=root.parent) == ["01", "02"]


def test_key_mismatch_and_bad_events(bids_root, tmp_path):
    root, timings = bids_root
    stimuli = timings["01"].drop(columns="time_s")
    wrong = stimuli.copy()
    wrong.loc[0, "sentence_id"] = "demo-999"
    with pytest.raises(eeg.WordAlignmentError, match=r"demo-999:0 'word0_0': no EEG word event with this key"):
        eeg.load_epochs("bids", stimuli=wrong, root=root, subjects=["01"])
    events = pd.read_csv(root / "sub-01" / "eeg" / "sub-01_task-listening_events.tsv", sep="\t")
    broken = tmp_path / "sub-01_task-listening_events.tsv"
    events.drop(columns=["word_index"]).to_csv(broken, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"events.tsv lacks columns \['word_index'\]"):
        bids.read_words(broken)
    with pytest.raises(FileNotFoundError, match=r"no EEG recording for sub-07 task-listening"):
        bids.read_subject(root, "07")
