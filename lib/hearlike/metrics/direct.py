"""The metrics as one-call functions ``metric(x, y) -> score`` (checked inputs; NaN where a side has a NaN)."""

from __future__ import annotations

import torch
from torch import Tensor

from .compare import _inner, compare_gaussian_mi, compare_svcca
from .prepare import _MI_RHO2_MAX, GAUSSIAN_MI_COMPONENTS, prepare_gaussian_mi, prepare_mutual_knn, prepare_svcca
from .registry import METRICS, _check_pair, _nan_where_missing


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
