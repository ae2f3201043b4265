"""Time (s) of every audio frame and audio token, derived from each architecture.

All families start from a log-mel spectrogram with a 10 ms hop whose frame ``m`` is centred at
``m * hop`` (centred STFT). A 1-D convolution with kernel ``k``, stride ``s`` and padding ``p`` maps
output index ``j`` to input centre ``s * j - p + (k - 1) / 2``; an average pool of width ``w`` and
stride ``w`` maps token ``i`` to the mean centre of inputs ``w*i … w*i + w - 1``. Composing these
maps gives the affine times below. Chunked encoders (Qwen-Omni) restart the map at each chunk.

Every function returns the times of all frames / tokens *as the model emits them* for one audio
(padding included where the model pads, e.g. Whisper's fixed 30 s window); callers drop those
whose centre lies beyond the audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AudioLayout", "conv_output_length", "mel_length", "layout_for"]

HOP_S = 0.01  # 160 samples at 16 kHz


@dataclass(frozen=True)
class AudioLayout:
    """Frame and token times of one audio.

    Attributes
    ----------
    encoder_times_s : ndarray, shape (n_encoder_frames,)
        Centre (s) of every frame the audio encoder's blocks emit, in emission order.
    token_times_s : ndarray, shape (n_audio_tokens,)
        Centre (s) of every audio placeholder token in the decoder input.
    """

    encoder_times_s: np.ndarray
    token_times_s: np.ndarray


def conv_output_length(length: int, *, kernel: int = 3, stride: int = 2, padding: int = 1) -> int:
    """Output length of a 1-D convolution (``floor((L + 2p - k) / s) + 1``)."""
    return (length + 2 * padding - kernel) // stride + 1


def mel_length(n_samples: int, *, hop: int = 160) -> int:
    """Valid mel frames of ``n_samples`` as Whisper-style attention masks count them (``ceil(n / hop)``)."""
    return math.ceil(n_samples / hop)


def _affine(n: int, step_s: float, offset_s: float = 0.0) -> np.ndarray:
    return offset_s + step_s * np.arange(n, dtype=np.float64)


def _whisper_padded(n_mel_padded: int = 3000) -> np.ndarray:
    # conv1 (k3 s1 p1) keeps centres; conv2 (k3 s2 p1): j -> mel frame 2j
    return _affine(conv_output_length(n_mel_padded), 2 * HOP_S)


def _pooled(n_tokens: int) -> np.ndarray:
    # AvgPool1d(2, 2) over 20 ms frames: token i averages frames 2i, 2i+1 -> 0.04 i + 0.01
    return _affine(n_tokens, 4 * HOP_S, 1 * HOP_S)


def layout_qwen2_audio(n_samples: int, **_) -> AudioLayout:
    """Qwen2-Audio / Audio Flamingo 3: Whisper encoder on a 30 s window, then 2x average pooling."""
    n_frames = conv_output_length(mel_length(n_samples))
    n_tokens = (n_frames - 2) // 2 + 1
    return AudioLayout(_whisper_padded(), _pooled(n_tokens))


def layout_whisper(n_samples: int, **_) -> AudioLayout:
    """Whisper encoder: 50 frames/s over the padded 30 s window; no decoder tokens."""
    return AudioLayout(_whisper_padded(), np.zeros(0))


def layout_qwen2_5_omni(n_samples: int, *, n_window: int = 100, **_) -> AudioLayout:
    """Qwen2.5-Omni: valid mel frames cut in chunks of ``2 n_window``, conv per chunk, pool per audio."""
    n_mel = mel_length(n_samples)
    chunk = 2 * n_window
    times = []
    for start in range(0, n_mel, chunk):
        n_out = conv_output_length(min(chunk, n_mel - start))
        times.append(_affine(n_out, 2 * HOP_S, start * HOP_S))
    encoder = np.concatenate(times)
    return AudioLayout(encoder, _pooled((encoder.size - 2) // 2 + 1))


def layout_qwen3_omni(n_samples: int, *, n_window: int = 50, **_) -> AudioLayout:
    """Qwen3-Omni: chunks of ``2 n_window`` mel frames, three stride-2 convs each (8x); tokens = frames."""
    n_mel = mel_length(n_samples)
    chunk = 2 * n_window
    times = []
    for start in range(0, n_mel, chunk):
        n_out = min(chunk, n_mel - start)
        for _ in range(3):
            n_out = conv_output_length(n_out)
        times.append(_affine(n_out, 8 * HOP_S, start * HOP_S))
    encoder = np.concatenate(times)
    return AudioLayout(encoder, encoder.copy())


def layout_voxtral(n_samples: int, *, chunk_s: float = 30.0, frames_per_token: int = 4, **_) -> AudioLayout:
    """Voxtral: Whisper encoder per 30 s chunk (1500 frames), projector merges 4 frames per token."""
    n_chunks = max(1, math.ceil(n_samples / (chunk_s * 16000)))
    frames = np.concatenate([_whisper_padded() + c * chunk_s for c in range(n_chunks)])
    tokens = frames.reshape(-1, frames_per_token).mean(axis=1)
    return AudioLayout(frames, tokens)


_LAYOUTS = {
    "qwen2_audio": layout_qwen2_audio,
    "audioflamingo3": layout_qwen2_audio,
    "whisper": layout_whisper,
    "qwen2_5_omni": layout_qwen2_5_omni,
    "qwen3_omni": layout_qwen3_omni,
    "voxtral": layout_voxtral,
}


def layout_for(family: str, n_samples: int, **options) -> AudioLayout:
    """Frame and token times for ``n_samples`` of 16 kHz audio in ``family``.

    Parameters
    ----------
    family : str
        Adapter family (see :data:`hearlike.models.registry.FAMILIES`).
    n_samples : int
        Length of the audio at the model's sampling rate.
    **options
        Architecture numbers read from the loaded config (e.g. ``n_window``).
    """
    if family not in _LAYOUTS:
        raise ValueError(f"no frame layout for family {family!r}; known: {sorted(_LAYOUTS)}")
    return _LAYOUTS[family](n_samples, **options)
