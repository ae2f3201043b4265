"""Real recorded speech for the real-speech chapter: naplib's audiobook excerpts with forced-aligned words.

The MIT-licensed ``naplib`` package ships ten ~62 s excerpts of a read audiobook (*Hank the Cow
Dog*) with their transcripts (``naplib.io.load_speech_task_data``). Its audio is read at run time
(never copied into this repository); the word onsets come from an offline forced alignment of each
transcript with PocketSphinx (:func:`align_naplib`, run once, its output shipped as
``hearlike/data/naplib_words.tsv``), so neither the aligner nor the network is needed to build the
book. :func:`naplib_stimuli` cuts the excerpts into pause-bounded phrases and writes a stimulus
table (see ARCHITECTURE.md) whose sentences point into the long excerpt files.

The checks of the chapter live here too: how many encoder frames each word's pooling window holds
(:func:`frame_coverage`), leave-one-sentence-out word-identity retrieval per layer
(:func:`word_retrieval`), and per-sentence RSA with text embeddings with and without a timing
control (:func:`text_rsa`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["NAPLIB_WORDS", "align_naplib", "frame_coverage", "naplib_stimuli", "text_rsa", "word_retrieval"]

logger = logging.getLogger(__name__)

#: the shipped word alignment of naplib's excerpts (trial, word_index, word, onset_s, offset_s)
NAPLIB_WORDS = Path(__file__).parent / "data" / "naplib_words.tsv"
_RATE = 16000
#: pronunciations (CMU phone set) of the transcripts' words missing from PocketSphinx's dictionary
_EXTRA_WORDS = {"yapped": "Y AE P T", "yapping": "Y AE P IH NG", "squalled": "S K W AO L D",
                "jingling": "JH IH NG G L IH NG", "squinted": "S K W IH N T IH D", "quills": "K W IH L Z"}


def _trials():
    try:
        import naplib
    except ImportError as err:
        raise ImportError("the real-speech chapter reads its audio from the 'naplib' package (MIT; part of the "
                          "book extra): pip install naplib") from err
    return naplib.io.load_speech_task_data()


def _audio(trial) -> np.ndarray:
    import soxr

    sound = np.asarray(trial["sound"], dtype=np.float32).ravel()
    return soxr.resample(sound, float(trial["soundf"]), _RATE, quality="HQ").astype(np.float32)


def align_naplib(path: str | Path = NAPLIB_WORDS) -> pd.DataFrame:
    """Force-align every naplib excerpt's transcript with PocketSphinx and write the word table.

    Needs the ``pocketsphinx`` package (its bundled US-English acoustic model and dictionary); run
    once by the maintainers, the book reads the written table.

    Returns
    -------
    DataFrame
        ``trial`` (int), ``word_index``, ``word`` (lower case), ``onset_s``, ``offset_s`` (s from the
        start of the excerpt; 10 ms resolution).
    """
    from pocketsphinx import Decoder

    rows = []
    for number, trial in enumerate(_trials()):
        audio = _audio(trial)
        pcm = (np.clip(audio / np.abs(audio).max() * 0.9, -1, 1) * 32767).astype(np.int16).tobytes()
        script = str(trial["script"]).lower().split()
        decoder = Decoder(samprate=_RATE, bestpath=False)
        for word, phones in _EXTRA_WORDS.items():
            decoder.add_word(word, phones, True)
        decoder.set_align_text(" ".join(script))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segments = decoder.seg()
        words = [(re.sub(r"\(\d+\)$", "", s.word), s.start_frame / 100, (s.end_frame + 1) / 100)
                 for s in (segments or []) if not s.word.startswith(("<", "["))]
        if [w for w, _, _ in words] != script:
            logger.warning("naplib trial %d: no alignment of the whole transcript; the trial is left out", number)
            continue
        rows += [dict(trial=number, word_index=i, word=w, onset_s=on, offset_s=off)
                 for i, (w, on, off) in enumerate(words)]
    table = pd.DataFrame(rows)
    table.to_csv(path, sep="\t", index=False, float_format="%.2f")
    logger.info("aligned %d words of %d naplib excerpts into %s", len(table), table["trial"].nunique(), path)
    return table


def naplib_stimuli(root: str | Path, *, n_trials: int = 3, pause_s: float = 0.15, min_words: int = 5,
                   max_words: int = 16) -> pd.DataFrame:
    """Stimulus table of the first ``n_trials`` naplib excerpts, cut into phrases at pauses.

    A phrase ends at a gap of at least ``pause_s`` between words (or after ``max_words``); phrases
    shorter than ``min_words`` are dropped. The excerpts are written once as 16 kHz WAV files under
    ``root/audio`` (the table's ``audio_path`` is relative to ``root``).

    Returns
    -------
    DataFrame
        The stimulus-table columns (``sentence_id`` ``"t<trial>-<phrase>"``).
    """
    import soundfile as sf

    root = Path(root)
    words = pd.read_csv(NAPLIB_WORDS, sep="\t")
    trials = sorted(words["trial"].unique())[:n_trials]
    missing = [t for t in trials if not (root / "audio" / f"trial{t:02d}.wav").is_file()]
    if missing:
        (root / "audio").mkdir(parents=True, exist_ok=True)
        data = _trials()
        for t in missing:
            scratch = root / "audio" / f".trial{t:02d}.tmp.wav"
            sf.write(scratch, _audio(data[int(t)]), _RATE)
            scratch.replace(root / "audio" / f"trial{t:02d}.wav")
    rows = []
    for t in trials:
        trial = words[words["trial"] == t].reset_index(drop=True)
        gap = trial["onset_s"].to_numpy()[1:] - trial["offset_s"].to_numpy()[:-1]
        phrase, count, ids = 0, 0, []
        for i in range(len(trial)):
            if i > 0 and (gap[i - 1] >= pause_s or count >= max_words):
                phrase, count = phrase + 1, 0
            ids.append(phrase)
            count += 1
        trial["phrase"] = ids
        for p, group in trial.groupby("phrase"):
            if len(group) < min_words:
                continue
            text = " ".join(group["word"])
            rows += [dict(sentence_id=f"t{t:02d}-{p:03d}", word_index=i, word=w, onset_s=on, offset_s=off,
                          audio_path=f"audio/trial{t:02d}.wav", sentence_text=text)
                     for i, (w, on, off) in enumerate(group[["word", "onset_s", "offset_s"]].itertuples(index=False))]
    return pd.DataFrame(rows)


def frame_coverage(table: pd.DataFrame, *, frame_s: float = 0.02) -> pd.Series:
    """How many encoder frames (centres every ``frame_s`` s, Whisper: 20 ms) fall inside each word.

    Returns
    -------
    Series
        Frame count per word (0: the word is pooled from the single nearest frame instead).
    """
    first = np.ceil((table["onset_s"].to_numpy() - frame_s / 2) / frame_s)
    last = np.ceil((table["offset_s"].to_numpy() - frame_s / 2) / frame_s)
    return pd.Series((last - first).astype(int), index=table.index, name="n_frames")


def _unit(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def word_retrieval(stacked: xr.DataArray, *, min_count: int = 2) -> pd.DataFrame:
    """Leave-one-sentence-out word-identity retrieval per layer.

    For each word token whose word occurs in at least ``min_count`` sentences, the nearest token
    (cosine, features centred) among the tokens of *other* sentences is found; accuracy is the share
    of nearest tokens that are the same word. Chance is the expected accuracy of a random pick among
    the other sentences' tokens.

    Parameters
    ----------
    stacked : DataArray (layer, word, feature)
        From :func:`hearlike.models.stack_layers` (coords ``word_text``, ``sentence_id``).

    Returns
    -------
    DataFrame
        One row per layer: ``layer``, ``relative_depth``, ``accuracy``, ``chance``, ``n_tokens``.
    """
    from .models import layer_matrices

    text = np.array([str(w).lower() for w in stacked["word_text"].values])
    sentence = np.asarray(stacked["sentence_id"].values).astype(str)
    per_word = pd.Series(sentence).groupby(text).nunique()
    query = np.nonzero(np.isin(text, per_word[per_word >= min_count].index))[0]
    other = sentence[query][:, None] != sentence[None, :]
    same = text[query][:, None] == text[None, :]
    chance = float(np.mean((same & other).sum(axis=1) / other.sum(axis=1)))
    rows = []
    for label, matrix in layer_matrices(stacked):
        x = _unit(np.asarray(matrix.values, dtype=np.float64))
        similarity = np.where(other, x[query] @ x.T, -np.inf)
        hit = same[np.arange(len(query)), similarity.argmax(axis=1)]
        rows.append(dict(layer=label, relative_depth=float(stacked["relative_depth"].sel(layer=label)),
                         accuracy=float(hit.mean()), chance=chance, n_tokens=len(query)))
    return pd.DataFrame(rows)


def _rdm(x: np.ndarray) -> np.ndarray:
    """Condensed correlation-distance RDM of the rows of ``x``."""
    c = np.corrcoef(x)
    return 1.0 - c[np.triu_indices(len(x), 1)]


def _ranks(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v)


def _residual(y: np.ndarray, controls: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(y)), controls])
    return y - design @ np.linalg.lstsq(design, y, rcond=None)[0]


def text_rsa(stacked: xr.DataArray, table: pd.DataFrame, text_vectors: np.ndarray, *,
             min_words: int = 5) -> pd.DataFrame:
    """Per-sentence Spearman RSA between each layer and text embeddings, with and without a timing control.

    The timing control partials out (on ranks) two word-pair RDMs that timing alone produces: the gap
    between onsets and the difference of durations.

    Parameters
    ----------
    stacked : DataArray (layer, word, feature)
        Model states in table order.
    table : DataFrame
        The stimulus table (``onset_s``, ``offset_s``, ``sentence_id``), one row per word of ``stacked``.
    text_vectors : ndarray, shape (n_words, n_dims)
        A text embedding per word (e.g. :func:`hearlike.text.embed_texts` of the words).

    Returns
    -------
    DataFrame
        One row per layer: ``layer``, ``relative_depth``, ``rsa``, ``rsa_timing_controlled`` (sentence means),
        ``n_sentences``.
    """
    from .models import layer_matrices

    groups = [np.asarray(idx) for _, idx in table.groupby("sentence_id", sort=False).indices.items()
              if len(idx) >= min_words]
    onsets, durations = table["onset_s"].to_numpy(), (table["offset_s"] - table["onset_s"]).to_numpy()
    prepared = []
    for idx in groups:
        pairs = np.triu_indices(len(idx), 1)
        timing = np.column_stack([_ranks(np.abs(onsets[idx][:, None] - onsets[idx][None, :])[pairs]),
                                  _ranks(np.abs(durations[idx][:, None] - durations[idx][None, :])[pairs])])
        reference = _ranks(_rdm(text_vectors[idx]))
        prepared.append((idx, timing, reference, _residual(reference, timing)))
    rows = []
    for label, matrix in layer_matrices(stacked):
        x = np.asarray(matrix.values, dtype=np.float64)
        plain, controlled = [], []
        for idx, timing, reference, reference_residual in prepared:
            model = _ranks(_rdm(x[idx]))
            plain.append(np.corrcoef(model, reference)[0, 1])
            controlled.append(np.corrcoef(_residual(model, timing), reference_residual)[0, 1])
        rows.append(dict(layer=label, relative_depth=float(stacked["relative_depth"].sel(layer=label)),
                         rsa=float(np.nanmean(plain)), rsa_timing_controlled=float(np.nanmean(controlled)),
                         n_sentences=len(prepared)))
    return pd.DataFrame(rows)
