"""The demo's generative model: planted patterns, the reference models' states, the EEG.

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
    single-word epochs against the background noise.

Everything is deterministic in ``seed``: two runs write byte-identical files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

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


def _rng(seed, stream, index=0):
    return np.random.default_rng([int(seed), _STREAM[stream], int(index)])


def _subject_ids(n_subjects):
    return [f"{i + 1:02d}" for i in range(n_subjects)]


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


def _fft_length(n_times):
    """The noise is filtered at the next length with small prime factors (zero-padded, then cut back):
    a recording's own length is often a large prime, whose FFT is ~10x slower."""
    from scipy.fft import next_fast_len

    return next_fast_len(n_times, real=True)


def _pink(rng, n_channels, n_times, sfreq_hz, n_fft):
    spectrum = np.fft.rfft(rng.standard_normal((n_channels, n_times)), n=n_fft, axis=1)
    freqs = np.fft.rfftfreq(n_fft, 1 / sfreq_hz)
    spectrum /= np.sqrt(np.maximum(freqs, 0.5))
    return np.fft.irfft(spectrum, n=n_fft, axis=1)[:, :n_times]


def _sinusoids(waves, t):
    """``Σ_k amplitude_k[c] · sin(2π f_k t + phase_k[c])`` for ``waves = [(amplitude (channel,), f_k Hz,
    phase (channel,)), ...]``, shape (channel, time).

    By the angle-addition formula, one matrix product: ``(channel, 2K)`` weights ``a cos φ, a sin φ``
    times the ``(2K, time)`` sines and cosines of the time axis, instead of one sine per channel and
    sample (and one temporary per wave)."""
    weights = np.concatenate([np.stack([a * np.cos(p), a * np.sin(p)], axis=1) for a, _, p in waves], axis=1)
    angles = np.stack([2 * np.pi * f * t for _, f, _ in waves])
    bases = np.stack([np.sin(angles), np.cos(angles)], axis=1).reshape(2 * len(waves), len(t))
    return weights @ bases


def _background(rng, positions, names, n_times, sfreq_hz):
    """Background EEG in microvolts, shape (n_channels, n_times)."""
    n_channels = len(names)
    t = np.arange(n_times) / sfreq_hz
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    mixing = np.exp(-(distance**2) / (2 * 0.03**2))
    mixing /= np.sqrt((mixing**2).sum(axis=1, keepdims=True))
    n_fft = _fft_length(n_times)
    pink = mixing @ _pink(rng, n_channels, n_times, sfreq_hz, n_fft)
    out = pink * (AMPLITUDES_UV["pink_noise_rms"] / pink.std())
    # alpha: one posterior source, narrow band around the subject's peak, waxing and waning
    peak_hz = rng.uniform(9.0, 11.0)
    spectrum = np.fft.rfft(rng.standard_normal(n_times), n=n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1 / sfreq_hz)
    spectrum[np.abs(freqs - peak_hz) > 1.0] = 0
    alpha = np.fft.irfft(spectrum, n=n_fft)[:n_times]
    alpha *= AMPLITUDES_UV["alpha_rms"] / alpha.std()
    out += _envelope(positions, names, ["Oz", "POz"], 0.06)[:, None] * alpha[None]
    # line noise and drifts
    phase = rng.uniform(0, 2 * np.pi, n_channels)
    waves = [(AMPLITUDES_UV["line_noise"] * rng.uniform(0.5, 1.5, n_channels), LINE_FREQ_HZ, phase)]
    for _ in range(3):
        freq = rng.uniform(0.01, 0.1)
        amplitude = (AMPLITUDES_UV["drift"] / np.sqrt(3)) * rng.uniform(0.5, 1.5, n_channels)
        waves.append((amplitude, freq, rng.uniform(0, 2 * np.pi, n_channels)))
    out += _sinusoids(waves, t)
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
    """Word-locked responses in microvolts, shape (n_channels, n_times).

    Each word adds its three response kernels (early, N400, late), weighted per channel, from its
    onset on (cut at the recording's end). Added word by word: the impulse trains are sparse, and
    their FFT convolution took ~1.2 s per subject, this ~70 ms (the same sums up to round-off).
    """
    kernels = np.stack(_kernels(sfreq_hz))  # (3, kernel samples)
    early = patterns["a0"][None] + patterns["features"] @ patterns["a_features"]
    n400 = patterns["n0"][None] + patterns["meaning_scale"][:, None] * patterns["meaning_pattern"]
    late = patterns["salience"][:, None] * patterns["salience_pattern"][None]
    weights = np.stack([gain_early * early, gain_n400 * n400, gain_n400 * late], axis=-1)  # (word, channel, 3)
    out = np.zeros((early.shape[1], n_times))
    for word, onset in enumerate(np.asarray(onset_samples).tolist()):
        span = min(kernels.shape[1], n_times - onset)
        out[:, onset : onset + span] += weights[word] @ kernels[:, :span]
    return out

