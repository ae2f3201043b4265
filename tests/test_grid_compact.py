"""hearlike.grid.compact: states reduced to per-sentence Gram pseudo-features give the grid's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from hearlike.grid import compute_grid
from hearlike.grid.compact import compact_bytes, compact_states, sentences_of, word_probe
from hearlike.grid.store import compute_grid_store
from hearlike.metrics import METRICS

from test_grid import REGIONS, WINDOWS, make_epochs, make_states

LENGTHS = [4, 5, 4, 6, 5, 4, 7]


def test_every_metric_and_null_is_unchanged_on_compacted_states():
    """All registered metrics, a NaN-padded layer (``n_features``), a word missing from one model
    (the sentence keeps its other words) and a sentence below min_words: identical to 1e-10."""
    states = {"wide": make_states(LENGTHS, 3, 60, seed=1, widths=[60, 41, 60]), "narrow": make_states(LENGTHS, 2, 12, seed=2)}
    states["narrow"] = states["narrow"].drop_sel(word=["s01:2", "s00:1"])  # words this model lacks (s00: 3 left)
    epochs = make_epochs(LENGTHS, n_subjects=2, seed=4)
    kw = dict(windows=WINDOWS, regions=REGIONS, metrics=list(METRICS), n_permutations=4, seed=3, null_kind="swap",
              keep_null=True, keep_sentences=True, min_words=4)
    whole = compute_grid(states, epochs, **kw)
    probe = word_probe(epochs)
    compact = {}
    for name, da in states.items():
        sentences = sentences_of(da, probe, 4, name=name)
        compact[name] = compact_states(da, sentences)
        width = max(LENGTHS) + 1
        assert compact[name].sizes["feature"] == width and "n_features" not in compact[name].coords
        assert compact[name].nbytes == compact_bytes(da, sentences)
    assert compact["wide"].nbytes < states["wide"].nbytes / 2  # 60 features -> 8 (float64)
    got = compute_grid(compact, epochs, **kw)
    for name in ("score", "null_mean", "null_sd", "p_value", "sentence_excess", "null"):
        a, b = whole[name].values, got[name].values
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10, err_msg=name)


def test_nan_states_are_still_named_by_the_grid():
    states = make_states(LENGTHS, 2, 20, seed=1)
    states[0, 3, 5] = np.nan
    epochs = make_epochs(LENGTHS, n_subjects=1, seed=4)
    compact = compact_states(states, sentences_of(states, word_probe(epochs), 4))
    with pytest.raises(ValueError, match="model 'm' layer 'decoder.0' has NaN states"):
        compute_grid({"m": compact}, epochs, windows=WINDOWS, regions=REGIONS, metrics=["spearman_rsa"],
                     n_permutations=0, null_kind="swap")


def test_the_store_plans_with_compacted_sizes_and_equals_the_uncompacted_store(tmp_path):
    states = {"a": make_states(LENGTHS, 3, 200, seed=1), "b": make_states(LENGTHS, 2, 150, seed=2)}
    epochs = make_epochs(LENGTHS, n_subjects=2, seed=4)
    kw = dict(windows=WINDOWS, regions=REGIONS, metrics=["spearman_rsa", "linear_cka", "procrustes"],
              n_permutations=5, seed=3, null_kind="swap", keep_sentences=True)
    budget = states["a"].nbytes  # one model's raw states: one model per task, unless compacted
    raw = compute_grid_store(tmp_path / "raw", states.__getitem__, list(states), epochs, compact=False,
                             states_budget_bytes=budget, **kw)
    small = compute_grid_store(tmp_path / "small", states.__getitem__, list(states), epochs,
                               states_budget_bytes=budget, **kw)
    assert raw.attrs["model_groups"] == "[[0], [1]]" and small.attrs["model_groups"] == "[[0, 1]]"
    assert small.attrs["compact_states"] == 1 and raw.attrs["compact_states"] == 0
    for name in ("score", "null_mean", "p_value", "sentence_excess", "group_null"):
        np.testing.assert_allclose(small[name].values, raw[name].values, rtol=1e-6, atol=1e-7, err_msg=name)
