"""The grid's running sums over length buckets, and the Dataset built from them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from .. import __version__
from ..cache import config_hash
from ..metrics import METRICS
from ..stats import exceedance_p
from .cells import Bucket
from .compare import Scored


@dataclass
class GridSums:
    """Sentence sums of the scores and nulls, shape ``(model, layer, cell, metric)`` (nulls lead with
    ``permutation``), the number of sentences in each sum (``count``), per-sentence values when kept."""

    score: np.ndarray
    null: np.ndarray
    count: np.ndarray
    present: np.ndarray
    sentence: np.ndarray | None
    sentence_null: np.ndarray | None
    n_undefined: int = 0

    @classmethod
    def zeros(cls, shape: tuple[int, int, int, int], *, n_permutations: int, n_sentences: int,
              keep_sentences: bool) -> "GridSums":
        """Empty sums for ``shape = (n_models, n_layers, n_cells, n_metrics)``."""
        per_sentence = (lambda: np.full((*shape, n_sentences), np.nan)) if keep_sentences else (lambda: None)
        return cls(np.zeros(shape), np.zeros((n_permutations, *shape)), np.zeros(shape),
                   np.zeros(shape[:2], dtype=bool), per_sentence(), per_sentence())

    @staticmethod
    def _where(s: Scored):
        li = np.asarray(s.layers)
        return s.model_index, li[:, None], s.cells[None, :], s.metric_index

    def add_observed(self, s: Scored, bucket: Bucket, observed: torch.Tensor) -> None:
        """Add one (metric, model) of one bucket: ``observed (L, C_k, S)``, ``s.ok`` set."""
        m, li, ci, k = self._where(s)
        self.present[m, li[:, 0]] = True
        self.score[m, li, ci, k] += torch.where(s.ok, observed, 0.0).sum(dim=-1).double().cpu().numpy()
        self.count[m, li, ci, k] += np.broadcast_to(s.ok.sum(dim=-1).cpu().numpy(), (len(s.layers), len(s.cells)))
        self.n_undefined += int((s.valid & ~torch.isfinite(observed)).sum())
        if self.sentence is not None:
            kept = torch.where(s.ok, observed, float("nan")).double().cpu().numpy()
            self.sentence[m, li[..., None], ci[..., None], k, bucket.index[None, None, :]] = kept

    def add_null(self, s: Scored, bucket: Bucket, null: torch.Tensor, sentence_null: torch.Tensor) -> None:
        """Add the null sums ``(P, L, C_k)`` and per-sentence null means ``(L, C_k, S)``."""
        m, li, ci, k = self._where(s)
        self.null[:, m, li, ci, k] += null.double().cpu().numpy()
        if self.sentence_null is not None:
            kept = torch.where(s.ok, sentence_null, float("nan")).double().cpu().numpy()
            self.sentence_null[m, li[..., None], ci[..., None], k, bucket.index[None, None, :]] = kept

    def means(self) -> dict[str, np.ndarray]:
        """Sentence means and the null summaries: score, null, null_mean, null_sd, p_value."""
        with np.errstate(invalid="ignore", divide="ignore"):
            score = self.score / self.count  # sentences with a defined score and no rejected epoch
            null = self.null / self.count
        score[~self.present] = np.nan
        null[:, ~self.present] = np.nan
        n_perm = null.shape[0]
        if n_perm:
            null_mean = null.mean(axis=0)
            null_sd = null.std(axis=0, ddof=1) if n_perm > 1 else np.full(score.shape, np.nan)
        else:
            null_mean = null_sd = np.full(score.shape, np.nan)
        p_value = exceedance_p(score, null, axis=0)
        return {"score": score, "null": null, "null_mean": null_mean, "null_sd": null_sd, "p_value": p_value}


def grid_dataset(sums: GridSums, meta: dict, *, keep_null: bool) -> xr.Dataset:
    """The grid as a Dataset (see :func:`hearlike.grid.compute_grid`).

    ``meta`` holds ``models``, ``layers``, ``model_states``, ``subjects``, ``windows``, ``regions``,
    ``metrics``, ``used``, ``excluded``, ``n_unmatched``, ``buckets``, ``n_rejected``,
    ``permuted_side``, ``factor_regions`` and ``config`` (hashed into ``config_hash``).
    """
    models, layers, windows, regions = meta["models"], meta["layers"], meta["windows"], meta["regions"]
    values = sums.means()
    n_perm = values["null"].shape[0]
    lead = (len(models), len(layers), len(meta["subjects"]), len(windows), len(regions))

    def unfold(a, n_lead=0):
        return a.reshape(*a.shape[:n_lead], *lead, *a.shape[n_lead + 3 :])

    dims = ("model", "layer", "subject", "window", "region", "metric")
    data = {name: (dims, unfold(values[name])) for name in ("score", "null_mean", "null_sd")}
    data["excess"] = (dims, unfold(values["score"] - values["null_mean"]))
    data["p_value"] = (dims, unfold(values["p_value"]))
    if keep_null:
        data["null"] = (dims + ("permutation",), np.moveaxis(unfold(values["null"], 1), 0, -1))
    if sums.sentence is not None:
        data["sentence_score"] = (dims + ("sentence",), unfold(sums.sentence))
        data["sentence_null_mean"] = (dims + ("sentence",), unfold(sums.sentence_null))
        data["sentence_excess"] = (dims + ("sentence",), unfold(sums.sentence - sums.sentence_null))
    coords = _coords(meta)
    if sums.sentence is not None:
        coords["sentence"] = [s["sentence_id"] for s in meta["used"]]
        coords["n_words"] = ("sentence", [s["n"] for s in meta["used"]])
    if keep_null:
        coords["permutation"] = np.arange(n_perm)
    return xr.Dataset(data, coords=coords, attrs=_attrs(sums, meta))


def _coords(meta: dict) -> dict:
    models, layers, windows, regions = meta["models"], meta["layers"], meta["windows"], meta["regions"]
    rel = np.full((len(models), len(layers)), np.nan)
    comp = np.full((len(models), len(layers)), "", dtype=object)
    for m, model in enumerate(models):
        da = meta["model_states"][model]
        for j, lab in enumerate(np.asarray(da["layer"].values).astype(str).tolist()):
            li = layers.index(lab)
            if "relative_depth" in da.coords:
                rel[m, li] = float(da["relative_depth"].values[j])
            comp[m, li] = str(da["component"].values[j]) if "component" in da.coords else lab.rpartition(".")[0]
    return {
        "model": models,
        "layer": layers,
        "subject": meta["subjects"],
        "window": [w[0] for w in windows],
        "region": list(regions),
        "metric": meta["metrics"],
        "relative_depth": (("model", "layer"), rel),
        "component": (("model", "layer"), comp.astype(str)),
        "window_start_ms": ("window", [float(w[1]) for w in windows]),
        "window_stop_ms": ("window", [float(w[2]) for w in windows]),
        "n_channels": ("region", [len(c) for c in regions.values()]),
        "family": ("metric", [METRICS[name].family for name in meta["metrics"]]),
    }


def _attrs(sums: GridSums, meta: dict) -> dict:
    config = meta["config"]
    attrs = {
        "config_hash": config_hash(config),
        "hearlike_version": __version__,
        "config": json.dumps(config),
        "n_sentences_used": len(meta["used"]),
        "n_sentences_excluded": len(meta["excluded"]),
        "n_cell_sentences_rejected": int(meta["n_rejected"]),
        "n_scores_undefined": int(sums.n_undefined),
        "excluded_sentences": ",".join(meta["excluded"]),
        "n_words_unmatched": int(meta["n_unmatched"]),
        "n_permutations": config["n_permutations"],
        "null": config["null"],
        "seed": config["seed"],
        "min_words": config["min_words"],
        "permuted_side": json.dumps(meta["permuted_side"]),
        "sentence_lengths": json.dumps({str(n): len(idx) for n, idx in meta["buckets"].items()}),
    }
    if meta.get("factor_regions") is not None:
        attrs["factor_regions"] = ",".join(meta["factor_regions"])
    return attrs
