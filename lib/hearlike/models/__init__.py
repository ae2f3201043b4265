"""Audio LLM registry, per-family adapters, frame times, word pooling and the extraction cache.

Public API: :func:`registry_table`, :func:`get_spec`, :func:`load_adapter`, :func:`extract_states`,
:func:`stack_layers`, :func:`layer_matrices`, :func:`save_tiny`, :func:`word_frame_weights`,
:func:`pool_words`, :func:`layout_for`.
"""

from .adapters import Adapter, ItemStates, load_adapter
from .features import GraniteLogMelExtractor
from .extract import extract_states, layer_matrices, load_audio, stack_layers, word_char_spans
from .frames import AudioLayout, layout_for
from .pooling import POOLING_METHODS, pool_words, word_frame_weights
from .registry import FAMILIES, REGISTRY, ModelSpec, get_spec, registry_table
from .tiny import TINY_FAMILIES, build_tiny, save_tiny

__all__ = [
    "Adapter", "AudioLayout", "FAMILIES", "GraniteLogMelExtractor", "ItemStates", "ModelSpec", "POOLING_METHODS", "REGISTRY",
    "TINY_FAMILIES", "build_tiny", "extract_states", "get_spec", "layer_matrices", "layout_for", "load_adapter",
    "load_audio", "pool_words", "registry_table", "save_tiny", "stack_layers", "word_char_spans",
    "word_frame_weights",
]
