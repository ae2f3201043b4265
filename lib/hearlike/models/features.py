"""Granite-Speech log-mel features without torchaudio (offline tiny models only).

``transformers.GraniteSpeechFeatureExtractor`` computes its spectrogram with
``torchaudio.transforms.MelSpectrogram``, and torchaudio has no wheel matching the installed torch,
so the tiny offline Granite models use :class:`GraniteLogMelExtractor`, which computes the same
features with ``torch.stft`` and the HTK mel filter bank of ``transformers.audio_utils``:

* power spectrogram: periodic Hann window of ``win_length`` zero-padded to ``n_fft``, hop
  ``hop_length``, centred frames with reflect padding (torchaudio's defaults), ``|X|^2``;
* mel: triangular HTK-scale filters from 0 Hz to ``sampling_rate / 2``, no area normalisation;
* ``log10(max(mel, 1e-10))``, floored at (max over the item - 8), then ``/ 4 + 1``;
* an odd last frame is dropped and frame pairs are stacked (``2 * n_mels`` features per 20 ms).

The test suite checks it against librosa's independent mel spectrogram. Checkpoints loaded for
real (a Hugging Face id or any folder not written by :func:`hearlike.models.save_tiny`) always use
the library's own feature extractor and so need torchaudio.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["GraniteLogMelExtractor", "TINY_MARKER"]

#: Key of ``preprocessor_config.json`` marking a folder written by ``save_tiny``.
TINY_MARKER = "hearlike_tiny"


class GraniteLogMelExtractor:
    """Drop-in for ``GraniteSpeechFeatureExtractor.__call__`` (same inputs, outputs and numbers).

    Parameters
    ----------
    sampling_rate, n_fft, win_length, hop_length, n_mels : int
        Spectrogram parameters (the released checkpoints: 16000, 512, 400, 160, 80).
    projector_window_size, projector_downsample_rate : int
        Q-Former window (encoder frames) and frames per query, for the audio token count.
    """

    def __init__(self, *, sampling_rate: int = 16000, n_fft: int = 512, win_length: int = 400, hop_length: int = 160,
                 n_mels: int = 80, projector_window_size: int = 15, projector_downsample_rate: int = 5):
        from transformers.audio_utils import mel_filter_bank

        self.sampling_rate = sampling_rate
        self.n_fft, self.win_length, self.hop_length, self.n_mels = n_fft, win_length, hop_length, n_mels
        self.projector_window_size = projector_window_size
        self.projector_downsample_rate = projector_downsample_rate
        self.filters = torch.as_tensor(mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=0.0,
            max_frequency=sampling_rate / 2, sampling_rate=sampling_rate, norm=None, mel_scale="htk"),
            dtype=torch.float32)  # (n_freqs, n_mels)

    def to_dict(self) -> dict:
        """The ``preprocessor_config.json`` content (the real extractor's keys plus the tiny marker)."""
        return {"feature_extractor_type": "GraniteSpeechFeatureExtractor", "sampling_rate": self.sampling_rate,
                "n_fft": self.n_fft, "win_length": self.win_length, "hop_length": self.hop_length,
                "n_mels": self.n_mels, "projector_window_size": self.projector_window_size,
                "projector_downsample_rate": self.projector_downsample_rate, "padding_value": 0.0,
                "padding_side": "right", "return_attention_mask": False, "feature_size": self.n_mels,
                TINY_MARKER: True}

    def save_pretrained(self, path: str | Path) -> None:
        Path(path, "preprocessor_config.json").write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "GraniteLogMelExtractor":
        config = json.loads(Path(path, "preprocessor_config.json").read_text())
        keys = ("sampling_rate", "n_fft", "win_length", "hop_length", "n_mels", "projector_window_size",
                "projector_downsample_rate")
        return cls(**{k: config[k] for k in keys if k in config})

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Stacked log-mel features, shape (batch, n_frames // 2, 2 * n_mels), from audio (batch, n_samples)."""
        window = torch.hann_window(self.win_length, periodic=True, dtype=torch.float32)
        spec = torch.stft(audio.float(), n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=window, center=True, pad_mode="reflect", normalized=False, onesided=True,
                          return_complex=True).abs().pow(2)  # (batch, n_freqs, n_frames)
        mel = torch.einsum("bft,fm->btm", spec, self.filters)
        logmel = mel.clamp(min=1e-10).log10()
        peak = logmel.amax(dim=(-2, -1), keepdim=True)
        logmel = torch.maximum(logmel, peak - 8.0) / 4 + 1
        if logmel.shape[1] % 2 == 1:
            logmel = logmel[:, :-1]
        return logmel.reshape(logmel.shape[0], -1, 2 * logmel.shape[-1])

    def n_audio_tokens(self, n_samples: int) -> int:
        """Projector outputs for ``n_samples`` (the library's ``_get_num_audio_features``)."""
        n_encoder = (n_samples // self.hop_length + 1) // 2
        per_window = self.projector_window_size // self.projector_downsample_rate
        return math.ceil(n_encoder / self.projector_window_size) * per_window

    def __call__(self, audios, device: str | None = "cpu", **_) -> dict:
        """Features of one or more mono audios (zero-padded to the longest, as the library does)."""
        from transformers.feature_extraction_utils import BatchFeature

        if isinstance(audios, np.ndarray) and audios.ndim == 1:
            audios = [audios]
        tensors = [torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in audios]
        lengths = [len(t) for t in tensors]
        batch = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
        with torch.no_grad():
            features = self.log_mel(batch)
        sizes = [self.n_audio_tokens(n) for n in lengths]
        mask = torch.arange(max(sizes)).view(1, -1) < torch.tensor(sizes).view(-1, 1)
        return BatchFeature({"input_features": features.to(device or "cpu"), "audio_embed_sizes": sizes,
                             "input_features_mask": mask})
