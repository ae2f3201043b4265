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
    RBF CKA (centred, normalised Gram), debiased CKA (U-centred Gram), dCor and dCor² (double-centred
    distance matrix), debiased dCor (U-centred distance matrix), mutual kNN (neighbour indicator),
    raw HSIC (linear and RBF kernels). A whole grid of such comparisons is one ``einsum``.
    Kendall's τ-b RSA is one too, on a larger ``rep``: the ``(..., m, m)`` sign matrix of the
    ``m = n (n - 1) / 2`` RDM entries (memory ``~n⁴/4`` per sentence, see :func:`prepare_kendall_rsa`).
``"factor"``
    ``rep`` is an ``(..., n, r)`` factor and ``compare`` reads the small ``r x r`` matrix
    ``rep_xᵀ rep_y`` (its singular values for orthogonal Procrustes and SVCCA; its entries, the
    correlations between principal components, for Gaussian MI).

Permuting the words of one side permutes the rows (and, for ``"gram"``, the columns) of its
``rep`` (for Kendall's sign matrix: the word pairs, :func:`permute_rep` tells them apart by
shape), so permutation nulls never recompute a representation.

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
                       _gram, _pair_permutation, _pair_signs, _squared_distances, _symmetric_from_upper, _u_centre,
                       _unit, word_geometry)

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
    "kendall_rsa",
    "hsic_rbf",
    "gaussian_mi",
    "dcor_squared",
    "rv",
    "knn_k",
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


#: the longest sentence Kendall's τ-b RSA takes: its rep has ``(n (n - 1) / 2)²`` values per sentence and cell
KENDALL_MAX_WORDS = 64


def _kendall_rsa(g: WordGeometry) -> Tensor:
    n = g.n_words
    if n > KENDALL_MAX_WORDS:
        m = n * (n - 1) // 2
        raise ValueError(
            f"kendall_rsa: a sentence of {n} items has {m} item pairs, and τ-b compares every two of them "
            f"({m * m:,} values per sentence and cell); at most {KENDALL_MAX_WORDS} items are supported -- use "
            "spearman_rsa (the rank correlation of the same RDMs) for longer items such as 20 ms frames"
        )
    # snapped like Spearman's ranks, so equal distances are exact ties (τ-b leaves them out)
    return _unit(_pair_signs(_snap(g.correlation)))


def _rbf_kernel(g: WordGeometry) -> Tensor:
    """Double-centred RBF kernel, median-heuristic bandwidth (see :func:`prepare_rbf_cka`)."""
    n = g.n_words
    d2 = _squared_distances(g.gram)
    iu = torch.triu_indices(n, n, offset=1, device=d2.device)
    sigma2 = torch.quantile(d2[..., iu[0], iu[1]], 0.5, dim=-1)
    kernel = torch.exp(-d2 / (2 * sigma2.unsqueeze(-1).unsqueeze(-1)))
    return _double_centre(kernel)


def _rbf_cka(g: WordGeometry) -> Tensor:
    return _unit(_rbf_kernel(g))


def _hsic_rbf(g: WordGeometry) -> Tensor:
    return _rbf_kernel(g) / (g.n_words - 1)


def _cka_debiased(g: WordGeometry) -> Tensor:
    return _unit(_u_centre(g.gram))


def _hsic(g: WordGeometry) -> Tensor:
    return g.gram / (g.n_words - 1)


def _dcor(g: WordGeometry) -> Tensor:
    return _unit(_double_centre(_squared_distances(g.gram).sqrt()))


def _dcor_debiased(g: WordGeometry) -> Tensor:
    return _unit(_u_centre(_squared_distances(g.gram).sqrt()))


def knn_k(n_words: int, k: int = 3) -> int:
    """The number of neighbours mutual k-NN uses in a sentence of ``n_words`` words.

    ``k_n = max(1, min(k, ⌊(n - 1) / 2⌋))``. With ``k >= n - 1`` every other word is a neighbour on
    both sides and the overlap is 1 whatever the data (a 4-word sentence at ``k = 3``); at most
    half the other words keeps the chance overlap ``k_n / (n - 1)`` at or below 1/2 (the same
    half-the-dimensions cap as SVCCA's). Sentences of 7 or more words keep ``k = 3``; 5-6 words get
    2, 3-4 words get 1; 2-word sentences have no defined overlap (the metric needs 3 words).
    """
    return max(1, min(int(k), (int(n_words) - 1) // 2))


def _mutual_knn(g: WordGeometry, *, k: int = 3) -> Tensor:
    n = g.n_words
    k = knn_k(n, k)
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


#: principal components per sentence and side for Gaussian MI (the reference study's PCA-20)
GAUSSIAN_MI_COMPONENTS = 20
#: the largest squared correlation Gaussian MI takes (as the reference study: ``1 - 1e-7``)
_MI_RHO2_MAX = 1.0 - 1e-7


def _gaussian_mi(g: WordGeometry, *, n_components: int = GAUSSIAN_MI_COMPONENTS) -> Tensor:
    n = g.n_words
    kmax = max(1, min(int(n_components), n - 1))
    evals, evecs = _gram_sqrt(g)
    # components that carry variance (above round-off of the largest); the rest are arbitrary directions
    keep = evals[..., :kmax] > evals[..., :1] * (10 * n * torch.finfo(g.dtype).eps)
    flat = torch.isnan(evals[..., :1]).unsqueeze(-1)
    return torch.where(flat, math.nan, evecs[..., :kmax] * keep.unsqueeze(-2)).to(g.dtype)


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
_NEEDS = {_pearson_rsa: ("correlation",), _spearman_rsa: ("correlation",), _kendall_rsa: ("correlation",),
          _procrustes: ("gram", "energy"), _svcca: ("gram", "energy"), _gaussian_mi: ("gram", "energy")}


def _of_x(prepare_geometry, **options) -> Callable[[Tensor], Tensor]:
    needs = _NEEDS.get(prepare_geometry, ("gram",))
    return lambda x: prepare_geometry(word_geometry(x, needs=needs), **options)


def prepare_pearson_rsa(x: Tensor) -> Tensor:
    """Centred, unit-norm correlation-distance RDM as a symmetric ``(..., n, n)`` matrix."""
    return _of_x(_pearson_rsa)(x)


def prepare_spearman_rsa(x: Tensor) -> Tensor:
    """As :func:`prepare_pearson_rsa` on the (average-tie) ranks of the RDM's upper triangle."""
    return _of_x(_spearman_rsa)(x)


def prepare_kendall_rsa(x: Tensor) -> Tensor:
    """Kendall sign matrix of the correlation-distance RDM, ``(..., m, m)`` with ``m = n (n - 1) / 2``.

    ``S[a, b] = sign(d_a - d_b)`` over the RDM's upper-triangle entries ``d`` (row-major word
    pairs), divided by its Frobenius norm ``sqrt(2 (m (m - 1) / 2 - ties))``. The inner product of
    two such matrices is Kendall's τ-b between the RDMs: concordant minus discordant pairs over
    ``sqrt((n₀ - t_x)(n₀ - t_y))``, ``n₀ = m (m - 1) / 2``, ``t`` the tied pairs of each side (RDM
    entries equal to within 1e-10 in float64, 1e-6 in float32, count as ties). Memory: ``m²``
    values per sentence (6 084 at 13 words, 189 225 at 30), and the grid holds the EEG side's reps
    of a whole length bucket at once (``8 m² × cells × sentences`` bytes in float64: 0.16 GB for
    the demo's largest bucket, 29 sentences of 11 words on 224 cells; about 1.4 GB per 30-word
    sentence on 900 cells): affordable for the demo, heavy for long sentences on many EEG cells
    (restrict regions or windows there); sentences of more than
    :data:`KENDALL_MAX_WORDS` items are refused with an error (a 3 s sentence of 20 ms frames has
    150 items and would need 125 million values per sentence and cell).
    """
    return _of_x(_kendall_rsa)(x)


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


def prepare_hsic_rbf(x: Tensor) -> Tensor:
    """Double-centred RBF Gram divided by ``n - 1`` (inner product = biased RBF HSIC).

    Same kernel and median-heuristic bandwidth as :func:`prepare_rbf_cka`.
    """
    return _of_x(_hsic_rbf)(x)


def prepare_gaussian_mi(x: Tensor, *, n_components: int = GAUSSIAN_MI_COMPONENTS) -> Tensor:
    """Unit principal-component score vectors of the word-centred ``x``, ``(..., n, min(n_components, n - 1))``.

    The left singular vectors of the centred data (eigenvectors of its Gram, variance descending).
    Components without variance (rank below ``n - 1``, e.g. fewer features than words) are zero
    columns and left out of the mean in :func:`compare_gaussian_mi`.
    """
    return _of_x(_gaussian_mi, n_components=n_components)(x)


def prepare_dcor(x: Tensor) -> Tensor:
    """Double-centred Euclidean distance matrix with unit Frobenius norm."""
    return _of_x(_dcor)(x)


def prepare_dcor_debiased(x: Tensor) -> Tensor:
    """U-centred Euclidean distance matrix with unit Frobenius norm."""
    return _of_x(_dcor_debiased)(x)


def prepare_mutual_knn(x: Tensor, *, k: int = 3) -> Tensor:
    """k-nearest-neighbour indicator ``I[i, j] = j in kNN(i)`` divided by ``sqrt(n k_n)``.

    Neighbours by Euclidean distance, a word is not its own neighbour, and ``k_n =`` :func:`knn_k`
    ``(n, k)`` scales with the sentence length (at most half the other words, so short sentences
    do not score a constant 1). The inner product of two such matrices is the mean neighbour-set
    overlap.
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


def compare_gaussian_mi(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    """Mean Gaussian MI ``-½ log(1 - ρ²)`` over the pairs of kept components, nats.

    ``ρ = rep_xᵀ rep_y`` are the Pearson correlations across words between the components' scores
    (unit, centred columns); ``ρ²`` is clipped at ``1 - 1e-7`` as in the reference study.
    """
    kx = (rep_x.square().sum(dim=-2) > 0.5).sum(dim=-1)
    ky = (rep_y.square().sum(dim=-2) > 0.5).sum(dim=-1)
    rho2 = (rep_x.transpose(-1, -2) @ rep_y).square().clamp_max(_MI_RHO2_MAX)
    return (-0.5 * torch.log1p(-rho2)).sum(dim=(-1, -2)) / (kx * ky).to(rep_x.dtype)


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
        _make("kendall_rsa", "geometric", (-1.0, 1.0),
              "Kendall 1945, Biometrika (τ-b); Nili et al. 2014, PLoS Comput. Biol.", "gram", _kendall_rsa,
              min_words=4),
        _make("mutual_knn", "geometric", (0.0, 1.0),
              "Huh et al. 2024, ICML (platonic representation)", "gram", _mutual_knn),
        _make("linear_cka", "covariance", (0.0, 1.0),
              "Kornblith et al. 2019, ICML", "gram", _linear_cka, min_words=2),
        _make("rbf_cka", "covariance", (0.0, 1.0),
              "Kornblith et al. 2019, ICML", "gram", _rbf_cka),
        _make("rv", "covariance", (0.0, 1.0),
              "Robert & Escoufier 1976, Appl. Stat. (RV coefficient = linear CKA)", "gram", _linear_cka,
              min_words=2),
        _make("dcor", "covariance", (0.0, 1.0),
              "Székely, Rizzo & Bakirov 2007, Ann. Stat.", "gram", _dcor,
              post=_sqrt_clamped, min_words=2),
        _make("dcor_squared", "covariance", (0.0, 1.0),
              "Székely, Rizzo & Bakirov 2007, Ann. Stat. (dCor², V-statistic)", "gram", _dcor,
              min_words=2),
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
        _make("hsic_rbf", "covariance", (0.0, math.inf),
              "Gretton et al. 2005, ALT (biased HSIC, RBF kernel, median heuristic)", "gram", _hsic_rbf),
        _make("gaussian_mi", "covariance", (0.0, math.inf),
              "Gaussian MI -½ log(1 - ρ²) averaged over PCA-20 component pairs (reference study)", "factor",
              _gaussian_mi, compare=compare_gaussian_mi),
    ]
}

#: each metric's name in rsatoolbox (``rsatoolbox.rdm.compare(..., method=...)`` on correlation-distance
#: RDMs, ``calc_rdm(..., method="correlation")``); "—" where rsatoolbox has none
RSATOOLBOX_NAMES = {"spearman_rsa": "spearman", "pearson_rsa": "corr", "kendall_rsa": "tau-b (= kendall)",
                    "procrustes": "bures (on calc_rdm(method=\"euclidean\") RDMs)"}

#: each metric's standardised name in the similarity repository (Cloos et al. 2024, the ``similarity``
#: package that also wraps Klabunde et al.'s ``repsim``/ReSi measures); "—" where it has none. Names as
#: ``measure/<backend>/<name>``; ``{sigma}``, ``{topk}`` are parameters there (a fixed σ, not a median)
SIMILARITY_NAMES = {
    "spearman_rsa": "rsa-rdm=correlation-compare=spearman",
    "pearson_rsa": "rsa-rdm=correlation-compare=pearson",
    "kendall_rsa": "rsa-rdm=correlation-compare=tau_b",
    "procrustes": "procrustes-score (cos of procrustes-distance=angular)",
    "mutual_knn": "mutual_knn-topk={topk} (cosine neighbours there)",
    "linear_cka": "cka-kernel=linear-hsic=gretton-score",
    "rv": "cka-kernel=linear-hsic=gretton-score",
    "rbf_cka": "cka-kernel=(rbf-sigma={sigma})-hsic=gretton-score",
    "cka_debiased": "cka-kernel=linear-hsic=song-score",
    "dcor": "distance_correlation (ReSi; dCor or dCor² there not checked)",
    "svcca": "svcca-var=0.99-score (no ⌊(n-1)/2⌋ cap there)",
}

#: the metrics in the reference study's code (arXiv 2601.16540): its RSA (Spearman, Pearson, Kendall τ-b),
#: CKA (linear, RBF), dCor², HSIC (linear, RBF), RV and Gaussian MI; it has no Procrustes, mutual k-NN,
#: SVCCA, square-rooted dCor or bias-corrected estimators
REFERENCE_STUDY_METRICS = ("spearman_rsa", "pearson_rsa", "kendall_rsa", "linear_cka", "rbf_cka", "dcor_squared",
                           "hsic", "hsic_rbf", "rv", "gaussian_mi")


#: the version of the metric definitions: raised whenever a metric's numbers change (2: mutual k-NN's k
#: scales with sentence length); it enters the grid's cache key, so no cached grid outlives its definition
METRICS_VERSION = 2

#: the eight metrics of the study (four per family); the others are bias corrections and HSIC
STUDY_METRICS = ("spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn",
                 "linear_cka", "rbf_cka", "dcor", "svcca")


def metrics_table() -> "pandas.DataFrame":
    """The metric registry as a table (what ``hearlike metrics`` prints).

    Columns: ``name``, ``family``, ``range``, ``min_words``, ``study`` (one of the eight main
    metrics, else a bias-corrected or auxiliary one), ``reference_study`` (in the reference study's
    code, :data:`REFERENCE_STUDY_METRICS`), ``rsatoolbox`` and ``similarity`` (the name in rsatoolbox
    and in the similarity repository, "—" where there is none), ``reference``.
    """
    import pandas as pd

    return pd.DataFrame([
        {"name": m.name, "family": m.family, "range": f"[{m.range[0]:g}, {m.range[1]:g}]",
         "min_words": m.min_words, "study": m.name in STUDY_METRICS,
         "reference_study": m.name in REFERENCE_STUDY_METRICS, "rsatoolbox": RSATOOLBOX_NAMES.get(m.name, "—"),
         "similarity": SIMILARITY_NAMES.get(m.name, "—"), "reference": m.reference}
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
    rep : Tensor, shape (..., n, n), (..., m, m) or (..., n, r)
        Output of a metric's ``prepare``; ``(..., m, m)`` with ``m = n (n - 1) / 2 != n`` is a
        word-pair rep (Kendall's sign matrix), whose pairs are reordered instead (``n >= 4``: at
        ``n = 3``, ``m = n`` and the shapes cannot tell them apart, hence ``kendall_rsa``'s
        ``min_words = 4``).
    perm : Tensor of int64, shape (..., n)
        New word order (``rep`` of ``x[perm]``); broadcast against ``rep``'s leading dims.
    kind : {"gram", "factor"}
        The metric's kind: rows and columns (``gram``) or rows only (``factor``) are permuted.
    """
    n = perm.shape[-1]
    if kind == "gram" and rep.shape[-1] != n and rep.shape[-1] == n * (n - 1) // 2:
        perm = _pair_permutation(perm)
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
    """Mean overlap ``|kNN_x(i) ∩ kNN_y(i)| / k_n`` over words, ``k_n =`` :func:`knn_k` ``(n, k)``.

    Euclidean neighbours, a word is never its own neighbour; ``k_n`` is ``k`` capped at half the
    other words (``⌊(n - 1) / 2⌋``, at least 1), so a sentence of ``n <= k + 1`` words no longer
    scores 1 whatever the data. Needs ``n >= 3``. Shapes as :func:`spearman_rsa`.
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


def kendall_rsa(x: Tensor, y: Tensor) -> Tensor:
    """Kendall's τ-b between the upper triangles of correlation-distance (1 - Pearson r) RDMs.

    Ties (equal RDM entries, e.g. repeated words) are handled as τ-b: left out of the
    denominator's pair counts, as ``scipy.stats.kendalltau`` and rsatoolbox's ``"tau-b"``. Needs
    ``n >= 4``; costs ``~n⁴/4`` values per sentence (see :func:`prepare_kendall_rsa`). Shapes as
    :func:`spearman_rsa`; ``(...)`` in ``[-1, 1]``.
    """
    return METRICS["kendall_rsa"](x, y)


def hsic_rbf(x: Tensor, y: Tensor) -> Tensor:
    """Biased HSIC with RBF kernels, ``tr(K H L H) / (n - 1)²``, ``(...)`` (unnormalised, ``>= 0``).

    The normalisation ``(n - 1)²`` is the package's :func:`hsic` and the reference study's. The
    bandwidth is the median heuristic of :func:`rbf_cka` (``σ²`` = the median, numpy-style, of the
    squared distances between the sentence's word pairs); the study takes the lower median of the
    positive squared distances instead, which differs only for an even number of pairs or
    duplicated words. The median bandwidth makes it invariant to each side's scale, but it is not
    normalised (it depends on ``n`` and on how spread each kernel is); RBF CKA is its normalised
    form.
    """
    return METRICS["hsic_rbf"](x, y)


def gaussian_mi(x: Tensor, y: Tensor, *, n_components: int | None = GAUSSIAN_MI_COMPONENTS) -> Tensor:
    """Mean Gaussian mutual information ``-½ log(1 - ρ²)`` over feature pairs, nats, ``(...)``.

    ``ρ`` is the Pearson correlation across the sentence's words between one feature of ``x`` and
    one of ``y``; ``ρ²`` is clipped at ``1 - 1e-7`` (as the reference study). The features are the
    first ``min(n_components, n - 1)`` principal components of each side's word-centred vectors
    (per sentence, as the study's PCA-20; components without variance are left out): that is
    what the registry metric ``"gaussian_mi"`` computes, from the Gram matrix alone, so the grid
    runs it batched with the other ``"factor"`` metrics (and only over ``factor_metric_regions``).
    ``n_components=None`` uses the raw features instead (every column of ``x`` against every
    column of ``y``, ``(..., d_x, d_y)`` correlations; a constant column counts with ``ρ = 0``);
    fine for a few hundred features, too costly for a grid at ``d = 1024``.

    Feature-count sensitivity: the score is a *mean* over ``k_x k_y`` pairs, so a fixed amount of
    shared structure (say one shared direction) is diluted as ``1 / (k_x k_y)`` when more
    components or features are kept, and with only ``n`` words each pair has a chance level of
    ``½[ψ((n - 1)/2) - ψ((n - 2)/2)]`` nats (``ρ²`` of two independent samples of ``n`` is
    Beta(½, (n - 2)/2); 0.066 at 10 words, 0.048 at 13), so scores of different ``n`` or
    ``n_components`` are not comparable: read the excess over the null. Not invariant to
    rotations of the feature space (the PCA fixes one). Needs ``n >= 3``.
    """
    metric = METRICS["gaussian_mi"]
    _check_pair(x, y, metric)
    if n_components is None:
        return _nan_where_missing(x, y, _gaussian_mi_raw)
    def score(a, b):
        return compare_gaussian_mi(prepare_gaussian_mi(a, n_components=n_components),
                                   prepare_gaussian_mi(b, n_components=n_components))

    return _nan_where_missing(x, y, score)


def _gaussian_mi_raw(x: Tensor, y: Tensor) -> Tensor:
    """:func:`gaussian_mi` on the raw features: ``(..., n, d_x)``, ``(..., n, d_y)`` -> ``(...)``."""
    def unit_columns(a):
        a = a - a.mean(dim=-2, keepdim=True)
        norm = torch.linalg.vector_norm(a, dim=-2, keepdim=True)
        return torch.where(norm > 0, a / torch.where(norm > 0, norm, 1.0), 0.0)

    rho2 = (unit_columns(x).transpose(-1, -2) @ unit_columns(y)).square().clamp_max(_MI_RHO2_MAX)
    return (-0.5 * torch.log1p(-rho2)).mean(dim=(-1, -2))


def dcor_squared(x: Tensor, y: Tensor) -> Tensor:
    """Squared distance correlation ``dCor²`` (biased V-statistic) = :func:`dcor` ``**2``, in ``[0, 1]``.

    The reference study's distance-correlation score; matches ``dcor.distance_correlation_sqr``.
    """
    return METRICS["dcor_squared"](x, y)


def rv(x: Tensor, y: Tensor) -> Tensor:
    """RV coefficient (Robert & Escoufier 1976) of the word-centred ``x``, ``y``: identical to :func:`linear_cka`.

    ``tr(XXᵀ YYᵀ) / sqrt(tr((XXᵀ)²) tr((YYᵀ)²))`` on centred data is linear CKA's formula; the
    registry keeps ``"rv"`` as its own row (same numbers) so configurations written with the
    reference study's name run.
    """
    return METRICS["rv"](x, y)
