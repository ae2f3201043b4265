"""Similarity metrics between two sets of word representations, as batched torch functions.

Every metric compares ``x`` of shape ``(..., n_words, n_features_x)`` with ``y`` of shape
``(..., n_words, n_features_y)`` -- the same ``n_words`` words (rows) described in two spaces, e.g. a
model layer's hidden states and the EEG patterns they evoked -- and returns a tensor of shape
``(...)`` (leading dims broadcast). The same code runs on CPU and GPU and in float32 or float64.

Design: prepare once, compare many times
-----------------------------------------
Each metric is split into ``prepare(x) -> rep`` and ``compare(rep_x, rep_y) -> score``. ``rep``
only depends on one side and is small (``n_words x n_words`` at most), so a grid computes it once
per model layer and once per EEG cell and compares all pairs afterwards. Two kinds exist:

``"gram"``
    ``rep`` is an ``(..., n, n)`` matrix normalised so that ``compare = post(sum(rep_x * rep_y))``
    (a Frobenius inner product): RSA (z-scored upper-triangle RDM, ranked for Spearman), linear and
    RBF CKA (centred, normalised Gram), debiased CKA (U-centred Gram), dCor (double-centred distance
    matrix), debiased dCor (U-centred distance matrix), mutual kNN (neighbour indicator) and raw
    HSIC. A whole grid of such comparisons is one ``einsum``.
``"factor"``
    ``rep`` is an ``(..., n, r)`` factor and ``compare`` needs the singular values of the small
    ``r x r`` matrix ``rep_xᵀ rep_y`` (orthogonal Procrustes, SVCCA).

Permuting the words of one side permutes the rows (and, for ``"gram"``, the columns) of its
``rep``, so permutation nulls never recompute a representation.

Ragged sentences
----------------
The metrics take equal-length batches and have no ``mask``: ragged input is handled by bucketing
sentences of equal length (:mod:`hearlike.grid` does this), which keeps every metric exact (ranks,
medians, nearest neighbours and decompositions would all need masked variants otherwise).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor

from .geometry import (GEOMETRY_PARTS, WordGeometry, _average_ranks, _correlation_rdm_upper, _double_centre,  # noqa: F401
                       _gram, _squared_distances, _symmetric_from_upper, _u_centre, _unit, word_geometry)

logger = logging.getLogger(__name__)

__all__ = [
    "METRICS",
    "Metric",
    "get_metric",
    "spearman_rsa",
    "pearson_rsa",
    "procrustes",
    "mutual_knn",
    "linear_cka",
    "rbf_cka",
    "dcor",
    "svcca",
    "cka_debiased",
    "dcor_debiased",
    "hsic",
    "permute_rep",
    "WordGeometry",
    "word_geometry",
]


# --------------------------------------------------------------------------------------------
# prepare functions: WordGeometry -> rep (``prepare_*(x)`` wraps each: x -> geometry -> rep)
# --------------------------------------------------------------------------------------------


def _zscore_unit(v: Tensor) -> Tensor:
    v = v - v.mean(dim=-1, keepdim=True)
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


def _snap(v: Tensor) -> Tensor:
    """Round RDM entries to 1e-10 (float64) or 1e-6 (float32) so exact ties stay ties.

    Matrix products may give two mathematically equal distances different last bits; without
    snapping, duplicated words would get distinct ranks instead of the average rank.
    """
    scale = 1e10 if v.dtype == torch.float64 else 1e6
    return torch.round(v * scale) / scale


def _pearson_rsa(g: WordGeometry) -> Tensor:
    return _symmetric_from_upper(_zscore_unit(g.correlation), g.n_words)


def _spearman_rsa(g: WordGeometry) -> Tensor:
    return _symmetric_from_upper(_zscore_unit(_average_ranks(_snap(g.correlation))), g.n_words)


def _linear_cka(g: WordGeometry) -> Tensor:
    return _unit(g.gram)


def _rbf_cka(g: WordGeometry) -> Tensor:
    n = g.n_words
    d2 = _squared_distances(g.gram)
    iu = torch.triu_indices(n, n, offset=1, device=d2.device)
    sigma2 = torch.quantile(d2[..., iu[0], iu[1]], 0.5, dim=-1)
    kernel = torch.exp(-d2 / (2 * sigma2.unsqueeze(-1).unsqueeze(-1)))
    return _unit(_double_centre(kernel))


def _cka_debiased(g: WordGeometry) -> Tensor:
    return _unit(_u_centre(g.gram))


def _hsic(g: WordGeometry) -> Tensor:
    return g.gram / (g.n_words - 1)


def _dcor(g: WordGeometry) -> Tensor:
    return _unit(_double_centre(_squared_distances(g.gram).sqrt()))


def _dcor_debiased(g: WordGeometry) -> Tensor:
    return _unit(_u_centre(_squared_distances(g.gram).sqrt()))


def _mutual_knn(g: WordGeometry, *, k: int = 3) -> Tensor:
    n = g.n_words
    k = min(int(k), n - 1)
    d2 = _squared_distances(g.gram)
    eye = torch.eye(n, dtype=torch.bool, device=d2.device)
    d2 = d2.masked_fill(eye, math.inf)
    idx = torch.topk(d2, k, dim=-1, largest=False).indices
    ind = torch.zeros_like(d2).scatter_(-1, idx, 1.0)
    return ind / math.sqrt(n * k)


def _gram_sqrt(g: WordGeometry) -> tuple[Tensor, Tensor]:
    """Eigendecomposition of the centred Gram (float64), eigenvalues descending; NaN where the words
    do not vary (centred energy below round-off of the raw energy: no geometry to compare)."""
    gram = g.gram.to(torch.float64)
    flat = (gram.diagonal(dim1=-2, dim2=-1).sum(-1) <= torch.finfo(g.dtype).eps * g.energy)
    evals, evecs = torch.linalg.eigh(torch.where(flat[..., None, None], 0.0, gram))
    evals = torch.where(flat[..., None], math.nan, evals)
    return evals.flip(-1).clamp_min(0), evecs.flip(-1)


def _procrustes(g: WordGeometry) -> Tensor:
    evals, evecs = _gram_sqrt(g)
    evals = evals / evals.sum(dim=-1, keepdim=True)  # trace(G) = |Xc|_F² -> Frobenius normalised
    return (evecs * evals.sqrt().unsqueeze(-2)).to(g.dtype)


def _svcca(g: WordGeometry, *, variance: float = 0.99) -> Tensor:
    n = g.n_words
    kmax = max((n - 1) // 2, 1)
    evals, evecs = _gram_sqrt(g)
    frac = evals.cumsum(dim=-1) / evals.sum(dim=-1, keepdim=True)
    # number of components to reach `variance` (1-based), tolerant to round-off at exactly 0.99
    k = (frac < variance - 1e-12).sum(dim=-1) + 1
    k = k.clamp(1, kmax)
    keep = torch.arange(kmax, device=evals.device) < k.unsqueeze(-1)
    flat = torch.isnan(evals[..., :1]).unsqueeze(-1)  # words that do not vary: NaN
    return torch.where(flat, math.nan, evecs[..., :kmax] * keep.unsqueeze(-2)).to(g.dtype)


#: what each geometry-based prepare reads (:data:`GEOMETRY_PARTS`)
_NEEDS = {_pearson_rsa: ("correlation",), _spearman_rsa: ("correlation",), _procrustes: ("gram", "energy"),
          _svcca: ("gram", "energy")}


def _of_x(prepare_geometry, **options) -> Callable[[Tensor], Tensor]:
    needs = _NEEDS.get(prepare_geometry, ("gram",))
    return lambda x: prepare_geometry(word_geometry(x, needs=needs), **options)


def prepare_pearson_rsa(x: Tensor) -> Tensor:
    """Centred, unit-norm correlation-distance RDM as a symmetric ``(..., n, n)`` matrix."""
    return _of_x(_pearson_rsa)(x)


def prepare_spearman_rsa(x: Tensor) -> Tensor:
    """As :func:`prepare_pearson_rsa` on the (average-tie) ranks of the RDM's upper triangle."""
    return _of_x(_spearman_rsa)(x)


def prepare_linear_cka(x: Tensor) -> Tensor:
    """Centred linear Gram ``H X Xᵀ H`` with unit Frobenius norm, ``(..., n, n)``."""
    return _of_x(_linear_cka)(x)


def prepare_rbf_cka(x: Tensor) -> Tensor:
    """Centred RBF Gram with unit Frobenius norm.

    Bandwidth by the median heuristic: ``k(a, b) = exp(-|a - b|² / (2 σ²))`` with ``σ²`` the median
    squared distance between distinct words of the same sentence (numpy-style median).
    """
    return _of_x(_rbf_cka)(x)


def prepare_cka_debiased(x: Tensor) -> Tensor:
    """U-centred linear Gram with unit Frobenius norm (unbiased HSIC, Song et al. 2012)."""
    return _of_x(_cka_debiased)(x)


def prepare_hsic(x: Tensor) -> Tensor:
    """Centred linear Gram divided by ``n - 1`` (so the inner product is biased HSIC)."""
    return _of_x(_hsic)(x)


def prepare_dcor(x: Tensor) -> Tensor:
    """Double-centred Euclidean distance matrix with unit Frobenius norm."""
    return _of_x(_dcor)(x)


def prepare_dcor_debiased(x: Tensor) -> Tensor:
    """U-centred Euclidean distance matrix with unit Frobenius norm."""
    return _of_x(_dcor_debiased)(x)


def prepare_mutual_knn(x: Tensor, *, k: int = 3) -> Tensor:
    """k-nearest-neighbour indicator ``I[i, j] = j in kNN(i)`` divided by ``sqrt(n k)``.

    Neighbours by Euclidean distance, a word is not its own neighbour, ``k`` is capped at
    ``n - 1``. The inner product of two such matrices is the mean neighbour-set overlap.
    """
    return _of_x(_mutual_knn, k=k)(x)


def prepare_procrustes(x: Tensor) -> Tensor:
    """An ``(..., n, n)`` square root ``L`` of the centred, Frobenius-normalised Gram (``L Lᵀ = G``).

    The singular values of ``Xᵀ Y`` (``d x p``) equal those of ``L_xᵀ L_y`` (``n x n``), so the
    nuclear norm never touches the feature dimension again.
    """
    return _of_x(_procrustes)(x)


def prepare_svcca(x: Tensor, *, variance: float = 0.99) -> Tensor:
    """Left singular vectors of the centred data kept by SVCCA, ``(..., n, ⌊(n-1)/2⌋)``.

    Keeps the fewest leading components explaining ``variance`` of the variance, but at most
    ``⌊(n-1)/2⌋`` (and at least one); dropped columns are zero. Why the cap: centred data of ``n``
    words spans at most ``n - 1`` dimensions, and two subspaces of dimensions ``k_x + k_y > n - 1``
    inside it must share ``k_x + k_y - (n - 1)`` directions, each a canonical correlation of exactly
    1 whatever the data -- with ``n - 1`` dims kept on both sides every correlation is trivially 1.
    With ``k <= ⌊(n-1)/2⌋`` on both sides ``k_x + k_y <= n - 1`` and nothing is forced.
    """
    return _of_x(_svcca, variance=variance)(x)


# --------------------------------------------------------------------------------------------
# compare functions
# --------------------------------------------------------------------------------------------


def _inner(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    return (rep_x * rep_y).sum(dim=(-1, -2))


def _sqrt_clamped(v: Tensor) -> Tensor:
    return v.clamp_min(0).sqrt()


def _nuclear(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    """Nuclear norm of ``rep_xᵀ rep_y``: the sum of square roots of the eigenvalues of ``MᵀM``
    (a symmetric eigensolver is ~1.4× faster than an SVD for these small matrices; float64)."""
    m = (rep_x.transpose(-1, -2) @ rep_y).to(torch.float64)
    gram = m.transpose(-1, -2) @ m
    # NaN reps (rejected or flat sentences): NaN; tested on the (smaller) reps, not on every product
    bad = ~torch.isfinite(rep_x).flatten(-2).all(-1) | ~torch.isfinite(rep_y).flatten(-2).all(-1)
    if not bool(bad.any()):
        return torch.linalg.eigvalsh(gram).clamp_min(0).sqrt().sum(dim=-1).to(rep_x.dtype)
    bad = bad.expand(gram.shape[:-2])
    nuclear = torch.linalg.eigvalsh(torch.where(bad[..., None, None], 0.0, gram)).clamp_min(0).sqrt().sum(dim=-1)
    return torch.where(bad, math.nan, nuclear).to(rep_x.dtype)


def compare_procrustes(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    """Nuclear norm of ``L_xᵀ L_y`` = orthogonal Procrustes similarity in ``[0, 1]``."""
    return _nuclear(rep_x, rep_y)


def compare_svcca(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    """Mean canonical correlation between the kept subspaces (``min(k_x, k_y)`` of them)."""
    kx = (rep_x.square().sum(dim=-2) > 0.5).sum(dim=-1)
    ky = (rep_y.square().sum(dim=-2) > 0.5).sum(dim=-1)
    return _nuclear(rep_x, rep_y) / torch.minimum(kx, ky).to(rep_x.dtype)


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A similarity metric split into ``prepare`` (one side) and ``compare`` (two reps).

    Attributes
    ----------
    name : str
        Registry key.
    family : {"geometric", "covariance"}
        Geometric metrics compare word-to-word geometry (RDMs, neighbours, rotations); covariance
        metrics compare (kernel) covariance structure.
    range : tuple of float
        Values the score can take.
    reference : str
        Where the definition comes from.
    kind : {"gram", "factor"}
        ``"gram"``: ``compare(a, b) = post(sum(a * b, (-1, -2)))``; ``"factor"``: needs an SVD.
    prepare : callable
        ``(..., n, d) -> rep``.
    compare : callable
        ``(rep_x, rep_y) -> (...)`` with broadcasting.
    post : callable or None
        For ``"gram"`` metrics, the map applied to the inner product (``None`` = identity).
    min_words : int
        Smallest sentence length for which the metric is defined.
    prepare_geometry : callable
        ``WordGeometry -> rep``: ``prepare`` from a :class:`WordGeometry` shared by all metrics.
    needs : tuple of str
        The parts of the :class:`WordGeometry` that ``prepare_geometry`` reads.
    """

    name: str
    family: Literal["geometric", "covariance"]
    range: tuple[float, float]
    reference: str
    kind: Literal["gram", "factor"]
    prepare: Callable[[Tensor], Tensor] = field(repr=False)
    compare: Callable[[Tensor, Tensor], Tensor] = field(repr=False)
    post: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)
    min_words: int = 3
    prepare_geometry: Callable[[WordGeometry], Tensor] | None = field(default=None, repr=False)
    needs: tuple[str, ...] = GEOMETRY_PARTS

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Score ``x (..., n, d)`` against ``y (..., n, p)`` -> ``(...)``; NaN where either has a NaN."""
        _check_pair(x, y, self)
        return _nan_where_missing(x, y, lambda a, b: self.compare(self.prepare(a), self.prepare(b)))


def _nan_where_missing(x: Tensor, y: Tensor, score: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``score(x, y)`` with NaN for every batch element whose ``x`` or ``y`` holds a NaN."""
    missing = torch.isnan(x).flatten(-2).any(-1) | torch.isnan(y).flatten(-2).any(-1)
    if not bool(missing.any()):
        return score(x, y)
    out = score(torch.nan_to_num(x, nan=0.0), torch.nan_to_num(y, nan=0.0))
    return torch.where(missing, math.nan, out)


def _gram_compare(post: Callable[[Tensor], Tensor] | None) -> Callable[[Tensor, Tensor], Tensor]:
    if post is None:
        return _inner
    return lambda a, b: post(_inner(a, b))


def _make(name, family, range_, reference, kind, prepare_geometry, *, post=None, compare=None, min_words=3):
    if compare is None:
        compare = _gram_compare(post)
    return Metric(name, family, range_, reference, kind, _of_x(prepare_geometry), compare, post, min_words,
                  prepare_geometry, _NEEDS.get(prepare_geometry, ("gram",)))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        _make("spearman_rsa", "geometric", (-1.0, 1.0),
              "Kriegeskorte et al. 2008, Front. Syst. Neurosci.", "gram", _spearman_rsa),
        _make("pearson_rsa", "geometric", (-1.0, 1.0),
              "Kriegeskorte et al. 2008, Front. Syst. Neurosci.", "gram", _pearson_rsa),
        _make("procrustes", "geometric", (0.0, 1.0),
              "Schönemann 1966; Williams et al. 2021, NeurIPS", "factor", _procrustes,
              compare=compare_procrustes, min_words=2),
        _make("mutual_knn", "geometric", (0.0, 1.0),
              "Huh et al. 2024, ICML (platonic representation)", "gram", _mutual_knn,
              min_words=2),
        _make("linear_cka", "covariance", (0.0, 1.0),
              "Kornblith et al. 2019, ICML", "gram", _linear_cka, min_words=2),
        _make("rbf_cka", "covariance", (0.0, 1.0),
              "Kornblith et al. 2019, ICML", "gram", _rbf_cka),
        _make("dcor", "covariance", (0.0, 1.0),
              "Székely, Rizzo & Bakirov 2007, Ann. Stat.", "gram", _dcor,
              post=_sqrt_clamped, min_words=2),
        _make("svcca", "covariance", (0.0, 1.0),
              "Raghu et al. 2017, NeurIPS", "factor", _svcca, compare=compare_svcca),
        _make("cka_debiased", "covariance", (-1.0, 1.0),
              "Song et al. 2012, JMLR (unbiased HSIC)", "gram", _cka_debiased,
              min_words=4),
        _make("dcor_debiased", "covariance", (-1.0, 1.0),
              "Székely & Rizzo 2014, Ann. Stat. (bias-corrected dCor²)", "gram",
              _dcor_debiased, min_words=4),
        _make("hsic", "covariance", (0.0, math.inf),
              "Gretton et al. 2005, ALT (biased HSIC, linear kernel)", "gram", _hsic,
              min_words=2),
    ]
}


#: the eight metrics of the study (four per family); the others are bias corrections and HSIC
STUDY_METRICS = ("spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn",
                 "linear_cka", "rbf_cka", "dcor", "svcca")


def metrics_table() -> "pandas.DataFrame":
    """The metric registry as a table (what ``hearlike metrics`` prints).

    Columns: ``name``, ``family``, ``range``, ``min_words``, ``study`` (one of the eight main
    metrics, else a bias-corrected or auxiliary one), ``reference``.
    """
    import pandas as pd

    return pd.DataFrame([
        {"name": m.name, "family": m.family, "range": f"[{m.range[0]:g}, {m.range[1]:g}]",
         "min_words": m.min_words, "study": m.name in STUDY_METRICS, "reference": m.reference}
        for m in METRICS.values()
    ])


def get_metric(name: str) -> Metric:
    """Look a metric up by name, with a helpful error."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; choose from {sorted(METRICS)}"
        ) from None


def permute_rep(rep: Tensor, perm: Tensor, *, kind: Literal["gram", "factor"]) -> Tensor:
    """Reorder the words of a prepared representation.

    Parameters
    ----------
    rep : Tensor, shape (..., n, n) or (..., n, r)
        Output of a metric's ``prepare``.
    perm : Tensor of int64, shape (..., n)
        New word order (``rep`` of ``x[perm]``); broadcast against ``rep``'s leading dims.
    kind : {"gram", "factor"}
        The metric's kind: rows and columns (``gram``) or rows only (``factor``) are permuted.
    """
    # numpy's rule (torch.broadcast_shapes imports sympy on first use: ~0.5 s)
    lead = torch.Size(np.broadcast_shapes(tuple(rep.shape[:-2]), tuple(perm.shape[:-1])))
    rep = rep.expand(*lead, *rep.shape[-2:])
    perm = perm.expand(*lead, perm.shape[-1])
    rows = torch.gather(rep, -2, perm.unsqueeze(-1).expand(*lead, perm.shape[-1], rep.shape[-1]))
    if kind == "factor":
        return rows
    return torch.gather(rows, -1, perm.unsqueeze(-2).expand(*lead, rows.shape[-2], perm.shape[-1]))


# --------------------------------------------------------------------------------------------
# public one-call functions
# --------------------------------------------------------------------------------------------


def _check_pair(x: Tensor, y: Tensor, metric: Metric) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(
            f"{metric.name}: x and y must be torch tensors, got {type(x).__name__} and "
            f"{type(y).__name__}; wrap arrays with torch.as_tensor(...)"
        )
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"{metric.name}: x and y need shape (..., n_words, n_features), got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    if x.shape[-2] != y.shape[-2]:
        raise ValueError(
            f"{metric.name}: x has {x.shape[-2]} words but y has {y.shape[-2]}; both sides must "
            "describe the same words in the same order"
        )
    if x.shape[-2] < metric.min_words:
        raise ValueError(
            f"{metric.name}: needs >= {metric.min_words} words per sentence, got {x.shape[-2]}"
        )


def spearman_rsa(x: Tensor, y: Tensor) -> Tensor:
    """Spearman correlation between the upper triangles of correlation-distance RDMs.

    Parameters
    ----------
    x : Tensor, shape (..., n_words, n_features_x)
    y : Tensor, shape (..., n_words, n_features_y)

    Returns
    -------
    Tensor, shape (...)
        In ``[-1, 1]``; ties in the RDMs get average ranks.
    """
    return METRICS["spearman_rsa"](x, y)


def pearson_rsa(x: Tensor, y: Tensor) -> Tensor:
    """Pearson correlation between the upper triangles of correlation-distance RDMs, ``(...)``."""
    return METRICS["pearson_rsa"](x, y)


def procrustes(x: Tensor, y: Tensor) -> Tensor:
    """Orthogonal Procrustes similarity ``|X̂ᵀ Ŷ|_*`` in ``[0, 1]``.

    ``X̂``, ``Ŷ`` are word-centred and divided by their Frobenius norms; ``|.|_*`` is the nuclear
    norm (1 when one side is a rotation of the other, up to scale). Shapes as :func:`spearman_rsa`.
    """
    return METRICS["procrustes"](x, y)


def mutual_knn(x: Tensor, y: Tensor, *, k: int = 3) -> Tensor:
    """Mean overlap ``|kNN_x(i) ∩ kNN_y(i)| / k`` over words, ``k`` capped at ``n - 1``.

    Euclidean neighbours, a word is never its own neighbour. Shapes as :func:`spearman_rsa`.
    """
    _check_pair(x, y, METRICS["mutual_knn"])
    return _nan_where_missing(x, y, lambda a, b: _inner(prepare_mutual_knn(a, k=k), prepare_mutual_knn(b, k=k)))


def linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear centred kernel alignment (biased HSIC estimator), ``(...)`` in ``[0, 1]``."""
    return METRICS["linear_cka"](x, y)


def rbf_cka(x: Tensor, y: Tensor) -> Tensor:
    """RBF-kernel CKA, median-heuristic bandwidth per side (see :func:`prepare_rbf_cka`)."""
    return METRICS["rbf_cka"](x, y)


def dcor(x: Tensor, y: Tensor) -> Tensor:
    """Distance correlation ``dCor`` (V-statistic, the square root of ``dCor²``), ``[0, 1]``.

    Matches ``dcor.distance_correlation``.
    """
    return METRICS["dcor"](x, y)


def svcca(x: Tensor, y: Tensor, *, variance: float = 0.99) -> Tensor:
    """SVCCA: mean canonical correlation after keeping ``variance`` of each side's variance.

    At most ``⌊(n-1)/2⌋`` components per side are kept, see :func:`prepare_svcca` for why.
    """
    _check_pair(x, y, METRICS["svcca"])
    return _nan_where_missing(
        x, y, lambda a, b: compare_svcca(prepare_svcca(a, variance=variance), prepare_svcca(b, variance=variance))
    )


def cka_debiased(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA from the unbiased HSIC estimator (U-centred Grams); needs ``n >= 4``.

    About 0 for independent data at any ``n``, can be negative.
    """
    return METRICS["cka_debiased"](x, y)


def dcor_debiased(x: Tensor, y: Tensor) -> Tensor:
    """Bias-corrected distance correlation ``R*`` (Székely & Rizzo 2014), needs ``n >= 4``.

    This is the unbiased analogue of ``dCor²`` -- not square-rooted, because it can be negative --
    and matches ``dcor.u_distance_correlation_sqr``.
    """
    return METRICS["dcor_debiased"](x, y)


def hsic(x: Tensor, y: Tensor) -> Tensor:
    """Biased HSIC with linear kernels, ``tr(K H L H) / (n - 1)²`` (unnormalised, units² of x·y)."""
    return METRICS["hsic"](x, y)
