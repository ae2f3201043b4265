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

Modules
-------
:mod:`~hearlike.metrics.prepare` (geometry -> representation), :mod:`~hearlike.metrics.compare`
(the factor metrics' comparisons), :mod:`~hearlike.metrics.registry` (:data:`METRICS`, one
:class:`Metric` per name, and their tables), :mod:`~hearlike.metrics.direct` (one-call functions).
Everything public is imported here.

Ragged sentences
----------------
The metrics take equal-length batches and have no ``mask``: ragged input is handled by bucketing
sentences of equal length (:mod:`hearlike.grid` does this), which keeps every metric exact (ranks,
medians, nearest neighbours and decompositions would all need masked variants otherwise).
"""

from __future__ import annotations

from ..geometry import WordGeometry, word_geometry
from .compare import compare_gaussian_mi, compare_procrustes, compare_svcca
from .direct import (cka_debiased, dcor, dcor_debiased, dcor_squared, gaussian_mi, hsic, hsic_rbf, kendall_rsa,
                     linear_cka, mutual_knn, pearson_rsa, procrustes, rbf_cka, rv, spearman_rsa, svcca)
from .prepare import (GAUSSIAN_MI_COMPONENTS, KENDALL_MAX_WORDS, knn_k, prepare_cka_debiased, prepare_dcor,
                      prepare_dcor_debiased, prepare_gaussian_mi, prepare_hsic, prepare_hsic_rbf, prepare_kendall_rsa,
                      prepare_linear_cka, prepare_mutual_knn, prepare_pearson_rsa, prepare_procrustes, prepare_rbf_cka,
                      prepare_spearman_rsa, prepare_svcca)
from .registry import (METRICS, METRICS_VERSION, REFERENCE_STUDY_METRICS, RSATOOLBOX_NAMES, SIMILARITY_NAMES,
                       STUDY_METRICS, Metric, get_metric, metrics_table, permute_rep)

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
