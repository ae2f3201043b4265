"""hearlike.timing: timing RDMs and partial Spearman RSA, against slow references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss

from hearlike import timing


def test_timing_rdms_are_onset_gaps_and_duration_differences():
    onsets, offsets = np.array([0.0, 0.3, 1.0]), np.array([0.2, 0.9, 1.1])
    rdms = timing.timing_rdms(onsets, offsets)
    np.testing.assert_allclose(rdms[0], [0.3, 1.0, 0.7])
    np.testing.assert_allclose(rdms[1], [0.4, 0.1, 0.5])
    with pytest.raises(ValueError, match="same length"):
        timing.timing_rdms(onsets, offsets[:2])


def test_partial_spearman_matches_residual_regression_and_removes_a_shared_timing_cause():
    rng = np.random.default_rng(0)
    cov = rng.random((2, 15))
    model = cov[0] + 0.1 * rng.standard_normal(15)
    eeg = cov[0] + 0.1 * rng.standard_normal(15)
    got = float(timing.partial_spearman(model, eeg, cov))
    # slow reference: ranks, lstsq residuals one by one, Pearson of the residuals
    design = np.column_stack([np.ones(15), ss.rankdata(cov[0]), ss.rankdata(cov[1])])
    res = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (ss.rankdata(model), ss.rankdata(eeg))]
    assert got == pytest.approx(ss.pearsonr(*res)[0])
    plain = float(timing.partial_spearman(model, eeg, np.empty((0, 15))))
    assert plain == pytest.approx(ss.spearmanr(model, eeg)[0])
    assert plain > 0.6 and abs(got) < abs(plain) / 2  # the shared timing cause is what the plain score saw
