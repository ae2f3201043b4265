"""Shared fixtures: a tiny demo dataset and a parameter file pointing at it (written once per session)."""

from __future__ import annotations

import os

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

TINY_DEMO = dict(n_subjects=3, n_sentences=24, seed=0)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A 24-sentence, 3-subject demo (same generative model as the book's default)."""
    from hearlike.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("data") / "demo", **TINY_DEMO)


@pytest.fixture(scope="session")
def tiny_params_file(tiny_demo, tmp_path_factory):
    """A parameter file for the tiny demo: two models, all metrics, few permutations."""
    root = tmp_path_factory.mktemp("study")
    params = {
        "dataset": "demo",
        "data_root": str(tiny_demo),
        "cache_dir": str(root / "cache"),
        "device": "cpu",
        "seed": 0,
        "models": ["oracle", "tiny-qwen2-audio"],
        "metrics": ["spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn",
                    "linear_cka", "rbf_cka", "dcor", "svcca"],
        "extra_metrics": ["cka_debiased", "dcor_debiased"],
        "windows": {"0-250": [0, 250], "250-500": [250, 500], "500-750": [500, 750]},
        "regions": ["all", "central", "parietal"],
        "factor_metric_regions": ["all"],
        "min_words": 4,
        "n_permutations": 20,
        "keep": ["sentence"],
        "eeg": {"resample_hz": 100},
        "tnc": {"k": 3, "theta": 0.6, "model_layer_depth": 0.6},
        "notebooks": {"01_rank_dependence": {"n_boot": 100},
                      "03_affective_dissociation": {"n_permutations": 200, "n_examples": 1},
                      "real_speech": {"n_trials": 1},
                      "comparison": {"n_models": 2, "n_permutations": 5}},
    }
    path = root / "params.yml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
