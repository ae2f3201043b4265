"""One adapter per model family: inputs from the model's own feature extractor and tokenizer, one
forward pass, encoder and decoder layer states with the time of every frame / token.

Encoder states are the outputs of the audio encoder's transformer blocks (captured with forward
hooks during the single forward pass of the whole model, so the encoder runs once); decoder states
are ``output_hidden_states`` of the language model without the embedding layer, taken at the audio
placeholder positions (for the text baseline, at the transcript's tokens).

Granite-Speech and Phi-4-multimodal are run one audio per forward pass: neither model masks batch
padding everywhere (Granite's conformer has no padding mask; Phi-4's feature extractor and
convolution stem see the padding), so batching would change the states of shorter audios.
Gemma-3n pads every audio to 30 s, which its fixed 188 audio tokens assume, so it batches exactly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .classes import model_class
from .features import TINY_MARKER, GraniteLogMelExtractor
from .frames import layout_for
from .registry import ModelSpec, get_spec

__all__ = ["ItemStates", "Adapter", "load_adapter"]

logger = logging.getLogger(__name__)

# name of the feature-mask argument of each family's forward (None: the model takes no mask)
_MASK_ARGUMENT = {
    "qwen2_audio": "feature_attention_mask",
    "qwen2_5_omni": "feature_attention_mask",
    "qwen3_omni": "feature_attention_mask",
    "audioflamingo3": "input_features_mask",
    "voxtral": None,
    "whisper": None,
    "granite_speech": None,  # one audio per pass (see the module docstring)
    "gemma3n": "input_features_mask",
    "phi4_multimodal": None,  # one audio per pass
}
# audio-encoder module (dotted path from the loaded model) and its list of blocks
_TOWER = {
    "granite_speech": ("model.encoder", "layers"),
    "gemma3n": ("model.audio_tower", "conformer"),
    "phi4_multimodal": ("model.embed_tokens_extend.audio_embed.encoder", "encoders"),
}
_ONE_AT_A_TIME = ("granite_speech", "phi4_multimodal")
_GEMMA3N_PADDED_SAMPLES = 480000  # 30 s at 16 kHz: the 188 audio tokens of the processor
_SUPPORTED = tuple(_MASK_ARGUMENT) + ("text",)


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


def _get(obj, dotted: str):
    for name in dotted.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _layout_options(family: str, config) -> dict:
    """Architecture numbers of the loaded config that the frame layout of ``family`` needs."""
    audio = getattr(config, "audio_config", None)
    if family == "granite_speech":
        return {"window_size": config.window_size, "downsample_rate": config.downsample_rate}
    if family == "gemma3n":
        return {"n_tokens": config.audio_soft_tokens_per_image, "reduction": audio.conf_reduction_factor,
                "padded_samples": _GEMMA3N_PADDED_SAMPLES}
    if family == "phi4_multimodal":
        return {"time_reduction": audio.time_reduction}
    return {"n_window": audio.n_window} if hasattr(audio, "n_window") else {}


def _load_feature_extractor(spec: ModelSpec, source: str, options: dict):
    """The checkpoint's own feature extractor; for tiny Granite folders, the torchaudio-free port."""
    import transformers

    try:
        return transformers.AutoFeatureExtractor.from_pretrained(source, **options)
    except ImportError as err:
        if spec.family != "granite_speech" or "torchaudio" not in str(err):
            raise
        config = Path(source, "preprocessor_config.json")
        if config.is_file() and json.loads(config.read_text()).get(TINY_MARKER):
            logger.info("%s: torchaudio missing; tiny test folder, using the torch.stft log-mel port", source)
            return GraniteLogMelExtractor.from_pretrained(source)
        raise ImportError(
            f"model {spec.key!r}: the Granite-Speech feature extractor computes its log-mel spectrogram with "
            f"torchaudio, which is not installed; install the torchaudio build matching torch {torch.__version__} "
            f"(pip install torchaudio=={torch.__version__.split('+')[0]} on a supported platform) and retry") from err


class Adapter:
    """A loaded model (state) with the family-specific glue.

    Use :func:`load_adapter` to build one.
    """

    def __init__(self, spec: ModelSpec, model, feature_extractor, tokenizer, *, device: str = "cpu"):
        self.spec = spec
        self.family = spec.family
        self.model = model
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.base = model.model if hasattr(model, "model") and self.family != "whisper" else model
        path, blocks = _TOWER.get(self.family, (None, "layers"))
        candidates = (path,) if path else ("model.audio_tower", "audio_tower", "encoder")
        tower = next((m for m in map(lambda p: _get(model, p), candidates) if m is not None), None)
        self.encoder_blocks = list(getattr(tower, blocks)) if (tower is not None and self.family != "text") else []
        config = model.config
        audio_config = getattr(config, "audio_config", None)
        self.audio_token_id = getattr(config, "audio_token_id", None)
        if self.audio_token_id is None and audio_config is not None:  # Phi-4 keeps it in the audio config
            self.audio_token_id = getattr(audio_config, "audio_token_id", None)
        self.layout_options = _layout_options(self.family, config)
        self.altup_active_idx = getattr(getattr(config, "text_config", None), "altup_active_idx", 0)

    @property
    def sampling_rate_hz(self) -> int:
        return int(getattr(self.feature_extractor, "sampling_rate", self.spec.sampling_rate_hz))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    # ------------------------------------------------------------------ audio families
    def _prompt_ids(self, n_tokens: int) -> list[int]:
        prefix, _, suffix = self.spec.prompt_template.partition("{audio}")
        encode = lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []  # noqa: E731
        return encode(prefix) + [self.audio_token_id] * n_tokens + encode(suffix)

    @torch.no_grad()
    def run_audio(self, audios: list[np.ndarray]) -> list[ItemStates]:
        """Forward a batch of mono audios (at :attr:`sampling_rate_hz`) and return their states.

        Parameters
        ----------
        audios : list of ndarray, each shape (n_samples,), float32
        """
        if self.family in _ONE_AT_A_TIME and len(audios) > 1:
            return [item for audio in audios for item in self.run_audio([audio])]
        features, kwargs = self._features([np.asarray(a, dtype=np.float32) for a in audios])
        layouts = [layout_for(self.family, len(a), **self.layout_options) for a in audios]
        captured: list[torch.Tensor] = []
        # Granite adds its mid-encoder CTC feedback to a block's output in place: keep a copy
        copy = (lambda t: t.clone()) if self.family == "granite_speech" else (lambda t: t)  # noqa: E731
        hooks = [block.register_forward_hook(
            lambda _m, _i, out: captured.append(copy(out[0] if isinstance(out, tuple) else out)))
            for block in self.encoder_blocks]
        input_features = kwargs.get("input_features")
        try:
            if self.family == "whisper":
                self.model.encoder(input_features)
                hidden = None
            else:
                ids = [self._prompt_ids(len(layout.token_times_s)) for layout in layouts]
                input_ids, attention_mask = self._pad(ids)
                out = self.base(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                                use_cache=False, **kwargs)
                # (layers, batch, seq, features); Gemma-3n's AltUp layers emit (streams, batch, seq,
                # features): the active stream is the one the layer computed (the others are predicted)
                hidden = torch.stack([h[self.altup_active_idx] if h.dim() == 4 else h for h in out.hidden_states[1:]])
        finally:
            for hook in hooks:
                hook.remove()
        encoder = torch.stack(captured) if captured else None
        results = []
        packed_start = 0
        for b, layout in enumerate(layouts):
            duration_s = len(audios[b]) / self.sampling_rate_hz
            enc, enc_times = None, layout.encoder_times_s
            if encoder is not None:
                n_frames = len(enc_times)
                if encoder.dim() == 3:  # packed (layers, frames of all items, features)
                    enc = encoder[:, packed_start:packed_start + n_frames]
                    packed_start += n_frames
                else:
                    enc = encoder[:, b, :n_frames]
                if enc.shape[1] != n_frames:
                    raise RuntimeError(f"{self.spec.key}: the encoder emitted {enc.shape[1]} frames but the "
                                       f"{self.family} frame layout expects {n_frames}; the layout is out of date")
                keep = enc_times < duration_s
                enc, enc_times = enc[:, torch.as_tensor(keep, device=enc.device)], enc_times[keep]
            dec, dec_times = None, layout.token_times_s
            if hidden is not None:
                positions = torch.nonzero(input_ids[b] == self.audio_token_id).squeeze(1)
                if len(positions) != len(dec_times):
                    raise RuntimeError(f"{self.spec.key}: {len(positions)} audio tokens in the prompt, "
                                       f"{len(dec_times)} in the frame layout")
                keep = dec_times < duration_s
                dec, dec_times = hidden[:, b, positions[torch.as_tensor(keep, device=positions.device)]], \
                    dec_times[keep]
            results.append(ItemStates(enc, enc_times, dec, dec_times))
        if encoder is not None and encoder.dim() == 3 and packed_start != encoder.shape[1]:
            raise RuntimeError(f"{self.spec.key}: the encoder emitted {encoder.shape[1]} packed frames, "
                               f"the layout accounts for {packed_start}")
        return results

    def _features(self, audios: list[np.ndarray]) -> tuple[dict, dict]:
        """Run the family's feature extractor; return its output and the forward's audio arguments."""
        rate = self.sampling_rate_hz
        fe = self.feature_extractor
        if self.family == "granite_speech":
            features = fe(audios, device="cpu")
            return features, {"input_features": features["input_features"].to(self.device, self.dtype),
                              "input_features_mask": features["input_features_mask"].to(self.device)}
        if self.family == "phi4_multimodal":
            features = fe(audios, sampling_rate=rate, return_tensors="pt")
            return features, {"audio_input_features": features["audio_input_features"].to(self.device, self.dtype),
                              "audio_embed_sizes": features["audio_embed_sizes"].to(self.device)}
        if self.family == "gemma3n":
            features = fe(audios, sampling_rate=rate, padding="max_length", max_length=_GEMMA3N_PADDED_SAMPLES,
                          truncation=False, return_tensors="pt")
            return features, {"input_features": features["input_features"].to(self.device, self.dtype),
                              "input_features_mask": features["input_features_mask"].to(self.device)}
        features = fe(audios, sampling_rate=rate, return_attention_mask=True, padding="max_length",
                      return_tensors="pt")
        kwargs = {"input_features": features["input_features"].to(self.device, self.dtype)}
        if _MASK_ARGUMENT.get(self.family):
            kwargs[_MASK_ARGUMENT[self.family]] = features["attention_mask"].to(self.device)
        return features, kwargs

    # ------------------------------------------------------------------ text baseline
    @torch.no_grad()
    def run_text(self, texts: list[str]) -> list[ItemStates]:
        """Forward transcripts; decoder "times" are token character centres within each text."""
        prefix, _, suffix = self.spec.prompt_template.partition("{text}")
        ids, spans = [], []
        for text in texts:
            pre = self.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
            body = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            post = self.tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix else []
            ids.append(pre + body["input_ids"] + post)
            spans.append((len(pre), np.asarray(body["offset_mapping"], dtype=np.float64).reshape(-1, 2)))
        input_ids, attention_mask = self._pad(ids)
        out = self.base(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                        use_cache=False)
        hidden = torch.stack(out.hidden_states[1:])
        results = []
        for b, (start, offsets) in enumerate(spans):
            centres = offsets.mean(axis=1)
            results.append(ItemStates(None, np.zeros(0), hidden[:, b, start:start + len(offsets)], centres))
        return results

    def _pad(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad token ids (the decoders are causal, so padding after a sequence changes nothing)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        length = max(len(i) for i in ids)
        input_ids = torch.full((len(ids), length), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), length), dtype=torch.long)
        for b, row in enumerate(ids):
            input_ids[b, :len(row)] = torch.as_tensor(row)
            attention_mask[b, :len(row)] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)


def load_adapter(model: str | ModelSpec, *, model_path: str | Path | None = None, dtype: str = "float32",
                 device: str = "cpu", trust_remote_code: bool = False) -> Adapter:
    """Load a registry model with ``from_pretrained`` and wrap it in its family's adapter.

    Parameters
    ----------
    model : str or ModelSpec
        Registry key (see :func:`hearlike.models.registry_table`) or an entry.
    model_path : str or Path, optional
        Local folder with the weights (e.g. written by :func:`hearlike.models.save_tiny`); default:
        the entry's Hugging Face id (which must already be in the local cache: no network).
    dtype : {"float32", "bfloat16", "float16"}
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda:0"``.
    trust_remote_code : bool
        Explicit opt-in for entries whose code lives in the model repository.
    """
    import transformers

    spec = model if isinstance(model, ModelSpec) else get_spec(model)
    if spec.trust_remote_code and not trust_remote_code:
        raise ValueError(f"model {spec.key!r} runs code from its repository {spec.hf_id!r}; review it and pass "
                         f"trust_remote_code=True (CLI: --trust-remote-code) to allow it")
    if spec.family not in _SUPPORTED:
        raise NotImplementedError(f"model {spec.key!r}: the {spec.family!r} family has no adapter yet "
                                  f"(families with one: {', '.join(_SUPPORTED)})")
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"dtype {dtype!r} is not one of 'float32', 'bfloat16', 'float16'")
    source = str(model_path) if model_path is not None else spec.hf_id
    options = dict(trust_remote_code=trust_remote_code)
    try:
        feature_extractor = _load_feature_extractor(spec, source, options)  # first: it may lack a backend
        loaded = model_class(spec.family).from_pretrained(source, dtype=getattr(torch, dtype), **options)
        loaded = loaded.to(device).eval()
        tokenizer = None if spec.family == "whisper" else transformers.AutoTokenizer.from_pretrained(source, **options)
    except OSError as err:
        raise OSError(f"could not load {spec.key!r} from {source!r} ({err}); without network the weights must be "
                      f"in the local Hugging Face cache or in a folder passed as model_path") from err
    logger.info("loaded %s from %s (%s, %s)", spec.key, source, dtype, device)
    return Adapter(spec, loaded, feature_extractor, tokenizer, device=device)
