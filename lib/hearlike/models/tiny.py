"""Tiny random-weight models built offline from the real transformers config classes.

:func:`save_tiny` writes a model folder (weights, config, feature extractor, tokenizer) that the
ordinary ``from_pretrained`` path loads, so ``extract --model <key> --model-path <folder>``
exercises the same code as real weights. Tokenizers are byte-level BPE with no merges (every
byte is a token) plus the special tokens the family's prompt template and audio placeholder need
(for Gemma-3n laid out in its text / vision / audio id ranges). Tiny Granite-Speech folders carry
the torchaudio-free :class:`~hearlike.models.features.GraniteLogMelExtractor` (marked in
``preprocessor_config.json``); Gemma-3n is built without its timm vision tower (see ``classes.py``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from .features import GraniteLogMelExtractor
from .classes import model_class
from .registry import REGISTRY

__all__ = ["AUDIO_TOKENS", "TINY_FAMILIES", "build_tiny_tokenizer", "build_tiny", "save_tiny"]

logger = logging.getLogger(__name__)

#: The audio placeholder token of each family's tokenizer.
AUDIO_TOKENS = {
    "qwen2_audio": "<|AUDIO|>",
    "text": "<|AUDIO|>",
    "qwen2_5_omni": "<|AUDIO|>",
    "qwen3_omni": "<|audio_pad|>",
    "voxtral": "[AUDIO]",
    "audioflamingo3": "<sound>",
    "granite_speech": "<|audio|>",
    "gemma3n": "<audio_soft_token>",
    "phi4_multimodal": "<|audio|>",
}

TINY_FAMILIES = ("qwen2_audio", "qwen2_5_omni", "qwen3_omni", "voxtral", "audioflamingo3", "whisper", "text",
                 "granite_speech", "gemma3n", "phi4_multimodal")

# Gemma-3n embeds token ids in three ranges: text [0, T), vision [T, T + 8), audio [T + 8, T + 16) (the
# released vocabulary: 262144 text, 128 vision, 128 audio ids); the end-of-image / end-of-audio tokens
# open their range and the soft tokens follow them, as in the released tokenizer.
_GEMMA3N_TEXT = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                 "<start_of_audio>"]
_GEMMA3N_TEXT_VOCAB, _GEMMA3N_MM_VOCAB = 272, 8

_SPECIAL = re.compile(r"<\|[^|]+\|>|\[/?[A-Z_]+\]|<s>|</s>|<sound>")
_OMNI_EXTRA = {
    "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}
_TEXT = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=4096)
_AUDIO = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, num_mel_bins=128)


def _special_tokens(family: str) -> list[str]:
    found = ["<|endoftext|>"]
    for spec in REGISTRY.values():
        if spec.family == family or (family == "text" and spec.family == "qwen2_audio"):
            found += _SPECIAL.findall(spec.prompt_template)
    if family in AUDIO_TOKENS:
        found.append(AUDIO_TOKENS[family])
    if family in ("qwen2_5_omni", "qwen3_omni"):
        found += list(_OMNI_EXTRA.values())
        found += ["<|audio_bos|>", "<|audio_eos|>", "<|audio_start|>", "<|audio_end|>"]
    return list(dict.fromkeys(found))


def _gemma3n_specials() -> list[str]:
    t, m = _GEMMA3N_TEXT_VOCAB, _GEMMA3N_MM_VOCAB
    fill = lambda name, n: [f"<unused_{name}_{i}>" for i in range(n)]  # noqa: E731
    text = _GEMMA3N_TEXT + fill("text", t - 256 - len(_GEMMA3N_TEXT))
    return (text + ["<end_of_image>", "<image_soft_token>"] + fill("vision", m - 2)
            + ["<end_of_audio>", "<audio_soft_token>"] + fill("audio", m - 2))


def build_tiny_tokenizer(family: str):
    """A byte-level tokenizer with the family's special tokens (``transformers`` fast tokenizer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = _special_tokens(family)
    extra = {"audio_token": AUDIO_TOKENS[family]} if family in AUDIO_TOKENS else {}
    if family in ("qwen2_5_omni", "qwen3_omni"):
        extra |= _OMNI_EXTRA
        extra |= {"audio_bos_token": "<|audio_bos|>" if family == "qwen2_5_omni" else "<|audio_start|>",
                  "audio_eos_token": "<|audio_eos|>" if family == "qwen2_5_omni" else "<|audio_end|>"}
    if family == "gemma3n":
        specials = _gemma3n_specials()
        extra |= {"boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>", "image_token": "<image_soft_token>",
                  "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"}
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
        tokenizer.add_special_tokens({"additional_special_tokens": specials})  # ids in list order, from 256
        tokenizer.add_special_tokens({"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>"})
    else:
        if family == "phi4_multimodal":
            specials.append("<|image|>")
            extra |= {"image_token": "<|image|>"}
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                            pad_token="<|endoftext|>")
        tokenizer.add_special_tokens({"additional_special_tokens": [t for t in specials if t != "<|endoftext|>"]})
    for name, token in extra.items():
        setattr(tokenizer, name, token)
    return tokenizer


def _ids(tokenizer, *tokens):
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def build_tiny(family: str, *, seed: int = 0):
    """Build ``(model, feature_extractor, tokenizer)`` for ``family`` with random weights.

    Parameters
    ----------
    family : str
        One of :data:`TINY_FAMILIES`.
    seed : int
        Seed of the weight initialisation; the same seed gives the same weights.
    """
    import transformers as tf

    if family not in TINY_FAMILIES:
        raise ValueError(f"no tiny model for family {family!r}; families with one: {TINY_FAMILIES}")
    feature_extractor = tf.WhisperFeatureExtractor(feature_size=128)
    tokenizer = None if family == "whisper" else build_tiny_tokenizer(family)
    vocab = dict(vocab_size=len(tokenizer)) if tokenizer is not None else {}
    if family in ("qwen2_audio", "text"):
        config = tf.Qwen2AudioConfig(audio_config=_AUDIO, text_config=_TEXT | vocab,
                                     audio_token_index=_ids(tokenizer, "<|AUDIO|>")[0])
    elif family == "audioflamingo3":
        config = tf.AudioFlamingo3Config(
            audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
            text_config=_TEXT | vocab, audio_token_id=_ids(tokenizer, "<sound>")[0])
    elif family == "whisper":
        config = tf.WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                                  decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                                  num_mel_bins=128, vocab_size=128, pad_token_id=0, bos_token_id=1,
                                  eos_token_id=2, decoder_start_token_id=3)
    elif family == "voxtral":
        config = tf.VoxtralConfig(
            audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                              num_key_value_heads=2),
            text_config=dict(model_type="llama", **_TEXT, **vocab, head_dim=16),
            audio_token_id=_ids(tokenizer, "[AUDIO]")[0])
    elif family == "qwen2_5_omni":
        audio, image, video, bos, eos, start, end = _ids(
            tokenizer, "<|AUDIO|>", "<|IMAGE|>", "<|VIDEO|>", "<|audio_bos|>", "<|audio_eos|>",
            "<|vision_bos|>", "<|vision_eos|>")
        config = tf.Qwen2_5OmniThinkerConfig(
            audio_config=_AUDIO | dict(output_dim=64, n_window=100),
            text_config=_TEXT | vocab | dict(rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                                                  mrope_section=[2, 3, 3])),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=64,
                               fullatt_block_indexes=[0]),
            audio_token_index=audio, image_token_index=image, video_token_index=video,
            audio_start_token_id=bos, audio_end_token_id=eos, vision_start_token_id=start,
            vision_end_token_id=end)
    elif family == "qwen3_omni":
        audio, image, video, bos, eos, start, end = _ids(
            tokenizer, "<|audio_pad|>", "<|IMAGE|>", "<|VIDEO|>", "<|audio_start|>", "<|audio_end|>",
            "<|vision_bos|>", "<|vision_eos|>")
        config = tf.Qwen3OmniMoeThinkerConfig(
            audio_config=_AUDIO | dict(output_dim=64, n_window=50, downsample_hidden_size=16),
            text_config=_TEXT | vocab | dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                             head_dim=16,
                                             rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                                                  mrope_section=[2, 3, 3])),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=64,
                               deepstack_visual_indexes=[0]),
            audio_token_id=audio, image_token_id=image, video_token_id=video,
            audio_start_token_id=bos, vision_start_token_id=start)
    elif family == "granite_speech":
        feature_extractor = GraniteLogMelExtractor()
        config = tf.GraniteSpeechConfig(
            encoder_config=dict(input_dim=160, num_layers=2, hidden_dim=32, feedforward_mult=2, num_heads=2, dim_head=16,
                                output_dim=8, conv_kernel_size=15),
            projector_config=dict(model_type="blip_2_qformer", hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64, encoder_hidden_size=32,
                                  cross_attention_frequency=1, use_qformer_text_input=False),
            text_config=dict(model_type="granite", **_TEXT, **vocab),
            audio_token_index=_ids(tokenizer, "<|audio|>")[0], has_lora_adapter=False)
    elif family == "gemma3n":
        feature_extractor = tf.Gemma3nAudioFeatureExtractor()
        t, m = _GEMMA3N_TEXT_VOCAB, _GEMMA3N_MM_VOCAB
        assert len(tokenizer) == t + 2 * m, len(tokenizer)
        boi, eoi, image, boa, eoa, audio, pad, eos, bos = _ids(
            tokenizer, "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<start_of_audio>",
            "<end_of_audio>", "<audio_soft_token>", "<pad>", "<eos>", "<bos>")
        config = tf.Gemma3nConfig(
            text_config=dict(vocab_size=t + 2 * m, vocab_size_per_layer_input=t, hidden_size=64, intermediate_size=96,
                             num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                             hidden_size_per_layer_input=8, laurel_rank=8, altup_num_inputs=2,
                             num_kv_shared_layers=1, activation_sparsity_pattern=[0.0, 0.0, 0.0],
                             layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                             sliding_window=64, max_position_embeddings=4096, pad_token_id=pad, eos_token_id=eos,
                             bos_token_id=bos),
            vision_config=dict(hidden_size=16, vocab_size=m, vocab_offset=t),
            audio_config=dict(hidden_size=32, conf_num_attention_heads=2, conf_num_hidden_layers=2,
                              sscp_conv_channel_size=[8, 4], vocab_size=m, vocab_offset=t + m),
            boi_token_id=boi, eoi_token_id=eoi, image_token_id=image, boa_token_id=boa, eoa_token_id=eoa,
            audio_token_id=audio)
    elif family == "phi4_multimodal":
        feature_extractor = tf.Phi4MultimodalFeatureExtractor()
        audio, image = _ids(tokenizer, "<|audio|>", "<|image|>")
        pad = tokenizer.pad_token_id
        config = tf.Phi4MultimodalConfig(
            **vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=4096, original_max_position_embeddings=4096,
            pad_token_id=pad, bos_token_id=pad, eos_token_id=pad,
            audio_config=dict(hidden_size=32, intermediate_size=64, num_blocks=2, num_attention_heads=2,
                              ext_pw_out_channel=32, depthwise_separable_out_channel=32, nemo_conv_channels=8,
                              audio_token_id=audio),
            vision_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                               image_size=28, crop_size=28, patch_size=14, image_token_id=image))
    torch.manual_seed(seed)
    model = model_class(family)(config).eval()
    return model, feature_extractor, tokenizer


def save_tiny(family: str, path: str | Path, *, seed: int = 0) -> Path:
    """Write a deterministic tiny random-weight model of ``family`` to the folder ``path``.

    The folder holds ``config.json``, ``model.safetensors``, ``preprocessor_config.json`` and (for
    families with a decoder) the tokenizer files; :func:`hearlike.models.load_adapter` reads it with
    ``from_pretrained`` exactly as it reads a downloaded checkpoint.
    """
    path = Path(path)
    model, feature_extractor, tokenizer = build_tiny(family, seed=seed)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    feature_extractor.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    logger.info("wrote tiny %s model to %s", family, path)
    return path
