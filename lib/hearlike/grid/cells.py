"""The grid's inputs: checks, word alignment, length buckets, EEG cells and prepared representations.

Words are matched between the EEG epochs and every model by their ``word`` label
(``{sentence_id}:{word_index}``, or ``sentence_id``/``word_index`` coords; see ARCHITECTURE.md).
Sentences are bucketed by length; a cell is one (subject, window, region); representations are
a metric's ``prepare`` of the words of every sentence of a bucket.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from ..geometry import cell_geometry, cell_rejected, gathered_geometry
from ..metrics import WordGeometry, get_metric, nuclear, word_geometry

logger = logging.getLogger(__name__)


def word_table(obj: xr.DataArray, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(word labels, sentence ids, word indices)`` of a word-indexed array."""
    words = np.asarray(obj["word"].values).astype(str)
    if "sentence_id" in obj.coords and "word_index" in obj.coords:
        sid = np.asarray(obj["sentence_id"].values).astype(str)
        widx = np.asarray(obj["word_index"].values).astype(np.int64)
    else:
        try:
            parts = [w.rsplit(":", 1) for w in words]
            sid = np.array([p[0] for p in parts])
            widx = np.array([int(p[1]) for p in parts], dtype=np.int64)
        except (IndexError, ValueError):
            raise ValueError(
                f"{what}: word labels must be '{{sentence_id}}:{{word_index}}' or the 'word' dim must "
                "carry 'sentence_id' and 'word_index' coords (see ARCHITECTURE.md)"
            ) from None
    if len(set(words.tolist())) != len(words):
        dup = next(w for w in words if (words == w).sum() > 1)
        raise ValueError(f"{what}: word {dup!r} appears more than once; word labels must be unique")
    return words, sid, widx



def check_inputs(model_states, epochs, windows, regions, metric_names, min_words, n_permutations):
    """Raise ``ValueError`` naming the argument and the fix for any malformed input of the grid."""
    if not isinstance(model_states, Mapping) or not model_states:
        raise ValueError("model_states must be a non-empty dict {model_name: DataArray (layer, word, feature)}")
    for name, da in model_states.items():
        if not isinstance(da, xr.DataArray) or da.ndim != 3 or da.dims[:2] != ("layer", "word"):
            dims = getattr(da, "dims", type(da).__name__)
            raise ValueError(
                f"model_states[{name!r}] must be a DataArray with dims (layer, word, feature), got "
                f"{dims}; use hearlike.models.stack_layers(ds) and .transpose('layer', 'word', ...)"
            )
    if not isinstance(epochs, xr.DataArray) or set(epochs.dims) != {"subject", "word", "channel", "time"}:
        raise ValueError(
            "epochs must be a DataArray with dims (subject, word, channel, time), got "
            f"{getattr(epochs, 'dims', type(epochs).__name__)}"
        )
    _check_windows(epochs, windows)
    if not regions:
        raise ValueError("regions is empty; pass {region_name: [channel names]}")
    channels = set(np.asarray(epochs["channel"].values).astype(str).tolist())
    for region, chans in regions.items():
        missing = [c for c in chans if c not in channels]
        if not chans or missing:
            raise ValueError(
                f"region {region!r}: channels {missing or chans} are not in epochs.channel; "
                "build regions from the same montage as the epochs"
            )
    for name in metric_names:
        metric = get_metric(name)
        if metric.min_words > min_words:
            raise ValueError(
                f"metric {name!r} needs sentences of >= {metric.min_words} words but min_words="
                f"{min_words}; pass min_words={metric.min_words}"
            )
    try:
        whole = not isinstance(n_permutations, bool) and float(n_permutations).is_integer() and n_permutations >= 0
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise ValueError(
            f"n_permutations must be a whole number >= 0 (0 = scores only, no null), got {n_permutations!r}; "
            "the study uses e.g. n_permutations=1000"
        )


def _check_windows(epochs, windows):
    if not windows:
        raise ValueError("windows is empty; pass e.g. [('n400', 300, 500)] (name, start_ms, stop_ms)")
    times_ms = np.asarray(epochs["time"].values, dtype=np.float64) * 1000.0
    names = [w[0] for w in windows]
    if len(set(names)) != len(names):
        raise ValueError(f"window names must be unique, got {names}")
    for win in windows:
        if len(win) != 3 or not win[1] < win[2]:
            raise ValueError(f"window {win!r} must be (name, start_ms, stop_ms) with start_ms < stop_ms")
        if not ((times_ms >= win[1] - 1e-6) & (times_ms < win[2] - 1e-6)).any():
            raise ValueError(
                f"window {win[0]!r} ({win[1]}–{win[2]} ms) holds no sample of epochs.time "
                f"({times_ms.min():.0f}–{times_ms.max():.0f} ms); change the window or the epochs"
            )


def eeg_cells(epochs: xr.DataArray, windows, regions) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(channel indices, time indices)`` of every (window, region), window-major.

    A window holds the samples with ``start_ms <= t < stop_ms`` (1 ns tolerance).
    """
    channel_names = np.asarray(epochs["channel"].values).astype(str).tolist()
    times_ms = np.asarray(epochs["time"].values, dtype=np.float64) * 1000.0
    cells = []
    for _, start, stop in windows:
        tt = np.nonzero((times_ms >= start - 1e-6) & (times_ms < stop - 1e-6))[0]
        for chans in regions.values():
            cells.append((np.array([channel_names.index(c) for c in chans]), tt))
    return cells


def region_cells(n_subjects: int, n_windows: int, regions: Sequence[str], chosen: Sequence[str]) -> np.ndarray:
    """Indices of the (subject, window, region) cells (subject-major) whose region is in ``chosen``."""
    keep = np.array([r in set(chosen) for r in regions])
    flags = np.broadcast_to(keep, (n_subjects, n_windows, len(regions))).reshape(-1)
    return np.nonzero(flags)[0]


@dataclass
class Bucket:
    """The sentences of one length.

    Attributes
    ----------
    n : int
        Words per sentence.
    index : ndarray of int, shape (n_sentences,)
        Positions of the sentences in the grid's sentence list.
    sentence_ids : list of str
    epoch_pos : ndarray of int, shape (n_sentences, n)
        Positions of their words in the epochs' ``word`` axis.
    valid : Tensor of bool, shape (n_cells, n_sentences)
        False where a (subject, sentence) has a rejected (NaN) epoch in the cell.
    """

    n: int
    index: np.ndarray
    sentence_ids: list
    epoch_pos: np.ndarray
    valid: torch.Tensor


def length_buckets(used: list[dict]) -> dict[int, list[int]]:
    """Sentence positions in ``used`` grouped by sentence length (sorted by length)."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, sent in enumerate(used):
        buckets[sent["n"]].append(i)
    return dict(sorted(buckets.items()))


def align_words(model_states, epochs, min_words):
    """Sentences (sorted ids) with, per sentence, positions in epochs and in each model."""
    e_words, e_sid, e_widx = word_table(epochs, "epochs")
    tables = {m: word_table(da, f"model_states[{m!r}]") for m, da in model_states.items()}
    common = set(e_words.tolist())
    for words, _, _ in tables.values():
        common &= set(words.tolist())
    n_unmatched = len(e_words) - len(common)
    if not common:
        raise ValueError("no word label is shared by epochs and every model's states; check the 'word' coords")
    if n_unmatched:
        logger.warning("%d epoch words have no model state in at least one model; they are dropped", n_unmatched)
    model_pos = {m: {w: i for i, w in enumerate(t[0].tolist())} for m, t in tables.items()}
    by_sentence: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for i, (w, s, k) in enumerate(zip(e_words.tolist(), e_sid.tolist(), e_widx.tolist())):
        if w in common:
            by_sentence[s].append((k, w, i))
    used, excluded = [], []
    for sid in sorted(by_sentence):
        rows = sorted(by_sentence[sid])
        if len(rows) < min_words:
            excluded.append(sid)
            continue
        used.append(
            dict(
                sentence_id=sid,
                n=len(rows),
                epochs=np.array([r[2] for r in rows]),
                models={m: np.array([model_pos[m][r[1]] for r in rows]) for m in model_pos},
            )
        )
    if excluded:
        logger.info(
            "%d sentence(s) have fewer than %d words and are excluded: %s%s",
            len(excluded), min_words, ", ".join(excluded[:5]), " …" if len(excluded) > 5 else "",
        )
    if not used:
        raise ValueError(
            f"no sentence has >= {min_words} matched words ({len(excluded)} excluded); lower min_words"
        )
    return used, excluded, n_unmatched


def layer_groups(da: xr.DataArray) -> list[tuple[int, int, int]]:
    """``(start, stop, n_features)`` runs of consecutive layers sharing an unpadded width."""
    n_layers, width = da.sizes["layer"], da.shape[2]
    if "n_features" in da.coords:
        widths = np.asarray(da["n_features"].values, dtype=np.int64)
    else:
        widths = np.full(n_layers, width)
    groups, start = [], 0
    for i in range(1, n_layers + 1):
        if i == n_layers or widths[i] != widths[start]:
            groups.append((start, i, int(widths[start])))
            start = i
    return groups


#: elements per block of model words on a CPU: the gather, cast, centring and Gram product of a
#: block stay in cache (one pass over memory instead of six)
CPU_BLOCK = 2**18


def model_geometry(values, model, layers, groups, positions, *, needs, dtype, device, chunk) -> WordGeometry:
    """The :class:`~hearlike.metrics.WordGeometry` of every layer for one bucket, leading dims
    ``(n_layers, n_sentences)``: one Gram matrix per layer and sentence, shared by every metric.

    On a CPU in float64 a compiled loop gathers, centres and multiplies each sentence's words
    (:func:`hearlike.geometry.gathered_geometry`); else torch, per block of sentences
    (:func:`_torch_layer_geometry`).
    """
    values = np.asarray(values)
    compiled = _compiled_gather(values, 3, dtype=dtype, device=device)
    out = []
    for start, stop, width in groups:
        for layer in range(start, stop):
            if compiled:
                geometry = gathered_geometry(values, layer, positions, width, needs=needs)
            else:
                geometry = _torch_layer_geometry(values[layer], positions, width, needs=needs, dtype=dtype,
                                                 device=device, chunk=chunk)
            out.append(_unsqueeze(geometry))  # (1, S, ...)
    geometry = WordGeometry.cat(out, dim=0)
    # a NaN state makes its sentence's geometry NaN: tested there (n² numbers per sentence, not n·d)
    for part in (geometry.gram, geometry.correlation, geometry.energy):
        if part is not None and bool(torch.isnan(part).any()):
            layer = int(torch.isnan(part).flatten(1).any(1).nonzero()[0, 0])
            raise ValueError(
                f"model {model!r} layer {layers[layer]!r} has NaN states for words used by the grid; "
                "re-extract the states or drop that layer"
            )
    return geometry


def _torch_layer_geometry(values, positions, width, *, needs, dtype, device, chunk) -> WordGeometry:
    """One layer's geometry (leading dim the sentences) with torch: the words of a block of sentences
    gathered into a contiguous tensor (a strided gather makes the products several times slower), a
    block of at most :data:`CPU_BLOCK` elements on a CPU (its passes stay in cache), ``chunk`` on a GPU."""
    n_sent, n = positions.shape
    block = chunk if torch.device(device).type == "cuda" else min(chunk, CPU_BLOCK)
    step = max(1, block // max(1, n * width))  # sentences per block
    parts = []
    for s0 in range(0, n_sent, step):
        x = torch.from_numpy(np.ascontiguousarray(values[positions[s0 : s0 + step].reshape(-1), :width]))
        parts.append(word_geometry(x.to(device=device, dtype=dtype).reshape(-1, n, width), needs=needs))
    return WordGeometry.cat(parts, dim=0)


#: whether word geometry is gathered by the compiled loops on a CPU (numba present and
#: ``HEARLIKE_COMPILED`` not ``0``; see :func:`_compiled_gather`)
COMPILED_GATHER = nuclear.AVAILABLE


def _compiled_gather(values: np.ndarray, ndim: int, *, dtype=torch.float64, device="cpu") -> bool:
    """Whether the geometry is gathered by the compiled loops (:func:`hearlike.geometry.gathered_geometry`,
    :func:`~hearlike.geometry.cell_geometry`, :func:`~hearlike.geometry.cell_rejected`):
    :data:`COMPILED_GATHER`, float64 on a CPU, float32 or float64 C-contiguous states ``(layer, word,
    feature)`` or epochs ``(subject, word, channel, time)``."""
    return (COMPILED_GATHER and dtype == torch.float64 and torch.device(device).type == "cpu"
            and values.dtype in (np.float32, np.float64) and values.ndim == ndim and values.flags.c_contiguous)


def eeg_geometry(values, cells, positions, n, *, needs, dtype, device, chunk) -> tuple[WordGeometry, np.ndarray]:
    """The :class:`~hearlike.metrics.WordGeometry` of every (subject, window, region) cell, leading
    dims ``(n_cells, n_sentences)``, shared by every metric, and :func:`eeg_valid`'s mask.

    ``cells`` is a list over (window, region) of ``(channel index, time index)``; the result is
    ordered subject-major then window, region. Rejected (NaN) epochs count as zeros here and are
    masked by the second result, ``(n_cells, n_sentences)`` bool (the compiled gather finds the
    NaN as it reads the cell).
    """
    n_subj = values.shape[0]
    n_sent = positions.shape[0]
    if _compiled_gather(values, 4, dtype=dtype, device=device):
        rejected = [np.empty((n_subj, n_sent), dtype=bool) for _ in cells]
        geometry = _flatten_cells(WordGeometry.cat(
            [_unsqueeze(cell_geometry(values, positions, ch, tt, needs=needs, rejected=bad), 1)
             for (ch, tt), bad in zip(cells, rejected)], dim=1))
        return geometry, ~np.stack(rejected, axis=1).reshape(-1, n_sent)  # (subject, cell, S) as eeg_valid
    words = values[:, positions.reshape(-1)]  # (subject, S·n, channel, time)
    per_cell = []
    for ch, tt in cells:
        sub = words[:, :, ch][:, :, :, tt]  # (subject, S·n, ch, t)
        feat = sub.shape[2] * sub.shape[3]
        step = max(1, chunk // max(1, n_sent * n * feat))
        parts = []
        for s0 in range(0, n_subj, step):
            x = torch.as_tensor(np.ascontiguousarray(sub[s0 : s0 + step]))
            x = x.to(device=device, dtype=dtype).reshape(x.shape[0], n_sent, n, feat)
            parts.append(word_geometry(torch.nan_to_num(x, nan=0.0), needs=needs))
        per_cell.append(WordGeometry.cat(parts, dim=0))  # (subject, S, ...)
    joined = WordGeometry.cat([_unsqueeze(g, 1) for g in per_cell], dim=1)  # (subject, W·R, S, ...)
    return _flatten_cells(joined), eeg_valid(values, cells, positions)


def _unsqueeze(g: WordGeometry, dim: int = 0) -> WordGeometry:
    f = (lambda t: None if t is None else t.unsqueeze(dim))
    return WordGeometry(f(g.gram), f(g.correlation), f(g.energy), g.n_words, g.dtype)


def _flatten_cells(g: WordGeometry) -> WordGeometry:
    f = (lambda t: None if t is None else t.flatten(0, 1))
    return WordGeometry(f(g.gram), f(g.correlation), f(g.energy), g.n_words, g.dtype)


def eeg_valid(values, cells, positions) -> np.ndarray:
    """``(n_cells, n_sentences)``: False where a (subject, sentence) has a rejected (NaN) epoch in the
    cell; those sentences are left out of that cell's means (ordered like :func:`eeg_geometry`)."""
    n_sent, n = positions.shape
    if _compiled_gather(values, 4):
        bad = np.stack([cell_rejected(values, positions, ch, tt) for ch, tt in cells], axis=1)  # (subject, cell, S)
        return ~bad.reshape(-1, n_sent)
    words = values[:, positions.reshape(-1)]  # (subject, S·n, channel, time)
    per_cell = []
    for ch, tt in cells:
        bad = np.isnan(words[:, :, ch][:, :, :, tt]).any(axis=(2, 3))  # (subject, S·n)
        per_cell.append(~bad.reshape(bad.shape[0], n_sent, n).any(axis=2))
    return np.stack(per_cell, axis=1).reshape(-1, n_sent)


def layer_union(model_states) -> list[str]:
    """Every model's layer labels, encoder before decoder, each component by layer index."""
    seen: dict[str, int] = {}
    for da in model_states.values():
        for label in np.asarray(da["layer"].values).astype(str).tolist():
            seen.setdefault(label, len(seen))
    order = {"encoder": 0, "decoder": 1}

    def key(label):
        comp, _, idx = label.rpartition(".")
        return (order.get(comp, 2), comp, int(idx) if idx.isdigit() else seen[label], seen[label])

    return sorted(seen, key=key)
