"""Every analysis choice of a parameter set, in words: the two protocols side by side.

:func:`choices` describes one :class:`~hearlike.config.Params` (models, items, windows, regions, RDMs,
metrics, null, corrections, TNC, preprocessing, subjects); :func:`choices_table` puts two of them
(``params.yml`` and ``params-paper.yml``) in one table. Every cell is generated from the parameters, so
the comparison chapter cannot drift from what the book runs.
"""

from __future__ import annotations

import pandas as pd

from ..config import Params

__all__ = ["choices", "choices_table", "STUDY_TNC"]

#: the reference study's TNC, as its code computes it (not a parameter of either preset)
STUDY_TNC = ("a score per model: 1 − r²(prosody, EEG | model) / r²(prosody, EEG), Spearman over frame RDMs, "
             "prosody from frame-wise F0, energy, zero-crossing rate and spectral features")

_NULLS = {
    "shift": "EEG cut at the sentence's own word-onset gaps elsewhere in the same recording (keeps timing)",
    "swap": "EEG of another sentence of the same length",
    "cyclic": "word order rotated within the sentence",
    "shuffle": "word order shuffled within the sentence",
}


def _windows(params: Params) -> str:
    origin = "sentence onset" if params.protocol == "paper" else "word onset"
    spans = ", ".join(f"{name} {start:g}–{stop:g}" for name, start, stop in params.windows)
    return f"{len(params.windows)} windows, ms from {origin}: {spans}"


def _preprocessing(params: Params) -> str:
    p = dict(params.eeg)
    low, high = p.get("l_freq_hz"), p.get("h_freq_hz")
    design = "4th-order Butterworth (forward-backward)" if p.get("filter") == "butterworth" else "zero-phase FIR"
    parts = [f"{low:g}–{high:g} Hz {design}" if low and high else "no band-pass"]
    if p.get("notch_hz"):
        parts.append(f"{p['notch_hz']:g} Hz notch")
    bad = f"bad channels: flat or |robust z| > {p['bad_channel_z']:g} of log SD"
    if p.get("bad_channel_min_r"):
        bad += f", or max |r| with any channel < {p['bad_channel_min_r']:g}"
    parts += [bad + " (interpolated)", f"{p['reference']} reference"]
    if p.get("resample_hz"):
        parts.append(f"resampled to {p['resample_hz']:g} Hz")
    if params.protocol != "paper":
        parts.append(f"word epochs {p['tmin_s']:g}–{p['tmax_s']:g} s"
                     + (f", peak-to-peak rejection {p['reject_peak_to_peak_v'] * 1e6:g} µV"
                        if p.get("reject_peak_to_peak_v") else ""))
    else:
        parts.append("no epochs: each sentence's EEG from its onset, no amplitude rejection")
    return "; ".join(parts)


def choices(params: Params) -> dict[str, str]:
    """``{choice: what these parameters do}`` for every analysis choice (rows of :func:`choices_table`)."""
    paper = params.protocol == "paper"
    models = ", ".join(params.models)
    out = {
        "protocol": params.protocol,
        "models": f"{len(params.models)}: {models}",
        "items": ("20 ms model frames within a sentence (demo: each frame takes its word's state)" if paper
                  else f"words ({params.extraction.pooling}-pooled states over each word's frames)"),
        "model representation": ("per sentence: first 20 principal components of the frame states, each z-scored"
                                 if paper else "the layer's hidden states as they are"),
        "EEG representation": ("one electrode's value per frame (the sentence's EEG linearly interpolated to the "
                               "frame count, z-scored per channel)" if paper
                               else "channels × samples of a window of each word's epoch"),
        "windows": _windows(params),
        "scalp": (f"each electrode on its own, plus their mean (`electrodes`)" if paper
                  else f"{len(params.region_names)} regions: {', '.join(params.region_names)}"),
        "RDMs (RSA)": ("model: 1 − Pearson r; electrode: |x_i − x_j| (one value per frame)" if paper
                       else "1 − Pearson r (correlation distance) on both sides"),
        "metrics": ", ".join(params.all_metrics),
        "null": (f"frame shuffle: the model's frames permuted within the window ({params.n_permutations} "
                 "permutations; the study: 500)" if paper
                 else f"{params.null_kind}: {_NULLS.get(params.null_kind, params.null_kind)} "
                      f"({params.n_permutations} permutations)"),
        "group test": ("per subject and cell; group: subject mean against the subject-mean null" if paper
                       else "subjects and sentences random: subject-mean null and a sign-flip over sentences "
                            "must both reject"),
        "multiple comparisons": ("none (uncorrected p, as in the study)" if paper
                                 else "max-T family-wise correction over layers × windows × regions"),
        "TNC": (STUDY_TNC + " (finding 3 computes it beside the TNC labels, `hearlike.tnc.score`)" if paper
                else f"a labelling of sentences by tri-modal neighbourhood consistency (k = {params.tnc.k}, "
                     f"θ = {params.tnc.theta:g})"),
        "preprocessing": _preprocessing(params),
        "subjects": ("the dataset's default selection" if params.subjects is None
                     else params.subjects if isinstance(params.subjects, str) else ", ".join(params.subjects)),
    }
    return out


def choices_table(default: Params, other: Params) -> pd.DataFrame:
    """Both parameter sets' :func:`choices` side by side (index: choice; columns named by protocol and file).

    Rows where the two agree are marked ``same`` in the column ``differs``.
    """
    a, b = choices(default), choices(other)
    name_a = f"{default.protocol} ({default.params_file.name if default.params_file else 'parameters'}, book default)"
    name_b = f"{other.protocol} ({other.params_file.name if other.params_file else 'parameters'})"
    frame = pd.DataFrame({name_a: a, name_b: pd.Series(b)})
    frame["differs"] = ["yes" if a[k] != b.get(k) else "same" for k in frame.index]
    frame.index.name = "choice"
    return frame
