"""The embedded demo dataset: real synthetic speech, simulated EEG with planted effects, a null twin.

Model weights and EEG corpora cannot be downloaded here, so the book runs on a dataset whose truth
is known. :func:`write_demo` writes, under ``root``::

    stimuli/stimuli.tsv          stimulus table (ARCHITECTURE.md contract, + condition, prosody)
    stimuli/audio/<id>.wav       16 kHz mono PCM-16 speech from libespeak-ng (hearlike.tts)
    bids/                        EEG-BIDS tree, task "listening", BrainVision (int16, 0.1 uV)
    states/oracle.nc             hidden states of the reference model "oracle" (model contract)
    states/oracle-prosody.nc     a second reference model carrying prosodic salience only
    ground_truth.json            what was planted, where, and with which seeds
    ground_truth.nc              word-level planted patterns (meaning pattern, acoustic features...)

Everything is deterministic in ``seed``: two runs write byte-identical files.

Modules
    :mod:`~hearlike.demo.sentences`  the sentence list, its synthetic speech, word acoustics
    :mod:`~hearlike.demo.generate`   the generative model (documented there): planted patterns,
                                     the reference models' states, background and word-locked EEG
    :mod:`~hearlike.demo.write`      :func:`write_demo`: the files above, written atomically
    :mod:`~hearlike.demo.describe`   reading back: ground truth, epochs, the book's summaries
    :mod:`~hearlike.demo.checks`     per-sentence check of the planted measure disagreement
"""

from .checks import COVARIANCE_METRICS, GEOMETRIC_METRICS, check_planted_effects, word_patterns
from .describe import (
    demo_epochs, describe_demo, evoked_response, plot_demo_summary, read_ground_truth,
    sentence_waveform, summarize_demo, topography,
)  # fmt: skip
from .generate import (
    ACOUSTIC_FEATURES, AMPLITUDES_UV, BLINK_RATE_HZ, CENTRO_PARIETAL, EARLY_WINDOW_MS, FRONTO_CENTRAL,
    GAP_S, LEAD_S, LINE_FREQ_HZ, MEANING_DEPTH_SD, MEANING_ENVELOPE_M, MONTAGE, N400_PEAK_MS,
    N400_WINDOW_MS, NEGATIVE_MEANING_SCALE, ORACLE_NOISE, PLANTED_PEAK_RELATIVE_DEPTH, PROSODY_MODEL,
    PROSODY_OFFSET_SCALE, SALIENCE_ENVELOPE_M, SENTENCE_GIST_SCALE, SFREQ_HZ, TAIL_S, TASK,
    oracle_layer_weights,
)  # fmt: skip
from .sentences import load_sentence_list, word_acoustic_features
from .write import _check_target, demo_paths, write_demo  # _check_target: tests/test_bad_inputs_files.py

__all__ = [
    "write_demo", "demo_paths", "read_ground_truth", "load_sentence_list", "word_acoustic_features",
    "demo_epochs", "evoked_response", "topography", "sentence_waveform", "summarize_demo",
    "check_planted_effects", "word_patterns", "plot_demo_summary", "oracle_layer_weights",
    "describe_demo", "PROSODY_MODEL", "GEOMETRIC_METRICS", "COVARIANCE_METRICS",
    "SFREQ_HZ", "TASK", "N400_WINDOW_MS", "N400_PEAK_MS", "EARLY_WINDOW_MS", "CENTRO_PARIETAL",
    "FRONTO_CENTRAL", "ACOUSTIC_FEATURES", "AMPLITUDES_UV", "BLINK_RATE_HZ", "GAP_S", "LEAD_S", "TAIL_S",
    "LINE_FREQ_HZ", "MONTAGE", "MEANING_DEPTH_SD", "MEANING_ENVELOPE_M", "SALIENCE_ENVELOPE_M",
    "NEGATIVE_MEANING_SCALE", "ORACLE_NOISE", "PLANTED_PEAK_RELATIVE_DEPTH", "PROSODY_OFFSET_SCALE",
    "SENTENCE_GIST_SCALE",
]  # fmt: skip
