"""The ``shift`` null's machinery: surrogate epochs -> Gram matrices -> prepared reps -> null scores.

Surrogate epochs are cut at each sentence's own word onsets moved, as a block, to another
sentence's place in the same recording (:mod:`hearlike.eeg.surrogates`). Every metric reads the
EEG only through Gram matrices and word means, so each cell's Gram is built once per surrogate
batch and reduced to :func:`sufficient_features`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .compare import Scored, compare_all


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


def shift_plan(cells, n_channels: int, *, dtype, device) -> dict:
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


def _take_channels(cut: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``cut[..., index]``: a gather along the last (channel) axis; on a CPU through NumPy's ``take``,
    about 10x faster than torch's ``index_select`` on the last axis (the same values)."""
    if cut.device.type != "cpu":
        return cut.index_select(-1, index.to(cut.device))
    return torch.from_numpy(np.take(cut.numpy(), index.numpy(), axis=-1))


def _surrogate_features(cut, cells, plan, *, has_nan: bool, dtype, device) -> torch.Tensor:
    """Sufficient features ``(subject·k, W·R, S, n, n + 1)`` of every cell of a batch of surrogates.

    ``cut (subject·k, S, n, time, channel)`` holds the surrogate epochs, channels in ``plan["order"]``.
    Each cell's Gram matrix is computed once -- from the region's contiguous channel slice, or,
    when many regions overlap, as per-channel Grams summed into regions (:func:`shift_plan`).
    """
    features = [None] * len(cells)
    membership = plan["membership"]
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
            xr_ = cut[..., block[0] : block[1]] if isinstance(block, tuple) else _take_channels(cut, block)
            for c in members:
                tt = cells[c][1]
                x = xr_[:, :, :, tt[0] : tt[-1] + 1] if len(tt) else xr_[:, :, :, :0]
                x = x.reshape(*x.shape[:3], -1).to(device=device)  # (subject·k, S, n, time·channel)
                x = torch.nan_to_num(x, nan=0.0) if has_nan else x  # rejected in the real cell: masked
                gram = (x @ x.transpose(-1, -2)).to(dtype)
                features[c] = sufficient_features(gram, x.sum(dim=-1).to(dtype), x.shape[-1])
    return torch.stack(features, dim=1)


def shift_null_bucket(surrogates, scored: Sequence[Scored], plans: dict, epoch_pos, *, n_perm, n_subjects, dtype,
                      device, chunk):
    """Null scores of one bucket under the timing-preserving surrogates (``null_kind="shift"``).

    Surrogate epochs (channels in the surrogates' order) are cut for a few surrogates at a time,
    reduced to sufficient features per cell (:func:`_surrogate_features`), prepared once per
    metric over the metric's cells and compared with every model's prepared layers.

    Parameters
    ----------
    scored : sequence of Scored
        Every (metric, model) of the bucket, with ``ok`` set (their ``eeg_rep`` is not read).
    plans : dict
        ``{tuple of (window, region) positions: (their cells, their shift_plan, channel index or
        None)}`` for every set of cells a metric is computed over; the channel index reorders the
        cut surrogates' channels into that plan's order.

    Returns
    -------
    null : dict (metric index, model index) -> Tensor (P, L, C_k)
        Sentence sums of the null scores (comparisons not in the observed mean left out).
    sentence_null : dict (metric index, model index) -> Tensor (L, C_k, S)
        Per-sentence null means.
    """
    n_sent, n = epoch_pos.shape
    words = epoch_pos.reshape(-1)
    per_surrogate = n_subjects * len(words) * surrogates.n_channels * len(surrogates.offsets)
    step = int(max(1, min(n_perm, 4 * chunk // max(1, per_surrogate))))  # surrogate epochs <= 4·chunk floats
    by_metric: dict[int, list[Scored]] = {}
    for s in scored:
        by_metric.setdefault(s.metric_index, []).append(s)
    sums = {(s.metric_index, s.model_index): [] for s in scored}
    sentence_null = {key: 0.0 for key in sums}
    has_nan = bool((surrogates.onset_sample[:, words] < 0).any())
    for p0 in range(0, n_perm, step):
        p1 = min(n_perm, p0 + step)
        cut = torch.as_tensor(surrogates.cut(slice(p0, p1), words))  # (subject, k, S·n, time, channel)
        cut = cut.reshape(-1, n_sent, n, *cut.shape[3:])  # (subject·k, S, n, time, channel)
        features = {}
        for group in by_metric.values():
            metric, key = group[0].metric, tuple(int(j) for j in group[0].pairs)
            if key not in features:
                cells, plan, channels = plans[key]
                features[key] = _surrogate_features(cut if channels is None else _take_channels(cut, channels), cells,
                                                    plan, has_nan=has_nan, dtype=dtype, device=device)
            reps = metric.prepare(features[key])
            reps = reps.reshape(n_subjects, p1 - p0, *reps.shape[1:]).transpose(0, 1)  # (k, subject, W·R, S, n, r)
            reps = reps.reshape(p1 - p0, -1, *reps.shape[3:])  # (k, C_k, S, n, r), subject-major
            for s in group:
                scores = torch.where(s.ok, compare_all(metric, s.model_rep, reps, chunk=chunk), 0.0)  # (k, L, C, S)
                key = (s.metric_index, s.model_index)
                sums[key].append(scores.sum(dim=-1))
                sentence_null[key] = sentence_null[key] + scores.sum(dim=0)
    null = {key: torch.cat(parts, dim=0) for key, parts in sums.items()}
    return null, {key: value / n_perm for key, value in sentence_null.items()}
