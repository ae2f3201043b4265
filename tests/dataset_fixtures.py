"""Fixture-sized copies of the EEG datasets in their exact released layouts (see hearlike/data/datasets.yml).

Each writer puts small recordings with planted word onsets on disk in one released form — Alice as
FieldTrip ``.mat`` (+ ``proc/`` trial definitions and ``datasets.mat``) or BrainVision, Broderick as
the Dryad ``.mat`` files or the OpenNeuro ds004408 BIDS tree with TextGrids — and returns where each
word was planted. Every word onset carries a unit impulse on channel ``PLANT[dataset]`` so that a
test can find it in the epochs to the sample.
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd
import scipy.io
import scipy.io.wavfile

from hearlike.eeg.datasets.textgrid import write_textgrid

AUDIO_HZ = 16000
IMPULSE_V = 40e-6
NOISE_V = 1e-6
#: the channel carrying the impulses
PLANT = {"alice2019": "5", "broderick2018": "A5"}
#: preprocessing that keeps every sample where it was: no filter, no resampling, no baseline
EXACT_EEG = {"l_freq_hz": None, "h_freq_hz": None, "resample_hz": None, "baseline_s": None,
             "reject_peak_to_peak_v": None, "bad_channel_z": 1e6, "tmin_s": -0.05, "tmax_s": 0.05}


def audio_words(n_audio: int, audio_s: float, *, seed: int) -> pd.DataFrame:
    """Words of ``n_audio`` audio files: ``audio`` (1-based), ``word``, ``onset_s``, ``offset_s``, ``position``, ``sentence``."""
    rng = np.random.default_rng(seed)
    rows = []
    for audio in range(1, n_audio + 1):
        t, i = 0.4, 0
        while t < audio_s - 1.2:
            rows.append({"audio": audio, "word": f"w{audio}n{i}", "onset_s": round(t, 4),
                         "offset_s": round(t + 0.25, 4), "position": i % 4, "sentence": i // 4})
            t += rng.uniform(0.5, 0.8)
            i += 1
    return pd.DataFrame(rows)


def _write_wavs(folder: Path, names: list[str], audio_s: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(audio_s * AUDIO_HZ)) / AUDIO_HZ
    for name in names:
        tone = 0.2 * np.sin(2 * np.pi * rng.uniform(150, 300) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
        scipy.io.wavfile.write(folder / name, AUDIO_HZ, (tone * 32767).astype(np.int16))


def _signal(names: list[str], n_times: int, samples: np.ndarray, plant: str, rng) -> np.ndarray:
    """Noise (volts) with a unit impulse of ``IMPULSE_V`` at ``samples`` on channel ``plant``."""
    data = rng.normal(0, NOISE_V, (len(names), n_times)) * np.exp(rng.normal(0, 0.2, (len(names), 1)))
    data[names.index(plant), samples] += IMPULSE_V
    return data


def _planted(words: pd.DataFrame, starts: np.ndarray, sfreq: float, audio_file) -> pd.DataFrame:
    """Each word's recording sample: its audio file's start sample plus its onset."""
    out = words.copy()
    out["audio_file"] = [audio_file(a) for a in out["audio"]]
    out["sample"] = starts[out["audio"].to_numpy() - 1] + np.round(out["onset_s"].to_numpy() * sfreq).astype(int)
    return out


# ------------------------------------------------------------------------------------------------
# Alice (Brennan & Hale 2019)
# ------------------------------------------------------------------------------------------------
ALICE_HZ = 500.0


def _alice_words(root: Path, n_segments: int, segment_s: float, seed: int, audio: bool) -> pd.DataFrame:
    words = audio_words(n_segments, segment_s, seed=seed)
    table = pd.DataFrame({"Word": words["word"], "Segment": words["audio"], "onset": words["onset_s"],
                          "offset": words["offset_s"], "Order": np.arange(1, len(words) + 1),
                          "Position": words["position"] + 1, "Sentence": words["sentence"] + 1000 * words["audio"],
                          "LogFreq": 5.0})  # fmt: skip
    table.to_csv(root / "AliceChapterOne-EEG.csv", index=False)
    if audio:
        _write_wavs(root / "audio", [f"DownTheRabbitHoleFinal_SoundFile{k}.wav" for k in range(1, n_segments + 1)],
                    segment_s, seed)
    return words


def _alice_starts(rng, n_segments: int, segment_s: float) -> tuple[np.ndarray, int]:
    gaps = rng.integers(int(0.5 * ALICE_HZ), int(1.5 * ALICE_HZ), n_segments)
    starts = np.cumsum(gaps + int(segment_s * ALICE_HZ)) - int(segment_s * ALICE_HZ)
    return starts, int(starts[-1] + (segment_s + 1.0) * ALICE_HZ)


def write_alice(root, *, form: str, subjects=("S01", "S02"), use=None, n_segments: int = 12,
                segment_s: float = 6.0, seed: int = 0, audio: bool = False) -> dict[str, pd.DataFrame]:
    """Alice as released: ``form="fieldtrip"`` (Deep Blue: ``S01.mat``, ``proc/S01.mat``, ``datasets.mat``)
    or ``form="brainvision"`` (``S01.vhdr/.vmrk/.eeg`` with segment triggers).

    ``use`` (default: all subjects) is written as the ``datasets.mat`` cell array of file names.
    Returns ``{subject: planted words}`` with ``audio_file``, ``onset_s`` and ``sample`` (0-based).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = _alice_words(root, n_segments, segment_s, seed, audio)
    montage = mne.channels.make_standard_montage("easycap-M10").ch_names[:61]
    planted = {}
    for subject in subjects:
        starts, n_times = _alice_starts(rng, n_segments, segment_s)
        found = _planted(words, starts, ALICE_HZ, lambda a: f"DownTheRabbitHoleFinal_SoundFile{a}.wav")
        eeg = [ch for ch in montage if ch != "29"] if form == "fieldtrip" else montage
        names = eeg + ["VEOG", "AUD"]
        data = _signal(names, n_times, found["sample"].to_numpy(), PLANT["alice2019"], rng)
        if form == "fieldtrip":
            _write_fieldtrip(root, subject, data, names, found)
        elif form == "brainvision":
            info = mne.create_info(names, ALICE_HZ, ["eeg"] * len(eeg) + ["eog", "misc"])
            raw = mne.io.RawArray(data, info, verbose="error")
            raw.set_annotations(mne.Annotations(starts / ALICE_HZ, [0.0] * n_segments,
                                                [f"Stimulus/S{k:>3d}" for k in range(1, n_segments + 1)]))
            mne.export.export_raw(root / f"{subject}.vhdr", raw, fmt="brainvision", overwrite=True, verbose="error")
        else:
            raise ValueError(form)
        planted[subject] = found
    if form == "fieldtrip":
        names = np.empty((1, len(use if use is not None else subjects)), dtype=object)
        names[0, :] = [f"{s}.mat" for s in (use if use is not None else subjects)]
        scipy.io.savemat(root / "datasets.mat", {"use": names})
    return planted


def _write_fieldtrip(root: Path, subject: str, data: np.ndarray, names: list[str], found: pd.DataFrame) -> None:
    """``S01.mat`` (FieldTrip raw struct, µV) and ``proc/S01.mat`` (trl: one row per word)."""
    n_times = data.shape[1]
    trial = np.empty((1, 1), dtype=object)
    trial[0, 0] = data * 1e6
    time = np.empty((1, 1), dtype=object)
    time[0, 0] = np.arange(n_times) / ALICE_HZ
    label = np.array([[n] for n in names], dtype=object)
    hdr = {"Fs": ALICE_HZ, "nChans": len(names), "label": label,
           "chanunit": np.array([["uV"]] * len(names), dtype=object)}
    raw = {"hdr": hdr, "label": label, "time": time, "trial": trial, "fsample": ALICE_HZ,
           "sampleinfo": np.array([[1, n_times]], dtype=float), "cfg": {"dataset": f"{subject}.vhdr"}}
    scipy.io.savemat(root / f"{subject}.mat", {"raw": raw})
    offset = -150
    begin = found["sample"].to_numpy() + 1 + offset  # 1-based sample of the word, minus 150 before it
    trl = np.column_stack([begin, begin + 650, np.full(len(found), offset), found["audio"], found["onset_s"],
                           np.arange(1, len(found) + 1)]).astype(float)  # fmt: skip
    (root / "proc").mkdir(exist_ok=True)
    scipy.io.savemat(root / "proc" / f"{subject}.mat", {"proc": {"subject": subject, "trl": trl}})


# ------------------------------------------------------------------------------------------------
# Broderick et al. 2018
# ------------------------------------------------------------------------------------------------
def _broderick_words(root: Path, runs, run_s: float, seed: int, form: str, audio: bool) -> pd.DataFrame:
    words = audio_words(max(runs), run_s, seed=seed)
    words = words[words["audio"].isin(runs)].reset_index(drop=True)
    for run in runs:
        mine = words[words["audio"] == run]
        if form == "dryad":
            (root / "Stimuli" / "Text").mkdir(parents=True, exist_ok=True)
            vec = np.empty((len(mine), 1), dtype=object)
            vec[:, 0] = list(mine["word"])
            scipy.io.savemat(root / "Stimuli" / "Text" / f"Run{run}.mat",
                             {"wordVec": vec, "onset_time": mine["onset_s"].to_numpy()[:, None],
                              "offset_time": mine["offset_s"].to_numpy()[:, None]})  # fmt: skip
        else:
            (root / "stimuli").mkdir(parents=True, exist_ok=True)
            tier = pd.DataFrame({"start_s": mine["onset_s"], "stop_s": mine["offset_s"], "label": mine["word"]})
            phones = pd.DataFrame({"start_s": mine["onset_s"], "stop_s": mine["onset_s"] + 0.1, "label": "AH0"})
            write_textgrid(root / "stimuli" / f"audio{run:02d}.TextGrid", {"words": tier, "phones": phones},
                           xmax=run_s)
    if audio:
        folder, pattern = (root / "Stimuli" / "Audio", "audio{}.wav") if form == "dryad" else (root / "stimuli",
                                                                                                "audio{:02d}.wav")
        _write_wavs(folder, [pattern.format(r) for r in runs], run_s, seed)
    return words


def write_broderick(root, *, form: str, subjects=None, runs=(1, 2), run_s: float = 8.0, seed: int = 0,
                    audio: bool = False) -> dict[str, pd.DataFrame]:
    """Broderick as released: ``form="dryad"`` (``EEG/Subject1/Subject1_Run1.mat``, 128 Hz, µV,
    ``Stimuli/Text/Run1.mat``) or ``form="openneuro"`` (ds004408: ``sub-001/eeg/..._run-01_eeg.vhdr``
    at 512 Hz without events, ``stimuli/audio01.TextGrid``).

    Each run starts its audio at its first sample. Returns ``{subject: planted words}`` with
    ``sample`` counted in the concatenation of the subject's runs.
    """
    import mne_bids

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    subjects = subjects or (("1", "2") if form == "dryad" else ("001", "002"))
    rng = np.random.default_rng(seed)
    words = _broderick_words(root, runs, run_s, seed, form, audio)
    sfreq = 128.0 if form == "dryad" else 512.0
    names = mne.channels.make_standard_montage("biosemi128").ch_names
    planted = {}
    for subject in subjects:
        offset, found = 0, []
        for run in runs:
            n_times = int((run_s + rng.uniform(0.5, 1.5)) * sfreq)
            mine = words[words["audio"] == run]
            starts = np.zeros(max(runs), dtype=int)
            starts[run - 1] = offset
            placed = _planted(mine, starts, sfreq, lambda a: f"audio{a:02d}.wav" if form != "dryad" else f"audio{a}.wav")
            data = _signal(names, n_times, placed["sample"].to_numpy() - offset, PLANT["broderick2018"], rng)
            if form == "dryad":
                folder = root / "EEG" / f"Subject{subject}"
                folder.mkdir(parents=True, exist_ok=True)
                mastoids = rng.normal(0, NOISE_V, (2, n_times))
                scipy.io.savemat(folder / f"Subject{subject}_Run{run}.mat",
                                 {"eegData": data.T * 1e6, "mastoids": mastoids.T * 1e6, "fs": sfreq})
            else:
                raw = mne.io.RawArray(data, mne.create_info(names, sfreq, "eeg"), verbose="error")
                path = mne_bids.BIDSPath(root=root, subject=subject, task="listening", run=f"{run:02d}",
                                         datatype="eeg")
                mne_bids.write_raw_bids(raw, path, format="BrainVision", allow_preload=True, overwrite=True,
                                        verbose="error")
            found.append(placed)
            offset += n_times
        planted[subject] = pd.concat(found, ignore_index=True)
    return planted


def write_bids_with_word_files(root, *, subjects=("01",), runs=(1, 2), run_s: float = 7.0, start_s: float = 1.5,
                               sfreq: float = 250.0, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A generic BIDS dataset with several runs whose events.tsv names the stimulus (``stim_file`` row at
    ``start_s``) and per-stimulus word files: run 1 ``stimuli/story1.TextGrid``, others ``stimuli/storyR.tsv``."""
    import mne_bids

    root = Path(root)
    rng = np.random.default_rng(seed)
    words = audio_words(max(runs), run_s, seed=seed)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    montage = mne.channels.make_standard_montage("biosemi32")
    names = montage.ch_names
    planted = {}
    for run in runs:
        mine = words[words["audio"] == run]
        if run == 1:
            write_textgrid(root / "stimuli" / f"story{run}.TextGrid",
                           {"words": pd.DataFrame({"start_s": mine["onset_s"], "stop_s": mine["offset_s"],
                                                   "label": mine["word"]})}, xmax=run_s)  # fmt: skip
        else:
            mine[["word", "onset_s", "offset_s"]].rename(columns={"onset_s": "onset", "offset_s": "offset"}).to_csv(
                root / "stimuli" / f"story{run}.tsv", sep="\t", index=False)
    for subject in subjects:
        offset, found = 0, []
        for run in runs:
            n_times = int((run_s + start_s + 1.0) * sfreq)
            starts = np.full(max(runs), offset + int(start_s * sfreq))
            placed = _planted(words[words["audio"] == run], starts, sfreq, lambda a: f"story{a}.wav")
            data = _signal(names, n_times, placed["sample"].to_numpy() - offset, names[4], rng)
            raw = mne.io.RawArray(data, mne.create_info(names, sfreq, "eeg"), verbose="error")
            raw.set_montage(montage)
            path = mne_bids.BIDSPath(root=root, subject=subject, task="listening", run=f"{run:02d}", datatype="eeg")
            mne_bids.write_raw_bids(raw, path, format="BrainVision", allow_preload=True, overwrite=True,
                                    verbose="error")
            events = pd.DataFrame({"onset": [start_s], "duration": [run_s], "trial_type": ["story"],
                                   "stim_file": [f"stimuli/story{run}.wav"]})  # fmt: skip
            events.to_csv(path.copy().update(suffix="events", extension=".tsv").fpath, sep="\t", index=False)
            found.append(placed)
            offset += n_times
        planted[subject] = pd.concat(found, ignore_index=True)
    return planted
