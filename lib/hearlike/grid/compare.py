"""Comparisons of prepared representations: all layers × all cells × all sentences of a bucket."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..metrics import Metric


@dataclass
class Scored:
    """One metric × one model in one length bucket: the reps compared and which comparisons count.

    Attributes
    ----------
    metric_index, model_index : int
        Positions in the grid's ``metric`` and ``model`` dims.
    metric : Metric
    layers : list of int
        Positions of the model's layers in the grid's ``layer`` dim.
    model_rep : Tensor, shape (n_layers, n_sentences, n, r)
    eeg_rep : Tensor or None, shape (n_cells_k, n_sentences, n, r)
        Only the cells the metric is computed over (``cells``).
    cells : ndarray of int, shape (n_cells_k,)
        Positions of those cells in the grid's flattened (subject, window, region) cells.
    pairs : ndarray of int, shape (n_pairs_k,)
        Their (window, region) positions, window-major (``cells`` is subject-major over them).
    valid : Tensor of bool, shape (n_cells_k, n_sentences)
        No rejected (NaN) epoch in the cell.
    ok : Tensor of bool, shape (n_layers, n_cells_k, n_sentences) or (n_cells_k, n_sentences)
        ``valid`` and a finite observed score: the comparisons in the means (scores and nulls);
        ``valid`` itself when every valid comparison has a finite score.
    """

    metric_index: int
    model_index: int
    metric: Metric
    layers: list
    model_rep: torch.Tensor
    eeg_rep: torch.Tensor | None
    cells: np.ndarray
    pairs: np.ndarray
    valid: torch.Tensor
    ok: torch.Tensor | None = None


def compare_all(metric: Metric, a: torch.Tensor, b: torch.Tensor, *, chunk: int) -> torch.Tensor:
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


def observed_scores(scored: Scored, *, chunk: int) -> torch.Tensor:
    """Per-sentence observed scores ``(L, C_k, S)``; sets ``scored.ok``.

    A comparison counts when the cell has no rejected epoch in the sentence and the score is
    finite (a sentence whose EEG or states do not vary over its words has no defined score).
    """
    observed = compare_all(scored.metric, scored.model_rep, scored.eeg_rep, chunk=chunk)
    ok = scored.valid & torch.isfinite(observed)
    # the (C, S) mask itself where it says it all: same tensor layouts, so the same summation order
    scored.ok = scored.valid if bool(torch.equal(ok, scored.valid.expand_as(ok))) else ok
    return observed
