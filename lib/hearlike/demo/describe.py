"""Reading the demo back: its ground truth, word epochs and the summaries and account the book shows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from ..stimuli import load_stimuli
from . import generate
from .generate import MONTAGE, N400_PEAK_MS, N400_WINDOW_MS, SFREQ_HZ, TASK, _word_coords
from .write import demo_paths


def read_ground_truth(root):
    """Read ``<root>/ground_truth.json`` (see :func:`write_demo`)."""
    path = demo_paths(root)["ground_truth"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; write the demo first with hearlike.demo.write_demo({str(root)!r})"
        )
    return json.loads(path.read_text())


def _read_subject(root, subject):
    import mne_bids

    paths = demo_paths(root)
    path = mne_bids.BIDSPath(root=paths["bids"], subject=subject, task=TASK, datatype="eeg",
                             suffix="eeg", extension=".vhdr")  # fmt: skip
    raw = mne_bids.read_raw_bids(path, verbose="error")
    events = pd.read_csv(path.copy().update(suffix="events", extension=".tsv").fpath, sep="\t",
                         dtype={"sentence_id": str, "word": str}, keep_default_na=False)  # fmt: skip
    return raw, events[events.trial_type == "word"].reset_index(drop=True)


def demo_epochs(root, *, tmin_s=-0.2, tmax_s=0.8, baseline_s=(-0.2, 0.0), band_hz=(0.5, 30.0),
                average_reference=True, subjects=None, channels=None):  # fmt: skip
    """Word epochs of the demo EEG, following the EEG-epochs contract.

    Parameters
    ----------
    root : path-like
        Demo folder written by :func:`write_demo`.
    tmin_s, tmax_s : float
        Epoch window relative to word onset, seconds.
    baseline_s : tuple of float or None
        Window whose per-channel mean is subtracted (seconds); ``None`` keeps raw offsets.
    band_hz : tuple of float or None
        Zero-phase FIR band-pass of the continuous data (MNE defaults), ``None`` for none.
    average_reference : bool
        Re-reference the continuous data to the average of all channels.
    subjects, channels : list of str or None
        Subsets (default: all).

    Returns
    -------
    DataArray, shape (n_subjects, n_words, n_channels, n_times), float32, volts
        Dims ``subject, word, channel, time``; words in stimulus-table order with coords
        ``sentence_id, word_index, word_text``; channel positions ``ch_x, ch_y, ch_z`` (m);
        attrs ``sfreq_hz``, ``dataset``. A light version of ``hearlike.eeg``'s preprocessing
        (band-pass, average reference, baseline; no resampling, rejection or ICA), enough for
        the demo's summaries and checks.
    """
    truth = read_ground_truth(root)
    table = load_stimuli(demo_paths(root)["stimuli"], check_audio=False)
    subjects = subjects or truth["subjects"]
    sfreq_hz = truth["sfreq_hz"]
    lags = np.arange(int(round(tmin_s * sfreq_hz)), int(round(tmax_s * sfreq_hz)) + 1)
    out, positions = None, None
    for i, subject in enumerate(subjects):
        raw, events = _read_subject(root, subject)
        raw.load_data(verbose="error")
        if band_hz is not None:
            raw.filter(*band_hz, picks="eeg", n_jobs=1, verbose="error")
        if average_reference:
            raw.set_eeg_reference("average", projection=False, verbose="error")
        picks = channels or raw.ch_names
        if positions is None:
            positions = np.array([raw.info["chs"][raw.ch_names.index(c)]["loc"][:3] for c in picks])
        data = raw.get_data(picks=picks).astype(np.float32)
        key = events.sentence_id + ":" + events.word_index.astype(str)
        samples = pd.Series(events["sample"].to_numpy(), index=key)
        onset = samples.loc[table.sentence_id + ":" + table.word_index.astype(str)].to_numpy()
        epochs = data[:, onset[:, None] + lags[None]].transpose(1, 0, 2)  # word, channel, time
        if baseline_s is not None:
            mask = (lags / sfreq_hz >= baseline_s[0]) & (lags / sfreq_hz <= baseline_s[1])
            epochs -= epochs[..., mask].mean(axis=-1, keepdims=True)
        if out is None:
            out = np.empty((len(subjects), *epochs.shape), dtype=np.float32)
        out[i] = epochs
    return xr.DataArray(
        out, dims=("subject", "word", "channel", "time"),
        coords={"subject": list(subjects), **_word_coords(table), "channel": list(picks),
                "time": lags / sfreq_hz, "ch_x": ("channel", positions[:, 0]),
                "ch_y": ("channel", positions[:, 1]), "ch_z": ("channel", positions[:, 2])},
        attrs={"sfreq_hz": float(sfreq_hz), "dataset": truth["dataset"], "units": "V"},
    )  # fmt: skip


def evoked_response(root, *, tmin_s=-0.2, tmax_s=0.8):
    """Grand-average word-evoked response (mean over words and subjects).

    Returns
    -------
    DataArray, shape (n_channels, n_times), volts
        Dims ``channel, time`` with channel positions.
    """
    truth = read_ground_truth(root)
    total = None
    for subject in truth["subjects"]:
        mean = demo_epochs(root, tmin_s=tmin_s, tmax_s=tmax_s, subjects=[subject]).mean(("subject", "word"))
        total = mean if total is None else total + mean
    return (total / len(truth["subjects"])).assign_attrs(dataset=truth["dataset"], units="V")


def topography(root, *, time_ms=N400_PEAK_MS, half_width_ms=25, evoked=None):
    """Mean evoked amplitude per channel around ``time_ms`` (default the N400 peak).

    Returns
    -------
    DataArray, shape (n_channels,), volts
        With ``ch_x, ch_y, ch_z`` coordinates.
    """
    evoked = evoked if evoked is not None else evoked_response(root)
    window = slice((time_ms - half_width_ms) / 1000, (time_ms + half_width_ms) / 1000)
    return evoked.sel(time=window).mean("time").assign_attrs(time_ms=time_ms)


def sentence_waveform(root, *, sentence_id=None, subject="01", channel="Pz", pad_s=0.5):
    """One sentence's continuous EEG at one channel, with its word boundaries.

    Parameters
    ----------
    sentence_id : str or None
        Default: the first sentence of the stimulus table.

    Returns
    -------
    waveform : DataArray, shape (n_times,), volts
        Dim ``time`` in seconds from the sentence's first word onset.
    words : DataFrame
        ``word``, ``onset_s``, ``offset_s`` on the same time axis.
    """
    table = load_stimuli(demo_paths(root)["stimuli"], check_audio=False)
    sentence_id = sentence_id or table.sentence_id[0]
    words = table[table.sentence_id == sentence_id]
    if words.empty:
        raise ValueError(f"sentence {sentence_id!r} is not in the demo under {root}")
    raw, events = _read_subject(root, subject)
    sfreq_hz = raw.info["sfreq"]
    first = events[(events.sentence_id == sentence_id) & (events.word_index == 0)]["sample"].iloc[0]
    start = max(int(first - pad_s * sfreq_hz), 0)
    stop = int(first + (words.offset_s.max() + pad_s) * sfreq_hz)
    data = raw.get_data(picks=[channel], start=start, stop=stop)[0]
    time = (np.arange(start, start + data.size) - first) / sfreq_hz
    waveform = xr.DataArray(data, dims="time", coords={"time": time}, name=channel,
                            attrs={"sentence_id": sentence_id, "subject": subject, "units": "V"})  # fmt: skip
    return waveform, words[["word", "onset_s", "offset_s"]].reset_index(drop=True)


def summarize_demo(root, *, sentence_id=None, subject="01"):
    """Everything the demo chapter shows: evoked response, N400 topography, one sentence.

    Returns
    -------
    dict
        ``ground_truth`` (dict), ``evoked`` (channel x time), ``topography`` (channel, at
        400 ms), ``waveform`` and ``words`` (see :func:`sentence_waveform`).
    """
    evoked = evoked_response(root)
    waveform, words = sentence_waveform(root, sentence_id=sentence_id, subject=subject)
    return {"ground_truth": read_ground_truth(root), "evoked": evoked,
            "topography": topography(root, evoked=evoked), "waveform": waveform, "words": words}  # fmt: skip


def plot_demo_summary(summary, *, channel="Pz"):
    """Three panels: evoked response at ``channel``, N400 topography, one sentence's waveform.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import mne

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), width_ratios=[1.2, 0.8, 1.6])
    evoked = summary["evoked"]
    axes[0].plot(evoked.time * 1000, evoked.sel(channel=channel) * 1e6, color="k")
    axes[0].axvspan(*N400_WINDOW_MS, color="tab:blue", alpha=0.15, label="N400 window")
    axes[0].set(xlabel="time from word onset (ms)", ylabel=f"{channel} (µV)", title="word-evoked response")
    axes[0].legend(frameon=False)
    topo = summary["topography"]
    info = mne.create_info(list(topo.channel.values), SFREQ_HZ, "eeg")
    info.set_montage(MONTAGE)
    mne.viz.plot_topomap(topo.values * 1e6, info, axes=axes[1], show=False)
    axes[1].set_title(f"{topo.attrs.get('time_ms', N400_PEAK_MS)} ms")
    wave = summary["waveform"]
    axes[2].plot(wave.time, wave * 1e6, color="k", lw=0.7)
    for word in summary["words"].itertuples():
        axes[2].axvline(word.onset_s, color="tab:red", lw=0.5)
        axes[2].text(word.onset_s, 1.0, word.word, transform=axes[2].get_xaxis_transform(), rotation=45,
                     fontsize=7, va="bottom")  # fmt: skip
    axes[2].set(xlabel="time from sentence onset (s)", ylabel=f"{wave.name} (µV)")
    fig.tight_layout()
    return fig


def describe_demo(truth):
    """Markdown account of the demo's generative model and what was planted (for the book).

    Parameters
    ----------
    truth : dict
        :func:`read_ground_truth` of a written demo.

    Returns
    -------
    str
        The generative model (from the documentation of :mod:`hearlike.demo.generate`) followed
        by a table of the planted quantities of that particular dataset.
    """
    doc = generate.__doc__
    model = doc[doc.index("Generative model"):doc.index("Everything is deterministic")]
    lines, in_code = [], False
    for line in model.splitlines():
        if line.rstrip().endswith("::"):
            lines += [line.rstrip()[:-1].removeprefix("    "), "", "```text"]
            in_code = True
            continue
        if in_code and line.strip() and not line.startswith("        "):
            lines.append("```")
            in_code = False
        lines.append(line[4:] if line.startswith("    ") and not in_code else line)
    if in_code:
        lines.append("```")
    oracle = truth.get("oracle", {})
    rows = [
        ("planted in the EEG", "no (null twin)" if truth.get("null") else "yes"),
        ("subjects", len(truth.get("subjects", []))),
        ("sampling rate", f"{truth.get('sfreq_hz')} Hz, {truth.get('montage')} montage"),
        ("early (acoustic) window", f"{truth['windows_ms']['early']} ms"),
        ("N400 (meaning) window", f"{truth['windows_ms']['n400']} ms, peak {truth.get('n400_peak_ms')} ms"),
        ("negative-prosody sentences", len(truth.get("negative_prosody_sentences", []))),
        ("meaning scale in negative sentences", truth.get("negative_meaning_scale")),
        ("oracle layers", f"{oracle.get('n_encoder_layers')} encoder + {oracle.get('n_decoder_layers')} decoder, "
                          f"{oracle.get('n_features')} features"),
        ("oracle planted peak (relative depth)", oracle.get("planted_peak_relative_depth")),
        ("seed", truth.get("seed")),
    ]
    table = "| planted quantity | value |\n| --- | --- |\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    text = "\n".join(lines).replace(":func:`", "`").replace(":data:`", "`")
    for heading in ("Generative model of the EEG", 'Reference model "oracle"'):
        text = text.replace(heading, f"**{heading}**", 1)
    return text + "\n\n" + table
