"""Per-sentence acoustic prosody features and the negative-prosody seed.

Features are measured with Praat (via ``praat-parselmouth``) on each sentence's span of its
audio file, where a sentence's span runs from the onset of its first word to the offset of its
last word (``onset_s``/``offset_s`` of the stimulus table, see ``ARCHITECTURE.md``).

================================  ===============================================================
column                            meaning
================================  ===============================================================
``f0_mean_st``                    mean F0 of voiced frames inside words, semitones re 100 Hz
                                  (frames > 1 octave from the sentence median are dropped)
``f0_sd_st``                      standard deviation of that F0, semitones
``f0_range_st``                   5th-95th percentile range of that F0, semitones (robust to
                                  octave jumps)
``intensity_mean_db``             mean Praat intensity of frames inside words, dB (re 2e-5 for
                                  samples in pascal; digital full scale 1.0 reads ~91 dB)
``intensity_sd_db``               standard deviation of that intensity, dB
``speech_rate_wps``               words per second of the sentence span
``pause_ratio``                   fraction of the span not inside any word, 0-1
``spectral_tilt_db``              energy in 1-5 kHz relative to 50 Hz-1 kHz, dB (lower = steeper
                                  tilt, less high-frequency energy)
================================  ===============================================================

Raw features are z-scored within ``group`` (speaker / dataset; one group when the stimulus
table has no ``group`` column) by :func:`standardize_prosody`.

**Unvoiced sentences.** A sentence with fewer than ``min_voiced_frames`` voiced frames inside its
words gets NaN F0 features from :func:`prosody_features`; :func:`standardize_prosody` imputes them
with the group's median (so they z-score near 0, i.e. neutral) and sets ``f0_imputed = True``.
A group where no sentence is voiced is an error.

**Silent audio** (peak ``|x|`` of the sentence span below ``silence_peak``) is an error naming the
file and the sentence.

**Seed.** :func:`negative_prosody_score` is the composite
``mean(z[f0_mean_st], z[f0_sd_st], z[intensity_mean_db], z[speech_rate_wps])``: low, flat pitch,
low energy and slow speech all push it down, so *low = negative prosody*; the default threshold in
:mod:`hearlike.tnc` is :data:`DEFAULT_PROSODY_THRESHOLD`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PROSODY_FEATURES = (
    "f0_mean_st",
    "f0_sd_st",
    "f0_range_st",
    "intensity_mean_db",
    "intensity_sd_db",
    "speech_rate_wps",
    "pause_ratio",
    "spectral_tilt_db",
)
"""Names of the per-sentence prosody features, in column order."""

F0_FEATURES = ("f0_mean_st", "f0_sd_st", "f0_range_st")
"""The features that are undefined (NaN) for an unvoiced sentence."""

SEED_FEATURES = ("f0_mean_st", "f0_sd_st", "intensity_mean_db", "speech_rate_wps")
"""Features averaged (as z-scores) into the negative-prosody composite; low = negative."""

DEFAULT_PROSODY_THRESHOLD = -0.3
"""Composite z below which a sentence's prosody seed is negative."""

_REQUIRED_COLUMNS = ("sentence_id", "word_index", "onset_s", "offset_s", "audio_path")


def sentence_spans(stimuli: pd.DataFrame) -> pd.DataFrame:
    """Summarise each sentence's timing from the stimulus table.

    Parameters
    ----------
    stimuli : DataFrame
        Stimulus table, one row per word (see ``ARCHITECTURE.md``); needs ``sentence_id``,
        ``word_index``, ``onset_s``, ``offset_s`` (s) and ``audio_path``. An optional ``group``
        column (speaker / dataset) must be constant within a sentence.

    Returns
    -------
    DataFrame, index ``sentence_id`` (order of first appearance)
        ``audio_path``, ``group``, ``start_s`` (first onset), ``stop_s`` (last offset),
        ``n_words``, ``speech_s`` (length of the union of word intervals, s),
        ``speech_rate_wps`` (words / span) and ``pause_ratio`` (1 - speech_s / span).
    """
    missing = [c for c in _REQUIRED_COLUMNS if c not in stimuli.columns]
    if missing:
        raise ValueError(
            f"stimulus table lacks column(s) {missing}; prosody needs {list(_REQUIRED_COLUMNS)} "
            "(see ARCHITECTURE.md, 'Stimulus table')"
        )
    table = stimuli.copy()
    table["sentence_id"] = table["sentence_id"].astype(str)
    if "group" not in table.columns:
        table["group"] = "all"
    onset = table["onset_s"].to_numpy(float)
    offset = table["offset_s"].to_numpy(float)
    bad = ~(np.isfinite(onset) & np.isfinite(offset) & (offset > onset))
    if bad.any():
        row = table.loc[bad].iloc[0]
        raise ValueError(
            f"{int(bad.sum())} word(s) have non-finite times or offset_s <= onset_s, e.g. sentence "
            f"{row['sentence_id']!r} word {row['word_index']} ({row['onset_s']}-{row['offset_s']} s); "
            "fix the word timings in the stimulus table"
        )
    for column in ("audio_path", "group"):
        per_sentence = table.groupby("sentence_id", sort=False)[column].nunique()
        if (per_sentence > 1).any():
            raise ValueError(
                f"sentence {per_sentence[per_sentence > 1].index[0]!r} has more than one "
                f"{column!r}; a sentence must lie in one audio file and one group"
            )

    table = table.sort_values(["sentence_id", "onset_s"], kind="stable")
    grouped = table.groupby("sentence_id", sort=False)
    # Union length of word intervals: a word adds only the part after every earlier offset.
    previous_max = grouped["offset_s"].transform(lambda s: s.cummax().shift(1)).fillna(-np.inf)
    covered = (table["offset_s"] - np.maximum(table["onset_s"], previous_max)).clip(lower=0.0)
    table["covered_s"] = covered

    spans = grouped.agg(
        audio_path=("audio_path", "first"),
        group=("group", "first"),
        start_s=("onset_s", "min"),
        stop_s=("offset_s", "max"),
        n_words=("onset_s", "size"),
        speech_s=("covered_s", "sum"),
    )
    order = pd.unique(stimuli["sentence_id"].astype(str))
    spans = spans.loc[order]
    duration = spans["stop_s"] - spans["start_s"]
    spans["speech_rate_wps"] = spans["n_words"] / duration
    spans["pause_ratio"] = (1.0 - spans["speech_s"] / duration).clip(lower=0.0, upper=1.0)
    spans.index.name = "sentence_id"
    return spans


def _read_audio(path: Path) -> tuple[np.ndarray, float]:
    """Read an audio file as mono float64 samples and its sampling rate (Hz)."""
    import soundfile

    if not path.is_file():
        raise FileNotFoundError(
            f"audio file {path} does not exist; audio_path in the stimulus table is relative to "
            "the table's folder: pass that folder as root="
        )
    try:
        samples, sfreq_hz = soundfile.read(str(path), dtype="float64", always_2d=True)
    except Exception as error:  # soundfile raises its own LibsndfileError / RuntimeError
        raise ValueError(f"cannot read audio file {path}: {error}") from error
    if samples.shape[0] == 0:
        raise ValueError(f"audio file {path} has no samples")
    return samples.mean(axis=1), float(sfreq_hz)


def _band_energy(samples: np.ndarray, sfreq_hz: float, low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, d=1.0 / sfreq_hz)
    return float(power[(freqs >= low_hz) & (freqs < high_hz)].sum())


def _inside(times: np.ndarray, onsets: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boolean mask, shape (n_times,): whether each time lies inside any [onset, offset)."""
    return ((times[:, None] >= onsets[None, :]) & (times[:, None] < offsets[None, :])).any(axis=1)


def prosody_features(
    stimuli: pd.DataFrame,
    *,
    root: str | Path = ".",
    f0_min_hz: float = 50.0,
    f0_max_hz: float = 500.0,
    time_step_s: float = 0.01,
    min_voiced_frames: int = 3,
    octave_guard_st: float = 12.0,
    silence_peak: float = 1e-4,
    intensity_floor_db: float = 0.0,
) -> pd.DataFrame:
    """Measure raw prosody features of every sentence in a stimulus table.

    Each audio file is read and analysed (Praat pitch, autocorrelation method, and intensity)
    once; sentences then take the frames inside their words.

    Parameters
    ----------
    stimuli : DataFrame
        Stimulus table, one row per word (see :func:`sentence_spans`).
    root : path
        Folder that ``audio_path`` is relative to (the table's folder).
    f0_min_hz, f0_max_hz : float
        Pitch floor and ceiling (Hz) for Praat's pitch tracker. The floor is below Praat's usual
        75 Hz because low-pitched (e.g. espeak "negative") voices sit near 75 Hz, where a 75 Hz
        floor yields spurious high candidates.
    time_step_s : float
        Analysis frame step (s) for pitch and intensity.
    min_voiced_frames : int
        A sentence with fewer voiced frames inside its words is *unvoiced*: NaN F0 features.
    octave_guard_st : float
        Voiced frames farther than this (semitones) from the sentence's median F0 are treated as
        octave errors of the tracker and dropped.
    silence_peak : float
        A sentence span whose peak ``|sample|`` is below this (full scale = 1) is silent: error.
    intensity_floor_db : float
        Intensity frames below this (dB) are digital silence and ignored.

    Returns
    -------
    DataFrame, index ``sentence_id``
        The columns of :data:`PROSODY_FEATURES` (units in the module docstring) plus ``group``,
        ``audio_path`` and ``n_voiced_frames``. F0 columns are NaN for unvoiced sentences.

    Raises
    ------
    FileNotFoundError
        An audio file does not exist.
    ValueError
        Bad timings, an unreadable file, a span past the file's end, or silent audio.
    """
    from tqdm.auto import tqdm

    if not 0 < f0_min_hz < f0_max_hz:
        raise ValueError(f"need 0 < f0_min_hz < f0_max_hz; got {f0_min_hz} and {f0_max_hz}")
    spans = sentence_spans(stimuli)
    words = stimuli.assign(sentence_id=stimuli["sentence_id"].astype(str))
    word_times = {
        sid: (g["onset_s"].to_numpy(float), g["offset_s"].to_numpy(float))
        for sid, g in words.groupby("sentence_id", sort=False)
    }
    root = Path(root)
    rows: dict[str, dict[str, float]] = {}
    for audio_path, file_spans in tqdm(
        spans.groupby("audio_path", sort=False), desc="prosody", unit="file", leave=False
    ):
        path = root / str(audio_path)
        samples, sfreq_hz = _read_audio(path)
        frames = _analyse_file(samples, sfreq_hz, f0_min_hz=f0_min_hz, f0_max_hz=f0_max_hz,
                               time_step_s=time_step_s, silence_peak=silence_peak)  # fmt: skip
        for sentence_id, span in file_spans.iterrows():
            segment = _sentence_segment(samples, sfreq_hz, span, sentence_id, path,
                                        time_step_s=time_step_s, silence_peak=silence_peak)  # fmt: skip
            row = {
                "group": span["group"],
                "audio_path": audio_path,
                "speech_rate_wps": float(span["speech_rate_wps"]),
                "pause_ratio": float(span["pause_ratio"]),
            }
            row.update(_voice_and_level(
                frames, *word_times[sentence_id], min_voiced_frames=min_voiced_frames,
                octave_guard_st=octave_guard_st, intensity_floor_db=intensity_floor_db,
                where=f"sentence {sentence_id!r} in {path}",
            ))  # fmt: skip
            row["spectral_tilt_db"] = _spectral_tilt_db(segment, sfreq_hz)
            rows[str(sentence_id)] = row
    features = pd.DataFrame.from_dict(rows, orient="index").loc[spans.index]
    features.index.name = "sentence_id"
    return features[[*PROSODY_FEATURES, "group", "audio_path", "n_voiced_frames"]]


def _analyse_file(samples, sfreq_hz, *, f0_min_hz, f0_max_hz, time_step_s, silence_peak):
    """Praat pitch (autocorrelation) and intensity frames of one audio file.

    Returns
    -------
    dict or None
        ``pitch_times`` (s), ``f0_hz`` (0 where unvoiced), ``intensity_times`` (s) and
        ``intensity_db``, each of shape (n_frames,); None when the whole file's peak ``|x|`` is
        below ``silence_peak`` (every sentence in it is then reported silent).
    """
    import parselmouth

    if float(np.abs(samples).max()) < silence_peak:
        return None
    sound = parselmouth.Sound(samples, sampling_frequency=sfreq_hz)
    pitch = sound.to_pitch_ac(time_step=time_step_s, pitch_floor=f0_min_hz, pitch_ceiling=f0_max_hz)
    intensity = sound.to_intensity(minimum_pitch=f0_min_hz, time_step=time_step_s)
    return {
        "pitch_times": pitch.xs(), "f0_hz": pitch.selected_array["frequency"],
        "intensity_times": intensity.xs(), "intensity_db": intensity.values[0],
    }  # fmt: skip


def _sentence_segment(samples, sfreq_hz, span, sentence_id, path, *, time_step_s, silence_peak):
    """The samples of one sentence's span, shape (n_samples,).

    Raises ``ValueError`` naming the sentence and the file when the span ends past the file's end
    or its peak ``|x|`` is below ``silence_peak``.
    """
    file_s = samples.size / sfreq_hz
    if span["stop_s"] > file_s + time_step_s:
        raise ValueError(
            f"sentence {sentence_id!r} ends at {span['stop_s']:.3f} s but audio file "
            f"{path} lasts {file_s:.3f} s; check offset_s in the stimulus table"
        )
    start = int(round(span["start_s"] * sfreq_hz))
    stop = int(round(span["stop_s"] * sfreq_hz))
    segment = samples[start:stop]
    segment_peak = float(np.abs(segment).max()) if segment.size else 0.0
    if segment_peak < silence_peak:
        raise ValueError(
            f"audio file {path} is silent for sentence {sentence_id!r} "
            f"({span['start_s']:.3f}-{span['stop_s']:.3f} s, peak |x| = {segment_peak:.2g} "
            f"< silence_peak = {silence_peak:g}); check the recording and its word timings"
        )
    return segment


def _voice_and_level(frames, onsets, offsets, *, min_voiced_frames, octave_guard_st,
                     intensity_floor_db, where):  # fmt: skip
    """F0 and intensity features of the frames inside one sentence's words.

    Parameters
    ----------
    frames : dict
        :func:`_analyse_file` of the sentence's audio file.
    onsets, offsets : ndarray, shape (n_words,)
        The sentence's word times, seconds.
    where : str
        The sentence and its file, for the log message of an unvoiced sentence.

    Returns
    -------
    dict
        ``n_voiced_frames``, ``intensity_mean_db``, ``intensity_sd_db`` and the
        :data:`F0_FEATURES` (NaN with fewer than ``min_voiced_frames`` voiced frames).
    """
    f0_hz = frames["f0_hz"]
    voiced = _inside(frames["pitch_times"], onsets, offsets) & (f0_hz > 0)
    semitones = 12.0 * np.log2(f0_hz[voiced] / 100.0)
    if semitones.size:  # octave errors of the tracker: frames > octave_guard_st off
        semitones = semitones[np.abs(semitones - np.median(semitones)) <= octave_guard_st]
    intensity_db = frames["intensity_db"]
    loud = _inside(frames["intensity_times"], onsets, offsets) & (intensity_db > intensity_floor_db)
    levels = intensity_db[loud]
    row = {
        "n_voiced_frames": int(semitones.size),
        "intensity_mean_db": float(levels.mean()) if levels.size else np.nan,
        "intensity_sd_db": float(levels.std()) if levels.size else np.nan,
    }
    if semitones.size >= min_voiced_frames:
        low, high = np.percentile(semitones, [5, 95])
        row.update(f0_mean_st=float(semitones.mean()), f0_sd_st=float(semitones.std()),
                   f0_range_st=float(high - low))  # fmt: skip
    else:
        logger.info("%s has %d voiced frames (< %d): F0 features set to NaN",
                    where, semitones.size, min_voiced_frames)  # fmt: skip
        row.update({name: np.nan for name in F0_FEATURES})
    return row


def _spectral_tilt_db(segment, sfreq_hz):
    """Energy in 1-5 kHz (up to Nyquist) relative to 50 Hz-1 kHz, dB."""
    nyquist_hz = sfreq_hz / 2.0
    low_energy = _band_energy(segment, sfreq_hz, 50.0, 1000.0)
    high_energy = _band_energy(segment, sfreq_hz, 1000.0, min(5000.0, nyquist_hz))
    return float(10.0 * np.log10((high_energy + 1e-20) / (low_energy + 1e-20)))


def standardize_prosody(features: pd.DataFrame) -> pd.DataFrame:
    """Z-score prosody features within each ``group``, imputing unvoiced sentences' F0.

    Parameters
    ----------
    features : DataFrame, index ``sentence_id``
        Output of :func:`prosody_features` (the :data:`PROSODY_FEATURES` columns; ``group``
        optional, one group if absent).

    Returns
    -------
    DataFrame, index ``sentence_id``
        :data:`PROSODY_FEATURES` as z-scores within group (population SD; a feature constant
        within a group scores 0), plus ``group`` and ``f0_imputed`` (bool: F0 was NaN and was
        replaced by the group median before z-scoring).

    Raises
    ------
    ValueError
        A feature column is missing, a non-F0 feature is NaN, or no sentence of a group is voiced.
    """
    missing = [c for c in PROSODY_FEATURES if c not in features.columns]
    if missing:
        raise ValueError(f"prosody features lack column(s) {missing}; use prosody_features()")
    groups = (
        features["group"] if "group" in features.columns else pd.Series("all", index=features.index)
    )
    values = features[list(PROSODY_FEATURES)].astype(float)
    other = [c for c in PROSODY_FEATURES if c not in F0_FEATURES]
    if values[other].isna().any().any():
        bad = values[other].isna().any(axis=1)
        raise ValueError(
            f"prosody features of sentence(s) {list(values.index[bad][:5])} are NaN outside F0 "
            "(no intensity frame above intensity_floor_db?); check their audio"
        )
    imputed = values[list(F0_FEATURES)].isna().any(axis=1)
    by_group = values.groupby(groups, sort=False)
    medians = by_group.transform("median")
    no_voice = medians[list(F0_FEATURES)].isna().any(axis=1)
    if no_voice.any():
        raise ValueError(
            f"no sentence of group {groups[no_voice].iloc[0]!r} is voiced, so its F0 features "
            "cannot be imputed; check the audio or widen f0_min_hz/f0_max_hz"
        )
    values = values.fillna(medians)
    if imputed.any():
        logger.warning(
            "%d unvoiced sentence(s) got their group's median F0 features: %s",
            int(imputed.sum()), list(values.index[imputed][:10]),
        )
    by_group = values.groupby(groups, sort=False)
    mean = by_group.transform("mean")
    sd = by_group.transform(lambda s: s.std(ddof=0))
    z = (values - mean) / sd.where(sd > 1e-12)
    z = z.fillna(0.0)
    z["group"] = groups
    z["f0_imputed"] = imputed
    return z


def negative_prosody_score(standardized: pd.DataFrame) -> pd.Series:
    """Composite negative-prosody score: the mean z of :data:`SEED_FEATURES`.

    Parameters
    ----------
    standardized : DataFrame, index ``sentence_id``
        Output of :func:`standardize_prosody`.

    Returns
    -------
    Series, index ``sentence_id``, name ``prosody_seed``
        Dimensionless, low = low, flat pitch; low energy; slow rate (negative prosody).
    """
    missing = [c for c in SEED_FEATURES if c not in standardized.columns]
    if missing:
        raise ValueError(f"standardized prosody lacks column(s) {missing}; use standardize_prosody()")
    return standardized[list(SEED_FEATURES)].mean(axis=1).rename("prosody_seed")


FRAME_FEATURES = ("f0_st", "energy_db", "zcr", "spectral_centroid_hz", "spectral_bandwidth_hz", "spectral_rolloff_hz")
"""The reference study's frame-wise prosody (:func:`frame_features`), pooled per word by :func:`word_prosody`."""


def autocorrelation_f0(frames: np.ndarray, sfreq_hz: float, *, f0_min_hz: float = 50.0,
                       f0_max_hz: float = 500.0, voicing_threshold: float = 0.3) -> np.ndarray:
    """F0 of each frame from the peak of its autocorrelation (the reference study's estimator).

    Each frame is mean-removed; its biased autocorrelation ``r(lag)`` is computed by FFT; the
    highest ``r`` over lags ``sfreq/f0_max .. sfreq/f0_min`` (at most ``frame_length - 2``) is the
    period; it is refined to the local maximum of the unbiased estimate ``r(lag) N / (N - lag)`` (the
    biased one's decay pulls it to shorter lags) and a parabola through it and its neighbours. A frame is voiced when
    ``r(peak) / r(0) >= voicing_threshold``.

    Parameters
    ----------
    frames : array, shape (n_frames, frame_length)
    sfreq_hz, f0_min_hz, f0_max_hz : float
        Sampling rate and F0 search range (Hz).
    voicing_threshold : float
        Normalised autocorrelation (0-1) a peak needs to count as voiced.

    Returns
    -------
    ndarray, shape (n_frames,), float64
        F0 in Hz; NaN for unvoiced or silent frames.
    """
    frames = np.asarray(frames, dtype=float)
    n_frames, length = frames.shape
    min_lag = max(int(np.ceil(sfreq_hz / f0_max_hz)), 1)
    max_lag = min(int(np.floor(sfreq_hz / f0_min_hz)), length - 2)
    f0 = np.full(n_frames, np.nan)
    if n_frames == 0 or min_lag >= max_lag:
        return f0
    size = 1 << int(np.ceil(np.log2(2 * length)))  # zero-padded: no circular wrap-around
    spectrum = np.fft.rfft(frames - frames.mean(axis=1, keepdims=True), n=size, axis=1)
    r = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size, axis=1)[:, : max_lag + 2]
    peak = min_lag + np.argmax(r[:, min_lag : max_lag + 1], axis=1)
    rows = np.arange(n_frames)
    # the peak's neighbourhood without the biased estimate's linear decay (which pulls the vertex to shorter lags)
    unbiased = r[:, : max_lag + 2] * (length / (length - np.arange(max_lag + 2)))
    for _ in range(3):  # climb to the unbiased estimate's local maximum (the decay moves it <= ~2 lags)
        step = np.argmax(np.stack([unbiased[rows, peak + d] for d in (-1, 0, 1)]), axis=0) - 1
        peak = np.clip(peak + step, max(min_lag, 1), max_lag)
    left, centre, right = unbiased[rows, peak - 1], unbiased[rows, peak], unbiased[rows, peak + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        voiced = (r[:, 0] > 1e-20) & (r[rows, peak] / r[:, 0] >= voicing_threshold)
        curvature = left - 2 * centre + right
        shift = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    f0[voiced] = sfreq_hz / (peak + np.clip(shift, -0.5, 0.5))[voiced]
    return f0


def frame_features(samples: np.ndarray, sfreq_hz: float, *, frame_s: float = 0.032, hop_s: float = 0.010,
                   f0_min_hz: float = 50.0, f0_max_hz: float = 500.0,
                   voicing_threshold: float = 0.3) -> pd.DataFrame:
    """Frame-wise prosody of a waveform: F0, energy, zero-crossing rate and spectral shape, all frames at once.

    The reference study's frame features (its frames: 512 samples, hop 160 at 16 kHz; F0 from
    75 Hz, here 50 Hz as in :func:`prosody_features`). Spectra: periodic Hann window, magnitude.

    Parameters
    ----------
    samples : array, shape (n_samples,)
        Mono waveform (full scale 1) at ``sfreq_hz`` (Hz).
    frame_s, hop_s : float
        Frame length and step (s).
    f0_min_hz, f0_max_hz, voicing_threshold
        As for :func:`autocorrelation_f0`.

    Returns
    -------
    DataFrame, one row per frame
        ``time_s`` (frame centre, s), ``f0_hz`` (NaN unvoiced), ``f0_st`` (semitones re 100 Hz),
        ``energy_db`` (mean square, dB re full scale, floor -120), ``zcr`` (sign changes per
        sample, 0-1), ``spectral_centroid_hz``, ``spectral_bandwidth_hz`` (magnitude-weighted SD of
        frequency), ``spectral_rolloff_hz`` (lowest frequency below which 85 % of the magnitude
        lies); spectral columns are NaN in silent frames.
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 1:
        raise ValueError(f"samples must be 1-D (mono); got shape {samples.shape}")
    length, hop = int(round(frame_s * sfreq_hz)), max(int(round(hop_s * sfreq_hz)), 1)
    if length < 4:
        raise ValueError(f"frame_s={frame_s} s is under 4 samples at {sfreq_hz} Hz")
    frames = (np.lib.stride_tricks.sliding_window_view(samples, length)[::hop] if samples.size >= length
              else np.empty((0, length)))  # fmt: skip
    options = dict(f0_min_hz=f0_min_hz, f0_max_hz=f0_max_hz, voicing_threshold=voicing_threshold)
    blocks = [_frame_block(frames[i:i + 2048], sfreq_hz, **options) for i in range(0, max(len(frames), 1), 2048)]
    table = pd.DataFrame({k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]})
    table.insert(0, "time_s", (np.arange(frames.shape[0]) * hop + length / 2) / sfreq_hz)
    return table


def _frame_block(frames, sfreq_hz, *, f0_min_hz, f0_max_hz, voicing_threshold):
    """:func:`frame_features`' columns (but ``time_s``) of a block of frames (n_frames, length), as arrays."""
    from scipy.signal import get_window

    length = frames.shape[1]
    magnitude = np.abs(np.fft.rfft(frames * get_window("hann", length), axis=1))
    freqs = np.fft.rfftfreq(length, d=1.0 / sfreq_hz)
    total = magnitude.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = magnitude / np.where(total > 1e-10, total, np.nan)[:, None]
        centroid = weights @ freqs
        bandwidth = np.sqrt((weights * (freqs[None, :] - centroid[:, None]) ** 2).sum(axis=1))
    cumulative = np.cumsum(magnitude, axis=1)
    rolloff = freqs[(cumulative < 0.85 * cumulative[:, -1:]).sum(axis=1).clip(max=freqs.size - 1)]
    f0_hz = autocorrelation_f0(frames, sfreq_hz, f0_min_hz=f0_min_hz, f0_max_hz=f0_max_hz,
                               voicing_threshold=voicing_threshold)
    return {  # (blocks of frames keep the memory bounded on long recordings)
        "f0_hz": f0_hz, "f0_st": 12.0 * np.log2(f0_hz / 100.0),
        "energy_db": 10.0 * np.log10(np.maximum((frames**2).mean(axis=1), 1e-12)),
        "zcr": np.abs(np.diff(np.sign(frames), axis=1)).sum(axis=1) / (2.0 * length),
        "spectral_centroid_hz": centroid, "spectral_bandwidth_hz": bandwidth,
        "spectral_rolloff_hz": np.where(total > 1e-10, rolloff, np.nan),
    }  # fmt: skip


def word_prosody(stimuli: pd.DataFrame, *, root: str | Path = ".", **options) -> pd.DataFrame:
    """The :data:`FRAME_FEATURES` of every word: their mean over the frames whose centre lies in the word.

    Each audio file is analysed (:func:`frame_features`, ``**options``) once. F0 is averaged over
    voiced frames only (NaN when none is); a word shorter than a hop takes its nearest frame.

    Returns
    -------
    DataFrame, index ``word`` (``"{sentence_id}:{word_index}"``)
        ``sentence_id``, ``word_index``, the :data:`FRAME_FEATURES` (units of
        :func:`frame_features`) and ``n_frames``.
    """
    sentence_spans(stimuli)  # validates the columns and word timings
    parts = []
    for audio_path, words in stimuli.assign(sentence_id=stimuli["sentence_id"].astype(str)).groupby(
            "audio_path", sort=False):  # fmt: skip
        path = Path(root) / str(audio_path)
        samples, sfreq_hz = _read_audio(path)
        onsets, offsets = words["onset_s"].to_numpy(float), words["offset_s"].to_numpy(float)
        if (late := onsets >= samples.size / sfreq_hz).any():
            word = words[late].iloc[0]
            raise ValueError(f"word {word['sentence_id']}:{word['word_index']} starts at {word['onset_s']:.3f} s "
                             f"but audio file {path} lasts {samples.size / sfreq_hz:.3f} s; check onset_s")
        frames = frame_features(samples, sfreq_hz, **options)
        times = frames["time_s"].to_numpy()
        inside = (times[None, :] >= onsets[:, None]) & (times[None, :] < offsets[:, None])  # (word, frame)
        empty = np.nonzero(~inside.any(axis=1))[0]
        inside[empty, np.abs(times[None, :] - (onsets + offsets)[empty, None] / 2).argmin(axis=1)] = True
        values = frames[list(FRAME_FEATURES)].to_numpy()  # (frame, feature)
        finite = np.isfinite(values)
        counts = inside.astype(float) @ finite
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, (inside.astype(float) @ np.where(finite, values, 0.0)) / counts, np.nan)
        part = pd.DataFrame(means, columns=list(FRAME_FEATURES),
                            index=[f"{s}:{i}" for s, i in zip(words["sentence_id"], words["word_index"])])
        part.insert(0, "word_index", words["word_index"].to_numpy(int))
        part.insert(0, "sentence_id", words["sentence_id"].to_numpy())
        parts.append(part.assign(n_frames=inside.sum(axis=1)))
    return pd.concat(parts).rename_axis("word")
