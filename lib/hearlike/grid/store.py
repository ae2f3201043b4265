"""The grid at full size: tasks of (model group × subject block), streamed chunk by chunk to disk.

:func:`compute_grid_store` runs :func:`hearlike.grid.compute_grid` on a group of models (those
whose states fit ``states_budget_bytes`` together, once each reduced to per-sentence Gram
pseudo-features: :mod:`hearlike.grid.compact`) against a block of subjects at a time, and
writes each task's results, as it finishes, as one compressed netCDF chunk of a store directory
(``<store>/chunks/m<first model>-s<first subject>.nc``; ``<store>/meta.nc`` holds the
coordinates, attributes and the task plan), so

* the EEG side -- the cells' word geometry and, under the ``shift`` null, the surrogate epochs
  and their Gram matrices, the grid's most expensive preparation -- is prepared once per subject
  block for every model of a group, not once per model;
* peak memory is one group's states (the budget) plus one block's epochs (its own budget: as few
  as one subject at Broderick 2018's size) and surrogate recordings, plus the task's results,
  whatever the number of models and subjects -- the epochs and recordings of the other subjects
  stay in their cache files when they are passed lazily (``pipeline.metric_grid`` does);
* an interrupted run resumes: each chunk file is written to a temporary name and renamed, so a
  chunk is either whole on disk or absent, and a task with a chunk absent is run again;
* the tasks are independent: serially in this process, or on any Dask cluster (``scheduler``:
  ``"local"`` starts a :class:`distributed.LocalCluster`; an address such as
  ``"tcp://10.0.0.1:8786"`` joins a running scheduler, e.g. one of ``dask-jobqueue``). Each task
  writes its own files (the store must be on a file system every worker sees).

:func:`open_grid_store` opens the store as the Dataset :func:`compute_grid` returns. Once every
chunk is done, they are gathered into one file (``<store>/cells.nc``; opening it takes a fraction of a
second where opening 56 chunk files took 20 s): per-sentence variables too large to hold in memory
stay in their chunks and are opened lazily (dask).
Numbers equal those of one :func:`compute_grid` call over all models and subjects (every task
uses the same permutations: they are seeded by sentence id) up to float32 storage: every stored
variable is float32 (``excess`` is computed on opening). Of the per-sentence variables only
``sentence_excess`` -- the one the findings read -- is stored, and only when asked
(``keep_sentences``), bit-rounded to :data:`SENTENCE_BITS` significant bits. Per-subject null samples are kept
(float32, ``*.null.nc``) only until every chunk is done; then their subject mean
(``group_null``) is written and they are deleted.

Why not Zarr: xarray's Zarr backend now needs Zarr 3, which needs NumPy 2; netCDF chunk files give
the same properties (compressed, chunked by model × subject, atomic per chunk, lazily opened) with
the dependencies the package already has.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from .. import __version__
from ..cache import atomic_path
from .cells import align_words, layer_union, length_buckets
from .compact import compact_if_smaller, held_bytes, sentences_of, word_probe
from .results import _coords

logger = logging.getLogger(__name__)

__all__ = ["compute_grid_store", "open_grid_store", "finished_store", "grid_client"]

_SUMMARY = ("score", "null_mean", "null_sd", "p_value")  # float32; excess is computed on opening
_SENTENCE = ("sentence_excess",)  # what the findings read of the per-sentence variables
_COUNTERS = ("n_cell_sentences_rejected", "n_scores_undefined")
_COMPRESS = {"zlib": True, "complevel": 4, "shuffle": True}
#: the store's file layout (2: one chunk per task, gathered into ``cells.nc`` once done); part of
#: ``pipeline.metric_grid``'s cache key, so a store of another layout is never resumed
STORE_LAYOUT = 2


#: significant bits kept of the per-sentence variables' float32 mantissas (of 23): each value is rounded
#: to the nearest with ``SENTENCE_BITS`` bits, relative error at most 2**-(SENTENCE_BITS + 1) ~ 7.6e-6
#: (the scores' own sampling error is ~1e-1), and the cleared low bits compress to nothing: the demo's
#: ``sentence_excess`` takes 15 MB instead of 18 (bit rounding as in netCDF-C's ``quantize`` and
#: Kloewer et al. 2021, Nat. Comput. Sci.; the attribute below is netCDF-C's).
SENTENCE_BITS = 16
_BITROUND_ATTR = "_QuantizeBitRoundNumberOfSignificantBits"


def bitround(values: np.ndarray, bits: int) -> np.ndarray:
    """``values`` as float32 rounded to ``bits`` significant mantissa bits (1-23), half away from zero.

    Returns a new float32 array of the same shape; NaN and infinities are kept.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    drop = 23 - int(bits)
    if not 0 <= drop < 23:
        raise ValueError(f"bits must be 1..23, got {bits}")
    if drop == 0:
        return values.copy()
    raw = values.view(np.uint32)
    half, mask = np.uint32(1 << (drop - 1)), np.uint32((0xFFFFFFFF >> drop) << drop)
    rounded = ((raw + half) & mask).view(np.float32)  # carry into the exponent is the right rounding
    return np.where(np.isfinite(values), rounded, values)


def _probe(da: xr.DataArray) -> xr.DataArray:
    """A featureless copy of ``da`` keeping its coords (word table and layer coords), a few bytes."""
    return da.isel(feature=slice(0, 0)).copy(deep=True)


def _write(ds: xr.Dataset, path: Path) -> None:
    """``ds`` to ``path`` compressed, atomically (temporary name, then rename)."""
    encoding = {name: dict(_COMPRESS) for name in ds.data_vars}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)


def _meta(probes, epochs, *, windows, regions, metrics, min_words, n_permutations, keep_sentences) -> xr.Dataset:
    """The store's coordinates and attributes (no data): what every chunk shares."""
    used, excluded, n_unmatched = align_words(probes, epochs, min_words)
    models, layers = list(probes), layer_union(probes)
    meta = dict(models=models, layers=layers, model_states=probes, subjects=np.asarray(epochs["subject"].values),
                windows=windows, regions=regions, metrics=list(metrics))
    coords = _coords(meta)
    if keep_sentences:
        coords["sentence"] = [s["sentence_id"] for s in used]
        coords["n_words"] = ("sentence", [s["n"] for s in used])
    attrs = {
        "hearlike_version": __version__,
        "n_sentences_used": len(used),
        "n_sentences_excluded": len(excluded),
        "excluded_sentences": ",".join(excluded),
        "n_words_unmatched": int(n_unmatched),
        "n_permutations": int(n_permutations),
        "min_words": int(min_words),
        "sentence_lengths": json.dumps({str(n): len(idx) for n, idx in length_buckets(used).items()}),
        "keep_sentences": int(keep_sentences),
    }
    return xr.Dataset(coords=coords, attrs=attrs)


def _chunk_path(store: Path, m: int, s: int, *, null: bool = False) -> Path:
    """The chunk file of the task whose first model is ``m`` and first subject ``s`` (groups and blocks
    are consecutive, so these name the task)."""
    return store / "chunks" / f"m{m:03d}-s{s:04d}{'.null' if null else ''}.nc"


def run_chunk(store: str, models: Sequence[int], subjects: Sequence[int], states: Mapping[str, xr.DataArray],
              epochs: xr.DataArray, surrogates, grid_kwargs: Mapping[str, Any], layers: Sequence[str],
              keep_sentences: bool, count_rejected: bool = True) -> tuple:
    """Compute a group of models against a block of subjects; write them as one chunk (model × subject).

    ``states`` maps the names of the models ``models`` (their positions in the store) to their
    states, in that order; ``epochs`` (and ``surrogates``, or None) hold the subjects ``subjects``,
    in that order. One :func:`~hearlike.grid.compute_grid` call: the EEG geometry and the
    surrogate epochs of the block are prepared once for every model of the group, each model's
    representations once for every subject of the block. The chunk is (re)written whole, its null
    samples first (``.null.nc``); the task's counters go on its first model and subject
    (``n_cell_sentences_rejected`` only when ``count_rejected``: on one group's tasks, since it does
    not depend on the model). Returns
    ``(models, subjects)``.
    """
    from . import compute_grid

    store = Path(store)
    ds = compute_grid(dict(states), epochs, keep_null=True, keep_sentences=keep_sentences,
                      surrogates=surrogates, **grid_kwargs)
    ds = ds.reindex(layer=list(layers))
    ds = ds.drop_vars([c for c in ds.coords if c not in ds.dims or c in ("sentence",)])
    counts = {"n_cell_sentences_rejected": int(ds.attrs["n_cell_sentences_rejected"]) if count_rejected else 0,
              "n_scores_undefined": int(ds.attrs["n_scores_undefined"])}
    first = (store, models[0], subjects[0])
    _write(xr.Dataset({"null": ds["null"].astype(np.float32)}), _chunk_path(*first, null=True))
    out = ds[list(_SUMMARY)].astype(np.float32)
    if keep_sentences:
        out = out.assign({name: ds[name].copy(data=bitround(ds[name].values, SENTENCE_BITS)) for name in _SENTENCE})
        for name in _SENTENCE:
            out[name].attrs[_BITROUND_ATTR] = SENTENCE_BITS
    for name in _COUNTERS:  # counted per task: on its first (model, subject) (their sum is what is read)
        out[name] = xr.DataArray(np.pad([[counts[name]]], [(0, len(models) - 1), (0, len(subjects) - 1)]),
                                 dims=("model", "subject"))
    _write(out, _chunk_path(*first))  # last: this file marks the task done
    return list(models), list(subjects)


def _finished(path: Path) -> bool:
    """Whether the store at ``path`` is finished: ``cells.nc`` gathered and ``group_null.nc`` written (last)."""
    return (path / "group_null.nc").exists() and (path / "cells.nc").exists()


def _plan(meta: xr.Dataset) -> tuple[list[list[int]], list[list[int]]]:
    """The store's tasks as planned on its first call (``meta.nc``): model groups, subject blocks."""
    size = int(meta.attrs["subjects_per_task"])
    return json.loads(meta.attrs["model_groups"]), _blocks(list(range(meta.sizes["subject"])), size)


def _task_files(path: Path, groups: Sequence[Sequence[int]], blocks: Sequence[Sequence[int]], *,
                null: bool = False) -> list[list[Path]]:
    """The chunk file of every task, nested group by block (the layout ``combine_nested`` reads)."""
    return [[_chunk_path(path, group[0], block[0], null=null) for block in blocks] for group in groups]


def _blocks(subjects: Sequence[int], size: int) -> list[list[int]]:
    return [list(subjects[i : i + size]) for i in range(0, len(subjects), size)]


def grid_client(scheduler: str | None):
    """A :class:`distributed.Client` for ``scheduler`` (``"local"``: a LocalCluster), or None (serial)."""
    if not scheduler:
        return None
    from distributed import Client, LocalCluster

    if scheduler == "local":
        return Client(LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None))
    return Client(scheduler)


#: the default memory budget of one task's model states (bytes, as reduced): models are grouped up
#: to it. 2 GiB holds all 12 models of the study for either dataset (Broderick 2018: ~144 MB each),
#: so the EEG side (the expensive part under the shift null) is prepared once per subject block
STATES_BUDGET_BYTES = 2**31
#: the default memory budget of one task's epochs (bytes, float32 as read): fewer subjects per task
#: when one subject's epochs are large (Broderick 2018: ~1 GB each, so one per task)
EPOCHS_BUDGET_BYTES = 2**30


def subject_block_size(epochs: xr.DataArray, subjects_per_task: int, budget: int) -> int:
    """Subjects per task: at most ``subjects_per_task``, and as many as fit ``budget`` bytes of
    epochs (float32, one subject's ``word × channel × time``), but at least one."""
    per_subject = int(np.prod([epochs.sizes[d] for d in epochs.dims if d != "subject"], dtype=np.int64)) * 4
    return max(1, min(int(subjects_per_task), int(budget) // max(1, per_subject)))


def model_groups(nbytes: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive models grouped while their states' bytes ``nbytes`` sum to at most ``budget``
    (a model larger than the budget alone)."""
    groups: list[list[int]] = []
    total = 0
    for m, size in enumerate(nbytes):
        if groups and total + int(size) <= budget:
            groups[-1].append(m)
            total += int(size)
        else:
            groups.append([m])
            total = int(size)
    return groups


def compute_grid_store(
    path: str | Path,
    load_states: Callable[[str], xr.DataArray],
    models: Sequence[str],
    epochs: xr.DataArray,
    *,
    windows: Sequence[tuple[str, float, float]],
    regions: Mapping[str, Sequence[str]],
    metrics: Sequence[str],
    n_permutations: int,
    keep_sentences: bool = False,
    surrogates=None,
    attrs: Mapping[str, Any] | None = None,
    client=None,
    subjects_per_task: int = 4,
    states_budget_bytes: int = STATES_BUDGET_BYTES,
    epochs_budget_bytes: int = EPOCHS_BUDGET_BYTES,
    compact: bool = True,
    **grid_kwargs,
) -> xr.Dataset:
    """The metric grid of ``models`` × the subjects of ``epochs``, chunk by chunk into a store directory.

    A task is one group of models × one block of subjects: the models are grouped, in order,
    while their states fit ``states_budget_bytes`` together, the subjects in blocks of
    ``subjects_per_task``; the EEG geometry and surrogate epochs of a block are prepared once for
    the whole group. Groups and blocks are decided on the first call and kept in ``meta.nc``
    (``model_groups``, ``model_bytes``, ``subjects_per_task``), so a resumed run plans the same
    tasks whatever its arguments.

    Peak memory: one group's states (at most ``states_budget_bytes``, or one model's when it is
    larger) + one block's epochs (at most ``epochs_budget_bytes``, or one subject's) and surrogate
    recordings + the task's results (per-sentence
    scores of group × layers × block subjects × cells × metrics × sentences, float64, when kept)
    + the prepared representations of one length bucket.

    Parameters
    ----------
    path : str or Path
        The store directory; an unfinished store at ``path`` is resumed, so its parameters must be
        those of this call (key the path by a config hash).
    load_states : callable
        ``load_states(model) -> DataArray (layer, word, feature)``; called once per model to read
        its coords and size, then once per model (per group and, on a cluster, per task) for its
        chunks, so only one group's states need be in memory.
    models : sequence of str
    epochs : DataArray, shape (n_subjects, n_words, n_channels, n_times)
        Sliced to one block of subjects per task and read then: pass it lazily opened (dask, e.g.
        :func:`hearlike.eeg.load_epochs` with ``lazy=True``) and only one block is ever in memory.
    windows, regions, metrics, n_permutations, surrogates, **grid_kwargs
        As :func:`hearlike.grid.compute_grid` (``seed``, ``null_kind``, ``device``, ``min_words``,
        ``dtype``, ``chunk``, ``factor_regions``).
    keep_sentences : bool
        Also store the per-sentence ``sentence_excess`` (float32; ``sentence_score`` and
        ``sentence_null_mean`` are not stored).
    attrs : mapping, optional
        Written into the store's attributes (e.g. ``config_hash``).
    client : distributed.Client, optional
        Run the tasks on its cluster (see :func:`grid_client`); None: serially here.
    subjects_per_task : int
        Subjects computed together (each model's representations prepared once for them); memory
        grows with it (their epochs, their per-sentence scores); a task is written, and resumed,
        whole.
    states_budget_bytes : int
        Memory budget of one task's model states (float32 bytes, as loaded).
    epochs_budget_bytes : int
        Memory budget of one task's epochs (float32 bytes): caps ``subjects_per_task``
        (:func:`subject_block_size`).
    compact : bool
        Reduce each model's states, once, to per-sentence Gram pseudo-features
        (:mod:`hearlike.grid.compact`; where that is smaller): the same scores to float64
        rounding, ~100× less memory at real size, so the models share tasks and the EEG side is
        prepared fewer times. The budget then applies to the reduced states.

    Returns
    -------
    Dataset
        :func:`open_grid_store` of the finished store (lazy).
    """
    path = Path(path)
    epochs = epochs.transpose("subject", "word", "channel", "time")
    kwargs = dict(windows=windows, regions=regions, metrics=list(metrics), n_permutations=int(n_permutations),
                  **grid_kwargs)
    _drop_unreadable(path)
    if (path / "group_null.nc").exists() and not (path / "cells.nc").exists():
        logger.warning("grid store %s has an earlier layout (no cells.nc); recomputing it", path)
        shutil.rmtree(path)
    if _finished(path):
        return open_grid_store(path)
    probe, min_words = word_probe(epochs), grid_kwargs.get("min_words", 4)
    if not (path / "meta.nc").exists():
        probes, nbytes = {}, []
        for name in models:
            states = load_states(name)
            nbytes.append(held_bytes(states, sentences_of(states, probe, min_words, name=name)) if compact
                          else int(states.nbytes))
            probes[name] = _probe(states)
            del states
        meta = _meta(probes, epochs, windows=windows, regions=regions, metrics=kwargs["metrics"],
                     min_words=min_words, n_permutations=kwargs["n_permutations"],
                     keep_sentences=keep_sentences)
        null_kind = grid_kwargs.get("null_kind", "shift")
        n_cells = len(windows) * len(regions)  # per chunk: one subject
        meta.attrs.update({
            "null": null_kind, "seed": int(grid_kwargs.get("seed", 0)),
            "permuted_side": json.dumps({name: "eeg" if null_kind == "shift" or n_cells <= probes[name].sizes["layer"]
                                         else "model" for name in models}),
            **({"factor_regions": ",".join(grid_kwargs["factor_regions"])}
               if grid_kwargs.get("factor_regions") is not None else {}),
            "model_bytes": json.dumps(dict(zip(models, nbytes))),
            "states_budget_bytes": int(states_budget_bytes),
            "model_groups": json.dumps(model_groups(nbytes, int(states_budget_bytes))),
            "subjects_per_task": subject_block_size(epochs, subjects_per_task, epochs_budget_bytes),
            "compact_states": int(compact),
            **dict(attrs or {}),
        })
        (path / "chunks").mkdir(parents=True, exist_ok=True)
        _write(meta, path / "meta.nc")
    with xr.open_dataset(path / "meta.nc", engine="h5netcdf") as meta:
        layers = [str(v) for v in meta["layer"].values]
        groups, blocks = _plan(meta)  # the plan of the first call
        compact = bool(meta.attrs["compact_states"])  # as planned
    tasks = [(group, block) for group in groups for block in blocks if not _chunk_path(path, group[0], block[0]).exists()]
    n_tasks = len(groups) * len(blocks)
    if len(tasks) < n_tasks:
        logger.info("resuming grid store %s: %d of %d tasks to do", path, len(tasks), n_tasks)
    if compact:
        load_states = functools.partial(load_for_grid, load_states, probe, min_words)
    _run_all(str(path), tasks, groups[0], models, load_states, epochs, surrogates, kwargs, layers, keep_sentences,
             client)
    _finish(path, groups, blocks)
    return open_grid_store(path)


def load_for_grid(load_states: Callable[[str], xr.DataArray], probe: xr.DataArray, min_words: int,
                  name: str) -> xr.DataArray:
    """``load_states(name)`` reduced to per-sentence Gram pseudo-features
    (:func:`~hearlike.grid.compact.compact_states`) when that is smaller; a Dask task of its own."""
    states = load_states(name)
    return compact_if_smaller(states, sentences_of(states, probe, min_words, name=name))


def _readable(path: Path) -> bool:
    try:
        xr.open_dataset(path, engine="h5netcdf").close()
    except Exception as err:  # a truncated or corrupt file is recomputed, never trusted
        logger.warning("grid store file %s is unreadable (%s); it will be recomputed", path, err)
        return False
    return True


def _drop_unreadable(path: Path) -> None:
    """Remove unreadable files of the store at ``path``: a chunk's (then it is recomputed) or, in a
    finished store whose per-subject nulls are gone, the whole store."""
    if not path.exists():
        return
    bad = [f for f in sorted(path.glob("**/*.nc")) if not _readable(f)]
    if not bad:
        return
    if (path / "group_null.nc").exists() or (path / "meta.nc") in bad:
        shutil.rmtree(path)
        return
    for f in bad:
        stem = f.name.split(".")[0]
        for part in (f.parent / f"{stem}.nc", f.parent / f"{stem}.null.nc"):
            part.unlink(missing_ok=True)


def _run_all(path, tasks, first_group, models, load_states, epochs, surrogates, kwargs, layers, keep_sentences,
             client):
    """Run ``tasks`` (``(model group, subject block)``): group by group here, loading each group's
    states once, or all as tasks on ``client``'s cluster (one states task per model and group)."""

    def task_inputs(block):
        return epochs.isel(subject=block).load(), None if surrogates is None else surrogates.for_subjects(block)

    by_group: dict[tuple, list[list[int]]] = {}
    for group, block in tasks:
        by_group.setdefault(tuple(group), []).append(block)
    for group, blocks in by_group.items():
        names = [models[m] for m in group]
        if client is None:
            states = {name: load_states(name) for name in names}
        else:  # one task per model; the group's tasks wait on them
            states = {name: client.submit(load_states, name, pure=False) for name in names}
        futures = []
        for block in blocks:
            args = (path, list(group), block, states, *task_inputs(block), kwargs, layers, keep_sentences,
                    list(group) == list(first_group))
            if client is None:
                run_chunk(*args)
                logger.info("grid chunks %s × %s written", names, [str(epochs["subject"].values[s]) for s in block])
            else:
                futures.append(client.submit(run_chunk, *args, pure=False))
            del args  # this block's epochs go before the next block's are read
        if client is not None:
            client.gather(futures)  # one group's states in the cluster's memory at a time
        del states


def _finish(path: Path, groups: Sequence[Sequence[int]], blocks: Sequence[Sequence[int]]) -> None:
    """Once every task is done: their chunks gathered into ``cells.nc`` (the per-sentence variables too
    when they hold less than :data:`SENTENCE_LOAD_LIMIT` bytes) and the subject-mean null
    (``group_null``) written, then the null chunks and the gathered chunks removed.

    ``group_null.nc`` is written last: it marks the store finished. A run killed before leaves every
    chunk in place and the next call finishes again; one killed after leaves files that are unused.
    """
    n_subjects = sum(len(block) for block in blocks)
    nulls, null_files = [], _task_files(path, groups, blocks, null=True)
    for row in null_files:  # one group's nulls at a time
        total = None
        for file in row:
            with xr.open_dataset(file, engine="h5netcdf") as ds:
                part = ds["null"].astype(np.float64).sum("subject", skipna=False).load()
            total = part if total is None else total + part
        nulls.append((total / n_subjects).astype(np.float32))
    group_null = xr.concat(nulls, dim="model")
    with xr.open_dataset(path / "meta.nc", engine="h5netcdf") as meta:
        kept = "sentence" in meta.sizes
        gather_sentences = kept and _sentence_bytes(meta) < SENTENCE_LOAD_LIMIT
    files = _task_files(path, groups, blocks)
    names = [*_SUMMARY, *_COUNTERS, *(_SENTENCE if gather_sentences else ())]
    cells = xr.combine_nested([[xr.load_dataset(f, engine="h5netcdf")[names] for f in row] for row in files],
                              concat_dim=["model", "subject"], data_vars="all", coords="minimal", compat="override",
                              join="override", combine_attrs="override")  # keeps the bit-rounding attribute
    _write(cells.drop_vars(list(cells.coords)), path / "cells.nc")
    _write(xr.Dataset({"group_null": group_null.drop_vars([c for c in group_null.coords if c not in group_null.dims])}),
           path / "group_null.nc")
    for file in (f for row in null_files for f in row):
        os.remove(file)
    if gather_sentences or not kept:  # everything the chunks held is in cells.nc
        for file in (f for row in files for f in row):
            os.remove(file)


def _sentence_bytes(meta: xr.Dataset) -> int:
    """Bytes of the store's per-sentence variables (float32) from its ``meta.nc``."""
    dims = ("model", "layer", "subject", "window", "region", "metric", "sentence")
    return 4 * len(_SENTENCE) * int(np.prod([meta.sizes[d] for d in dims], dtype=np.int64))


def finished_store(path: str | Path) -> xr.Dataset | None:
    """:func:`open_grid_store` of ``path`` if it holds a finished, readable store, else None."""
    path = Path(path)
    _drop_unreadable(path)
    return open_grid_store(path) if _finished(path) else None


#: per-sentence variables up to this size (bytes) are read into memory on opening; larger stay lazy
SENTENCE_LOAD_LIMIT = 2**30


def open_grid_store(path: str | Path) -> xr.Dataset:
    """A finished grid store: the Dataset of :func:`hearlike.grid.compute_grid` plus ``group_null``.

    Everything is read into memory from ``cells.nc`` and ``group_null.nc``, except per-sentence
    variables of :data:`SENTENCE_LOAD_LIMIT` bytes or more: they stay in the chunk files, opened
    lazily (dask; select, then ``.load()``).

    Raises
    ------
    FileNotFoundError
        If ``path`` holds no finished grid store.
    """
    path = Path(path)
    if not _finished(path):
        raise FileNotFoundError(f"{path}: no finished grid store; run hearlike.grid.store.compute_grid_store "
                                "(it resumes an unfinished one)")
    meta = xr.open_dataset(path / "meta.nc", engine="h5netcdf").load()
    with xr.open_dataset(path / "cells.nc", engine="h5netcdf") as cells:
        ds = cells.load()
    if "sentence" in meta.sizes and _SENTENCE[0] not in ds:  # too large to gather: lazily from the chunks
        lazy = _open_chunks(path, meta, _SENTENCE)
        ds = ds.assign({name: (lazy[name].dims, lazy[name].data, lazy[name].attrs) for name in _SENTENCE})
    # the coordinates come from meta.nc alone (the chunks' own are dropped: nothing to align)
    ds = ds.drop_vars(list(ds.coords)).assign_coords({k: (v.dims, v.values) for k, v in meta.coords.items()})
    with xr.open_dataset(path / "group_null.nc", engine="h5netcdf") as group_file:
        group = group_file["group_null"].load()
    ds["group_null"] = (group.dims, group.values)
    if "permutation" in group.coords:
        ds = ds.assign_coords(permutation=group["permutation"].values)
    ds = ds.transpose("model", "layer", "subject", "window", "region", "metric", ...)
    ds.attrs = dict(meta.attrs)
    for name in _COUNTERS:
        ds.attrs[name] = int(ds[name].sum())
    ds = ds.drop_vars(list(_COUNTERS))
    ds["excess"] = ds["score"] - ds["null_mean"]
    return ds


def _open_chunks(path: Path, meta: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """The variables ``names`` of every task's chunk of the store at ``path`` as one lazy (dask) Dataset,
    dims model × subject × ..."""
    files = [[str(f) for f in row] for row in _task_files(path, *_plan(meta))]
    return xr.open_mfdataset(files, combine="nested", concat_dim=["model", "subject"], engine="h5netcdf",
                             data_vars="minimal", coords="minimal", compat="override", join="override",
                             preprocess=lambda chunk: chunk[list(names)])
