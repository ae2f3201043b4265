"""The metric registry: one :class:`Metric` (prepare, compare, family, range, reference) per name."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor

from ..geometry import GEOMETRY_PARTS, WordGeometry, _pair_permutation
from .compare import _inner, _sqrt_clamped, compare_gaussian_mi, compare_procrustes, compare_svcca
from .prepare import (_NEEDS, _cka_debiased, _dcor, _dcor_debiased, _gaussian_mi, _hsic, _hsic_rbf, _kendall_rsa,
                      _linear_cka, _mutual_knn, _of_x, _pearson_rsa, _procrustes, _rbf_cka, _spearman_rsa, _svcca)


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
    symmetric : bool
        Whether a ``"gram"`` rep is a symmetric ``n × n`` matrix (the compiled null then sums its
        upper triangle); False for mutual k-NN's neighbour indicators.
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
    symmetric: bool = True

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


def _make(name, family, range_, reference, kind, prepare_geometry, *, post=None, compare=None, min_words=3,
          symmetric=True):
    if compare is None:
        compare = _gram_compare(post)
    return Metric(name, family, range_, reference, kind, _of_x(prepare_geometry), compare, post, min_words,
                  prepare_geometry, _NEEDS.get(prepare_geometry, ("gram",)), symmetric)


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
              "Huh et al. 2024, ICML (platonic representation)", "gram", _mutual_knn, symmetric=False),
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


