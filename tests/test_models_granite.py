"""Granite-Speech features without torchaudio: agreement with librosa, token counts, loading errors."""

import numpy as np
import pytest
import torch

from hearlike.models import load_adapter, save_tiny
from hearlike.models.features import GraniteLogMelExtractor

torch.set_num_threads(1)


def _librosa_features(audio: np.ndarray) -> np.ndarray:
    """The documented recipe on librosa's independent mel spectrogram (slow reference)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio.astype(np.float64), sr=16000, n_fft=512, hop_length=160,
                                         win_length=400, window="hann", center=True, pad_mode="reflect", power=2.0,
                                         n_mels=80, fmin=0.0, fmax=8000.0, htk=True, norm=None)
    logmel = np.log10(np.maximum(mel.T, 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 8.0) / 4 + 1
    if logmel.shape[0] % 2:
        logmel = logmel[:-1]
    return logmel.reshape(-1, 160)


def test_log_mel_matches_librosa():
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 1.3) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours = GraniteLogMelExtractor()([audio])["input_features"][0].numpy()
    reference = _librosa_features(audio)
    assert ours.shape == reference.shape == (65, 160)
    np.testing.assert_allclose(ours, reference, atol=2e-4)


def test_batch_padding_and_token_counts():
    rng = np.random.default_rng(1)
    short, long = (0.1 * rng.standard_normal(n).astype(np.float32) for n in (9000, 20000))
    extractor = GraniteLogMelExtractor()
    batch = extractor([short, long])
    alone = extractor([short])
    assert batch["audio_embed_sizes"] == [extractor.n_audio_tokens(9000), extractor.n_audio_tokens(20000)] == [6, 15]
    assert batch["input_features_mask"].sum(1).tolist() == [6, 15]
    n = alone["input_features"].shape[1]
    # zero padding only changes the frames whose analysis window reaches into it
    torch.testing.assert_close(batch["input_features"][0, : n - 2], alone["input_features"][0, : n - 2], atol=1e-5,
                               rtol=1e-5)


def test_missing_torchaudio_is_a_clear_error_for_real_checkpoints(tmp_path):
    path = save_tiny("granite_speech", tmp_path / "tiny")
    config = path / "preprocessor_config.json"
    config.write_text(config.read_text().replace('"hearlike_tiny": true', '"hearlike_tiny": false'))
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"model 'granite-speech-3.3-2b': the Granite-Speech feature extractor "
                                              r"computes its log-mel spectrogram with torchaudio, which is not "
                                              r"installed; install the torchaudio build matching torch"):
            load_adapter("granite-speech-3.3-2b", model_path=path)
    else:  # with torchaudio the library's own extractor loads
        assert type(load_adapter("granite-speech-3.3-2b", model_path=path).feature_extractor).__name__ == \
            "GraniteSpeechFeatureExtractor"
