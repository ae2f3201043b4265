"""Offline speech synthesis with exact per-word timings (libespeak-ng through ctypes).

The shared library and its voice data ship inside the ``espeakng-loader`` wheel, so synthesis
needs no network and no system package. espeak-ng is driven in synchronous retrieval mode: a
callback receives the 22 050 Hz samples and, for every word it speaks, an ``espeakEVENT_WORD``
event carrying the word's position in the input text and its ``audio_position`` in
milliseconds. The audio is resampled to 16 kHz with soxr; onsets are exact to the sample of the
synthesiser's own word boundaries (espeak reports them in whole milliseconds).

espeak-ng keeps global state (including the waveform generator's phase), so every utterance
gets a freshly loaded private copy of the library, behind one lock: synthesis is then
deterministic.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["synthesize", "tokenize_words", "NEGATIVE_PROSODY", "NORMAL_PROSODY", "SFREQ_HZ"]

#: sampling rate of the audio returned by :func:`synthesize`
SFREQ_HZ = 16_000

#: prosody settings (espeak units: words per minute, 0-99 pitch/range, 0-200 volume)
NORMAL_PROSODY = {"rate_wpm": 165, "pitch": 50, "pitch_range": 60, "volume": 100}
#: "negative" affective prosody: lower, flatter, slower, quieter
NEGATIVE_PROSODY = {"rate_wpm": 130, "pitch": 30, "pitch_range": 15, "volume": 60}

# --- espeak-ng C API (speak_lib.h) -------------------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_AUTO = 0
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM = {"rate_wpm": 1, "volume": 2, "pitch": 3, "pitch_range": 4, "wordgap": 7}

# a word token: letters/digits with inner apostrophes (don't, children's)
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['\u2019-][A-Za-z0-9]+)*")
_WORD_SEPARATOR = "\u200b"
# silence threshold used to trim the end of the audio (fraction of full scale)
_SILENCE_LEVEL = 10 ** (-45 / 20)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_LOCK = threading.Lock()
_SCRATCH: dict = {}


@contextlib.contextmanager
def _espeak():
    """A freshly loaded and initialised libespeak-ng; yields (lib, native rate, sink).

    espeak-ng keeps static state between utterances (the waveform generator's phase), so the same
    text synthesised twice in one process differs by a few samples. Loading a private copy of the
    library for every utterance (about 6 ms) makes synthesis a pure function of its arguments.
    """
    import _ctypes

    try:
        import espeakng_loader
    except ImportError as err:  # pragma: no cover - dependency of the package
        raise ImportError(
            "hearlike.tts needs the 'espeakng-loader' package (pip install espeakng-loader)"
        ) from err
    if "dir" not in _SCRATCH:
        _SCRATCH["dir"] = tempfile.TemporaryDirectory(prefix="hearlike-espeak-")
        _SCRATCH["count"] = 0
    _SCRATCH["count"] += 1
    copy = Path(_SCRATCH["dir"].name) / f"libespeak-ng-{_SCRATCH['count']}.so"
    shutil.copyfile(espeakng_loader.get_library_path(), copy)
    lib = ctypes.CDLL(str(copy), mode=os.RTLD_LOCAL)
    try:
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        data_path = espeakng_loader.get_data_path().encode()
        sfreq = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
        )
        if sfreq <= 0:
            raise RuntimeError(f"espeak_Initialize failed (returned {sfreq}); data path {data_path!r}")
        sink: dict = {"samples": [], "events": []}

        def _on_audio(wav, n_samples, events):
            if n_samples > 0:
                sink["samples"].append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                ev = events[i]
                if ev.type == _EVENT_WORD:
                    sink["events"].append((ev.text_position, ev.length, ev.audio_position, ev.sample))
                i += 1
            return 0

        callback = _CALLBACK(_on_audio)
        lib.espeak_SetSynthCallback(callback)
        yield lib, sfreq, sink
        lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)
        copy.unlink()


def tokenize_words(text):
    """Split a sentence into the words a listener hears (punctuation dropped).

    Parameters
    ----------
    text : str
        One sentence of plain English. Punctuation is dropped; apostrophes and hyphens inside a
        word keep it whole (``don't``, ``well-known``), as espeak-ng does.

    Returns
    -------
    list of tuple (str, int, int)
        ``(word, start_char, stop_char)`` for each word, in order.
    """
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def synthesize(text, *, rate_wpm=165, pitch=50, pitch_range=60, volume=100, voice="en"):
    """Speak one sentence offline and return its audio with per-word onsets and offsets.

    Parameters
    ----------
    text : str
        The sentence. Its words are the tokens of :func:`tokenize_words`; numbers and symbols
        that espeak would expand into several words are rejected.
    rate_wpm : int
        Speaking rate in words per minute (espeak accepts 80-450).
    pitch : int
        Base pitch, 0-99 (espeak units; 50 is the voice's default).
    pitch_range : int
        Pitch range (intonation excursion), 0-99; 0 is monotone.
    volume : int
        Amplitude, 0-200 (100 is normal).
    voice : str
        espeak-ng voice name.

    Returns
    -------
    audio : ndarray of float32, shape (n_samples,)
        Mono waveform in [-1, 1] at ``sfreq_hz``; everything after the last sample above
        -45 dBFS is replaced by exactly 50 ms of silence.
    sfreq_hz : int
        16 000.
    words : DataFrame
        One row per word with columns ``word`` (str), ``onset_s`` and ``offset_s`` (float,
        seconds from the start of ``audio``). A word ends where the next one starts; the last
        word ends at the last voiced sample.

    Raises
    ------
    ValueError
        If a parameter is out of range, the text has no words, or espeak's word events do not
        match the text's words one to one.
    """
    for name, value, low, high in [
        ("rate_wpm", rate_wpm, 80, 450), ("pitch", pitch, 0, 99),
        ("pitch_range", pitch_range, 0, 99), ("volume", volume, 0, 200),
    ]:  # fmt: skip
        if not (isinstance(value, (int, np.integer)) and low <= value <= high):
            raise ValueError(f"{name}={value!r} is invalid; pass an integer in [{low}, {high}]")
    tokens = tokenize_words(text)
    if not tokens:
        raise ValueError(f"text {text!r} has no words to speak")
    # espeak-ng's English dictionary has multi-word entries ("in the", "of the", "had been") that
    # it speaks as one word with one event; a zero-width space before each word keeps every word
    # separate (it is silent and only breaks the multi-word lookup)
    spoken_text, tokens = _separate_words(text, tokens)
    encoded = spoken_text.encode("utf-8")
    with _LOCK, _espeak() as (lib, native_sfreq, sink):
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}; try voice='en'")
        for name, value in [
            ("rate_wpm", rate_wpm), ("pitch", pitch), ("pitch_range", pitch_range),
            ("volume", volume), ("wordgap", 0),
        ]:  # fmt: skip
            lib.espeak_SetParameter(_PARAM[name], int(value), 0)
        buffer = ctypes.create_string_buffer(encoded)
        status = lib.espeak_Synth(
            buffer, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_AUTO, None, None
        )
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} for text {text!r}")
        samples = np.concatenate(sink["samples"]) if sink["samples"] else np.zeros(0, np.int16)
        events = list(sink["events"])
    return _assemble(spoken_text, tokens, samples, events, native_sfreq)


def _separate_words(text, tokens):
    """Insert U+200B before every word but the first; return the new text and token spans."""
    pieces, shifted, cursor = [], [], 0
    for i, (word, start, stop) in enumerate(tokens):
        pieces.append(text[cursor:start])
        if i:
            pieces.append(_WORD_SEPARATOR)
        offset = sum(len(p) for p in pieces)
        pieces.append(word)
        shifted.append((word, offset, offset + len(word)))
        cursor = stop
    pieces.append(text[cursor:])
    return "".join(pieces), shifted


def _assemble(text, tokens, samples, events, native_sfreq):
    """Turn espeak's int16 samples and word events into (audio, sfreq, words)."""
    import soxr

    plain = text.replace(_WORD_SEPARATOR, "")

    # espeak's text_position is 1-based in characters of the input; map to our tokens
    if len(events) != len(tokens):
        spoken = [text[p - 1 : p - 1 + n].replace(_WORD_SEPARATOR, "") for p, n, _, _ in events]
        raise ValueError(
            f"espeak spoke {len(events)} words {spoken} but the text {plain!r} has "
            f"{len(tokens)} words {[w for w, _, _ in tokens]}; rewrite numbers, symbols and "
            "abbreviations as plain words"
        )
    for (word, start, stop), (position, _, _, _) in zip(tokens, events):
        if not start <= position - 1 < stop:
            raise ValueError(
                f"espeak's word event at character {position - 1} does not fall inside the word "
                f"{word!r} of {plain!r}; check the text's punctuation"
            )
    audio = samples.astype(np.float32) / 32768.0
    audio = soxr.resample(audio, native_sfreq, SFREQ_HZ, quality="HQ").astype(np.float32)
    onsets_s = np.array([sample for _, _, _, sample in events], dtype=float) / native_sfreq
    voiced = np.flatnonzero(np.abs(audio) > _SILENCE_LEVEL)
    if voiced.size == 0:
        raise ValueError(f"espeak produced silence for {plain!r}")
    end_voiced_s = (voiced[-1] + 1) / SFREQ_HZ
    if not np.all(np.diff(onsets_s) > 0) or onsets_s[-1] >= end_voiced_s:
        raise ValueError(
            f"espeak's word onsets {np.round(onsets_s, 3).tolist()} for {plain!r} are not "
            f"increasing inside the voiced audio (ends at {end_voiced_s:.3f} s)"
        )
    # trailing silence: cut at the last sample above -45 dBFS, then exactly 50 ms of zeros
    audio = np.concatenate([audio[: voiced[-1] + 1], np.zeros(int(0.05 * SFREQ_HZ), np.float32)])
    offsets_s = np.append(onsets_s[1:], end_voiced_s)
    words = pd.DataFrame(
        {"word": [w for w, _, _ in tokens], "onset_s": onsets_s, "offset_s": offsets_s}
    )
    logger.debug("synthesised %d words, %.2f s: %r", len(words), audio.size / SFREQ_HZ, plain)
    return audio, SFREQ_HZ, words
