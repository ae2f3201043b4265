"""Word-locked epochs aligned to the stimulus table, cached per subject as netCDF.

The result of :func:`load_epochs` follows the EEG-epochs contract of ARCHITECTURE.md: an
``xarray.DataArray`` with dims ``(subject, word, channel, time)``, float32 volts. Epochs that are
rejected (peak-to-peak, recording boundary, missing data, past the end of the recording) are NaN
rather than dropped, so all subjects share the stimulus table's word axis.
Which epochs are usable is the one rule of :mod:`hearlike.eeg.recording`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import mne
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ..cache import read_netcdf, write_netcdf
from ..cache import config_hash
from ..progress import disabled
from .catalog import data_root
from .datasets import dataset_record, read_subject, resolve_subjects
from .datasets.files import check_unique_words
from .preprocess import preprocess_raw, validate_preprocessing
from .recording import (
    bad_sample_mask,
    baseline_mask,
    epoch_rejections,
    onset_samples,
    peak_to_peak_exceeds,
    recording_of,
    sample_offsets,
)

logger = logging.getLogger(__name__)

#: Bump when the epoch computation changes so old caches are recomputed.
EPOCHS_FORMAT_VERSION = 2  # 2: resampled on whole periods of the two rates (no stretched time axis)
_STIMULUS_COLUMNS = ("sentence_id", "word_index", "word")
_MAX_LISTED = 20


class WordAlignmentError(ValueError):
    """The EEG recording's words and the stimulus table's words do not match one to one."""


# ----------------------------------------------------------------------------------------------
# word alignment
# ----------------------------------------------------------------------------------------------
def normalize_word(word: str) -> str:
    """Case-folded word without punctuation, for comparing spellings across files."""
    return re.sub(r"[\W_]+", "", str(word).casefold())


def stimulus_words(stimuli: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Validate a stimulus table (DataFrame or ``stimuli.tsv`` path) for epoching.

    Returns
    -------
    DataFrame
        The table with ``sentence_id`` as str and ``word_index`` as int, index reset.
    """
    source = "stimulus table"
    if not isinstance(stimuli, pd.DataFrame):
        source = str(stimuli)
        if not Path(stimuli).exists():
            raise FileNotFoundError(f"stimulus table {stimuli} does not exist")
        stimuli = pd.read_csv(stimuli, sep="\t", dtype={"sentence_id": str, "word": str}, keep_default_na=False)
    missing = [c for c in _STIMULUS_COLUMNS if c not in stimuli.columns]
    if missing:
        raise ValueError(f"{source} lacks columns {missing} (has {list(stimuli.columns)})")
    table = stimuli.reset_index(drop=True).copy()
    table["sentence_id"] = table["sentence_id"].astype(str)
    table["word_index"] = table["word_index"].astype(int)
    table["word"] = table["word"].astype(str)
    check_unique_words(table, source)
    table.attrs["source"] = source
    return table


def _raise_mismatch(problems: list[str], n_total: int, source: str, hint: str) -> None:
    listed = "\n  ".join(problems[:_MAX_LISTED])
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    raise WordAlignmentError(
        f"EEG words ({source}) and stimulus words do not match one to one: {len(problems)} "
        f"problem(s) among {n_total} stimulus words:\n  {listed}{more}\n{hint}"
    )


def _match_by_key(eeg_words: pd.DataFrame, stimuli: pd.DataFrame, unheard_ok: bool = False
                  ) -> tuple[np.ndarray, list[str], str]:
    """BIDS events: rows of ``eeg_words`` with each stimulus word's (sentence_id, word_index); -1 if none."""
    problems: list[str] = []
    keys = pd.MultiIndex.from_arrays([eeg_words["sentence_id"].astype(str), eeg_words["word_index"].astype(int)])
    wanted = pd.MultiIndex.from_arrays([stimuli["sentence_id"].astype(str), stimuli["word_index"].astype(int)])
    index = keys.get_indexer(wanted)
    for i in np.flatnonzero(index < 0) if not unheard_ok else ():
        problems.append(f"{wanted[i][0]}:{wanted[i][1]} {stimuli['word'].iat[i]!r}: no EEG word event with this key")
    hint = "The events.tsv word rows must carry the stimulus table's sentence_id and word_index."
    return index, problems, hint


def _match_by_audio_onset(eeg_words: pd.DataFrame, stimuli: pd.DataFrame, tolerance_s: float,
                          unheard_ok: bool = False) -> tuple[np.ndarray, list[str], str]:
    """Published word timings: the EEG word of the same audio file nearest in onset, within ``tolerance_s``."""
    index = np.full(len(stimuli), -1, dtype=int)
    problems: list[str] = []
    if not {"audio_path", "onset_s"} <= set(stimuli.columns):
        raise ValueError("stimulus table needs audio_path and onset_s to align with this dataset's word times")
    stim_files = stimuli["audio_path"].map(lambda p: Path(str(p)).name).to_numpy()
    stim_onsets = stimuli["onset_s"].to_numpy(float)
    eeg_files = eeg_words["audio_file"].astype(str).to_numpy()
    eeg_onsets = eeg_words["onset_s"].to_numpy(float)
    for audio in pd.unique(stim_files):
        rows = np.flatnonzero(stim_files == audio)
        candidates = np.flatnonzero(eeg_files == audio)
        if not len(candidates):
            for i in rows if not unheard_ok else ():
                problems.append(
                    f"{stimuli['sentence_id'].iat[i]}:{stimuli['word_index'].iat[i]} {stimuli['word'].iat[i]!r}: "
                    f"the recording has no words for audio file {audio}"
                )
            continue
        order = candidates[np.argsort(eeg_onsets[candidates], kind="stable")]
        sorted_onsets = eeg_onsets[order]
        if len(order) > 1:
            pos = np.clip(np.searchsorted(sorted_onsets, stim_onsets[rows]), 1, len(order) - 1)
        else:
            pos = np.zeros(len(rows), int)
        left = np.clip(pos - 1, 0, len(order) - 1)
        pick = np.where(
            np.abs(sorted_onsets[left] - stim_onsets[rows]) <= np.abs(sorted_onsets[pos] - stim_onsets[rows]), left, pos
        )
        nearest = order[pick]
        close = np.abs(eeg_onsets[nearest] - stim_onsets[rows]) <= tolerance_s
        for i, j, ok in zip(rows, nearest, close):
            if ok:
                index[i] = j
            else:
                problems.append(
                    f"{stimuli['sentence_id'].iat[i]}:{stimuli['word_index'].iat[i]} {stimuli['word'].iat[i]!r} "
                    f"({audio} @ {stim_onsets[i]:.3f} s): no EEG word within {tolerance_s * 1000:g} ms "
                    f"(nearest {eeg_words['word'].iat[j]!r} @ {eeg_onsets[j]:.3f} s)"
                )
    hint = (
        "The stimulus table must reference the dataset's own audio files (e.g. audio1.wav, "
        "DownTheRabbitHoleFinal_SoundFile1.wav) with onsets in them."
    )
    return index, problems, hint


def align_words(
    eeg_words: pd.DataFrame,
    stimuli: pd.DataFrame,
    *,
    tolerance_s: float = 0.025,
    strict: bool = True,
    unheard_ok: bool = False,
) -> np.ndarray:
    """Find, for every stimulus word, its row in the recording's word table.

    Two ways to match, chosen by the columns of ``eeg_words``:

    - ``sentence_id`` + ``word_index`` (BIDS events): by key;
    - ``audio_file`` + ``onset_s`` (Broderick, Alice): the stimulus row's ``audio_path`` file
      name and ``onset_s`` must match an EEG word within ``tolerance_s``.

    Either way the word texts must agree after :func:`normalize_word`.

    Parameters
    ----------
    eeg_words : DataFrame
        From a reader (see :mod:`hearlike.eeg.datasets`).
    stimuli : DataFrame
        Stimulus table (ARCHITECTURE.md contract).
    tolerance_s : float
        Largest onset difference accepted in the audio/onset mode.
    strict : bool
        If True, EEG words without a stimulus word are an error too; if False they are logged.
    unheard_ok : bool
        Stimulus words absent from the recording (their key, or their whole audio file) get -1
        instead of an error: the words of runs that were not read (``runs=``).

    Returns
    -------
    ndarray of int, shape (n_stimulus_words,)
        Row positions in ``eeg_words`` (-1: not heard, with ``unheard_ok``).

    Raises
    ------
    WordAlignmentError
        Listing the mismatched words.
    """
    source = eeg_words.attrs.get("source", "recording")
    n = len(stimuli)
    if {"sentence_id", "word_index"} <= set(eeg_words.columns):
        index, problems, hint = _match_by_key(eeg_words, stimuli, unheard_ok)
    elif {"audio_file", "onset_s"} <= set(eeg_words.columns):
        index, problems, hint = _match_by_audio_onset(eeg_words, stimuli, tolerance_s, unheard_ok)
    else:
        raise ValueError(
            f"EEG word table from {source} has neither sentence_id/word_index nor audio_file/onset_s columns"
        )
    matched = np.flatnonzero(index >= 0)
    taken, counts = np.unique(index[matched], return_counts=True)
    for j in taken[counts > 1]:
        users = [f"{stimuli['sentence_id'].iat[i]}:{stimuli['word_index'].iat[i]}" for i in matched[index[matched] == j]]
        problems.append(f"EEG word {eeg_words['word'].iat[j]!r} (row {j}) matches several stimulus words {users}")
    for i in matched:
        j = index[i]
        if normalize_word(stimuli["word"].iat[i]) != normalize_word(eeg_words["word"].iat[j]):
            problems.append(
                f"{stimuli['sentence_id'].iat[i]}:{stimuli['word_index'].iat[i]}: stimulus word "
                f"{stimuli['word'].iat[i]!r} but EEG word {eeg_words['word'].iat[j]!r}"
            )
    unused = np.setdiff1d(np.arange(len(eeg_words)), index[matched])
    if len(unused) and strict:
        for j in unused:
            where = (
                f"{eeg_words['audio_file'].iat[j]} @ {eeg_words['onset_s'].iat[j]:.3f} s"
                if "audio_file" in eeg_words
                else f"{eeg_words['sentence_id'].iat[j]}:{eeg_words['word_index'].iat[j]}"
            )
            problems.append(f"EEG word {eeg_words['word'].iat[j]!r} ({where}) has no stimulus word")
    elif len(unused):
        logger.info("%s: %d EEG words have no stimulus word and are not epoched", source, len(unused))
    if problems:
        _raise_mismatch(problems, n, source, hint + " Pass strict=False to ignore extra EEG words.")
    return index


# ----------------------------------------------------------------------------------------------
# epoching
# ----------------------------------------------------------------------------------------------
def epoch_words(
    raw: mne.io.BaseRaw, onsets_s: np.ndarray, *, params: dict[str, Any] | None = None, chunk_words: int = 512
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Cut word-locked epochs from preprocessed continuous EEG.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Preprocessed EEG, volts.
    onsets_s : ndarray, shape (n_words,)
        Word onsets, s from the first sample of ``raw``.
    params : dict, optional
        Uses ``tmin_s``, ``tmax_s``, ``baseline_s``, ``reject_peak_to_peak_v``.
    chunk_words : int
        Words processed at once (bounds memory).

    Returns
    -------
    data : ndarray, shape (n_words, n_channels, n_times), float32
        Volts; rejected epochs are NaN.
    times : ndarray, shape (n_times,)
        Seconds relative to word onset.
    counts : dict
        ``n_words``, ``n_out_of_bounds``, ``n_bad_segment``, ``n_peak_to_peak``, ``n_rejected``.
    """
    p = validate_preprocessing(params)
    sfreq = raw.info["sfreq"]
    offsets = sample_offsets(p, sfreq)
    times = offsets / sfreq
    onset_sample = onset_samples(onsets_s, sfreq)
    n_words, n_times = len(onset_sample), len(offsets)
    signal = raw.get_data()
    n_channels = signal.shape[0]
    rejected = epoch_rejections(onset_sample, offsets, bad_sample_mask(raw))
    baseline = baseline_mask(p, offsets, sfreq)
    data = np.full((n_words, n_channels, n_times), np.nan, dtype=np.float32)
    ptp_rejected = np.zeros(n_words, dtype=bool)
    valid = np.flatnonzero(~rejected["out_of_bounds"] & ~rejected["bad_segment"])
    for chunk in np.array_split(valid, max(1, int(np.ceil(len(valid) / chunk_words)))):
        if not len(chunk):
            continue
        idx = onset_sample[chunk, None] + offsets[None, :]  # (n_chunk, n_times)
        block = signal[:, idx].transpose(1, 0, 2)  # (n_chunk, n_channels, n_times)
        if baseline is not None:
            block = block - block[:, :, baseline].mean(axis=2, keepdims=True)
        ptp_rejected[chunk] = peak_to_peak_exceeds(block, p["reject_peak_to_peak_v"])
        data[chunk] = block
    data[ptp_rejected] = np.nan
    counts = {
        "n_words": int(n_words),
        "n_out_of_bounds": int(rejected["out_of_bounds"].sum()),
        "n_bad_segment": int(rejected["bad_segment"].sum()),
        "n_peak_to_peak": int(ptp_rejected.sum()),
    }
    counts["n_rejected"] = counts["n_out_of_bounds"] + counts["n_bad_segment"] + counts["n_peak_to_peak"]
    return data, times, counts


# ----------------------------------------------------------------------------------------------
# load_epochs
# ----------------------------------------------------------------------------------------------
def _words_fingerprint(stimuli: pd.DataFrame) -> str:
    columns = [c for c in ("sentence_id", "word_index", "word", "onset_s", "audio_path") if c in stimuli]
    blob = stimuli[columns].to_csv(index=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _check_usable(counts: dict[str, int], onsets_s: np.ndarray, raw: mne.io.BaseRaw, *, label: str, source: str,
                  params: dict[str, Any]) -> None:
    """WARNING for words heard after the end of the recording; error for a subject without a usable epoch.

    ``source`` names the files the recording and its words were read from.
    """
    duration_s = raw.n_times / raw.info["sfreq"]
    late = int((onsets_s > duration_s).sum())
    if late:
        logger.warning(
            "%s: %d of %d word onsets lie after the end of the recording (%.1f s; %s): is the EEG file "
            "truncated? Their epochs are NaN", label, late, len(onsets_s), duration_s, source,
        )
    if counts["n_words"] and counts["n_rejected"] == counts["n_words"]:
        raise ValueError(
            f"{label}: none of the {counts['n_words']} word epochs is usable ({source}): "
            f"{counts['n_out_of_bounds']} outside the recording, {counts['n_bad_segment']} in BAD segments, "
            f"{counts['n_peak_to_peak']} over the peak-to-peak limit of {params['reject_peak_to_peak_v']} V. "
            f"Check the recording and its word times, raise reject_peak_to_peak_v, or leave the subject out "
            f"(subjects=[...])"
        )


def _subject_epochs(
    dataset: str, subject: str, *, root: Path, stimuli: pd.DataFrame, params: dict[str, Any], strict: bool,
    runs: list[int] | None = None,
) -> tuple[xr.DataArray, xr.Dataset]:
    mastoids = dataset_record(dataset).mastoid_channels
    label = f"{dataset} subject {subject}"
    raw, words = read_subject(dataset, subject, root=root, runs=runs)
    eeg_files = [str(f) for f in getattr(raw, "filenames", ()) if f]
    source = ", ".join(f for f in dict.fromkeys(eeg_files + [str(words.attrs.get("source", ""))]) if f) or "recording"
    index = align_words(words, stimuli, strict=strict, unheard_ok=runs is not None)
    raw, report = preprocess_raw(raw, params=params, mastoid_channels=list(mastoids) if mastoids else None,
                                 label=label)  # fmt: skip
    onsets_s = np.where(index >= 0, words["time_s"].to_numpy(float)[np.maximum(index, 0)], np.nan)
    data, times, counts = epoch_words(raw, onsets_s, params=params)
    _check_usable(counts, onsets_s, raw, label=label, source=source, params=params)
    logger.info(
        "%s: %d/%d epochs rejected (%s), interpolated %s",
        label, counts["n_rejected"], counts["n_words"], counts, report["interpolated_channels"],
    )
    positions = np.array([raw.info["chs"][i]["loc"][:3] for i in range(len(raw.ch_names))], dtype=float)
    log_row = {"subject": str(subject), **counts, **report}
    labels = [f"{s}:{i}" for s, i in zip(stimuli["sentence_id"], stimuli["word_index"])]
    recording = recording_of(raw, onsets_s, labels, params=params)
    epochs = xr.DataArray(
        data,
        dims=("word", "channel", "time"),
        coords={
            "word": labels,
            "sentence_id": ("word", stimuli["sentence_id"].to_numpy(str)),
            "word_index": ("word", stimuli["word_index"].to_numpy(int)),
            "word_text": ("word", stimuli["word"].to_numpy(str)),
            "channel": list(raw.ch_names),
            "ch_x": ("channel", positions[:, 0]),
            "ch_y": ("channel", positions[:, 1]),
            "ch_z": ("channel", positions[:, 2]),
            "time": times,
        },
        attrs={"sfreq_hz": float(raw.info["sfreq"]), "dataset": dataset, "preprocessing_log": json.dumps([log_row])},
        name="eeg",
    )
    return epochs, recording


def _cache_key(dataset: str, params: dict[str, Any], stimuli: pd.DataFrame, strict: bool, runs=None) -> str:
    key = {"dataset": dataset, "params": params, "words": _words_fingerprint(stimuli), "strict": strict,
           "version": EPOCHS_FORMAT_VERSION}
    if runs is not None:
        key["runs"] = [int(r) for r in runs]
    return config_hash(key)


def _cache_paths(cache_dir, dataset: str, subject: str, key: str) -> tuple[Path | None, Path | None]:
    if cache_dir is None:
        return None, None
    return (Path(cache_dir) / f"epochs-{dataset}-{subject}-{key}.nc",
            Path(cache_dir) / f"recording-{dataset}-{subject}-{key}.nc")


def _resolve(dataset, stimuli, subjects, params, root, strict, runs=None):
    """Validated options, stimulus words, dataset folder, subject list and cache key of a load."""
    params = validate_preprocessing(params)
    stimuli = stimulus_words(stimuli)
    root = data_root(dataset, root)
    if subjects is not None and not isinstance(subjects, str) and not len(subjects):
        raise ValueError("subjects is empty; pass None to use the dataset's default subjects")
    subjects = resolve_subjects(dataset, subjects, root=root)
    return params, stimuli, root, subjects, _cache_key(dataset, params, stimuli, strict, runs)


def _cached_subject(dataset: str, subject: str, want: str, *, cache_dir, key: str, lazy: bool = False, **compute):
    """One subject's ``"epochs"`` or ``"recording"`` from the cache, else preprocessed (both cached).

    ``lazy`` (needs ``cache_dir``): opened from the cache file as dask arrays, not read; a subject
    preprocessed now is written, dropped and opened the same way, so no subject stays in memory.
    """
    paths = dict(zip(("epochs", "recording"), _cache_paths(cache_dir, dataset, subject, key)))
    lazy = lazy and paths[want] is not None
    if paths[want] is not None:
        cached = read_netcdf(paths[want], config_hash=key, dataarray=want == "epochs", lazy=lazy)
        if cached is not None:
            logger.info("%s subject %s: %s from cache %s", dataset, subject, want, paths[want])
            return cached
    epochs, recording = _subject_epochs(dataset, subject, **compute)
    if paths[want] is not None:
        write_netcdf(recording, paths["recording"], config_hash=key)
        write_netcdf(epochs, paths["epochs"], config_hash=key)
        if lazy:
            del epochs, recording
            return read_netcdf(paths[want], config_hash=key, dataarray=want == "epochs", lazy=True)
    return epochs if want == "epochs" else recording


def load_epochs(
    dataset: str,
    *,
    stimuli: pd.DataFrame | str | Path,
    subjects: list[str] | str | None = None,
    params: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    root: str | Path | None = None,
    strict: bool = True,
    runs: list[int] | None = None,
    lazy: bool = False,
) -> xr.DataArray:
    """Word-locked EEG epochs of ``dataset``, aligned to the stimulus table's words.

    Parameters
    ----------
    dataset : str
        Catalogue name (``"broderick2018"``, ``"alice2019"``, ``"bids"``, ``"demo"``, ``"demo-null"``).
    stimuli : DataFrame or path
        Stimulus table (ARCHITECTURE.md); its row order becomes the ``word`` axis.
    subjects : list of str or str, optional
        Subject labels, or a named selection (``"all"``, ``"paper"``); default the dataset's
        default selection (:func:`hearlike.eeg.datasets.resolve_subjects`).
    params : dict, optional
        EEG options over :data:`~hearlike.eeg.preprocess.DEFAULT_PREPROCESSING`.
    cache_dir : str or Path, optional
        Where per-subject epochs are cached as netCDF (``epochs-<dataset>-<subject>-<hash>.nc``,
        written atomically; an interrupted run resumes with the subjects already done).
    root : str or Path, optional
        Dataset folder; default ``$HEARLIKE_DATA/<dataset>``.
    strict : bool
        Passed to :func:`align_words`.
    runs : list of int, optional
        Read only these runs (datasets with several runs per subject); the words of other runs stay
        on the word axis as NaN epochs (not heard).
    lazy : bool
        Open every subject's cached epochs as one dask chunk instead of reading them (needs
        ``cache_dir``): the metric grid reads one block of subjects at a time, so memory does not
        grow with the number of subjects (Broderick 2018: ~1 GB of float32 epochs per subject).

    Returns
    -------
    xarray.DataArray, dims (subject, word, channel, time), float32, volts
        Coords: ``time`` (s from word onset), ``ch_x/ch_y/ch_z`` (m), ``sentence_id``,
        ``word_index``, ``word_text``. Attrs: ``sfreq_hz``, ``dataset``, ``config_hash``,
        ``preprocessing`` (JSON of the options), ``preprocessing_log`` (JSON, see
        :func:`preprocessing_log`). Rejected epochs are NaN.
    """
    params, stimuli, root, subjects, key = _resolve(dataset, stimuli, subjects, params, root, strict, runs)
    per_subject = [
        _cached_subject(dataset, subject, "epochs", cache_dir=cache_dir, key=key, root=root, stimuli=stimuli,
                        params=params, strict=strict, runs=runs, lazy=lazy)
        for subject in tqdm(subjects, desc=f"EEG epochs ({dataset})", disable=disabled(len(subjects) < 2))
    ]
    reference = per_subject[0]
    for subject, epochs in zip(subjects[1:], per_subject[1:]):
        if list(epochs["channel"].values) != list(reference["channel"].values):
            missing = sorted(set(reference["channel"].values) ^ set(epochs["channel"].values))
            raise ValueError(
                f"{dataset}: subject {subject} has channels differing from subject {subjects[0]} "
                f"(channel count mismatch: {epochs.sizes['channel']} vs {reference.sizes['channel']}; "
                f"differences {missing[:10]}); all subjects need the same montage"
            )
        if epochs.attrs["sfreq_hz"] != reference.attrs["sfreq_hz"] or epochs.sizes["time"] != reference.sizes["time"]:
            raise ValueError(
                f"{dataset}: subject {subject} is at {epochs.attrs['sfreq_hz']} Hz but subject {subjects[0]} at "
                f"{reference.attrs['sfreq_hz']} Hz; set resample_hz so that all subjects share a rate"
            )
    log = [row for epochs in per_subject for row in json.loads(epochs.attrs["preprocessing_log"])]
    combined = xr.concat(
        [e.drop_attrs() if hasattr(e, "drop_attrs") else e for e in per_subject],
        dim="subject",
        coords="minimal",
        compat="override",
        join="exact",
    )
    combined = combined.assign_coords(subject=np.array(subjects, dtype=str)).astype(np.float32)
    combined.attrs = {
        "sfreq_hz": float(reference.attrs["sfreq_hz"]),
        "dataset": dataset,
        "config_hash": key,
        "preprocessing": json.dumps(params),
        "preprocessing_log": json.dumps(log),
        "units": "V",
    }
    combined.name = "eeg"
    return combined.transpose("subject", "word", "channel", "time")


def load_recordings(
    dataset: str,
    *,
    stimuli: pd.DataFrame | str | Path,
    subjects: list[str] | str | None = None,
    params: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    root: str | Path | None = None,
    strict: bool = True,
    runs: list[int] | None = None,
    lazy: bool = False,
) -> dict[str, xr.Dataset]:
    """The preprocessed continuous recordings behind :func:`load_epochs` (same arguments; ``lazy``:
    each recording opened from its cache file as dask arrays, read when a task needs it).

    Cached beside the epochs (``recording-<dataset>-<subject>-<hash>.nc``, written whenever a
    subject's epochs are computed); a subject whose recording is not cached is preprocessed again.

    Returns
    -------
    dict of subject to Dataset
        See :func:`hearlike.eeg.recording.recording_of`: ``signal`` (channel, sample) volts,
        ``epoch_ok`` (sample), ``onset_sample`` (word).
    """
    params, stimuli, root, subjects, key = _resolve(dataset, stimuli, subjects, params, root, strict, runs)
    return {
        subject: _cached_subject(dataset, subject, "recording", cache_dir=cache_dir, key=key, root=root,
                                 stimuli=stimuli, params=params, strict=strict, runs=runs, lazy=lazy)
        for subject in tqdm(subjects, desc=f"EEG recordings ({dataset})", disable=disabled(len(subjects) < 2))
    }


def preprocessing_log(epochs: xr.DataArray) -> pd.DataFrame:
    """Per-subject table of what preprocessing did: epochs lost (by reason) and channels interpolated.

    Columns: ``subject``, ``n_words``, ``n_rejected``, ``n_out_of_bounds``, ``n_bad_segment``,
    ``n_peak_to_peak``, ``interpolated_channels`` (comma-separated), ``n_nan_channels``,
    ``nan_segments_s``, ``ica_components_removed``.
    """
    rows = json.loads(epochs.attrs.get("preprocessing_log", "[]"))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["interpolated_channels"] = table["interpolated_channels"].map(lambda chans: ",".join(chans))
    columns = [
        "subject", "n_words", "n_rejected", "n_out_of_bounds", "n_bad_segment", "n_peak_to_peak",
        "interpolated_channels", "n_nan_channels", "nan_segments_s", "ica_components_removed",
    ]
    return table[[c for c in columns if c in table.columns]]
