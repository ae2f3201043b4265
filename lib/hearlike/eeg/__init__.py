"""EEG: dataset records and readers, preprocessing, word-locked epochs, scalp regions and time windows.

Typical use::

    from hearlike import eeg
    epochs = eeg.load_epochs("alice2019", stimuli="stimuli.tsv", cache_dir="cache")
    regions = eeg.regions_from_montage(eeg.epochs_info(epochs))
    print(eeg.describe_preprocessing(params["eeg"]))

Modules: :mod:`~hearlike.eeg.datasets` (one module per dataset layout, registered in
``DATASETS``), :mod:`~hearlike.eeg.catalog` (``hearlike/data/datasets.yml``: layouts, DOIs,
citations), :mod:`~hearlike.eeg.download` (:func:`fetch`), :mod:`~hearlike.eeg.preprocess`,
:mod:`~hearlike.eeg.recording` (the one epoch-acceptance rule and the continuous recordings),
:mod:`~hearlike.eeg.epochs`, :mod:`~hearlike.eeg.surrogates` (the ``shift`` null's epochs),
:mod:`~hearlike.eeg.regions`.
"""

from __future__ import annotations

import mne
import numpy as np
import xarray as xr

from .catalog import DATA_ENV, data_root, dataset_spec
from .datasets import (
    DATASETS,
    DatasetRecord,
    dataset_names,
    dataset_record,
    list_subjects,
    read_subject,
    resolve_subjects,
    stimulus_table,
    write_stimulus_table,
)
from .datasets.bids import write_recording as write_bids_recording
from .datasets.checks import check_data
from .download import fetch
from .epochs import (
    WordAlignmentError,
    align_words,
    epoch_words,
    load_epochs,
    load_recordings,
    normalize_word,
    preprocessing_log,
    stimulus_words,
)
from .preprocess import (
    DEFAULT_PREPROCESSING,
    describe_preprocessing,
    find_bad_channels,
    preprocess_raw,
    validate_preprocessing,
)
from .recording import recording_of
from .surrogates import SurrogateEpochs, surrogate_epochs
from .regions import DEFAULT_WINDOWS, REGION_NAMES, regions_from_montage, validate_windows


def epochs_info(epochs: xr.DataArray) -> mne.Info:
    """An :class:`mne.Info` with the channel names and positions of an epochs array.

    Useful for :func:`regions_from_montage` and MNE topomaps from cached epochs.
    """
    info = mne.create_info([str(c) for c in epochs["channel"].values], float(epochs.attrs["sfreq_hz"]), "eeg")
    positions = np.stack([epochs["ch_x"].values, epochs["ch_y"].values, epochs["ch_z"].values], axis=1)
    montage = mne.channels.make_dig_montage(dict(zip(info.ch_names, positions)), coord_frame="head")
    info.set_montage(montage)
    return info


__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DatasetRecord",
    "DEFAULT_PREPROCESSING",
    "DEFAULT_WINDOWS",
    "REGION_NAMES",
    "WordAlignmentError",
    "align_words",
    "data_root",
    "dataset_names",
    "dataset_record",
    "dataset_spec",
    "check_data",
    "describe_preprocessing",
    "epoch_words",
    "epochs_info",
    "fetch",
    "find_bad_channels",
    "list_subjects",
    "load_epochs",
    "load_recordings",
    "normalize_word",
    "preprocess_raw",
    "preprocessing_log",
    "read_subject",
    "recording_of",
    "resolve_subjects",
    "regions_from_montage",
    "stimulus_table",
    "stimulus_words",
    "SurrogateEpochs",
    "surrogate_epochs",
    "validate_preprocessing",
    "validate_windows",
    "write_bids_recording",
    "write_stimulus_table",
]
