"""Time (s) of every audio frame and audio token, derived from each architecture.

All families start from a log-mel spectrogram with a 10 ms hop whose frame ``m`` is centred at
``m * hop`` (centred STFT). A 1-D convolution with kernel ``k``, stride ``s`` and padding ``p`` maps
output index ``j`` to input centre ``s * j - p + (k - 1) / 2``; an average pool of width ``w`` and
stride ``w`` maps token ``i`` to the mean centre of inputs ``w*i … w*i + w - 1``. Composing these
maps gives the affine times below. Chunked encoders (Qwen-Omni) restart the map at each chunk.

Every function returns the times of all frames / tokens *as the model emits them* for one audio
(padding included where the model pads, e.g. Whisper's fixed 30 s window); callers drop those
whose centre lies beyond the audio. Each family's record (:mod:`hearlike.models.families`) names
its layout function; :func:`hearlike.models.families.layout_for` looks it up by family name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AudioLayout", "conv_output_length", "mel_length", "layout_gemma3n", "layout_granite_speech",
           "layout_phi4_multimodal", "layout_qwen2_5_omni", "layout_qwen2_audio", "layout_qwen3_omni",
           "layout_voxtral", "layout_whisper"]

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


def layout_granite_speech(n_samples: int, *, window_size: int = 15, downsample_rate: int = 5, **_) -> AudioLayout:
    """Granite-Speech: 2 stacked mel frames per encoder frame (20 ms), Q-Former windows of projector queries.

    The conformer keeps its input rate; encoder frame ``j`` stacks mel frames ``2j, 2j+1`` (centre
    ``0.02 j + 0.005`` s). The projector cuts the frames in windows of ``window_size`` (zero-padding
    the last) and emits ``window_size // downsample_rate`` queries per window; the queries
    cross-attend to the whole window, so query ``q`` of window ``w`` is given the centre of the
    ``q``-th run of ``downsample_rate`` frames (evenly spread; the true resolution is one window,
    0.3 s for the released 15/5).
    """
    n_encoder = (n_samples // 160 + 1) // 2
    encoder = _affine(n_encoder, 2 * HOP_S, HOP_S / 2)
    per_window = window_size // downsample_rate
    n_tokens = math.ceil(n_encoder / window_size) * per_window
    token = np.arange(n_tokens)
    centre_frame = (token // per_window) * window_size + (token % per_window) * downsample_rate \
        + (downsample_rate - 1) / 2
    return AudioLayout(encoder, 2 * HOP_S * centre_frame + HOP_S / 2)


def layout_gemma3n(n_samples: int, *, n_tokens: int = 188, reduction: int = 4, padded_samples: int = 480000,
                   **_) -> AudioLayout:
    """Gemma-3n: un-centred 32 ms frames, two 3x3 stride-2 convs (40 ms), every ``reduction``-th frame a token.

    The adapter pads every audio to ``padded_samples`` (30 s) as the processor's fixed
    ``n_tokens`` (188) audio tokens assume. Mel frame ``m`` spans samples ``160 m … 160 m + 512``
    (centre ``0.01 m + 0.016`` s); each conv (kernel 3, stride 2, padding 0 before / 2 after) maps
    output ``j`` to inputs ``2j … 2j+2``, so encoder frame ``k`` is centred on mel frame ``4k + 3``;
    the conformer output is subsampled ``[::reduction]`` into tokens (6.25 tokens/s).
    """
    n_mel = 1 + (padded_samples - 513) // 160
    n_encoder = conv_output_length(conv_output_length(n_mel))  # 2 padding rows in total, as p=1
    encoder = 0.016 + HOP_S * (4 * np.arange(n_encoder, dtype=np.float64) + 3)
    tokens = encoder[::reduction]
    if tokens.size < n_tokens:
        raise ValueError(f"gemma3n layout: {padded_samples} samples give {tokens.size} audio tokens, fewer than the "
                         f"{n_tokens} the prompt holds")
    return AudioLayout(encoder, tokens[:n_tokens])


def layout_phi4_multimodal(n_samples: int, *, time_reduction: int = 8, **_) -> AudioLayout:
    """Phi-4-multimodal: un-centred 25 ms frames, 10 ms hop, stride-2 3x3 convs (8x: 80 ms); tokens = frames.

    Frame ``m`` spans samples ``160 m … 160 m + 400`` (centre ``0.01 m + 0.0125`` s); each conv
    (kernel 3, stride 2, padding 1) maps output ``j`` to input centre ``2j``, so encoder frame ``k``
    sits on feature frame ``time_reduction * k``. The projector keeps one token per frame.
    """
    n_features = (n_samples - 400) // 160 + 1
    n_encoder = n_features
    for _ in range(int(round(math.log2(time_reduction)))):
        n_encoder = conv_output_length(n_encoder)
    encoder = _affine(n_encoder, time_reduction * HOP_S, 199.5 / 16000)
    return AudioLayout(encoder, encoder.copy())

