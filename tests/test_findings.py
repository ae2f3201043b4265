"""Finding-level statistics on synthetic grids whose truth is known."""

from __future__ import annotations

import numpy as np
import xarray as xr

from hearlike import findings, stats


def _grid(rng, *, aligned_gain=0.0, n_models=6, n_layers=4, n_metrics=5, n_subjects=6, n_perm=200):
    """A grid where all metrics read the same noise (shared across metrics, as on real EEG) and
    model ``m0`` optionally aligns (``aligned_gain`` added to its observed scores)."""
    dims = ("model", "layer", "subject", "window", "region", "metric")
    shape = (n_models, n_layers, n_subjects, 1, 1, n_metrics)
    shared = rng.standard_normal((n_models, n_layers, n_subjects, 1, 1, 1))
    score = shared + 0.2 * rng.standard_normal(shape)
    score[0] += aligned_gain
    shared_null = rng.standard_normal((n_models, n_layers, 1, 1, 1, n_perm))
    group_null = (shared_null + 0.2 * rng.standard_normal((n_models, n_layers, 1, 1, n_metrics, n_perm))) / np.sqrt(n_subjects)
    coords = {"model": [f"m{i}" for i in range(n_models)], "layer": [f"decoder.{i}" for i in range(n_layers)],
              "subject": [f"{i:02d}" for i in range(n_subjects)], "window": ["250-500"], "region": ["all"],
              "metric": [f"k{i}" for i in range(n_metrics)], "permutation": np.arange(n_perm)}  # fmt: skip
    null_mean = np.zeros(shape)
    return xr.Dataset({"score": (dims, score), "null_mean": (dims, null_mean), "excess": (dims, score - null_mean),
                       "group_null": (dims[:2] + dims[3:] + ("permutation",), group_null)}, coords=coords)  # fmt: skip


def test_metrics_sharing_noise_agree_under_the_null_and_the_permutation_test_knows_it():
    rng = np.random.default_rng(0)
    grid = _grid(rng)
    scores = findings.model_scores(grid, window="250-500")
    w = stats.kendall_w(scores["score"])
    w_null = findings.null_rank_agreement(grid, window="250-500")
    assert float(w["p_value"]) < 0.01  # the chi-square test (independent raters) is fooled ...
    assert float(w_null.mean()) > 0.5  # ... because metrics reading the same noise agree anyway
    p = (1 + int((w_null >= float(w["w"])).sum())) / (1 + w_null.sizes["permutation"])
    assert p > 0.05, (float(w["w"]), float(w_null.mean()))


def test_aligned_models_names_the_model_that_aligns():
    rng = np.random.default_rng(1)
    table = findings.aligned_models(_grid(rng, aligned_gain=3.0), window="250-500")
    assert table.loc["m0", "n_metrics_significant"] == 5
    assert (table.drop(index="m0")["n_metrics_significant"] == 0).all(), table
