"""Any EEG-BIDS dataset with word events (``bids``; the embedded demo is written this way).

Layout under the dataset folder (or its ``bids/`` sub-folder, as in the demo):
``sub-{subject}/eeg/sub-{subject}_task-{task}_eeg.vhdr`` (any format ``mne_bids.read_raw_bids``
opens) and ``..._events.tsv`` whose ``trial_type == "word"`` rows carry ``sentence_id``,
``word_index`` and ``word`` (the stimulus table's keys: the dataset brings its own
``stimuli.tsv``, so there is no published word table to build one from).
"""

from __future__ import annotations

import logging
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .files import check_brainvision_size, check_unique_words

logger = logging.getLogger(__name__)

#: File layout (also documented in datasets.yml, where a test keeps the two equal).
LAYOUT = {
    "eeg": "sub-{subject}/eeg/sub-{subject}_task-{task}_eeg.vhdr",
    "words": "sub-{subject}/eeg/sub-{subject}_task-{task}_events.tsv",
}
DEFAULT_TASK = "listening"
#: ``trial_type`` of the word events
WORD_EVENT = "word"
_READABLE = (".vhdr", ".edf", ".bdf", ".set", ".fif")  # headers read_raw_bids opens (.eeg is data)


def bids_root(root: str | Path) -> Path:
    """The BIDS root under a dataset folder: ``root`` itself, or ``root/bids`` (the demo's layout)."""
    root = Path(root)
    if (root / "dataset_description.json").exists() or any(root.glob("sub-*")):
        return root
    if (root / "bids").is_dir():
        return root / "bids"
    return root


def is_present(root: Path) -> bool:
    """Cheap check that ``root`` (or ``root/bids``) holds BIDS events files."""
    return any(root.glob("sub-*/eeg/*_events.tsv")) or any(root.glob("bids/sub-*/eeg/*_events.tsv"))


def list_subjects(root: Path) -> list[str]:
    """BIDS subject labels (without ``sub-``) under ``root``."""
    import mne_bids

    root = bids_root(root)
    return sorted(mne_bids.get_entity_vals(root, "subject")) if root.is_dir() else []


def _bids_path(root: Path, subject: str, task: str):
    import mne_bids

    path = mne_bids.BIDSPath(root=root, subject=subject, task=task, datatype="eeg", suffix="eeg")
    matches = sorted((p for p in path.match() if p.extension in _READABLE), key=lambda p: _READABLE.index(p.extension))
    if not matches:
        raise FileNotFoundError(
            f"no EEG recording for sub-{subject} task-{task} under {root} "
            f"(expected e.g. {root}/sub-{subject}/eeg/sub-{subject}_task-{task}_eeg.vhdr)"
        )
    return matches[0]


def read_words(events_tsv: str | Path) -> pd.DataFrame:
    """Word rows (``trial_type == "word"``) of a BIDS ``*_events.tsv``.

    Rows out of onset order are used as given (words are matched by key) with a WARNING that
    names the file and counts them.

    Returns
    -------
    DataFrame
        ``time_s`` (the BIDS ``onset``, s from the first sample), ``sentence_id`` (str),
        ``word_index`` (int), ``word`` (str), and ``sample`` (int) when the file has that column.
    """
    events_tsv = Path(events_tsv)
    if not events_tsv.exists():
        raise FileNotFoundError(f"missing events file {events_tsv}")
    table = pd.read_csv(events_tsv, sep="\t", dtype={"sentence_id": str, "word": str}, keep_default_na=False)
    required = ["onset", "trial_type", "sentence_id", "word_index", "word"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(
            f"{events_tsv} lacks columns {missing} (has {list(table.columns)}); word events need "
            f"trial_type == 'word' rows with sentence_id, word_index and word"
        )
    table = table[table["trial_type"] == WORD_EVENT]
    if table.empty:
        raise ValueError(f"{events_tsv} has no rows with trial_type == 'word'")
    words = pd.DataFrame(
        {
            "time_s": pd.to_numeric(table["onset"], errors="coerce").to_numpy(float),
            "sentence_id": table["sentence_id"].astype(str).to_numpy(),
            "word_index": pd.to_numeric(table["word_index"], errors="coerce").to_numpy(),
            "word": table["word"].astype(str).to_numpy(),
        }
    )
    if words[["time_s", "word_index"]].isna().any().any():
        raise ValueError(f"{events_tsv}: some word rows have a non-numeric onset or word_index")
    if (words["time_s"] < 0).any():
        raise ValueError(f"{events_tsv}: some word onsets are negative")
    if "sample" in table.columns:
        sample = pd.to_numeric(table["sample"], errors="coerce").to_numpy(float)
        if np.isfinite(sample).all():
            words["sample"] = sample.astype(np.int64)
    words["word_index"] = words["word_index"].astype(int)
    check_unique_words(words, events_tsv)
    n_back = int((np.diff(words["time_s"].to_numpy()) < 0).sum())
    if n_back:
        logger.warning(
            "%s: %d of %d word rows start earlier than the row before (the file is not sorted by onset); "
            "the words are matched by sentence_id/word_index and used as given: check that each onset "
            "belongs to its word, and sort the file by onset", events_tsv, n_back, len(words),
        )
    words.attrs["source"] = str(events_tsv)
    return words


def check_sample_column(words: pd.DataFrame, sfreq_hz: float, *, header: str | Path) -> None:
    """Raise if the events' ``sample`` column contradicts the recording's sampling rate.

    ``sample`` counts samples at the rate of the recording's header, so ``sample - sample[0]``
    must equal ``(onset - onset[0]) * sfreq_hz`` within a sample; a header whose rate is wrong (or
    events written for another rate) put every word at the wrong place in the EEG.

    Parameters
    ----------
    words : DataFrame
        :func:`read_words` (nothing is checked without a ``sample`` column).
    sfreq_hz : float
        The rate of the recording read from ``header``.
    header : str or Path
        The EEG file, for the message.
    """
    if "sample" not in words or len(words) < 2:
        return
    onset = words["time_s"].to_numpy(float)
    sample = words["sample"].to_numpy(np.int64)
    first = int(np.argmin(onset))
    off = np.abs((sample - sample[first]) - (onset - onset[first]) * sfreq_hz) > 1.0
    if not off.any():
        return
    last = int(np.argmax(onset))
    implied = (sample[last] - sample[first]) / (onset[last] - onset[first])
    raise ValueError(
        f"{words.attrs.get('source', 'events.tsv')}: the 'sample' column contradicts the sampling rate "
        f"{sfreq_hz:g} Hz of {header}: {int(off.sum())} of {len(words)} word rows are more than one sample "
        f"away from onset x {sfreq_hz:g} Hz (the samples imply {implied:.6g} Hz); fix the header's sampling "
        f"rate (BrainVision: SamplingInterval, in µs) or the events file"
    )


def read_subject(root: str | Path, subject: str, *, task: str = DEFAULT_TASK) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one subject of an EEG-BIDS dataset with ``mne_bids.read_raw_bids`` and its word events.

    Parameters
    ----------
    root : str or Path
        The BIDS root or a folder holding it as ``bids/`` (the demo's data_root).
    subject : str
        ``"01"`` or ``"sub-01"``.
    task : str
        BIDS task label.

    Returns
    -------
    raw : mne.io.BaseRaw
        Continuous EEG in volts.
    words : DataFrame
        :func:`read_words` of the recording's events file.

    Raises
    ------
    ValueError
        For a truncated BrainVision ``.eeg`` file, or events whose ``sample`` column contradicts
        the header's sampling rate.
    """
    import mne_bids

    root = bids_root(root)
    subject = str(subject).removeprefix("sub-")
    path = _bids_path(root, subject, task)
    if path.extension == ".vhdr":
        check_brainvision_size(path.fpath)
    raw = mne_bids.read_raw_bids(path, verbose="error")
    raw.load_data(verbose="error")
    events_tsv = path.copy().update(suffix="events", extension=".tsv").fpath
    words = read_words(events_tsv)
    check_sample_column(words, raw.info["sfreq"], header=path.fpath)
    logger.info("read BIDS sub-%s task-%s: %d words", subject, task, len(words))
    return raw, words


def write_recording(
    raw: mne.io.BaseRaw, words: pd.DataFrame, *, root: str | Path, subject: str, task: str = DEFAULT_TASK
) -> Path:
    """Write ``raw`` (volts) with word events as an EEG-BIDS recording (BrainVision files).

    ``words`` needs ``time_s`` (s from the first sample), ``sentence_id``, ``word_index``, ``word``;
    they become ``trial_type == "word"`` rows of ``*_events.tsv`` that :func:`read_subject` reads
    back. Used by the tests (the demo writes its int16 files itself, :mod:`hearlike.demo`).

    Returns
    -------
    Path
        ``root``.
    """
    import mne_bids

    sfreq = raw.info["sfreq"]
    samples = np.round(np.asarray(words["time_s"], dtype=float) * sfreq).astype(int) + raw.first_samp
    events = np.column_stack([samples, np.zeros_like(samples), np.ones_like(samples)])
    metadata = pd.DataFrame(  # with event_metadata, mne-bids writes trial_type only from the metadata
        {
            "trial_type": WORD_EVENT,
            "sentence_id": words["sentence_id"].astype(str).to_numpy(),
            "word_index": words["word_index"].astype(int).to_numpy(),
            "word": words["word"].astype(str).to_numpy(),
        }
    )
    path = mne_bids.BIDSPath(root=root, subject=str(subject), task=task, datatype="eeg")
    mne_bids.write_raw_bids(
        raw,
        path,
        events=events,
        event_id={WORD_EVENT: 1},
        event_metadata=metadata,
        extra_columns_descriptions={
            "trial_type": "event type; 'word' marks the onset of a stimulus word",
            "sentence_id": "stimulus sentence identifier (hearlike stimulus table)",
            "word_index": "0-based index of the word in its sentence",
            "word": "the word as written in the stimulus table",
        },
        format="BrainVision",
        allow_preload=True,
        overwrite=True,
        verbose="error",
    )
    return Path(root)
