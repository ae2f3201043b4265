"""The demo's stimuli: the sentence list, its synthetic speech, and each word's acoustic features.

The sentences of ``hearlike/data/demo_sentences.tsv`` (a balanced mix of negative, neutral and
positive content). Negative sentences are spoken with "negative prosody" (lower pitch, narrower
pitch range, slower, quieter; :data:`hearlike.tts.NEGATIVE_PROSODY`), so prosody carries affect.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..cache import atomic_path
from ..stimuli import load_stimuli, write_stimuli
from ..tts import NEGATIVE_PROSODY, NORMAL_PROSODY, synthesize

#: the demo's sentence list: package data (``data/demo_sentences.tsv`` of the repository links to it)
_DEFAULT_SENTENCES = Path(str(resources.files("hearlike").joinpath("data", "demo_sentences.tsv")))


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

