"""Scalp regions from montage positions, and the analysis time windows.

Regions are a dict ``{region_name: [channel names]}``; windows a list of
``(name, start_ms, stop_ms)`` (start inclusive, stop exclusive), as in ARCHITECTURE.md.
"""

from __future__ import annotations

import mne
import numpy as np

#: Region names, in display order.
REGION_NAMES = ("frontal", "central", "parietal", "occipital", "left_temporal", "right_temporal", "all")

#: Analysis windows after word onset: ``(name, start_ms, stop_ms)``.
DEFAULT_WINDOWS: list[tuple[str, int, int]] = [
    ("0-250ms", 0, 250),
    ("250-500ms", 250, 500),
    ("500-750ms", 500, 750),
    ("750-1000ms", 750, 1000),
]

# Boundaries on the unit vector from the fitted head-sphere centre (x right, y anterior, z up).
_FRONTAL_MIN_Y = 0.55
_OCCIPITAL_MAX_Y = -0.85
_PARIETAL_MAX_Y = -0.35
_TEMPORAL_MIN_ABS_X = 0.7
_TEMPORAL_MAX_ABS_Y = 0.5
_TEMPORAL_MAX_Z = 0.35


def _fit_sphere_center(positions: np.ndarray) -> np.ndarray:
    """Least-squares sphere centre of ``positions`` (n, 3), metres."""
    design = np.c_[2 * positions, np.ones(len(positions))]
    solution, *_ = np.linalg.lstsq(design, (positions**2).sum(axis=1), rcond=None)
    return solution[:3]


def channel_directions(info: mne.Info) -> tuple[list[str], np.ndarray]:
    """EEG channels with positions and their unit direction from the fitted head centre.

    Returns
    -------
    names : list of str
    directions : ndarray, shape (n_channels, 3)
        Unit vectors, x right, y anterior, z up (MNE head coordinates).
    """
    names, positions = [], []
    for index in mne.pick_types(info, eeg=True, exclude=[]):
        loc = info["chs"][index]["loc"][:3]
        if np.all(np.isfinite(loc)) and np.any(loc != 0):
            names.append(info["ch_names"][index])
            positions.append(loc)
    if len(names) < 4:
        raise ValueError(
            f"only {len(names)} EEG channels have montage positions; regions need a montage "
            f"(raw.set_montage with a standard 10-05 montage or the dataset's electrode file)"
        )
    positions = np.asarray(positions, dtype=float)
    vectors = positions - _fit_sphere_center(positions)
    return names, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def regions_from_montage(info: mne.Info) -> dict[str, list[str]]:
    """Group EEG channels into scalp regions by their positions.

    Left/right temporal: lateral (``|x| > 0.7``), low (``z < 0.35``) and mid-coronal
    (``|y| < 0.5``) channels. The remaining channels are split front to back by ``y``:
    frontal (``y > 0.55``), central, parietal (``y < -0.35``), occipital (``y < -0.85``).
    ``all`` holds every positioned EEG channel.

    Parameters
    ----------
    info : mne.Info
        Measurement info with a montage.

    Returns
    -------
    dict
        ``{region: [channel names]}`` for :data:`REGION_NAMES`, channels in ``info`` order.

    Raises
    ------
    ValueError
        If a region would be empty (e.g. a cap covering only part of the head).
    """
    names, u = channel_directions(info)
    x, y, z = u.T
    temporal = (np.abs(x) > _TEMPORAL_MIN_ABS_X) & (np.abs(y) < _TEMPORAL_MAX_ABS_Y) & (z < _TEMPORAL_MAX_Z)
    masks = {
        "frontal": ~temporal & (y > _FRONTAL_MIN_Y),
        "central": ~temporal & (y <= _FRONTAL_MIN_Y) & (y >= _PARIETAL_MAX_Y),
        "parietal": ~temporal & (y < _PARIETAL_MAX_Y) & (y >= _OCCIPITAL_MAX_Y),
        "occipital": ~temporal & (y < _OCCIPITAL_MAX_Y),
        "left_temporal": temporal & (x < 0),
        "right_temporal": temporal & (x > 0),
        "all": np.ones(len(names), dtype=bool),
    }
    regions = {name: [ch for ch, keep in zip(names, masks[name]) if keep] for name in REGION_NAMES}
    empty = [name for name, chans in regions.items() if not chans]
    if empty:
        raise ValueError(
            f"regions {empty} have no channels in this montage ({len(names)} positioned channels); "
            f"pass an explicit regions dict instead"
        )
    return regions


def validate_windows(windows, *, tmin_s: float, tmax_s: float) -> list[tuple[str, int, int]]:
    """Check ``(name, start_ms, stop_ms)`` windows against the epoch span; return them as tuples."""
    checked = []
    for window in windows:
        name, start, stop = window
        if not (tmin_s * 1000 <= start < stop <= tmax_s * 1000 + 1e-9):
            raise ValueError(
                f"window {name!r} ({start}-{stop} ms) must satisfy {tmin_s * 1000:g} <= start < stop "
                f"<= {tmax_s * 1000:g} ms (the epoch span)"
            )
        checked.append((str(name), int(start), int(stop)))
    if len({name for name, *_ in checked}) != len(checked):
        raise ValueError(f"window names must be unique: {[w[0] for w in checked]}")
    return checked
