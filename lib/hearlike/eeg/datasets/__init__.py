"""The EEG datasets hearlike reads: one module per layout, registered here (:data:`DATASETS`).

Each record says how to read a subject, list subjects, check that the files are present, and —
for the published datasets — how to read the word timings and build the stimulus table. Where a
dataset comes from (citation, licence, DOI, download, file layout) is in
``hearlike/data/datasets.yml`` (:func:`hearlike.eeg.catalog.dataset_spec`).

Adding a dataset: a module here with ``read_subject``, ``list_subjects``, ``is_present`` and
``LAYOUT`` (plus ``word_table``/``stimulus_table`` if it publishes word timings), a record in
:data:`DATASETS`, and an entry in ``datasets.yml``.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mne
import pandas as pd

from ...stimuli import validate_stimuli, write_stimuli
from ..catalog import data_root
from . import alice, bids, broderick

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "DatasetRecord", "dataset_names", "dataset_record", "list_subjects", "read_subject",
           "resolve_subjects", "stimulus_table", "write_stimulus_table"]  # fmt: skip


@dataclass(frozen=True)
class DatasetRecord:
    """What hearlike knows about reading one EEG dataset.

    Attributes
    ----------
    name : str
        Registry name (also the key in ``datasets.yml`` and the default folder name).
    read_subject : callable
        ``(root, subject, **options) -> (raw, words)``: continuous EEG in volts and the words heard,
        ``time_s`` from the first sample, plus ``sentence_id``/``word_index`` (BIDS events) or
        ``audio_file``/``onset_s`` (published word timings); ``words.attrs["source"]`` names the files.
    list_subjects : callable
        ``(root) -> list of str``.
    is_present : callable
        ``(root) -> bool``: a cheap check that the files are there.
    layout : dict of str to str
        File patterns under the dataset folder (documentation; ``datasets.yml`` repeats them).
    word_table : callable or None
        ``(root) -> DataFrame``: the published word timings in spoken order.
    stimulus_table : callable or None
        ``(root, **options) -> DataFrame``: the stimulus table built from them.
    mastoid_channels : tuple of str or None
        Reference channels for ``reference: mastoids``.
    generated_by : str or None
        The module that writes the dataset locally (nothing to download).
    read_options : dict
        Extra keyword arguments for ``read_subject`` (e.g. the BIDS task).
    selections : dict of str to callable
        Named subject selections, ``name -> (root) -> list of str`` (``paper``: the subjects the
        dataset's own analysis kept); ``all`` is always available.
    default_subjects : callable or None
        ``(root) -> list of str`` used when no subjects are given (default: all found).
    has_runs : bool
        Whether ``read_subject`` takes ``runs=`` (several recordings per subject).
    """

    name: str
    read_subject: Callable[..., tuple[mne.io.BaseRaw, pd.DataFrame]]
    list_subjects: Callable[[Path], list[str]]
    is_present: Callable[[Path], bool]
    layout: dict
    word_table: Callable[[Path], pd.DataFrame] | None = None
    stimulus_table: Callable[..., pd.DataFrame] | None = None
    mastoid_channels: tuple[str, ...] | None = None
    generated_by: str | None = None
    read_options: dict | None = None
    selections: dict | None = None
    default_subjects: Callable[[Path], list[str]] | None = None
    has_runs: bool = False


def _bids_record(name: str, *, generated_by: str | None = None) -> DatasetRecord:
    return DatasetRecord(name=name, read_subject=bids.read_subject, list_subjects=bids.list_subjects,
                         is_present=bids.is_present, layout=bids.LAYOUT, generated_by=generated_by,
                         read_options={"task": bids.DEFAULT_TASK}, has_runs=True)  # fmt: skip


#: The registry: dataset name -> record.
DATASETS: dict[str, DatasetRecord] = {
    "broderick2018": DatasetRecord(
        name="broderick2018", read_subject=broderick.read_subject, list_subjects=broderick.list_subjects,
        is_present=broderick.is_present, layout=broderick.LAYOUT, word_table=broderick.word_table,
        stimulus_table=broderick.stimulus_table, mastoid_channels=broderick.MASTOID_CHANNELS,
        selections={"paper": broderick.list_subjects}, has_runs=True,
    ),
    "alice2019": DatasetRecord(
        name="alice2019", read_subject=alice.read_subject, list_subjects=alice.list_subjects,
        is_present=alice.is_present, layout=alice.LAYOUT, word_table=alice.word_table,
        stimulus_table=alice.stimulus_table, selections={"paper": alice.paper_subjects},
        default_subjects=alice.default_subjects,
    ),
    "bids": _bids_record("bids"),
    "demo": _bids_record("demo", generated_by="hearlike.demo"),
    "demo-null": _bids_record("demo-null", generated_by="hearlike.demo"),
}  # fmt: skip


def dataset_names() -> list[str]:
    """Names of the registered datasets (``broderick2018``, ``alice2019``, ``bids``, ``demo``, ...)."""
    return list(DATASETS)


def dataset_record(name: str) -> DatasetRecord:
    """The record of dataset ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the known names.
    """
    if name not in DATASETS:
        raise ValueError(
            f"unknown EEG dataset {name!r}; known datasets: {sorted(DATASETS)} (a new dataset needs a module "
            f"in hearlike/eeg/datasets/, a record in its DATASETS and an entry in hearlike/data/datasets.yml)"
        )
    return DATASETS[name]


def list_subjects(dataset: str, *, root: str | Path | None = None) -> list[str]:
    """Subjects available for ``dataset`` under its folder (default ``$HEARLIKE_DATA/<dataset>``)."""
    record = dataset_record(dataset)
    root = data_root(dataset, root)
    subjects = record.list_subjects(root)
    if not subjects:
        raise FileNotFoundError(
            f"no subjects of dataset {dataset!r} found under {root}; run hearlike.eeg.fetch({dataset!r}) "
            f"or see hearlike/data/datasets.yml for the expected layout"
        )
    return subjects


def resolve_subjects(dataset: str, subjects=None, *, root: str | Path | None = None) -> list[str]:
    """The subjects to read: a list as given, a named selection, or the dataset's default.

    Parameters
    ----------
    dataset : str
        Registry name.
    subjects : None, str or list of str
        None: the dataset's default (Alice: the ``datasets.mat`` ``use`` list when present; others:
        every subject found); ``"all"``; a named selection such as ``"paper"``
        (:attr:`DatasetRecord.selections`); or subject labels as :func:`list_subjects` names them.
    root : str or Path, optional
        Dataset folder (default ``$HEARLIKE_DATA/<dataset>``).

    Raises
    ------
    ValueError
        For an unknown selection name, an empty list, or subjects not found (naming them and those found).
    """
    record = dataset_record(dataset)
    root = data_root(dataset, root)
    found = list_subjects(dataset, root=root)
    if subjects is None:
        chosen = record.default_subjects(root) if record.default_subjects else found
    elif isinstance(subjects, str):
        selections = {"all": lambda _root: found, **(record.selections or {})}
        if subjects not in selections:
            raise ValueError(f"dataset {dataset!r} has no subject selection {subjects!r}; named selections: "
                             f"{sorted(selections)} (or list the subjects)")
        chosen = list(selections[subjects](root))
    else:
        chosen = [str(s) for s in subjects]
    if not chosen:
        raise ValueError(f"no subjects selected for dataset {dataset!r} under {root}; subjects found: {found}")
    missing = [s for s in chosen if s not in found]
    if missing:
        raise ValueError(f"subjects {missing} of dataset {dataset!r} are not under {root}; subjects found: {found}")
    return chosen


def read_subject(
    dataset: str, subject: str, *, root: str | Path | None = None, task: str | None = None, runs=None
) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read one subject of ``dataset`` with its registered reader.

    Parameters
    ----------
    dataset : str
        Registry name.
    subject : str
        As :func:`list_subjects` names it.
    root : str or Path, optional
        Dataset folder (default ``$HEARLIKE_DATA/<dataset>``).
    task : str, optional
        BIDS task label (BIDS datasets only; default ``listening``).
    runs : list of int, optional
        Run numbers to read (datasets with runs only; default all).

    Returns
    -------
    raw : mne.io.BaseRaw
        Continuous EEG in volts.
    words : DataFrame
        The words heard, with ``time_s`` in the recording.
    """
    record = dataset_record(dataset)
    options = dict(record.read_options or {})
    if task is not None:
        if "task" not in options:
            raise ValueError(f"dataset {dataset!r} has no BIDS tasks; leave task= unset")
        options["task"] = task
    if runs is not None:
        if not record.has_runs:
            raise ValueError(f"dataset {dataset!r} has one recording per subject, no runs; leave `runs:` unset")
        options["runs"] = [int(r) for r in runs]
    return record.read_subject(data_root(dataset, root), subject, **options)


def stimulus_table(dataset: str, *, root: str | Path | None = None, check_audio: bool = True,
                   **options) -> pd.DataFrame:
    """The stimulus table of a published dataset, from its own word-timing files.

    Sentences are segments of long audio files (a Broderick run lasts about 3 minutes, an Alice
    segment about 1 minute); ``onset_s``/``offset_s`` stay relative to the start of that file and
    :func:`hearlike.models.extract_states` crops each sentence out of it (``segment_pad_s``). The
    words, audio file names and onsets are those the EEG readers use, so the table aligns one to
    one with ``hearlike.eeg.load_epochs(dataset, stimuli=table, root=root)``.

    Parameters
    ----------
    dataset : {"broderick2018", "alice2019"}
        Registry name.
    root : str or Path, optional
        Dataset folder (default ``$HEARLIKE_DATA/<dataset>``); ``audio_path`` is relative to it.
    check_audio : bool
        Require every referenced audio file to exist under ``root``.
    **options
        The dataset's own: ``pause_s``, ``min_words``, ``max_words`` (Broderick,
        :func:`hearlike.eeg.datasets.broderick.segment_at_pauses`), ``sentence_column`` (Alice).

    Returns
    -------
    DataFrame, one row per word
        ``sentence_id``, ``word_index``, ``word``, ``onset_s``, ``offset_s`` (s from the start of
        the long audio file), ``audio_path``, ``sentence_text``, sorted by ``sentence_id``,
        ``word_index`` (which is spoken order).

    Raises
    ------
    ValueError
        For a dataset without published word files (``bids``, ``demo``: they carry their own
        ``stimuli.tsv``), an option the dataset does not take, or malformed word files.
    FileNotFoundError
        If the word files, or with ``check_audio`` an audio file, are missing.
    """
    record = dataset_record(dataset)
    root = data_root(dataset, root)
    if record.stimulus_table is None:
        raise ValueError(
            f"dataset {dataset!r} has no published word table to build a stimulus table from; stimulus tables "
            f"are built for {sorted(n for n, r in DATASETS.items() if r.stimulus_table)} (BIDS and demo datasets "
            f"carry their own stimuli.tsv)"
        )
    accepted = [p for p in inspect.signature(record.stimulus_table).parameters if p != "root"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"stimulus_table({dataset!r}) takes the options {accepted}, not {unknown}")
    table = record.stimulus_table(root, **options)
    table = validate_stimuli(table, source=f"{dataset} stimulus table from {root}",
                             root=root if check_audio else None)  # fmt: skip
    logger.info("%s: stimulus table of %d words in %d sentences", dataset, len(table), table["sentence_id"].nunique())
    return table


def write_stimulus_table(dataset: str, *, root: str | Path | None = None, out: str | Path | None = None,
                         **options) -> Path:
    """Build :func:`stimulus_table` and write it atomically as ``stimuli.tsv``.

    Parameters
    ----------
    dataset : str
        ``"broderick2018"`` or ``"alice2019"``.
    root : str or Path, optional
        Dataset folder (default ``$HEARLIKE_DATA/<dataset>``).
    out : str or Path, optional
        Destination file, or a folder to hold ``stimuli.tsv``; default ``<root>/stimuli.tsv``. The
        ``audio_path`` entries are rewritten relative to its folder.
    **options
        Passed to :func:`stimulus_table`.

    Returns
    -------
    Path
        The written table. With the default ``out``, the pipeline finds it with
        ``data_root: <root>`` and ``stimuli_file: stimuli.tsv`` in the parameters.
    """
    root = data_root(dataset, root)
    table = stimulus_table(dataset, root=root, **options)
    out = Path(out) if out is not None else root / "stimuli.tsv"
    if out.is_dir() or out.suffix.lower() != ".tsv":
        out = out / "stimuli.tsv"
    folder = out.parent.absolute()
    if folder != root.absolute():
        table["audio_path"] = [Path(os.path.relpath(root.absolute() / p, folder)).as_posix()
                               for p in table["audio_path"]]  # fmt: skip
    path = write_stimuli(table, out)
    logger.info("%s: wrote %s", dataset, path)
    return path
