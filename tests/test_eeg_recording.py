"""The one epoch-acceptance rule (hearlike.eeg.recording): each clause, per onset and for every onset."""

from __future__ import annotations

import numpy as np

from hearlike.eeg.recording import epoch_rejections, epoch_start_ok, onset_samples, peak_to_peak_exceeds


def test_each_clause_of_the_rule_and_its_every_onset_form_agree():
    offsets = np.arange(-2, 5)  # epochs cover onset - 2 .. onset + 4
    bad = np.zeros(40, dtype=bool)
    bad[20] = True
    onsets = onset_samples(np.array([0.1, 0.2, 1.0, 1.6, 2.0, 3.5, 3.6, np.nan]), 10.0)
    np.testing.assert_array_equal(onsets, [1, 2, 10, 16, 20, 35, 36, -1])
    rejected = epoch_rejections(onsets, offsets, bad)
    #                                              1      2      10     16     20     35     36     NaN
    np.testing.assert_array_equal(rejected["out_of_bounds"], [True, False, False, False, False, False, True, True])
    np.testing.assert_array_equal(rejected["bad_segment"], [False, False, False, True, True, False, False, False])
    signal = np.zeros((2, 40))
    signal[1, 12] = 5.0  # a peak seen by the epochs at onsets 8 .. 14
    ok = epoch_start_ok(signal, bad, offsets, reject_peak_to_peak_v=1.0)
    for onset in range(40):
        (outside,), (in_bad,) = (epoch_rejections([onset], offsets, bad)[k] for k in ("out_of_bounds", "bad_segment"))
        large = not outside and peak_to_peak_exceeds(signal[None, :, onset + offsets], 1.0)[0]
        assert ok[onset] == (not outside and not in_bad and not large), onset
    assert not ok[8:15].any() and ok[[7, 15]].all()
    assert epoch_start_ok(signal, bad, offsets, reject_peak_to_peak_v=None)[8:15].all()
