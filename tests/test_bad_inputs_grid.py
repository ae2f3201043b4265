"""Bad inputs of the metric grid and the metric functions: a clear error or a defined result, never
a crash deep inside or a silently wrong number."""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pytest
import torch

from hearlike import grid as hg
from hearlike import metrics as hm
from test_grid import REGIONS, WINDOWS, make_epochs, make_states

LENGTHS = [6, 6, 7, 8, 8]  # sentence s01 = words 6..11
FACTOR_AND_GRAM = ["procrustes", "svcca", "spearman_rsa", "linear_cka"]


def _grid(states, epochs, **kw):
    options = dict(windows=WINDOWS, regions=REGIONS, metrics=FACTOR_AND_GRAM, n_permutations=8, seed=2,
                   null_kind="shuffle", keep_sentences=True)
    return hg.compute_grid({"m": states}, epochs, **{**options, **kw})


@pytest.mark.parametrize("null_kind", ["shuffle", "swap"])
def test_a_subject_with_a_zero_filled_sentence_is_masked_not_a_linalg_error(null_kind):
    states, epochs = make_states(LENGTHS, 3, 10, seed=4), make_epochs(LENGTHS, n_subjects=2, seed=5)
    zeroed = epochs.copy(data=epochs.values.copy())
    zeroed[0, 6:12] = 0.0  # subject 0 rejected every epoch of s01, written as zeros
    g = _grid(states, zeroed, null_kind=null_kind)
    assert np.isnan(g["sentence_score"].sel(sentence="s01").isel(subject=0)).all()
    assert np.isfinite(g["score"]).all() and np.isfinite(g["p_value"]).all()
    # 4 metrics × 3 layers × (2 windows × 2 regions) undefined scores, all of subject 0 / s01
    assert g.attrs["n_scores_undefined"] == 4 * 3 * 4
    keep = (epochs["sentence_id"] != "s01").values
    without = _grid(states.sel(word=keep), epochs.isel(subject=[0], word=keep), null_kind=null_kind)
    np.testing.assert_allclose(g["score"].isel(subject=0), without["score"].isel(subject=0), rtol=1e-10)
    if null_kind == "shuffle":  # the swap null re-pairs within the bucket, which lost a sentence
        np.testing.assert_allclose(g["p_value"].isel(subject=0), without["p_value"].isel(subject=0), rtol=1e-10)


def test_a_model_with_identical_states_for_a_sentence_is_masked():
    states, epochs = make_states(LENGTHS, 3, 10, seed=4), make_epochs(LENGTHS, n_subjects=2, seed=5)
    flat = states.copy(data=states.values.copy())
    flat[:, 6:12] = flat[:, 6:7].values  # every word of s01 has the same state
    g = _grid(flat, epochs)
    assert np.isnan(g["sentence_score"].sel(sentence="s01")).all()
    assert np.isfinite(g["score"]).all()
    assert g.attrs["n_scores_undefined"] == 4 * 3 * 8  # every cell of both subjects
    keep = (epochs["sentence_id"] != "s01").values
    without = _grid(states.sel(word=keep), epochs.isel(word=keep))
    np.testing.assert_allclose(g["score"], without["score"], rtol=1e-10)


@pytest.mark.parametrize("name", [n for n in hm.__all__ if n in hm.METRICS])
def test_public_metric_functions_give_nan_for_a_sentence_with_nan_input(name):
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((3, 6, 4)))
    y = torch.as_tensor(rng.standard_normal((3, 6, 5)))
    clean = getattr(hm, name)(x, y)
    y_nan = y.clone()
    y_nan[1, 2, 0] = float("nan")
    got = getattr(hm, name)(x, y_nan)
    assert torch.isnan(got[1]), got
    torch.testing.assert_close(got[[0, 2]], clean[[0, 2]], rtol=0, atol=0)
    assert torch.isnan(getattr(hm, name)(torch.full_like(x, float("nan")), y)).all()


def test_negative_n_permutations_is_a_clear_error():
    states, epochs = make_states(LENGTHS, 1, 10), make_epochs(LENGTHS)
    with pytest.raises(ValueError, match=r"n_permutations must be a whole number >= 0 \(0 = scores only, no null\), "
                                         r"got -3"):
        _grid(states, epochs, n_permutations=-3)
    with pytest.raises(ValueError, match=r"n_permutations must be a whole number >= 0 .*got 2.5"):
        _grid(states, epochs, n_permutations=2.5)


def test_zero_permutations_keep_the_scores_and_warn_that_p_values_are_nan(caplog):
    states, epochs = make_states(LENGTHS, 2, 10), make_epochs(LENGTHS)
    with caplog.at_level(logging.WARNING, logger="hearlike.grid"):
        g = _grid(states, epochs, n_permutations=0)
    assert "n_permutations=0: the grid holds scores only; null_mean, null_sd, excess and p_value are NaN" in caplog.text
    assert np.isnan(g["p_value"]).all() and np.isnan(g["excess"]).all()
    np.testing.assert_array_equal(g["score"], _grid(states, epochs, n_permutations=3)["score"])


def test_library_defaults_are_the_study_s_and_shift_without_surrogates_says_what_to_pass():
    signature = inspect.signature(hg.compute_grid).parameters
    assert signature["null_kind"].default == "shift" and signature["min_words"].default == 4
    assert inspect.signature(hg.eeg_rdms).parameters["min_words"].default == 4
    states, epochs = make_states(LENGTHS, 1, 10), make_epochs(LENGTHS)
    with pytest.raises(ValueError, match=r"null_kind='shift' needs surrogates= \(hearlike.eeg.surrogate_epochs"):
        hg.compute_grid({"m": states}, epochs, windows=WINDOWS, regions=REGIONS, metrics=["spearman_rsa"])
    with pytest.raises(ValueError, match=r"null_kind must be one of \('shuffle', 'cyclic', 'swap', 'shift'\), "
                                         r"got 'circular'"):
        _grid(states, epochs, null_kind="circular")


def test_factor_regions_name_regions_of_the_grid():
    states, epochs = make_states(LENGTHS, 1, 10), make_epochs(LENGTHS)
    with pytest.raises(ValueError, match=r"factor_regions \['all'\] are not in regions \['left', 'right'\]; name at "
                                         r"least one region of this grid, or pass None for all"):
        _grid(states, epochs, factor_regions=["all"])
    with pytest.raises(ValueError, match=r"factor_regions \[\] are not in regions"):
        _grid(states, epochs, factor_regions=[])
