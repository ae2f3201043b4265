"""The metric grid: model × layer × subject × window × region × metric, with permutation nulls.

For every sentence, the words' model vectors (one layer) are compared with the same words' EEG
patterns (one subject, the channels of one region × the samples of one time window, flattened) by
each metric of :mod:`hearlike.metrics`; scores are averaged over sentences and tested against a
within-sentence permutation null.

How it stays fast
-----------------
Sentences are bucketed by length (the metrics take equal-length batches; no padding, no masks).
Within a bucket each metric's representation is prepared once per model layer and once per EEG
cell, then all layer × cell × sentence comparisons are one ``einsum`` (``"gram"`` metrics) or one
batched SVD (``"factor"`` metrics). Permutation nulls reorder the prepared representations of one
side (the side with fewer representations) -- the same permutations for every cell, so max-statistic
family-wise corrections are valid. Python loops run only over models, length buckets, metrics and
chunks.

Small-n bias
------------
At n ≈ 10 words biased CKA, dCor and Procrustes of *independent* high-dimensional data are close to
1, and the level moves with n. ``excess = score - null_mean`` removes this bias (≈ 0 under
independence); read ``excess`` and ``p_value``, never raw ``score``, for those metrics.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from . import __version__
from .cache import read_netcdf, write_netcdf
from .config import config_hash
from .metrics import METRICS, STUDY_METRICS, Metric, _correlation_rdm_upper, get_metric, permute_rep

if TYPE_CHECKING:
    from .eeg.surrogates import SurrogateEpochs

logger = logging.getLogger(__name__)

__all__ = ["compute_grid", "eeg_rdms", "save_grid", "load_grid", "sentence_permutations", "DEFAULT_METRICS"]

DEFAULT_METRICS: tuple[str, ...] = STUDY_METRICS

_P_TOLERANCE = 1e-9  # null >= observed - tol·max|values|: round-off must not break exact ties


# --------------------------------------------------------------------------------------------
# permutations
# --------------------------------------------------------------------------------------------


#: the nulls: "shuffle" = uniformly random word permutations inside each sentence; "cyclic" =
#: cyclic shifts of the word order, forwards or reversed (2n - 1 non-identity orders), which keep
#: neighbouring words neighbours (circularly); "swap" = each sentence's model words are compared
#: with the EEG of another sentence of the same length, words in order, so every serial-position
#: structure shared by all sentences (overlapping epochs, baseline carry-over, contextual states,
#: position effects) is in the null; "shift" = each sentence's model words are compared with
#: surrogate EEG epochs cut at the sentence's own word onsets moved, as a block, to another
#: sentence's place in the same recording (:mod:`hearlike.eeg.surrogates`), so the sentence's exact
#: timing -- epoch overlap and autocorrelated background at its own onset gaps -- is in the null
#: too and only the stimulus lock counts (needs the continuous recordings: ``surrogates=``)
NULLS = ("shuffle", "cyclic", "swap", "shift")


def sentence_swaps(sentence_ids: Sequence[str], n_permutations: int, *, seed: int) -> np.ndarray:
    """Sentence re-pairings for the ``"swap"`` null: ``(n_permutations, n_sentences)`` int64.

    Row ``k`` pairs sentence ``s``'s model states with the EEG of sentence ``row[s]`` (all of the
    same length). Seeded by ``seed`` and the sentence ids. A group of one sentence can only be
    paired with itself (its null equals its score: conservative).
    """
    key = zlib.crc32("|".join(map(str, sentence_ids)).encode())
    rng = np.random.default_rng([int(seed), key])
    base = np.tile(np.arange(len(sentence_ids), dtype=np.int64), (n_permutations, 1))
    return rng.permuted(base, axis=1)


def sentence_permutations(sentence_id: str, n_words: int, n_permutations: int, *, seed: int,
                          null: str = "shuffle") -> np.ndarray:
    """The word permutations used for one sentence, ``(n_permutations, n_words)`` int64.

    Seeded by ``(seed, crc32(sentence_id))`` so a sentence gets the same permutations whatever
    other sentences, models or cells are in the grid. Row ``k`` is applied as ``eeg[perm[k]]``.
    ``null`` picks the family of permutations (see :data:`NULLS`).
    """
    if null not in ("shuffle", "cyclic"):
        raise ValueError(f"word permutations are 'shuffle' or 'cyclic', got {null!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(str(sentence_id).encode())])
    if null == "cyclic":
        order = np.arange(n_words, dtype=np.int64)
        # transform t in 1..2n-1: shift t % n, reversed when t >= n (t = 0 is the identity)
        t = rng.integers(1, 2 * n_words, size=n_permutations)
        direction = np.where(t >= n_words, -1, 1)[:, None]
        return (direction * order[None, :] + (t % n_words)[:, None]) % n_words
    base = np.tile(np.arange(n_words, dtype=np.int64), (n_permutations, 1))
    return rng.permuted(base, axis=1)


# --------------------------------------------------------------------------------------------
# input validation and word alignment
# --------------------------------------------------------------------------------------------


def _word_table(obj: xr.DataArray, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _check_inputs(model_states, epochs, windows, regions, metric_names, min_words, n_permutations):
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
    if int(n_permutations) < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")


def _align(model_states, epochs, min_words):
    """Sentences (sorted ids) with, per sentence, positions in epochs and in each model."""
    e_words, e_sid, e_widx = _word_table(epochs, "epochs")
    tables = {m: _word_table(da, f"model_states[{m!r}]") for m, da in model_states.items()}
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


# --------------------------------------------------------------------------------------------
# representations
# --------------------------------------------------------------------------------------------


def _layer_groups(da: xr.DataArray) -> list[tuple[int, int, int]]:
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


def _model_reps(values, model, layers, groups, positions, n, metric, *, dtype, device, chunk):
    """Prepared reps of every layer for one bucket: ``(n_layers, n_sentences, n, r)``."""
    n_sent = positions.shape[0]
    flat = positions.reshape(-1)
    out = []
    for start, stop, width in groups:
        step = max(1, chunk // max(1, n_sent * n * width))
        for l0 in range(start, stop, step):
            l1 = min(stop, l0 + step)
            x = torch.as_tensor(np.asarray(values[l0:l1][:, flat, :width]))
            if torch.isnan(x).any():
                bad = layers[l0 + int(torch.isnan(x).flatten(1).any(1).nonzero()[0])]
                raise ValueError(
                    f"model {model!r} layer {bad!r} has NaN states for words used by the grid; "
                    "re-extract the states or drop that layer"
                )
            x = x.to(device=device, dtype=dtype).reshape(l1 - l0, n_sent, n, width)
            out.append(metric.prepare(x))
    return torch.cat(out, dim=0)


def _eeg_reps(values, cells, positions, n, metric, *, dtype, device, chunk):
    """Prepared reps of every (subject, window, region) cell: ``(n_cells, n_sentences, n, r)``.

    ``cells`` is a list over (window, region) of ``(channel index, time index)``; the result is
    ordered subject-major then window, region.
    """
    n_subj = values.shape[0]
    n_sent = positions.shape[0]
    words = values[:, positions.reshape(-1)]  # (subject, S·n, channel, time)
    per_cell = []
    for ch, tt in cells:
        sub = words[:, :, ch][:, :, :, tt]  # (subject, S·n, ch, t)
        feat = sub.shape[2] * sub.shape[3]
        step = max(1, chunk // max(1, n_sent * n * feat))
        reps = []
        for s0 in range(0, n_subj, step):
            x = torch.as_tensor(np.ascontiguousarray(sub[s0 : s0 + step]))
            x = x.to(device=device, dtype=dtype).reshape(x.shape[0], n_sent, n, feat)
            reps.append(metric.prepare(torch.nan_to_num(x, nan=0.0)))  # rejected epochs: masked later
        per_cell.append(torch.cat(reps, dim=0))  # (subject, S, n, r)
    stacked = torch.stack(per_cell, dim=1)  # (subject, W·R, S, n, r)
    return stacked.reshape(-1, *stacked.shape[2:])


def _eeg_valid(values, cells, positions) -> np.ndarray:
    """``(n_cells, n_sentences)``: False where a (subject, sentence) has a rejected (NaN) epoch in the
    cell; those sentences are left out of that cell's means (ordered like :func:`_eeg_reps`)."""
    n_sent, n = positions.shape
    words = values[:, positions.reshape(-1)]  # (subject, S·n, channel, time)
    per_cell = []
    for ch, tt in cells:
        bad = np.isnan(words[:, :, ch][:, :, :, tt]).any(axis=(2, 3))  # (subject, S·n)
        per_cell.append(~bad.reshape(bad.shape[0], n_sent, n).any(axis=2))
    return np.stack(per_cell, axis=1).reshape(-1, n_sent)


# --------------------------------------------------------------------------------------------
# comparisons
# --------------------------------------------------------------------------------------------


def _compare_all(metric: Metric, a: torch.Tensor, b: torch.Tensor, *, chunk: int) -> torch.Tensor:
    """All pairs: ``a (L, S, n, r)`` × ``b (..., C, S, n, r)`` -> ``(..., L, C, S)``."""
    if metric.kind == "gram":
        af = a.flatten(-2)
        bf = b.flatten(-2)
        inner = torch.einsum("lsk,...csk->...lcs", af, bf)
        return inner if metric.post is None else metric.post(inner)
    # factor: chunk over layers to bound the (…, L, C, S, r, r) products
    lead = b.shape[:-4]
    per_layer = max(1, int(np.prod(lead, dtype=np.int64)) * b.shape[-4] * b.shape[-3] * a.shape[-1] ** 2)
    step = max(1, chunk // per_layer)
    parts = []
    for l0 in range(0, a.shape[0], step):
        aa = a[l0 : l0 + step]
        parts.append(metric.compare(aa.unsqueeze(1), b.unsqueeze(-5)))  # (..., l, C, S)
    return torch.cat(parts, dim=-3)


def _bucket_scores(metric, model_rep, eeg_rep, perms, valid, *, chunk, keep_sentences):
    """Sentence-summed observed ``(L, C)`` and null ``(P, L, C)`` scores for one bucket, and with
    ``keep_sentences`` the per-sentence observed and null-mean scores ``(L, C, S)``.

    ``perms (P, S, n)`` reorder the EEG words; if the model side has fewer reps it is reordered
    with the inverse permutations instead (identical numbers). ``perms (P, S)`` (the "swap" null)
    re-pair sentences: sentence ``s``'s model reps meet the EEG reps of sentence ``perms[k, s]``.
    """
    n_layers, n_cells, n_sent = model_rep.shape[0], eeg_rep.shape[0], model_rep.shape[1]
    observed = _compare_all(metric, model_rep, eeg_rep, chunk=chunk)  # (L, C, S)
    obs_sum = torch.where(valid, observed, 0.0).sum(dim=-1)
    n_perm = perms.shape[0]
    null_sum = model_rep.new_zeros((n_perm, n_layers, n_cells))
    sentence_null = model_rep.new_zeros((n_layers, n_cells, n_sent)) if keep_sentences else None
    if n_perm:
        permute_eeg = n_cells <= n_layers
        r = model_rep.shape[-1]
        per_perm = n_sent * (n_cells * r * model_rep.shape[-2] if permute_eeg else n_layers * r * model_rep.shape[-2])
        per_perm += n_layers * n_cells * n_sent * (1 if metric.kind == "gram" else r * r)
        step = max(1, chunk // max(1, per_perm))
        inverse = torch.argsort(perms, dim=-1)
        swap = perms.dim() == 2
        for p0 in range(0, n_perm, step):
            p1 = min(n_perm, p0 + step)
            if swap:
                valid_k = valid[:, perms[p0:p1]].transpose(0, 1).unsqueeze(1)  # (k, 1, C, S)
                if metric.kind == "gram" and n_layers < n_cells:
                    # re-pair by moving the (fewer) model reps: position t holds model sentence
                    # π⁻¹(t) against EEG sentence t; then index back by model sentence s = π⁻¹(t)
                    inv = torch.argsort(perms[p0:p1], dim=-1)  # (k, S)
                    a = model_rep.flatten(-2)[:, inv].transpose(0, 1)  # (k, L, S, m)
                    inner = torch.einsum("klsm,csm->klcs", a, eeg_rep.flatten(-2))
                    inner = inner if metric.post is None else metric.post(inner)
                    index = perms[p0:p1][:, None, None, :].expand(-1, n_layers, n_cells, -1)
                    null = torch.gather(inner, -1, index)  # (k, L, C, S) by model sentence
                else:
                    b = eeg_rep[:, perms[p0:p1]].transpose(0, 1)  # (k, C, S, n, r)
                    null = _compare_all(metric, model_rep, b, chunk=chunk)
                null = torch.where(valid_k, null, 0.0)
            elif permute_eeg:
                b = permute_rep(eeg_rep.unsqueeze(0), perms[p0:p1].unsqueeze(1), kind=metric.kind)
                null = _compare_all(metric, model_rep, b, chunk=chunk)
            else:
                a = permute_rep(model_rep.unsqueeze(0), inverse[p0:p1].unsqueeze(1), kind=metric.kind)
                null = torch.stack([_compare_all(metric, a[k], eeg_rep, chunk=chunk) for k in range(p1 - p0)])
            if not swap:
                null = torch.where(valid, null, 0.0)
            null_sum[p0:p1] = null.sum(dim=-1)
            if keep_sentences:
                sentence_null += null.sum(dim=0)
    if keep_sentences and n_perm:
        sentence_null /= n_perm
    elif keep_sentences:
        sentence_null = torch.full_like(observed, float("nan"))
    return obs_sum, null_sum, (observed if keep_sentences else None), sentence_null


def sufficient_features(gram: torch.Tensor, row_sums: torch.Tensor, n_features: int) -> torch.Tensor:
    """Pseudo-features ``(..., n, n + 1)`` on which every metric's ``prepare`` gives what it gives on ``x``.

    Every prepare function of :mod:`hearlike.metrics` reads ``x (..., n, d)`` only through its
    inner products ``x xᵀ`` and its words' feature means (correlation distance). Write
    ``x = x⊥ + m 1ᵀ`` (``m`` the word means, rows of ``x⊥`` orthogonal to the all-ones feature
    vector); with ``L Lᵀ = x⊥ x⊥ᵀ`` and ``B`` an orthonormal basis of the vectors of length ``n + 1``
    orthogonal to ones, ``x' = L Bᵀ + m √(d / (n + 1)) 1ᵀ`` has ``x' x'ᵀ = x xᵀ`` and
    ``(n + 1) m' m'ᵀ = d m mᵀ``. Lets the surrogate null build one Gram per channel and window
    and sum channels into regions, instead of preparing every metric on every region's features.

    Parameters
    ----------
    gram : Tensor, shape (..., n, n)
        ``x xᵀ`` (not centred).
    row_sums : Tensor, shape (..., n)
        ``x`` summed over features.
    n_features : int or Tensor
        ``d`` (a tensor broadcasting against ``row_sums`` when it differs, e.g. ``(n_regions, 1)``).
    """
    n = gram.shape[-1]
    n_features = torch.as_tensor(n_features, dtype=gram.dtype, device=gram.device)  # scalar or (..., 1)
    means = row_sums / n_features
    within = gram - n_features.unsqueeze(-1) * means.unsqueeze(-1) * means.unsqueeze(-2)  # x⊥ x⊥ᵀ
    root, info = torch.linalg.cholesky_ex(within)  # root rootᵀ = within
    failed = info != 0  # singular (fewer features than words, repeated patterns): symmetric root
    if bool(failed.any()):
        evals, evecs = torch.linalg.eigh(within[failed])
        root[failed] = evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)
    ones = torch.ones(n + 1, 1, dtype=gram.dtype, device=gram.device) / math.sqrt(n + 1)
    basis = torch.linalg.qr(torch.cat([ones, torch.eye(n + 1, dtype=gram.dtype, device=gram.device)[:, :n]], dim=1)).Q[:, 1:]
    return root @ basis.T + (means * torch.sqrt(n_features / (n + 1))).unsqueeze(-1)


def _channel_blocks(regions: Sequence[np.ndarray], n_channels: int):
    """A channel order that makes regions contiguous slices, where it can.

    The metrics read features only through inner products, so a region's channel order is free.
    Returns ``(order, blocks)``: ``order`` indexes the original channels; ``blocks`` maps each
    distinct region to the cells (positions in ``regions``) that use it -- keyed by ``(start,
    stop)`` into the reordered channels, or by a tensor of reordered indices for a region that
    overlaps others and cannot be contiguous.
    """
    distinct = list(dict.fromkeys(tuple(int(i) for i in ch) for ch in regions))
    order = []
    for ch in sorted(distinct, key=len):  # small regions first; "all channels" then needs no slot
        order += [i for i in ch if i not in order]
    order += [i for i in range(n_channels) if i not in order]
    position = {c: k for k, c in enumerate(order)}
    blocks = {}
    for c, ch in enumerate(regions):
        where = sorted(position[int(i)] for i in ch)
        if where and where == list(range(where[0], where[0] + len(where))):
            key = (where[0], where[0] + len(where))
        else:
            key = next((k for k in blocks if not isinstance(k, tuple) and k.tolist() == where), None)
            key = torch.as_tensor(where) if key is None else key
        blocks.setdefault(key, []).append(c)
    return np.array(order, dtype=np.int64), blocks


def _shift_plan(cells, n_channels: int, *, dtype, device) -> dict:
    """How the shift null builds each cell's Gram matrix (decided once per grid).

    ``order`` reorders the channels so that regions are contiguous slices (``blocks``, see
    :func:`_channel_blocks`); when many regions overlap (a channel searchlight) one Gram per
    channel is cheaper: ``membership`` (region × channel, 0/1) sums them into regions,
    ``region_index`` maps cells to regions and ``by_window`` groups cells by window.
    """
    distinct = list(dict.fromkeys(tuple(int(i) for i in ch) for ch, _ in cells))
    if sum(map(len, distinct)) > 2 * n_channels and all(len(tt) for _, tt in cells):
        membership = torch.zeros(len(distinct), n_channels, dtype=dtype, device=device)
        for r, ch in enumerate(distinct):
            membership[r, list(ch)] = 1.0
        by_window = {}
        for c, (_, tt) in enumerate(cells):
            by_window.setdefault((int(tt[0]), int(tt[-1])), []).append(c)
        return {"order": np.arange(n_channels), "membership": membership, "by_window": by_window,
                "region_index": [distinct.index(tuple(int(i) for i in ch)) for ch, _ in cells]}
    order, blocks = _channel_blocks([ch for ch, _ in cells], n_channels)
    return {"order": order, "blocks": blocks, "membership": None}


def _shift_null_bucket(surrogates, kept_reps, metrics, cells, plan, epoch_pos, valid, *, n_perm, n_subjects, dtype,
                       device, chunk):
    """Null scores of one bucket under the timing-preserving surrogates (``null_kind="shift"``).

    Surrogate epochs (channels already in ``plan["order"]``) are cut for a few surrogates at a
    time. Each cell's Gram matrix is computed once -- from the region's contiguous channel slice,
    or, when many regions overlap, as per-channel Grams summed into regions (:func:`_shift_plan`)
    -- reduced to :func:`sufficient_features`, prepared once per metric and compared with every
    model's prepared layers (``kept_reps[metric index] = [(model index, reps, layer indices), ...]``).

    Returns
    -------
    null : dict (metric index, model index) -> (Tensor (P, L, C), layer indices)
        Sentence sums of the null scores (sentences rejected in the real cell left out).
    sentence_null : dict (metric index, model index) -> Tensor (L, C, S)
        Per-sentence null means.
    """
    n_sent, n = epoch_pos.shape
    words = epoch_pos.reshape(-1)
    per_surrogate = n_subjects * len(words) * surrogates.n_channels * len(surrogates.offsets)
    step = int(max(1, min(n_perm, 4 * chunk // max(1, per_surrogate))))  # surrogate epochs <= 4·chunk floats
    keys = [(k, m) for k, models in kept_reps.items() for m, _, _ in models]
    sums = {key: [] for key in keys}
    sentence_null = {key: 0.0 for key in keys}
    has_nan = bool((surrogates.onset_sample[:, words] < 0).any())
    membership = plan["membership"]
    for p0 in range(0, n_perm, step):
        p1 = min(n_perm, p0 + step)
        cut = torch.as_tensor(surrogates.cut(slice(p0, p1), words))  # (subject, k, S·n, time, channel)
        cut = cut.reshape(-1, n_sent, n, *cut.shape[3:])  # (subject·k, S, n, time, channel)
        features = [None] * len(cells)
        if membership is not None:  # many overlapping regions: per-channel Grams, summed into regions
            for key, members in plan["by_window"].items():
                x = cut[:, :, :, key[0] : key[1] + 1].to(device=device)  # (subject·k, S, n, time, channel)
                x = torch.nan_to_num(x, nan=0.0) if has_nan else x
                x = x.permute(0, 1, 4, 2, 3).contiguous()  # (subject·k, S, channel, n, time)
                grams = torch.einsum("bscij,rc->bsrij", (x @ x.transpose(-1, -2)).to(dtype), membership)
                sums_r = torch.einsum("bsci,rc->bsri", x.sum(dim=-1).to(dtype), membership)
                width = membership.sum(dim=1) * (key[1] - key[0] + 1)  # features per region
                region_features = sufficient_features(grams, sums_r, width[:, None])  # (…, R, n, n + 1)
                for c in members:
                    features[c] = region_features[:, :, plan["region_index"][c]]
        else:  # each region's channels once, then its windows
            for block, members in plan["blocks"].items():
                xr_ = cut[..., block[0] : block[1]] if isinstance(block, tuple) else cut.index_select(-1, block)
                for c in members:
                    tt = cells[c][1]
                    x = xr_[:, :, :, tt[0] : tt[-1] + 1] if len(tt) else xr_[:, :, :, :0]
                    x = x.reshape(*x.shape[:3], -1).to(device=device)  # (subject·k, S, n, time·channel)
                    x = torch.nan_to_num(x, nan=0.0) if has_nan else x  # rejected in the real cell: masked
                    gram = (x @ x.transpose(-1, -2)).to(dtype)
                    features[c] = sufficient_features(gram, x.sum(dim=-1).to(dtype), x.shape[-1])
        features = torch.stack(features, dim=1)  # (subject·k, W·R, S, n, n + 1)
        for k, metric in enumerate(metrics):
            reps = metric.prepare(features)
            reps = reps.reshape(n_subjects, p1 - p0, *reps.shape[1:]).transpose(0, 1)  # (k, subject, W·R, S, n, r)
            reps = reps.reshape(p1 - p0, -1, *reps.shape[3:])  # (k, C, S, n, r), C subject-major
            for m, model_rep, _ in kept_reps.get(k, ()):
                scores = torch.where(valid, _compare_all(metric, model_rep, reps, chunk=chunk), 0.0)  # (k, L, C, S)
                sums[k, m].append(scores.sum(dim=-1))
                sentence_null[k, m] = sentence_null[k, m] + scores.sum(dim=0)
    null = {(k, m): (torch.cat(sums[k, m], dim=0), li) for k, models in kept_reps.items() for m, _, li in models}
    sentence_null = {key: value / n_perm for key, value in sentence_null.items()}
    return null, sentence_null


# --------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------


def _layer_union(model_states) -> list[str]:
    seen: dict[str, int] = {}
    for da in model_states.values():
        for label in np.asarray(da["layer"].values).astype(str).tolist():
            seen.setdefault(label, len(seen))
    order = {"encoder": 0, "decoder": 1}

    def key(label):
        comp, _, idx = label.rpartition(".")
        return (order.get(comp, 2), comp, int(idx) if idx.isdigit() else seen[label], seen[label])

    return sorted(seen, key=key)


def compute_grid(
    model_states: Mapping[str, xr.DataArray],
    epochs: xr.DataArray,
    *,
    windows: Sequence[tuple[str, float, float]],
    regions: Mapping[str, Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_permutations: int = 100,
    seed: int = 0,
    device: str | torch.device = "cpu",
    min_words: int = 3,
    chunk: int = 2**24,
    dtype: torch.dtype = torch.float64,
    keep_null: bool = False,
    keep_sentences: bool = False,
    null_kind: str = "shuffle",
    surrogates: "SurrogateEpochs | None" = None,
) -> xr.Dataset:
    """Score every model layer against every EEG cell by every metric, with permutation nulls.

    Parameters
    ----------
    model_states : dict of str to DataArray, each shape (n_layers, n_words, n_features)
        Dims ``layer, word, feature`` (e.g. from :func:`hearlike.models.stack_layers`); layer coords
        ``component`` and ``relative_depth`` are carried over; an ``n_features`` layer coord marks
        NaN-padded widths, which are cut off. Feature sizes may differ between models.
    epochs : DataArray, shape (n_subjects, n_words, n_channels, n_times)
        Word epochs (volts), ``time`` in seconds from word onset. Words are matched to the model
        states by the ``word`` label.
    windows : list of (name, start_ms, stop_ms)
        Samples with ``start_ms <= t < stop_ms``.
    regions : dict of str to list of str
        Channel names per region. A cell's features are its channels × its window's samples.
    metrics : sequence of str
        Names in :data:`hearlike.metrics.METRICS`.
    n_permutations : int
        Within-sentence word permutations of the null (the same for every cell; 0 = no null).
    seed : int
        Seeds the permutations (see :func:`sentence_permutations`).
    device : str or torch.device
        Where the comparisons run (``"cuda"`` works unchanged).
    min_words : int
        Sentences with fewer matched words are excluded (counted in attrs and logged).
    chunk : int
        Upper bound on the elements of the largest intermediate tensor; lower it to save memory.
    dtype : torch.dtype
        Working precision (float64 default; float32 halves time and memory).
    keep_null : bool
        Also return the sentence-mean null samples (dim ``permutation``).
    keep_sentences : bool
        Also return per-sentence scores ``sentence_score``, their permutation-null means
        ``sentence_null_mean`` and ``sentence_excess`` (the difference), with dim ``sentence``.
    null_kind : {"shuffle", "cyclic", "swap", "shift"}
        The null (see :data:`NULLS`, :func:`sentence_permutations`, :func:`sentence_swaps`).
    surrogates : SurrogateEpochs, optional
        For ``null_kind="shift"``: cuts the surrogate epochs (same subjects and word axis as
        ``epochs``; :func:`hearlike.eeg.surrogate_epochs`), with at least ``n_permutations``
        surrogates.

    Returns
    -------
    Dataset
        ``score``, ``null_mean``, ``null_sd``, ``excess`` (score − null_mean), ``p_value``
        (``(1 + #{null >= score}) / (1 + n_permutations)``), each with dims
        ``model, layer, subject, window, region, metric``; NaN where a model lacks a layer. Attrs
        hold ``n_sentences_used``, ``n_sentences_excluded``, ``config_hash``, ``hearlike_version``.
    """
    metric_names = list(metrics)
    _check_inputs(model_states, epochs, windows, regions, metric_names, min_words, n_permutations)
    if null_kind not in NULLS:
        raise ValueError(f"null_kind must be one of {NULLS}, got {null_kind!r}")
    if null_kind == "shift":
        if surrogates is None:
            raise ValueError("null_kind='shift' needs surrogates= (hearlike.eeg.surrogate_epochs of the "
                             "continuous recordings); use 'swap' when only epochs are available")
        if surrogates.n_surrogates < int(n_permutations):
            raise ValueError(f"surrogates hold {surrogates.n_surrogates} surrogates; n_permutations={n_permutations} "
                             "needs as many")
        if surrogates.onset_sample.shape != (epochs.sizes["subject"], epochs.sizes["word"]):
            raise ValueError(f"surrogates cover {surrogates.onset_sample.shape} (subject, word), the epochs "
                             f"{(epochs.sizes['subject'], epochs.sizes['word'])}; build them from these epochs")
    epochs = epochs.transpose("subject", "word", "channel", "time")
    device = torch.device(device)
    n_perm = int(n_permutations)

    used, excluded, n_unmatched = _align(model_states, epochs, min_words)
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, sent in enumerate(used):
        buckets[sent["n"]].append(i)

    channel_names = np.asarray(epochs["channel"].values).astype(str).tolist()
    times_ms = np.asarray(epochs["time"].values, dtype=np.float64) * 1000.0
    cells = []
    for _, start, stop in windows:
        tt = np.nonzero((times_ms >= start - 1e-6) & (times_ms < stop - 1e-6))[0]
        for chans in regions.values():
            cells.append((np.array([channel_names.index(c) for c in chans]), tt))
    eeg_values = np.asarray(epochs.values)
    subjects = np.asarray(epochs["subject"].values)
    n_subj, n_win, n_reg = len(subjects), len(windows), len(regions)
    n_cells = n_subj * n_win * n_reg

    models = list(model_states)
    layers = _layer_union(model_states)
    n_sent = len(used)
    shape = (len(models), len(layers), n_cells, len(metric_names))
    score = np.zeros(shape)
    null = np.zeros((n_perm, *shape))
    present = np.zeros((len(models), len(layers)), dtype=bool)
    per_sentence = np.full((*shape, n_sent), np.nan) if keep_sentences else None
    per_sentence_null = np.full((*shape, n_sent), np.nan) if keep_sentences else None
    permuted_side = {}

    if null_kind == "shift":  # surrogate epochs replace the permutations (handled per bucket below)
        perms = {n: torch.zeros((0, len(idx)), dtype=torch.int64, device=device) for n, idx in buckets.items()}
        shift_plan = _shift_plan(cells, len(channel_names), dtype=dtype, device=device)
        surrogates = surrogates.with_channels(shift_plan["order"])
    elif null_kind == "swap":  # (P, S) sentence re-pairings within each length bucket
        perms = {n: torch.as_tensor(sentence_swaps([used[i]["sentence_id"] for i in idx], n_perm, seed=seed),
                                    device=device) for n, idx in buckets.items()}
    else:  # (P, S, n) word permutations
        perms = {
            n: torch.as_tensor(
                np.stack([sentence_permutations(used[i]["sentence_id"], n, n_perm, seed=seed, null=null_kind)
                          for i in idx], axis=1)
                if n_perm
                else np.zeros((0, len(idx), n), dtype=np.int64),
                device=device,
            )
            for n, idx in buckets.items()
        }
    total = len(buckets) * len(metric_names) * len(models)
    progress = tqdm(total=total, desc="metric grid", unit="step", disable=None)
    n_valid = np.zeros(n_cells)
    valid_all = np.ones((n_cells, n_sent), dtype=bool)
    for n, idx in sorted(buckets.items()):
        epoch_pos = np.stack([used[i]["epochs"] for i in idx])
        valid_np = _eeg_valid(eeg_values, cells, epoch_pos)
        valid_all[:, np.array(idx)] = valid_np
        n_valid += valid_np.sum(axis=1)
        valid = torch.as_tensor(valid_np, device=device)
        kept_reps = {}
        for k, name in enumerate(metric_names):
            metric = METRICS[name]
            eeg_rep = _eeg_reps(eeg_values, cells, epoch_pos, n, metric, dtype=dtype, device=device, chunk=chunk)
            for m, model in enumerate(models):
                da = model_states[model]
                labels = np.asarray(da["layer"].values).astype(str).tolist()
                model_pos = np.stack([used[i]["models"][model] for i in idx])
                model_rep = _model_reps(
                    da.values, model, labels, _layer_groups(da), model_pos, n, metric,
                    dtype=dtype, device=device, chunk=chunk,
                )
                obs, nul, sent, sent_null = _bucket_scores(
                    metric, model_rep, eeg_rep, perms[n], valid, chunk=chunk, keep_sentences=keep_sentences
                )
                permuted_side[model] = "eeg" if n_cells <= len(labels) or null_kind == "shift" else "model"
                li = [layers.index(lab) for lab in labels]
                if null_kind == "shift":
                    kept_reps.setdefault(k, []).append((m, model_rep, li))
                present[m, li] = True
                score[m, li, :, k] += obs.double().cpu().numpy()
                if null_kind != "shift":  # the shift null is added after the bucket's observed scores
                    null_view = null[:, m, :, :, k]  # a view: (P, layer, cell)
                    null_view[:, li] += nul.double().cpu().numpy()
                if keep_sentences:
                    per_sentence[m, np.array(li)[:, None], :, k, np.array(idx)[None, :]] = (
                        sent.double().cpu().numpy().transpose(0, 2, 1)
                    )
                    per_sentence_null[m, np.array(li)[:, None], :, k, np.array(idx)[None, :]] = (
                        sent_null.double().cpu().numpy().transpose(0, 2, 1)
                    )
                progress.update(1)
        if null_kind == "shift" and n_perm:
            shifted_null, shifted_sentence_null = _shift_null_bucket(
                surrogates, kept_reps, [METRICS[name] for name in metric_names], cells, shift_plan, epoch_pos, valid,
                n_perm=n_perm, n_subjects=n_subj, dtype=dtype, device=device, chunk=chunk,
            )
            for (k, m), (nul, li) in shifted_null.items():
                null_view = null[:, m, :, :, k]
                null_view[:, li] += nul.double().cpu().numpy()
                if keep_sentences:
                    per_sentence_null[m, np.array(li)[:, None], :, k, np.array(idx)[None, :]] = (
                        shifted_sentence_null[k, m].double().cpu().numpy().transpose(0, 2, 1)
                    )
    progress.close()
    with np.errstate(invalid="ignore", divide="ignore"):
        score /= n_valid[None, None, :, None]  # sentences without rejected epochs in the cell
        null /= n_valid[None, None, :, None]
    if keep_sentences:
        rejected = ~valid_all[None, None, :, None, :]
        per_sentence[np.broadcast_to(rejected, per_sentence.shape)] = np.nan
        per_sentence_null[np.broadcast_to(rejected, per_sentence_null.shape)] = np.nan
    score[~present] = np.nan
    null[:, ~present] = np.nan
    logger.info(
        "metric grid: %d models × %d layers × %d cells × %d metrics over %d sentences, %d permutations",
        len(models), len(layers), n_cells, len(metric_names), n_sent, n_perm,
    )

    cell_shape = (n_subj, n_win, n_reg)

    def unfold(a, lead=()):
        return a.reshape(*a.shape[: len(lead)], len(models), len(layers), *cell_shape, *a.shape[len(lead) + 3 :])

    dims = ("model", "layer", "subject", "window", "region", "metric")
    data = {"score": (dims, unfold(score))}
    if n_perm:
        null_mean = null.mean(axis=0)
        null_sd = null.std(axis=0, ddof=1) if n_perm > 1 else np.full(shape, np.nan)
        tol = _P_TOLERANCE * np.maximum(np.abs(score), np.abs(null).max(axis=0))
        p_value = (1 + (null >= score - tol).sum(axis=0)) / (1 + n_perm)
        p_value = np.where(np.isnan(score), np.nan, p_value)
    else:
        null_mean = null_sd = p_value = np.full(shape, np.nan)
    data["null_mean"] = (dims, unfold(null_mean))
    data["null_sd"] = (dims, unfold(null_sd))
    data["excess"] = (dims, unfold(score - null_mean))
    data["p_value"] = (dims, unfold(p_value))
    if keep_null:
        data["null"] = (dims + ("permutation",), np.moveaxis(unfold(null, lead=(n_perm,)), 0, -1))
    if keep_sentences:
        data["sentence_score"] = (dims + ("sentence",), unfold(per_sentence))
        data["sentence_null_mean"] = (dims + ("sentence",), unfold(per_sentence_null))
        data["sentence_excess"] = (dims + ("sentence",), unfold(per_sentence - per_sentence_null))

    rel = np.full((len(models), len(layers)), np.nan)
    comp = np.full((len(models), len(layers)), "", dtype=object)
    for m, model in enumerate(models):
        da = model_states[model]
        for j, lab in enumerate(np.asarray(da["layer"].values).astype(str).tolist()):
            li = layers.index(lab)
            if "relative_depth" in da.coords:
                rel[m, li] = float(da["relative_depth"].values[j])
            comp[m, li] = str(da["component"].values[j]) if "component" in da.coords else lab.rpartition(".")[0]
    coords = {
        "model": models,
        "layer": layers,
        "subject": subjects,
        "window": [w[0] for w in windows],
        "region": list(regions),
        "metric": metric_names,
        "relative_depth": (("model", "layer"), rel),
        "component": (("model", "layer"), comp.astype(str)),
        "window_start_ms": ("window", [float(w[1]) for w in windows]),
        "window_stop_ms": ("window", [float(w[2]) for w in windows]),
        "n_channels": ("region", [len(c) for c in regions.values()]),
        "family": ("metric", [METRICS[name].family for name in metric_names]),
    }
    if keep_sentences:
        coords["sentence"] = [s["sentence_id"] for s in used]
        coords["n_words"] = ("sentence", [s["n"] for s in used])
    if keep_null:
        coords["permutation"] = np.arange(n_perm)
    config = {
        "windows": [list(w) for w in windows],
        "regions": {k: list(v) for k, v in regions.items()},
        "metrics": metric_names,
        "n_permutations": n_perm,
        "null": null_kind,
        "seed": int(seed),
        "min_words": int(min_words),
        "models": {m: [int(s) for s in model_states[m].shape] for m in models},
        "model_config_hashes": {m: str(model_states[m].attrs.get("config_hash", "")) for m in models},
        "epochs": [int(s) for s in epochs.shape],
        "epochs_dataset": str(epochs.attrs.get("dataset", "")),
    }
    attrs = {
        "config_hash": config_hash(config),
        "hearlike_version": __version__,
        "config": json.dumps(config),
        "n_sentences_used": n_sent,
        "n_sentences_excluded": len(excluded),
        "n_cell_sentences_rejected": int((~valid_all).sum()),
        "excluded_sentences": ",".join(excluded),
        "n_words_unmatched": int(n_unmatched),
        "n_permutations": n_perm,
        "null": null_kind,
        "seed": int(seed),
        "min_words": int(min_words),
        "permuted_side": json.dumps(permuted_side),
        "sentence_lengths": json.dumps({str(n): len(idx) for n, idx in sorted(buckets.items())}),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def eeg_rdms(
    epochs: xr.DataArray,
    *,
    windows: Sequence[tuple[str, float, float]],
    regions: Mapping[str, Sequence[str]],
    min_words: int = 3,
    dtype: torch.dtype = torch.float64,
) -> xr.DataArray:
    """Per-sentence correlation-distance RDMs of every EEG cell (for the RSA noise ceiling).

    Parameters
    ----------
    epochs, windows, regions, min_words
        As in :func:`compute_grid` (same cells, same sentences, same word order).
    dtype : torch.dtype
        Working precision.

    Returns
    -------
    DataArray, shape (n_subjects, n_windows, n_regions, n_sentences, n_pairs)
        Upper triangles (row-major) of each sentence's RDM; ``n_pairs`` is that of the longest
        sentence and shorter sentences are NaN-padded. Feed to :func:`hearlike.stats.noise_ceiling`.
    """
    probe = xr.DataArray(
        np.zeros((1, epochs.sizes["word"], 1)), dims=("layer", "word", "feature"),
        coords={k: v for k, v in epochs.coords.items() if v.dims == ("word",)},
    )
    _check_inputs({"_": probe}, epochs, windows, regions, [], min_words, 0)
    epochs = epochs.transpose("subject", "word", "channel", "time")
    used, _, _ = _align({"_": probe}, epochs, min_words)
    channel_names = np.asarray(epochs["channel"].values).astype(str).tolist()
    times_ms = np.asarray(epochs["time"].values, dtype=np.float64) * 1000.0
    n_max = max(s["n"] for s in used)
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, sent in enumerate(used):
        buckets[sent["n"]].append(i)
    n_pairs = n_max * (n_max - 1) // 2
    values = np.asarray(epochs.values)
    out = np.full((epochs.sizes["subject"], len(windows), len(regions), len(used), n_pairs), np.nan)
    for w, (_, start, stop) in enumerate(windows):
        tt = np.nonzero((times_ms >= start - 1e-6) & (times_ms < stop - 1e-6))[0]
        for r, chans in enumerate(regions.values()):
            ch = np.array([channel_names.index(c) for c in chans])
            sub = values[:, :, ch][:, :, :, tt]
            for n, idx in buckets.items():
                pos = np.stack([used[i]["epochs"] for i in idx]).reshape(-1)
                x = torch.as_tensor(sub[:, pos].reshape(sub.shape[0], len(idx), n, -1), dtype=dtype)
                upper = _correlation_rdm_upper(x).numpy()  # (subject, S_n, pairs)
                out[:, w, r, np.array(idx), : upper.shape[-1]] = upper
    return xr.DataArray(
        out,
        dims=("subject", "window", "region", "sentence", "pair"),
        coords={
            "subject": epochs["subject"].values,
            "window": [w[0] for w in windows],
            "region": list(regions),
            "sentence": [s["sentence_id"] for s in used],
            "n_words": ("sentence", [s["n"] for s in used]),
        },
        name="rdm",
        attrs={"dissimilarity": "correlation distance (1 - Pearson r)"},
    )


def save_grid(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a grid to netCDF (h5netcdf) atomically: a temp file renamed into place."""
    return write_netcdf(ds, path, config_hash=ds.attrs.get("config_hash"))


def load_grid(path: str | Path, *, config_hash: str | None = None) -> xr.Dataset:
    """Read a grid written by :func:`save_grid`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or is unreadable, or was made with another ``config_hash``.
    """
    ds = read_netcdf(path, config_hash=config_hash)
    if ds is None:
        raise FileNotFoundError(
            f"{path}: no readable metric grid"
            + (f" made with config_hash={config_hash!r}" if config_hash else "")
            + "; recompute it with hearlike.grid.compute_grid"
        )
    return ds
