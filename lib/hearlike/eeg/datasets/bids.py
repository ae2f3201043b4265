"""Any EEG-BIDS dataset with word timings (``bids``; the embedded demo is written this way).

Layout under the dataset folder (or its ``bids/`` sub-folder, as in the demo):
``sub-{subject}/eeg/sub-{subject}_task-{task}[_run-{run}]_eeg.vhdr`` (any format
``mne_bids.read_raw_bids`` opens; several runs are read in run order and concatenated) and
``..._events.tsv``. The words of a run are either its ``trial_type == "word"`` rows carrying
``sentence_id``, ``word_index`` and ``word`` (the stimulus table's keys: the dataset brings its
own ``stimuli.tsv``), or the word file of each stimulus its ``stim_file`` rows start
(``stimuli/<stem>.TextGrid``, ``.tsv`` or ``.csv``; words matched to the stimulus table by audio
file and onset). OpenNeuro ds004408 (Broderick) is this layout without events: its run ``R`` plays
``stimuli/audio{R:02d}.wav`` from the first sample (``default_stimulus``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .files import check_brainvision_size, check_monotonic, check_unique_words

logger = logging.getLogger(__name__)

#: File layout (also documented in datasets.yml, where a test keeps the two equal).
LAYOUT = {
    "eeg": "sub-{subject}/eeg/sub-{subject}_task-{task}[_run-{run}]_eeg.vhdr",
    "words": "sub-{subject}/eeg/sub-{subject}_task-{task}[_run-{run}]_events.tsv",
    "word_files": "stimuli/{stimulus}.TextGrid",
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


def recordings(root: Path, subject: str, task: str, runs=None) -> list:
    """The subject's EEG recordings (``mne_bids.BIDSPath``), one per run in run order (one if no runs).

    Raises
    ------
    FileNotFoundError
        If there is none, or a requested run is missing (the message names the runs found).
    """
    import mne_bids

    path = mne_bids.BIDSPath(root=root, subject=subject, task=task, datatype="eeg", suffix="eeg")
    found: dict = {}
    for match in path.match():
        if match.extension not in _READABLE:
            continue
        key = match.run
        if key not in found or _READABLE.index(match.extension) < _READABLE.index(found[key].extension):
            found[key] = match
    if not found:
        raise FileNotFoundError(
            f"no EEG recording for sub-{subject} task-{task} under {root} "
            f"(expected e.g. {root}/sub-{subject}/eeg/sub-{subject}_task-{task}[_run-01]_eeg.vhdr)"
        )
    order = sorted(found, key=lambda r: (r is not None, int(r) if str(r).isdigit() else 0, str(r)))
    if runs is not None:
        wanted = [int(r) for r in runs]
        have = {int(r): r for r in order if r is not None and str(r).isdigit()}
        missing = [r for r in wanted if r not in have]
        if missing:
            raise FileNotFoundError(f"sub-{subject} task-{task} under {root} has no run(s) {missing}; "
                                    f"runs found: {sorted(have)} (fix `runs:` in the parameters)")
        order = [have[r] for r in wanted]
    return [found[r] for r in order]


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


#: extensions of per-stimulus word files under the BIDS ``stimuli/`` folder, in order of preference
WORD_FILE_EXTENSIONS = (".TextGrid", ".tsv", ".csv")


def word_file_words(root: str | Path, stim_file: str) -> pd.DataFrame:
    """The word timings of one stimulus, from its word file beside it under ``stimuli/``.

    The word file of ``stimuli/audio01.wav`` is ``stimuli/audio01.TextGrid`` (word tier, see
    :func:`~hearlike.eeg.datasets.textgrid.textgrid_words`), ``.tsv`` or ``.csv`` (columns
    ``word``, ``onset``/``onset_s`` and ``offset``/``offset_s``, s from the start of the audio).

    Returns
    -------
    DataFrame
        ``word``, ``onset_s``, ``offset_s``, ``audio_file`` (the stimulus file name), in spoken order.
    """
    from .textgrid import textgrid_words

    root = bids_root(root)
    stim = Path(str(stim_file))
    folder = root / "stimuli" / stim.parent if not str(stim.parent).startswith("stimuli") else root / stim.parent
    candidates = [folder / f"{stim.stem}{ext}" for ext in WORD_FILE_EXTENSIONS]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no word file for stimulus {stim_file}: expected one of "
                                f"{[str(c) for c in candidates]}")
    if path.suffix == ".TextGrid":
        words = textgrid_words(path)
    else:
        table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", keep_default_na=False)
        names = {c: c.removesuffix("_s") for c in table.columns}
        table = table.rename(columns=names)
        missing = [c for c in ("word", "onset") if c not in table.columns]
        if missing:
            raise ValueError(f"{path} lacks columns {missing} (has {list(table.columns)}); a word file needs "
                             f"word, onset and offset (s from the start of {stim.name})")
        onset = pd.to_numeric(table["onset"], errors="coerce").to_numpy(float)
        offset = pd.to_numeric(table.get("offset", table["onset"]), errors="coerce").to_numpy(float)
        words = pd.DataFrame({"word": table["word"].astype(str).to_numpy(), "onset_s": onset, "offset_s": offset})
    check_monotonic(words["onset_s"].to_numpy(), str(path))
    words["audio_file"] = stim.name
    words.attrs["source"] = str(path)
    return words


def _stimulus_rows(events_tsv: Path) -> pd.DataFrame:
    """Rows of an events file that start a stimulus (a ``stim_file`` other than ``n/a``)."""
    if not events_tsv.exists():
        return pd.DataFrame(columns=["onset", "stim_file"])
    table = pd.read_csv(events_tsv, sep="\t", dtype=str, keep_default_na=False)
    if "stim_file" not in table.columns:
        return pd.DataFrame(columns=["onset", "stim_file"])
    rows = table[~table["stim_file"].isin(["", "n/a"])]
    return pd.DataFrame({"onset": pd.to_numeric(rows["onset"], errors="coerce").to_numpy(float),
                         "stim_file": rows["stim_file"].to_numpy(str)})  # fmt: skip


def run_words(root: Path, path, *, default_stimulus: str | None = None) -> pd.DataFrame:
    """The words heard in one recording, ``time_s`` from its first sample.

    In order of preference: the events file's ``trial_type == "word"`` rows (:func:`read_words`);
    the word files of the stimuli its ``stim_file`` rows start (:func:`word_file_words`, shifted by
    the row's onset); the word file of ``default_stimulus`` (formatted with ``run``, e.g.
    ``audio{run:02d}.wav``) starting at the first sample, for releases whose runs have no events
    (OpenNeuro ds004408).
    """
    events_tsv = path.copy().update(suffix="events", extension=".tsv").fpath
    if events_tsv.exists():
        table = pd.read_csv(events_tsv, sep="\t", dtype=str, keep_default_na=False)
        if "trial_type" in table.columns and (table["trial_type"] == WORD_EVENT).any():
            return read_words(events_tsv)
    starts = _stimulus_rows(events_tsv)
    if starts.empty and default_stimulus is not None:
        run = int(path.run) if path.run is not None else 1
        starts = pd.DataFrame({"onset": [0.0], "stim_file": [default_stimulus.format(run=run)]})
    if starts.empty:
        raise ValueError(
            f"{events_tsv if events_tsv.exists() else path.fpath}: no word events (trial_type == 'word' rows) "
            f"and no stimulus onsets (stim_file column) to read word files from; see hearlike/data/datasets.yml"
        )
    tables = []
    for onset, stim_file in zip(starts["onset"], starts["stim_file"]):
        words = word_file_words(root, stim_file)
        words["time_s"] = words["onset_s"] + float(onset)
        tables.append(words)
    words = pd.concat(tables, ignore_index=True)
    words.attrs["source"] = ", ".join(dict.fromkeys(t.attrs["source"] for t in tables))
    return words


def read_subject(root: str | Path, subject: str, *, task: str = DEFAULT_TASK, runs=None,
                 default_stimulus: str | None = None) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one subject of an EEG-BIDS dataset (all its runs, or ``runs``) and the words heard.

    Runs are read with ``mne_bids.read_raw_bids`` and concatenated in run order; ``BAD
    boundary``/``EDGE boundary`` annotations mark the joins so that filters restart and epochs across
    a join are rejected. The words of each run come from :func:`run_words`.

    Parameters
    ----------
    root : str or Path
        The BIDS root or a folder holding it as ``bids/`` (the demo's data_root).
    subject : str
        ``"01"`` or ``"sub-01"``.
    task : str
        BIDS task label.
    runs : list of int, optional
        Run numbers to read (default: every run found).
    default_stimulus : str, optional
        Stimulus of a run without events, formatted with ``run`` (see :func:`run_words`).

    Returns
    -------
    raw : mne.io.BaseRaw
        Continuous EEG in volts.
    words : DataFrame
        ``time_s`` (s from the first sample of the concatenation) and either ``sentence_id``,
        ``word_index``, ``word`` (word events) or ``word``, ``onset_s``, ``offset_s``, ``audio_file``
        (word files), plus ``run``.

    Raises
    ------
    ValueError
        For a truncated BrainVision ``.eeg`` file, events whose ``sample`` column contradicts the
        header's sampling rate, or runs that differ in rate, channels or kind of word timing.
    """
    import mne_bids

    root = bids_root(root)
    subject = str(subject).removeprefix("sub-")
    raws, tables, offset_s = [], [], 0.0
    for path in recordings(root, subject, task, runs):
        if path.extension == ".vhdr":
            check_brainvision_size(path.fpath)
        raw = mne_bids.read_raw_bids(path, verbose="error")
        raw.load_data(verbose="error")
        if raws and (raw.info["sfreq"] != raws[0].info["sfreq"] or raw.ch_names != raws[0].ch_names):
            raise ValueError(f"{path.fpath}: sampling rate {raw.info['sfreq']:g} Hz / {len(raw.ch_names)} channels "
                             f"differ from the subject's first run ({raws[0].info['sfreq']:g} Hz / "
                             f"{len(raws[0].ch_names)} channels); all runs of a subject need one rate and montage")
        words = run_words(root, path, default_stimulus=default_stimulus)
        if "sentence_id" in words:
            check_sample_column(words, raw.info["sfreq"], header=path.fpath)
        if tables and ("sentence_id" in words) != ("sentence_id" in tables[0]):
            raise ValueError(f"{path.fpath}: some runs of sub-{subject} have word events and others word files; "
                             "give every run the same kind of word timing")
        words["time_s"] = words["time_s"] + offset_s
        words["run"] = int(path.run) if path.run is not None else 1
        tables.append(words)
        raws.append(raw)
        offset_s += raw.n_times / raw.info["sfreq"]
    raw = mne.concatenate_raws(raws, verbose="error") if len(raws) > 1 else raws[0]
    words = pd.concat(tables, ignore_index=True)
    if "sentence_id" in words:
        check_unique_words(words, f"sub-{subject} task-{task}")
    words.attrs["source"] = ", ".join(dict.fromkeys(t.attrs.get("source", "") for t in tables))
    logger.info("read BIDS sub-%s task-%s: %d run(s), %d words", subject, task, len(raws), len(words))
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
