"""hearlike.tts: offline espeak-ng synthesis with exact per-word timings."""

import numpy as np
import pytest

from hearlike.tts import NEGATIVE_PROSODY, NORMAL_PROSODY, SFREQ_HZ, synthesize, tokenize_words

SENTENCE = "The soldier died alone in the cold and muddy trench."


def test_word_timings_are_monotonic_inside_the_audio_and_match_the_text():
    audio, sfreq_hz, words = synthesize(SENTENCE)
    assert sfreq_hz == SFREQ_HZ == 16_000
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.abs(audio).max() <= 1.0
    # "in the" is one multi-word entry in espeak's dictionary: it must still give two words
    assert words.word.tolist() == [w for w, _, _ in tokenize_words(SENTENCE)]
    assert len(words) == 10
    assert words.onset_s.iloc[0] >= 0
    assert np.all(np.diff(words.onset_s) > 0.02)  # every word lasts at least 20 ms
    assert np.allclose(words.offset_s.iloc[:-1].to_numpy(), words.onset_s.iloc[1:].to_numpy())
    duration_s = audio.size / sfreq_hz
    assert words.offset_s.iloc[-1] <= duration_s
    # the trailing silence is trimmed to 50 ms after the last voiced sample
    assert duration_s - words.offset_s.iloc[-1] == pytest.approx(0.05, abs=2 / sfreq_hz)


def test_word_onsets_after_a_pause_fall_where_sound_resumes():
    """Onsets are in the audio's time base: a word after a comma starts right after silence."""
    audio, sfreq_hz, words = synthesize("Stop, and wait, please.")
    for word in ("and", "please"):
        onset = int(words.set_index("word").onset_s[word] * sfreq_hz)
        before = np.sqrt(np.mean(audio[onset - int(0.04 * sfreq_hz) : onset] ** 2))
        after = np.sqrt(np.mean(audio[onset : onset + int(0.1 * sfreq_hz)] ** 2))
        assert before < 1e-3, word
        assert after > 10 * max(before, 1e-4), word


def test_synthesis_is_deterministic():
    """espeak-ng keeps state between utterances; synthesize must not depend on what came before."""
    a1, _, w1 = synthesize("A gentle breeze carried the sweet smell of fresh bread.")
    synthesize("Something else, spoken sadly!", **NEGATIVE_PROSODY)
    a2, _, w2 = synthesize("A gentle breeze carried the sweet smell of fresh bread.")
    assert np.array_equal(a1, a2)
    assert w1.equals(w2)


def test_negative_prosody_is_slower_quieter_and_lower():
    import parselmouth

    text = "The lonely widow wept at the grave of her murdered son."
    normal, sfreq_hz, words_normal = synthesize(text, **NORMAL_PROSODY)
    negative, _, words_negative = synthesize(text, **NEGATIVE_PROSODY)
    assert words_negative.offset_s.iloc[-1] > 1.15 * words_normal.offset_s.iloc[-1]
    assert np.sqrt(np.mean(negative**2)) < 0.8 * np.sqrt(np.mean(normal**2))

    def semitones(audio):
        pitch = parselmouth.Sound(audio.astype(float), sampling_frequency=sfreq_hz).to_pitch(
            pitch_floor=50.0, pitch_ceiling=300.0
        )
        values = pitch.selected_array["frequency"]
        return 12 * np.log2(values[values > 0] / 100.0)

    low, high = semitones(negative), semitones(normal)
    assert np.median(low) < np.median(high) - 2  # lower pitch
    spread = lambda st: np.subtract(*np.percentile(st, [90, 10]))  # noqa: E731
    assert spread(low) < 0.7 * spread(high)  # narrower range


def test_tokenize_keeps_contractions_and_hyphenated_words_whole():
    assert [w for w, _, _ in tokenize_words("Don't stop, well-known man!")] == [
        "Don't", "stop", "well-known", "man",
    ]  # fmt: skip
    _, _, words = synthesize("Don't stop, well-known man!")
    assert words.word.tolist() == ["Don't", "stop", "well-known", "man"]


def test_text_espeak_expands_into_more_words_fails_loudly():
    with pytest.raises(ValueError, match=r"espeak spoke 5 words .* but the text 'It cost 25 dollars.' has 4 words"):
        synthesize("It cost 25 dollars.")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_wpm": 20}, r"rate_wpm=20 is invalid; pass an integer in \[80, 450\]"),
        ({"pitch": 120}, r"pitch=120 is invalid; pass an integer in \[0, 99\]"),
        ({"volume": 1.5}, r"volume=1.5 is invalid"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthesize("Hello there.", **kwargs)


def test_text_without_words_is_rejected():
    with pytest.raises(ValueError, match="has no words to speak"):
        synthesize(" ... !")
