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
import os
import re
import shutil
from pathlib import Path

import torch

from .families import FAMILY_RECORDS, get_family
from .registry import REGISTRY

__all__ = ["AUDIO_TOKENS", "TINY_FAMILIES", "build_tiny_tokenizer", "build_tiny", "ensure_tiny", "save_tiny",
           "tiny_folder_problem"]

logger = logging.getLogger(__name__)

#: The audio placeholder token of each family's tokenizer (from the family records).
AUDIO_TOKENS = {name: record.audio_token for name, record in FAMILY_RECORDS.items() if record.audio_token}

#: Families whose record has a tiny config builder.
TINY_FAMILIES = tuple(name for name, record in FAMILY_RECORDS.items() if record.tiny_config is not None)

_SPECIAL = re.compile(r"<\|[^|]+\|>|\[/?[A-Z_]+\]|<s>|</s>|<sound>")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def _special_tokens(family: str) -> list[str]:
    record = get_family(family)
    found = ["<|endoftext|>", *_SPECIAL.findall(record.prompt_template)]
    for spec in REGISTRY.values():
        if spec.family == family or spec.family in record.tiny_token_families:
            found += _SPECIAL.findall(spec.prompt_template)
    if record.audio_token:
        found.append(record.audio_token)
    found += record.tiny_special_tokens
    return list(dict.fromkeys(found))


def build_tiny_tokenizer(family: str):
    """A byte-level tokenizer with the family's special tokens (``transformers`` fast tokenizer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    record = get_family(family)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    if record.tiny_tokenizer is not None:
        return record.tiny_tokenizer(backend)
    specials = _special_tokens(family)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": [t for t in specials if t != "<|endoftext|>"]})
    extra = {"audio_token": record.audio_token} if record.audio_token else {}
    for name, token in (extra | dict(record.tiny_tokenizer_attributes)).items():
        setattr(tokenizer, name, token)
    return tokenizer


def build_tiny(family: str, *, seed: int = 0):
    """Build ``(model, feature_extractor, tokenizer)`` for ``family`` with random weights.

    Parameters
    ----------
    family : str
        One of :data:`TINY_FAMILIES`.
    seed : int
        Seed of the weight initialisation; the same seed gives the same weights.
    """
    record = get_family(family)
    if record.tiny_config is None:
        raise ValueError(f"no tiny model for family {family!r} (its record has no tiny_config); families with one: "
                         f"{TINY_FAMILIES}")
    tokenizer = build_tiny_tokenizer(family) if record.has_tokenizer else None
    config = record.tiny_config(tokenizer)
    torch.manual_seed(seed)
    model = record.transformers_class()(config).eval()
    return model, record.tiny_feature_extractor(), tokenizer


def save_tiny(family: str, path: str | Path, *, seed: int = 0) -> Path:
    """Write a deterministic tiny random-weight model of ``family`` to the folder ``path``.

    The folder holds ``config.json``, ``model.safetensors``, ``preprocessor_config.json`` and (for
    families with a decoder) the tokenizer files; :func:`hearlike.models.load_adapter` reads it with
    ``from_pretrained`` exactly as it reads a downloaded checkpoint. The files are written to a
    scratch folder beside ``path`` that is renamed to ``path`` when complete (a killed run leaves no
    half-written model at ``path``); an existing ``path`` is replaced.
    """
    path = Path(path)
    model, feature_extractor, tokenizer = build_tiny(family, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        model.save_pretrained(scratch)
        feature_extractor.save_pretrained(scratch)
        if tokenizer is not None:
            tokenizer.save_pretrained(scratch)
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(scratch, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("wrote tiny %s model to %s", family, path)
    return path


def tiny_folder_problem(family: str, path: str | Path) -> str | None:
    """What a tiny-model folder lacks (``None``: complete): its config, weights, features or tokenizer."""
    path = Path(path)
    if not path.is_dir():
        return "the folder does not exist"
    needed = {"config.json": ("config.json",), "weights": _WEIGHTS, "feature extractor": ("preprocessor_config.json",)}
    if get_family(family).has_tokenizer:
        needed["tokenizer"] = ("tokenizer.json",)
    missing = [what for what, names in needed.items() if not any((path / name).is_file() for name in names)]
    return f"no {', no '.join(missing)}" if missing else None


def _writer_alive(scratch: Path) -> bool:
    """Whether the process that named ``scratch`` (``….tmp-<pid>``) still runs (then it may be writing)."""
    try:
        pid = int(scratch.name.rsplit("-", 1)[1])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def ensure_tiny(family: str, path: str | Path, *, seed: int = 0) -> Path:
    """The tiny model folder ``path`` of ``family``, written by :func:`save_tiny` unless complete.

    A folder left half-written (e.g. ``config.json`` without weights, by a run killed before
    ``save_tiny`` wrote atomically) is rebuilt with a WARNING naming it; scratch folders of killed
    writes beside it are removed.
    """
    path = Path(path)
    for orphan in path.parent.glob(f".{path.name}.tmp-*"):
        if _writer_alive(orphan):
            continue
        logger.warning("removing %s, the scratch folder of an interrupted tiny-model write", orphan)
        shutil.rmtree(orphan, ignore_errors=True)
    problem = tiny_folder_problem(family, path)
    if problem is None:
        return path
    if path.exists():
        logger.warning("tiny %s model folder %s is incomplete (%s; an interrupted write?); rebuilding it",
                       family, path, problem)
    return save_tiny(family, path, seed=seed)
