"""Scalp regions from montage positions and analysis windows."""

from __future__ import annotations

import re

import mne
import pytest

from hearlike import eeg


def info_for(montage_name: str, names: list[str] | None = None) -> mne.Info:
    builtin = mne.channels.get_builtin_montages()
    if montage_name == "1005":
        montage_name = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    montage = mne.channels.make_standard_montage(montage_name)
    info = mne.create_info(names or montage.ch_names, 100.0, "eeg")
    info.set_montage(montage, on_missing="ignore")
    return info


LANDMARKS = {
    "frontal": ["Fp1", "Fz", "F3", "F4", "AF4"],
    "central": ["Cz", "C3", "C4", "FCz", "CPz"],
    "parietal": ["Pz", "P3", "P4"],
    "occipital": ["Oz", "O1", "O2"],
    "left_temporal": ["T7", "FT7", "TP7"],
    "right_temporal": ["T8", "FT8", "TP8"],
}
TEN_TWENTY = ["Fp1", "Fp2", "AF4", "F3", "Fz", "F4", "F7", "F8", "FT7", "FT8", "FCz", "T7", "C3", "Cz", "C4", "T8",
              "TP7", "TP8", "CPz", "P7", "P3", "Pz", "P4", "P8", "POz", "O1", "Oz", "O2"]


def test_landmark_channels_land_in_their_regions():
    regions = eeg.regions_from_montage(info_for("1005", TEN_TWENTY))
    assert tuple(regions) == eeg.REGION_NAMES
    for region, channels in LANDMARKS.items():
        assert set(channels) <= set(regions[region]), (region, regions[region])
    assert regions["all"] == TEN_TWENTY
    named = [ch for name, chans in regions.items() if name != "all" for ch in chans]
    assert len(named) == len(set(named))  # no channel in two regions


def _mirror(name: str) -> str:
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
    if not match:
        return name
    number = int(match.group(2))
    return f"{match.group(1)}{number + 1 if number % 2 else number - 1}"


def test_temporal_regions_mirror_each_other():
    regions = eeg.regions_from_montage(info_for("1005", TEN_TWENTY))
    assert sorted(_mirror(ch) for ch in regions["left_temporal"]) == sorted(regions["right_temporal"])


@pytest.mark.parametrize("montage", ["biosemi128", "easycap-M10"])
def test_dataset_caps_fill_every_region(montage):
    regions = eeg.regions_from_montage(info_for(montage))
    for name, channels in regions.items():
        assert len(channels) >= 3, (montage, name, channels)


def test_partial_cap_is_a_clear_error():
    with pytest.raises(ValueError, match=r"regions \[.*'occipital'.*\] have no channels in this montage"):
        eeg.regions_from_montage(info_for("1005", ["Fp1", "Fp2", "Fz", "F3", "F4", "AF3", "AF4"]))
    with pytest.raises(ValueError, match=r"only 0 EEG channels have montage positions"):
        eeg.regions_from_montage(mne.create_info(["a", "b"], 100.0, "eeg"))


def test_regions_from_cached_epochs_info_match_original():
    info = info_for("easycap-M10")
    import numpy as np
    import xarray as xr

    positions = np.array([ch["loc"][:3] for ch in info["chs"]])
    epochs = xr.DataArray(
        np.zeros((1, 1, len(info.ch_names), 2), np.float32),
        dims=("subject", "word", "channel", "time"),
        coords={"channel": info.ch_names, "ch_x": ("channel", positions[:, 0]),
                "ch_y": ("channel", positions[:, 1]), "ch_z": ("channel", positions[:, 2])},
        attrs={"sfreq_hz": 100.0},
    )
    assert eeg.regions_from_montage(eeg.epochs_info(epochs)) == eeg.regions_from_montage(info)


def test_windows():
    assert eeg.DEFAULT_WINDOWS == [("0-250ms", 0, 250), ("250-500ms", 250, 500), ("500-750ms", 500, 750), ("750-1000ms", 750, 1000)]
    assert eeg.validate_windows(eeg.DEFAULT_WINDOWS, tmin_s=-0.2, tmax_s=1.0) == eeg.DEFAULT_WINDOWS
    with pytest.raises(ValueError, match=r"window 'late' \(900-1200 ms\) must satisfy -200 <= start < stop <= 1000 ms"):
        eeg.validate_windows([("late", 900, 1200)], tmin_s=-0.2, tmax_s=1.0)
