"""The embedded demo dataset: real synthetic speech, simulated EEG with planted effects, a null twin.

Model weights and EEG corpora cannot be downloaded here, so the book runs on a dataset whose truth
is known. :func:`write_demo` writes, under ``root``::

    stimuli/stimuli.tsv          stimulus table (ARCHITECTURE.md contract, + condition, prosody)
    stimuli/audio/<id>.wav       16 kHz mono PCM-16 speech from libespeak-ng (hearlike.tts)
    bids/                        EEG-BIDS tree, task "listening", BrainVision (int16, 0.1 uV)
    states/oracle.nc             hidden states of the reference model "oracle" (model contract)
    states/oracle-prosody.nc     a second reference model carrying prosodic salience only
    ground_truth.json            what was planted, where, and with which seeds
    ground_truth.nc              word-level planted patterns (meaning pattern, acoustic features...)

Stimuli
    The sentences of ``hearlike/data/demo_sentences.tsv`` (a balanced mix of negative, neutral and
    positive content). Negative sentences are spoken with "negative prosody" (lower pitch, narrower
    pitch range, slower, quieter; :data:`hearlike.tts.NEGATIVE_PROSODY`), so prosody carries affect.

Generative model of the EEG (64 BioSemi channels, 500 Hz, microvolts before writing in volts)
    One continuous recording per subject; sentences in a per-subject random order, separated by
    0.8-1.2 s of silence. For subject ``s`` and word ``w`` with onset sample ``o_w``::

        eeg(t) = background_s(t)
                 + gain_early_s * sum_w  (a_0 + sum_f x_wf a_f) * h_early(t - o_w)
                 + gain_n400_s  * sum_w  (n_0 + c_w * p_w) * h_n400(t - o_w)
                 + gain_n400_s  * sum_w  z_w * v * h_late(t - o_w)

    * background: spatially smoothed 1/f (pink) noise, posterior alpha (subject's peak 9-11 Hz,
      waxing and waning), 50 Hz line noise, slow drifts (< 0.1 Hz), and eye blinks (frontal,
      about one per 5 s).
    * early response (0-250 ms; N1 at 100 ms, P2 at 190 ms): fronto-central patterns ``a_f`` driven
      by the word's acoustic features ``x_wf`` (z-scored envelope energy in dB, mean F0 in
      semitones, duration), measured on the synthesised audio.
    * N400-like response (250-500 ms, Gaussian peak at 400 ms, centro-parietal): a mean negativity
      ``n_0`` plus ``p_w = e * (Q m_w)``, a fixed random projection ``Q`` (64 x 384) of the
      word's meaning vector ``m_w``, windowed by a broad centro-parietal envelope ``e`` (sd 7 cm).
      ``m_w`` is :func:`hearlike.text.embed_texts` of the word, centred over the dataset and then
      residualised within its sentence on an intercept and the three acoustic features (least
      squares), so that acoustics cannot predict meaning: the early (acoustic) and the N400
      (meaning) geometries of a sentence are independent, and an acoustic layer cannot align with
      the N400 window through the function-word/content-word contrast both would otherwise share.
    * negative prosody: in negative-prosody sentences the meaning pattern is scaled down
      (``c_w = NEGATIVE_MEANING_SCALE``, else 1) and a sustained late positivity (LPP-like,
      flat over 250-500 ms) is added, with a smooth centro-parietal pattern ``v`` (sd 7 cm) and
      a word-by-word amplitude ``z_w``: a latent "affective salience", drawn at random (stream
      ``patterns``), residualised within the sentence on the acoustic features and z-scored
      within the sentence (0 in normal-prosody sentences). The oracle carries the same ``z_w``
      as an offset shared by all of its features (``2.5 z_w`` on every feature, at the depth of
      meaning). The shared rank-1 component dominates the across-word variance on both sides, so
      covariance-based dependence (linear CKA, HSIC, distance correlation; their excess over a
      word-permutation null) rises. Correlation distance removes each pattern's mean over
      features, so the offset adds nothing to the oracle's RDM, while the positivity reshapes the
      EEG's RDM (by ``z_w``, unrelated to meaning) on top of a 0.3x weaker meaning geometry:
      geometric RSA falls. :func:`check_planted_effects` measures both on the written data.
    * per-subject gains ``gain_early_s``, ``gain_n400_s`` (log-normal, sd 0.25).

The null twin (``null=True``) has the same stimuli, order and background noise, and none of the
stimulus-locked terms. Both twins get the same oracle.

Reference model "oracle"
    ``K = n_encoder_layers + n_decoder_layers`` layers at relative depth ``r = k / (K - 1)``;
    layer ``k`` holds ``w_a(r) A P_a + w_m(r) (M P_m + 2.5 z 1^T) + 1.5 noise_k`` with
    ``w_a = exp(-r^2 / 0.125)`` (z-scored acoustic features ``A``, early) and
    ``w_m = exp(-(r - 0.6)^2 / (2 * 0.07^2))`` (the planted meaning vectors ``M`` above; planted
    peak at relative depth 0.6, i.e. layer ``decoder.1`` of 6 + 6, whose neighbours get 0.74
    (``decoder.0``) and 0.19 (``decoder.2``)), random projections ``P`` scaled so each term has
    unit RMS, the affective salience ``z`` as an offset on all features, and noise drawn
    independently for every layer.

Design notes (what the study's pipeline recovers; full demo, 60 sentences x 8 subjects, default
``params.yml``, region "all", subject-mean excess Spearman RSA over the cyclic null)
    The N400 window (250-500 ms) peaks at ``decoder.1`` (0.17; ``decoder.0`` 0.15, every other
    layer < 0.02), the first encoder layers peak in the early window (0-250 ms: ``encoder.0``
    0.22) and fall below zero in the N400 window, and at ``decoder.1`` the N400 window beats the
    others (0.17 vs < 0.04). The strong early response (3 uV per feature) and meaning pattern
    (10 uV RMS over the centro-parietal channels) make both visible in single-subject,
    single-word epochs against the background noise. Changes from hearlike 0.1.0's first demo,
    whose N400-window profile was flat (0.07-0.10 at every layer): the prosody term was a rogue
    dimension in every layer and followed the acoustic salience, so in negative-prosody
    sentences every layer aligned with the late positivity; meaning was not orthogonal to
    acoustics; the meaning depth profile was wider (sd 0.10) and the early and meaning EEG
    patterns weaker (1 and 5 uV).

Everything is deterministic in ``seed``: two runs write byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from . import __version__
from .cache import atomic_path, write_netcdf
from .stimuli import load_stimuli, write_stimuli
from .text import embed_texts
from .tts import NEGATIVE_PROSODY, NORMAL_PROSODY, synthesize

logger = logging.getLogger(__name__)

__all__ = [
    "write_demo", "demo_paths", "read_ground_truth", "load_sentence_list", "word_acoustic_features",
    "demo_epochs", "evoked_response", "topography", "sentence_waveform", "summarize_demo",
    "check_planted_effects", "word_patterns", "plot_demo_summary", "oracle_layer_weights",
    "SFREQ_HZ", "TASK", "N400_WINDOW_MS", "EARLY_WINDOW_MS", "CENTRO_PARIETAL", "FRONTO_CENTRAL",
]  # fmt: skip

SFREQ_HZ = 500
TASK = "listening"
N400_WINDOW_MS = (250, 500)
N400_PEAK_MS = 400
EARLY_WINDOW_MS = (0, 250)
PLANTED_PEAK_RELATIVE_DEPTH = 0.6
NEGATIVE_MEANING_SCALE = 0.3
LINE_FREQ_HZ = 50
MONTAGE = "biosemi64"
CENTRO_PARIETAL = ["C1", "Cz", "C2", "CP3", "CP1", "CPz", "CP2", "CP4", "P3", "P1", "Pz", "P2",
                   "P4", "POz"]  # fmt: skip
FRONTO_CENTRAL = ["F1", "Fz", "F2", "FC3", "FC1", "FCz", "FC2", "FC4", "C3", "C1", "Cz", "C2",
                  "C4"]  # fmt: skip
ACOUSTIC_FEATURES = ("energy_db", "pitch_st", "duration_s")

#: amplitudes of the generative model, microvolts
AMPLITUDES_UV = {
    "pink_noise_rms": 6.0, "alpha_rms": 3.0, "line_noise": 1.0, "drift": 10.0, "blink_peak": 80.0,
    "early_mean": 2.0, "early_per_feature": 3.0, "n400_mean": 2.0, "meaning_pattern_rms": 10.0,
    "late_positivity_per_z": 12.0,
}  # fmt: skip
BLINK_RATE_HZ = 0.2
GAP_S = (0.8, 1.2)
LEAD_S = 2.0
TAIL_S = 2.0
ORACLE_NOISE = 1.5
PROSODY_OFFSET_SCALE = 2.5
#: weight of the sentence-level meaning (gist) in the oracle's meaning layers
SENTENCE_GIST_SCALE = 1.0
MEANING_ENVELOPE_M = 0.07
SALIENCE_ENVELOPE_M = 0.07
MEANING_DEPTH_SD = 0.07
_STREAM = {"patterns": 1, "oracle": 2, "subject": 3, "order": 4, "prosody_model": 5}
_MEAS_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: the demo's sentence list: package data (``data/demo_sentences.tsv`` of the repository links to it)
_DEFAULT_SENTENCES = Path(str(resources.files("hearlike").joinpath("data", "demo_sentences.tsv")))


# ----------------------------------------------------------------------------------------------
# paths and small helpers
# ----------------------------------------------------------------------------------------------
def demo_paths(root):
    """Where :func:`write_demo` puts each part of the demo under ``root``.

    Returns
    -------
    dict of str to Path
        ``stimuli`` (the ``stimuli.tsv``), ``audio`` (folder), ``bids`` (BIDS root), ``states``
        (folder of model-states netCDF; the oracle is ``states/oracle.nc``), ``oracle``,
        ``ground_truth`` (json), ``patterns`` (``ground_truth.nc``).
    """
    root = Path(root)
    return {
        "root": root, "stimuli": root / "stimuli" / "stimuli.tsv", "audio": root / "stimuli" / "audio",
        "bids": root / "bids", "states": root / "states", "oracle": root / "states" / "oracle.nc",
        "ground_truth": root / "ground_truth.json", "patterns": root / "ground_truth.nc",
    }  # fmt: skip


def read_ground_truth(root):
    """Read ``<root>/ground_truth.json`` (see :func:`write_demo`)."""
    path = demo_paths(root)["ground_truth"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; write the demo first with hearlike.demo.write_demo({str(root)!r})"
        )
    return json.loads(path.read_text())


def _rng(seed, stream, index=0):
    return np.random.default_rng([int(seed), _STREAM[stream], int(index)])


def _subject_ids(n_subjects):
    return [f"{i + 1:02d}" for i in range(n_subjects)]


def load_sentence_list(path=None, *, n_sentences=None):
    """Read the demo's sentence list (``sentence_id``, ``text``, ``condition``).

    Parameters
    ----------
    path : path-like or None
        Tab-separated file; default the packaged ``hearlike/data/demo_sentences.tsv``.
    n_sentences : int or None
        Keep only the first ``n_sentences`` rows (the list interleaves conditions, so any prefix of
        three or more rows holds every condition).

    Returns
    -------
    DataFrame
        Columns ``sentence_id`` (str), ``text`` (str), ``condition`` (``negative``, ``neutral`` or
        ``positive``).
    """
    path = Path(path) if path is not None else _DEFAULT_SENTENCES
    if not path.is_file():
        raise FileNotFoundError(f"sentence list {path} does not exist; pass sentences_path=...")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("sentence_id", "text", "condition") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; need sentence_id, text, condition")
    bad = ~table.condition.isin(["negative", "neutral", "positive"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: line {row + 2} has condition={table.condition[row]!r}; expected negative, "
            "neutral or positive"
        )
    if table.sentence_id.duplicated().any():
        raise ValueError(f"{path}: duplicated sentence_id {table.sentence_id[table.sentence_id.duplicated()].tolist()}")
    if n_sentences is not None:
        if not 1 <= n_sentences <= len(table):
            raise ValueError(f"n_sentences={n_sentences} is invalid; {path} has {len(table)} sentences")
        table = table.iloc[:n_sentences]
    return table.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# stimuli
# ----------------------------------------------------------------------------------------------
def _write_stimuli(sentences, paths):
    import soundfile

    paths["audio"].mkdir(parents=True, exist_ok=True)
    rows = []
    for sentence in tqdm(sentences.itertuples(), total=len(sentences), desc="speech", leave=False):
        prosody = "negative" if sentence.condition == "negative" else "normal"
        settings = NEGATIVE_PROSODY if prosody == "negative" else NORMAL_PROSODY
        audio, sfreq_hz, words = synthesize(sentence.text, **settings)
        relative = f"audio/{sentence.sentence_id}.wav"
        with atomic_path(paths["audio"] / f"{sentence.sentence_id}.wav") as tmp:
            soundfile.write(tmp, audio, sfreq_hz, subtype="PCM_16", format="WAV")
        words = words.assign(
            sentence_id=sentence.sentence_id, word_index=np.arange(len(words)), audio_path=relative,
            sentence_text=sentence.text, condition=sentence.condition, prosody=prosody,
        )  # fmt: skip
        rows.append(words)
    table = pd.concat(rows, ignore_index=True)
    # round-trip through the file so onsets are exactly what readers will see
    write_stimuli(table, paths["stimuli"])
    return load_stimuli(paths["stimuli"])


def word_acoustic_features(table, root):
    """Acoustic features of every word, measured on its audio file.

    Parameters
    ----------
    table : DataFrame
        Stimulus table (one row per word).
    root : path-like
        Folder that ``audio_path`` is relative to.

    Returns
    -------
    DataFrame, shape (n_words, 3)
        ``energy_db`` (RMS level of the word's segment, dB re full scale), ``pitch_st`` (mean F0
        of voiced frames in semitones re 100 Hz, from Praat via parselmouth; the sentence median
        where the word has no voiced frame), ``duration_s``; same index as ``table``.
    """
    import parselmouth
    import soundfile

    root = Path(root)
    energy = np.zeros(len(table))
    pitch = np.full(len(table), np.nan)
    for audio_path, rows in table.groupby("audio_path", sort=False).groups.items():
        audio, sfreq_hz = soundfile.read(root / audio_path, dtype="float64")
        contour = parselmouth.Sound(audio, sampling_frequency=sfreq_hz).to_pitch(
            time_step=0.01, pitch_floor=60.0, pitch_ceiling=400.0
        )
        f0 = contour.selected_array["frequency"]
        times = contour.xs()
        for row in rows:
            onset, offset = table.at[row, "onset_s"], table.at[row, "offset_s"]
            segment = audio[int(round(onset * sfreq_hz)) : int(round(offset * sfreq_hz))]
            energy[row] = 20 * np.log10(np.sqrt(np.mean(segment**2)) + 1e-6)
            voiced = f0[(times >= onset) & (times < offset) & (f0 > 0)]
            if voiced.size:
                pitch[row] = 12 * np.log2(voiced.mean() / 100.0)
        sentence_pitch = pitch[list(rows)]
        fill = np.nanmedian(sentence_pitch) if np.isfinite(sentence_pitch).any() else 0.0
        pitch[list(rows)] = np.where(np.isfinite(sentence_pitch), sentence_pitch, fill)
    duration = (table.offset_s - table.onset_s).to_numpy()
    return pd.DataFrame(
        {"energy_db": energy, "pitch_st": pitch, "duration_s": duration}, index=table.index
    )


def _zscore(x, axis=0):
    x = np.asarray(x, dtype=float)
    sd = x.std(axis=axis, keepdims=True)
    return (x - x.mean(axis=axis, keepdims=True)) / np.where(sd > 0, sd, 1.0)


# ----------------------------------------------------------------------------------------------
# planted patterns and the oracle
# ----------------------------------------------------------------------------------------------
def _montage_positions():
    import mne

    montage = mne.channels.make_standard_montage(MONTAGE)
    positions = montage.get_positions()["ch_pos"]
    names = list(montage.ch_names)
    return names, np.array([positions[n] for n in names])


def _envelope(positions, names, centre_names, width_m):
    centre = positions[[names.index(n) for n in centre_names]].mean(axis=0)
    distance = np.linalg.norm(positions - centre, axis=1)
    return np.exp(-(distance**2) / (2 * width_m**2))


def _smooth_random_pattern(rng, positions, *, width_m=0.04):
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    kernel = np.exp(-(distance**2) / (2 * width_m**2))
    return kernel @ rng.standard_normal(len(positions))


def _residualise(values, table, features):
    """Within each sentence, the residual of ``values`` (n_words, d) after least squares on an
    intercept and ``features`` (n_words, f)."""
    out = np.array(values, dtype=float)
    for _, rows in table.groupby("sentence_id", sort=False).groups.items():
        rows = np.asarray(list(rows))
        design = np.column_stack([np.ones(len(rows)), features[rows]])
        coef, *_ = np.linalg.lstsq(design, out[rows], rcond=None)
        out[rows] -= design @ coef
    return out


def _affective_salience(rng, table, features):
    """Latent affective salience z_w of words in negative-prosody sentences (0 elsewhere): random,
    residualised within each sentence on the acoustic features, then z-scored within sentence."""
    raw = _residualise(rng.standard_normal(len(table))[:, None], table, features)[:, 0]
    z = np.zeros(len(table))
    negative = table.prosody.to_numpy() == "negative"
    for _, rows in table[negative].groupby("sentence_id", sort=False).groups.items():
        rows = np.asarray(list(rows))
        z[rows] = _zscore(raw[rows])
    return z


def _meaning_vectors(table, meaning, features):
    """Meaning vectors as planted: centred over the dataset, then residualised within each
    sentence on an intercept and the acoustic features (so acoustics do not predict meaning)."""
    return _residualise(meaning - meaning.mean(axis=0), table, features)


def _planted_patterns(table, acoustic, meaning, *, seed):
    """Word-level spatial patterns (microvolts) of the generative model; see the module docstring."""
    rng = _rng(seed, "patterns")
    names, positions = _montage_positions()
    centro_parietal = _envelope(positions, names, ["CPz", "Pz", "Cz"], 0.05)
    meaning_envelope = _envelope(positions, names, ["CPz", "Pz", "Cz"], MEANING_ENVELOPE_M)
    fronto_central = _envelope(positions, names, ["FCz", "Fz", "Cz"], 0.05)
    features = _zscore(acoustic[list(ACOUSTIC_FEATURES)].to_numpy())
    a0 = -fronto_central * AMPLITUDES_UV["early_mean"]
    a_features = np.stack([
        fronto_central * _smooth_random_pattern(rng, positions) for _ in ACOUSTIC_FEATURES
    ])  # fmt: skip
    a_features *= AMPLITUDES_UV["early_per_feature"] / np.sqrt(np.mean(a_features**2, axis=1, keepdims=True))
    projection = rng.standard_normal((len(names), meaning.shape[1]))
    meaning_pattern = (_meaning_vectors(table, meaning, features) @ projection.T) * meaning_envelope
    region = [names.index(n) for n in CENTRO_PARIETAL]
    meaning_pattern *= AMPLITUDES_UV["meaning_pattern_rms"] / np.sqrt(np.mean(meaning_pattern[:, region] ** 2))
    n0 = -centro_parietal * AMPLITUDES_UV["n400_mean"]
    salience_pattern = _envelope(positions, names, ["CPz", "Pz", "Cz"], SALIENCE_ENVELOPE_M)
    salience_pattern *= AMPLITUDES_UV["late_positivity_per_z"] / np.sqrt(np.mean(salience_pattern[region] ** 2))
    negative = table.prosody.to_numpy() == "negative"
    return {
        "channels": names, "positions": positions, "features": features, "a0": a0,
        "a_features": a_features, "meaning_pattern": meaning_pattern, "n0": n0,
        "salience": _affective_salience(rng, table, features),
        "salience_pattern": salience_pattern,
        "meaning_scale": np.where(negative, NEGATIVE_MEANING_SCALE, 1.0),
    }  # fmt: skip


def oracle_layer_weights(n_encoder_layers=6, n_decoder_layers=6):
    """Mixing weights of the oracle's layers.

    Returns
    -------
    DataFrame, shape (K, 5)
        Index ``"encoder.i"``/``"decoder.j"``; columns ``relative_depth``, ``acoustic``,
        ``meaning``, ``prosody``, ``noise`` (weights of unit-RMS terms).
    """
    n = n_encoder_layers + n_decoder_layers
    depth = np.arange(n) / (n - 1)
    labels = [f"encoder.{i}" for i in range(n_encoder_layers)] + [
        f"decoder.{i}" for i in range(n_decoder_layers)
    ]
    return pd.DataFrame(
        {
            "relative_depth": depth,
            "acoustic": np.exp(-(depth**2) / (2 * 0.25**2)),
            "meaning": np.exp(-((depth - PLANTED_PEAK_RELATIVE_DEPTH) ** 2) / (2 * MEANING_DEPTH_SD**2)),
            "prosody": np.exp(-((depth - PLANTED_PEAK_RELATIVE_DEPTH) ** 2) / (2 * MEANING_DEPTH_SD**2)),
            "noise": np.full(n, ORACLE_NOISE),
        },
        index=pd.Index(labels, name="layer"),
    )


def _word_coords(table):
    sid = table.sentence_id.to_numpy(str)
    index = table.word_index.to_numpy(int)
    return {
        "word": ("word", np.array([f"{s}:{i}" for s, i in zip(sid, index)])),
        "sentence_id": ("word", sid), "word_index": ("word", index),
        "word_text": ("word", table.word.to_numpy(str)),
    }  # fmt: skip


def _unit_rms(x):
    return x / np.sqrt(np.mean(x**2))


def _oracle_states(table, patterns, meaning, *, seed, n_encoder_layers, n_decoder_layers, n_features):
    rng = _rng(seed, "oracle")
    n_words = len(table)
    acoustic = _unit_rms(patterns["features"] @ rng.standard_normal((len(ACOUSTIC_FEATURES), n_features)))
    semantic = _unit_rms(_meaning_vectors(table, meaning, patterns["features"])
                         @ rng.standard_normal((meaning.shape[1], n_features)))
    # prosody term: the prosodic salience as an offset shared by every feature
    prosody = PROSODY_OFFSET_SCALE * np.outer(patterns["salience"], np.ones(n_features))
    # sentence gist: the sentence's mean (dataset-centred) meaning, the same for all its words. A
    # per-sentence constant leaves every within-sentence centred Gram and Euclidean distance
    # unchanged, but gives the model a sentence-level meaning (TNC's model view reads it).
    centred = pd.DataFrame(meaning - meaning.mean(axis=0)).groupby(table.sentence_id.to_numpy()).transform("mean")
    gist = _unit_rms(centred.to_numpy() @ rng.standard_normal((meaning.shape[1], n_features)))
    weights = oracle_layer_weights(n_encoder_layers, n_decoder_layers)
    layers = []
    for layer in weights.itertuples():
        noise = rng.standard_normal((n_words, n_features))
        layers.append(layer.acoustic * acoustic + layer.meaning * (semantic + SENTENCE_GIST_SCALE * gist)
                      + layer.prosody * prosody + layer.noise * noise)  # fmt: skip
    states = np.stack(layers).astype(np.float32)
    return xr.Dataset(
        {
            "encoder": (("encoder_layer", "word", "encoder_feature"), states[:n_encoder_layers]),
            "decoder": (("decoder_layer", "word", "decoder_feature"), states[n_encoder_layers:]),
        },
        coords=_word_coords(table),
    )


#: the second reference model: prosodic salience only (no meaning), as the same all-feature offset
#: the oracle carries, in every layer: invisible to correlation distance, dominant in covariance
PROSODY_MODEL = "oracle-prosody"


def _prosody_model_states(table, patterns, *, seed, n_layers, n_features):
    """States of ``oracle-prosody``: ``PROSODY_OFFSET_SCALE * salience`` on every feature + noise.

    A planted *rank split*: geometric metrics (correlation-distance RDMs, neighbours, rotations) see
    only its noise and rank it with the random models, while covariance-based metrics see the
    salience offset that the EEG's late positivity shares, and rank it high.
    """
    rng = _rng(seed, "prosody_model")
    prosody = PROSODY_OFFSET_SCALE * np.outer(patterns["salience"], np.ones(n_features))
    states = np.stack([prosody + ORACLE_NOISE * rng.standard_normal((len(table), n_features))
                       for _ in range(n_layers)]).astype(np.float32)
    return xr.Dataset({"decoder": (("decoder_layer", "word", "decoder_feature"), states)}, coords=_word_coords(table))


# ----------------------------------------------------------------------------------------------
# EEG
# ----------------------------------------------------------------------------------------------
def _kernels(sfreq_hz):
    t = np.arange(int(0.8 * sfreq_hz)) / sfreq_hz
    early = -np.exp(-((t - 0.100) ** 2) / (2 * 0.020**2)) + 0.6 * np.exp(-((t - 0.190) ** 2) / (2 * 0.030**2))
    n400 = np.exp(-((t - N400_PEAK_MS / 1000) ** 2) / (2 * 0.050**2))
    n400[t < N400_WINDOW_MS[0] / 1000 - 0.05] = 0.0
    start, stop = N400_WINDOW_MS[0] / 1000, N400_WINDOW_MS[1] / 1000
    late = 0.5 * (np.tanh((t - start + 0.02) / 0.01) - np.tanh((t - stop - 0.02) / 0.01))
    return early, n400, late


def _timeline(table, sentences, *, seed, subject_index, sfreq_hz):
    """Per-subject sentence order, sentence start samples, and word onset samples."""
    rng = _rng(seed, "order", subject_index)
    order = rng.permutation(len(sentences))
    durations = {}
    for sentence_id, rows in table.groupby("sentence_id", sort=False).groups.items():
        durations[sentence_id] = float(table.offset_s[rows].max())
    starts = {}
    t = LEAD_S
    for k in order:
        sid = sentences.sentence_id[k]
        starts[sid] = int(round(t * sfreq_hz))
        t += durations[sid] + rng.uniform(*GAP_S)
    n_times = int(round((t - GAP_S[0] + TAIL_S) * sfreq_hz))
    onset_samples = table.sentence_id.map(starts).to_numpy() + np.round(table.onset_s.to_numpy() * sfreq_hz).astype(int)
    return order, starts, onset_samples, n_times


def _pink(rng, n_channels, n_times, sfreq_hz):
    spectrum = np.fft.rfft(rng.standard_normal((n_channels, n_times)), axis=1)
    freqs = np.fft.rfftfreq(n_times, 1 / sfreq_hz)
    spectrum /= np.sqrt(np.maximum(freqs, 0.5))
    return np.fft.irfft(spectrum, n=n_times, axis=1)


def _background(rng, positions, names, n_times, sfreq_hz):
    """Background EEG in microvolts, shape (n_channels, n_times)."""
    n_channels = len(names)
    t = np.arange(n_times) / sfreq_hz
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    mixing = np.exp(-(distance**2) / (2 * 0.03**2))
    mixing /= np.sqrt((mixing**2).sum(axis=1, keepdims=True))
    pink = mixing @ _pink(rng, n_channels, n_times, sfreq_hz)
    out = pink * (AMPLITUDES_UV["pink_noise_rms"] / pink.std())
    # alpha: one posterior source, narrow band around the subject's peak, waxing and waning
    peak_hz = rng.uniform(9.0, 11.0)
    spectrum = np.fft.rfft(rng.standard_normal(n_times))
    freqs = np.fft.rfftfreq(n_times, 1 / sfreq_hz)
    spectrum[np.abs(freqs - peak_hz) > 1.0] = 0
    alpha = np.fft.irfft(spectrum, n=n_times)
    alpha *= AMPLITUDES_UV["alpha_rms"] / alpha.std()
    out += _envelope(positions, names, ["Oz", "POz"], 0.06)[:, None] * alpha[None]
    # line noise and drifts
    phase = rng.uniform(0, 2 * np.pi, n_channels)
    amplitude = AMPLITUDES_UV["line_noise"] * rng.uniform(0.5, 1.5, n_channels)
    out += amplitude[:, None] * np.sin(2 * np.pi * LINE_FREQ_HZ * t[None] + phase[:, None])
    for _ in range(3):
        freq = rng.uniform(0.01, 0.1)
        out += (AMPLITUDES_UV["drift"] / np.sqrt(3)) * rng.uniform(0.5, 1.5, n_channels)[:, None] * np.sin(
            2 * np.pi * freq * t[None] + rng.uniform(0, 2 * np.pi, n_channels)[:, None]
        )  # fmt: skip
    # blinks
    tau = 0.08
    kernel_t = np.arange(int(0.6 * sfreq_hz)) / sfreq_hz
    blink = (kernel_t / tau) * np.exp(1 - kernel_t / tau)
    train = np.zeros(n_times)
    time_s = rng.exponential(1 / BLINK_RATE_HZ)
    while time_s < n_times / sfreq_hz - 1:
        train[int(time_s * sfreq_hz)] = rng.uniform(0.7, 1.3)
        time_s += 0.5 + rng.exponential(1 / BLINK_RATE_HZ)
    blinks = np.convolve(train, blink)[:n_times]
    out += AMPLITUDES_UV["blink_peak"] * _envelope(positions, names, ["Fp1", "Fpz", "Fp2"], 0.04)[:, None] * blinks[None]
    return out


def _stimulus_locked(patterns, onset_samples, n_times, sfreq_hz, *, gain_early, gain_n400):
    """Word-locked responses in microvolts, shape (n_channels, n_times)."""
    from scipy.signal import oaconvolve

    early_kernel, n400_kernel, late_kernel = _kernels(sfreq_hz)
    early = patterns["a0"][None] + patterns["features"] @ patterns["a_features"]
    n400 = patterns["n0"][None] + patterns["meaning_scale"][:, None] * patterns["meaning_pattern"]
    late = patterns["salience"][:, None] * patterns["salience_pattern"][None]
    out = np.zeros((early.shape[1], n_times))
    for weights, kernel, gain in ((early, early_kernel, gain_early), (n400, n400_kernel, gain_n400),
                                  (late, late_kernel, gain_n400)):  # fmt: skip
        impulses = np.zeros((early.shape[1], n_times))
        impulses[:, onset_samples] = (gain * weights).T
        out += oaconvolve(impulses, kernel[None], mode="full", axes=1)[:, :n_times]
    return out


def _write_subject(bids_root, subject, data_uv, names, table, onset_samples, sfreq_hz, scratch):
    import mne
    import mne_bids
    import pybv

    pybv.write_brainvision(
        data=data_uv * 1e-6, sfreq=sfreq_hz, ch_names=names, fname_base=f"sub-{subject}",
        folder_out=scratch, fmt="binary_int16", resolution=0.1, unit="µV", meas_date=_MEAS_DATE,
        overwrite=True,
    )  # fmt: skip
    raw = mne.io.read_raw_brainvision(Path(scratch) / f"sub-{subject}.vhdr", preload=False, verbose="error")
    raw.set_montage(MONTAGE, verbose="error")
    raw.info["line_freq"] = LINE_FREQ_HZ
    events = np.column_stack([onset_samples, np.zeros_like(onset_samples), np.ones_like(onset_samples)])
    metadata = pd.DataFrame({
        "sentence_id": table.sentence_id.to_numpy(str), "word_index": table.word_index.to_numpy(int),
        "word": table.word.to_numpy(str),
    })  # fmt: skip
    order = np.argsort(onset_samples, kind="stable")
    durations = (table.offset_s - table.onset_s).to_numpy()
    path = mne_bids.BIDSPath(root=bids_root, subject=subject, task=TASK, datatype="eeg")
    # the int16 BrainVision file written above is copied as is (allow_preload=True with
    # format="BrainVision" would convert it to float32 and double the size on disk)
    mne_bids.write_raw_bids(
        raw, path, events=events[order], event_id={"word": 1},
        event_metadata=metadata.iloc[order].reset_index(drop=True),
        extra_columns_descriptions={
            "sentence_id": "stimulus sentence identifier (stimuli/stimuli.tsv of the demo)",
            "word_index": "0-based index of the word in its sentence",
            "word": "the word as written in the stimulus table",
        },
        overwrite=True, verbose="error",
    )  # fmt: skip
    _rewrite_events(path, table.iloc[order], onset_samples[order], durations[order], sfreq_hz)


def _rewrite_events(path, words, onset_samples, durations, sfreq_hz):
    """Write the BIDS events.tsv ourselves: onset, duration, trial_type, sample, value + word columns."""
    events_path = path.copy().update(suffix="events", extension=".tsv").fpath
    table = pd.DataFrame({
        "onset": onset_samples / sfreq_hz, "duration": durations, "trial_type": "word",
        "value": 1, "sample": onset_samples, "sentence_id": words.sentence_id.to_numpy(str),
        "word_index": words.word_index.to_numpy(int), "word": words.word.to_numpy(str),
    })  # fmt: skip
    with atomic_path(events_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6f", lineterminator="\n")


# ----------------------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------------------
def _config(*, null, seed, n_subjects, n_sentences, sfreq_hz, n_encoder_layers, n_decoder_layers,
            n_features, sentences):  # fmt: skip
    config = {
        "null": bool(null), "seed": int(seed), "n_subjects": int(n_subjects),
        "n_sentences": int(len(sentences)), "sfreq_hz": int(sfreq_hz),
        "n_encoder_layers": int(n_encoder_layers), "n_decoder_layers": int(n_decoder_layers),
        "n_features": int(n_features), "amplitudes_uv": AMPLITUDES_UV,
        "model": {"meaning_envelope_m": MEANING_ENVELOPE_M, "salience_envelope_m": SALIENCE_ENVELOPE_M,
                  "meaning_depth_sd": MEANING_DEPTH_SD, "prosody_offset_scale": PROSODY_OFFSET_SCALE,
                  "oracle_noise": ORACLE_NOISE, "negative_meaning_scale": NEGATIVE_MEANING_SCALE,
                  "sentence_gist_scale": SENTENCE_GIST_SCALE},
        "sentences": sentences.to_dict(orient="list"), "normal_prosody": NORMAL_PROSODY,
        "negative_prosody": NEGATIVE_PROSODY, "hearlike_version": __version__,
        "reference_models": ["oracle", PROSODY_MODEL],
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return config, digest


def write_demo(root=None, *, null=False, seed=0, n_subjects=8, n_sentences=None, sentences_path=None,
               sfreq_hz=SFREQ_HZ, n_encoder_layers=6, n_decoder_layers=6, n_features=256,
               overwrite=False):  # fmt: skip
    """Write the embedded demo dataset (or its null twin) with planted, documented effects.

    Parameters
    ----------
    root : path-like or None
        Output folder; default ``data/demo`` (``data/demo-null`` when ``null``), relative to the
        working directory. Layout: :func:`demo_paths`.
    null : bool
        Write the null twin: same stimuli, order and noise, no stimulus-locked EEG.
    seed : int
        Seed of every random choice (patterns, oracle, noise, sentence order).
    n_subjects : int
        Number of simulated subjects (``"01"``, ``"02"``, ...).
    n_sentences : int or None
        Use the first ``n_sentences`` of the sentence list (all 60 by default); tiny values make
        tiny test datasets.
    sentences_path : path-like or None
        Sentence list (``sentence_id``, ``text``, ``condition``); default the packaged
        ``hearlike/data/demo_sentences.tsv``.
    sfreq_hz : int
        EEG sampling rate.
    n_encoder_layers, n_decoder_layers, n_features : int
        Shape of the oracle's states.
    overwrite : bool
        Rewrite even if ``root`` already holds a demo made with the same configuration (otherwise
        that demo is kept and returned at once).

    Returns
    -------
    Path
        ``root``.

    Notes
    -----
    Everything is written under ``<root>.partial`` and renamed to ``root`` at the end, so
    ``root`` is either complete or absent. An interrupted run resumes: subjects already written
    to ``<root>.partial`` with the same configuration are kept.
    """
    root = Path(root if root is not None else ("data/demo-null" if null else "data/demo"))
    for name, value, low in (("n_subjects", n_subjects, 1), ("sfreq_hz", sfreq_hz, 100),
                             ("n_encoder_layers", n_encoder_layers, 1),
                             ("n_decoder_layers", n_decoder_layers, 1), ("n_features", n_features, 8)):
        if not (isinstance(value, (int, np.integer)) and value >= low):
            raise ValueError(f"{name}={value!r} is invalid; pass an integer >= {low}")
    sentences = load_sentence_list(sentences_path, n_sentences=n_sentences)
    config, digest = _config(
        null=null, seed=seed, n_subjects=n_subjects, n_sentences=n_sentences, sfreq_hz=sfreq_hz,
        n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers, n_features=n_features,
        sentences=sentences,
    )  # fmt: skip
    final = demo_paths(root)
    _check_target(root)
    if final["ground_truth"].is_file() and not overwrite:
        if json.loads(final["ground_truth"].read_text()).get("config_hash") == digest:
            logger.info("demo in %s is up to date (config %s)", root, digest)
            return root
        raise FileExistsError(
            f"{root} holds a demo made with another configuration; pass overwrite=True to replace it"
        )
    partial = root.with_name(root.name + ".partial")
    marker = partial / ".config_hash"
    if partial.exists() and not marker.is_file() and any(partial.iterdir()):
        raise FileExistsError(f"{partial} exists and was not written by `hearlike demo` (no .config_hash in it); "
                              "move it away or choose another --out")
    if partial.exists() and (not marker.is_file() or marker.read_text() != digest):
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest)
    paths = demo_paths(partial)

    logger.info("demo %s: synthesising %d sentences", "null twin" if null else "dataset", len(sentences))
    table = _write_stimuli(sentences, paths)
    acoustic = word_acoustic_features(table, paths["stimuli"].parent)
    meaning = embed_texts([w.lower() for w in table.word]).astype(np.float64)
    patterns = _planted_patterns(table, acoustic, meaning, seed=seed)

    oracle = _oracle_states(table, patterns, meaning, seed=seed, n_encoder_layers=n_encoder_layers,
                            n_decoder_layers=n_decoder_layers, n_features=n_features)  # fmt: skip
    oracle.attrs = {"model_id": "oracle", "pooling": "planted (word-level generative model)",
                    "dataset": "demo-null" if null else "demo", "source": "hearlike.demo"}  # fmt: skip
    write_netcdf(oracle, paths["oracle"], config_hash=digest)
    prosody_model = _prosody_model_states(table, patterns, seed=seed, n_layers=n_decoder_layers, n_features=n_features)
    prosody_model.attrs = {"model_id": PROSODY_MODEL, "pooling": "planted (word-level generative model)",
                           "dataset": "demo-null" if null else "demo", "source": "hearlike.demo"}  # fmt: skip
    write_netcdf(prosody_model, paths["states"] / f"{PROSODY_MODEL}.nc", config_hash=digest)
    _write_patterns(paths["patterns"], table, acoustic, patterns, null=null, digest=digest)

    gains_rng = _rng(seed, "subject", 10_000)
    gains = {s: (float(np.exp(0.25 * gains_rng.standard_normal())), float(np.exp(0.25 * gains_rng.standard_normal())))
             for s in _subject_ids(n_subjects)}  # fmt: skip
    names = patterns["channels"]
    orders = {}
    scratch = partial / ".scratch"  # a killed run's scratch files are removed by the next one
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for index, subject in enumerate(tqdm(_subject_ids(n_subjects), desc="EEG subjects", leave=False)):
        order, _, onset_samples, n_times = _timeline(table, sentences, seed=seed, subject_index=index,
                                                     sfreq_hz=sfreq_hz)  # fmt: skip
        orders[subject] = sentences.sentence_id[order].tolist()
        done = partial / ".done" / f"sub-{subject}"
        if done.is_file():
            continue
        data = _background(_rng(seed, "subject", index), patterns["positions"], names, n_times, sfreq_hz)
        if not null:
            data += _stimulus_locked(patterns, onset_samples, n_times, sfreq_hz,
                                     gain_early=gains[subject][0], gain_n400=gains[subject][1])  # fmt: skip
        _write_subject(paths["bids"], subject, data, names, table, onset_samples, sfreq_hz, scratch)
        done.parent.mkdir(exist_ok=True)
        done.write_text("")
    truth = _ground_truth(table, sentences, config, digest, gains, orders, patterns,
                          n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers)  # fmt: skip
    with atomic_path(paths["ground_truth"]) as tmp:
        tmp.write_text(json.dumps(truth, indent=2) + "\n")
    shutil.rmtree(partial / ".done", ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    marker.unlink()
    for path in partial.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    if root.exists():
        _check_target(root, written=partial)
        shutil.rmtree(root)
    partial.rename(root)
    logger.info("wrote demo to %s", root)
    return root


def _check_target(root: Path, *, written: Path | None = None) -> None:
    """Refuse to write into (and so to delete) a folder holding files the demo did not write.

    An empty or missing folder is fine, and so is an earlier demo (``ground_truth.json`` from
    :mod:`hearlike.demo`) whose files all have a counterpart in the new one (``written``).
    """
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root} is a file; choose a folder for the demo")
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    if not files:
        return
    truth = root / "ground_truth.json"
    try:
        is_demo = truth.is_file() and "planted_in_eeg" in json.loads(truth.read_text())
    except ValueError:
        is_demo = False
    if not is_demo:
        raise FileExistsError(
            f"refusing to write the demo into {root}: it holds {len(files)} file(s) that are not a hearlike demo "
            f"(e.g. {files[0]}); choose an empty or new folder"
        )
    if written is not None:
        foreign = [f for f in files if not (written / f).exists()]
        if foreign:
            raise FileExistsError(
                f"refusing to replace the demo in {root}: {len(foreign)} file(s) there were not written by the demo "
                f"(e.g. {foreign[0]}); move them away first"
            )


def _write_patterns(path, table, acoustic, patterns, *, null, digest):
    names = patterns["channels"]
    ds = xr.Dataset(
        {
            "meaning_pattern": (("word", "channel"), patterns["meaning_pattern"].astype(np.float32)),
            "meaning_scale": ("word", patterns["meaning_scale"].astype(np.float32)),
            "salience": ("word", patterns["salience"].astype(np.float32)),
            "salience_pattern": ("channel", patterns["salience_pattern"].astype(np.float32)),
            "acoustic_features": (("word", "feature"), acoustic[list(ACOUSTIC_FEATURES)].to_numpy(np.float32)),
            "acoustic_patterns": (("feature", "channel"), patterns["a_features"].astype(np.float32)),
        },
        coords={**_word_coords(table), "channel": names, "feature": list(ACOUSTIC_FEATURES),
                "ch_x": ("channel", patterns["positions"][:, 0]), "ch_y": ("channel", patterns["positions"][:, 1]),
                "ch_z": ("channel", patterns["positions"][:, 2])},  # fmt: skip
        attrs={"units": "microvolts (patterns, before the subject gain and the time course)",
               "planted_in_eeg": int(not null), "source": "hearlike.demo"},  # fmt: skip
    )
    write_netcdf(ds, path, config_hash=digest)


def _ground_truth(table, sentences, config, digest, gains, orders, patterns, *, n_encoder_layers,
                  n_decoder_layers):  # fmt: skip
    weights = oracle_layer_weights(n_encoder_layers, n_decoder_layers)
    peak_layer = str(weights.meaning.idxmax())
    return {
        "dataset": "demo-null" if config["null"] else "demo",
        "null": config["null"],
        "planted_in_eeg": not config["null"],
        "config_hash": digest,
        "hearlike_version": __version__,
        "seed": config["seed"],
        "seed_streams": {k: [config["seed"], v] for k, v in _STREAM.items()},
        "task": TASK,
        "sfreq_hz": config["sfreq_hz"],
        "montage": MONTAGE,
        "subjects": list(gains),
        "subject_gains": {s: {"early": g[0], "n400": g[1]} for s, g in gains.items()},
        "sentence_order": orders,
        "windows_ms": {"early": list(EARLY_WINDOW_MS), "n400": list(N400_WINDOW_MS)},
        "n400_peak_ms": N400_PEAK_MS,
        "regions": {"centro_parietal": CENTRO_PARIETAL, "fronto_central": FRONTO_CENTRAL},
        "amplitudes_uv": AMPLITUDES_UV,
        "acoustic_features": list(ACOUSTIC_FEATURES),
        "negative_meaning_scale": NEGATIVE_MEANING_SCALE,
        "negative_prosody_sentences": sentences.sentence_id[sentences.condition == "negative"].tolist(),
        "prosody_offset_scale": PROSODY_OFFSET_SCALE,
        "prosody_settings": {"normal": NORMAL_PROSODY, "negative": NEGATIVE_PROSODY},
        "oracle": {
            "model_id": "oracle",
            "path": "states/oracle.nc",
            "n_encoder_layers": n_encoder_layers,
            "n_decoder_layers": n_decoder_layers,
            "n_features": config["n_features"],
            "planted_peak_relative_depth": PLANTED_PEAK_RELATIVE_DEPTH,
            "planted_peak_layer": peak_layer,
            "planted_peak_layer_relative_depth": float(weights.relative_depth[peak_layer]),
            "layer_weights": weights.reset_index().to_dict(orient="records"),
        },
        "prosody_model": {
            "model_id": PROSODY_MODEL,
            "path": f"states/{PROSODY_MODEL}.nc",
            "n_decoder_layers": n_decoder_layers,
            "planted": "prosodic salience offset on every feature, no meaning: high under covariance-based "
                       "metrics, at chance under geometric metrics (a planted rank split)",
        },
        "expected": (
            {"n400_meaning_effect": False, "measure_disagreement": False}
            if config["null"]
            else {"n400_meaning_effect": True, "measure_disagreement": True,
                  "negative_prosody": "geometric RSA falls, covariance-based dependence (CKA, HSIC, "
                                      "distance correlation) rises"}  # fmt: skip
        ),
    }


# ----------------------------------------------------------------------------------------------
# reading back: epochs and summaries for the book's demo chapter
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# verification of the planted measure disagreement
# ----------------------------------------------------------------------------------------------
def _correlation_rdm(x):
    x = x - x.mean(axis=1, keepdims=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return 1 - x @ x.T


def _rank(x):
    return np.argsort(np.argsort(x)).astype(float)


def _linear_cka(x, y):
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def _distance_correlation(x, y):
    def centred(z):
        d = np.linalg.norm(z[:, None] - z[None], axis=-1)
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x), centred(y)
    return np.sqrt(max((a * b).mean(), 0) / np.sqrt((a * a).mean() * (b * b).mean()))


def _debiased_cka(x, y):
    def unbiased_hsic(k, l):
        n = len(k)
        k, l = k.copy(), l.copy()
        np.fill_diagonal(k, 0)
        np.fill_diagonal(l, 0)
        return ((k * l).sum() + k.sum() * l.sum() / ((n - 1) * (n - 2))
                - 2 * k.sum(0) @ l.sum(0) / (n - 2)) / (n * (n - 3))  # fmt: skip

    k, l = x @ x.T, y @ y.T
    return unbiased_hsic(k, l) / np.sqrt(max(unbiased_hsic(k, k) * unbiased_hsic(l, l), 1e-30))


def _hsic(x, y):
    """Biased linear HSIC of unit-variance-scaled data (scale-free across sentences)."""
    x = (x - x.mean(0)) / np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())
    y = (y - y.mean(0)) / np.sqrt(((y - y.mean(0)) ** 2).sum(1).mean())
    return float(np.linalg.norm(y.T @ x) ** 2 / len(x) ** 2)


def _spearman_rsa(x, y):
    upper = np.triu_indices(len(x), 1)
    return np.corrcoef(_rank(_correlation_rdm(x)[upper]), _rank(_correlation_rdm(y)[upper]))[0, 1]


def _pearson_rsa(x, y):
    upper = np.triu_indices(len(x), 1)
    return np.corrcoef(_correlation_rdm(x)[upper], _correlation_rdm(y)[upper])[0, 1]


_CHECK_METRICS = {
    "rsa_spearman": _spearman_rsa, "rsa_pearson": _pearson_rsa, "cka_linear": _linear_cka,
    "cka_debiased": _debiased_cka, "hsic": _hsic, "dcor": _distance_correlation,
}  # fmt: skip
#: the planted direction of each check metric under negative prosody
GEOMETRIC_METRICS = ("rsa_spearman", "rsa_pearson")
COVARIANCE_METRICS = ("cka_linear", "cka_debiased", "hsic", "dcor")


def word_patterns(epochs, *, window_ms=N400_WINDOW_MS, bin_ms=50):
    """Subject-mean word patterns in a window: channels x time bins, flattened.

    Parameters
    ----------
    epochs : DataArray, dims (subject, word, channel, time)
        From :func:`demo_epochs`.

    Returns
    -------
    ndarray, shape (n_words, n_channels * n_bins), microvolts
    """
    mean = epochs.mean("subject")
    times_ms = mean.time.values * 1000
    keep = (times_ms >= window_ms[0] - 1e-6) & (times_ms < window_ms[1] - 1e-6)
    bins = ((times_ms[keep] - window_ms[0]) // bin_ms).astype(int)
    data = mean.values[..., keep]
    binned = np.stack([data[..., bins == b].mean(-1) for b in np.unique(bins)], axis=-1)
    return binned.reshape(len(binned), -1).astype(float) * 1e6


def check_planted_effects(root, *, layer=None, region=None, window_ms=N400_WINDOW_MS, bin_ms=50,
                          n_permutations=50, seed=0, epochs=None):  # fmt: skip
    """Per-sentence geometric vs covariance-based similarity of the oracle and the demo EEG.

    Word patterns are the subject-mean EEG (:func:`demo_epochs` defaults) in ``window_ms`` over
    ``region`` (default the centro-parietal channels), as channels x ``bin_ms`` bins; the oracle's
    ``layer`` (default the planted peak) gives the model patterns. Each score also gets its
    excess over a word-permutation null (as the metric grid reports it), which removes the large
    small-sample bias of CKA and distance correlation on ~10 words.

    Returns
    -------
    DataFrame, one row per sentence
        ``sentence_id``, ``prosody``, and for each of ``rsa_spearman``, ``rsa_pearson`` (of
        correlation-distance RDMs), ``cka_linear``, ``cka_debiased``, ``hsic`` (biased, linear
        kernel, data scaled to unit mean squared norm), ``dcor`` (distance correlation): the
        score and ``<metric>_excess`` (score minus the mean over ``n_permutations`` shuffles of
        the EEG side's words).
    """
    truth = read_ground_truth(root)
    paths = demo_paths(root)
    layer = layer or truth["oracle"]["planted_peak_layer"]
    component, index = layer.split(".")
    with xr.open_dataset(paths["oracle"], engine="h5netcdf") as ds:
        states = ds[component].isel({f"{component}_layer": int(index)}).values.astype(float)
    if epochs is None:
        epochs = demo_epochs(root, tmin_s=-0.2, tmax_s=window_ms[1] / 1000, channels=region or CENTRO_PARIETAL)
    patterns = word_patterns(epochs, window_ms=window_ms, bin_ms=bin_ms)
    table = load_stimuli(paths["stimuli"], check_audio=False)
    rng = np.random.default_rng(seed)
    rows = []
    for sentence_id, words in table.groupby("sentence_id", sort=False).groups.items():
        words = np.asarray(list(words))
        x, y = states[words], patterns[words]
        shuffles = [rng.permutation(len(words)) for _ in range(n_permutations)]
        row = {"sentence_id": sentence_id, "prosody": table.prosody[words[0]]}
        for name, metric in _CHECK_METRICS.items():
            row[name] = float(metric(x, y))
            row[f"{name}_excess"] = row[name] - float(np.mean([metric(x, y[p]) for p in shuffles]))
        rows.append(row)
    return pd.DataFrame(rows)


def describe_demo(truth):
    """Markdown account of the demo's generative model and what was planted (for the book).

    Parameters
    ----------
    truth : dict
        :func:`read_ground_truth` of a written demo.

    Returns
    -------
    str
        The generative model (from this module's documentation) followed by a table of the planted
        quantities of that particular dataset.
    """
    doc = __doc__
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
