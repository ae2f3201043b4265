"""Stimulus tables of Broderick / Alice built from small files in their published formats.

The fake datasets follow tests/test_eeg_broderick.py and tests/test_eeg_alice.py (copied, reduced
to what the tables need), with planted pauses and sentence numbers whose segmentation is known.
"""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
import scipy.io
import soundfile as sf
import torch

from hearlike import eeg
from hearlike.eeg import stimulus_table, write_stimulus_table
from hearlike.eeg.datasets.broderick import read_words as read_broderick_words, segment_at_pauses
from hearlike.stimuli import load_stimuli

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units")

WORD_S, GAP_S, PAUSE_S, NEAR_PAUSE_S = 0.25, 0.1, 0.6, 0.25

# Broderick runs as planted sentences: (words, index in the sentence followed by a near-pause or None)
# and the units the default segmentation (pause 0.3 s, 6..20 words) must give:
# run 1: 8 | 12 | 26 words without a pause, longest gap after word 15 -> 15 + 11 | 4 + 7 (4 < min_words)
RUNS = {1: [(8, None), (12, None), (26, 14), (4, None), (7, None)], 2: [(6, None), (6, None), (10, None), (9, None)]}
EXPECTED_UNITS = {1: [8, 12, 15, 11, 11], 2: [6, 6, 10, 9]}
BRODERICK_SFREQ, BRODERICK_RUN_S, AUDIO_RATE = 128.0, 25.0, 16000


def _planted_times(sentences, start_s=0.5):
    onsets, t = [], start_s
    for k, (n_words, near) in enumerate(sentences):
        for i in range(n_words):
            onsets.append(t)
            last = i == n_words - 1
            t += WORD_S + (PAUSE_S if last else NEAR_PAUSE_S if i == near else GAP_S)
    onsets = np.round(np.array(onsets), 4)
    return onsets, onsets + WORD_S


def write_broderick(root, *, subjects=("1",), audio_s=BRODERICK_RUN_S, seed=0):
    """Stimuli/Text/Run{R}.mat, Stimuli/Audio/audio{R}.wav and EEG/Subject{N}/Subject{N}_Run{R}.mat."""
    rng = np.random.default_rng(seed)
    n_times = int(BRODERICK_RUN_S * BRODERICK_SFREQ)
    for run, sentences in RUNS.items():
        onsets, offsets = _planted_times(sentences)
        words = [f"w{run}x{i}" for i in range(len(onsets))]
        (root / "Stimuli" / "Text").mkdir(parents=True, exist_ok=True)
        (root / "Stimuli" / "Audio").mkdir(parents=True, exist_ok=True)
        cell = np.empty((len(words), 1), dtype=object)
        cell[:, 0] = words
        scipy.io.savemat(root / "Stimuli" / "Text" / f"Run{run}.mat",
                         {"wordVec": cell, "onset_time": onsets[:, None], "offset_time": offsets[:, None]})
        audio = 0.05 * rng.standard_normal(int(audio_s * AUDIO_RATE))
        sf.write(root / "Stimuli" / "Audio" / f"audio{run}.wav", audio.astype(np.float32), AUDIO_RATE)
        for subject in subjects:
            folder = root / "EEG" / f"Subject{subject}"
            folder.mkdir(parents=True, exist_ok=True)
            scipy.io.savemat(folder / f"Subject{subject}_Run{run}.mat",
                             {"eegData": rng.normal(0, 2.0, (n_times, 128)),
                              "mastoids": rng.normal(0, 1.0, (n_times, 2)), "fs": BRODERICK_SFREQ})
    return root


ALICE_SEGMENTS, ALICE_SEGMENT_S, ALICE_SFREQ = 12, 5.0, 500.0


def write_alice(root, *, seed=1, audio_dir="audio", span_segments=True):
    """S01.vhdr (BrainVision, segment triggers), AliceChapterOne-EEG.csv and the segment wavs.

    Sentences have 4 words; with ``span_segments`` the last sentence of segment 1 continues into
    segment 2 (same ``Sentence`` number), as a sentence read across an audio boundary.
    """
    rng = np.random.default_rng(seed)
    rows, sentence = [], 1
    for segment in range(1, ALICE_SEGMENTS + 1):
        t, position = 0.4, 1
        while t < ALICE_SEGMENT_S - 1.3:
            rows.append({"Word": f"s{segment}w{len(rows)}", "Segment": segment, "onset": round(t, 4),
                         "offset": round(t + 0.25, 4), "Order": len(rows) + 1, "Position": position,
                         "Sentence": sentence, "LogFreq": 5.0})
            position += 1
            if position > 4:
                position, sentence = 1, sentence + 1
            t += rng.uniform(0.5, 0.8)
        if position > 1 and not (span_segments and segment == 1):
            sentence += 1  # segments end sentences, except a planted one spanning segments 1 and 2
    table = pd.DataFrame(rows)
    table.to_csv(root / "AliceChapterOne-EEG.csv", index=False)
    (root / audio_dir).mkdir(exist_ok=True)
    for segment in range(1, ALICE_SEGMENTS + 1):
        sf.write(root / audio_dir / f"DownTheRabbitHoleFinal_SoundFile{segment}.wav",
                 np.zeros(int(ALICE_SEGMENT_S * 8000), np.float32), 8000)
    montage = mne.channels.make_standard_montage("easycap-M10")
    names = montage.ch_names + ["VEOG", "AUD"]
    starts = np.cumsum(rng.uniform(1.0, 2.0, ALICE_SEGMENTS) + ALICE_SEGMENT_S) - ALICE_SEGMENT_S
    n_times = int((starts[-1] + ALICE_SEGMENT_S + 1.0) * ALICE_SFREQ)
    raw = mne.io.RawArray(rng.normal(0, 2e-6, (len(names), n_times)),
                          mne.create_info(names, ALICE_SFREQ, ["eeg"] * 61 + ["eog", "misc"]), verbose="error")
    raw.set_annotations(mne.Annotations(starts, [0.0] * ALICE_SEGMENTS,
                                        [f"Stimulus/S{k:>3d}" for k in range(1, ALICE_SEGMENTS + 1)]))
    mne.export.export_raw(root / "S01.vhdr", raw, fmt="brainvision", overwrite=True, verbose="error")
    return table


@pytest.fixture(scope="module")
def broderick(tmp_path_factory):
    return write_broderick(tmp_path_factory.mktemp("broderick"))


@pytest.fixture(scope="module")
def alice(tmp_path_factory):
    root = tmp_path_factory.mktemp("alice")
    return root, write_alice(root)


# ----------------------------------------------------------------------------------------------
# segmentation
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", list(RUNS))
def test_segmentation_finds_planted_units(run):
    onsets, offsets = _planted_times(RUNS[run])
    units = segment_at_pauses(onsets, offsets)
    assert np.bincount(units).tolist() == EXPECTED_UNITS[run]
    assert np.all(np.diff(units) >= 0)


def test_segmentation_bounds_and_determinism():
    rng = np.random.default_rng(3)
    onsets = np.cumsum(rng.uniform(0.2, 0.9, 500))
    offsets = onsets + 0.18
    for min_words, max_words, pause in ((6, 20, 0.3), (3, 8, 0.5), (1, 1, 0.3)):
        units = segment_at_pauses(onsets, offsets, pause_s=pause, min_words=min_words, max_words=max_words)
        sizes = np.bincount(units)
        assert sizes.min() >= min_words and sizes.max() <= max_words
        np.testing.assert_array_equal(units, segment_at_pauses(onsets, offsets, pause_s=pause, min_words=min_words,
                                                               max_words=max_words))
        # each unit ends at its first admissible pause; without one, at its longest admissible gap
        gaps, n = onsets[1:] - offsets[:-1], len(onsets)
        for end in np.flatnonzero(np.diff(units)):
            start = int(np.flatnonzero(units == units[end])[0])
            admissible = gaps[start + min_words - 1:min(start + max_words - 1, n - 1 - min_words) + 1]
            chosen = end - (start + min_words - 1)
            assert not (admissible[:chosen] >= pause).any()
            assert admissible[chosen] >= pause or admissible[chosen] == admissible.max()
    assert segment_at_pauses([0.0, 1.0], [0.5, 1.5]).tolist() == [0, 0]  # shorter than min_words: one unit
    with pytest.raises(ValueError, match=r"max_words >= 2 \* min_words - 1"):
        segment_at_pauses(onsets, offsets, min_words=6, max_words=10)


# ----------------------------------------------------------------------------------------------
# Broderick
# ----------------------------------------------------------------------------------------------
def test_broderick_table_contract(broderick):
    table = stimulus_table("broderick2018", root=broderick)
    assert list(table.columns) == ["sentence_id", "word_index", "word", "onset_s", "offset_s", "audio_path",
                                   "sentence_text"]
    sizes = table.groupby("sentence_id", sort=False).size()
    assert sizes.tolist() == EXPECTED_UNITS[1] + EXPECTED_UNITS[2]
    assert list(sizes.index[:3]) == ["run01-s000", "run01-s001", "run01-s002"] and sizes.index[-1] == "run02-s003"
    for run in RUNS:  # words and times are the .mat file's, in spoken order, audio of the run
        rows = table[table.sentence_id.str.startswith(f"run{run:02d}-")]
        words = read_broderick_words(broderick, run)
        assert rows.word.tolist() == words.word.tolist()
        np.testing.assert_array_equal(rows.onset_s, words.onset_s)
        np.testing.assert_array_equal(rows.offset_s, words.offset_s)
        assert set(rows.audio_path) == {f"Stimuli/Audio/audio{run}.wav"}
    for sid, rows in table.groupby("sentence_id"):
        assert rows.word_index.tolist() == list(range(len(rows)))
        assert set(rows.sentence_text) == {" ".join(rows.word)}
    again = stimulus_table("broderick2018", root=broderick)
    pd.testing.assert_frame_equal(table, again)
    finer = stimulus_table("broderick2018", root=broderick, pause_s=0.2, min_words=3, max_words=8)
    assert finer.sentence_id.nunique() > table.sentence_id.nunique()


def test_broderick_table_aligns_with_epochs(broderick):
    table = stimulus_table("broderick2018", root=broderick)
    epochs = eeg.load_epochs("broderick2018", stimuli=table, root=broderick)  # strict: one to one
    assert epochs.sizes["word"] == len(table)
    assert list(epochs["word"].values) == [f"{s}:{i}" for s, i in zip(table.sentence_id, table.word_index)]
    assert list(epochs["word_text"].values) == table.word.tolist()
    assert np.isfinite(epochs.isel(subject=0, word=slice(1, 40)).values).all()


def test_write_table_for_the_pipeline(broderick, tmp_path):
    path = write_stimulus_table("broderick2018", root=broderick)
    assert path == broderick / "stimuli.tsv"
    # the pipeline reads it with data_root: <root>, stimuli_file: stimuli.tsv (data_root / stimuli_file)
    written = load_stimuli(path, check_audio=True)
    pd.testing.assert_frame_equal(written, stimulus_table("broderick2018", root=broderick), check_exact=False,
                                  atol=1e-6)
    elsewhere = write_stimulus_table("broderick2018", root=broderick, out=tmp_path / "tables")
    moved = load_stimuli(elsewhere, check_audio=True)  # audio paths rewritten relative to the new folder
    assert elsewhere == tmp_path / "tables" / "stimuli.tsv"
    assert (elsewhere.parent / moved.audio_path.iat[0]).resolve() == (broderick / "Stimuli/Audio/audio1.wav").resolve()


def test_extraction_crops_sentences_out_of_long_runs(tmp_path):
    """A run longer than the model's 30 s input: whole files are refused, cropped sentences run."""
    from hearlike.models import extract_states, save_tiny

    root = write_broderick(tmp_path / "data", subjects=(), audio_s=31.0)
    table = stimulus_table("broderick2018", root=root)
    first = table[table.sentence_id.isin(["run01-s000", "run02-s001"])]
    model = save_tiny("whisper", tmp_path / "whisper", seed=0)
    options = dict(stimuli_root=root, model_path=model, batch_size=2)
    with pytest.raises(ValueError, match=r"gives 31.0 s of audio.*accepts at most 30 s"):
        extract_states("whisper-large-v3-encoder", first, cache_dir=tmp_path / "a", segment_pad_s=None, **options)
    states = extract_states("whisper-large-v3-encoder", first, cache_dir=tmp_path / "b", **options)
    assert states.sizes["word"] == len(first) and np.isfinite(states["encoder"].values).all()


def test_broderick_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no Run\{R\}.mat word files in .*Stimuli/Text"):
        stimulus_table("broderick2018", root=tmp_path)
    write_broderick(tmp_path, subjects=())
    (tmp_path / "Stimuli" / "Audio" / "audio2.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"names audio file 'Stimuli/Audio/audio2.wav', which does not exist"):
        stimulus_table("broderick2018", root=tmp_path)
    unchecked = stimulus_table("broderick2018", root=tmp_path, check_audio=False)
    assert len(unchecked) == sum(EXPECTED_UNITS[1] + EXPECTED_UNITS[2])
    with pytest.raises(ValueError, match=r"dataset 'bids' .*has no published word table"):
        stimulus_table("bids", root=tmp_path)


# ----------------------------------------------------------------------------------------------
# Alice
# ----------------------------------------------------------------------------------------------
def test_alice_table_follows_sentence_column(alice):
    root, csv = alice
    table = stimulus_table("alice2019", root=root)
    assert len(table) == len(csv)
    assert table.audio_path.iat[0] == "audio/DownTheRabbitHoleFinal_SoundFile1.wav"
    segment = table.audio_path.str.extract(r"SoundFile(\d+)\.wav$")[0].astype(int)
    spoken = table.assign(segment=segment).sort_values(["segment", "onset_s"])
    assert spoken.sentence_id.is_monotonic_increasing  # ids sort in spoken order
    csv_sentence = {(r.Segment, r.onset): r.Sentence for r in csv.itertuples()}
    for sid, rows in table.groupby("sentence_id"):
        segment = int(sid[3:5])
        assert {csv_sentence[(segment, onset)] for onset in rows.onset_s} == {int(sid.split("-s")[1])}
        assert rows.word_index.tolist() == list(range(len(rows)))
        assert set(rows.audio_path) == {f"audio/DownTheRabbitHoleFinal_SoundFile{segment}.wav"}
    spanning = int(csv[csv.Segment == 2].Sentence.iloc[0])
    assert spanning == int(csv[csv.Segment == 1].Sentence.iloc[-1])  # planted: read across segments 1 and 2
    assert {f"seg01-s{spanning:03d}", f"seg02-s{spanning:03d}"} <= set(table.sentence_id)


def test_alice_table_aligns_with_epochs(alice):
    root, _ = alice
    table = stimulus_table("alice2019", root=root)
    epochs = eeg.load_epochs("alice2019", stimuli=table, root=root)  # strict: one to one
    assert list(epochs["word"].values) == [f"{s}:{i}" for s, i in zip(table.sentence_id, table.word_index)]
    assert epochs.sizes["subject"] == 1 and np.isfinite(epochs.values).mean() > 0.9


def test_alice_errors(tmp_path):
    csv = write_alice(tmp_path, audio_dir=".")
    assert stimulus_table("alice2019", root=tmp_path).audio_path.iat[0] == "DownTheRabbitHoleFinal_SoundFile1.wav"
    csv.drop(columns=["Sentence"]).to_csv(tmp_path / "AliceChapterOne-EEG.csv", index=False)
    with pytest.raises(ValueError, match=r"AliceChapterOne-EEG.csv lacks the sentence column 'Sentence'"):
        stimulus_table("alice2019", root=tmp_path)
    broken = csv.copy()
    broken.loc[1, "Sentence"] = 99  # sentence 1 is interrupted by sentence 99
    broken.to_csv(tmp_path / "AliceChapterOne-EEG.csv", index=False)
    with pytest.raises(ValueError, match=r"sentence\(s\) \['seg01-s001'\] are not consecutive in time"):
        stimulus_table("alice2019", root=tmp_path)
