"""The layer states of one model input, as every adapter returns them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ItemStates"]


@dataclass
class ItemStates:
    """Layer states of one input (one sentence, with its context).

    Attributes
    ----------
    encoder : Tensor or None, shape (n_encoder_layers, n_frames, encoder_features)
    encoder_times : ndarray, shape (n_frames,)
        Frame centres (s from the start of the input audio).
    decoder : Tensor or None, shape (n_decoder_layers, n_tokens, decoder_features)
    decoder_times : ndarray, shape (n_tokens,)
        Audio-token centres (s); for the text baseline, token character centres.
    """

    encoder: torch.Tensor | None
    encoder_times: np.ndarray
    decoder: torch.Tensor | None
    decoder_times: np.ndarray
