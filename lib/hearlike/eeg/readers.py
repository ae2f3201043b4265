"""Readers for the study's EEG datasets in their published formats.

Every reader returns the same pair for one subject:

``raw`` : :class:`mne.io.BaseRaw`
    Continuous EEG in volts. Scalp channels have montage positions; reference channels such as
    mastoids are EEG channels without positions; EOG / misc channels carry their own types.
``words`` : :class:`pandas.DataFrame`, one row per word heard
    ``time_s`` (float, s from the first sample of ``raw``) and ``word`` (str), plus either
    ``sentence_id``/``word_index`` (BIDS events) or ``audio_file``/``onset_s`` (the stimulus audio
    file's name and the onset in it, for Broderick and Alice). ``words.attrs["source"]`` names the
    file(s) the words came from, for error messages.

Layouts, field names, DOIs and citations are documented in ``data/datasets.yml``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import scipy.io

from .catalog import data_root, dataset_spec


def check_unique_words(table: pd.DataFrame, source) -> None:
    """Raise if ``table`` has a (sentence_id, word_index) pair twice, naming ``source`` and the pairs."""
    dup = table.duplicated(["sentence_id", "word_index"])
    if dup.any():
        raise ValueError(
            f"{source}: duplicated (sentence_id, word_index) rows: "
            f"{table.loc[dup, ['sentence_id', 'word_index']].head(5).values.tolist()}"
        )

logger = logging.getLogger(__name__)

WORD_EVENT = "word"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _check_monotonic(onsets: np.ndarray, source: str, what: str = "onsets") -> None:
    onsets = np.asarray(onsets, dtype=float)
    if not np.all(np.isfinite(onsets)):
        bad = np.flatnonzero(~np.isfinite(onsets))
        raise ValueError(f"{source}: word {what} contain NaN/inf at rows {bad[:10].tolist()}; fix the file")
    steps = np.diff(onsets)
    if np.any(steps < 0):
        i = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(
            f"{source}: word {what} are not monotonic: row {i + 1} starts at {onsets[i + 1]:.3f} s, "
            f"before row {i} at {onsets[i]:.3f} s; the word table is corrupt or unsorted"
        )


def _annotation_times_s(raw: mne.io.BaseRaw) -> np.ndarray:
    """Annotation onsets in seconds from the first sample of ``raw``."""
    onsets = np.asarray(raw.annotations.onset, dtype=float)
    if raw.annotations.orig_time is not None:
        onsets = onsets - raw.first_time
    return onsets


def _mat_string(cell) -> str:
    arr = np.asarray(cell)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.reshape(-1)[0])
    if arr.size == 0:
        return ""
    return str(arr.reshape(-1)[0]) if arr.dtype.kind in "US" else str(arr)


def _loadmat(path: Path, required: tuple[str, ...]) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"missing file {path}")
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError as err:  # MATLAB v7.3 (HDF5)
        raise ValueError(f"{path} is a MATLAB v7.3 file; re-save it with save(..., '-v7') ({err})") from err
    except Exception as err:
        raise ValueError(f"{path} is not a readable MATLAB .mat file: {err}") from err
    missing = [key for key in required if key not in mat]
    if missing:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path} lacks fields {missing} (has {present}); is it the right file?")
    return mat


# ----------------------------------------------------------------------------------------------
# Broderick et al. 2018, "Natural Speech"
# ----------------------------------------------------------------------------------------------
_BRODERICK_RUN = re.compile(r"Subject(\d+)_Run(\d+)\.mat$")


def _broderick_subject_dir(root: Path, subject: str) -> Path:
    number = str(subject).removeprefix("Subject")
    for candidate in (root / "EEG" / f"Subject{number}", root / f"Subject{number}"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no EEG folder for Broderick subject {subject!r}: expected {root / 'EEG' / f'Subject{number}'} "
        f"holding Subject{number}_Run1.mat ... (see data/datasets.yml)"
    )


def read_broderick_words(root: str | Path, run: int) -> pd.DataFrame:
    """Read ``Stimuli/Text/Run{run}.mat`` (``wordVec``, ``onset_time``, ``offset_time``).

    Returns
    -------
    DataFrame
        Columns ``word``, ``onset_s``, ``offset_s`` (s from the start of ``audio{run}.wav``),
        ``audio_file``, ``run``.
    """
    path = Path(root) / "Stimuli" / "Text" / f"Run{run}.mat"
    mat = _loadmat(path, ("wordVec", "onset_time", "offset_time"))
    words = [_mat_string(cell) for cell in np.asarray(mat["wordVec"], dtype=object).reshape(-1)]
    onsets = np.asarray(mat["onset_time"], dtype=float).reshape(-1)
    offsets = np.asarray(mat["offset_time"], dtype=float).reshape(-1)
    if not len(words) == len(onsets) == len(offsets):
        raise ValueError(
            f"{path}: wordVec has {len(words)} words but onset_time {len(onsets)} and offset_time "
            f"{len(offsets)} values; they must have one entry per word"
        )
    _check_monotonic(onsets, str(path))
    return pd.DataFrame(
        {"word": words, "onset_s": onsets, "offset_s": offsets, "audio_file": f"audio{run}.wav", "run": run}
    )


def read_broderick(root: str | Path, subject: str) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read all runs of one Broderick subject and the words heard in them.

    Runs ``Subject{N}_Run{R}.mat`` (``eegData`` samples x 128 in µV, ``mastoids`` samples x 2,
    ``fs``) are concatenated in run order; ``BAD boundary``/``EDGE boundary`` annotations mark the
    joins so that filters restart and epochs across a join are rejected. EEG time 0 of each run
    is the onset of ``audio{R}.wav``.

    Parameters
    ----------
    root : str or Path
        Dataset folder (holding ``EEG/`` or ``Subject*/`` and ``Stimuli/``).
    subject : str
        Subject number (``"1"``) or folder name (``"Subject1"``).

    Returns
    -------
    raw, words
        See the module docstring.
    """
    root = Path(root)
    spec = dataset_spec("broderick2018")
    fields = spec["fields"]
    n_channels = int(spec["n_eeg_channels"])
    montage = mne.channels.make_standard_montage(spec["montage"])
    mastoid_names = list(spec["mastoid_channels"])
    scale = float(spec["units_scale_to_volts"])
    folder = _broderick_subject_dir(root, subject)
    runs = sorted(
        (int(m.group(2)), path)
        for path in folder.glob("Subject*_Run*.mat")
        if (m := _BRODERICK_RUN.search(path.name))
    )
    if not runs:
        raise FileNotFoundError(f"{folder} holds no Subject*_Run*.mat files")
    raws, tables, sfreq, offset_s = [], [], None, 0.0
    for run, path in runs:
        mat = _loadmat(path, (fields["eeg"], fields["mastoids"], fields["sfreq"]))
        eeg = np.asarray(mat[fields["eeg"]], dtype=float)
        mastoids = np.asarray(mat[fields["mastoids"]], dtype=float)
        fs = float(np.squeeze(mat[fields["sfreq"]]))
        if eeg.ndim != 2 or eeg.shape[1] != n_channels:
            raise ValueError(
                f"{path}: {fields['eeg']} has shape {eeg.shape}; expected (samples, {n_channels}) "
                f"for the {spec['montage']} cap (channel count mismatch)"
            )
        if mastoids.ndim != 2 or mastoids.shape != (eeg.shape[0], 2):
            raise ValueError(
                f"{path}: {fields['mastoids']} has shape {mastoids.shape}; expected ({eeg.shape[0]}, 2) "
                f"(two mastoid channels, as many samples as {fields['eeg']})"
            )
        if sfreq is None:
            sfreq = fs
        elif fs != sfreq:
            raise ValueError(
                f"{path}: sampling rate {fs:g} Hz differs from {sfreq:g} Hz in the subject's earlier "
                f"runs (sampling-rate mismatch between runs); resample the runs to one rate"
            )
        info = mne.create_info(montage.ch_names + mastoid_names, fs, "eeg")
        data = np.concatenate([eeg, mastoids], axis=1).T * scale
        raw = mne.io.RawArray(data, info, verbose="error")
        raws.append(raw)
        words = read_broderick_words(root, run)
        words["time_s"] = words["onset_s"] + offset_s
        tables.append(words)
        offset_s += raw.n_times / fs
    raw = mne.concatenate_raws(raws, verbose="error") if len(raws) > 1 else raws[0]
    raw.set_montage(montage, on_missing="ignore", verbose="error")
    words = pd.concat(tables, ignore_index=True)
    words.attrs["source"] = f"{folder} + {root / 'Stimuli' / 'Text'}"
    logger.info("read Broderick subject %s: %d runs, %d words", subject, len(runs), len(words))
    return raw, words


# ----------------------------------------------------------------------------------------------
# Brennan & Hale 2019, "Alice"
# ----------------------------------------------------------------------------------------------
def read_alice_words(root: str | Path) -> pd.DataFrame:
    """Read ``AliceChapterOne-EEG.csv``.

    Returns
    -------
    DataFrame
        Columns ``word``, ``segment`` (int), ``onset_s``, ``offset_s`` (s from the start of the
        segment's wav) and ``audio_file``, plus the csv's other columns unchanged.
    """
    spec = dataset_spec("alice2019")
    cols = spec["word_columns"]
    path = Path(root) / spec["layout"]["words"]
    if not path.exists():
        raise FileNotFoundError(f"missing word table {path} (AliceChapterOne-EEG.csv from the Alice release)")
    table = pd.read_csv(path)
    missing = [c for c in cols.values() if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing} (has {list(table.columns)})")
    table = table.rename(
        columns={cols["word"]: "word", cols["segment"]: "segment", cols["onset"]: "onset_s", cols["offset"]: "offset_s"}
    )
    table["segment"] = table["segment"].astype(int)
    table["word"] = table["word"].astype(str)
    for segment, rows in table.groupby("segment", sort=False):
        _check_monotonic(rows["onset_s"].to_numpy(), f"{path} (Segment {segment})")
    pattern = spec["layout"]["audio"]
    table["audio_file"] = [pattern.format(segment=s) for s in table["segment"]]
    return table


def alice_segment_onsets(
    raw: mne.io.BaseRaw, *, n_segments: int = 12, regex: str | None = None, source: str = "recording"
) -> dict[int, float]:
    """Onsets (s from the first sample) of the audio segments, from the trigger annotations.

    The first annotation whose description matches ``regex`` with segment number ``k`` marks the
    start of ``DownTheRabbitHoleFinal_SoundFile{k}.wav``.
    """
    pattern = re.compile(regex or dataset_spec("alice2019")["segment_trigger_regex"])
    onsets: dict[int, float] = {}
    for description, time in zip(raw.annotations.description, _annotation_times_s(raw)):
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


def read_alice(root: str | Path, subject: str) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one Alice subject (BrainVision ``S01.vhdr``) and the words heard, in recording time.

    Parameters
    ----------
    root : str or Path
        Dataset folder holding ``S01.vhdr`` ..., ``AliceChapterOne-EEG.csv``.
    subject : str
        ``"S01"`` (or ``"1"``).
    """
    root = Path(root)
    spec = dataset_spec("alice2019")
    if not str(subject).startswith("S"):
        subject = f"S{int(subject):02d}"
    path = root / spec["layout"]["eeg"].format(subject=subject)
    if not path.exists():
        raise FileNotFoundError(f"missing BrainVision header {path} (with its .vmrk and .eeg)")
    raw = mne.io.read_raw_brainvision(path, preload=True, verbose="error")
    types = {ch: "eog" for ch in spec.get("eog_channels", []) if ch in raw.ch_names}
    types |= {ch: "misc" for ch in spec.get("misc_channels", []) if ch in raw.ch_names}
    if types:
        raw.set_channel_types(types, verbose="error")
    montage_file = root / spec.get("montage_file", "")
    if spec.get("montage_file") and montage_file.exists():
        montage = mne.channels.read_custom_montage(montage_file)
    else:
        montage = mne.channels.make_standard_montage(spec["montage"])
    expected = montage.ch_names[: int(spec["n_eeg_channels"])]
    missing = [ch for ch in expected if ch not in raw.ch_names]
    if missing:
        raise ValueError(
            f"{path}: EEG channels {missing} are missing (channel count mismatch: found "
            f"{len(mne.pick_types(raw.info, eeg=True))} EEG channels, expected the "
            f"{len(expected)} {spec['montage']} channels)"
        )
    raw.set_montage(montage, on_missing="ignore", verbose="error")
    onsets = alice_segment_onsets(raw, n_segments=int(spec["n_segments"]), regex=spec["segment_trigger_regex"], source=str(path))
    words = read_alice_words(root)
    words["time_s"] = words["segment"].map(onsets) + words["onset_s"]
    words.attrs["source"] = f"{path} + {root / spec['layout']['words']}"
    logger.info("read Alice subject %s: %d words", subject, len(words))
    return raw, words


# ----------------------------------------------------------------------------------------------
# BIDS (generic; the embedded demo is written this way)
# ----------------------------------------------------------------------------------------------
def bids_root(root: str | Path) -> Path:
    """The BIDS root under a dataset folder: ``root`` itself, or ``root/bids`` (the demo's layout)."""
    root = Path(root)
    if (root / "dataset_description.json").exists() or any(root.glob("sub-*")):
        return root
    if (root / "bids").is_dir():
        return root / "bids"
    return root


def _bids_path(root: Path, subject: str, task: str):
    import mne_bids

    path = mne_bids.BIDSPath(root=root, subject=subject, task=task, datatype="eeg", suffix="eeg")
    readable = (".vhdr", ".edf", ".bdf", ".set", ".fif")  # headers read_raw_bids opens (.eeg is data)
    matches = sorted((p for p in path.match() if p.extension in readable), key=lambda p: readable.index(p.extension))
    if not matches:
        raise FileNotFoundError(
            f"no EEG recording for sub-{subject} task-{task} under {root} "
            f"(expected e.g. {root}/sub-{subject}/eeg/sub-{subject}_task-{task}_eeg.vhdr)"
        )
    return matches[0]


def read_bids_words(events_tsv: str | Path) -> pd.DataFrame:
    """Word rows (``trial_type == "word"``) of a BIDS ``*_events.tsv``.

    Returns
    -------
    DataFrame
        ``time_s`` (the BIDS ``onset``, s from the first sample), ``sentence_id`` (str),
        ``word_index`` (int), ``word`` (str).
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
    words["word_index"] = words["word_index"].astype(int)
    check_unique_words(words, events_tsv)
    words.attrs["source"] = str(events_tsv)
    return words


def read_bids(root: str | Path, subject: str, *, task: str = "listening") -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one subject of an EEG-BIDS dataset with ``mne_bids.read_raw_bids`` and its word events.

    ``root`` is the BIDS root or a folder holding it as ``bids/`` (the demo's data_root).
    """
    import mne_bids

    root = bids_root(root)
    subject = str(subject).removeprefix("sub-")
    path = _bids_path(root, subject, task)
    raw = mne_bids.read_raw_bids(path, verbose="error")
    raw.load_data(verbose="error")
    events_tsv = path.copy().update(suffix="events", extension=".tsv").fpath
    words = read_bids_words(events_tsv)
    logger.info("read BIDS sub-%s task-%s: %d words", subject, task, len(words))
    return raw, words


def write_bids_recording(
    raw: mne.io.BaseRaw, words: pd.DataFrame, *, root: str | Path, subject: str, task: str = "listening"
) -> Path:
    """Write ``raw`` (volts) with word events as an EEG-BIDS recording (BrainVision files).

    ``words`` needs ``time_s`` (s from the first sample), ``sentence_id``, ``word_index``, ``word``;
    they become ``trial_type == "word"`` rows of ``*_events.tsv`` that :func:`read_bids` reads back.
    Used by the demo dataset and the tests.
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


# ----------------------------------------------------------------------------------------------
# dispatch
# ----------------------------------------------------------------------------------------------
def list_subjects(dataset: str, *, root: str | Path | None = None) -> list[str]:
    """Subjects available for ``dataset`` under its root folder, in natural order."""
    spec = dataset_spec(dataset)
    root = data_root(dataset, root)
    reader = spec["reader"]
    if reader == "broderick":
        folders = list(root.glob("EEG/Subject*")) or list(root.glob("Subject*"))
        subjects = sorted({f.name.removeprefix("Subject") for f in folders if f.is_dir()}, key=lambda s: (len(s), s))
    elif reader == "alice":
        subjects = sorted(p.stem for p in root.glob("S*.vhdr"))
    else:
        import mne_bids

        root = bids_root(root)
        subjects = sorted(mne_bids.get_entity_vals(root, "subject")) if root.is_dir() else []
    if not subjects:
        raise FileNotFoundError(
            f"no subjects of dataset {dataset!r} found under {root}; run hearlike.eeg.fetch({dataset!r}) "
            f"or see data/datasets.yml for the expected layout"
        )
    return subjects


def read_subject(
    dataset: str, subject: str, *, root: str | Path | None = None, task: str | None = None
) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one subject of ``dataset`` with the reader named in ``datasets.yml``.

    Returns
    -------
    raw : mne.io.BaseRaw
        Continuous EEG in volts (see the module docstring).
    words : DataFrame
        The words heard, with ``time_s`` in the recording.
    """
    spec = dataset_spec(dataset)
    root = data_root(dataset, root)
    reader = spec["reader"]
    if reader == "broderick":
        return read_broderick(root, subject)
    if reader == "alice":
        return read_alice(root, subject)
    if reader == "bids":
        return read_bids(root, subject, task=task or spec.get("task", "listening"))
    raise ValueError(f"datasets.yml names unknown reader {reader!r} for {dataset!r} (broderick, alice, bids)")
