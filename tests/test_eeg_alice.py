"""Alice-format (BrainVision + AliceChapterOne-EEG.csv) reader and epochs on small planted data."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest

from hearlike import eeg
from hearlike.eeg.datasets import alice

SFREQ = 500.0
N_SEGMENTS = 12
SEGMENT_S = 7.0
LATENCY_S = 0.3
PLANT_CHANNEL = "5"

# pybv notes that the misc audio channel AUD has no voltage unit; that is what the real files hold
pytestmark = pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units")


def write_alice(root, *, subjects=("S01",), seed=1, drop_trigger=None, drop_channel=None):
    """BrainVision recordings (via mne.export / pybv) with segment triggers, plus the word csv."""
    rng = np.random.default_rng(seed)
    rows = []
    for segment in range(1, N_SEGMENTS + 1):
        t, position, sentence = 0.4, 1, 1
        while t < SEGMENT_S - 1.3:
            rows.append(
                {"Word": f"s{segment}w{len(rows)}", "Segment": segment, "onset": round(t, 4), "offset": round(t + 0.25, 4),
                 "Order": len(rows) + 1, "Position": position, "Sentence": sentence + 100 * segment, "LogFreq": 5.0}
            )
            position += 1
            if position > 4:
                position, sentence = 1, sentence + 1
            t += rng.uniform(0.5, 0.8)
    table = pd.DataFrame(rows)
    table.to_csv(root / "AliceChapterOne-EEG.csv", index=False)
    montage = mne.channels.make_standard_montage("easycap-M10")
    names = montage.ch_names + ["VEOG", "AUD"]
    for subject in subjects:
        gaps = rng.uniform(1.0, 2.0, N_SEGMENTS)
        starts = np.cumsum(gaps + SEGMENT_S) - SEGMENT_S  # seconds, not on the sample grid
        n_times = int((starts[-1] + SEGMENT_S + 1.0) * SFREQ)
        data = rng.normal(0, 2e-6, (len(names), n_times)) * np.exp(rng.normal(0, 0.25, (len(names), 1)))
        t = np.arange(n_times) / SFREQ
        word_times = starts[table["Segment"].to_numpy() - 1] + table["onset"].to_numpy()
        plant = np.zeros(n_times)
        for c in word_times + LATENCY_S:
            sel = np.abs(t - c) < 0.15
            plant[sel] += np.exp(-0.5 * ((t[sel] - c) / 0.03) ** 2)
        data[names.index(PLANT_CHANNEL)] += 6e-6 * plant
        info = mne.create_info(names, SFREQ, ["eeg"] * 61 + ["eog", "misc"])
        raw = mne.io.RawArray(data, info, verbose="error")
        descriptions = [f"Stimulus/S{k:>3d}" for k in range(1, N_SEGMENTS + 1)]
        keep = [k for k in range(N_SEGMENTS) if k + 1 != drop_trigger]
        raw.set_annotations(mne.Annotations(starts[keep], [0.0] * len(keep), [descriptions[k] for k in keep]))
        if drop_channel is not None:
            raw.drop_channels([drop_channel])
        mne.export.export_raw(root / f"{subject}.vhdr", raw, fmt="brainvision", overwrite=True, verbose="error")
    return table


def stimulus_table(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sentence_id": [f"alice-{s:04d}" for s in table["Sentence"]],
            "word_index": table["Position"] - 1,
            "word": table["Word"],
            "onset_s": table["onset"],
            "offset_s": table["offset"],
            "audio_path": [f"audio/DownTheRabbitHoleFinal_SoundFile{s}.wav" for s in table["Segment"]],
            "sentence_text": "",
        }
    ).sort_values(["sentence_id", "word_index"], ignore_index=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("alice")
    table = write_alice(root, subjects=("S01", "S02"))
    return root, stimulus_table(table)


def test_reader_places_words_at_segment_triggers(dataset):
    root, _ = dataset
    raw, words = alice.read_subject(root, "S01")
    assert raw.info["sfreq"] == SFREQ
    assert raw.get_channel_types(["VEOG", "AUD", "1"]) == ["eog", "misc", "eeg"]
    onsets = alice.segment_onsets(raw)
    assert sorted(onsets) == list(range(1, 13))
    np.testing.assert_allclose(words["time_s"], words["segment"].map(onsets) + words["onset_s"])
    assert words["audio_file"].iat[0] == "DownTheRabbitHoleFinal_SoundFile1.wav"
    assert eeg.list_subjects("alice2019", root=root) == ["S01", "S02"]


def test_planted_response_recovered_after_resampling(dataset):
    root, stimuli = dataset
    epochs = eeg.load_epochs("alice2019", stimuli=stimuli, root=root)
    assert epochs.dims == ("subject", "word", "channel", "time")
    assert epochs.attrs["sfreq_hz"] == 128.0 and epochs.sizes["channel"] == 61
    assert list(epochs["subject"].values) == ["S01", "S02"]
    evoked = epochs.mean(["subject", "word"], skipna=True)
    trace = evoked.sel(channel=PLANT_CHANNEL).values
    assert float(evoked["time"][int(np.argmax(trace))]) == pytest.approx(LATENCY_S, abs=1.5 / 128)
    at_latency = np.abs(evoked.sel(time=LATENCY_S, method="nearest").values)
    assert str(evoked["channel"][int(np.argmax(at_latency))].values) == PLANT_CHANNEL
    log = eeg.preprocessing_log(epochs)
    assert (log["n_rejected"] == 0).all() and (log["interpolated_channels"] == "").all()


def test_missing_segment_trigger_is_named(tmp_path):
    write_alice(tmp_path, drop_trigger=7)
    with pytest.raises(ValueError, match=r"S01.vhdr: no trigger for audio segments \[7\]"):
        alice.read_subject(tmp_path, "S01")


def test_missing_channel_is_named(tmp_path):
    write_alice(tmp_path, drop_channel="12")
    with pytest.raises(ValueError, match=r"S01.vhdr: EEG channels \['12'\] are missing \(channel count mismatch: found 60"):
        alice.read_subject(tmp_path, "S01")


def test_word_table_errors(tmp_path):
    table = write_alice(tmp_path)
    path = tmp_path / "AliceChapterOne-EEG.csv"
    table.drop(columns=["Segment"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"AliceChapterOne-EEG.csv lacks columns \['Segment'\]"):
        alice.read_subject(tmp_path, "S01")
    swapped = table.copy()
    swapped.loc[[2, 3], "onset"] = swapped.loc[[3, 2], "onset"].to_numpy()
    swapped.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"AliceChapterOne-EEG.csv \(Segment 1\): word onsets are not monotonic"):
        alice.read_subject(tmp_path, "S01")
    path.unlink()
    with pytest.raises(FileNotFoundError, match=r"missing word table .*AliceChapterOne-EEG.csv"):
        alice.read_subject(tmp_path, "S01")
    with pytest.raises(FileNotFoundError, match=r"missing BrainVision header .*S09.vhdr"):
        alice.read_subject(tmp_path, "9")
