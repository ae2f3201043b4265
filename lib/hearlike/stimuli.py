"""The stimulus table: one row per spoken word, and its validation.

Contract (see ``ARCHITECTURE.md``): a :class:`pandas.DataFrame` sorted by ``sentence_id``,
``word_index`` with columns

=================  ======  ==============================================================
``sentence_id``    str     sentence identifier (one audio file per sentence)
``word_index``     int     0-based position of the word in its sentence
``word``           str     the word as written
``onset_s``        float   word onset, seconds from the start of the sentence's audio file
``offset_s``       float   word offset (> onset), seconds
``audio_path``     str     audio file, relative to the folder holding the table
``sentence_text``  str     the whole sentence
=================  ======  ==============================================================

optionally ``condition`` (planted valence) and ``prosody`` (``"negative"``/``"normal"``), both
demo-only. On disk the table is a tab-separated ``stimuli.tsv``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "load_stimuli", "validate_stimuli",
           "write_stimuli"]  # fmt: skip

REQUIRED_COLUMNS = (
    "sentence_id", "word_index", "word", "onset_s", "offset_s", "audio_path", "sentence_text",
)  # fmt: skip
OPTIONAL_COLUMNS = ("condition", "prosody")
_PROSODY_VALUES = ("negative", "normal")


def _line(row):
    """File line of a 0-based data row (the header is line 1)."""
    return int(row) + 2


def validate_stimuli(table, *, source="stimulus table", root=None):
    """Check a stimulus table against the contract and return it sorted and typed.

    Parameters
    ----------
    table : DataFrame
        One row per word, in file order (row ``i`` is line ``i + 2`` of a TSV with a header).
    source : str
        Name used in error messages (normally the file path).
    root : path-like or None
        Folder that ``audio_path`` is relative to; when given, every audio file must exist.

    Returns
    -------
    DataFrame
        The table sorted by (``sentence_id``, ``word_index``) with a fresh index, required
        columns first and typed (str / int64 / float64).

    Raises
    ------
    ValueError
        Naming ``source`` and the offending line for: missing columns, empty cells, duplicated
        (sentence_id, word_index), word indices that are not 0..n-1, onsets that do not increase
        with word_index, offset <= onset, negative onsets, an unknown prosody value.
    FileNotFoundError
        If ``root`` is given and an audio file is missing.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {missing}; a stimulus table needs the columns "
            f"{list(REQUIRED_COLUMNS)} (see ARCHITECTURE.md, 'Stimulus table')"
        )
    table = table.reset_index(drop=True)
    _check_cells(table, source)
    out = _typed(table, source)
    _check_words(out, source)
    order = np.lexsort((out.word_index.to_numpy(), out.sentence_id.to_numpy()))
    _check_sentences(out, order, source)
    if "prosody" in out.columns:
        bad = ~out.prosody.isin(_PROSODY_VALUES)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{source}: line {_line(row)} has prosody={out.prosody[row]!r}; "
                f"expected one of {list(_PROSODY_VALUES)}"
            )
    if root is not None:
        _check_audio(out, Path(root), source)
    columns = list(REQUIRED_COLUMNS) + [c for c in out.columns if c not in REQUIRED_COLUMNS]
    return out.iloc[order][columns].reset_index(drop=True)


def _check_cells(table, source):
    """No required cell is missing or blank (``ValueError`` naming the first such line)."""
    for column in REQUIRED_COLUMNS:
        empty = table[column].isna() | (table[column].astype(str).str.strip() == "")
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise ValueError(f"{source}: line {_line(row)} has an empty '{column}'")


def _typed(table, source):
    """A copy with the text columns as str, ``word_index`` int64 and the times float64.

    Raises ``ValueError`` naming the first line whose value is not a number (or, for
    ``word_index``, not an integer).
    """
    out = table.copy()
    for column in ("sentence_id", "word", "audio_path", "sentence_text"):
        out[column] = out[column].astype(str)
    for column, kind in (("word_index", "int64"), ("onset_s", "float64"), ("offset_s", "float64")):
        converted = pd.to_numeric(out[column], errors="coerce")
        bad = converted.isna()
        if kind == "int64":
            bad |= converted.notna() & (converted != np.round(converted))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{source}: line {_line(row)} has {column}={table[column].iloc[row]!r}; "
                f"expected {'an integer' if kind == 'int64' else 'a number of seconds'}"
            )
        out[column] = converted.astype(kind)
    return out


def _check_words(out, source):
    """Each word once per sentence, ending after it starts, with a non-negative onset."""
    duplicated = out.duplicated(["sentence_id", "word_index"], keep="first")
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        first = int(np.flatnonzero(
            ((out.sentence_id == out.sentence_id[row]) & (out.word_index == out.word_index[row]))
            .to_numpy())[0])  # fmt: skip
        raise ValueError(
            f"{source}: line {_line(row)} duplicates (sentence_id, word_index) = "
            f"({out.sentence_id[row]!r}, {out.word_index[row]}) of line {_line(first)}; "
            "each word of a sentence needs its own word_index"
        )
    bad = out.offset_s <= out.onset_s
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{source}: line {_line(row)} (sentence {out.sentence_id[row]!r}, word "
            f"{out.word[row]!r}) has offset_s={out.offset_s[row]} <= onset_s={out.onset_s[row]}; "
            "a word must end after it starts"
        )
    bad = out.onset_s < 0
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{source}: line {_line(row)} has a negative onset_s={out.onset_s[row]}")


def _check_sentences(out, order, source):
    """Within each sentence (rows ``order``, sorted by sentence then word_index), word indices
    0..n-1 and onsets that increase with word_index."""
    for sentence_id, rows in pd.Series(order).groupby(out.sentence_id.to_numpy()[order], sort=False):
        rows = rows.to_numpy()
        indices = out.word_index.to_numpy()[rows]
        if not np.array_equal(indices, np.arange(rows.size)):
            raise ValueError(
                f"{source}: sentence {sentence_id!r} has word_index values {indices.tolist()}; "
                f"expected 0..{rows.size - 1} without gaps"
            )
        onsets = out.onset_s.to_numpy()[rows]
        step = np.flatnonzero(np.diff(onsets) <= 0)
        if step.size:
            row = int(rows[step[0] + 1])
            raise ValueError(
                f"{source}: line {_line(row)} (sentence {sentence_id!r}, word_index "
                f"{out.word_index[row]}) has onset_s={out.onset_s[row]}, not after the previous "
                f"word's onset {onsets[step[0]]}; onsets must increase with word_index"
            )


def _check_audio(out, root, source):
    """Every ``audio_path`` names a file under ``root`` (``FileNotFoundError`` otherwise)."""
    for audio_path, rows in out.groupby("audio_path", sort=False).groups.items():
        if not (root / audio_path).is_file():
            row = int(min(rows))
            raise FileNotFoundError(
                f"{source}: line {_line(row)} names audio file {audio_path!r}, which does not "
                f"exist under {root} (audio_path is relative to the table's folder)"
            )


def load_stimuli(path, *, check_audio=True):
    """Read and validate a ``stimuli.tsv``.

    Parameters
    ----------
    path : path-like
        Tab-separated file with the columns of the contract (module docstring).
    check_audio : bool
        Require every ``audio_path`` (relative to the file's folder) to exist.

    Returns
    -------
    DataFrame
        The validated table, sorted by (``sentence_id``, ``word_index``).

    Raises
    ------
    FileNotFoundError, ValueError
        With the file name and line; see :func:`validate_stimuli`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stimulus table {path} does not exist")
    try:
        table = pd.read_csv(
            path, sep="\t", dtype={"sentence_id": str, "word": str}, keep_default_na=False,
            na_values=[""],
        )  # fmt: skip
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable tab-separated table ({err})") from err
    return validate_stimuli(table, source=str(path), root=path.parent if check_audio else None)


def write_stimuli(table, path):
    """Validate and write a stimulus table atomically (temporary file, then rename).

    Parameters
    ----------
    table : DataFrame
        Stimulus table (module docstring).
    path : path-like
        Destination ``.tsv``; its folder is what ``audio_path`` is relative to.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    table = validate_stimuli(table, source=str(path))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        table.to_csv(f, sep="\t", index=False, float_format="%.6f", lineterminator="\n")
    return path
