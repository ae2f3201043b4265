"""Methods prose is generated from the parameters: change a parameter and the sentence follows."""

from __future__ import annotations

import pytest

from hearlike import methods
from hearlike.config import params_from_dict


def _params(tmp_path, **changes):
    values = {"dataset": "demo", "data_root": str(tmp_path), "cache_dir": str(tmp_path / "cache"),
              "models": ["oracle"]} | changes
    return params_from_dict(values, source=tmp_path / "params.yml")


def test_null_description_follows_null_kind(tmp_path):
    assert methods.describe_null(_params(tmp_path)).startswith(
        "the `shift` null: each sentence's model words compared with surrogate EEG epochs cut at the sentence's own")
    swap = _params(tmp_path, null_kind="swap")
    assert methods.describe_null(swap) == (
        "the `swap` null: each sentence's model words paired with the EEG of another sentence of the same length")
    assert "**This run's null (`swap`) does not keep that timing**" in methods.null_rationale(swap)
    assert "This study's null (`shift`, see the methods)" in methods.null_rationale(_params(tmp_path))
    assert "**Permutation null (swap).** In each of 7 permutations" in methods.describe_statistics(
        _params(tmp_path, null_kind="swap", n_permutations=7))


def test_exclusion_window_and_metric_prose_follow_the_parameters(tmp_path):
    params = _params(tmp_path, min_words=5, windows={"early": [0, 200], "n400": [300, 500]},
                     metrics=["spearman_rsa", "linear_cka", "dcor"])
    assert methods.describe_exclusion(params, 3) == "3 sentences with fewer than 5 words"
    assert methods.window_label(params, "n400") == "300–500 ms"
    assert methods.describe_metric_families(params) == (
        "one *geometric* (Spearman RSA) and two *covariance-based* (linear CKA, distance correlation)")
    with pytest.raises(ValueError, match=r"window '250-500' is not among the `windows` of .*params.yml \(early, n400\)"):
        methods.window_label(params, "250-500")


def test_statistics_say_when_sign_flips_are_exact(tmp_path):
    text = methods.describe_statistics(_params(tmp_path))
    assert "sign-flip tests over subjects (exact, all 2^n flips, up to 13 subjects; 10000 random flips beyond)" in text


def test_calibration_table_pools_null_twins_and_states_the_upper_bound():
    rows = [dict(data="demo", test="subject", claim="aligns", false_positives=10, n_models=10),
            dict(data="demo", test="both", claim="aligns", false_positives=0, n_models=10),
            dict(data="null twin seed 0", test="both", claim="aligns", false_positives=1, n_models=10),
            dict(data="null twin seed 1", test="both", claim="aligns", false_positives=0, n_models=10)]
    rows.append(dict(data="demo", test="both", claim="cell", false_positives=26, n_models=480))
    oracle = {"demo|both": True, "demo|subject": True, "null twin seed 0|subject": True, "null twin seed 0|both": False,
              "null twin seed 1|subject": False, "null twin seed 1|both": False}
    result = dict(rows=rows, oracle_aligned=oracle, n_models=10, n_layers=4,
                  n_twins=2, n_permutations=50, quick=True)
    table = methods.calibration_table(result)
    twins = table[(table["data"] == "null twins") & (table["test"] == "both (the book's test)")].iloc[0]
    assert (twins["false positives"], twins["out of"]) == (1, 20)
    text = methods.describe_calibration(result)
    assert "With subjects alone random, 10 of 10 random models \"align\" with the planted demo." in text
    assert "is 5.0% (a model aligns (some FWE cell), null twins; one-sided 95 % upper bound 21.6%; against a true " \
           "rate of 5 % this count has one-sided binomial *p* = 0.64)" in text
    assert "and the oracle's planted alignment is recovered." in text
    assert "Per cell, uncorrected *p* < .05 occurs in 5.4% of random-model cells on the planted demo (nominal 5 %)." in text
    assert text.endswith("the oracle \"aligns\" in 1 of 2 under the by-subject test alone and in 0 under the book's test.")
