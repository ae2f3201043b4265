"""Building blocks of the stimulus tables the dataset modules derive from their word files.

A stimulus table (ARCHITECTURE.md, *Stimulus table*) has one row per word; a published dataset
gives its words in spoken order with onsets in long audio files, and each dataset module says how
they are grouped into sentences (Broderick: at pauses; Alice: by the csv's sentence column).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...stimuli import REQUIRED_COLUMNS

logger = logging.getLogger(__name__)


def sentence_rows(words: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Stimulus-table rows from spoken-order words and their sentence ids (contiguous runs of ids).

    Parameters
    ----------
    words : DataFrame, one row per word in spoken order
        ``word``, ``onset_s``, ``offset_s`` (s in the audio file), ``audio_path``.
    ids : ndarray of str, shape (n_words,)
        Sentence id of every word.

    Returns
    -------
    DataFrame
        The required stimulus-table columns; ``word_index`` counts within a sentence and
        ``sentence_text`` joins its words with spaces.
    """
    table = pd.DataFrame({"sentence_id": ids, "word": words["word"].to_numpy(str),
                          "onset_s": words["onset_s"].to_numpy(float), "offset_s": words["offset_s"].to_numpy(float),
                          "audio_path": words["audio_path"].to_numpy(str)})  # fmt: skip
    table["word_index"] = table.groupby("sentence_id", sort=False).cumcount()
    table["sentence_text"] = table.groupby("sentence_id", sort=False)["word"].transform(" ".join)
    return table[list(REQUIRED_COLUMNS)]


def drop_empty_words(words: pd.DataFrame, source: str) -> pd.DataFrame:
    """``words`` without rows whose word is empty, with a WARNING naming ``source`` and the rows."""
    empty = words["word"].astype(str).str.strip() == ""
    if empty.any():
        logger.warning("%s: %d empty word(s) at rows %s are left out of the stimulus table (load_epochs then "
                       "needs strict=False)", source, int(empty.sum()), np.flatnonzero(empty.to_numpy())[:10].tolist())
    return words[~empty].reset_index(drop=True)
