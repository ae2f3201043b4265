"""hearlike.stimuli: the stimulus table contract and its validation messages."""

import re

import numpy as np
import pandas as pd
import pytest
import soundfile

from hearlike.stimuli import REQUIRED_COLUMNS, load_stimuli, write_stimuli


def _table():
    rows = []
    for sentence_id, words in (("s2", ["big", "dogs", "bark"]), ("s1", ["cats", "sleep", "all", "day"])):
        for i, word in enumerate(words):
            rows.append({"sentence_id": sentence_id, "word_index": i, "word": word, "onset_s": 0.3 * i,
                         "offset_s": 0.3 * i + 0.25, "audio_path": f"audio/{sentence_id}.wav",
                         "sentence_text": " ".join(words), "prosody": "normal"})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "audio").mkdir()
    for sentence_id in ("s1", "s2"):
        soundfile.write(tmp_path / "audio" / f"{sentence_id}.wav", np.zeros(16000, np.float32), 16000)
    return tmp_path


def _write_raw(table, path):
    table.to_csv(path, sep="\t", index=False)
    return path


def test_round_trip_sorts_and_types(folder):
    path = write_stimuli(_table(), folder / "stimuli.tsv")
    table = load_stimuli(path)
    assert list(table.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert table.sentence_id.tolist() == ["s1"] * 4 + ["s2"] * 3
    assert table.word_index.tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert table.word_index.dtype == np.int64 and table.onset_s.dtype == np.float64
    pd.testing.assert_frame_equal(table, load_stimuli(write_stimuli(table, folder / "again.tsv")))
    assert not list(folder.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_missing_column_is_named(folder):
    path = _write_raw(_table().drop(columns="offset_s"), folder / "stimuli.tsv")
    with pytest.raises(ValueError, match=re.escape(f"{path}: missing column(s) ['offset_s']")):
        load_stimuli(path)


def test_non_monotonic_onsets_name_the_line(folder):
    table = _table()
    table.loc[5, "onset_s"] = 0.1  # s1 word 2 (file line 7) now starts before s1 word 1 (0.3 s)
    path = _write_raw(table, folder / "stimuli.tsv")
    with pytest.raises(ValueError, match=re.escape(
        f"{path}: line 7 (sentence 's1', word_index 2) has onset_s=0.1, not after the previous "
        "word's onset 0.3"
    )):  # fmt: skip
        load_stimuli(path)


def test_offset_not_after_onset_names_the_line(folder):
    table = _table()
    table.loc[1, "offset_s"] = table.loc[1, "onset_s"]
    path = _write_raw(table, folder / "stimuli.tsv")
    with pytest.raises(ValueError, match=re.escape(
        f"{path}: line 3 (sentence 's2', word 'dogs') has offset_s=0.3 <= onset_s=0.3"
    )):  # fmt: skip
        load_stimuli(path)


def test_missing_audio_file_names_the_line_and_path(folder):
    (folder / "audio" / "s1.wav").unlink()
    path = _write_raw(_table(), folder / "stimuli.tsv")
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"{path}: line 5 names audio file 'audio/s1.wav', which does not exist under {folder}"
    )):  # fmt: skip
        load_stimuli(path)
    assert load_stimuli(path, check_audio=False).shape[0] == 7


def test_duplicated_word_names_both_lines(folder):
    table = pd.concat([_table(), _table().iloc[[1]]], ignore_index=True)
    path = _write_raw(table, folder / "stimuli.tsv")
    with pytest.raises(ValueError, match=re.escape(
        f"{path}: line 9 duplicates (sentence_id, word_index) = ('s2', 1) of line 3"
    )):  # fmt: skip
        load_stimuli(path)


def test_gap_in_word_index_and_bad_prosody(folder):
    table = _table()
    table.loc[2, "word_index"] = 5
    path = _write_raw(table, folder / "stimuli.tsv")
    with pytest.raises(ValueError, match=re.escape("sentence 's2' has word_index values [0, 1, 5]")):
        load_stimuli(path)
    table = _table()
    table.loc[0, "prosody"] = "sad"
    path = _write_raw(table, folder / "stimuli.tsv")
    with pytest.raises(ValueError, match=re.escape(f"{path}: line 2 has prosody='sad'")):
        load_stimuli(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="stimulus table /nonexistent/stimuli.tsv does not exist"):
        load_stimuli("/nonexistent/stimuli.tsv")
