"""Each metric's ``prepare``: a :class:`~hearlike.geometry.WordGeometry` -> the metric's representation.

``prepare_*(x)`` wraps each: ``x (..., n, d)`` -> its word geometry -> the representation (see
:mod:`hearlike.metrics` for the two kinds, ``"gram"`` and ``"factor"``).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ..geometry import (WordGeometry, _average_ranks, _double_centre, _pair_signs, _squared_distances,
                        _symmetric_from_upper, _u_centre, _unit, word_geometry)


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
    # the last eigenvalue is the all-ones direction that centring removed (0 to round-off): its
    # column is dropped, so every comparison decomposes an (n - 1) x (n - 1) matrix instead of n x n
    keep = max(1, g.n_words - 1)
    return (evecs[..., :keep] * evals[..., :keep].sqrt().unsqueeze(-2)).to(g.dtype)


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
    """An ``(..., n, n - 1)`` square root ``L`` of the centred, Frobenius-normalised Gram (``L Lᵀ = G``).

    The singular values of ``Xᵀ Y`` (``d x p``) equal those of ``L_xᵀ L_y`` (``(n-1) x (n-1)``: a
    centred Gram has rank at most ``n - 1``), so the nuclear norm never touches the feature
    dimension again.
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


