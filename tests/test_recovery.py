"""End-to-end recovery of the demo's planted effects through the study pipeline.

A mid-size demo (30 sentences x 4 subjects) and its null twin go through the real pipeline
(:func:`hearlike.config.load_params` + :func:`hearlike.pipeline.metric_grid`: EEG preprocessing,
within-sentence metric grid, timing-preserving shift null, max-statistic FWE). The planted depth of the
oracle's meaning representation must come back in the N400 window, and the null twin must show
nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from hearlike import demo, findings, pipeline
from hearlike.config import load_params

SIZE = dict(n_sentences=30, n_subjects=4, seed=0)
METRICS = ["spearman_rsa", "linear_cka"]
N400 = "250-500"


def _params(root, cache_dir, dataset):
    overrides = {
        "dataset": dataset, "data_root": str(root), "cache_dir": str(cache_dir), "models": ["oracle", "oracle-prosody"],
        "metrics": METRICS, "extra_metrics": [], "regions": ["all"], "factor_metric_regions": ["all"],
        "n_permutations": 50,
    }  # fmt: skip
    return load_params("params.yml", overrides)


@pytest.fixture(scope="module")
def grids(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("recovery")
    params_dir = request.config.rootpath
    roots = {
        "demo": demo.write_demo(base / "demo", **SIZE),
        "null": demo.write_demo(base / "demo-null", null=True, **SIZE),
    }
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(params_dir)  # params.yml of the repository: the study's default settings
        for name, root in roots.items():
            out[f"{name}_params"] = _params(root, base / f"cache-{name}", "demo-null" if name == "null" else "demo")
            out[name] = pipeline.metric_grid(out[f"{name}_params"])  # per-sentence scores: the by-item test
    out["truth"] = demo.read_ground_truth(roots["demo"])
    return out


def _profile(grid, window, metric="spearman_rsa"):
    return grid["excess"].sel(model="oracle", region="all", metric=metric, window=window).mean("subject")


def test_planted_meaning_depth_is_recovered_in_the_n400_window(grids):
    grid, truth = grids["demo"], grids["truth"]
    layers = list(grid.layer.values)
    planted = layers.index(truth["oracle"]["planted_peak_layer"])
    profile = _profile(grid, N400)
    peak = int(profile.argmax("layer"))
    assert abs(peak - planted) <= 1, profile.to_pandas().round(3).to_dict()
    # the acoustic (first) layers align clearly less with the N400 window than the peak does
    assert float(profile.isel(layer=slice(0, 3)).max()) < 0.5 * float(profile.max())
    # ... and peak in the early (acoustic) window instead
    early = _profile(grid, "0-250")
    assert int(early.argmax("layer")) <= 3, early.to_pandas().round(3).to_dict()


def test_n400_window_is_best_at_the_peak_layer_and_significant(grids):
    grid, truth = grids["demo"], grids["truth"]
    layer = truth["oracle"]["planted_peak_layer"]
    by_window = grid["excess"].sel(model="oracle", layer=layer, region="all", metric="spearman_rsa").mean("subject")
    assert str(by_window.window[int(by_window.argmax("window"))].values) == N400, by_window.to_pandas().round(3)
    p = findings.group_p_values(grid)["p_fwe"].sel(model="oracle", region="all", metric="spearman_rsa")
    profile = _profile(grid, N400)
    peak = str(profile.layer[int(profile.argmax("layer"))].values)
    assert float(p.sel(layer=peak, window=N400)) < 0.05


def test_null_twin_has_nothing_significant(grids):
    p = findings.group_p_values(grids["null"])["p_fwe"].sel(model="oracle", region="all", metric="spearman_rsa")
    assert np.isfinite(p.values).all()
    assert float(p.min()) >= 0.05, p.to_pandas().round(3)


def test_word_shuffle_null_would_call_the_null_twin_aligned(grids):
    """Why the study's null swaps sentences: with the word-shuffle null, serial-position structure
    shared by the oracle's meaning layers and noise-only EEG shows up as alignment."""
    params = grids["null_params"].replace(null_kind="shuffle")
    grid = pipeline.metric_grid(params)
    p = findings.group_p_values(grid)["p_fwe"].sel(model="oracle", region="all", metric="spearman_rsa")
    assert float(p.min()) < 0.05


def test_prosody_only_model_is_seen_by_covariance_metrics_not_geometric_ones(grids):
    """The planted rank split: ``oracle-prosody`` carries prosodic salience as an offset on every
    feature (no meaning) -- invisible to correlation-distance RSA, shared with the EEG's late
    positivity in covariance."""
    p = findings.group_p_values(grids["demo"])["p_fwe"].sel(model="oracle-prosody", region="all", window=N400)
    assert float(p.sel(metric="linear_cka").min()) < 0.05
    assert float(p.sel(metric="spearman_rsa").min()) >= 0.05


def test_tnc_labels_the_planted_negative_prosody_more_precisely_than_any_single_view(grids):
    result = pipeline.tnc_of(grids["demo_params"].replace(tnc={"k": 3, "theta": 0.6, "model_layer_depth": 0.6}))
    labels, planted = result["labels"], result["planted"].reindex(result["labels"].index)
    tnc_negative = labels["label"] == "negative"
    assert tnc_negative.sum() >= 3
    precision = planted[tnc_negative].mean()
    assert precision >= 0.9
    for view in ("prosody", "text", "model"):
        flagged = labels[f"{view}_negative"].astype(bool)
        assert precision >= planted[flagged].mean(), view


def _calibration():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "calibration.py"
    spec = importlib.util.spec_from_file_location("calibration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_random_state_models_do_not_align_with_the_planted_demo_once_sentences_are_random(grids):
    """The calibration (bench/calibration.py) at reduced size: 10 random-state models on the planted demo.

    EEG structure shared by all subjects makes the by-subject test call random models aligned;
    the book's test (subjects and sentences random) must not, and must still find the oracle."""
    from hearlike.grid import compute_grid

    calibration = _calibration()
    params = grids["demo_params"]
    epochs = pipeline.epochs_of(params)
    oracle = pipeline.layer_states(params, "oracle")
    states = {"oracle": oracle} | calibration.random_models(oracle, n_models=10, n_layers=3)
    n_perm = 50
    grid = compute_grid(states, epochs, windows=pipeline.windows_of(params), regions=pipeline.regions_of(params, epochs),
                        metrics=["spearman_rsa"], n_permutations=n_perm, seed=0, min_words=params.min_words,
                        null_kind="shift", surrogates=pipeline.surrogates_of(params, epochs, n_perm),
                        keep_null=True, keep_sentences=True)
    grid["group_null"] = grid["null"].mean("subject")
    claims = calibration.claims(grid, target_window=N400, n_permutations=500, seed=0)
    randoms = [m for m in states if m != "oracle"]
    book = claims["both"].sel(model=randoms)
    assert int(book.sel(claim="aligns").sum()) <= 1, book.to_pandas()
    assert int(book.sel(claim="peak").sum()) <= 1, book.to_pandas()
    assert bool(claims["both"].sel(claim="aligns", model="oracle"))
    # the by-subject test alone is what let random models align (the reason for the by-item test)
    assert int(claims["subject"].sel(model=randoms, claim="aligns").sum()) >= int(book.sel(claim="aligns").sum())
