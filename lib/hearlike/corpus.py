"""Stimulus tables of the published naturalistic-listening EEG datasets, built from their own files.

:func:`stimulus_table` turns a dataset's word-timing files into the project's stimulus table
(ARCHITECTURE.md, *Stimulus table*); :func:`write_stimulus_table` stores it as ``stimuli.tsv`` so
that the pipeline can use it (``params["data_root"]`` = the dataset folder,
``params["stimuli_file"]`` = ``"stimuli.tsv"``). The words, audio file names and onsets are those
the EEG readers use, so the table aligns one to one with
``hearlike.eeg.load_epochs(dataset, stimuli=table, root=root)``.

Sentences are segments of long audio files (a Broderick run lasts about 3 minutes, an Alice
segment about 1 minute); ``onset_s``/``offset_s`` stay relative to the start of that file and
:func:`hearlike.models.extract_states` crops each sentence out of it (``segment_pad_s``).

- ``broderick2018`` (``Stimuli/Text/Run{R}.mat``): the word vectors carry no punctuation, so each
  run is cut into sentence-like units at pauses (see :func:`segment_at_pauses`); ids
  ``run03-s012`` (run 3, unit 12, 0-based), audio ``Stimuli/Audio/audio{R}.wav``.
- ``alice2019`` (``AliceChapterOne-EEG.csv``): the csv's ``Sentence`` column gives the sentences;
  ids ``seg02-s0014`` (segment 2, sentence 14). A sentence read across two audio segments becomes
  one sentence per segment (each sentence has one audio file). The audio
  ``DownTheRabbitHoleFinal_SoundFile{k}.wav`` is looked for in the dataset folder and in its
  ``audio/`` sub-folder.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .eeg.catalog import data_root, dataset_spec
from .eeg.readers import read_alice_words, read_broderick_words
from .stimuli import REQUIRED_COLUMNS, validate_stimuli, write_stimuli

__all__ = ["segment_at_pauses", "stimulus_table", "write_stimulus_table"]

logger = logging.getLogger(__name__)

#: Defaults of the Broderick segmentation (see :func:`segment_at_pauses`).
DEFAULT_PAUSE_S = 0.3
DEFAULT_MIN_WORDS = 6
DEFAULT_MAX_WORDS = 20

_RUN_FILE = re.compile(r"^Run(\d+)\.mat$")


# ----------------------------------------------------------------------------------------------
# segmentation of unpunctuated word streams
# ----------------------------------------------------------------------------------------------
def segment_at_pauses(onsets_s, offsets_s, *, pause_s: float = DEFAULT_PAUSE_S, min_words: int = DEFAULT_MIN_WORDS,
                      max_words: int = DEFAULT_MAX_WORDS) -> np.ndarray:
    """Cut a stream of timed words into sentence-like units at pauses (deterministic).

    Walking from the first word, a unit ends after the first word (at least ``min_words`` into the
    unit) that is followed by a pause ``next onset - offset >= pause_s``, provided at least
    ``min_words`` words remain after it. If no such pause comes within ``max_words`` words and more
    than ``max_words`` words remain, the unit ends at the longest pause among its admissible ends
    (words ``min_words`` .. ``max_words`` of the unit; the first one on ties). Hence every unit has
    ``min_words`` to ``max_words`` words, except a whole stream shorter than ``min_words``, which is
    one unit.

    Parameters
    ----------
    onsets_s, offsets_s : array-like, shape (n_words,)
        Word times in seconds, in spoken order.
    pause_s : float
        Smallest silence (s) between a word's offset and the next onset that ends a unit.
    min_words, max_words : int
        Unit length bounds; ``max_words >= 2 * min_words - 1`` so that the bounds can always be met.

    Returns
    -------
    ndarray of int, shape (n_words,)
        0-based unit number of every word, non-decreasing.
    """
    onsets = np.asarray(onsets_s, dtype=float).reshape(-1)
    offsets = np.asarray(offsets_s, dtype=float).reshape(-1)
    if onsets.shape != offsets.shape:
        raise ValueError(f"onsets ({onsets.size}) and offsets ({offsets.size}) must have one entry per word")
    if min_words < 1 or max_words < 2 * min_words - 1:
        raise ValueError(
            f"need min_words >= 1 and max_words >= 2 * min_words - 1 (got min_words={min_words}, "
            f"max_words={max_words}); raise max_words or lower min_words"
        )
    if not pause_s > 0:
        raise ValueError(f"pause_s must be > 0 seconds, got {pause_s}")
    n = onsets.size
    gaps = np.append(onsets[1:] - offsets[:-1], np.inf)  # gaps[i]: silence after word i
    units = np.zeros(n, dtype=int)
    start, unit = 0, 0
    while start < n:
        first, last = start + min_words - 1, min(start + max_words - 1, n - 1 - min_words)
        ends = np.arange(first, last + 1)  # admissible last words (>= min_words remain after them)
        paused = ends[gaps[ends] >= pause_s]
        if paused.size:
            end = int(paused[0])
        elif n - start <= max_words or not ends.size:
            end = n - 1
        else:
            end = int(ends[np.argmax(gaps[ends])])
        units[start:end + 1] = unit
        start, unit = end + 1, unit + 1
    return units


# ----------------------------------------------------------------------------------------------
# per-dataset tables
# ----------------------------------------------------------------------------------------------
def _sentences(words: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Stimulus-table rows from spoken-order words and their sentence ids (contiguous runs of ids)."""
    table = pd.DataFrame({"sentence_id": ids, "word": words["word"].to_numpy(str),
                          "onset_s": words["onset_s"].to_numpy(float), "offset_s": words["offset_s"].to_numpy(float),
                          "audio_path": words["audio_path"].to_numpy(str)})
    table["word_index"] = table.groupby("sentence_id", sort=False).cumcount()
    table["sentence_text"] = table.groupby("sentence_id", sort=False)["word"].transform(" ".join)
    return table[list(REQUIRED_COLUMNS)]


def _drop_empty_words(words: pd.DataFrame, source: str) -> pd.DataFrame:
    empty = words["word"].astype(str).str.strip() == ""
    if empty.any():
        logger.warning("%s: %d empty word(s) at rows %s are left out of the stimulus table (load_epochs then "
                       "needs strict=False)", source, int(empty.sum()), np.flatnonzero(empty.to_numpy())[:10].tolist())
    return words[~empty].reset_index(drop=True)


def _broderick_table(root: Path, *, pause_s: float, min_words: int, max_words: int) -> pd.DataFrame:
    spec = dataset_spec("broderick2018")
    text = root / Path(spec["layout"]["words"]).parent
    files = text.glob("Run*.mat") if text.is_dir() else []
    runs = sorted(int(m.group(1)) for p in files if (m := _RUN_FILE.match(p.name)))
    if not runs:
        raise FileNotFoundError(
            f"no Run{{R}}.mat word files in {text}; the Broderick release holds Stimuli/Text/Run1.mat ... "
            f"(see data/datasets.yml)"
        )
    run_width = max(2, len(str(runs[-1])))
    tables = []
    for run in runs:
        words = _drop_empty_words(read_broderick_words(root, run), str(text / f"Run{run}.mat"))
        if words.empty:
            continue
        words["audio_path"] = spec["layout"]["audio"].format(run=run)
        units = segment_at_pauses(words["onset_s"], words["offset_s"], pause_s=pause_s, min_words=min_words,
                                  max_words=max_words)
        width = max(3, len(str(units[-1])))
        ids = np.array([f"run{run:0{run_width}d}-s{u:0{width}d}" for u in units])
        tables.append(_sentences(words, ids))
        logger.info("Broderick run %d: %d words in %d units", run, len(words), units[-1] + 1)
    return pd.concat(tables, ignore_index=True)


def _alice_audio(root: Path, name: str) -> str:
    for relative in (Path(name), Path("audio") / name):
        if (root / relative).is_file():
            return relative.as_posix()
    return name


def _alice_table(root: Path, *, sentence_column: str) -> pd.DataFrame:
    spec = dataset_spec("alice2019")
    source = root / spec["layout"]["words"]
    words = read_alice_words(root)
    if sentence_column not in words.columns:
        raise ValueError(
            f"{source} lacks the sentence column {sentence_column!r} (has {list(words.columns)}); pass "
            f"sentence_column= naming the column that numbers the sentences"
        )
    sentence = pd.to_numeric(words[sentence_column], errors="coerce")
    if sentence.isna().any() or (sentence != np.round(sentence)).any():
        row = int(np.flatnonzero((sentence.isna() | (sentence != np.round(sentence))).to_numpy())[0])
        raise ValueError(f"{source}: row {row + 2} has {sentence_column}={words[sentence_column].iat[row]!r}; "
                         f"expected an integer sentence number")
    words["sentence"] = sentence.astype(int)
    words = _drop_empty_words(words, str(source))
    # spoken order: segments in order, onsets within a segment (read_alice_words checked them)
    words = words.sort_values(["segment", "onset_s"], kind="stable").reset_index(drop=True)
    audio = {s: _alice_audio(root, spec["layout"]["audio"].format(segment=s)) for s in words["segment"].unique()}
    words["audio_path"] = words["segment"].map(audio)
    seg_width = max(2, len(str(words["segment"].max())))
    width = max(3, len(str(words["sentence"].max())))
    ids = np.array([f"seg{g:0{seg_width}d}-s{s:0{width}d}" for g, s in zip(words["segment"], words["sentence"])])
    stretches = pd.Series(ids).ne(pd.Series(ids).shift()).cumsum()  # runs of equal consecutive ids
    pieces = stretches.groupby(ids).nunique()
    if (pieces > 1).any():
        raise ValueError(
            f"{source}: the words of sentence(s) {pieces.index[pieces > 1].tolist()[:5]} are not consecutive in "
            f"time; the {sentence_column!r} column does not number contiguous sentences"
        )
    return _sentences(words, ids)


def stimulus_table(dataset: str, *, root: str | Path | None = None, pause_s: float = DEFAULT_PAUSE_S,
                   min_words: int = DEFAULT_MIN_WORDS, max_words: int = DEFAULT_MAX_WORDS,
                   sentence_column: str = "Sentence", check_audio: bool = True) -> pd.DataFrame:
    """The stimulus table of a published dataset, from its own word-timing files.

    Parameters
    ----------
    dataset : {"broderick2018", "alice2019"}
        Catalogue name.
    root : str or Path, optional
        Dataset folder (default ``$HEARLIKE_DATA/<dataset>``); ``audio_path`` is relative to it.
    pause_s, min_words, max_words
        Broderick only: segmentation of each run into sentence-like units, see
        :func:`segment_at_pauses` (defaults 0.3 s, 6 and 20 words).
    sentence_column : str
        Alice only: the csv column numbering the sentences.
    check_audio : bool
        Require every referenced audio file to exist under ``root``.

    Returns
    -------
    DataFrame, one row per word
        ``sentence_id``, ``word_index``, ``word``, ``onset_s``, ``offset_s`` (s from the start of
        the long audio file), ``audio_path``, ``sentence_text`` (the unit's words joined by
        spaces), sorted by ``sentence_id``, ``word_index`` (which is spoken order).

    Raises
    ------
    ValueError
        For a dataset without published word files (``bids``, ``demo``: they carry their own
        ``stimuli.tsv``), or malformed word files.
    FileNotFoundError
        If the word files, or with ``check_audio`` an audio file, are missing.
    """
    spec = dataset_spec(dataset)
    root = data_root(dataset, root)
    reader = spec.get("reader")
    if reader == "broderick":
        table = _broderick_table(root, pause_s=pause_s, min_words=min_words, max_words=max_words)
    elif reader == "alice":
        table = _alice_table(root, sentence_column=sentence_column)
    else:
        raise ValueError(
            f"dataset {dataset!r} (reader {reader!r}) has no published word table to build a stimulus table "
            f"from; stimulus tables are built for 'broderick2018' and 'alice2019' (BIDS and demo datasets "
            f"carry their own stimuli.tsv)"
        )
    table = validate_stimuli(table, source=f"{dataset} stimulus table from {root}",
                             root=root if check_audio else None)
    logger.info("%s: stimulus table of %d words in %d sentences", dataset, len(table), table["sentence_id"].nunique())
    return table


def write_stimulus_table(dataset: str, *, root: str | Path | None = None, out: str | Path | None = None,
                         **options) -> Path:
    """Build :func:`stimulus_table` and write it atomically as ``stimuli.tsv``.

    Parameters
    ----------
    dataset : str
        ``"broderick2018"`` or ``"alice2019"``.
    root : str or Path, optional
        Dataset folder (default ``$HEARLIKE_DATA/<dataset>``).
    out : str or Path, optional
        Destination file, or a folder to hold ``stimuli.tsv``; default ``<root>/stimuli.tsv``. The
        ``audio_path`` entries are rewritten relative to its folder.
    **options
        Passed to :func:`stimulus_table`.

    Returns
    -------
    Path
        The written table. With the default ``out``, the pipeline finds it with
        ``params["data_root"] = root`` and ``params["stimuli_file"] = "stimuli.tsv"``.
    """
    root = data_root(dataset, root)
    table = stimulus_table(dataset, root=root, **options)
    out = Path(out) if out is not None else root / "stimuli.tsv"
    if out.is_dir() or out.suffix.lower() != ".tsv":
        out = out / "stimuli.tsv"
    folder = out.parent.absolute()
    if folder != root.absolute():
        table["audio_path"] = [Path(os.path.relpath(root.absolute() / p, folder)).as_posix()
                               for p in table["audio_path"]]
    path = write_stimuli(table, out)
    logger.info("%s: wrote %s", dataset, path)
    return path
