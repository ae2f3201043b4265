"""Word geometry: what every similarity metric reads of a set of word vectors, computed once.

Every metric of :mod:`hearlike.metrics` reads ``x (..., n_words, n_features)`` only through the
Gram matrix of its word-centred rows, the correlation distances between its words and its total
energy. :func:`word_geometry` computes these once (one matrix product per layer or EEG cell and
sentence, whatever the number of metrics); each metric prepares its representation from them.
Also the small building blocks on ``(..., n, n)`` matrices that the metrics share.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["GEOMETRY_PARTS", "WordGeometry", "cell_geometry", "cell_rejected", "gathered_geometry", "geometry_from_gram",
           "gram_features", "word_geometry"]

# --------------------------------------------------------------------------------------------
# small building blocks on (..., n, n) matrices
# --------------------------------------------------------------------------------------------


def _centre(x: Tensor) -> Tensor:
    """Subtract the mean word: ``(..., n, d) -> (..., n, d)``."""
    return x - x.mean(dim=-2, keepdim=True)


def _gram(x: Tensor) -> Tensor:
    """Linear Gram matrix of word-centred ``x``: ``(..., n, d) -> (..., n, n)``."""
    xc = _centre(x)
    return xc @ xc.transpose(-1, -2)


def _squared_distances(gram: Tensor) -> Tensor:
    """Squared Euclidean distances between words from their centred Gram, exact zero diagonal: ``(..., n, n)``."""
    diag = torch.diagonal(gram, dim1=-2, dim2=-1)
    d2 = (diag.unsqueeze(-1) + diag.unsqueeze(-2)).sub_(gram, alpha=2).clamp_min_(0)  # in place: one new tensor
    d2.diagonal(dim1=-2, dim2=-1).zero_()
    return d2


def _double_centre(m: Tensor) -> Tensor:
    """``H m H`` with ``H = I - 11ᵀ/n`` (row, column and grand means removed)."""
    # the same operations in the same order as m - row - col + grand, in place on one new tensor
    return (m - m.mean(dim=-1, keepdim=True)).sub_(m.mean(dim=-2, keepdim=True)).add_(m.mean(dim=(-1, -2), keepdim=True))


def _u_centre(m: Tensor) -> Tensor:
    """U-centring (Székely & Rizzo 2014, eq. 2.2); needs ``n >= 4``; zero diagonal."""
    n = m.shape[-1]
    u = m.clone()  # the same operations in the same order as m - row - col + total, in place on one new tensor
    u.diagonal(dim1=-2, dim2=-1).zero_()
    row = u.sum(dim=-1, keepdim=True)
    col = u.sum(dim=-2, keepdim=True)
    total = u.sum(dim=(-1, -2), keepdim=True)
    u.sub_(row / (n - 2)).sub_(col / (n - 2)).add_(total / ((n - 1) * (n - 2)))
    u.diagonal(dim1=-2, dim2=-1).zero_()
    return u


def _unit(m: Tensor) -> Tensor:
    """Divide each ``(n, n)`` matrix by its Frobenius norm (0/0 -> nan for constant input)."""
    return m / torch.linalg.matrix_norm(m).unsqueeze(-1).unsqueeze(-1)


def _average_ranks(v: Tensor) -> Tensor:
    """Ranks along the last dim, ties get their average rank (like ``scipy.stats.rankdata``).

    Each row's sort order gives its ranks (scattered back); only the rows with a tie or a NaN are
    ranked by binary search in their sorted values, which averages the ranks of equal values
    (4x faster than searching every row; the same numbers).
    """
    s, order = torch.sort(v, dim=-1)
    ranks = torch.empty_like(v).scatter_(
        -1, order, torch.arange(1, v.shape[-1] + 1, dtype=v.dtype, device=v.device).expand_as(v))
    special = (s[..., 1:] == s[..., :-1]).any(dim=-1) | torch.isnan(s[..., -1:]).any(dim=-1)
    if bool(special.any()):
        tied, values = s[special].contiguous(), v[special].contiguous()
        lo = torch.searchsorted(tied, values, right=False)
        hi = torch.searchsorted(tied, values, right=True)
        ranks[special] = (lo + hi + 1).to(v.dtype) / 2
    return ranks


def _symmetric_from_upper(vec: Tensor, n: int) -> Tensor:
    """Place ``vec (..., n(n-1)/2)`` scaled by 1/√2 in both triangles of an ``(..., n, n)`` matrix.

    Then ``sum(A * B) == dot(vec_a, vec_b)`` for two such matrices.
    """
    # one gather from [0, vec / √2]: entry (i, j) reads its pair's slot, the diagonal the zero
    padded = torch.cat([vec.new_zeros(*vec.shape[:-1], 1), vec / math.sqrt(2.0)], dim=-1)
    return padded.index_select(-1, _pair_slots(n).to(vec.device)).unflatten(-1, (n, n))


@functools.cache
def _pair_slots(n: int) -> Tensor:
    """``(n·n,)`` int64: entry ``(i, j)`` of an ``n × n`` matrix (row-major) -> 1 + its pair's index in
    the upper triangle (row-major, diagonal excluded), 0 on the diagonal; made once per ``n``."""
    iu = torch.triu_indices(n, n, offset=1)
    slot = torch.zeros(n, n, dtype=torch.int64)
    slot[iu[0], iu[1]] = slot[iu[1], iu[0]] = torch.arange(1, iu.shape[1] + 1)
    return slot.flatten()


def _pair_signs(v: Tensor) -> Tensor:
    """``sign(v_a - v_b)`` for every two entries of ``v (..., m)``: ``(..., m, m)``, 0 on the diagonal and for ties.

    On an RDM's upper triangle (``m = n (n - 1) / 2`` word pairs) this is the Kendall sign matrix:
    the inner product of two of them counts concordant minus discordant pairs of pairs (twice).
    """
    return torch.sign(v.unsqueeze(-1) - v.unsqueeze(-2))


def _pair_permutation(perm: Tensor) -> Tensor:
    """The reordering of upper-triangle word pairs that the word reordering ``perm (..., n)`` induces.

    Returns ``(..., n (n - 1) / 2)`` int64: position ``a`` (pair ``(i, j)``, ``i < j``, row-major
    as :func:`torch.triu_indices`) takes the pair ``(perm[i], perm[j])`` of the original order
    (a symmetric RDM's entry does not depend on the order of the two words).
    """
    n = perm.shape[-1]
    iu = torch.triu_indices(n, n, offset=1, device=perm.device)
    a, b = perm[..., iu[0]], perm[..., iu[1]]
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    return lo * n - lo * (lo + 1) // 2 + hi - lo - 1  # row-major index of (lo, hi), lo < hi


# --------------------------------------------------------------------------------------------
# word geometry: what every prepare reads of x, computed once for all metrics
# --------------------------------------------------------------------------------------------


#: the pieces of :class:`WordGeometry`
GEOMETRY_PARTS = ("gram", "correlation", "energy")


@dataclass(frozen=True)
class WordGeometry:
    """Everything a metric's ``prepare`` reads of ``x (..., n, d)``: the features never again.

    A grid computes it once per model layer and EEG cell and prepares every metric from it (one
    Gram matrix instead of one per metric); ``prepare(x)`` and ``prepare_geometry(word_geometry(x))``
    are the same operations, so the numbers are identical.

    Attributes
    ----------
    gram : Tensor, shape (..., n, n), or None
        Gram matrix of the word-centred ``x``.
    correlation : Tensor, shape (..., n (n - 1) / 2), or None
        Upper triangle (row-major) of the correlation-distance RDM.
    energy : Tensor, shape (...), or None
        ``sum(x²)`` (how much of ``x`` is a common offset: the factor metrics' flatness test).
    n_words : int
    dtype : torch.dtype
        The dtype of ``x``.
    """

    gram: Tensor | None
    correlation: Tensor | None
    energy: Tensor | None
    n_words: int
    dtype: torch.dtype

    def map(self, fn) -> "WordGeometry":
        """``fn`` applied to every part (an operation on the leading dims, e.g. ``t.unsqueeze(0)``)."""
        apply = (lambda t: None if t is None else fn(t))
        return WordGeometry(apply(self.gram), apply(self.correlation), apply(self.energy), self.n_words, self.dtype)

    def select(self, index: Tensor, *, dim: int = 0) -> "WordGeometry":
        """The geometry of the batch elements ``index`` along leading dim ``dim``."""
        pick = (lambda t: None if t is None else t.index_select(dim, index))
        return WordGeometry(pick(self.gram), pick(self.correlation), pick(self.energy), self.n_words, self.dtype)

    @staticmethod
    def cat(parts: "list[WordGeometry]", *, dim: int = 0) -> "WordGeometry":
        """Concatenate geometries along leading dim ``dim``."""
        join = (lambda ts: None if ts[0] is None else torch.cat(ts, dim=dim))
        return WordGeometry(join([p.gram for p in parts]), join([p.correlation for p in parts]),
                            join([p.energy for p in parts]), parts[0].n_words, parts[0].dtype)


def word_geometry(x: Tensor, *, needs=GEOMETRY_PARTS) -> WordGeometry:
    """The :class:`WordGeometry` of ``x (..., n, d)``, only the parts named in ``needs``."""
    return WordGeometry(
        _gram(x) if "gram" in needs else None,
        _correlation_rdm_upper(x) if "correlation" in needs else None,
        x.square().sum((-1, -2)) if "energy" in needs else None,
        x.shape[-2], x.dtype,
    )



def gathered_geometry(values, layer: int, positions, width: int, *, needs=GEOMETRY_PARTS) -> WordGeometry:
    """The float64 :class:`WordGeometry` of a model layer's words ``values[layer, positions, :width]``,
    leading dim the sentences, in one compiled pass per part (numba; :mod:`._geometry_loop`).

    The same numbers as :func:`word_geometry` of the gathered float64 words, to rounding (~1e-16
    relative: the sums run in another order), without the gathered copy: each sentence's words are
    cast, shifted and multiplied while they are in cache, 3-6x faster than the torch path on a CPU
    (``bench/RESULTS.md``). The word-centred Gram is that of the words minus the first word, centred
    on the ``n × n`` matrix (subtracting a word removes any common offset exactly, so no digits are
    lost to it); the correlation distances come from the row-centred words' Gram matrix, where
    :func:`word_geometry` subtracts ``d·mean_i·mean_j`` from the raw one.

    Parameters
    ----------
    values : ndarray, shape (n_layers, n_words_total, n_features), float32 or float64, C-contiguous
    layer : int
    positions : ndarray, shape (n_sentences, n), int
        Each sentence's rows of ``values[layer]``, in word order.
    width : int
        Features used (a layer's unpadded width).
    needs : sequence of str
        The parts to compute (:data:`GEOMETRY_PARTS`).
    """
    from ._geometry_loop import word_grams

    positions = np.ascontiguousarray(positions, dtype=np.int64)
    return _compiled_geometry(
        lambda centre_words, gram, energy: word_grams(values, int(layer), positions, int(width), centre_words, gram,
                                                      energy),
        positions.shape, needs)


def cell_geometry(values, positions, channels, times, *, needs=GEOMETRY_PARTS,
                  rejected: np.ndarray | None = None) -> WordGeometry:
    """The float64 :class:`WordGeometry` of one EEG cell's words for every subject, leading dims
    ``(n_subjects, n_sentences)``, compiled like :func:`gathered_geometry`.

    A word's features are ``values[subject, word][channels][:, times]`` (channel-major); a NaN (a
    rejected epoch) counts as zero, as in the torch path (``torch.nan_to_num``).

    Parameters
    ----------
    values : ndarray, shape (n_subjects, n_words_total, n_channels, n_times), float32 or float64, C-contiguous
    positions : ndarray, shape (n_sentences, n), int
        Each sentence's epochs, in word order.
    channels, times : ndarray of int
        The cell's channel and sample indices.
    needs : sequence of str
    rejected : ndarray of bool, shape (n_subjects, n_sentences), optional
        Written, in the same pass: whether a subject's sentence has a NaN (a rejected epoch) in the
        cell (:func:`cell_rejected`'s answer, without a scan of its own).
    """
    from ._geometry_loop import cell_grams

    positions = np.ascontiguousarray(positions, dtype=np.int64)
    channels = np.ascontiguousarray(channels, dtype=np.int64)
    times = np.ascontiguousarray(times, dtype=np.int64)
    flags = np.empty((0, 0), dtype=bool)
    if rejected is not None and (rejected.shape != (values.shape[0], positions.shape[0]) or rejected.dtype != bool
                                 or not rejected.flags.c_contiguous):
        raise ValueError(f"rejected must be a C-contiguous bool array of shape {(values.shape[0], positions.shape[0])}, "
                         f"got {rejected.dtype} {rejected.shape}")

    def run(centre_words, gram, energy):
        nonlocal flags
        cell_grams(values, positions, channels, times, centre_words, gram, energy, flags)
        flags = np.empty((0, 0), dtype=bool)  # the first pass writes them

    if rejected is not None:
        flags = rejected
    return _compiled_geometry(run, (values.shape[0], *positions.shape), needs)


def cell_rejected(values, positions, channels, times) -> np.ndarray:
    """``(n_subjects, n_sentences)`` bool: whether a sentence has a NaN (a rejected epoch) in the EEG
    cell ``channels × times``, scanned by a compiled loop (arguments as in :func:`cell_geometry`)."""
    from ._geometry_loop import cell_nans

    positions = np.ascontiguousarray(positions, dtype=np.int64)
    out = np.empty((values.shape[0], positions.shape[0]), dtype=bool)
    cell_nans(values, positions, np.ascontiguousarray(channels, dtype=np.int64),
              np.ascontiguousarray(times, dtype=np.int64), out)
    return out


def _compiled_geometry(run, shape, needs) -> WordGeometry:
    """Call ``run(centre_words, gram (*lead, n, n), energy (*lead))`` once per Gram part needed.

    ``shape`` is ``(*lead, n)``; the word-centred Gram gives ``gram``, the row-centred one the
    correlation distances; ``energy`` is written by the first pass only.
    """
    *lead, n = shape
    skip = np.empty([0] * len(lead))
    energy = np.empty(lead) if "energy" in needs else skip
    grams = {}
    for part, centre_words in (("gram", True), ("correlation", False)):
        if part in needs or (part == "gram" and "correlation" not in needs):  # energy alone: one pass
            grams[part] = np.empty((*lead, n, n))
            run(centre_words, grams[part], skip if len(grams) > 1 else energy)
    correlation = None
    if "correlation" in needs:
        from ._geometry_loop import correlation_distances

        correlation = np.empty((*lead, n * (n - 1) // 2))
        correlation_distances(grams["correlation"].reshape(-1, n, n), correlation.reshape(-1, correlation.shape[-1]))
        correlation = torch.from_numpy(correlation)
    return WordGeometry(
        torch.from_numpy(grams["gram"]) if "gram" in needs else None,
        correlation,
        torch.from_numpy(energy) if "energy" in needs else None,
        n, torch.float64,
    )


def geometry_from_gram(gram: Tensor, row_sums: Tensor, n_features, *, needs=GEOMETRY_PARTS) -> WordGeometry:
    """The :class:`WordGeometry` of ``x (..., n, d)`` from its Gram matrix alone, without ``x``.

    Every part is a function of ``x xᵀ``, the words' feature sums ``x 1`` and ``d``: the centred
    Gram is ``H (x xᵀ) H``; the correlation distances come from ``x xᵀ - d m mᵀ`` (``m`` the
    words' feature means); the energy is the trace. The ``shift`` null builds one Gram per
    surrogate cell (a region's channels, a window's samples) and every metric from it.

    Parameters
    ----------
    gram : Tensor, shape (..., n, n)
        ``x xᵀ`` (not centred).
    row_sums : Tensor, shape (..., n)
        ``x`` summed over features.
    n_features : int or Tensor
        ``d`` (a tensor broadcasting against ``row_sums`` when it differs, e.g. ``(n_regions, 1)``).
    needs : tuple of str
        The parts to compute (:data:`GEOMETRY_PARTS`).
    """
    correlation = _correlation_upper(_feature_centred(gram, row_sums, n_features)[0]) if "correlation" in needs else None
    return WordGeometry(
        _double_centre(gram) if "gram" in needs else None,
        correlation,
        torch.diagonal(gram, dim1=-2, dim2=-1).sum(-1) if "energy" in needs else None,
        gram.shape[-1], gram.dtype,
    )


def _feature_centred(gram: Tensor, row_sums: Tensor, n_features) -> tuple[Tensor, Tensor]:
    """``(x xᵀ - d m mᵀ, m)`` from ``x xᵀ``, ``x 1`` and ``d`` (``m`` the words' feature means): the
    inner products of the rows of ``x`` with each row's mean removed."""
    d = torch.as_tensor(n_features, dtype=gram.dtype, device=gram.device)  # scalar or (..., 1)
    means = row_sums / d
    return gram - d.unsqueeze(-1) * means.unsqueeze(-1) * means.unsqueeze(-2), means


def gram_features(gram: Tensor, row_sums: Tensor, n_features, width: int) -> Tensor:
    """Pseudo-features ``(..., n, width)`` with the word geometry of ``x (..., n, d)``, from its Gram alone.

    Write ``x = x⊥ + m 1ᵀ`` (``m`` the words' feature means, rows of ``x⊥`` orthogonal to the
    all-ones feature vector). With ``L Lᵀ = x⊥ x⊥ᵀ = x xᵀ - d m mᵀ`` and ``B`` an orthonormal basis
    of the ``width``-vectors orthogonal to ones, ``x' = L Bᵀ + m √(d / width) 1ᵀ`` has ``x' x'ᵀ =
    x xᵀ`` and ``width · m' m'ᵀ = d m mᵀ``: every part of :func:`word_geometry` -- so every metric
    -- is the same on ``x'`` as on ``x``, for the words of ``x`` and any subset of them. The grid
    store reduces a model's states to these (``width`` = the longest sentence + 1, instead of
    thousands of features) so that all models fit one task.

    Parameters
    ----------
    gram, row_sums, n_features
        As :func:`geometry_from_gram` (``n_features`` a number here).
    width : int
        Pseudo-features per word, at least ``n + 1``.

    Returns
    -------
    Tensor, shape (..., n, width)
        NaN for the batch elements whose Gram holds a NaN.
    """
    n = gram.shape[-1]
    if width < n + 1:
        raise ValueError(f"gram_features: width {width} < n + 1 = {n + 1}")
    d = float(n_features)
    within, means = _feature_centred(gram, row_sums, d)  # x⊥ x⊥ᵀ
    bad = ~torch.isfinite(within).flatten(-2).all(-1)
    within = torch.where(bad[..., None, None], 0.0, within)
    root, info = torch.linalg.cholesky_ex(within)  # root rootᵀ = within
    failed = info != 0  # singular (fewer features than words, repeated words): a symmetric root
    if bool(failed.any()):
        evals, evecs = torch.linalg.eigh(within[failed])
        root[failed] = evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)
    eye = torch.eye(width, dtype=gram.dtype, device=gram.device)
    ones = torch.full((width, 1), 1 / math.sqrt(width), dtype=gram.dtype, device=gram.device)
    basis = torch.linalg.qr(torch.cat([ones, eye[:, :n]], dim=1)).Q[:, 1:]  # (width, n), orthogonal to ones
    out = root @ basis.T + (means * math.sqrt(d / width)).unsqueeze(-1)
    return torch.where(bad[..., None, None], math.nan, out)


def _correlation_rdm_upper(x: Tensor) -> Tensor:
    """Upper triangle (row-major, diagonal excluded) of the correlation-distance RDM."""
    d = x.shape[-1]
    # from the Gram matrix: one pass over the features instead of materialising centred rows
    # (row-centred inner products = Gram - d·mean_i·mean_j)
    mean = x.mean(dim=-1)
    return _correlation_upper(x @ x.transpose(-1, -2) - d * mean.unsqueeze(-1) * mean.unsqueeze(-2))


def _correlation_upper(cov: Tensor) -> Tensor:
    """Upper triangle of ``1 - corr`` from the row-centred inner products ``cov (..., n, n)``."""
    n = cov.shape[-1]
    norm = torch.diagonal(cov, dim1=-2, dim2=-1).clamp_min(0).sqrt()
    rdm = 1.0 - cov / (norm.unsqueeze(-1) * norm.unsqueeze(-2))
    iu = torch.triu_indices(n, n, offset=1, device=cov.device)
    return rdm[..., iu[0], iu[1]]
