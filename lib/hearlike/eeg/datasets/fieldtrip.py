"""FieldTrip ``raw`` structs in MATLAB files (the Alice release's ``S01.mat``), read with scipy.

A FieldTrip raw struct holds ``trial`` (cell of channels x samples arrays), ``time`` (cell of time
vectors, s), ``fsample`` (Hz), ``label`` (cell of channel names) and usually ``hdr`` (with
``chanunit``); continuous data is one trial. ``mne.io.read_raw_fieldtrip`` needs an ``info``
built by hand and takes units from it, so the struct is read here with ``scipy.io.loadmat`` and
the units from ``hdr.chanunit`` (FieldTrip reads BrainVision files in µV, the default).
"""

from __future__ import annotations

import logging
from pathlib import Path

import mne
import numpy as np
import scipy.io

logger = logging.getLogger(__name__)

#: ``hdr.chanunit`` -> factor to volts
UNIT_TO_VOLTS = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6}
DEFAULT_UNIT = "uV"


def read_mat_struct(path: str | Path, name: str):
    """Variable ``name`` of a MATLAB v5/v7 file, squeezed, structs as attribute objects.

    Raises
    ------
    ValueError
        For an unreadable file, a v7.3 (HDF5) file, or a missing variable (naming those present).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file {path}")
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except NotImplementedError as err:
        raise ValueError(f"{path} is a MATLAB v7.3 file; re-save it with save(..., '-v7') ({err})") from err
    except Exception as err:
        raise ValueError(f"{path} is not a readable MATLAB .mat file: {err}") from err
    if name not in mat:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path} has no variable {name!r} (has {present}); is it the right file?")
    return mat[name]


def _field(struct, name: str, path: Path):
    if not hasattr(struct, name):
        fields = list(getattr(struct, "_fieldnames", []))
        raise ValueError(f"{path}: the FieldTrip struct lacks the field {name!r} (has {fields}); expected a raw "
                         f"struct with trial, time, fsample and label")
    return getattr(struct, name)


def read_fieldtrip_raw(path: str | Path, *, variable: str = "raw", eog=(), misc=()) -> mne.io.RawArray:
    """A continuous FieldTrip raw struct as an MNE raw in volts.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.
    variable : str
        Name of the struct in the file.
    eog, misc : sequence of str
        Channels typed ``eog`` / ``misc`` (all others are ``eeg``).

    Returns
    -------
    mne.io.RawArray
        ``trial{1}`` scaled to volts by ``hdr.chanunit`` (µV when absent), channel names from
        ``label``, rate ``fsample``.

    Raises
    ------
    ValueError
        For several trials (not a continuous recording), a shape that disagrees with ``label`` or
        ``time``, or an unknown unit.
    """
    path = Path(path)
    struct = read_mat_struct(path, variable)
    trial = _field(struct, "trial", path)
    if isinstance(trial, np.ndarray) and trial.dtype == object:
        if trial.size != 1:
            raise ValueError(f"{path}: raw.trial has {trial.size} trials; hearlike reads a continuous recording "
                             f"(one trial), as the Alice release holds")
        trial = trial.reshape(-1)[0]
    data = np.atleast_2d(np.asarray(trial, dtype=float))
    labels = [str(v) for v in np.atleast_1d(_field(struct, "label", path))]
    fsample = float(np.squeeze(_field(struct, "fsample", path)))
    if data.shape[0] != len(labels):
        raise ValueError(f"{path}: raw.trial has {data.shape[0]} channels but raw.label names {len(labels)} "
                         f"(channel count mismatch)")
    if hasattr(struct, "time"):
        time = struct.time
        time = time.reshape(-1)[0] if isinstance(time, np.ndarray) and time.dtype == object else time
        time = np.atleast_1d(np.asarray(time, dtype=float))
        if time.size != data.shape[1]:
            raise ValueError(f"{path}: raw.time has {time.size} samples but raw.trial {data.shape[1]}")
        if time.size > 1 and abs((time[1] - time[0]) * fsample - 1) > 1e-3:
            raise ValueError(f"{path}: raw.time steps of {time[1] - time[0]:g} s disagree with fsample "
                             f"{fsample:g} Hz (sampling-rate mismatch)")
    units = [DEFAULT_UNIT] * len(labels)
    hdr = getattr(struct, "hdr", None)
    if hdr is not None and hasattr(hdr, "chanunit"):
        units = [str(u) for u in np.atleast_1d(hdr.chanunit)]
        if len(units) != len(labels):
            units = [units[0]] * len(labels) if len(units) == 1 else [DEFAULT_UNIT] * len(labels)
    scale = []
    for label, unit in zip(labels, units):
        key = unit.strip().lower().replace("micro", "u")
        if key in ("", "unknown", "n/a"):
            key = DEFAULT_UNIT.lower()
        if key not in UNIT_TO_VOLTS:
            if label in misc:
                scale.append(1.0)
                continue
            raise ValueError(f"{path}: channel {label!r} has unit {unit!r}; expected one of V, mV, uV")
        scale.append(UNIT_TO_VOLTS[key])
    types = ["eog" if ch in eog else "misc" if ch in misc else "eeg" for ch in labels]
    info = mne.create_info(labels, fsample, types)
    return mne.io.RawArray(data * np.asarray(scale)[:, None], info, verbose="error")
