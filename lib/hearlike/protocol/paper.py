"""The metric grid under the reference study's protocol (``protocol: paper``).

Items are the 20 ms frames of a sentence (:mod:`hearlike.protocol.frames`): model states as PCA-20
z-scored frame vectors, EEG interpolated to the frame count and z-scored per channel. A window counts
from **sentence onset** and selects the frames ``int(start/20 ms) … int(stop/20 ms)``; inside it each
**electrode** is compared on its own. Its items are then scalars, so its RDM is the absolute difference
``|x_i − x_j|`` (the study's rule for one-dimensional items; 1 − Pearson r is undefined for one
feature); the model RDM is 1 − Pearson r of the PCA-20 frame vectors. Any ``gram`` metric of
:mod:`hearlike.metrics` is scored from these prepared representations, batched over sentences ×
layers × subjects × electrodes. The null shuffles the model's frames inside the window (the study's
frame shuffle; the same permutations for every cell), scores are sentence means, and no correction
for multiple comparisons is applied (the study reports uncorrected p).

The result has the layout of :func:`hearlike.grid.compute_grid` (``score``, ``null_mean``, ``null_sd``,
``excess``, ``p_value``; ``sentence_*``; ``group_null``), with one ``region`` per electrode plus
``electrodes``, their mean (the study's summary over the scalp), so the findings read it unchanged.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..cache import config_hash
from ..geometry import _average_ranks, _symmetric_from_upper
from ..metrics import METRICS, permute_rep
from ..metrics.prepare import _snap, _zscore_unit
from ..stats import exceedance_p
from .frames import FRAME_S, eeg_to_frames, frame_word_index, pca_frames, pca_word_frames, window_frames

logger = logging.getLogger(__name__)

__all__ = ["MEAN_REGION", "ERP_WINDOWS", "sliding_windows", "sentence_frames", "sentence_eeg", "electrode_rep",
           "window_scores", "paper_grid", "cached_paper_grid", "electrode_map"]

#: the region holding the mean over electrodes (the study's scalp summary)
MEAN_REGION = "electrodes"
#: the study's ERP windows, ms from sentence onset
ERP_WINDOWS = (("N100", 80.0, 150.0), ("P200", 150.0, 250.0), ("N400", 300.0, 500.0), ("P600", 500.0, 800.0))
_RSA = {"spearman_rsa": True, "pearson_rsa": False}  # RSA metrics: ranked?


def sliding_windows(stop_ms: float, *, size_ms: float = 250.0, step_ms: float = 50.0,
                    start_ms: float = 0.0) -> list[tuple[str, float, float]]:
    """The study's sliding windows ``[(name, start_ms, stop_ms)]``: ``size_ms`` long, every ``step_ms``, up to ``stop_ms``."""
    out, start = [], float(start_ms)
    while start + size_ms <= stop_ms + 1e-9:
        out.append((f"{start:g}-{start + size_ms:g}", start, start + size_ms))
        start += step_ms
    return out


def sentence_frames(stimuli: pd.DataFrame) -> dict[str, dict]:
    """Per sentence: ``words`` (labels ``sid:index`` in order), ``frame_word`` (word index per frame), ``n``."""
    out = {}
    for sid, rows in stimuli.sort_values(["sentence_id", "word_index"]).groupby("sentence_id", sort=True):
        index = frame_word_index(rows["onset_s"].to_numpy(), rows["offset_s"].to_numpy())
        out[str(sid)] = {"words": [f"{sid}:{i}" for i in rows["word_index"]], "frame_word": index, "n": len(index)}
    return out


def sentence_eeg(recordings: Mapping[str, xr.Dataset], sentences: Mapping[str, dict]) -> dict[str, np.ndarray]:
    """Per sentence, the EEG at its frames: ``(n_subjects, n_channels, n_frames)``, z-scored per channel.

    Each subject's continuous recording (``signal`` channel × sample, ``onset_sample`` per word,
    ``sfreq_hz``; :func:`hearlike.eeg.load_recordings`) is cut from the sentence's first word onset; a
    sentence that runs past a recording's end, or whose first word the recording lacks, is NaN for that
    subject.
    """
    subjects = list(recordings)
    channels = [str(c) for c in recordings[subjects[0]]["channel"].values]
    out = {}
    for sid, info in sentences.items():
        n = info["n"]
        block = np.full((len(subjects), len(channels), n), np.nan)
        for s, subject in enumerate(subjects):
            rec = recordings[subject]
            if [str(c) for c in rec["channel"].values] != channels:
                raise ValueError(f"subject {subject}: channels differ from subject {subjects[0]}'s; the paper "
                                 "protocol compares electrodes across subjects by name")
            sfreq = float(rec.attrs["sfreq_hz"])
            words = rec["onset_sample"]
            if info["words"][0] not in words["word"].values:
                continue
            start = int(words.sel(word=info["words"][0]))
            stop = start + int(np.ceil(n * FRAME_S * sfreq)) + 1
            if start < 0 or stop > rec.sizes["sample"]:
                continue
            block[s] = eeg_to_frames(rec["signal"].values[:, start:stop], n, sfreq_hz=sfreq)
        out[sid] = block
    return out


def electrode_rep(values: torch.Tensor, metric: str) -> torch.Tensor:
    """A metric's prepared representation of one electrode's frames.

    Parameters
    ----------
    values : Tensor, shape (..., n)
        One electrode's values at ``n`` frames.
    metric : str
        A ``gram`` metric. RSA metrics use the RDM ``|x_i − x_j|`` (ranked for Spearman), the others
        their own ``prepare`` of the one-feature items.

    Returns
    -------
    Tensor, shape (..., n, n)
    """
    n = values.shape[-1]
    if metric in _RSA:
        iu = torch.triu_indices(n, n, offset=1, device=values.device)
        rdm = (values[..., :, None] - values[..., None, :]).abs()[..., iu[0], iu[1]]
        rdm = _average_ranks(_snap(rdm)) if _RSA[metric] else rdm
        return _symmetric_from_upper(_zscore_unit(rdm), n)
    return METRICS[metric].prepare(values[..., None])


def _post(metric: str) -> Callable[[torch.Tensor], torch.Tensor]:
    post = METRICS[metric].post
    return post if post is not None else (lambda v: v)


def window_scores(model_frames: torch.Tensor, eeg_frames: torch.Tensor, metric: str, perms: torch.Tensor | None,
                  *, chunk: int = 4) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores of every sentence × layer × subject × electrode in one window, and their frame-shuffle null.

    Parameters
    ----------
    model_frames : Tensor, shape (n_sentences, n_layers, n, n_components)
        PCA-20 frame states inside the window.
    eeg_frames : Tensor, shape (n_sentences, n_subjects, n_channels, n)
        EEG at the window's frames (NaN: missing).
    metric : str
        A ``gram`` metric.
    perms : Tensor of int64, shape (n_permutations, n_sentences, n), or None
        Frame orders of the model side (the same for every layer, subject and electrode).
    chunk : int
        Sentences per batch of the null (memory: ``n_permutations × chunk × layers × subjects ×
        electrodes`` floats).

    Returns
    -------
    observed : Tensor, shape (n_sentences, n_layers, n_subjects, n_channels)
        NaN where a side has no defined representation (a window inside one word, a missing subject).
    null : Tensor, shape (n_permutations, n_sentences, n_layers, n_subjects, n_channels), or None
    """
    spec = METRICS[metric]
    if spec.kind != "gram":
        raise ValueError(f"metric {metric!r} is a {spec.kind!r} metric; the paper protocol scores gram metrics only")
    post = _post(metric)
    rep_m = spec.prepare(model_frames.double())  # (K, L, n, n)
    rep_e = electrode_rep(eeg_frames.double(), metric)  # (K, S, C, n, n)
    observed = post(torch.einsum("klij,kscij->klsc", rep_m, rep_e))
    if perms is None:
        return observed, None
    parts = []
    for lo in range(0, rep_m.shape[0], chunk):
        hi = min(lo + chunk, rep_m.shape[0])
        permuted = permute_rep(rep_m[lo:hi], perms[:, lo:hi, None, :], kind="gram")  # (P, k, L, n, n)
        parts.append(post(torch.einsum("pklij,kscij->pklsc", permuted, rep_e[lo:hi])))
    return observed, torch.cat(parts, dim=1)


def window_sums(model_frames: torch.Tensor, eeg_frames: torch.Tensor | None, metric: str, perms: torch.Tensor | None,
                dtype: torch.dtype = torch.float32, *, eeg_rep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Sentence sums of one window's scores and frame-shuffle null, for metrics whose score is linear in the rep.

    A ``gram`` metric without ``post`` (RSA, CKA, mutual kNN, HSIC) scores ``<rep_model, rep_eeg>``, so
    the sum over sentences of the null is one matrix product over (sentence, frame pair) and each
    sentence's null mean is the score against the permutation-mean model rep. Sentences where a side
    is undefined (NaN rep) contribute neither a score nor a count. Same arguments as
    :func:`window_scores` (which computes each sentence's null explicitly: the reference).

    Returns
    -------
    dict of Tensor
        ``sentence`` (K, L, S, C) per-sentence scores (NaN where undefined), ``count`` (L, S, C),
        ``total`` (L, S, C), ``null_total`` (P, L, S, C) and ``sentence_null`` (K, L, S, C) or None.
    """
    spec = METRICS[metric]
    if spec.kind != "gram" or spec.post is not None:
        raise ValueError(f"window_sums: {metric!r} is not linear in its representation; use window_scores")
    rep_m = spec.prepare(model_frames).to(dtype)  # (K, L, n, n)
    rep_e = (electrode_rep(eeg_frames, metric) if eeg_rep is None else eeg_rep).to(dtype)  # (K, S, C, n, n)
    ok_m = torch.isfinite(rep_m).flatten(-2).all(-1)  # (K, L)
    ok_e = torch.isfinite(rep_e).flatten(-2).all(-1)  # (K, S, C)
    rep_m = torch.where(ok_m[..., None, None], rep_m, 0.0).flatten(-2)
    rep_e = torch.where(ok_e[..., None, None], rep_e, 0.0).flatten(-2)
    ok = ok_m[:, :, None, None] & ok_e[:, None]  # (K, L, S, C)
    sentence = torch.einsum("klx,kscx->klsc", rep_m, rep_e)
    out = {"sentence": torch.where(ok, sentence, float("nan")), "count": ok.sum(0), "total": sentence.sum(0),
           "null_total": None, "sentence_null": None}
    if perms is not None:
        n = model_frames.shape[-2]
        permuted = permute_rep(rep_m.unflatten(-1, (n, n)), perms[:, :, None, :], kind="gram").flatten(-2)
        p, k, layers, pairs = permuted.shape
        _, subjects, channels, _ = rep_e.shape
        # one matrix product over (sentence, frame pair): (P·L, K·X) @ (K·X, S·C)
        left = permuted.permute(0, 2, 1, 3).reshape(p * layers, k * pairs)
        right = rep_e.permute(0, 3, 1, 2).reshape(k * pairs, subjects * channels)
        out["null_total"] = (left @ right).reshape(p, layers, subjects, channels)
        null_mean = torch.einsum("klx,kscx->klsc", permuted.mean(0), rep_e)
        out["sentence_null"] = torch.where(ok, null_mean, float("nan"))
    return out


def _layer_coords(states: Mapping[str, xr.DataArray]) -> tuple[list[str], np.ndarray, np.ndarray]:
    layers: list[str] = []
    for da in states.values():
        layers += [str(v) for v in da["layer"].values if str(v) not in layers]
    rel = np.full((len(states), len(layers)), np.nan)
    comp = np.full((len(states), len(layers)), "", dtype=object)
    for m, da in enumerate(states.values()):
        for j, lab in enumerate(str(v) for v in da["layer"].values):
            li = layers.index(lab)
            rel[m, li] = float(da["relative_depth"].values[j]) if "relative_depth" in da.coords else np.nan
            comp[m, li] = str(da["component"].values[j]) if "component" in da.coords else lab.rpartition(".")[0]
    return layers, rel, comp.astype(str)


def _model_pca(da: xr.DataArray, sentences: Mapping[str, dict]) -> dict[str, np.ndarray]:
    """Per sentence ``(n_layers, n_frames, 20)`` PCA-20 frame states of one model (None: words missing)."""
    words = set(str(w) for w in da["word"].values)
    widths = (da["n_features"].values.astype(int) if "n_features" in da.coords
              else np.full(da.sizes["layer"], da.sizes["feature"]))
    out = {}
    for sid, info in sentences.items():
        if not set(info["words"]) <= words:
            out[sid] = None
            continue
        x = np.asarray(da.sel(word=info["words"]).transpose("layer", "word", "feature").values, dtype=np.float64)
        if (widths == widths[0]).all():
            out[sid] = pca_word_frames(x[:, :, :widths[0]], info["frame_word"])
        else:  # NaN-padded layers of different widths
            out[sid] = np.stack([pca_word_frames(x[j, :, :widths[j]], info["frame_word"]) for j in range(len(x))])
    return out


def _window_part(x: torch.Tensor, eeg_w: torch.Tensor, metric: str, perms: torch.Tensor | None,
                 eeg_rep: torch.Tensor | None) -> dict[str, np.ndarray]:
    """:func:`window_sums` (linear metrics) or :func:`window_scores` (the others) as numpy sums."""
    if METRICS[metric].post is None:
        out = window_sums(x, None, metric, perms, eeg_rep=eeg_rep)
    else:
        observed, null = window_scores(x, eeg_w, metric, perms)
        ok = torch.isfinite(observed)
        out = {"sentence": observed, "count": ok.sum(0), "total": torch.where(ok, observed, 0.0).sum(0),
               "null_total": None if null is None else torch.where(ok, null, 0.0).sum(1),
               "sentence_null": None if null is None else torch.where(ok, null.mean(0), float("nan"))}
    return {k: (None if v is None else v.double().numpy()) for k, v in out.items()}


def _with_mean(a: np.ndarray) -> np.ndarray:
    """``(..., C)`` -> ``(..., C + 1)``: the electrodes, then their mean (NaN-skipping; all-NaN stays NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, as intended
        return np.concatenate([a, np.nanmean(a, axis=-1, keepdims=True)], axis=-1)


def _frame_descriptors(frame_states: Mapping[str, tuple[Sequence[str], Callable]]) -> dict[str, xr.DataArray]:
    """Data-less layer descriptors (``layer``, ``relative_depth``, ``component``) of models given per frame."""
    return {m: xr.DataArray(np.zeros(len(labels)), dims="layer",
                            coords={"layer": list(labels), "relative_depth": ("layer", np.linspace(0, 1, len(labels))),
                                    "component": ("layer", [str(lab).rpartition(".")[0] or "frame" for lab in labels])})
            for m, (labels, _) in frame_states.items()}


def paper_grid(states: Mapping[str, xr.DataArray], recordings: Mapping[str, xr.Dataset], stimuli: pd.DataFrame, *,
               windows: Sequence[tuple[str, float, float]], metrics: Sequence[str], n_permutations: int = 500,
               seed: int = 0, min_frames: int = 4, keep_sentences: bool = True,
               frame_states: Mapping[str, tuple[Sequence[str], Callable[[str, int], np.ndarray]]] | None = None,
               attrs: Mapping[str, str] | None = None) -> xr.Dataset:
    """The metric grid under the study's protocol.

    Parameters
    ----------
    states : dict of str to DataArray (layer, word, feature)
        Per-word states of each model (:func:`hearlike.models.stack_layers`); frames take their
        word's vector (:func:`hearlike.protocol.frames.word_frames`).
    recordings : dict of str to Dataset
        Continuous preprocessed EEG per subject (:func:`hearlike.eeg.load_recordings`).
    stimuli : DataFrame
        The stimulus table (word times give the frames).
    windows : list of (name, start_ms, stop_ms)
        From sentence onset.
    metrics : list of str
        ``gram`` metrics of :data:`hearlike.metrics.METRICS`.
    n_permutations : int
        Frame shuffles (the study: 500).
    seed : int
        Seeds the shuffles (per sentence and window; shared by all cells).
    min_frames : int
        A window with fewer frames is skipped for every sentence (RSA needs 4 items to rank).
    keep_sentences : bool
        Also return ``sentence_score``, ``sentence_null_mean``, ``sentence_excess``.
    frame_states : dict of str to (layer labels, callable), optional
        Models given per frame: ``fn(sentence_id, n_frames)`` returns ``(n_layers, n_frames,
        n_features)`` (e.g. random-state controls with independent frames); scored after ``states``.

    Returns
    -------
    Dataset
        As :func:`hearlike.grid.compute_grid`, dims ``model, layer, subject, window, region, metric``;
        regions are the electrodes and ``electrodes`` (their mean); ``group_null`` (subject-mean null
        samples). ``p_value`` is the uncorrected frame-shuffle p. Attrs: ``protocol = "paper"``,
        ``null = "frame shuffle"``, ``n_sentences_used``, ``n_sentences_excluded``,
        ``n_scores_undefined`` (sentence × cell scores left out), ``n_permutations``, ``config_hash``.
    """
    frame_states = dict(frame_states or {})
    descriptors = dict(states) | _frame_descriptors(frame_states)
    models = list(descriptors)
    sentences = sentence_frames(stimuli)
    eeg = sentence_eeg(recordings, sentences)
    subjects = list(recordings)
    channels = [str(c) for c in recordings[subjects[0]]["channel"].values]
    regions = channels + [MEAN_REGION]
    layers, rel, comp = _layer_coords(descriptors)
    pca = {m: _model_pca(states[m], sentences) for m in states}
    for m, (_, make) in frame_states.items():
        pca[m] = {sid: pca_frames(make(sid, info["n"])) for sid, info in sentences.items()}
    sids = [sid for sid in sentences if all(pca[m][sid] is not None for m in models)]
    excluded = [sid for sid in sentences if sid not in sids]
    n_perm = int(n_permutations)
    shape = (len(models), len(layers), len(subjects), len(windows), len(regions), len(metrics))
    arrays = {name: np.full(shape, np.nan) for name in ("score", "null_mean", "null_sd", "p_value")}
    arrays["group_null"] = np.full((n_perm, *shape[:2], *shape[3:]), np.nan)  # subject-mean null samples
    # per-sentence arrays are float32 (as hearlike's grid keeps them): 64 electrodes make them large
    for name in ("sentence_score", "sentence_null_mean"):
        arrays[name] = np.full((*shape, len(sids)), np.nan, dtype=np.float32) if keep_sentences else None
    sentence, sentence_null = arrays["sentence_score"], arrays["sentence_null_mean"]
    n_undefined = 0
    for w, (name, start, stop) in enumerate(windows):
        frames = window_frames(start, stop)
        n = frames.stop - frames.start
        inside = [k for k, sid in enumerate(sids) if sentences[sid]["n"] >= frames.stop]
        if n < min_frames or not inside:
            logger.warning("paper grid: window %s (%g–%g ms) has %d frames and %d sentences long enough; skipped",
                           name, start, stop, n, len(inside))
            continue
        eeg_w = torch.as_tensor(np.stack([eeg[sids[k]][:, :, frames] for k in inside]))
        perms = None
        if n_perm:
            rng = np.random.default_rng([seed, w])
            perms = torch.as_tensor(np.argsort(rng.random((n_perm, len(inside), n)), axis=-1))
        xs = {model: torch.as_tensor(np.stack([pca[model][sids[k]][:, frames] for k in inside])) for model in models}
        # this window's sentence sums (model, layer, subject, region, metric); the null's with a leading permutation
        part_shape = (len(models), len(layers), len(subjects), len(regions), len(metrics))
        total, count, null_total = np.zeros(part_shape), np.zeros(part_shape), np.zeros((n_perm, *part_shape))
        for q, metric in enumerate(metrics):
            eeg_rep = electrode_rep(eeg_w, metric).float() if METRICS[metric].post is None else None
            for m, model in enumerate(models):
                li = [layers.index(str(v)) for v in descriptors[model]["layer"].values]
                part = _window_part(xs[model], eeg_w, metric, perms, eeg_rep)
                n_undefined += int(len(inside) * len(li) * len(subjects) * len(channels) - part["count"].sum())
                for j, layer in enumerate(li):
                    cell = (m, layer, slice(None), slice(None, len(channels)), q)
                    total[cell] += part["total"][j]
                    count[cell] += part["count"][j]
                    if part["null_total"] is not None:
                        null_total[(slice(None), *cell)] += part["null_total"][:, j]
                    if keep_sentences:
                        rows = (m, layer, slice(None), w, slice(None), q)
                        sentence[rows][..., inside] = _with_mean(part["sentence"][:, j]).transpose(1, 2, 0)
                        if part["sentence_null"] is not None:
                            sentence_null[rows][..., inside] = _with_mean(part["sentence_null"][:, j]).transpose(1, 2, 0)
        _store_window(arrays, w, total, count, null_total)
    axes = {"model": models, "layer": layers, "subject": subjects, "window": windows, "region": regions,
            "metric": list(metrics), "relative_depth": rel, "component": comp, "n_channels": len(channels)}
    ds = _paper_dataset(arrays, axes, sentences={sid: sentences[sid] for sid in sids})
    config = {"protocol": "paper", "windows": [list(w) for w in windows], "metrics": list(metrics),
              "n_permutations": n_perm, "seed": int(seed), "min_frames": int(min_frames), "models": models,
              "subjects": subjects}
    ds.attrs = {"protocol": "paper", "null": "frame shuffle", "n_permutations": n_perm, "seed": int(seed),
                "min_words": int(min_frames), "n_sentences_used": len(sids), "n_sentences_excluded": len(excluded),
                "excluded_sentences": ",".join(excluded), "n_scores_undefined": n_undefined,
                "n_cell_sentences_rejected": 0, "frame_s": FRAME_S,
                "config_hash": config_hash(config), "config": json.dumps(config)} | dict(attrs or {})
    logger.info("paper grid: %d models × %d layers × %d subjects × %d windows × %d electrodes × %d metrics, "
                "%d sentences, %d frame shuffles", len(models), len(layers), len(subjects), len(windows),
                len(channels), len(metrics), len(sids), n_perm)
    return ds


def _store_window(arrays: Mapping[str, np.ndarray], w: int, total: np.ndarray, count: np.ndarray,
                  null_total: np.ndarray) -> None:
    """Write window ``w``'s means, null moments, p-values and subject-mean null samples into ``arrays``
    (see :func:`_paper_dataset`) from its sentence sums ``total``/``count`` (model, layer, subject,
    region, metric) and null sums ``null_total`` (permutation first). The last region, ``electrodes``,
    is the mean over electrodes of their sentence means (and of their null samples)."""
    n_perm = null_total.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells without any defined sentence: NaN
        mean = np.where(count > 0, total / count, np.nan)
        mean[..., -1, :] = np.nanmean(mean[..., :-1, :], axis=-2)
        arrays["score"][:, :, :, w] = mean
        if n_perm:
            null = np.where(count > 0, null_total / count, np.nan)
            null[..., -1, :] = np.nanmean(null[..., :-1, :], axis=-2)
            arrays["null_mean"][:, :, :, w] = null.mean(0)
            arrays["null_sd"][:, :, :, w] = null.std(0, ddof=1) if n_perm > 1 else np.nan
            arrays["p_value"][:, :, :, w] = exceedance_p(mean, null, axis=0)
            arrays["group_null"][:, :, :, w] = np.nanmean(null, axis=3)  # over subjects


def _paper_dataset(arrays: Mapping[str, np.ndarray | None], axes: Mapping, *, sentences: Mapping[str, dict]) -> xr.Dataset:
    """The paper grid's Dataset from its arrays (model, layer, subject, window, region, metric[, sentence]).

    ``arrays``: ``score``, ``null_mean``, ``null_sd``, ``p_value``, ``group_null`` (permutation
    first), ``sentence_score`` and ``sentence_null_mean`` (None unless kept). ``axes``: the dims'
    labels (``window`` as (name, start_ms, stop_ms)), ``relative_depth`` and ``component``
    (model × layer) and ``n_channels`` (electrodes; the last region is their mean). ``sentences``:
    the used sentences' frame tables, in order.
    """
    dims = ("model", "layer", "subject", "window", "region", "metric")
    data = {name: (dims, arrays[name]) for name in ("score", "null_mean", "null_sd", "p_value")}
    data["excess"] = (dims, arrays["score"] - arrays["null_mean"])
    windows, n_channels = axes["window"], axes["n_channels"]
    coords = {
        **{dim: axes[dim] for dim in ("model", "layer", "subject", "region", "metric")},
        "window": [w[0] for w in windows],
        "relative_depth": (("model", "layer"), axes["relative_depth"]), "component": (("model", "layer"), axes["component"]),
        "window_start_ms": ("window", [float(w[1]) for w in windows]),
        "window_stop_ms": ("window", [float(w[2]) for w in windows]),
        "n_channels": ("region", [1] * n_channels + [n_channels]),
        "family": ("metric", [METRICS[q].family for q in axes["metric"]]),
    }
    if arrays["sentence_score"] is not None:
        sentence, sentence_null = arrays["sentence_score"], arrays["sentence_null_mean"]
        data["sentence_score"] = (dims + ("sentence",), sentence)
        data["sentence_null_mean"] = (dims + ("sentence",), sentence_null)
        data["sentence_excess"] = (dims + ("sentence",), sentence - sentence_null)
        coords["sentence"] = list(sentences)
        coords["n_words"] = ("sentence", [len(info["words"]) for info in sentences.values()])
        coords["n_frames"] = ("sentence", [info["n"] for info in sentences.values()])
    ds = xr.Dataset(data, coords=coords)
    if arrays["group_null"].shape[0]:  # permutations
        group_dims = ("model", "layer", "window", "region", "metric", "permutation")
        ds["group_null"] = xr.DataArray(np.moveaxis(arrays["group_null"], 0, -1), dims=group_dims)
    return ds


def cached_paper_grid(params, *, states_of: Callable[[str], xr.DataArray], recordings_of: Callable[[], Mapping],
                      stimuli: pd.DataFrame, data_fingerprint: str, recompute: bool = False) -> xr.Dataset:
    """:func:`paper_grid` of ``params`` (``protocol: paper``), cached as ``<cache_dir>/grid-paper-<hash>.nc``.

    ``states_of(model)`` gives a model's stacked word states and ``recordings_of()`` the subjects'
    continuous recordings (called only when the grid is not cached); the hash covers the models,
    metrics, windows, permutations, seed, ``min_words``, the EEG options, subjects and the data.
    """
    from ..cache import read_netcdf, write_netcdf

    values = params.to_dict()
    keys = ("protocol", "dataset", "models", "metrics", "extra_metrics", "windows", "n_permutations", "seed",
            "min_words", "eeg", "extraction", "subjects", "runs", "model_paths", "keep")
    config = {k: values[k] for k in keys} | {"data": data_fingerprint}
    digest = config_hash(config)
    path = params.cache_dir / f"grid-paper-{digest}.nc"
    cached = None if recompute else read_netcdf(path, config_hash=digest)
    if cached is not None:
        return cached
    grid = paper_grid({m: states_of(m) for m in params.models}, recordings_of(), stimuli,
                      windows=[tuple(w) for w in params.windows], metrics=params.all_metrics,
                      n_permutations=params.n_permutations, seed=params.seed, min_frames=params.min_words,
                      keep_sentences="sentence" in params.keep)
    grid.attrs["config_hash"] = digest
    grid.attrs["dataset"] = params.dataset
    write_netcdf(grid, path, config_hash=digest)
    return grid


def electrode_map(grid: xr.Dataset, *, model: str, layer: str, metric: str) -> xr.Dataset:
    """One model layer's per-electrode scores (dims ``subject, window, channel``): the study's topographies.

    The paper protocol's searchlight: its regions already are electrodes (``electrodes``, their mean,
    is dropped). Variables ``score``, ``null_mean``, ``excess``, ``p_value``.
    """
    out = grid[["score", "null_mean", "excess", "p_value"]].sel(model=model, layer=layer, metric=metric, drop=True)
    out = out.drop_sel(region=MEAN_REGION).rename(region="channel")
    out.attrs = dict(grid.attrs)
    return out
