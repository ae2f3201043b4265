"""The generic remote-code adapter: a model whose Python code ships in its own folder (``auto_map``).

Eight models of the reference study (arXiv 2601.16540; the ``paper`` registry group) load only with
``trust_remote_code=True``: their configuration, model and processor classes live in the checkpoint
folder, not in transformers. This module loads such a checkpoint from a LOCAL folder only (never a
download), and only when the user opted in (``trust_remote_code=True``; CLI ``--trust-remote-code``),
and reads it the way the study does:

- the input is the audio alone: the prompt is the processor's audio placeholder and nothing else
  (no instruction, no chat template);
- the states are the language decoder's ``output_hidden_states`` (embedding output dropped, one
  entry per decoder block), at the positions of the audio tokens; which token id marks audio is read
  from the model's own config (``audio_token_id`` / ``audio_token_index``, also in a ``text_config``)
  or, failing that, from its processor (``audio_token_id`` or the id of ``audio_token``); a processor
  that returns the span itself (``audio_token_start_idx`` and ``audio_token_len``, as Ultravox's
  published processor code does; not run here) gives the positions directly;
- audio token ``i`` is timed at ``(i + 0.5) * 20 ms`` from the start of the input audio: the study
  assumes 20 ms per frame for every model. Where a model's real token rate differs (GLM-4-Voice's
  speech tokenizer, for one, emits 12.5 tokens/s), the times and the word pooling inherit the study's
  assumption; a WARNING names the rate the token count implies.

The word pooling is :mod:`hearlike.models.pooling`, as for every other model. One audio runs per
forward pass (a generic processor's padding is unknown). Nothing here has run on the released
checkpoints offline: ``hearlike models --group paper`` marks them "unverified offline".
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from .families import get_family
from .registry import ModelSpec
from .states import ItemStates

__all__ = ["STUDY_FRAME_S", "RemoteCodeAdapter", "check_remote_checkpoint", "check_remote_folder", "load_remote_adapter",
           "remote_code_files"]

logger = logging.getLogger(__name__)

#: Seconds per audio token the reference study assumes for every model.
STUDY_FRAME_S = 0.02

_TOKEN_ID_KEYS = ("audio_token_id", "audio_token_index")
_MODEL_AUTO_CLASSES = ("AutoModel", "AutoModelForCausalLM")
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def remote_code_files(folder: str | Path) -> list[str]:
    """The Python files a checkpoint folder's ``config.json`` ``auto_map`` names (what loading would run)."""
    config = Path(folder) / "config.json"
    try:
        auto_map = json.loads(config.read_text()).get("auto_map") or {}
    except (OSError, ValueError, AttributeError):
        return []
    modules = {str(ref).split("--")[-1].rsplit(".", 1)[0] for ref in auto_map.values() if isinstance(ref, str)}
    return sorted(f"{module}.py" for module in modules)


def check_remote_folder(spec: ModelSpec, model_path: str | Path | None, trust_remote_code: bool) -> Path:
    """Refuse a remote-code entry without a local folder or without the explicit opt-in.

    Raises
    ------
    TypeError
        If ``trust_remote_code`` is not a bool.
    ValueError
        No folder given (these entries never download), or no opt-in (the message names the folder,
        the code files it would run and the flag).
    FileNotFoundError
        The folder or its ``config.json`` is missing.
    """
    if not isinstance(trust_remote_code, bool):
        raise TypeError(f"trust_remote_code must be True or False, got {trust_remote_code!r}")
    if model_path is None:
        raise ValueError(f"model {spec.key!r} runs code shipped with its weights and loads from a local folder "
                         f"only: download {spec.hf_id} yourself, review its code, and give the folder as "
                         f"model_paths.{spec.key} in the parameters (or --model-path)")
    folder = Path(model_path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"model_path {folder} has no config.json; model {spec.key!r} needs a checkpoint "
                                f"folder (a download of {spec.hf_id})")
    if not trust_remote_code:
        files = remote_code_files(folder)
        named = f" ({', '.join(files)})" if files else ""
        raise ValueError(f"model {spec.key!r}: loading {folder} runs the Python code in that folder{named}; review "
                         f"it, then pass --trust-remote-code to `hearlike extract` (or trust_remote_code=True) "
                         f"to allow it")
    return folder


def checkpoint_config(folder: Path, wanted: str) -> dict:
    """The JSON object in ``folder/config.json``; a missing folder or file, or bad JSON, is an error
    naming the path and ending with ``wanted`` (what the model needs)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"model_path {folder} does not exist or is not a folder; {wanted}")
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"model_path {folder} has no config.json; {wanted}")
    try:
        values = json.loads(config.read_text())
        values.get  # a JSON object, not a list or a number
    except (ValueError, UnicodeDecodeError, AttributeError) as err:
        raise ValueError(f"{config} is not a JSON object ({err}); {wanted}") from err
    return values


def check_remote_checkpoint(spec: ModelSpec, folder: str | Path) -> Path:
    """Check that ``folder`` is a remote-code checkpoint: ``config.json`` naming its model class, and weights.

    Raises
    ------
    FileNotFoundError
        The folder, its ``config.json`` or its weights are missing.
    ValueError
        ``config.json`` is unreadable or its ``auto_map`` names no model class.
    """
    folder = Path(folder)
    wanted = f"model {spec.key!r} needs a checkpoint folder with its own code (e.g. a download of {spec.hf_id})"
    auto_map = checkpoint_config(folder, wanted).get("auto_map") or {}
    if not any(name in auto_map for name in _MODEL_AUTO_CLASSES):
        raise ValueError(f"model_path {folder}: config.json's auto_map names no {' or '.join(_MODEL_AUTO_CLASSES)} "
                         f"class (it has {sorted(auto_map) or 'none'}); {wanted}")
    if not any(any(folder.glob(pattern)) for pattern in _WEIGHT_PATTERNS):
        raise FileNotFoundError(f"model_path {folder} has a config.json but no weights ({', '.join(_WEIGHT_PATTERNS)}; "
                                f"an interrupted download?); {wanted}")
    return folder


def _audio_token_id(config, processor) -> int | None:
    """The audio placeholder's token id: the model config's, else the processor's (None: neither names one)."""
    for holder in (config, getattr(config, "text_config", None)):
        for key in _TOKEN_ID_KEYS:
            value = getattr(holder, key, None) if holder is not None else None
            if isinstance(value, int):
                return value
    value = getattr(processor, "audio_token_id", None)
    if isinstance(value, int):
        return value
    token, tokenizer = getattr(processor, "audio_token", None), getattr(processor, "tokenizer", None)
    if token is not None and tokenizer is not None:
        value = tokenizer.convert_tokens_to_ids(token)
        if isinstance(value, int) and value != getattr(tokenizer, "unk_token_id", None):
            return value
    return None


def _placeholder(processor) -> str:
    for name in ("audio_token", "audio_placeholder"):
        value = getattr(processor, name, None)
        if isinstance(value, str) and value:
            return value
    raise ValueError("the processor has no audio_token / audio_placeholder string to put in the prompt")


class RemoteCodeAdapter:
    """A remote-code model, its processor and the audio token id; the interface of :class:`~.adapters.Adapter`.

    Use :func:`load_remote_adapter` to build one.
    """

    def __init__(self, spec: ModelSpec, model, processor, *, device: str = "cpu"):
        self.spec = spec
        self.family = spec.family
        self.record = get_family(spec.family)
        self.model = model
        self.processor = processor
        self.device = torch.device(device)
        self.audio_token_id = _audio_token_id(model.config, processor)
        self.prompt = spec.prompt_template.replace("{audio}", _placeholder(processor))

    @property
    def sampling_rate_hz(self) -> int:
        extractor = getattr(self.processor, "feature_extractor", self.processor)
        return int(getattr(extractor, "sampling_rate", None) or self.spec.sampling_rate_hz)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def run_audio(self, audios: list[np.ndarray], *, transcripts=None) -> list[ItemStates]:
        """Decoder states at the audio tokens of each audio (one forward pass per audio).

        Parameters
        ----------
        audios : list of ndarray, each shape (n_samples,), float32, at :attr:`sampling_rate_hz`

        Returns
        -------
        list of ItemStates
            ``decoder`` (n_decoder_layers, n_audio_tokens, features) and ``decoder_times`` (s, token
            centres at the study's 20 ms per token); no encoder states.
        """
        return [self._one(np.asarray(audio, dtype=np.float32)) for audio in audios]

    def _positions(self, inputs: dict) -> torch.Tensor:
        """Sequence positions of the audio tokens: the processor's span, else the audio token id's positions."""
        if "audio_token_start_idx" in inputs and "audio_token_len" in inputs:
            starts, lengths = inputs["audio_token_start_idx"].reshape(-1), inputs["audio_token_len"].reshape(-1)
            return torch.cat([torch.arange(int(s), int(s) + int(n)) for s, n in zip(starts, lengths)]).to(self.device)
        if self.audio_token_id is None:
            raise ValueError(f"{self.spec.key}: neither the model's config (audio_token_id / audio_token_index) nor "
                             f"its processor (audio_token_id / audio_token, or an audio_token_start_idx / "
                             f"audio_token_len span) names the audio tokens; the generic remote-code adapter cannot "
                             f"find the audio span")
        positions = torch.nonzero(inputs["input_ids"][0] == self.audio_token_id).squeeze(1)
        if len(positions) == 0:
            raise RuntimeError(f"{self.spec.key}: no token {self.audio_token_id} (the audio placeholder id of the "
                               f"model's config/processor) in the processed input; the processor did not expand the "
                               f"audio into that token")
        return positions

    def _one(self, audio: np.ndarray) -> ItemStates:
        inputs = self.processor(text=self.prompt, audio=[audio], sampling_rate=self.sampling_rate_hz,
                                return_tensors="pt")
        inputs = {name: (value.to(self.device, self.dtype) if value.is_floating_point() else value.to(self.device))
                  for name, value in dict(inputs).items() if isinstance(value, torch.Tensor)}
        if "input_ids" not in inputs:
            raise RuntimeError(f"{self.spec.key}: the processor returned no input_ids ({sorted(inputs)})")
        positions = self._positions(inputs)
        if int(positions.max()) >= inputs["input_ids"].shape[1]:
            raise RuntimeError(f"{self.spec.key}: the processor's audio span ends at {int(positions.max())}, beyond "
                               f"the {inputs['input_ids'].shape[1]} input tokens")
        out = self.model(**inputs, output_hidden_states=True)
        hidden = getattr(out, "hidden_states", None)
        if hidden is None:
            raise RuntimeError(f"{self.spec.key}: the model's forward returned no hidden_states with "
                               f"output_hidden_states=True; the generic adapter cannot read it")
        states = torch.stack([h[0] for h in hidden[1:]])  # (layers, seq, features); embedding output dropped
        duration_s = len(audio) / self.sampling_rate_hz
        implied_s = duration_s / len(positions)
        if not 0.5 <= implied_s / STUDY_FRAME_S <= 2.0:
            logger.warning("%s: %d audio tokens for %.2f s of audio (%.0f ms per token), but the study's timing "
                           "assumes 20 ms per token; word pooling follows the study's assumption",
                           self.spec.key, len(positions), duration_s, 1000 * implied_s)
        times = (np.arange(len(positions)) + 0.5) * STUDY_FRAME_S
        keep = times < duration_s
        positions = positions[torch.as_tensor(keep, device=positions.device)]
        return ItemStates(None, np.zeros(0), states[:, positions], times[keep])


def load_remote_adapter(spec: ModelSpec, *, model_path: str | Path | None, dtype: str = "float32",
                        device: str = "cpu", trust_remote_code: bool = False) -> RemoteCodeAdapter:
    """Load a remote-code checkpoint from a local folder (after the opt-in) with its own processor.

    Parameters
    ----------
    spec : ModelSpec
        A registry entry of the ``remote_code`` family.
    model_path : str or Path
        The checkpoint folder (``config.json`` with ``auto_map``, weights, processor files, code).
    dtype : {"float32", "bfloat16", "float16"}
    device : str
    trust_remote_code : bool
        Must be the bool ``True``: loading runs the folder's Python code.
    """
    import transformers

    folder = check_remote_checkpoint(spec, check_remote_folder(spec, model_path, trust_remote_code))
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    auto = next(name for name in _MODEL_AUTO_CLASSES if name in auto_map)
    options = dict(trust_remote_code=True, local_files_only=True)
    try:
        processor = transformers.AutoProcessor.from_pretrained(str(folder), **options)
        model = getattr(transformers, auto).from_pretrained(str(folder), dtype=getattr(torch, dtype), **options)
    except OSError as err:
        raise OSError(f"could not load {spec.key!r} from {folder} ({err})") from err
    model = model.to(device).eval()
    logger.info("loaded %s from %s with its own code (%s, %s)", spec.key, folder, dtype, device)
    return RemoteCodeAdapter(spec, model, processor, device=device)
