"""Broderick et al. 2018, "Natural Speech" (``broderick2018``): reader, word table, stimulus table.

Layout under the dataset folder (citation, DOI and download in ``hearlike/data/datasets.yml``):
``EEG/Subject{N}/Subject{N}_Run{R}.mat`` (``eegData`` samples x 128 in µV, BioSemi order A1..D32,
``mastoids`` samples x 2, ``fs`` Hz; ``Subject{N}/`` without ``EEG/`` is accepted too),
``Stimuli/Text/Run{R}.mat`` (``wordVec``, ``onset_time``, ``offset_time``: s from the start of
``Stimuli/Audio/audio{R}.wav``). EEG time 0 of each run is the onset of its audio.

The OpenNeuro release ds004408 (BIDS) is read too: ``sub-001/eeg/sub-001_task-listening_run-01_eeg.vhdr``
... (BrainVision, 512 Hz, channels A1..D32), ``stimuli/audio01.wav`` and ``stimuli/audio01.TextGrid``
(word tier; no word events in ``events.tsv``); run ``R`` plays ``audio{R:02d}.wav`` from its first
sample (:func:`hearlike.eeg.datasets.bids.run_words`). Which form a folder holds is detected
(:func:`is_bids`).

Stimulus table: the word vectors carry no punctuation, so each run is cut into sentence-like units
at pauses (:func:`segment_at_pauses`); ids ``run03-s012`` (run 3, unit 12, 0-based), audio
``Stimuli/Audio/audio{R}.wav``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from . import bids
from .files import check_monotonic, loadmat, mat_string
from .textgrid import textgrid_words
from .tables import drop_empty_words, sentence_rows

logger = logging.getLogger(__name__)

#: File layout (also documented in datasets.yml, where a test keeps the two equal).
LAYOUT = {
    "eeg": "EEG/Subject{subject}/Subject{subject}_Run{run}.mat",
    "words": "Stimuli/Text/Run{run}.mat",
    "audio": "Stimuli/Audio/audio{run}.wav",
    "bids_eeg": "sub-{subject}/eeg/sub-{subject}_task-listening_run-{run:02d}_eeg.vhdr",
    "bids_words": "stimuli/audio{run:02d}.TextGrid",
    "bids_audio": "stimuli/audio{run:02d}.wav",
}
#: BIDS task of OpenNeuro ds004408
BIDS_TASK = "listening"
#: MATLAB field names
FIELDS = {"eeg": "eegData", "mastoids": "mastoids", "sfreq": "fs", "word": "wordVec", "onset": "onset_time",
          "offset": "offset_time"}  # fmt: skip
MONTAGE = "biosemi128"
N_EEG_CHANNELS = 128
MASTOID_CHANNELS = ("M1", "M2")
UNITS_SCALE_TO_VOLTS = 1e-6

#: Defaults of the segmentation into sentence-like units (see :func:`segment_at_pauses`).
DEFAULT_PAUSE_S = 0.3
DEFAULT_MIN_WORDS = 6
DEFAULT_MAX_WORDS = 20

_RUN = re.compile(r"Subject(\d+)_Run(\d+)\.mat$")
_RUN_FILE = re.compile(r"^Run(\d+)\.mat$")


def _subject_dir(root: Path, subject: str) -> Path:
    number = str(subject).removeprefix("Subject")
    for candidate in (root / "EEG" / f"Subject{number}", root / f"Subject{number}"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no EEG folder for Broderick subject {subject!r}: expected {root / 'EEG' / f'Subject{number}'} "
        f"holding Subject{number}_Run1.mat ... (see hearlike/data/datasets.yml)"
    )


def is_bids(root: Path) -> bool:
    """True if ``root`` holds the OpenNeuro (BIDS) form, ``sub-*/eeg/*_eeg.*`` files."""
    return any(Path(root).glob("sub-*/eeg/*_eeg.*"))


def is_present(root: Path) -> bool:
    """Cheap check that ``root`` holds Broderick EEG files, Dryad or OpenNeuro form (not a full validation)."""
    return (any(root.glob("EEG/Subject*/Subject*_Run*.mat")) or any(root.glob("Subject*/Subject*_Run*.mat"))
            or is_bids(root))


def list_subjects(root: Path) -> list[str]:
    """Subjects under ``root``: numbers (``"1"``, ...) of the Dryad folders, or BIDS labels (``"001"``)."""
    if is_bids(root):
        return bids.list_subjects(root)
    folders = list(root.glob("EEG/Subject*")) or list(root.glob("Subject*"))
    return sorted({f.name.removeprefix("Subject") for f in folders if f.is_dir()}, key=lambda s: (len(s), s))


def read_words(root: str | Path, run: int) -> pd.DataFrame:
    """Read ``Stimuli/Text/Run{run}.mat`` (``wordVec``, ``onset_time``, ``offset_time``), or in the
    OpenNeuro form ``stimuli/audio{run:02d}.TextGrid`` (word tier).

    Returns
    -------
    DataFrame
        Columns ``word``, ``onset_s``, ``offset_s`` (s from the start of ``audio{run}.wav``),
        ``audio_file``, ``run``.
    """
    textgrid = Path(root) / LAYOUT["bids_words"].format(run=run)
    if textgrid.is_file():
        words = textgrid_words(textgrid)
        check_monotonic(words["onset_s"].to_numpy(), str(textgrid))
        words["audio_file"] = Path(LAYOUT["bids_audio"].format(run=run)).name
        words["run"] = run
        return words
    path = Path(root) / LAYOUT["words"].format(run=run)
    mat = loadmat(path, (FIELDS["word"], FIELDS["onset"], FIELDS["offset"]))
    words = [mat_string(cell) for cell in np.asarray(mat[FIELDS["word"]], dtype=object).reshape(-1)]
    onsets = np.asarray(mat[FIELDS["onset"]], dtype=float).reshape(-1)
    offsets = np.asarray(mat[FIELDS["offset"]], dtype=float).reshape(-1)
    if not len(words) == len(onsets) == len(offsets):
        raise ValueError(
            f"{path}: wordVec has {len(words)} words but onset_time {len(onsets)} and offset_time "
            f"{len(offsets)} values; they must have one entry per word"
        )
    check_monotonic(onsets, str(path))
    return pd.DataFrame(
        {"word": words, "onset_s": onsets, "offset_s": offsets, "audio_file": Path(LAYOUT["audio"].format(run=run)).name,
         "run": run}
    )  # fmt: skip


def _word_runs(root: Path) -> list[int]:
    grids = sorted(root.glob("stimuli/audio*.TextGrid"))
    if grids:
        return sorted(int(m.group(1)) for p in grids if (m := re.match(r"audio(\d+)\.TextGrid$", p.name)))
    text = root / Path(LAYOUT["words"]).parent
    files = text.glob("Run*.mat") if text.is_dir() else []
    runs = sorted(int(m.group(1)) for p in files if (m := _RUN_FILE.match(p.name)))
    if not runs:
        raise FileNotFoundError(
            f"no Run{{R}}.mat word files in {text}; the Broderick release holds Stimuli/Text/Run1.mat ... "
            f"(see hearlike/data/datasets.yml)"
        )
    return runs


def word_table(root: str | Path) -> pd.DataFrame:
    """The published word timings of every run, in spoken order (:func:`read_words` of each run)."""
    root = Path(root)
    return pd.concat([read_words(root, run) for run in _word_runs(root)], ignore_index=True)


def _read_run(path: Path, montage, sfreq: float | None) -> mne.io.RawArray:
    mat = loadmat(path, (FIELDS["eeg"], FIELDS["mastoids"], FIELDS["sfreq"]))
    eeg = np.asarray(mat[FIELDS["eeg"]], dtype=float)
    mastoids = np.asarray(mat[FIELDS["mastoids"]], dtype=float)
    fs = float(np.squeeze(mat[FIELDS["sfreq"]]))
    if eeg.ndim != 2 or eeg.shape[1] != N_EEG_CHANNELS:
        raise ValueError(
            f"{path}: {FIELDS['eeg']} has shape {eeg.shape}; expected (samples, {N_EEG_CHANNELS}) "
            f"for the {MONTAGE} cap (channel count mismatch)"
        )
    if mastoids.ndim != 2 or mastoids.shape != (eeg.shape[0], 2):
        raise ValueError(
            f"{path}: {FIELDS['mastoids']} has shape {mastoids.shape}; expected ({eeg.shape[0]}, 2) "
            f"(two mastoid channels, as many samples as {FIELDS['eeg']})"
        )
    if sfreq is not None and fs != sfreq:
        raise ValueError(
            f"{path}: sampling rate {fs:g} Hz differs from {sfreq:g} Hz in the subject's earlier "
            f"runs (sampling-rate mismatch between runs); resample the runs to one rate"
        )
    info = mne.create_info(montage.ch_names + list(MASTOID_CHANNELS), fs, "eeg")
    data = np.concatenate([eeg, mastoids], axis=1).T * UNITS_SCALE_TO_VOLTS
    return mne.io.RawArray(data, info, verbose="error")


def read_subject(root: str | Path, subject: str, *, runs=None) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read the runs of one Broderick subject (Dryad or OpenNeuro form) and the words heard in them.

    Runs are concatenated in run order; ``BAD boundary``/``EDGE boundary`` annotations mark the
    joins so that filters restart and epochs across a join are rejected.

    Parameters
    ----------
    root : str or Path
        Dataset folder (holding ``EEG/`` or ``Subject*/`` and ``Stimuli/``).
    subject : str
        Subject number (``"1"``) or folder name (``"Subject1"``); BIDS label (``"001"``) in the
        OpenNeuro form.
    runs : list of int, optional
        Run numbers to read (default: all).

    Returns
    -------
    raw : mne.io.BaseRaw
        Continuous EEG in volts, 128 scalp channels with BioSemi positions plus ``M1``, ``M2``.
    words : DataFrame
        ``time_s`` (s from the first sample), ``word``, ``audio_file``, ``onset_s`` (in the audio),
        ``offset_s``, ``run``; ``attrs["source"]`` names the files.
    """
    root = Path(root)
    montage = mne.channels.make_standard_montage(MONTAGE)
    if is_bids(root):
        return _read_bids_subject(root, subject, runs=runs, montage=montage)
    folder = _subject_dir(root, subject)
    found = sorted((int(m.group(2)), path) for path in folder.glob("Subject*_Run*.mat") if (m := _RUN.search(path.name)))
    if not found:
        raise FileNotFoundError(f"{folder} holds no Subject*_Run*.mat files")
    if runs is not None:
        missing = sorted(set(int(r) for r in runs) - {r for r, _ in found})
        if missing:
            raise FileNotFoundError(f"{folder} has no run(s) {missing}; runs found: {[r for r, _ in found]} "
                                    f"(fix `runs:` in the parameters)")
        found = [(r, p) for r, p in found if r in {int(x) for x in runs}]
    runs = found
    raws, tables, offset_s = [], [], 0.0
    for run, path in runs:
        raw = _read_run(path, montage, raws[0].info["sfreq"] if raws else None)
        raws.append(raw)
        words = read_words(root, run)
        words["time_s"] = words["onset_s"] + offset_s
        tables.append(words)
        offset_s += raw.n_times / raw.info["sfreq"]
    raw = mne.concatenate_raws(raws, verbose="error") if len(raws) > 1 else raws[0]
    raw.set_montage(montage, on_missing="ignore", verbose="error")
    words = pd.concat(tables, ignore_index=True)
    words.attrs["source"] = f"{folder} + {root / Path(LAYOUT['words']).parent}"
    logger.info("read Broderick subject %s: %d runs, %d words", subject, len(runs), len(words))
    return raw, words


def _read_bids_subject(root: Path, subject: str, *, runs, montage) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """ds004408: the BIDS runs, words from ``stimuli/audio{run:02d}.TextGrid`` from each run's first sample."""
    raw, words = bids.read_subject(root, subject, task=BIDS_TASK, runs=runs,
                                   default_stimulus=Path(LAYOUT["bids_audio"]).name)  # fmt: skip
    if "audio_file" not in words:
        raise ValueError(f"{words.attrs.get('source')}: Broderick runs are expected without word events "
                         "(words come from stimuli/audioXX.TextGrid)")
    scalp = [ch for ch in montage.ch_names if ch in raw.ch_names]
    if len(scalp) != N_EEG_CHANNELS:
        raise ValueError(f"sub-{subject}: {len(scalp)} of the {N_EEG_CHANNELS} {MONTAGE} channels (A1..D32) found in "
                         f"{raw.filenames[0]} (channel count mismatch); is this the ds004408 release?")
    if raw.get_montage() is None:
        raw.set_montage(montage, on_missing="ignore", verbose="error")
    logger.info("read Broderick (OpenNeuro) sub-%s: %d words", subject, len(words))
    return raw, words


def segment_at_pauses(onsets_s, offsets_s, *, pause_s: float = DEFAULT_PAUSE_S, min_words: int = DEFAULT_MIN_WORDS,
                      max_words: int = DEFAULT_MAX_WORDS) -> np.ndarray:
    """Cut a stream of timed words into sentence-like units at pauses (deterministic).

    Walking from the first word, a unit ends after the first word (at least ``min_words`` into the
    unit) that is followed by a pause ``next onset - offset >= pause_s``, provided at least
    ``min_words`` words remain after it. If no such pause comes within ``max_words`` words and more
    than ``max_words`` words remain, the unit ends at the longest pause among its admissible ends
    (words ``min_words`` .. ``max_words`` of the unit; the first one on ties). Hence every unit has
    ``min_words`` to ``max_words`` words, except a whole stream shorter than ``min_words``, which is
    one unit.

    Parameters
    ----------
    onsets_s, offsets_s : array-like, shape (n_words,)
        Word times in seconds, in spoken order.
    pause_s : float
        Smallest silence (s) between a word's offset and the next onset that ends a unit.
    min_words, max_words : int
        Unit length bounds; ``max_words >= 2 * min_words - 1`` so that the bounds can always be met.

    Returns
    -------
    ndarray of int, shape (n_words,)
        0-based unit number of every word, non-decreasing.
    """
    onsets = np.asarray(onsets_s, dtype=float).reshape(-1)
    offsets = np.asarray(offsets_s, dtype=float).reshape(-1)
    if onsets.shape != offsets.shape:
        raise ValueError(f"onsets ({onsets.size}) and offsets ({offsets.size}) must have one entry per word")
    if min_words < 1 or max_words < 2 * min_words - 1:
        raise ValueError(
            f"need min_words >= 1 and max_words >= 2 * min_words - 1 (got min_words={min_words}, "
            f"max_words={max_words}); raise max_words or lower min_words"
        )
    if not pause_s > 0:
        raise ValueError(f"pause_s must be > 0 seconds, got {pause_s}")
    n = onsets.size
    gaps = np.append(onsets[1:] - offsets[:-1], np.inf)  # gaps[i]: silence after word i
    units = np.zeros(n, dtype=int)
    start, unit = 0, 0
    while start < n:
        first, last = start + min_words - 1, min(start + max_words - 1, n - 1 - min_words)
        ends = np.arange(first, last + 1)  # admissible last words (>= min_words remain after them)
        paused = ends[gaps[ends] >= pause_s]
        if paused.size:
            end = int(paused[0])
        elif n - start <= max_words or not ends.size:
            end = n - 1
        else:
            end = int(ends[np.argmax(gaps[ends])])
        units[start:end + 1] = unit
        start, unit = end + 1, unit + 1
    return units


def stimulus_table(root: str | Path, *, pause_s: float = DEFAULT_PAUSE_S, min_words: int = DEFAULT_MIN_WORDS,
                   max_words: int = DEFAULT_MAX_WORDS) -> pd.DataFrame:
    """The stimulus table of the Broderick runs under ``root``, cut at pauses (not yet validated).

    Parameters
    ----------
    root : str or Path
        Dataset folder; ``audio_path`` is relative to it.
    pause_s, min_words, max_words
        See :func:`segment_at_pauses` (defaults 0.3 s, 6 and 20 words).
    """
    root = Path(root)
    runs = _word_runs(root)
    text = root / Path(LAYOUT["words"]).parent
    audio = LAYOUT["bids_audio"] if (root / "stimuli").is_dir() and not text.is_dir() else LAYOUT["audio"]
    run_width = max(2, len(str(runs[-1])))
    tables = []
    for run in runs:
        words = drop_empty_words(read_words(root, run), str(text / f"Run{run}.mat"))
        if words.empty:
            continue
        words["audio_path"] = audio.format(run=run)
        units = segment_at_pauses(words["onset_s"], words["offset_s"], pause_s=pause_s, min_words=min_words,
                                  max_words=max_words)  # fmt: skip
        width = max(3, len(str(units[-1])))
        ids = np.array([f"run{run:0{run_width}d}-s{u:0{width}d}" for u in units])
        tables.append(sentence_rows(words, ids))
        logger.info("Broderick run %d: %d words in %d units", run, len(words), units[-1] + 1)
    return pd.concat(tables, ignore_index=True)
