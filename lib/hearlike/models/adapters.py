"""The adapter: inputs from the model's own feature extractor and tokenizer, one forward pass,
encoder and decoder layer states with the time of every frame / token. What differs between
architectures is read from the family's record (:mod:`hearlike.models.families`).

Encoder states are the outputs of the audio encoder's transformer blocks (captured with forward
hooks during the single forward pass of the whole model, so the encoder runs once); decoder states
are ``output_hidden_states`` of the language model without the embedding layer, taken at the audio
placeholder positions (for the text baseline, at the transcript's tokens).

Families whose models do not mask batch padding everywhere (Granite-Speech's conformer,
Phi-4-multimodal's feature extractor and convolution stem) run one audio per forward pass
(``Family.one_audio_per_pass``), so batching never changes the states of shorter audios.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .families import Family, get_family
from .registry import ModelSpec, get_spec
from .states import ItemStates

__all__ = ["ItemStates", "Adapter", "load_adapter", "check_model_folder"]

logger = logging.getLogger(__name__)

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")


def _get(obj, dotted: str):
    for name in dotted.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _load_feature_extractor(spec: ModelSpec, record: Family, source: str, options: dict):
    """The checkpoint's own feature extractor, or the family's fallback when a backend is missing."""
    import transformers

    try:
        return transformers.AutoFeatureExtractor.from_pretrained(source, **options)
    except ImportError as err:
        if record.feature_extractor_fallback is None:
            raise
        return record.feature_extractor_fallback(spec.key, source, err)


class Adapter:
    """A loaded model (state) with the family-specific glue.

    Use :func:`load_adapter` to build one.
    """

    def __init__(self, spec: ModelSpec, model, feature_extractor, tokenizer, *, device: str = "cpu"):
        self.spec = spec
        self.family = spec.family
        self.record = get_family(spec.family)
        self.model = model
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        attribute = self.record.base_attribute
        self.base = getattr(model, attribute, model) if attribute else model
        tower = next((m for m in map(lambda p: _get(model, p), self.record.encoder_paths) if m is not None), None)
        self.encoder_blocks = list(getattr(tower, self.record.encoder_blocks)) if tower is not None else []
        config = model.config
        audio_config = getattr(config, "audio_config", None)
        self.audio_token_id = getattr(config, "audio_token_id", None)
        if self.audio_token_id is None and audio_config is not None:  # Phi-4 keeps it in the audio config
            self.audio_token_id = getattr(audio_config, "audio_token_id", None)
        self.layout_options = self.record.layout_options(config) if self.record.layout is not None else {}
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
    def run_audio(self, audios: list[np.ndarray], *, transcripts: list[tuple] | None = None) -> list[ItemStates]:
        """Forward a batch of mono audios (at :attr:`sampling_rate_hz`) and return their states.

        Parameters
        ----------
        audios : list of ndarray, each shape (n_samples,), float32
        transcripts : list of (str, ndarray (n_words, 2), ndarray (n_words, 2)), optional
            Per audio: the sentence text, its words' character spans and their times (s in the
            audio). Needed by families whose decoder is teacher-forced with the transcript
            (``Family.decoder_input == "transcript"``); their decoder states are the tokens of each
            word, timed at the word's midpoint, so time pooling gathers each word's tokens.
        """
        if self.record.layout is None:
            raise ValueError(f"model {self.spec.key!r} ({self.family!r} family) takes no audio; use run_text")
        forced = self.record.decoder_input == "transcript"
        if forced and (transcripts is None or len(transcripts) != len(audios)):
            raise ValueError(f"model {self.spec.key!r}: its decoder is fed the transcript; pass one transcript per "
                             f"audio (got {None if transcripts is None else len(transcripts)} for {len(audios)})")
        if self.record.one_audio_per_pass and len(audios) > 1:
            return [item for i, audio in enumerate(audios)
                    for item in self.run_audio([audio], transcripts=transcripts[i:i + 1] if forced else None)]
        kwargs = self._features([np.asarray(a, dtype=np.float32) for a in audios])
        layouts = [self.record.layout(len(a), **self.layout_options) for a in audios]
        captured: list[torch.Tensor] = []
        # a model that edits a block's output in place later (Granite's CTC feedback): keep a copy
        copy = (lambda t: t.clone()) if self.record.copy_encoder_outputs else (lambda t: t)  # noqa: E731
        hooks = [block.register_forward_hook(
            lambda _m, _i, out: captured.append(copy(out[0] if isinstance(out, tuple) else out)))
            for block in self.encoder_blocks]
        try:
            if self.record.encoder_only:
                self.base.encoder(kwargs["input_features"])
                hidden = None
            elif forced:
                hidden, forced_tokens = self._teacher_forced(kwargs, transcripts)
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
            if hidden is not None and forced:
                positions, dec_times = forced_tokens[b]
                dec = hidden[:, b, torch.as_tensor(positions, device=hidden.device)]
            elif hidden is not None:
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

    def _teacher_forced(self, kwargs: dict, transcripts: list[tuple]):
        """Decoder states of an encoder-decoder fed each transcript after the prompt (teacher forcing).

        Returns
        -------
        hidden : Tensor, shape (n_layers, batch, n_tokens, features)
        tokens : list of (ndarray of int, ndarray of float)
            Per item: the positions of tokens that belong to a word, and that word's midpoint (s).
        """
        prefix = self.spec.prompt_template.partition("{text}")[0]
        start = self.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        ids, tokens = [], []
        for text, spans, times in transcripts:
            body = self.tokenizer(" " + text, add_special_tokens=False, return_offsets_mapping=True)
            offsets = np.asarray(body["offset_mapping"], dtype=np.float64).reshape(-1, 2) - 1.0  # in `text`
            overlap = (np.minimum(offsets[:, None, 1], spans[None, :, 1])
                       - np.maximum(offsets[:, None, 0], spans[None, :, 0]))  # (tokens, words), characters
            owner = np.where(overlap.max(axis=1) > 0, overlap.argmax(axis=1), -1)
            missing = sorted(set(range(len(spans))) - set(owner.tolist()))
            if missing:
                raise RuntimeError(f"{self.spec.key}: word(s) {missing} of {text!r} got no decoder token")
            keep = np.nonzero(owner >= 0)[0]
            tokens.append((len(start) + keep, np.asarray(times, dtype=np.float64)[owner[keep]].mean(axis=1)))
            ids.append(start + body["input_ids"])
        input_ids, attention_mask = self._pad(ids)
        out = self.model(**kwargs, decoder_input_ids=input_ids, decoder_attention_mask=attention_mask,
                         output_hidden_states=True, use_cache=False)
        return torch.stack(out.decoder_hidden_states[1:]), tokens

    def _features(self, audios: list[np.ndarray]) -> dict:
        """The forward's audio arguments from the family's feature call, on the device (floats in the model dtype)."""
        arguments = self.record.features(self.feature_extractor, audios, self.sampling_rate_hz)
        return {name: value.to(self.device, self.dtype) if value.is_floating_point() else value.to(self.device)
                for name, value in arguments.items()}

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


def check_remote_code(spec: ModelSpec, trust_remote_code: bool, model_path: str | Path | None = None) -> None:
    """Refuse an entry that runs repository code unless ``trust_remote_code`` is literally ``True``.

    Entries of the ``remote_code`` family also need a local ``model_path`` (they never download);
    their refusal names the folder and the code files in it (:func:`hearlike.models.remote.check_remote_folder`).

    Raises
    ------
    TypeError
        If ``trust_remote_code`` is not a bool (a string from a file is no opt-in).
    ValueError
        If the entry (or its family) needs remote code and the opt-in is missing.
    """
    if get_family(spec.family).name == "remote_code":
        from .remote import check_remote_folder

        check_remote_folder(spec, model_path, trust_remote_code)
        return
    if not isinstance(trust_remote_code, bool):
        raise TypeError(f"trust_remote_code must be True or False, got {trust_remote_code!r}")
    if spec.trust_remote_code and not trust_remote_code:
        raise ValueError(f"model {spec.key!r} runs code from its repository {spec.hf_id!r}; review it and pass "
                         f"trust_remote_code=True (CLI: --trust-remote-code) to allow it")


def check_model_folder(spec: ModelSpec, model_path: str | Path) -> Path:
    """Check that ``model_path`` is a checkpoint folder of ``spec``'s family, with weights.

    A remote-code entry's folder must instead name its own model class in ``config.json``'s
    ``auto_map`` (:func:`hearlike.models.remote.check_remote_checkpoint`).

    Raises
    ------
    FileNotFoundError
        If the folder, its ``config.json`` or its weights are missing.
    ValueError
        If ``config.json`` is unreadable or its ``model_type`` is not one of the family's.
    """
    folder = Path(model_path)
    if get_family(spec.family).name == "remote_code":
        from .remote import check_remote_checkpoint

        return check_remote_checkpoint(spec, folder)
    expected = " or ".join(repr(t) for t in get_family(spec.family).model_types)
    wanted = (f"model {spec.key!r} needs a checkpoint folder with model_type {expected} "
              f"(e.g. a download of {spec.hf_id})")
    from .remote import checkpoint_config

    model_type = checkpoint_config(folder, wanted).get("model_type")
    if model_type not in get_family(spec.family).model_types:
        raise ValueError(f"model_path {folder} holds a model of type {model_type!r}, not of the expected type "
                         f"{expected} ({spec.family!r} family); {wanted}")
    if not any((folder / name).is_file() for name in _WEIGHT_FILES):
        raise FileNotFoundError(f"model_path {folder} has a config.json but no weights ({', '.join(_WEIGHT_FILES)}; "
                                f"an interrupted download or save?); {wanted}")
    return folder


def load_adapter(model: str | ModelSpec, *, model_path: str | Path | None = None, dtype: str = "float32",
                 device: str = "cpu", trust_remote_code: bool = False) -> Adapter:
    """Load a registry model with ``from_pretrained`` and wrap it in an adapter reading its family record.

    Entries of the ``remote_code`` family load from ``model_path`` only, with their own code, into a
    :class:`hearlike.models.remote.RemoteCodeAdapter` (same interface).

    Parameters
    ----------
    model : str or ModelSpec
        Registry key (see :func:`hearlike.models.registry_table`) or an entry.
    model_path : str or Path, optional
        Local folder with the weights (e.g. written by :func:`hearlike.models.save_tiny`); its
        ``config.json`` must carry the family's ``model_type``. Default: the entry's Hugging Face id
        (which must already be in the local cache: no network).
    dtype : {"float32", "bfloat16", "float16"}
    device : str
        Torch device, e.g. ``"cuda:0"``.
    trust_remote_code : bool
        Explicit opt-in (``True``, a bool) for entries whose code lives in the model repository; the
        only way to allow it (CLI: ``--trust-remote-code``).
    """
    import transformers

    spec = model if isinstance(model, ModelSpec) else get_spec(model)
    check_remote_code(spec, trust_remote_code, model_path)
    record = get_family(spec.family)
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"dtype {dtype!r} is not one of 'float32', 'bfloat16', 'float16'")
    if record.name == "remote_code":
        from .remote import load_remote_adapter

        return load_remote_adapter(spec, model_path=model_path, dtype=dtype, device=device,
                                   trust_remote_code=trust_remote_code)
    if model_path is None and spec.weights != "hub":
        from .bundled import ensure_bundled

        model_path = ensure_bundled(spec.key)
    if model_path is not None:
        check_model_folder(spec, model_path)
    source = str(model_path) if model_path is not None else spec.hf_id
    options = dict(trust_remote_code=trust_remote_code)
    try:
        feature_extractor = _load_feature_extractor(spec, record, source, options)  # first: it may lack a backend
        loaded = record.transformers_class().from_pretrained(source, dtype=getattr(torch, dtype), **options)
        loaded = loaded.to(device).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **options) if record.has_tokenizer else None
    except OSError as err:
        raise OSError(f"could not load {spec.key!r} from {source!r} ({err}); without network the weights must be "
                      f"in the local Hugging Face cache or in a folder passed as model_path") from err
    logger.info("loaded %s from %s (%s, %s)", spec.key, source, dtype, device)
    return Adapter(spec, loaded, feature_extractor, tokenizer, device=device)
