"""Bad EEG inputs end in a clear error or a WARNING that names the file and the count, never silently.

Each case breaks one thing in a tiny BIDS recording (16 channels, 256 Hz, 12 words) written by
``hearlike.eeg.write_bids_recording``, as the demo and any BIDS dataset are read.
"""

from __future__ import annotations

import logging
import shutil

import pandas as pd
import pytest
from test_eeg_bids import make_recording

from hearlike import eeg

N_WORDS = 12
EEG_DIR = ("sub-01", "eeg")
STEM = "sub-01_task-listening"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("bids")
    raw, words = make_recording(seed=3, n_sentences=3, words_per_sentence=4)
    eeg.write_bids_recording(raw, words, root=root, subject="01")
    stimuli = words.drop(columns="time_s").assign(onset_s=0.0, offset_s=0.2, audio_path="x.wav", sentence_text="")
    return root, stimuli


@pytest.fixture
def bids(pristine, tmp_path):
    """A fresh copy of the recording to break, its eeg/ folder and the stimulus table."""
    root, stimuli = pristine
    copy = tmp_path / "bids"
    shutil.copytree(root, copy)
    return copy, copy.joinpath(*EEG_DIR), stimuli


def _warnings(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


def test_the_intact_recording_reads_without_warnings(bids, caplog):
    root, _, stimuli = bids
    with caplog.at_level(logging.INFO, logger="hearlike"):
        epochs = eeg.load_epochs("bids", stimuli=stimuli, root=root)
    assert epochs.sizes["word"] == N_WORDS and not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_subject_without_a_usable_epoch_is_an_error(bids):
    root, folder, stimuli = bids
    with pytest.raises(ValueError) as info:
        eeg.load_epochs("bids", stimuli=stimuli, root=root, params={"reject_peak_to_peak_v": 1e-9})
    message = str(info.value)
    assert message.startswith(f"bids subject 01: none of the {N_WORDS} word epochs is usable (")
    assert f"{folder / STEM}_eeg.eeg" in message and f"{folder / STEM}_events.tsv" in message
    assert (f"0 outside the recording, 0 in BAD segments, {N_WORDS} over the peak-to-peak limit of 1e-09 V. "
            "Check the recording and its word times, raise reject_peak_to_peak_v") in message  # fmt: skip


def test_header_sampling_rate_contradicting_event_samples_is_an_error(bids):
    root, folder, stimuli = bids
    header = folder / f"{STEM}_eeg.vhdr"
    header.write_text(header.read_text().replace("SamplingInterval=3906.25", "SamplingInterval=2000"))  # 500 Hz
    with pytest.raises(ValueError) as info:
        eeg.load_epochs("bids", stimuli=stimuli, root=root)
    assert str(info.value) == (
        f"{folder / STEM}_events.tsv: the 'sample' column contradicts the sampling rate 500 Hz of {header}: "
        f"{N_WORDS - 1} of {N_WORDS} word rows are more than one sample away from onset x 500 Hz (the samples "
        f"imply 256 Hz); fix the header's sampling rate (BrainVision: SamplingInterval, in µs) or the events file"
    )


def test_truncated_eeg_file_is_an_error(bids):
    root, folder, stimuli = bids
    data = folder / f"{STEM}_eeg.eeg"
    payload = data.read_bytes()
    data.write_bytes(payload[: len(payload) - 7])  # cut inside a sample
    with pytest.raises(ValueError) as info:
        eeg.load_epochs("bids", stimuli=stimuli, root=root)
    assert str(info.value) == (
        f"{data} is truncated or corrupt: its {len(payload) - 7} bytes are not a whole number of samples of "
        f"16 channels x 4 bytes (IEEE_FLOAT_32, 64 bytes a sample; 57 bytes left over); copy the file again "
        f"from the source"
    )


def test_eeg_file_cut_at_a_sample_boundary_warns_with_the_count(bids, caplog):
    root, folder, stimuli = bids
    data = folder / f"{STEM}_eeg.eeg"
    payload = data.read_bytes()
    frame = 16 * 4
    n_samples = int(len(payload) // frame * 0.6)
    data.write_bytes(payload[: n_samples * frame])  # 60 % of the samples, no partial one
    onsets_s = pd.read_csv(folder / f"{STEM}_events.tsv", sep="\t")["onset"]
    late = int((onsets_s > n_samples / 256.0).sum())
    assert 0 < late < N_WORDS
    with caplog.at_level(logging.INFO, logger="hearlike"):
        epochs = eeg.load_epochs("bids", stimuli=stimuli, root=root)
    (record,) = _warnings(caplog, "word onsets lie after the end of the recording")
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"bids subject 01: {late} of {N_WORDS} word onsets lie after the end")
    assert f"{data}" in record.getMessage() and "is the EEG file truncated?" in record.getMessage()
    assert int(epochs.isel(subject=0).isnull().all(["channel", "time"]).sum()) >= late


def test_unsorted_bids_onsets_warn_with_file_and_count(bids, caplog):
    root, folder, stimuli = bids
    events_tsv = folder / f"{STEM}_events.tsv"
    events = pd.read_csv(events_tsv, sep="\t", dtype=str, keep_default_na=False)
    events.iloc[[1, 0, 2, 3, 4, 5, 7, 6, 8, 9, 10, 11]].to_csv(events_tsv, sep="\t", index=False)
    with caplog.at_level(logging.INFO, logger="hearlike"):
        epochs = eeg.load_epochs("bids", stimuli=stimuli, root=root)
    (record,) = _warnings(caplog, "not sorted by onset")
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"{events_tsv}: 2 of {N_WORDS} word rows start earlier than the row before")
    assert epochs.sizes["word"] == N_WORDS  # matched by key: the words are still where they belong
