"""One record per architecture family: everything the extraction knows about an Audio LLM's design.

A :class:`Family` says which transformers class loads the checkpoints (and which ``model_type``
their ``config.json`` carries), the default prompt, the audio placeholder token, the frame layout
(a function of :mod:`hearlike.models.frames`) and the config numbers it needs, how the feature
extractor is called, where the audio encoder's blocks and the language model sit in the loaded
model, whether audios must run one per forward pass, whether loading runs repository code, and how
to build a tiny random-weight config of it. The adapters (:mod:`~hearlike.models.adapters`), the
tiny models (:mod:`~hearlike.models.tiny`) and the extraction (:mod:`~hearlike.models.extract`) read
these records and hold no family names of their own.

To add a family: write its frame layout in ``frames.py`` if none fits, then one :class:`Family`
record below (with its tiny config builder) and the models of it in ``registry.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import frames
from .features import TINY_MARKER, GraniteLogMelExtractor

__all__ = ["Family", "FAMILY_RECORDS", "FAMILIES", "get_family", "layout_for", "model_class"]

logger = logging.getLogger(__name__)

_GEMMA3N_PADDED_SAMPLES = 480000  # 30 s at 16 kHz: the 188 audio tokens of the Gemma-3n processor
_QWEN_CHAT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"


# ---------------------------------------------------------------------------------------------- features
def _whisper_style(mask_argument: str | None) -> Callable:
    """Feature call of Whisper-style extractors (30 s window); the mask goes to ``mask_argument``."""

    def features(extractor, audios: list, rate: int) -> dict:
        out = extractor(audios, sampling_rate=rate, return_attention_mask=True, padding="max_length",
                        return_tensors="pt")
        args = {"input_features": out["input_features"]}
        if mask_argument:
            args[mask_argument] = out["attention_mask"]
        return args

    return features


def _granite_features(extractor, audios: list, rate: int) -> dict:
    out = extractor(audios, device="cpu")
    return {"input_features": out["input_features"], "input_features_mask": out["input_features_mask"]}


def _gemma3n_features(extractor, audios: list, rate: int) -> dict:
    out = extractor(audios, sampling_rate=rate, padding="max_length", max_length=_GEMMA3N_PADDED_SAMPLES,
                    truncation=False, return_tensors="pt")
    return {"input_features": out["input_features"], "input_features_mask": out["input_features_mask"]}


def _phi4_features(extractor, audios: list, rate: int) -> dict:
    out = extractor(audios, sampling_rate=rate, return_tensors="pt")
    return {"audio_input_features": out["audio_input_features"], "audio_embed_sizes": out["audio_embed_sizes"]}


def _granite_without_torchaudio(key: str, source: str, err: ImportError):
    """Tiny Granite folders fall back to the torch.stft log-mel port; real checkpoints need torchaudio."""
    import torch

    if "torchaudio" not in str(err):
        raise err
    config = Path(source, "preprocessor_config.json")
    if config.is_file() and json.loads(config.read_text()).get(TINY_MARKER):
        logger.info("%s: torchaudio missing; tiny test folder, using the torch.stft log-mel port", source)
        return GraniteLogMelExtractor.from_pretrained(source)
    version = torch.__version__
    raise ImportError(
        f"model {key!r}: the Granite-Speech feature extractor computes its log-mel spectrogram with "
        f"torchaudio, which is not installed; install the torchaudio build matching torch {version} "
        f"(pip install torchaudio=={version.split('+')[0]} on a supported platform) and retry") from err


# ---------------------------------------------------------------------------------------------- layouts
def _n_window_options(config) -> dict:
    audio = getattr(config, "audio_config", None)
    return {"n_window": audio.n_window} if hasattr(audio, "n_window") else {}


def _granite_options(config) -> dict:
    return {"window_size": config.window_size, "downsample_rate": config.downsample_rate}


def _gemma3n_options(config) -> dict:
    return {"n_tokens": config.audio_soft_tokens_per_image, "reduction": config.audio_config.conf_reduction_factor,
            "padded_samples": _GEMMA3N_PADDED_SAMPLES}


def _phi4_options(config) -> dict:
    return {"time_reduction": config.audio_config.time_reduction}


def _whisper_extractor():
    import transformers

    return transformers.WhisperFeatureExtractor(feature_size=128)


def _gemma3n_class():
    from .classes import gemma3n_audio_text_class

    return gemma3n_audio_text_class()


@dataclass(frozen=True)
class Family:
    """One architecture family.

    Attributes
    ----------
    name : str
        Family key (``ModelSpec.family``).
    model_class : str
        transformers class that loads the checkpoints (``from_pretrained``) and builds tiny models.
    model_types : tuple of str
        ``model_type`` values a checkpoint's ``config.json`` may carry (first: the class's own); empty for
        the remote-code family, whose checkpoints each define their own type.
    prompt_template : str
        Default prompt (a :class:`~hearlike.models.registry.ModelSpec` may override it); ``{audio}``
        marks the audio placeholder tokens, ``{text}`` the transcript of a text-only family.
    inputs : {"audio", "text"}
        What the model is fed.
    audio_token : str or None
        The tokenizer's audio placeholder token.
    layout : callable or None
        ``layout(n_samples, **options) -> AudioLayout``, from :mod:`hearlike.models.frames`.
    layout_options : callable
        ``layout_options(config) -> dict``: the loaded config's numbers the layout needs.
    features : callable
        ``features(extractor, audios, rate) -> dict`` of the forward's audio arguments (CPU tensors).
    encoder_paths, encoder_blocks : tuple of str, str
        Dotted paths tried for the audio encoder in the loaded model, and its list of blocks.
    base_attribute : str or None
        Attribute of the loaded model whose forward gives ``hidden_states`` (None: the model itself).
    encoder_only : bool
        Run only ``base.encoder`` (no language model).
    one_audio_per_pass : bool
        Batch padding would change states (no padding mask everywhere): one audio per forward.
    copy_encoder_outputs : bool
        Copy hooked block outputs (the model modifies them in place later).
    has_tokenizer, remote_code : bool
        Whether checkpoints ship a tokenizer; whether loading runs code from the repository.
    decoder_input : {"audio_tokens", "transcript"}
        What the decoder is fed: the prompt with audio placeholder tokens (decoder states at those
        tokens), or the sentence's transcript after the prompt, teacher-forced (an encoder-decoder
        such as Whisper; decoder states at each word's tokens, timed at the word's midpoint).
    class_builder : callable or None
        Builds the model class instead of ``transformers.<model_class>``.
    feature_extractor_fallback : callable or None
        ``fallback(key, source, ImportError)``: a feature extractor when the library's lacks a backend.
    tiny_config : callable or None
        ``tiny_config(tokenizer) -> config`` of a tiny random-weight model (None: no tiny model).
    tiny_feature_extractor : callable
        Builds the tiny model's feature extractor.
    tiny_tokenizer : callable or None
        ``tiny_tokenizer(backend) -> tokenizer`` for a family with its own id layout.
    tiny_token_families : tuple of str
        Further families whose registry prompts supply the tiny tokenizer's special tokens.
    tiny_special_tokens : tuple of str
        Special tokens added after those of the prompts and the audio token.
    tiny_tokenizer_attributes : mapping
        Tokenizer attributes (``image_token`` …) the family's processor reads.
    """

    name: str
    model_class: str
    model_types: tuple[str, ...]
    prompt_template: str
    inputs: str = "audio"
    audio_token: str | None = None
    layout: Callable[..., frames.AudioLayout] | None = None
    layout_options: Callable[[Any], dict] = _n_window_options
    features: Callable[..., dict] = _whisper_style(None)
    encoder_paths: tuple[str, ...] = ("model.audio_tower", "audio_tower", "encoder")
    encoder_blocks: str = "layers"
    base_attribute: str | None = "model"
    encoder_only: bool = False
    one_audio_per_pass: bool = False
    copy_encoder_outputs: bool = False
    has_tokenizer: bool = True
    remote_code: bool = False
    decoder_input: str = "audio_tokens"
    class_builder: Callable[[], type] | None = None
    feature_extractor_fallback: Callable | None = None
    tiny_config: Callable[[Any], Any] | None = None
    tiny_feature_extractor: Callable[[], Any] = _whisper_extractor
    tiny_tokenizer: Callable[[Any], Any] | None = None
    tiny_token_families: tuple[str, ...] = ()
    tiny_special_tokens: tuple[str, ...] = ()
    tiny_tokenizer_attributes: Mapping[str, str] = field(default_factory=dict)

    def transformers_class(self) -> type:
        """The model class the checkpoints load with and tiny models are built from."""
        if self.class_builder is not None:
            return self.class_builder()
        import transformers

        return getattr(transformers, self.model_class)


# ---------------------------------------------------------------------------------------------- tiny configs
_TEXT = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=4096)
_AUDIO = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, num_mel_bins=128)
_OMNI_EXTRA = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
               "vision_eos_token": "<|vision_eos|>"}
_OMNI_SPECIALS = (*_OMNI_EXTRA.values(), "<|audio_bos|>", "<|audio_eos|>", "<|audio_start|>", "<|audio_end|>")
_OMNI_ROPE = dict(rope_type="default", rope_theta=10000.0, mrope_section=[2, 3, 3])
_OMNI_VISION = dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=64)


def _ids(tokenizer, *tokens) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _vocab(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer)) if tokenizer is not None else {}


def _tiny_qwen2_audio(tokenizer):
    import transformers as tf

    return tf.Qwen2AudioConfig(audio_config=_AUDIO, text_config=_TEXT | _vocab(tokenizer),
                               audio_token_index=_ids(tokenizer, "<|AUDIO|>")[0])


def _tiny_audioflamingo3(tokenizer):
    import transformers as tf

    return tf.AudioFlamingo3Config(
        audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
        text_config=_TEXT | _vocab(tokenizer), audio_token_id=_ids(tokenizer, "<sound>")[0])


def _tiny_whisper(tokenizer):
    import transformers as tf

    return tf.WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=128,
                            vocab_size=128, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3)


def _tiny_voxtral(tokenizer):
    import transformers as tf

    return tf.VoxtralConfig(
        audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                          num_key_value_heads=2),
        text_config=dict(model_type="llama", **_TEXT, **_vocab(tokenizer), head_dim=16),
        audio_token_id=_ids(tokenizer, "[AUDIO]")[0])


def _tiny_qwen2_5_omni(tokenizer):
    import transformers as tf

    audio, image, video, bos, eos, start, end = _ids(
        tokenizer, "<|AUDIO|>", "<|IMAGE|>", "<|VIDEO|>", "<|audio_bos|>", "<|audio_eos|>", "<|vision_bos|>",
        "<|vision_eos|>")
    return tf.Qwen2_5OmniThinkerConfig(
        audio_config=_AUDIO | dict(output_dim=64, n_window=100),
        text_config=_TEXT | _vocab(tokenizer) | dict(rope_parameters=_OMNI_ROPE),
        vision_config=_OMNI_VISION | dict(fullatt_block_indexes=[0]),
        audio_token_index=audio, image_token_index=image, video_token_index=video, audio_start_token_id=bos,
        audio_end_token_id=eos, vision_start_token_id=start, vision_end_token_id=end)


def _tiny_qwen3_omni(tokenizer):
    import transformers as tf

    audio, image, video, bos, start = _ids(
        tokenizer, "<|audio_pad|>", "<|IMAGE|>", "<|VIDEO|>", "<|audio_start|>", "<|vision_bos|>")
    return tf.Qwen3OmniMoeThinkerConfig(
        audio_config=_AUDIO | dict(output_dim=64, n_window=50, downsample_hidden_size=16),
        text_config=_TEXT | _vocab(tokenizer) | dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                                     head_dim=16, rope_parameters=_OMNI_ROPE),
        vision_config=_OMNI_VISION | dict(deepstack_visual_indexes=[0]),
        audio_token_id=audio, image_token_id=image, video_token_id=video, audio_start_token_id=bos,
        vision_start_token_id=start)


def _tiny_granite_speech(tokenizer):
    import transformers as tf

    return tf.GraniteSpeechConfig(
        encoder_config=dict(input_dim=160, num_layers=2, hidden_dim=32, feedforward_mult=2, num_heads=2, dim_head=16,
                            output_dim=8, conv_kernel_size=15),
        projector_config=dict(model_type="blip_2_qformer", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=64, encoder_hidden_size=32, cross_attention_frequency=1,
                              use_qformer_text_input=False),
        text_config=dict(model_type="granite", **_TEXT, **_vocab(tokenizer)),
        audio_token_index=_ids(tokenizer, "<|audio|>")[0], has_lora_adapter=False)


# Gemma-3n embeds token ids in three ranges: text [0, T), vision [T, T + 8), audio [T + 8, T + 16) (the
# released vocabulary: 262144 text, 128 vision, 128 audio ids); the end-of-image / end-of-audio tokens
# open their range and the soft tokens follow them, as in the released tokenizer.
_GEMMA3N_TEXT = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                 "<start_of_audio>"]
_GEMMA3N_TEXT_VOCAB, _GEMMA3N_MM_VOCAB = 272, 8


def _tiny_gemma3n_tokenizer(backend):
    from transformers import PreTrainedTokenizerFast

    t, m = _GEMMA3N_TEXT_VOCAB, _GEMMA3N_MM_VOCAB
    fill = lambda name, n: [f"<unused_{name}_{i}>" for i in range(n)]  # noqa: E731
    text = _GEMMA3N_TEXT + fill("text", t - 256 - len(_GEMMA3N_TEXT))
    specials = (text + ["<end_of_image>", "<image_soft_token>"] + fill("vision", m - 2)
                + ["<end_of_audio>", "<audio_soft_token>"] + fill("audio", m - 2))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
    tokenizer.add_special_tokens({"additional_special_tokens": specials})  # ids in list order, from 256
    tokenizer.add_special_tokens({"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>"})
    for name, token in {"audio_token": "<audio_soft_token>", "boa_token": "<start_of_audio>",
                        "eoa_token": "<end_of_audio>", "image_token": "<image_soft_token>",
                        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"}.items():
        setattr(tokenizer, name, token)
    return tokenizer


def _tiny_gemma3n(tokenizer):
    import transformers as tf

    t, m = _GEMMA3N_TEXT_VOCAB, _GEMMA3N_MM_VOCAB
    if len(tokenizer) != t + 2 * m:
        raise RuntimeError(f"tiny gemma3n tokenizer has {len(tokenizer)} tokens, the id layout needs {t + 2 * m}")
    boi, eoi, image, boa, eoa, audio, pad, eos, bos = _ids(
        tokenizer, "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<start_of_audio>",
        "<end_of_audio>", "<audio_soft_token>", "<pad>", "<eos>", "<bos>")
    return tf.Gemma3nConfig(
        text_config=dict(vocab_size=t + 2 * m, vocab_size_per_layer_input=t, hidden_size=64, intermediate_size=96,
                         num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                         hidden_size_per_layer_input=8, laurel_rank=8, altup_num_inputs=2, num_kv_shared_layers=1,
                         activation_sparsity_pattern=[0.0, 0.0, 0.0],
                         layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                         sliding_window=64, max_position_embeddings=4096, pad_token_id=pad, eos_token_id=eos,
                         bos_token_id=bos),
        vision_config=dict(hidden_size=16, vocab_size=m, vocab_offset=t),
        audio_config=dict(hidden_size=32, conf_num_attention_heads=2, conf_num_hidden_layers=2,
                          sscp_conv_channel_size=[8, 4], vocab_size=m, vocab_offset=t + m),
        boi_token_id=boi, eoi_token_id=eoi, image_token_id=image, boa_token_id=boa, eoa_token_id=eoa,
        audio_token_id=audio)


def _tiny_phi4(tokenizer):
    import transformers as tf

    audio, image = _ids(tokenizer, "<|audio|>", "<|image|>")
    pad = tokenizer.pad_token_id
    return tf.Phi4MultimodalConfig(
        **_vocab(tokenizer), hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, original_max_position_embeddings=4096,
        pad_token_id=pad, bos_token_id=pad, eos_token_id=pad,
        audio_config=dict(hidden_size=32, intermediate_size=64, num_blocks=2, num_attention_heads=2,
                          ext_pw_out_channel=32, depthwise_separable_out_channel=32, nemo_conv_channels=8,
                          audio_token_id=audio),
        vision_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, crop_size=28, patch_size=14, image_token_id=image))


def _tiny_extractor(name: str) -> Callable[[], Any]:
    def build():
        import transformers

        return getattr(transformers, name)()

    return build


# ---------------------------------------------------------------------------------------------- the records
_RECORDS = (
    Family("qwen2_audio", "Qwen2AudioForConditionalGeneration", ("qwen2_audio",),
           "<|audio_bos|>{audio}<|audio_eos|>Generate the caption in English:", audio_token="<|AUDIO|>",
           layout=frames.layout_qwen2_audio, features=_whisper_style("feature_attention_mask"),
           tiny_config=_tiny_qwen2_audio),
    Family("qwen2_5_omni", "Qwen2_5OmniThinkerForConditionalGeneration", ("qwen2_5_omni_thinker", "qwen2_5_omni"),
           _QWEN_CHAT + "<|audio_bos|>{audio}<|audio_eos|><|im_end|>\n<|im_start|>assistant\n",
           audio_token="<|AUDIO|>", layout=frames.layout_qwen2_5_omni,
           features=_whisper_style("feature_attention_mask"), tiny_config=_tiny_qwen2_5_omni,
           tiny_special_tokens=_OMNI_SPECIALS,
           tiny_tokenizer_attributes=_OMNI_EXTRA | {"audio_bos_token": "<|audio_bos|>",
                                                    "audio_eos_token": "<|audio_eos|>"}),
    Family("qwen3_omni", "Qwen3OmniMoeThinkerForConditionalGeneration", ("qwen3_omni_moe_thinker", "qwen3_omni_moe"),
           "<|im_start|>user\n<|audio_start|>{audio}<|audio_end|><|im_end|>\n<|im_start|>assistant\n",
           audio_token="<|audio_pad|>", layout=frames.layout_qwen3_omni,
           features=_whisper_style("feature_attention_mask"), tiny_config=_tiny_qwen3_omni,
           tiny_special_tokens=_OMNI_SPECIALS,
           tiny_tokenizer_attributes=_OMNI_EXTRA | {"audio_bos_token": "<|audio_start|>",
                                                    "audio_eos_token": "<|audio_end|>"}),
    Family("voxtral", "VoxtralForConditionalGeneration", ("voxtral",), "<s>[INST][BEGIN_AUDIO]{audio}[/INST]",
           audio_token="[AUDIO]", layout=frames.layout_voxtral, tiny_config=_tiny_voxtral),
    Family("audioflamingo3", "AudioFlamingo3ForConditionalGeneration", ("audioflamingo3",),
           _QWEN_CHAT + "{audio}<|im_end|>\n<|im_start|>assistant\n", audio_token="<sound>",
           layout=frames.layout_qwen2_audio, features=_whisper_style("input_features_mask"),
           tiny_config=_tiny_audioflamingo3),
    Family("whisper", "WhisperModel", ("whisper",), "{audio}", layout=frames.layout_whisper, base_attribute=None,
           encoder_only=True, has_tokenizer=False, tiny_config=_tiny_whisper),
    # encoder-decoder Whisper: the encoder hears the audio, the decoder is teacher-forced with the transcript
    Family("whisper_seq2seq", "WhisperForConditionalGeneration", ("whisper",),
           "<|startoftranscript|><|notimestamps|>{text}", layout=frames.layout_whisper, base_attribute=None,
           encoder_paths=("model.encoder",), decoder_input="transcript"),
    # the language model of Qwen2-Audio fed the transcript (no audio encoder is read)
    Family("text", "Qwen2AudioForConditionalGeneration", ("qwen2_audio",), "{text}", inputs="text",
           audio_token="<|AUDIO|>", encoder_paths=(), tiny_config=_tiny_qwen2_audio,
           tiny_token_families=("qwen2_audio",)),
    # conformer without a padding mask: one audio per pass; its CTC feedback edits a block's output in place
    Family("granite_speech", "GraniteSpeechForConditionalGeneration", ("granite_speech",),
           "<|start_of_role|>user<|end_of_role|>{audio}<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
           audio_token="<|audio|>", layout=frames.layout_granite_speech, layout_options=_granite_options,
           features=_granite_features, encoder_paths=("model.encoder",), one_audio_per_pass=True,
           copy_encoder_outputs=True, feature_extractor_fallback=_granite_without_torchaudio,
           tiny_config=_tiny_granite_speech, tiny_feature_extractor=GraniteLogMelExtractor),
    # every audio padded to 30 s (the processor's fixed 188 audio tokens), so batching is exact
    Family("gemma3n", "Gemma3nForConditionalGeneration", ("gemma3n",),
           "<bos><start_of_turn>user\n\n\n<start_of_audio>{audio}<end_of_audio>\n\n<end_of_turn>\n"
           "<start_of_turn>model\n", audio_token="<audio_soft_token>", layout=frames.layout_gemma3n,
           layout_options=_gemma3n_options, features=_gemma3n_features, encoder_paths=("model.audio_tower",),
           encoder_blocks="conformer", class_builder=_gemma3n_class, tiny_config=_tiny_gemma3n,
           tiny_feature_extractor=_tiny_extractor("Gemma3nAudioFeatureExtractor"),
           tiny_tokenizer=_tiny_gemma3n_tokenizer),
    # feature extractor and convolution stem see batch padding: one audio per pass
    Family("phi4_multimodal", "Phi4MultimodalForCausalLM", ("phi4_multimodal",), "<|user|>{audio}<|end|><|assistant|>",
           audio_token="<|audio|>", layout=frames.layout_phi4_multimodal, layout_options=_phi4_options,
           features=_phi4_features, encoder_paths=("model.embed_tokens_extend.audio_embed.encoder",),
           encoder_blocks="encoders", one_audio_per_pass=True, tiny_config=_tiny_phi4,
           tiny_feature_extractor=_tiny_extractor("Phi4MultimodalFeatureExtractor"),
           tiny_special_tokens=("<|image|>",), tiny_tokenizer_attributes={"image_token": "<|image|>"}),
    # checkpoints whose code ships in their folder (config.json ``auto_map``), read the reference study's way:
    # audio only (no prompt), decoder hidden states at the audio tokens, 20 ms per token; loaded and run by
    # hearlike.models.remote (never from the Hub, only after the trust_remote_code opt-in). No model_types:
    # each checkpoint names its own; no tiny config: tests write a tiny custom-code folder themselves.
    Family("remote_code", "AutoModel", (), "{audio}", encoder_paths=(), one_audio_per_pass=True, remote_code=True),
)

#: Every family record, by name.
FAMILY_RECORDS: dict[str, Family] = {record.name: record for record in _RECORDS}

#: Families and the transformers model class each loads (Gemma-3n: without its vision tower, see classes.py).
FAMILIES: dict[str, str] = {record.name: record.model_class for record in _RECORDS}


def get_family(name: str) -> Family:
    """The record of family ``name``.

    Raises
    ------
    ValueError
        If no record exists; the message lists the known families.
    """
    if name not in FAMILY_RECORDS:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILY_RECORDS)} (a new family is one "
                         f"Family record in hearlike/models/families.py)")
    return FAMILY_RECORDS[name]


def model_class(family: str) -> type:
    """The model class ``family`` loads (``from_pretrained``) and tiny models are built from."""
    return get_family(family).transformers_class()


def layout_for(family: str, n_samples: int, **options) -> frames.AudioLayout:
    """Frame and token times for ``n_samples`` of 16 kHz audio in ``family``.

    Parameters
    ----------
    family : str
        Family name (see :data:`FAMILIES`).
    n_samples : int
        Length of the audio at the model's sampling rate.
    **options
        Architecture numbers read from the loaded config (e.g. ``n_window``; see
        :attr:`Family.layout_options`).

    Returns
    -------
    AudioLayout
    """
    record = FAMILY_RECORDS.get(family)
    if record is None or record.layout is None:
        known = sorted(name for name, r in FAMILY_RECORDS.items() if r.layout is not None)
        raise ValueError(f"no frame layout for family {family!r}; known: {known}")
    return record.layout(n_samples, **options)
