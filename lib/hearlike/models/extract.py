"""Word-level layer states of one model on one stimulus table, cached as resumable netCDF.

The output follows the *Model states* contract of ``ARCHITECTURE.md``: variables ``encoder``
(``encoder_layer, word, encoder_feature``) and/or ``decoder`` (``decoder_layer, word,
decoder_feature``), float32, word coordinates ``sentence_id, word_index, word_text``.

Sentences are processed in blocks; each finished block is written atomically to a parts folder
named by the configuration hash, so a killed run resumes at the next unfinished block, and the
merged file replaces the parts when all blocks are done. Any change of model, weights, pooling,
context, segment padding, dtype or stimuli changes the hash and invalidates the cache.

A sentence need not have an audio file of its own: when the table's onsets point into a long file
(an audiobook run), each sentence is cropped to its words plus ``segment_pad_s`` (see
:func:`sentence_window`) and its word times are shifted to the crop.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from .. import __version__
from ..cache import read_netcdf, write_netcdf
from ..cache import config_hash
from .adapters import Adapter, ItemStates, check_remote_code, load_adapter
from .families import get_family
from .pooling import POOLING_METHODS, pool_words, word_frame_weights
from .registry import get_spec

__all__ = ["extract_states", "stack_layers", "layer_matrices", "load_audio", "sentence_window", "word_char_spans"]

logger = logging.getLogger(__name__)

_REQUIRED = ("sentence_id", "word_index", "word", "onset_s", "offset_s", "audio_path", "sentence_text")


def load_audio(path: str | Path, *, sampling_rate_hz: int, resample: bool = True) -> np.ndarray:
    """Read a sound file as mono float32 at ``sampling_rate_hz``.

    Parameters
    ----------
    path : str or Path
        Any format libsndfile reads (WAV, FLAC, OGG).
    sampling_rate_hz : int
        Rate the model expects.
    resample : bool
        Resample (soxr, high quality) when the file's rate differs; if False, a differing rate is an error.

    Returns
    -------
    ndarray, shape (n_samples,), float32

    Raises
    ------
    FileNotFoundError, ValueError
        A missing or unreadable file, a rate too low or not resampled, NaN or infinite samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file {path} does not exist (audio_path is relative to the table's folder)")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except RuntimeError as err:
        raise ValueError(f"audio file {path} is not a readable sound file: {err}") from err
    bad = ~np.isfinite(audio).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"audio file {path} has {int(bad.sum())} NaN or infinite sample(s) (the first at sample "
                         f"{first}, {first / rate:.3f} s); they would give NaN model states: repair or re-export "
                         f"the file")
    audio = audio.mean(axis=1)
    if rate != sampling_rate_hz:
        if not resample:
            raise ValueError(f"audio file {path} is sampled at {rate} Hz but the model expects {sampling_rate_hz} Hz; "
                             f"resample it or pass resample=True")
        if rate < 8000:
            raise ValueError(f"audio file {path} is sampled at {rate} Hz; speech needs at least 8000 Hz")
        import soxr

        audio = soxr.resample(audio, rate, sampling_rate_hz, quality="HQ").astype(np.float32)
    return audio


def word_char_spans(sentence_text: str, words: list[str], *, sentence_id: str = "") -> np.ndarray:
    """Character span ``[start, end)`` of each word in ``sentence_text``, searched left to right.

    Returns
    -------
    ndarray, shape (n_words, 2), float64
    """
    spans, cursor, lowered = [], 0, sentence_text.lower()
    for word in words:
        start = lowered.find(str(word).lower(), cursor)
        if start < 0:
            raise ValueError(f"sentence {sentence_id!r}: word {word!r} not found in sentence_text "
                             f"{sentence_text!r} after character {cursor}")
        spans.append((start, start + len(word)))
        cursor = start + len(word)
    return np.asarray(spans, dtype=np.float64).reshape(-1, 2)


def sentence_window(onsets_s, offsets_s, *, duration_s: float, pad_s: float | None) -> tuple[float, float]:
    """The stretch of a sentence's audio file that is fed to a model.

    A sentence may be a segment of a long audio file (a whole audiobook run, with onsets relative
    to the file's start). Its window is ``[first onset - pad_s, last offset + pad_s]``, clipped to
    ``[0, duration_s]``. For a per-sentence file whose words fill it up to ``pad_s`` at each end the
    window is the whole file, i.e. cropping is a no-op.

    Parameters
    ----------
    onsets_s, offsets_s : array-like, shape (n_words,)
        Word times in seconds from the start of the audio file.
    duration_s : float
        Length of the audio file in seconds.
    pad_s : float or None
        Seconds kept before the first and after the last word; None keeps the whole file.

    Returns
    -------
    start_s, stop_s : float
        Window in seconds from the start of the file.
    """
    if pad_s is None:
        return 0.0, float(duration_s)
    if pad_s < 0:
        raise ValueError(f"segment_pad_s must be >= 0 seconds or None (no cropping), got {pad_s}")
    start = max(0.0, float(np.min(onsets_s)) - pad_s)
    stop = min(float(duration_s), float(np.max(offsets_s)) + pad_s)
    return start, stop


class _AudioFiles:
    """The few most recently read audio files (consecutive sentences share a long file)."""

    def __init__(self, *, sampling_rate_hz: int, resample: bool, keep: int = 2):
        self.rate, self.resample, self.keep = sampling_rate_hz, resample, keep
        self._files: dict[Path, np.ndarray] = {}

    def __call__(self, path: Path) -> np.ndarray:
        if path in self._files:
            self._files[path] = self._files.pop(path)  # most recent last
        else:
            self._files[path] = load_audio(path, sampling_rate_hz=self.rate, resample=self.resample)
            while len(self._files) > self.keep:
                self._files.pop(next(iter(self._files)))
        return self._files[path]


def _check_table(stimuli: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in stimuli.columns]
    if missing:
        raise ValueError(f"stimulus table lacks column(s) {missing}; it needs {list(_REQUIRED)} (see ARCHITECTURE.md)")
    if len(stimuli) == 0:
        raise ValueError("stimulus table has no words (the word list is empty); nothing to extract")
    bad = stimuli[~(stimuli["offset_s"] > stimuli["onset_s"]) | (stimuli["onset_s"] < 0)]
    if len(bad):
        row = bad.iloc[0]
        raise ValueError(f"sentence {row.sentence_id!r} word {row.word_index} ({row.word!r}) has onset_s "
                         f"{row.onset_s} and offset_s {row.offset_s}; need 0 <= onset_s < offset_s")
    table = stimuli.copy()
    table["sentence_id"] = table["sentence_id"].astype(str)
    order = pd.unique(table["sentence_id"])
    table["_order"] = table["sentence_id"].map({s: i for i, s in enumerate(order)})
    return table.sort_values(["_order", "word_index"]).drop(columns="_order").reset_index(drop=True)


def _word_coords(words: pd.DataFrame) -> dict:
    sid = words["sentence_id"].astype(str).to_numpy()
    index = words["word_index"].astype(int).to_numpy()
    return {"word": ("word", np.array([f"{s}:{i}" for s, i in zip(sid, index)])),
            "sentence_id": ("word", sid), "word_index": ("word", index),
            "word_text": ("word", words["word"].astype(str).to_numpy())}


def _sentence_dataset(states: ItemStates, words: pd.DataFrame, onsets, offsets, *, pooling: str) -> xr.Dataset:
    variables = {}
    for name, tensor, times in (("encoder", states.encoder, states.encoder_times),
                                ("decoder", states.decoder, states.decoder_times)):
        if tensor is None:
            continue
        weights = word_frame_weights(onsets, offsets, times, method=pooling)
        pooled = pool_words(tensor, weights).cpu().numpy()
        variables[name] = ((f"{name}_layer", "word", f"{name}_feature"), pooled)
    return xr.Dataset(variables, coords=_word_coords(words))


def _blocks(sentence_ids: list[str], size: int) -> list[list[str]]:
    return [sentence_ids[i:i + size] for i in range(0, len(sentence_ids), size)]


def _check_options(*, pooling: str, context_s: float, segment_pad_s: float | None, batch_size: int,
                   block_size: int) -> None:
    if pooling not in POOLING_METHODS:
        raise ValueError(f"pooling {pooling!r} is not one of {POOLING_METHODS}")
    if context_s < 0:
        raise ValueError(f"context_s must be >= 0 seconds, got {context_s}")
    if segment_pad_s is not None and segment_pad_s < 0:
        raise ValueError(f"segment_pad_s must be >= 0 seconds or None (no cropping), got {segment_pad_s}")
    if batch_size < 1 or block_size < 1:
        raise ValueError(f"batch_size and block_size must be >= 1, got {batch_size} and {block_size}")


def _run_blocks(spec, table: pd.DataFrame, load, folder: Path, digest: str, *, root: Path, pooling: str,
                context_s: float, segment_pad_s: float | None, batch_size: int, block_size: int,
                resample: bool) -> list[xr.Dataset]:
    """States of every sentence block: read from ``folder`` when checkpointed, else computed and written.

    ``load()`` gives the adapter; it is called only when a block must be computed.
    """
    sentence_ids = list(pd.unique(table["sentence_id"]))
    by_sentence = {sid: rows for sid, rows in table.groupby("sentence_id", sort=False)}
    previous = dict(zip(sentence_ids[1:], sentence_ids[:-1]))
    adapter, files, pieces = None, None, []
    for number, block in enumerate(tqdm(_blocks(sentence_ids, block_size), desc=f"extract {spec.key}",
                                        unit="block")):
        path = folder / f"block_{number:05d}.nc"
        done = read_netcdf(path, config_hash=digest)
        if done is None:
            adapter = adapter or load()
            if files is None and get_family(spec.family).inputs == "audio":
                files = _AudioFiles(sampling_rate_hz=adapter.sampling_rate_hz, resample=resample)
            done = xr.concat([_run_batch(adapter, batch, by_sentence, previous, root, pooling=pooling,
                                         context_s=context_s, segment_pad_s=segment_pad_s, files=files)
                              for batch in _blocks(block, batch_size)], dim="word")
            write_netcdf(done, path, config_hash=digest)
        pieces.append(done)
    return pieces


def _table_hash(table: pd.DataFrame) -> list:
    return pd.util.hash_pandas_object(table[list(_REQUIRED)], index=False).tolist()


def _parts_folder(parts: Path, digest: str) -> Path:
    """The block checkpoint folder ``parts/<digest>``, created; parts of another configuration are removed."""
    if parts.exists() and not (parts / digest).exists():
        shutil.rmtree(parts)
    (parts / digest).mkdir(parents=True, exist_ok=True)
    return parts


def _merged(pieces: list[xr.Dataset], table: pd.DataFrame, *, attrs: dict) -> xr.Dataset:
    """The blocks concatenated along ``word``, word coordinates rebuilt from the (validated) table.

    String coordinates read back from netCDF are fixed-width and concatenating them can truncate.
    """
    result = xr.concat([p.drop_vars(list(_word_coords(table))) for p in pieces], dim="word")
    result = result.assign_coords(_word_coords(table))
    result.attrs = attrs
    return result


def extract_states(model_key: str, stimuli: pd.DataFrame, *, stimuli_root: str | Path, cache_dir: str | Path,
                   model_path: str | Path | None = None, dataset: str = "stimuli", pooling: str = "mean",
                   context_s: float = 0.0, segment_pad_s: float | None = 0.2, dtype: str = "float32",
                   device: str = "cpu", batch_size: int = 4,
                   block_size: int = 16, resample: bool = True, trust_remote_code: bool = False,
                   adapter: Adapter | None = None) -> xr.Dataset:
    """Word-level encoder and decoder states of ``model_key`` for every word of ``stimuli``.

    Parameters
    ----------
    model_key : str
        Registry key (``hearlike models`` lists them).
    stimuli : DataFrame
        Stimulus table (one row per word; see ARCHITECTURE.md).
    stimuli_root : str or Path
        Folder the table's ``audio_path`` values are relative to.
    cache_dir : str or Path
        Folder of the cache file ``{model_key}__{dataset}.nc``.
    model_path : str or Path, optional
        Local weights folder; default: the registry's Hugging Face id.
    dataset : str
        Name of the stimulus set, used in the cache file name.
    pooling : {"mean", "last", "center"}
        How frames become words (see :func:`hearlike.models.pooling.word_frame_weights`).
    context_s : float
        Seconds of preceding audio fed before each sentence. When the sentence's window (see
        ``segment_pad_s``) starts after the start of its audio file, this is the audio just before
        the window in the same file (less when the file starts sooner). Otherwise (per-sentence
        files) it is the tail of the previous table sentence's audio window (so at most that
        sentence's length). Word times are shifted by the context's length. The text baseline
        prepends the whole previous transcript when ``context_s > 0``.
    segment_pad_s : float or None
        Seconds kept around each sentence's words when cropping its audio file (see
        :func:`sentence_window`; word times shift to the crop). None feeds whole files.
    dtype, device : str
        Model precision and torch device.
    batch_size : int
        Sentences per forward pass.
    block_size : int
        Sentences per checkpoint block.
    resample : bool
        Resample audio whose rate differs from the model's (else an error).
    trust_remote_code : bool
        The only opt-in for registry entries that run code from their repository (must be the bool
        ``True``; CLI: ``--trust-remote-code``). States already in the cache are returned without it
        (reading them runs no model code), so ``align`` and the notebooks reuse an opted-in extraction.
    adapter : Adapter, optional
        An already loaded adapter of ``model_key`` (skips loading).

    Returns
    -------
    Dataset
        ``encoder`` (encoder_layer, word, encoder_feature) and/or ``decoder`` (decoder_layer, word,
        decoder_feature), float32, in table order.
    """
    spec = get_spec(model_key)
    if not isinstance(trust_remote_code, bool):
        raise TypeError(f"trust_remote_code must be True or False, got {trust_remote_code!r}")
    _check_options(pooling=pooling, context_s=context_s, segment_pad_s=segment_pad_s, batch_size=batch_size,
                   block_size=block_size)
    table = _check_table(stimuli)
    source = str(Path(model_path).resolve()) if model_path is not None else spec.hf_id
    loaded = _folder_identity(model_path) if model_path is not None else {"hub": spec.hf_id}
    digest = config_hash({
        "model": spec.key, "weights": loaded, "template": spec.prompt_template, "pooling": pooling,
        "context_s": float(context_s), "segment_pad_s": None if segment_pad_s is None else float(segment_pad_s),
        "dtype": dtype, "resample": resample, "version": __version__, "stimuli": _table_hash(table)})
    cache_dir = Path(cache_dir)
    final = cache_dir / f"{spec.key}__{dataset}.nc"
    cached = read_netcdf(final, config_hash=digest)
    if cached is not None:
        logger.info("%s: using cache %s", spec.key, final)
        return cached  # reading cached states runs no model code: no opt-in needed
    if adapter is None:
        check_remote_code(spec, trust_remote_code, model_path)
    parts = _parts_folder(cache_dir / f".{spec.key}__{dataset}.parts", digest)

    def load() -> Adapter:
        return adapter or load_adapter(spec, model_path=model_path, dtype=dtype, device=device,
                                       trust_remote_code=trust_remote_code)

    pieces = _run_blocks(spec, table, load, parts / digest, digest, root=Path(stimuli_root), pooling=pooling,
                         context_s=context_s, segment_pad_s=segment_pad_s, batch_size=batch_size,
                         block_size=block_size, resample=resample)
    result = _merged(pieces, table, attrs={
        "model_id": spec.key, "hf_id": spec.hf_id, "source": source, "config_hash": digest,
        "loaded_model": loaded.get("name", spec.hf_id), "weights_config_sha256": loaded.get("config_sha256", ""),
        "weights_kind": loaded.get("kind", "hub"),
        "hearlike_version": __version__, "pooling": pooling, "context_s": float(context_s),
        "segment_pad_s": "none" if segment_pad_s is None else float(segment_pad_s), "dtype": dtype, "dataset": dataset})
    result.attrs |= {f"n_{c}_layers": int(result.sizes.get(f"{c}_layer", 0)) for c in ("encoder", "decoder")}
    write_netcdf(result, final, config_hash=digest)
    shutil.rmtree(parts, ignore_errors=True)
    return read_netcdf(final, config_hash=digest)


def _folder_identity(model_path) -> dict:
    """What a local weights folder holds: its config.json hash (the cache key) and how it was made.

    Moving the folder keeps the cache; changing its config (another model) or its conversion
    record (other tensors) invalidates it.
    """
    import hashlib
    import json

    folder = Path(model_path)
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"model_path {folder} has no config.json; it must be a Hugging Face model folder")
    raw = config.read_bytes()
    try:
        values = json.loads(raw)
    except ValueError as err:
        raise ValueError(f"{config} is not valid JSON ({err})") from err
    identity = {"config_sha256": hashlib.sha256(raw).hexdigest(),
                "name": str(values.get("_name_or_path") or values.get("name_or_path") or folder.name),
                "kind": "local folder"}
    marker = folder / "conversion.json"
    if marker.is_file():
        record = json.loads(marker.read_text())
        identity |= {"kind": str(record.get("kind", "converted")), "tensor_sha256": str(record.get("tensor_sha256")),
                     "name": str(record.get("model_id", identity["name"]))}
    return identity


def _sentence_audio(rows: pd.DataFrame, sid: str, root: Path, files: _AudioFiles, pad_s: float | None):
    """The full audio of a sentence's file and the sample range ``[start, stop)`` of its window."""
    file = root / str(rows["audio_path"].iloc[0])
    audio = files(file)
    duration_s = len(audio) / files.rate
    if rows["offset_s"].max() > duration_s + 0.05:
        raise ValueError(f"sentence {sid!r}: words end at {rows['offset_s'].max():.2f} s but {file} lasts "
                         f"{duration_s:.2f} s; the table's times do not match the audio")
    start_s, stop_s = sentence_window(rows["onset_s"].to_numpy(float), rows["offset_s"].to_numpy(float),
                                      duration_s=duration_s, pad_s=pad_s)
    start, stop = int(round(start_s * files.rate)), min(len(audio), int(round(stop_s * files.rate)))
    return file, audio, start, stop


def _run_batch(adapter: Adapter, batch: list[str], by_sentence: dict, previous: dict, root: Path, *,
               pooling: str, context_s: float, segment_pad_s: float | None, files: _AudioFiles | None) -> xr.Dataset:
    spec = adapter.spec
    spans = []
    if adapter.record.inputs == "text":
        texts = []
        for sid in batch:
            rows = by_sentence[sid]
            text = str(rows["sentence_text"].iloc[0])
            span = word_char_spans(text, rows["word"].tolist(), sentence_id=sid)
            if context_s > 0 and sid in previous:
                prefix = str(by_sentence[previous[sid]]["sentence_text"].iloc[0]) + " "
                text, span = prefix + text, span + len(prefix)
            texts.append(text)
            spans.append(span)
        states = adapter.run_text(texts)
    else:
        rate = adapter.sampling_rate_hz
        n_context = int(round(context_s * rate))
        audios, transcripts = [], []
        for sid in batch:
            rows = by_sentence[sid]
            file, full, start, stop = _sentence_audio(rows, sid, root, files, segment_pad_s)
            audio, shift = full[start:stop], -start / rate
            if n_context > 0 and start > 0:  # a segment of a longer file: the audio before it
                tail = full[max(0, start - n_context):start]
            elif n_context > 0 and sid in previous:  # a file of its own: the previous sentence's end
                _, prev_full, prev_start, prev_stop = _sentence_audio(by_sentence[previous[sid]], previous[sid],
                                                                      root, files, segment_pad_s)
                tail = prev_full[max(prev_start, prev_stop - n_context):prev_stop]
            else:
                tail = full[:0]
            audio, shift = np.concatenate([tail, audio]), shift + len(tail) / rate
            if len(audio) / rate > spec.max_audio_s:
                raise ValueError(f"sentence {sid!r} ({file}) gives {len(audio) / rate:.1f} s of audio with context; "
                                 f"{spec.key} accepts at most {spec.max_audio_s:.0f} s per input: split the "
                                 f"sentence, lower context_s or set segment_pad_s to crop long files")
            audios.append(audio)
            spans.append(rows[["onset_s", "offset_s"]].to_numpy(dtype=np.float64) + shift)
            if adapter.record.decoder_input == "transcript":
                text = str(rows["sentence_text"].iloc[0])
                transcripts.append((text, word_char_spans(text, rows["word"].tolist(), sentence_id=sid), spans[-1]))
        states = adapter.run_audio(audios, transcripts=transcripts) if transcripts else adapter.run_audio(audios)
    return xr.concat([_sentence_dataset(s, by_sentence[sid], span[:, 0], span[:, 1], pooling=pooling)
                      for s, sid, span in zip(states, batch, spans)], dim="word")


def stack_layers(ds: xr.Dataset) -> xr.DataArray:
    """Stack encoder and decoder layers along one analysis ``layer`` dimension.

    Encoder and decoder widths usually differ, so the ``feature`` axis has the larger width and a
    narrower component's layers are padded with NaN; the ``n_features`` coordinate gives each
    layer's true width. Use :func:`layer_matrices` to get each layer's unpadded (word, feature)
    matrix (what the metric grid needs); never feed padded rows to a metric.

    Parameters
    ----------
    ds : Dataset
        Model states (``encoder`` and/or ``decoder``).

    Returns
    -------
    DataArray, shape (n_layers, n_words, n_features), float32
        Dims ``layer, word, feature``; ``layer`` labels ``"encoder.3"``; coords ``component``,
        ``depth_index`` (0 … n_layers-1, encoder first), ``relative_depth`` (0 = first encoder
        layer, 1 = last decoder layer), ``n_features``.
    """
    arrays = []
    for component in ("encoder", "decoder"):
        if component not in ds:
            continue
        data = ds[component].rename({f"{component}_layer": "layer", f"{component}_feature": "feature"})
        n_layers, n_features = data.sizes["layer"], data.sizes["feature"]
        data = data.drop_vars([c for c in ("layer", "feature") if c in data.coords])
        data = data.assign_coords(layer=[f"{component}.{i}" for i in range(n_layers)],
                                  component=("layer", [component] * n_layers),
                                  n_features=("layer", [n_features] * n_layers))
        arrays.append(data)
    if not arrays:
        raise ValueError("dataset has neither an 'encoder' nor a 'decoder' variable; is it a model-states cache?")
    width = max(a.sizes["feature"] for a in arrays)
    arrays = [a.pad(feature=(0, width - a.sizes["feature"]), constant_values=np.nan) for a in arrays]
    stacked = xr.concat(arrays, dim="layer").astype(np.float32)
    n = stacked.sizes["layer"]
    stacked = stacked.assign_coords(depth_index=("layer", np.arange(n)),
                                    relative_depth=("layer", np.arange(n) / max(n - 1, 1)))
    stacked.name = "states"
    stacked.attrs = dict(ds.attrs)
    return stacked.transpose("layer", "word", "feature")


def layer_matrices(stacked: xr.DataArray):
    """Yield ``(label, DataArray (word, feature))`` per layer of :func:`stack_layers`, padding removed."""
    for label in stacked["layer"].values:
        layer = stacked.sel(layer=label)
        yield str(label), layer.isel(feature=slice(0, int(layer["n_features"])))
