"""Audio LLM registry, architecture-family records, adapters, frame times, word pooling and the extraction cache.

Public API: :func:`registry_table` (by group: ``default``, ``paper``), :func:`group_keys`, :func:`get_spec`, :func:`get_family`, :func:`load_adapter`,
:func:`extract_states`, :func:`stack_layers`, :func:`layer_matrices`, :func:`save_tiny`,
:func:`ensure_tiny`, :func:`word_frame_weights`, :func:`pool_words`, :func:`layout_for`.
"""

from .adapters import Adapter, ItemStates, load_adapter
from .features import GraniteLogMelExtractor
from .extract import extract_states, layer_matrices, load_audio, stack_layers, word_char_spans
from .families import FAMILIES, FAMILY_RECORDS, Family, get_family, layout_for
from .frames import AudioLayout
from .pooling import POOLING_METHODS, pool_words, word_frame_weights
from .registry import GROUPS, REGISTRY, ModelSpec, get_spec, group_keys, registry_table
from .tiny import TINY_FAMILIES, build_tiny, ensure_tiny, save_tiny

__all__ = [
    "Adapter", "AudioLayout", "FAMILIES", "GROUPS", "FAMILY_RECORDS", "Family", "GraniteLogMelExtractor", "ItemStates",
    "ModelSpec", "POOLING_METHODS", "REGISTRY", "TINY_FAMILIES", "build_tiny", "ensure_tiny", "extract_states",
    "get_family", "get_spec", "group_keys", "layer_matrices", "layout_for", "load_adapter", "load_audio", "pool_words",
    "registry_table", "save_tiny", "stack_layers", "word_char_spans", "word_frame_weights",
]
