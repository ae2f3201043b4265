"""Brennan & Hale 2019, "Alice" (``alice2019``): reader, word table, stimulus table.

Layout under the dataset folder (citation, DOI and download in ``hearlike/data/datasets.yml``):
the FieldTrip form ``S01.mat`` ... (a raw struct, 60 EEG channels + VEOG + AUD, µV; segment onsets from
the trial definitions ``proc/S01.mat``) or the BrainVision form ``S01.vhdr/.vmrk/.eeg`` ... (61 easycap-M10 electrodes named ``1``..``61``, ``VEOG``, ``AUD``,
500 Hz; one trigger ``Stimulus/S  k`` at the onset of each of the 12 audio segments),
``AliceChapterOne-EEG.csv`` (one row per word: ``Word``, ``Segment``, ``onset``, ``offset`` in s
from the start of the segment's wav, ``Sentence``, ...), the audio
``DownTheRabbitHoleFinal_SoundFile{k}.wav`` (in the folder or its ``audio/`` sub-folder) and an
optional electrode file ``easycapM10-acti61_elec.sfp``; ``datasets.mat`` (its ``use`` list is the
original analysis's subject selection, :func:`paper_subjects`).

Stimulus table: the csv's ``Sentence`` column gives the sentences; ids ``seg02-s0014`` (segment 2,
sentence 14). A sentence read across two audio segments becomes one sentence per segment (each
sentence has one audio file).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .fieldtrip import read_fieldtrip_raw, read_mat_struct
from .files import annotation_times_s, check_brainvision_size, check_monotonic
from .tables import drop_empty_words, sentence_rows

logger = logging.getLogger(__name__)

#: File layout (also documented in datasets.yml, where a test keeps the two equal).
LAYOUT = {
    "eeg": "{subject}.vhdr",
    "words": "AliceChapterOne-EEG.csv",
    "audio": "DownTheRabbitHoleFinal_SoundFile{segment}.wav",
    "electrodes": "easycapM10-acti61_elec.sfp",
    "fieldtrip_eeg": "{subject}.mat",
    "proc": "proc/{subject}.mat",
    "selection": "datasets.mat",
}
#: columns of ``proc.trl``: begin sample, end sample, offset (samples), segment, tmin (s), Order
TRL_COLUMNS = ("begin", "end", "offset", "segment", "tmin", "order")
_SUBJECT = re.compile(r"^S\d+$")
#: csv column of each word field
WORD_COLUMNS = {"word": "Word", "segment": "Segment", "onset": "onset", "offset": "offset"}
MONTAGE = "easycap-M10"
N_EEG_CHANNELS = 61
EOG_CHANNELS = ("VEOG",)
MISC_CHANNELS = ("AUD",)
N_SEGMENTS = 12
SEGMENT_TRIGGER_REGEX = r"^(?:Stimulus/)?S\s*(\d+)$"


def is_present(root: Path) -> bool:
    """Cheap check that ``root`` holds the Alice word csv and BrainVision or FieldTrip files."""
    return (root / LAYOUT["words"]).exists() and bool(list_subjects(root))


def list_subjects(root: Path) -> list[str]:
    """Subjects (``"S01"``, ...) with a BrainVision header or a FieldTrip ``.mat`` file under ``root``."""
    stems = {p.stem for p in root.glob("S*.vhdr")} | {p.stem for p in root.glob("S*.mat")}
    return sorted(s for s in stems if _SUBJECT.match(s))


def paper_subjects(root: str | Path) -> list[str]:
    """The subjects the original analysis kept: the ``use`` list of ``datasets.mat`` (33 of 49).

    ``use`` is read as a cell array of file names (``'S01.mat'``, the form public readers report),
    a list of subject numbers, or a 0/1 flag per subject ``S01``, ``S02``, ...

    Raises
    ------
    FileNotFoundError
        If ``datasets.mat`` is missing.
    ValueError
        If it has no readable ``use`` entry.
    """
    path = Path(root) / LAYOUT["selection"]
    if not path.is_file():
        raise FileNotFoundError(f"missing {path} (datasets.mat of the Alice release: its `use` list is the paper's "
                                f"subject selection); put it there or list `subjects:` explicitly")
    use = np.atleast_1d(read_mat_struct(path, "use"))
    if use.dtype == object or use.dtype.kind in "US":
        names = [str(np.squeeze(v)) for v in use.reshape(-1)]
        subjects = [Path(n).stem for n in names]
    elif use.size > 2 and set(np.unique(use).tolist()) <= {0, 1}:  # a 0/1 flag per subject
        subjects = [f"S{i:02d}" for i in np.flatnonzero(use.reshape(-1)) + 1]
    else:
        subjects = [f"S{int(v):02d}" for v in use.reshape(-1)]
    bad = [s for s in subjects if not _SUBJECT.match(s)]
    if bad or not subjects:
        raise ValueError(f"{path}: `use` lists {bad or 'nothing'}; expected subject files such as 'S01.mat'")
    return sorted(subjects)


def default_subjects(root: Path) -> list[str]:
    """:func:`paper_subjects` if ``datasets.mat`` is there (those found), else every subject found."""
    found = list_subjects(root)
    if not (Path(root) / LAYOUT["selection"]).is_file():
        return found
    kept = [s for s in paper_subjects(root) if s in found]
    logger.info("alice2019: %d of %d subjects kept by datasets.mat `use`", len(kept), len(found))
    return kept


def word_table(root: str | Path) -> pd.DataFrame:
    """Read ``AliceChapterOne-EEG.csv``.

    Returns
    -------
    DataFrame
        Columns ``word``, ``segment`` (int), ``onset_s``, ``offset_s`` (s from the start of the
        segment's wav) and ``audio_file``, plus the csv's other columns unchanged.
    """
    path = Path(root) / LAYOUT["words"]
    if not path.exists():
        raise FileNotFoundError(f"missing word table {path} (AliceChapterOne-EEG.csv from the Alice release)")
    table = pd.read_csv(path)
    missing = [c for c in WORD_COLUMNS.values() if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing} (has {list(table.columns)})")
    cols = WORD_COLUMNS
    table = table.rename(
        columns={cols["word"]: "word", cols["segment"]: "segment", cols["onset"]: "onset_s", cols["offset"]: "offset_s"}
    )
    table["segment"] = table["segment"].astype(int)
    table["word"] = table["word"].astype(str)
    for segment, rows in table.groupby("segment", sort=False):
        check_monotonic(rows["onset_s"].to_numpy(), f"{path} (Segment {segment})")
    table["audio_file"] = [LAYOUT["audio"].format(segment=s) for s in table["segment"]]
    return table


def segment_onsets(
    raw: mne.io.BaseRaw, *, n_segments: int = N_SEGMENTS, regex: str = SEGMENT_TRIGGER_REGEX, source: str = "recording"
) -> dict[int, float]:
    """Onsets (s from the first sample) of the audio segments, from the trigger annotations.

    The first annotation whose description matches ``regex`` with segment number ``k`` marks the
    start of ``DownTheRabbitHoleFinal_SoundFile{k}.wav``.
    """
    pattern = re.compile(regex)
    onsets: dict[int, float] = {}
    for description, time in zip(raw.annotations.description, annotation_times_s(raw)):
        match = pattern.match(str(description).strip())
        if match and 1 <= int(match.group(1)) <= n_segments:
            onsets.setdefault(int(match.group(1)), float(time))
    missing = sorted(set(range(1, n_segments + 1)) - set(onsets))
    if missing:
        found = sorted(set(map(str, raw.annotations.description)))[:20]
        raise ValueError(
            f"{source}: no trigger for audio "
            f"segments {missing} (pattern {pattern.pattern!r}); markers found: {found}"
        )
    return onsets


def proc_segment_onsets(root: str | Path, subject: str, sfreq_hz: float) -> dict[int, float]:
    """Audio-segment onsets (s from the first sample) from the trial definition ``proc/<subject>.mat``.

    ``proc.trl`` has one row per word kept by the original preprocessing: begin and end sample
    (1-based), offset (samples of the epoch start before the word), segment, ``tmin`` (the word's
    onset in the segment's wav, s) and ``Order``. The word is heard at sample ``begin - offset`` and
    its segment started ``tmin`` before; each segment's onset is the median over its words (they
    must agree within one sample).

    Raises
    ------
    FileNotFoundError
        If the proc file is missing.
    ValueError
        If ``trl`` has fewer than 5 columns, a segment has no word, or its words disagree.
    """
    path = Path(root) / LAYOUT["proc"].format(subject=subject)
    proc = read_mat_struct(path, "proc")
    if not hasattr(proc, "trl"):
        raise ValueError(f"{path}: the proc struct has no trl field (has {list(getattr(proc, '_fieldnames', []))})")
    trl = np.atleast_2d(np.asarray(proc.trl, dtype=float))
    if trl.shape[1] < 5:
        raise ValueError(f"{path}: proc.trl has {trl.shape[1]} columns; expected {list(TRL_COLUMNS)}")
    heard_s = (trl[:, 0] - trl[:, 2] - 1) / sfreq_hz  # 1-based sample of the word -> s from the first sample
    starts = heard_s - trl[:, 4]
    onsets: dict[int, float] = {}
    for segment in range(1, N_SEGMENTS + 1):
        mine = starts[trl[:, 3] == segment]
        if not mine.size:
            raise ValueError(f"{path}: proc.trl has no word of audio segment {segment}; its onset is unknown")
        if np.ptp(mine) > 1.5 / sfreq_hz:
            raise ValueError(f"{path}: the words of segment {segment} imply onsets {mine.min():.3f}-{mine.max():.3f} s "
                             f"(more than a sample apart); is proc.trl for this recording?")
        onsets[segment] = float(np.median(mine))
    return onsets


def _read_eeg(root: Path, subject: str) -> tuple[mne.io.BaseRaw, Path, dict[int, float]]:
    """The recording (BrainVision preferred, else FieldTrip ``.mat``) and its segment onsets."""
    vhdr = root / LAYOUT["eeg"].format(subject=subject)
    mat = root / LAYOUT["fieldtrip_eeg"].format(subject=subject)
    if vhdr.exists():
        check_brainvision_size(vhdr)
        raw = mne.io.read_raw_brainvision(vhdr, preload=True, verbose="error")
        types = {ch: "eog" for ch in EOG_CHANNELS if ch in raw.ch_names}
        types |= {ch: "misc" for ch in MISC_CHANNELS if ch in raw.ch_names}
        if types:
            raw.set_channel_types(types, verbose="error")
        return raw, vhdr, segment_onsets(raw, source=str(vhdr))
    if mat.exists():
        raw = read_fieldtrip_raw(mat, eog=EOG_CHANNELS, misc=MISC_CHANNELS)
        return raw, mat, proc_segment_onsets(root, subject, raw.info["sfreq"])
    raise FileNotFoundError(f"missing BrainVision header {vhdr} (with its .vmrk and .eeg) and FieldTrip file {mat}: "
                            f"no recording of {subject}")


def read_subject(root: str | Path, subject: str) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one Alice subject and the words heard, in recording time.

    The BrainVision form ``S01.vhdr`` (segment onsets from its triggers) is read if present, else
    the FieldTrip form ``S01.mat`` (segment onsets from ``proc/S01.mat``, :func:`proc_segment_onsets`).

    Parameters
    ----------
    root : str or Path
        Dataset folder holding ``S01.vhdr`` or ``S01.mat`` ..., ``AliceChapterOne-EEG.csv``.
    subject : str
        ``"S01"`` (or ``"1"``).

    Returns
    -------
    raw : mne.io.BaseRaw
        Continuous EEG in volts; ``VEOG`` is an EOG and ``AUD`` a misc channel.
    words : DataFrame
        ``time_s`` (s from the first sample) and the columns of :func:`word_table`.
    """
    root = Path(root)
    if not str(subject).startswith("S"):
        subject = f"S{int(subject):02d}"
    raw, path, onsets = _read_eeg(root, subject)
    montage_file = root / LAYOUT["electrodes"]
    if montage_file.exists():
        montage = mne.channels.read_custom_montage(montage_file)
    else:
        montage = mne.channels.make_standard_montage(MONTAGE)
    expected = montage.ch_names[:N_EEG_CHANNELS]
    eeg_names = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
    unknown = [ch for ch in eeg_names if ch not in montage.ch_names]
    if unknown:
        raw.set_channel_types({ch: "misc" for ch in unknown}, verbose="error")
        logger.warning("%s: channels %s are not %s electrodes and are kept as misc", path, unknown, MONTAGE)
    missing = [ch for ch in expected if ch not in raw.ch_names]
    allowed = 1 if path.suffix == ".mat" else 0  # the FieldTrip files hold 60 of the 61 (the reference is left out)
    if len(missing) > allowed:
        raise ValueError(
            f"{path}: EEG channels {missing} are missing (channel count mismatch: found "
            f"{len(mne.pick_types(raw.info, eeg=True))} EEG channels, expected the "
            f"{len(expected)} {MONTAGE} channels)"
        )
    raw.set_montage(montage, on_missing="ignore", verbose="error")
    words = word_table(root)
    words["time_s"] = words["segment"].map(onsets) + words["onset_s"]
    words.attrs["source"] = f"{path} + {root / LAYOUT['words']}"
    logger.info("read Alice subject %s: %d words", subject, len(words))
    return raw, words


def _audio(root: Path, name: str) -> str:
    for relative in (Path(name), Path("audio") / name):
        if (root / relative).is_file():
            return relative.as_posix()
    return name


def stimulus_table(root: str | Path, *, sentence_column: str = "Sentence") -> pd.DataFrame:
    """The stimulus table of the Alice chapter under ``root`` (not yet validated).

    Parameters
    ----------
    root : str or Path
        Dataset folder; ``audio_path`` is relative to it.
    sentence_column : str
        The csv column numbering the sentences.
    """
    root = Path(root)
    source = root / LAYOUT["words"]
    words = word_table(root)
    if sentence_column not in words.columns:
        raise ValueError(
            f"{source} lacks the sentence column {sentence_column!r} (has {list(words.columns)}); pass "
            f"sentence_column= naming the column that numbers the sentences"
        )
    sentence = pd.to_numeric(words[sentence_column], errors="coerce")
    if sentence.isna().any() or (sentence != np.round(sentence)).any():
        row = int(np.flatnonzero((sentence.isna() | (sentence != np.round(sentence))).to_numpy())[0])
        raise ValueError(f"{source}: row {row + 2} has {sentence_column}={words[sentence_column].iat[row]!r}; "
                         f"expected an integer sentence number")
    words["sentence"] = sentence.astype(int)
    words = drop_empty_words(words, str(source))
    # spoken order: segments in order, onsets within a segment (word_table checked them)
    words = words.sort_values(["segment", "onset_s"], kind="stable").reset_index(drop=True)
    audio = {s: _audio(root, LAYOUT["audio"].format(segment=s)) for s in words["segment"].unique()}
    words["audio_path"] = words["segment"].map(audio)
    seg_width = max(2, len(str(words["segment"].max())))
    width = max(3, len(str(words["sentence"].max())))
    ids = np.array([f"seg{g:0{seg_width}d}-s{s:0{width}d}" for g, s in zip(words["segment"], words["sentence"])])
    stretches = pd.Series(ids).ne(pd.Series(ids).shift()).cumsum()  # runs of equal consecutive ids
    pieces = stretches.groupby(ids).nunique()
    if (pieces > 1).any():
        raise ValueError(
            f"{source}: the words of sentence(s) {pieces.index[pieces > 1].tolist()[:5]} are not consecutive in "
            f"time; the {sentence_column!r} column does not number contiguous sentences"
        )
    return sentence_rows(words, ids)
