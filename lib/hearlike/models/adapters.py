"""One adapter per model family: inputs from the model's own feature extractor and tokenizer, one
forward pass, encoder and decoder layer states with the time of every frame / token.

Encoder states are the outputs of the audio encoder's transformer blocks (captured with forward
hooks during the single forward pass of the whole model, so the encoder runs once); decoder states
are ``output_hidden_states`` of the language model without the embedding layer, taken at the audio
placeholder positions (for the text baseline, at the transcript's tokens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .frames import layout_for
from .registry import FAMILIES, ModelSpec, get_spec

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
}
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
        tower = next((m for m in (_get(model, "model.audio_tower"), _get(model, "audio_tower"),
                                  _get(model, "encoder")) if m is not None), None)
        self.encoder_blocks = list(tower.layers) if (tower is not None and self.family != "text") else []
        config = model.config
        self.audio_token_id = getattr(config, "audio_token_id", None)
        audio_config = getattr(config, "audio_config", None)
        self.layout_options = {"n_window": audio_config.n_window} if hasattr(audio_config, "n_window") else {}

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
        features = self.feature_extractor(
            [np.asarray(a, dtype=np.float32) for a in audios], sampling_rate=self.sampling_rate_hz,
            return_attention_mask=True, padding="max_length", return_tensors="pt")
        layouts = [layout_for(self.family, len(a), **self.layout_options) for a in audios]
        captured: list[torch.Tensor] = []
        hooks = [block.register_forward_hook(
            lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out))
            for block in self.encoder_blocks]
        input_features = features["input_features"].to(self.device, self.dtype)
        try:
            if self.family == "whisper":
                self.model.encoder(input_features)
                hidden = None
            else:
                ids = [self._prompt_ids(len(layout.token_times_s)) for layout in layouts]
                input_ids, attention_mask = self._pad(ids)
                kwargs = {"input_features": input_features}
                if _MASK_ARGUMENT[self.family]:
                    kwargs[_MASK_ARGUMENT[self.family]] = features["attention_mask"].to(self.device)
                out = self.base(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                                use_cache=False, **kwargs)
                hidden = torch.stack(out.hidden_states[1:])  # (layers, batch, seq, features)
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
        model_class = getattr(transformers, FAMILIES[spec.family])
        loaded = model_class.from_pretrained(source, dtype=getattr(torch, dtype), **options).to(device).eval()
        feature_extractor = transformers.AutoFeatureExtractor.from_pretrained(source, **options)
        tokenizer = None if spec.family == "whisper" else transformers.AutoTokenizer.from_pretrained(source, **options)
    except OSError as err:
        raise OSError(f"could not load {spec.key!r} from {source!r} ({err}); without network the weights must be "
                      f"in the local Hugging Face cache or in a folder passed as model_path") from err
    logger.info("loaded %s from %s (%s, %s)", spec.key, source, dtype, device)
    return Adapter(spec, loaded, feature_extractor, tokenizer, device=device)
