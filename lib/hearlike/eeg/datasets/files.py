"""Checks and small readers shared by the dataset modules (MATLAB files, BrainVision sizes, word tables)."""

from __future__ import annotations

import configparser
import logging
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import scipy.io

logger = logging.getLogger(__name__)

#: bytes per value of the BrainVision ``BinaryFormat`` entries
_BRAINVISION_BYTES = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def check_unique_words(table: pd.DataFrame, source) -> None:
    """Raise if ``table`` has a (sentence_id, word_index) pair twice, naming ``source`` and the pairs."""
    dup = table.duplicated(["sentence_id", "word_index"])
    if dup.any():
        raise ValueError(
            f"{source}: duplicated (sentence_id, word_index) rows: "
            f"{table.loc[dup, ['sentence_id', 'word_index']].head(5).values.tolist()}"
        )


def check_monotonic(onsets: np.ndarray, source: str, what: str = "onsets") -> None:
    """Raise unless ``onsets`` are finite and non-decreasing (a word table in spoken order)."""
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


def annotation_times_s(raw: mne.io.BaseRaw) -> np.ndarray:
    """Annotation onsets in seconds from the first sample of ``raw``."""
    onsets = np.asarray(raw.annotations.onset, dtype=float)
    if raw.annotations.orig_time is not None:
        onsets = onsets - raw.first_time
    return onsets


def mat_string(cell) -> str:
    """The string inside a MATLAB cell-array element as ``scipy.io.loadmat`` returns it."""
    arr = np.asarray(cell)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.reshape(-1)[0])
    if arr.size == 0:
        return ""
    return str(arr.reshape(-1)[0]) if arr.dtype.kind in "US" else str(arr)


def loadmat(path: Path, required: tuple[str, ...]) -> dict:
    """``scipy.io.loadmat`` with errors that name the file and the missing fields."""
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


def check_brainvision_size(vhdr: str | Path) -> None:
    """Raise if the binary ``.eeg`` file of a BrainVision header is truncated or of the wrong size.

    MNE reads as many whole samples as the file holds and says nothing about a cut-off tail; a
    file whose size is not a whole number of samples (``n_channels`` × the bytes of
    ``BinaryFormat``) was cut while being copied or written.

    Parameters
    ----------
    vhdr : str or Path
        The ``.vhdr`` header.

    Raises
    ------
    ValueError
        Naming the ``.eeg`` file, its size and the sample size it should be a multiple of.
    FileNotFoundError
        If the data file the header names is missing.
    """
    vhdr = Path(vhdr)
    text = vhdr.read_text(encoding="utf-8", errors="replace")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    try:
        parser.read_string(text[text.index("[") :])
        info = parser["Common Infos"]
        data_file = vhdr.parent / info["DataFile"]
        n_channels = int(info["NumberOfChannels"])
        binary = parser["Binary Infos"]["BinaryFormat"].strip() if parser.has_section("Binary Infos") else None
    except (ValueError, KeyError, configparser.Error) as err:
        raise ValueError(f"{vhdr} is not a readable BrainVision header ({err!r}); is the file complete?") from err
    if info.get("DataFormat", "BINARY").strip().upper() != "BINARY" or binary not in _BRAINVISION_BYTES:
        return  # ASCII or an unusual format: MNE checks those itself
    if not data_file.is_file():
        raise FileNotFoundError(f"{vhdr} names the data file {data_file.name}, which does not exist")
    frame = n_channels * _BRAINVISION_BYTES[binary]
    size = data_file.stat().st_size
    if size == 0 or size % frame:
        raise ValueError(
            f"{data_file} is truncated or corrupt: its {size} bytes are not a whole number of samples of "
            f"{n_channels} channels x {_BRAINVISION_BYTES[binary]} bytes ({binary}, {frame} bytes a sample; "
            f"{size % frame} bytes left over); copy the file again from the source"
        )
