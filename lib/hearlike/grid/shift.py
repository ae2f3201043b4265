"""The ``shift`` null's machinery: surrogate epochs -> Gram matrices -> word geometry -> prepared reps -> null scores.

Surrogate epochs are cut at each sentence's own word onsets moved, as a block, to another
sentence's place in the same recording (:mod:`hearlike.eeg.surrogates`). Every metric reads the
EEG only through its word geometry, a function of the Gram matrix and the words' feature sums
(:func:`hearlike.geometry.geometry_from_gram`), so each cell's Gram is built once per surrogate
batch, its geometry once, and every metric is prepared from it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..eeg.surrogates import cut_buffer
from ..geometry import WordGeometry, geometry_from_gram
from .compare import Scored, compare_all


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


def _channel_bounds(plan: dict, n_channels: int) -> list[int] | None:
    """The channel boundaries of every region of a plan whose regions are all contiguous slices
    (``[0, ..., n_channels]``; each region is then a run of whole blocks); None when a region is not
    a slice, or when there is one block only (the plain layout is then the same).

    A cut laid out block by block (:meth:`hearlike.eeg.SurrogateEpochs.cut` with ``blocks``) has
    every block × window as a view; each cell's Gram is the sum of its blocks' Grams.
    """
    if plan["membership"] is not None or not all(isinstance(key, tuple) for key in plan["blocks"]):
        return None
    bounds = sorted({0, n_channels}.union(*(key for key in plan["blocks"])))
    return bounds if len(bounds) > 2 else None


def _gram_and_sums(x: torch.Tensor, *, has_nan: bool, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x xᵀ, x 1)`` of features ``x (..., n, f)`` in ``dtype``, the product in ``x``'s own dtype; NaN
    features (rejected epochs, masked in the real cell) count as zeros."""
    x = torch.nan_to_num(x, nan=0.0) if has_nan else x
    return (x @ x.transpose(-1, -2)).to(dtype), x.sum(dim=-1).to(dtype)


def _blocked_geometry(cut, cells, plan, bounds, n_times, *, has_nan, needs, dtype, device) -> list[WordGeometry]:
    """Each cell's word geometry (leading dims ``(subject·k, S)``) from a cut laid out block by block.

    ``cut (subject·k, S, n, n_times · n_channels)`` (:meth:`hearlike.eeg.SurrogateEpochs.cut` with
    ``blocks=bounds``). Per window, each block's Gram matrix and feature sums come from a view of
    the cut (no copy), once, in float32 (as the plain layout's per-cell Grams), then in ``dtype``;
    a cell sums those of its region's blocks (the all-channel region reuses every block's).
    """
    per_cell = [None] * len(cells)
    region_of = {c: key for key, members in plan["blocks"].items() for c in members}
    by_window: dict[tuple, list[int]] = {}
    for c, (_, tt) in enumerate(cells):
        by_window.setdefault((int(tt[0]), int(tt[-1]) + 1) if len(tt) else (0, 0), []).append(c)
    for (t0, t1), members in by_window.items():
        parts = {}  # block start -> (gram, sums) of this window

        def block(c0, c1):
            if c0 not in parts:
                width = c1 - c0
                x = cut[..., n_times * c0 + t0 * width : n_times * c0 + t1 * width].to(device=device)
                parts[c0] = _gram_and_sums(x, has_nan=has_nan, dtype=dtype)
            return parts[c0]

        for c in members:
            r0, r1 = region_of[c]
            grams, sums = zip(*(block(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if r0 <= a and b <= r1))
            per_cell[c] = geometry_from_gram(sum(grams[1:], grams[0]), sum(sums[1:], sums[0]), (r1 - r0) * (t1 - t0),
                                             needs=needs)
    return per_cell


def _flat_features(x: torch.Tensor) -> torch.Tensor:
    """``(..., n, time, channel) -> (..., n, time·channel)``: a view where the window's samples are
    contiguous (every channel), else one copy -- on a CPU NumPy's, ~1.4x faster than torch's for a
    region's short runs of channels."""
    try:
        return x.view(*x.shape[:-2], -1)
    except RuntimeError:
        if x.device.type != "cpu":
            return x.reshape(*x.shape[:-2], -1)
        return torch.from_numpy(np.ascontiguousarray(x.numpy())).view(*x.shape[:-2], -1)


def _surrogate_geometry(cut, cells, plan, *, has_nan: bool, needs, dtype, device, bounds=None,
                        n_times: int | None = None) -> WordGeometry:
    """The word geometry, leading dims ``(subject·k, W·R, S)``, of every cell of a batch of surrogates.

    ``cut (subject·k, S, n, time, channel)`` holds the surrogate epochs, channels in ``plan["order"]``.
    Each cell's Gram matrix is computed once -- from the region's contiguous channel slice, or,
    when many regions overlap, as per-channel Grams summed into regions (:func:`shift_plan`) --
    and its geometry from it (:func:`hearlike.geometry.geometry_from_gram`). With ``bounds``
    (:func:`_channel_bounds`), ``cut (subject·k, S, n, n_times · channel)`` is laid out block by
    block and the Grams are sums of blocks' (:func:`_blocked_geometry`).
    """
    per_cell = [None] * len(cells)  # each with leading dims (subject·k, S)
    membership = plan["membership"]
    if bounds is not None:
        per_cell = _blocked_geometry(cut, cells, plan, bounds, n_times, has_nan=has_nan, needs=needs, dtype=dtype,
                                     device=device)
    elif membership is not None:  # many overlapping regions: per-channel Grams, summed into regions
        for key, members in plan["by_window"].items():
            x = cut[:, :, :, key[0] : key[1] + 1].to(device=device)  # (subject·k, S, n, time, channel)
            x = torch.nan_to_num(x, nan=0.0) if has_nan else x
            x = x.permute(0, 1, 4, 2, 3).contiguous()  # (subject·k, S, channel, n, time)
            grams = torch.einsum("bscij,rc->bsrij", (x @ x.transpose(-1, -2)).to(dtype), membership)
            sums_r = torch.einsum("bsci,rc->bsri", x.sum(dim=-1).to(dtype), membership)
            width = membership.sum(dim=1) * (key[1] - key[0] + 1)  # features per region
            regions = geometry_from_gram(grams, sums_r, width[:, None], needs=needs)  # leading (subject·k, S, R)
            for c in members:
                per_cell[c] = regions.map(lambda t, r=plan["region_index"][c]: t.select(2, r))
    else:  # each region's channels once, then its windows
        for block, members in plan["blocks"].items():
            xr_ = cut[..., block[0] : block[1]] if isinstance(block, tuple) else _take_channels(cut, block)
            for c in members:
                tt = cells[c][1]
                x = xr_[:, :, :, tt[0] : tt[-1] + 1] if len(tt) else xr_[:, :, :, :0]
                x = _flat_features(x).to(device=device)  # (subject·k, S, n, time·channel)
                gram, sums = _gram_and_sums(x, has_nan=has_nan, dtype=dtype)
                per_cell[c] = geometry_from_gram(gram, sums, x.shape[-1], needs=needs)
    return WordGeometry.cat([g.map(lambda t: t.unsqueeze(1)) for g in per_cell], dim=1)


def _workspace(held: dict | None, size: int) -> np.ndarray:
    """A float32 buffer of at least ``size`` values for the surrogates' cut
    (:func:`hearlike.eeg.surrogates.cut_buffer`); ``held`` (a dict, or None for a new buffer each
    call) keeps it between calls, grown when too small, so its pages are faulted in once per grid."""
    buffer = None if held is None else held.get("buffer")
    if buffer is None or buffer.size < size:
        buffer = cut_buffer(size)
        if held is not None:
            held["buffer"] = buffer
    return buffer


def shift_null_bucket(surrogates, scored: Sequence[Scored], plans: dict, epoch_pos, *, n_perm, n_subjects, dtype,
                      device, chunk, workspace: dict | None = None):
    """Null scores of one bucket under the timing-preserving surrogates (``null_kind="shift"``).

    Surrogate epochs (channels in the surrogates' order) are cut for a few surrogates at a time,
    reduced to one word geometry per cell (:func:`_surrogate_geometry`), prepared once per
    metric over the metric's cells and compared with every model's prepared layers.

    Parameters
    ----------
    scored : sequence of Scored
        Every (metric, model) of the bucket, with ``ok`` set (their ``eeg_rep`` is not read).
    plans : dict
        ``{tuple of (window, region) positions: (their cells, their shift_plan, channel index or
        None)}`` for every set of cells a metric is computed over; the channel index reorders the
        cut surrogates' channels into that plan's order. The plan of every cell comes first: when a
        metric needs it, the other sets' geometries are selected from its geometry.
    workspace : dict, optional
        Keeps the buffer the surrogates are cut into between calls (:func:`_workspace`).

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
    needs: dict[tuple, set] = {}  # per set of cells: the geometry parts its metrics read
    for s in scored:
        by_metric.setdefault(s.metric_index, []).append(s)
        needs.setdefault(tuple(int(j) for j in s.pairs), set()).update(s.metric.needs)
    sums = {(s.metric_index, s.model_index): [] for s in scored}
    sentence_null = {key: 0.0 for key in sums}
    has_nan = bool((surrogates.onset_sample[:, words] < 0).any())
    full = max(plans, key=len)  # every cell of the grid, in the surrogates' channel order
    all_needs = set().union(*needs.values())
    # the cut laid out by channel block when only the whole grid's plan reads it (the others select from it)
    bounds = _channel_bounds(plans[full][1], surrogates.n_channels) if full in needs else None
    n_times = len(surrogates.offsets)
    buffer = _workspace(workspace, step * per_surrogate)  # one buffer for every batch's cut
    for p0 in range(0, n_perm, step):
        p1 = min(n_perm, p0 + step)
        # (subject, k, S·n, time, channel), or (subject, k, S·n, time · channel) block by block
        cut = torch.as_tensor(surrogates.cut(slice(p0, p1), words, workspace=buffer, blocks=bounds))
        cut = cut.reshape(-1, n_sent, n, *cut.shape[3:])  # (subject·k, S, n, time, channel)
        geometry = {}

        def geometry_of(key):
            if key not in geometry:
                if key != full and full in needs:  # a subset of every cell: selected, not recomputed
                    geometry[key] = geometry_of(full).select(torch.as_tensor(key, device=device), dim=1)
                else:
                    cells, plan, channels = plans[key]
                    geometry[key] = _surrogate_geometry(
                        cut if channels is None else _take_channels(cut, channels), cells, plan, has_nan=has_nan,
                        needs=all_needs if key == full else needs[key], dtype=dtype, device=device,
                        bounds=bounds if key == full else None, n_times=n_times)
            return geometry[key]

        for group in by_metric.values():
            metric, key = group[0].metric, tuple(int(j) for j in group[0].pairs)
            reps = metric.prepare_geometry(geometry_of(key))
            reps = reps.reshape(n_subjects, p1 - p0, *reps.shape[1:]).transpose(0, 1)  # (k, subject, W·R, S, n, r)
            reps = reps.reshape(p1 - p0, -1, *reps.shape[3:])  # (k, C_k, S, n, r), subject-major
            for s in group:
                scores = torch.where(s.ok, compare_all(metric, s.model_rep, reps, chunk=chunk), 0.0)  # (k, L, C, S)
                key = (s.metric_index, s.model_index)
                sums[key].append(scores.sum(dim=-1))
                sentence_null[key] = sentence_null[key] + scores.sum(dim=0)
    null = {key: torch.cat(parts, dim=0) for key, parts in sums.items()}
    return null, {key: value / n_perm for key, value in sentence_null.items()}
