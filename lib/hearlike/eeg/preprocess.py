"""Continuous-EEG preprocessing with MNE: filter, bad channels, reference, optional ICA, resample.

The options are one dict (``params.yml`` under ``eeg:``); :data:`DEFAULT_PREPROCESSING` lists
them with their defaults and :func:`describe_preprocessing` turns them into the methods text.
"""

from __future__ import annotations

import copy
import inspect
import logging
from fractions import Fraction
from typing import Any

import mne
import numpy as np

logger = logging.getLogger(__name__)

#: Preprocessing options (``params.yml`` → ``eeg:``). Units are in the names.
DEFAULT_PREPROCESSING: dict[str, Any] = {
    "l_freq_hz": 0.5,  # high-pass edge (None: no high-pass)
    "h_freq_hz": 30.0,  # low-pass edge (None: no low-pass)
    "reference": "average",  # "average" | "mastoids"
    "mastoid_channels": None,  # None: from the dataset record (Broderick: M1, M2)
    "flat_std_v": 1e-7,  # channels with SD below this (after filtering) are flat
    "bad_channel_z": 5.0,  # |robust z| of log SD across channels above this → bad
    "max_bad_fraction": 0.25,  # more bad channels than this fraction → error
    "ica": False,  # remove blink components (needs EOG or frontal channels)
    "ica_n_components": 15,
    "ica_eog_correlation": 0.5,  # |correlation| with the (proxy) EOG above which a component goes
    "resample_hz": 128.0,  # None: keep the recording's rate
    "tmin_s": -0.2,  # word epoch start, relative to word onset
    "tmax_s": 1.0,  # word epoch end (inclusive)
    "baseline_s": [-0.2, 0.0],  # None: no baseline correction
    "reject_peak_to_peak_v": 150e-6,  # None: no amplitude rejection
    "seed": 0,  # ICA random state
}

#: options that enter the merged options only when given (so the default options, and every cache key
#: made from them, stay as they were): the reference study's preprocessing (``protocol: paper``)
OPTIONAL_PREPROCESSING: dict[str, Any] = {
    "filter": "fir",  # "fir" (zero-phase FIR, firwin) | "butterworth" (4th-order IIR, forward-backward)
    "notch_hz": None,  # line-noise notch (e.g. 50); None: none
    "bad_channel_min_r": None,  # a channel whose highest |r| with any other channel is below this is bad
}
_FILTERS = ("fir", "butterworth")
_REFERENCES = ("average", "mastoids")
_NAN_SEGMENT = "BAD_nan"


def validate_preprocessing(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return ``params`` merged over :data:`DEFAULT_PREPROCESSING`, checked for consistency.

    Raises
    ------
    ValueError
        For unknown keys or values that contradict each other, saying how to fix them.
    """
    merged = copy.deepcopy(DEFAULT_PREPROCESSING)
    params = dict(params or {})
    unknown = sorted(set(params) - set(merged) - set(OPTIONAL_PREPROCESSING))
    if unknown:
        raise ValueError(f"unknown EEG preprocessing options {unknown}; known options: "
                         f"{sorted(set(merged) | set(OPTIONAL_PREPROCESSING))}")
    merged.update(params)
    if merged.get("filter", "fir") not in _FILTERS:
        raise ValueError(f"filter must be one of {_FILTERS}, got {merged['filter']!r}")
    notch = merged.get("notch_hz")
    if notch is not None and (isinstance(notch, bool) or not isinstance(notch, (int, float)) or notch <= 0):
        raise ValueError(f"notch_hz must be a positive frequency (e.g. 50) or None, got {notch!r}")
    min_r = merged.get("bad_channel_min_r")
    if min_r is not None and (isinstance(min_r, bool) or not isinstance(min_r, (int, float)) or not 0 < min_r < 1):
        raise ValueError(f"bad_channel_min_r must lie in (0, 1) or be None, got {min_r!r}")
    low, high, rate = merged["l_freq_hz"], merged["h_freq_hz"], merged["resample_hz"]
    if low is not None and low <= 0:
        raise ValueError(f"l_freq_hz must be > 0 or None, got {low}")
    if low is not None and high is not None and not low < high:
        raise ValueError(f"l_freq_hz ({low}) must be below h_freq_hz ({high})")
    if rate is not None and high is not None and not high < rate / 2:
        raise ValueError(
            f"h_freq_hz ({high}) must be below half of resample_hz ({rate}) to avoid aliasing; "
            f"lower h_freq_hz or raise resample_hz"
        )
    if merged["reference"] not in _REFERENCES:
        raise ValueError(f"reference must be one of {_REFERENCES}, got {merged['reference']!r}")
    tmin, tmax = float(merged["tmin_s"]), float(merged["tmax_s"])
    if not tmin <= 0 < tmax:
        raise ValueError(f"need tmin_s <= 0 < tmax_s, got tmin_s={tmin}, tmax_s={tmax}")
    if merged["baseline_s"] is not None:
        b0, b1 = map(float, merged["baseline_s"])
        if not tmin <= b0 < b1 <= tmax:
            raise ValueError(f"baseline_s {merged['baseline_s']} must lie inside [tmin_s, tmax_s] = [{tmin}, {tmax}]")
        merged["baseline_s"] = [b0, b1]
    if not 0 < float(merged["max_bad_fraction"]) <= 1:
        raise ValueError(f"max_bad_fraction must be in (0, 1], got {merged['max_bad_fraction']}")
    return merged


def _fmt_uv(volts: float) -> str:
    return f"{volts * 1e6:g} µV"


def describe_preprocessing(params: dict[str, Any] | None = None) -> str:
    """Human-readable (markdown) account of the preprocessing, for the book's methods chapter."""
    p = validate_preprocessing(params)
    low, high = p["l_freq_hz"], p["h_freq_hz"]
    if low is not None and high is not None:
        band = f"band-pass filtered between {low:g} and {high:g} Hz"
    elif low is not None:
        band = f"high-pass filtered at {low:g} Hz"
    elif high is not None:
        band = f"low-pass filtered at {high:g} Hz"
    else:
        band = "not filtered"
    design = ("zero-phase 4th-order Butterworth IIR, applied forward and backward" if p.get("filter") == "butterworth"
              else "zero-phase FIR, MNE `firwin` design")
    notch = f"; a {p['notch_hz']:g} Hz notch removed line noise" if p.get("notch_hz") else ""
    lines = [
        f"- The continuous EEG (volts) was {band} ({design}; filters "
        f"restart at recording boundaries){notch}.",
        "- Samples missing in most channels were marked as bad segments; channels with missing "
        "samples were treated as bad channels.",
        f"- Bad channels: flat (robust SD < {_fmt_uv(p['flat_std_v'])}) or with a log robust SD more than "
        f"{p['bad_channel_z']:g} robust z-units (median/MAD across channels) from the others, "
        + (f"or correlating with no other channel above |r| = {p['bad_channel_min_r']:g}, "
           if p.get("bad_channel_min_r") else "") + "plus "
        f"channels marked bad in the recording. They were replaced by spherical-spline interpolation; "
        f"a subject with more than {p['max_bad_fraction']:.0%} bad channels stops the analysis with an error.",
    ]
    if p["reference"] == "average":
        lines.append("- Data were re-referenced to the average of all scalp channels (after interpolation).")
    else:
        names = p["mastoid_channels"] or "the dataset's mastoid channels"
        lines.append(f"- Data were re-referenced to the mean of the mastoids ({names}).")
    if p["ica"]:
        lines.append(
            f"- Blinks were removed with ICA (FastICA, {p['ica_n_components']} components fitted on a "
            f"1 Hz high-passed copy, seed {p['seed']}); components correlating with the EOG channel "
            f"(or, lacking one, the two most frontal channels) with |r| > {p['ica_eog_correlation']:g} were removed."
        )
    else:
        lines.append("- No ICA was applied.")
    if p["resample_hz"] is not None:
        lines.append(f"- Data were resampled to {p['resample_hz']:g} Hz.")
    tmin_ms, tmax_ms = round(p["tmin_s"] * 1000), round(p["tmax_s"] * 1000)
    epoch = f"- Word epochs span {tmin_ms} to {tmax_ms} ms around each word onset"
    if p["baseline_s"] is not None:
        b0, b1 = (round(b * 1000) for b in p["baseline_s"])
        epoch += f"; the mean over {b0}…{b1} ms was subtracted (baseline)"
    lines.append(epoch + ".")
    reject = (
        f"a peak-to-peak amplitude above {_fmt_uv(p['reject_peak_to_peak_v'])} on any channel, "
        if p["reject_peak_to_peak_v"] is not None
        else ""
    )
    lines.append(
        f"- Epochs with {reject}overlapping a recording boundary or missing data, or running past the "
        "recording were rejected: their values are NaN, so every subject keeps the same word axis."
    )
    return "\n".join(lines)


def _scalp_and_reference_picks(raw: mne.io.BaseRaw) -> tuple[list[str], list[str]]:
    """EEG channels with montage positions (scalp) and without (reference electrodes)."""
    scalp, refs = [], []
    for index in mne.pick_types(raw.info, eeg=True, exclude=[]):
        ch = raw.info["chs"][index]
        pos = ch["loc"][:3]
        (scalp if np.all(np.isfinite(pos)) and np.any(pos != 0) else refs).append(ch["ch_name"])
    if not scalp:
        raise ValueError("no EEG channel has a montage position; set a montage (raw.set_montage) before preprocessing")
    return scalp, refs


def _repair_nans(raw: mne.io.BaseRaw, scalp: list[str]) -> tuple[list[str], float]:
    """Zero-fill NaNs: samples missing in most channels become a ``BAD_nan`` segment, the rest bad channels."""
    picks = mne.pick_types(raw.info, eeg=True, eog=True, exclude=[])
    data = raw._data  # preloaded; repaired in place
    nan = ~np.isfinite(data[picks])
    if not nan.any():
        return [], 0.0
    scalp_rows = np.isin(np.array(raw.ch_names)[picks], scalp)
    common = nan[scalp_rows].mean(axis=0) >= 0.5
    sfreq = raw.info["sfreq"]
    seconds = 0.0
    if common.any():
        edges = np.diff(np.concatenate([[0], common.astype(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        raw.annotations.append(
            (starts + raw.first_samp) / sfreq if raw.annotations.orig_time is not None else starts / sfreq,
            (stops - starts) / sfreq,
            _NAN_SEGMENT,
        )
        seconds = float((stops - starts).sum() / sfreq)
    channel_nan = nan & ~common[None, :]
    names = [raw.ch_names[p] for p, row in zip(picks, channel_nan) if row.any()]
    block = data[picks]
    block[~np.isfinite(block)] = 0.0
    data[picks] = block
    return names, seconds


def find_bad_channels(
    raw: mne.io.BaseRaw, *, picks: list[str], flat_std_v: float, z_threshold: float
) -> dict[str, str]:
    """Flag flat and extreme-variance channels among ``picks``.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Filtered EEG (volts). Samples inside ``BAD*`` annotations are ignored.
    picks : list of str
        Channels to examine.
    flat_std_v : float
        SD (volts) below which a channel is flat.
    z_threshold : float
        Robust z-score (median / 1.4826·MAD, floored at 0.05, of the log robust SD across the
        non-flat channels) beyond which a channel is bad. Each channel's SD is itself robust
        (1.4826·MAD over time), so brief artifacts are left to epoch rejection.

    Returns
    -------
    dict
        ``{channel: reason}``.
    """
    data = raw.get_data(picks=picks, reject_by_annotation="omit")
    step = max(1, data.shape[1] // 200_000)  # a robust SD needs no more samples than this
    data = np.array(data[:, ::step])  # our own copy: the medians below partition it in place (same values)
    median = np.median(data, axis=1, keepdims=True, overwrite_input=True)
    deviation = np.abs(np.subtract(data, median, out=data), out=data)
    std = 1.4826 * np.median(deviation, axis=1, overwrite_input=True)  # robust SD: brief artifacts do not count
    reasons: dict[str, str] = {}
    flat = std < flat_std_v
    for name, s in zip(np.array(picks)[flat], std[flat]):
        reasons[str(name)] = f"flat (SD {s * 1e6:.3g} µV)"
    live = ~flat
    if live.sum() >= 3:
        log_sd = np.log(std[live])
        median = np.median(log_sd)
        mad = 1.4826 * np.median(np.abs(log_sd - median))
        mad = max(mad, 0.05)  # channels of one cap never agree better than ~5 % in SD
        z = (log_sd - median) / mad
        for name, zi in zip(np.array(picks)[live], z):
            if abs(zi) > z_threshold:
                kind = "high" if zi > 0 else "low"
                reasons[str(name)] = f"{kind} variance (robust z {zi:+.1f})"
    return reasons


def uncorrelated_channels(raw: mne.io.BaseRaw, *, picks: list[str], min_r: float) -> dict[str, str]:
    """Channels among ``picks`` whose highest absolute Pearson r with any other pick is below ``min_r``.

    The reference study's correlation criterion (a channel that shares no signal with its neighbours is
    broken). Samples inside ``BAD*`` annotations are ignored. Returns ``{channel: reason}``.
    """
    if len(picks) < 3:
        return {}
    data = raw.get_data(picks=picks, reject_by_annotation="omit")
    data = data[:, :: max(1, data.shape[1] // 200_000)]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.corrcoef(data))
    np.fill_diagonal(r, np.nan)
    best = np.nan_to_num(r, nan=0.0).max(axis=1)  # a flat channel (r NaN) counts as uncorrelated
    return {str(name): f"uncorrelated (max |r| {b:.2f} < {min_r:g})" for name, b in zip(picks, best) if b < min_r}


def _run_ica(raw: mne.io.BaseRaw, scalp: list[str], p: dict[str, Any], n_interpolated: int) -> list[int] | None:
    from mne.preprocessing import ICA

    eog = [raw.ch_names[i] for i in mne.pick_types(raw.info, eog=True, exclude="bads")]
    if not eog:
        positions = np.array([raw.info["chs"][raw.ch_names.index(ch)]["loc"][:3] for ch in scalp])
        eog = [scalp[i] for i in np.argsort(positions[:, 1])[-2:]]
        logger.info("ICA: no EOG channel; using the most frontal channels %s as blink proxies", eog)
    n_components = int(min(p["ica_n_components"], len(scalp) - n_interpolated - 1))
    if n_components < 2:
        logger.warning("ICA skipped: only %d usable channels", len(scalp) - n_interpolated)
        return None
    fit_raw = raw.copy().filter(1.0, None, picks=scalp, verbose="error") if (p["l_freq_hz"] or 0) < 1 else raw
    seed_kw = "rng" if "rng" in inspect.signature(ICA).parameters else "random_state"  # MNE >= 1.12 says rng
    ica = ICA(n_components=n_components, method="fastica", max_iter="auto", **{seed_kw: p["seed"]})
    ica.fit(fit_raw, picks=scalp, reject_by_annotation=True, verbose="error")
    indices, _ = ica.find_bads_eog(
        raw, ch_name=eog, threshold=p["ica_eog_correlation"], measure="correlation", verbose="error"
    )
    ica.exclude = sorted(set(int(i) for i in indices))
    if ica.exclude:
        ica.apply(raw, verbose="error")
    logger.info("ICA removed components %s", ica.exclude)
    return ica.exclude


def _bad_channel_reasons(raw: mne.io.BaseRaw, scalp: list[str], nan_channels: list[str], p: dict[str, Any],
                         label: str) -> dict[str, str]:
    """``{channel: reason}`` of the scalp channels to interpolate; error past ``max_bad_fraction``."""
    reasons = {ch: "marked bad in the recording" for ch in raw.info["bads"] if ch in scalp}
    reasons |= {ch: "missing samples (NaN)" for ch in nan_channels if ch in scalp}
    candidates = [ch for ch in scalp if ch not in reasons]
    reasons |= find_bad_channels(raw, picks=candidates, flat_std_v=p["flat_std_v"], z_threshold=p["bad_channel_z"])
    if p.get("bad_channel_min_r"):
        live = [ch for ch in candidates if ch not in reasons]
        reasons |= uncorrelated_channels(raw, picks=live, min_r=float(p["bad_channel_min_r"]))
    if len(reasons) > p["max_bad_fraction"] * len(scalp):
        raise ValueError(
            f"{label}: {len(reasons)} of {len(scalp)} channels are bad ({reasons}); check the recording "
            f"(units, disconnected cap) or raise max_bad_fraction (now {p['max_bad_fraction']})"
        )
    return reasons


def _set_mastoid_reference(raw: mne.io.BaseRaw, mastoids: list[str], nan_channels: list[str], p: dict[str, Any],
                           label: str) -> None:
    """Re-reference ``raw`` to the mean of ``mastoids`` after checking they exist and carry signal."""
    if not mastoids:
        raise ValueError(
            f"{label}: reference='mastoids' but no mastoid channels are known for this dataset; "
            f"pass mastoid_channels=[...] in the EEG parameters or use reference='average'"
        )
    absent = [ch for ch in mastoids if ch not in raw.ch_names]
    if absent:
        raise ValueError(f"{label}: mastoid channels {absent} are not in the recording (channels: {raw.ch_names[:10]}...)")
    broken = [ch for ch in mastoids if ch in nan_channels] + list(
        find_bad_channels(raw, picks=mastoids, flat_std_v=p["flat_std_v"], z_threshold=np.inf)
    )
    if broken:
        raise ValueError(
            f"{label}: mastoid reference channels {sorted(set(broken))} are flat or have missing samples; "
            f"use reference='average'"
        )
    raw.set_eeg_reference(mastoids, verbose="error")


def _crop_to_whole_periods(raw: mne.io.BaseRaw, resample_hz: float) -> None:
    """Drop the last samples (fewer than one period of the two rates, e.g. 125 samples from 500 to
    128 Hz) so that the recording is a whole number of periods long.

    MNE's polyphase resampling takes its ratio from the lengths (``round(n · new / old) / n``). On a
    whole number of periods that ratio is the rates' own (32/125), an anti-alias filter of ~2,500
    taps; on any other length it is a ratio of two large coprime numbers, a filter of millions of
    taps designed per recording (0.4 s of preprocessing each), and a time axis stretched by up to
    half a sample over the recording. Only a word epoch reaching into the dropped samples (< 0.25 s
    at the end) changes: it is rejected as past the recording's end. Rates whose period is over a
    second (no small ratio) are left to MNE as they are.
    """
    sfreq = float(raw.info["sfreq"])
    ratio = Fraction(float(resample_hz)).limit_denominator(10**6) / Fraction(sfreq).limit_denominator(10**6)
    extra = raw.n_times % ratio.denominator
    if extra and raw.n_times > extra and ratio.denominator <= sfreq:
        raw.crop(tmin=0.0, tmax=raw.times[raw.n_times - extra - 1], include_tmax=True, verbose="error")


def preprocess_raw(
    raw: mne.io.BaseRaw,
    *,
    params: dict[str, Any] | None = None,
    mastoid_channels: list[str] | None = None,
    label: str = "recording",
) -> tuple[mne.io.BaseRaw, dict[str, Any]]:
    """Preprocess continuous EEG (modified in place and returned).

    Steps: NaN repair → band-pass → bad-channel detection → (mastoid reference) → spherical-spline
    interpolation → (average reference) → optional ICA → resample. Only scalp EEG channels (those
    with montage positions) are kept.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Preloaded EEG in volts, montage set.
    params : dict, optional
        Options over :data:`DEFAULT_PREPROCESSING`.
    mastoid_channels : list of str, optional
        Reference channels for ``reference="mastoids"`` when ``params`` does not name them.
    label : str
        Names the recording in log and error messages (e.g. ``"broderick2018 subject 3"``).

    Returns
    -------
    raw : mne.io.BaseRaw
        Scalp channels only, at ``resample_hz``.
    report : dict
        ``bad_channels`` (``{channel: reason}``), ``interpolated_channels``, ``n_nan_channels``,
        ``nan_segments_s``, ``ica_components_removed`` (list, or None when ICA was off/skipped).
    """
    p = validate_preprocessing(params)
    if not raw.preload:
        raw.load_data(verbose="error")
    scalp, refs = _scalp_and_reference_picks(raw)
    nan_channels, nan_seconds = _repair_nans(raw, scalp)
    if nan_channels or nan_seconds:
        logger.warning(
            "%s: repaired missing samples: %d channel(s) %s will be interpolated, %.2f s marked %s",
            label, len(nan_channels), nan_channels, nan_seconds, _NAN_SEGMENT,
        )
    filter_picks = mne.pick_types(raw.info, eeg=True, eog=True, exclude=[])
    if p["l_freq_hz"] is not None or p["h_freq_hz"] is not None:
        design = (dict(method="iir", iir_params=dict(order=4, ftype="butter"))
                  if p.get("filter") == "butterworth" else dict(fir_design="firwin"))
        raw.filter(
            p["l_freq_hz"], p["h_freq_hz"], picks=filter_picks, **design,
            skip_by_annotation=("edge", "bad_acq_skip"), verbose="error",
        )
    if p.get("notch_hz") and p["notch_hz"] < raw.info["sfreq"] / 2:
        raw.notch_filter(p["notch_hz"], picks=filter_picks, skip_by_annotation=("edge", "bad_acq_skip"),
                         verbose="error")
    reasons = _bad_channel_reasons(raw, scalp, nan_channels, p, label)
    if p["reference"] == "mastoids":
        _set_mastoid_reference(raw, list(p["mastoid_channels"] or mastoid_channels or []), nan_channels, p, label)
    eog = [raw.ch_names[i] for i in mne.pick_types(raw.info, eog=True, exclude=[])]
    raw.pick(scalp + eog, verbose="error")  # EOG kept for ICA only
    raw.info["bads"] = sorted(reasons, key=scalp.index)
    interpolated = list(raw.info["bads"])
    if interpolated:
        raw.interpolate_bads(reset_bads=True, mode="accurate", verbose="error")
        logger.info("%s: interpolated %s", label, {ch: reasons[ch] for ch in interpolated})
    if p["reference"] == "average":
        raw.set_eeg_reference("average", verbose="error")
    ica_removed = _run_ica(raw, scalp, p, len(interpolated)) if p["ica"] else None
    raw.pick(scalp, verbose="error")
    if p["resample_hz"] is not None and raw.info["sfreq"] != p["resample_hz"]:
        _crop_to_whole_periods(raw, p["resample_hz"])
        raw.resample(p["resample_hz"], method="polyphase", verbose="error")
    report = {
        "bad_channels": {ch: reasons[ch] for ch in interpolated},
        "interpolated_channels": interpolated,
        "n_nan_channels": len(nan_channels),
        "nan_segments_s": nan_seconds,
        "ica_components_removed": ica_removed,
    }
    return raw, report
