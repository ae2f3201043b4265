"""Praat TextGrid word timings (OpenNeuro ds004408's stimuli/audioXX.TextGrid), read without Praat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io

from hearlike.eeg.datasets import alice
from hearlike.eeg.datasets.textgrid import read_textgrid, textgrid_words, write_textgrid

SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
3.5
<exists>
2
"IntervalTier"
"phones"
0
3.5
1
0
3.5
""
"IntervalTier"
"words"
0
3.5
4
0
0.52
""
0.52
1.1
"old"
1.1
1.7
"sp"
1.7
3.5
"say ""man"""
'''


def test_long_form_round_trip_fills_silences_and_drops_them_again(tmp_path):
    words = pd.DataFrame({"start_s": [0.5, 1.25, 2.0], "stop_s": [1.0, 1.75, 2.4], "label": ["the", "old", "man"]})
    path = write_textgrid(tmp_path / "audio01.TextGrid", {"phones": words.assign(label="AH0"), "words": words},
                          xmax=3.0)
    tiers = read_textgrid(path)
    assert list(tiers) == ["phones", "words"] and len(tiers["words"]) == 7  # 3 words + 4 silent gaps
    found = textgrid_words(path)  # the tier named "words", not the first one
    assert found["word"].tolist() == ["the", "old", "man"]
    np.testing.assert_allclose(found[["onset_s", "offset_s"]].to_numpy(), words[["start_s", "stop_s"]].to_numpy())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_short_form_and_utf16(tmp_path, encoding):
    path = tmp_path / "short.TextGrid"
    path.write_text(SHORT, encoding=encoding)
    found = textgrid_words(path)
    assert found["word"].tolist() == ["old", 'say "man"']  # "" and "sp" are silences
    np.testing.assert_allclose(found["onset_s"], [0.52, 1.7])
    with pytest.raises(ValueError, match=r"has no tier 'syllables'; its interval tiers are \['phones', 'words'\]"):
        textgrid_words(path, tier="syllables")


def test_not_a_textgrid_is_named(tmp_path):
    path = tmp_path / "bad.TextGrid"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"bad.TextGrid is not a Praat text TextGrid"):
        read_textgrid(path)
    path.write_text(SHORT[:150])  # cut inside the words tier
    with pytest.raises(ValueError, match=r"bad.TextGrid is not a readable TextGrid"):
        read_textgrid(path)


@pytest.mark.parametrize("use", [np.array([[1, 0, 1, 0]], dtype=np.uint8), np.array([[1.0, 0.0, 1.0, 0.0]]),
                                 np.array([[1, 3]], dtype=float)])
def test_datasets_mat_use_as_flags_or_numbers(tmp_path, use):
    scipy.io.savemat(tmp_path / "datasets.mat", {"use": use})
    assert alice.paper_subjects(tmp_path) == ["S01", "S03"]
