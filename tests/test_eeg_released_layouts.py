"""The four released layouts (Alice .mat and .vhdr, Broderick Dryad and OpenNeuro ds004408), written by
the fixture helpers and read back through the public loaders: every epoch sits on its planted onset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataset_fixtures import EXACT_EEG, PLANT, write_alice, write_bids_with_word_files, write_broderick
from hearlike import eeg
from hearlike.eeg.datasets import alice

pytestmark = pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units")

LAYOUTS = [("alice2019", "fieldtrip"), ("alice2019", "brainvision"), ("broderick2018", "dryad"),
           ("broderick2018", "openneuro")]


def write(dataset: str, form: str, root: Path, **options):
    if dataset == "alice2019":
        return write_alice(root, form=form, segment_s=3.0, **options)
    return write_broderick(root, form=form, run_s=7.0, **options)


def planted_samples(stimuli: pd.DataFrame, planted: pd.DataFrame) -> np.ndarray:
    """The planted sample of every stimulus word (same audio file, same onset)."""
    key = {(a, round(o, 4)): s for a, o, s in zip(planted["audio_file"], planted["onset_s"], planted["sample"])}
    return np.array([key[(Path(a).name, round(o, 4))] for a, o in zip(stimuli["audio_path"], stimuli["onset_s"])])


@pytest.mark.parametrize("dataset, form", LAYOUTS)
def test_epochs_sit_on_the_planted_onsets_to_the_sample(tmp_path, dataset, form):
    planted = write(dataset, form, tmp_path)
    stimuli = eeg.stimulus_table(dataset, root=tmp_path, check_audio=False)
    epochs = eeg.load_epochs(dataset, stimuli=stimuli, root=tmp_path, params=EXACT_EEG, subjects="all")
    recordings = eeg.load_recordings(dataset, stimuli=stimuli, root=tmp_path, params=EXACT_EEG, subjects="all")
    assert list(epochs["subject"].values) == sorted(planted)
    sfreq = epochs.attrs["sfreq_hz"]
    assert sfreq == {"fieldtrip": 500, "brainvision": 500, "dryad": 128, "openneuro": 512}[form]
    for subject, words in planted.items():
        expected = planted_samples(stimuli, words)
        found = recordings[subject]["onset_sample"].values
        assert np.abs(found - expected).max() <= 1, (subject, np.abs(found - expected).max())
        trace = epochs.sel(subject=subject, channel=PLANT[dataset]).values  # (word, time)
        assert np.isfinite(trace).all()
        peak_s = epochs["time"].values[np.argmax(trace, axis=1)]
        assert np.abs(peak_s).max() <= 1.0 / sfreq + 1e-9, f"{subject}: impulses at {np.unique(peak_s)} s"


def test_alice_fieldtrip_default_subjects_are_the_datasets_mat_use_list(tmp_path):
    write_alice(tmp_path, form="fieldtrip", subjects=("S01", "S02", "S03"), use=("S01", "S03"), segment_s=2.5)
    assert eeg.list_subjects("alice2019", root=tmp_path) == ["S01", "S02", "S03"]
    assert alice.paper_subjects(tmp_path) == ["S01", "S03"]
    assert eeg.resolve_subjects("alice2019", None, root=tmp_path) == ["S01", "S03"]
    assert eeg.resolve_subjects("alice2019", "paper", root=tmp_path) == ["S01", "S03"]
    assert eeg.resolve_subjects("alice2019", "all", root=tmp_path) == ["S01", "S02", "S03"]
    assert eeg.resolve_subjects("alice2019", ["S02"], root=tmp_path) == ["S02"]
    with pytest.raises(ValueError, match=r"subjects \['S07'\] of dataset 'alice2019' are not under .*subjects found"):
        eeg.resolve_subjects("alice2019", ["S07"], root=tmp_path)
    with pytest.raises(ValueError, match=r"no subject selection 'best'; named selections: \['all', 'paper'\]"):
        eeg.resolve_subjects("alice2019", "best", root=tmp_path)


def test_fieldtrip_struct_units_and_channels(tmp_path):
    planted = write_alice(tmp_path, form="fieldtrip", subjects=("S01",), segment_s=2.5)
    raw, words = alice.read_subject(tmp_path, "S01")
    assert raw.info["sfreq"] == 500.0 and len(raw.ch_names) == 62 and "29" not in raw.ch_names
    assert raw.get_channel_types(["VEOG", "AUD", "1"]) == ["eog", "misc", "eeg"]
    sample = int(planted["S01"]["sample"].iat[0])
    assert raw.get_data(picks=[PLANT["alice2019"]])[0, sample] == pytest.approx(40e-6, abs=5e-6)  # volts from µV
    np.testing.assert_allclose(words["time_s"] * 500, planted["S01"]["sample"], atol=0.5)


def test_runs_select_recordings_and_leave_other_words_unheard(tmp_path):
    planted = write_broderick(tmp_path, form="openneuro", subjects=("001",), runs=(1, 2), run_s=7.0)
    stimuli = eeg.stimulus_table("broderick2018", root=tmp_path, check_audio=False)
    epochs = eeg.load_epochs("broderick2018", stimuli=stimuli, root=tmp_path, params=EXACT_EEG, runs=[2])
    in_run2 = stimuli["audio_path"].str.endswith("audio02.wav").to_numpy()
    heard = np.isfinite(epochs.isel(subject=0).values).all(axis=(1, 2))
    np.testing.assert_array_equal(heard, in_run2)
    recording = eeg.load_recordings("broderick2018", stimuli=stimuli, root=tmp_path, params=EXACT_EEG, runs=[2])["001"]
    run2 = planted["001"][planted["001"]["audio"] == 2]
    first_run_samples = int(run2["sample"].min() - np.round(run2["onset_s"].min() * 512))
    np.testing.assert_allclose(recording["onset_sample"].values[in_run2],
                               planted_samples(stimuli[in_run2], run2) - first_run_samples, atol=1)
    with pytest.raises(FileNotFoundError, match=r"has no run\(s\) \[5\]; runs found: \[1, 2\]"):
        eeg.read_subject("broderick2018", "001", root=tmp_path, runs=[5])
    with pytest.raises(ValueError, match="dataset 'alice2019' has one recording per subject, no runs"):
        eeg.read_subject("alice2019", "S01", root=tmp_path, runs=[1])


def test_generic_bids_runs_with_per_stimulus_word_files(tmp_path):
    planted = write_bids_with_word_files(tmp_path, subjects=("01",), runs=(1, 2))["01"]
    raw, words = eeg.read_subject("bids", "01", root=tmp_path)
    assert list(words["audio_file"].unique()) == ["story1.wav", "story2.wav"] and words["run"].tolist()[-1] == 2
    assert set(raw.annotations.description) >= {"BAD boundary", "EDGE boundary"}  # the runs' join
    np.testing.assert_allclose(words["time_s"] * raw.info["sfreq"], planted["sample"], atol=0.5)
    stimuli = pd.DataFrame({"sentence_id": [f"{a}-{p // 4}" for a, p in zip(planted["audio"], planted.index)],
                            "word": planted["word"], "onset_s": planted["onset_s"], "offset_s": planted["offset_s"],
                            "audio_path": "stimuli/" + planted["audio_file"], "sentence_text": ""})  # fmt: skip
    stimuli["word_index"] = stimuli.groupby("sentence_id").cumcount()
    recording = eeg.load_recordings("bids", stimuli=stimuli, root=tmp_path, params=EXACT_EEG)["01"]
    np.testing.assert_array_equal(recording["onset_sample"].values, planted["sample"].to_numpy())
    _, run2 = eeg.read_subject("bids", "01", root=tmp_path, runs=[2])
    np.testing.assert_allclose(run2["onset_s"], planted.loc[planted["audio"] == 2, "onset_s"])
