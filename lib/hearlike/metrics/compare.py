"""Each metric's ``compare`` beyond a Frobenius inner product: the ``"factor"`` metrics' small matrix products."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import nuclear as _compiled
from .prepare import _MI_RHO2_MAX


def _inner(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    return (rep_x * rep_y).sum(dim=(-1, -2))


def _sqrt_clamped(v: Tensor) -> Tensor:
    return v.clamp_min(0).sqrt()


def _nuclear(rep_x: Tensor, rep_y: Tensor) -> Tensor:
    """Nuclear norm of ``rep_xᵀ rep_y`` (float64 inside), NaN where a rep holds a NaN.

    On a CPU: one compiled loop over the batch (:func:`hearlike.metrics.nuclear.nuclear_norms`, ~2×
    faster than LAPACK at these sizes). Elsewhere: the square roots of the eigenvalues of ``MᵀM``
    (a symmetric eigensolver is ~1.4× faster than an SVD for these small matrices).
    """
    if rep_x.device.type == "cpu" and _compiled.AVAILABLE:
        norms = _compiled.nuclear_norms(rep_x.numpy(), rep_y.numpy(), threads=torch.get_num_threads())
        return torch.from_numpy(norms).to(rep_x.dtype)
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


