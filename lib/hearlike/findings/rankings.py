"""Finding 1 — do the metrics rank the models alike?

:func:`rank_dependence` computes everything the chapter shows from a metric grid (model scores and
ranks, Kendall's W with its chi-square and permutation tests, pairwise tau, which models align at
all, the family split, the small-n baseline); :func:`statement` decides the verdict from those
numbers and :func:`baseline_statement` says what the raw scores of the biased metrics measure.
"""

from __future__ import annotations

import itertools
import logging
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from .common import ALPHA, at_layers, check_choice, code_list, crossfit_best_layers, group_p_values, peak_layers, plural

logger = logging.getLogger(__name__)


def model_scores(grid: xr.Dataset, *, window: str, region: str = "all", value: str = "excess",
                 metrics: Sequence[str] | None = None) -> xr.Dataset:
    """A model's score under each metric: its best layer's subject-mean ``value`` in one cell.

    Every metric picks the model's best layer for itself (the usual "peak layer" report), so a
    metric's ranking of models is the ranking of their peaks -- each subject's score is taken at the
    layer chosen on the *other* half of the subjects (:func:`~hearlike.findings.common.crossfit_best_layers`),
    so the selection does not inflate the scores it ranks; ``layer`` is the best layer on all subjects.

    Returns
    -------
    Dataset
        ``score`` (model, metric), ``per_subject`` (model, metric, subject) at the chosen layers,
        ``layer`` (model, metric) the chosen layer labels, ``rank`` (model, metric; 1 = best).
    """
    from scipy.stats import rankdata

    metrics = list(metrics) if metrics is not None else list(grid["metric"].values)
    cell = grid[value].sel(window=window, region=region, metric=metrics)
    best = cell.mean("subject").fillna(-np.inf).idxmax("layer").reset_coords(drop=True)
    # each subject's score at the layer chosen on the other half of the subjects (no double dipping)
    per_subject = at_layers(cell, crossfit_best_layers(cell))
    score = per_subject.mean("subject")
    rank = xr.apply_ufunc(lambda v: rankdata(-v, axis=-1), score, input_core_dims=[["model"]],
                          output_core_dims=[["model"]]).transpose(*score.dims)  # 1 = best, ties averaged
    out = xr.Dataset({"score": score, "per_subject": per_subject, "layer": best.astype(str), "rank": rank})
    out.attrs.update(window=window, region=region, value=value)
    return out


def rank_agreement(scores: xr.Dataset, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Kendall's W across metrics and pairwise Kendall tau between metric rankings.

    Parameters
    ----------
    scores : Dataset
        From :func:`model_scores`.

    Returns
    -------
    dict
        ``w`` (Dataset: w, chi2, p_value), ``tau`` (Dataset: tau, low, high over metric pairs,
        CIs by bootstrapping subjects).
    """
    w = stats.kendall_w(scores["score"], item_dim="model", rater_dim="metric")
    tau = stats.pairwise_kendall_tau(
        scores["per_subject"].transpose("model", "metric", "subject"), item_dim="model",
        rater_dim="metric", sample_dim="subject", n_boot=n_boot, seed=seed,
    )
    return {"w": w, "tau": tau}


def null_rank_agreement(grid: xr.Dataset, *, window: str, region: str = "all",
                        metrics: Sequence[str] | None = None) -> xr.DataArray:
    """Kendall's W of the metrics' model rankings in each permutation of the null.

    The metrics score the same EEG, so their rankings agree somewhat even when nothing aligns
    (they share the noise): the chi-square test of W, which assumes independent raters, is then
    anticonservative. Under permutation ``k`` every model's score under a metric is its best
    layer's null excess (``group_null`` minus its permutation mean), exactly as
    :func:`model_scores` picks the observed scores; W of those scores is one null sample.

    Returns
    -------
    DataArray, dims (permutation,)
        Null samples of W; compare with the observed W by :func:`hearlike.stats.permutation_p_value`.
    """
    metrics = list(metrics) if metrics is not None else list(grid["metric"].values)
    null = grid["group_null"].sel(window=window, region=region, metric=metrics)
    best = (null - null.mean("permutation")).fillna(-np.inf).max("layer")  # (model, metric, permutation)
    return stats.kendall_w(best, item_dim="model", rater_dim="metric")["w"].rename("w_null")


def aligned_models(grid: xr.Dataset, *, window: str, region: str = "all", metrics: Sequence[str] | None = None,
                   alpha: float = ALPHA) -> pd.DataFrame:
    """Which models align with the EEG at all: each model's smallest FWE-corrected group p-value
    over layers in one window and region, per metric (see :func:`~hearlike.findings.common.group_p_values`).

    Returns
    -------
    DataFrame
        Index model, columns the metrics (min p_FWE), plus ``n_metrics_significant`` (p_FWE < alpha).
    """
    metrics = list(metrics) if metrics is not None else list(grid["metric"].values)
    p = group_p_values(grid.sel(metric=metrics))["p_fwe"].sel(window=window, region=region).min("layer")
    table = p.transpose("model", "metric").to_pandas()
    table["n_metrics_significant"] = (table[metrics] < alpha).sum(axis=1)
    return table


def control_statement(aligned: pd.DataFrame) -> str:
    """Markdown: what the negative controls must show and whether they did.

    Random-weight controls (:func:`hearlike.framing.model_kind`: ``tiny-*`` models and registry
    entries with random weights, e.g. ``whisper-tiny.en-random``; the real extraction code on
    untrained weights) must not align with the EEG under any metric. The statement names those
    that do (a failed control: the test, not the model, is then in question).
    """
    from ..framing import model_kind

    controls = [str(m) for m in aligned.index if model_kind(str(m)) == "random-weight"]
    if not controls:
        return "*No random-weight control model is in this run.*"
    failed = [m for m in controls if aligned.loc[m, "n_metrics_significant"] > 0]
    must = (f"The {plural(len(controls), 'random-weight control')} ({code_list(controls)}) must not align under "
            f"any metric: ")
    if not failed:
        return must + "**none does**, as required."
    return must + (f"**{code_list(failed)} {'does' if len(failed) == 1 else 'do'}**, which the test should not "
                   "allow -- read every alignment on this page with that in mind (see the calibration in the "
                   "methods chapter).")


def family_split(tau: xr.DataArray, families: xr.DataArray) -> dict:
    """Is agreement higher within a metric family than across families?

    The statistic is mean tau within families minus mean tau across families (off-diagonal
    pairs). Its null distribution relabels the metrics' families in every distinct way that keeps
    the family sizes (an exact permutation test: the observed labelling is one of them).

    Parameters
    ----------
    tau : DataArray, dims (metric, metric_other)
        Pairwise Kendall tau between metric rankings.
    families : DataArray, dims (metric,)
        Family of each metric (``"geometric"`` / ``"covariance"``).

    Returns
    -------
    dict
        ``within``, ``across``, ``difference``, ``p_value``, ``n_relabelings`` (the observed one
        included), and per-family mean tau ``within_by_family``.
    """
    matrix = np.asarray(tau.values, dtype=float)
    labels = np.asarray(families.sel(metric=tau["metric"]).values).astype(str)
    n = len(labels)
    off = ~np.eye(n, dtype=bool)

    def split(lab):
        same = (lab[:, None] == lab[None, :]) & off
        return matrix[same].mean(), matrix[~same & off].mean()

    within, across = split(labels)
    observed = within - across
    names, counts = np.unique(labels, return_counts=True)
    null = []
    if len(names) == 2:  # every other size-preserving relabelling of two families, enumerated exactly
        own = tuple(np.nonzero(labels == names[0])[0])
        for combo in itertools.combinations(range(n), int(counts[0])):
            if combo == own:
                continue
            lab = np.full(n, names[1], dtype=object)
            lab[list(combo)] = names[0]
            w_, a_ = split(lab.astype(str))
            null.append(w_ - a_)
    p = float("nan")
    if null:
        p = float(stats.permutation_p_value(xr.DataArray(observed), xr.DataArray(null, dims="permutation")))
    by_family = {}
    for name in names:
        idx = np.nonzero(labels == name)[0]
        pairs = [(i, j) for i in idx for j in idx if i < j]
        by_family[str(name)] = float(np.mean([matrix[i, j] for i, j in pairs])) if pairs else float("nan")
    return {"within": float(within), "across": float(across), "difference": float(observed),
            "p_value": p, "n_relabelings": len(null) + 1 if null else 0, "within_by_family": by_family}


def baseline_table(grid: xr.Dataset, *, window: str, region: str = "all",
                   metric: str | None = None) -> tuple[str, pd.DataFrame]:
    """The small-n baseline: score, null mean and excess of every metric at one model's peak layer.

    The model is the one with the highest peak excess under ``metric`` (default: the grid's first
    metric), its peak layer chosen by that metric.

    Returns
    -------
    model : str
    table : DataFrame
        One row per metric of the grid: ``metric``, ``family``, ``score``, ``null_mean``, ``excess``
        (subject means).
    """
    metric = metric or str(grid["metric"].values[0])
    best = peak_layers(grid, metric=metric, window=window, region=region)
    peak_excess = at_layers(grid["excess"].sel(metric=metric, window=window, region=region), best).mean("subject")
    model = str(grid["model"].values[int(np.argmax(peak_excess.values))])
    cell = grid.sel(model=model, window=window, region=region).sel(layer=best.sel(model=model).item()).mean("subject")
    table = pd.DataFrame({"metric": list(grid["metric"].values), "family": list(grid["family"].values),
                          "score": cell["score"].values, "null_mean": cell["null_mean"].values,
                          "excess": cell["excess"].values})
    return model, table


def reversed_pairs(tau: xr.Dataset) -> list[tuple[str, str]]:
    """Pairs of metrics whose bootstrap CI of Kendall's τ lies entirely below 0 (each pair once)."""
    metrics = [str(m) for m in tau["metric"].values]
    high = np.asarray(tau["high"].values)
    return [(metrics[i], metrics[j]) for i in range(len(metrics)) for j in range(i + 1, len(metrics))
            if high[i, j] < 0]


def rank_dependence(grid: xr.Dataset, *, window: str, region: str = "all", metrics: Sequence[str] | None = None,
                    n_boot: int = 1000, seed: int = 0, alpha: float = ALPHA) -> dict:
    """Everything finding 1 shows, from a metric grid (with ``group_null``).

    Parameters
    ----------
    grid : Dataset
        From :func:`hearlike.pipeline.metric_grid`.
    window, region : str
        The analysis cell (a window name and a region of the grid).
    metrics : sequence of str, optional
        The ranking metrics (default: every metric of the grid).
    n_boot, seed
        Bootstrap samples and seed of the tau CIs.
    alpha : float
        Significance level of the verdicts.

    Returns
    -------
    dict
        ``scores`` (:func:`model_scores`), ``w`` (Dataset), ``tau`` (Dataset), ``w_null``
        (permutation,), ``w_perm_p``, ``aligned`` (:func:`aligned_models`), ``n_aligned``,
        ``n_models``, ``n_metrics``, ``split`` (:func:`family_split`), ``families``, ``reversed_pairs`` (:func:`reversed_pairs`), ``top_model``
        and ``baseline`` (:func:`baseline_table`), ``alpha``, ``window``, ``region``.
    """
    check_choice(grid, "window", window, parameter="window")
    check_choice(grid, "region", region, parameter="region")
    metrics = list(metrics) if metrics is not None else list(grid["metric"].values)
    families = grid["family"].sel(metric=metrics)
    scores = model_scores(grid, window=window, region=region, metrics=metrics)
    agreement = rank_agreement(scores, n_boot=n_boot, seed=seed)
    w_null = null_rank_agreement(grid, window=window, region=region, metrics=metrics)
    w_perm_p = float(stats.permutation_p_value(agreement["w"]["w"], w_null, dim="permutation"))
    aligned = aligned_models(grid, window=window, region=region, metrics=metrics, alpha=alpha)
    top_model, baseline = baseline_table(grid, window=window, region=region, metric=metrics[0])
    return {"scores": scores, "w": agreement["w"], "tau": agreement["tau"], "w_null": w_null, "w_perm_p": w_perm_p,
            "aligned": aligned, "n_aligned": int((aligned["n_metrics_significant"] > 0).sum()),
            "n_models": int(grid.sizes["model"]), "n_metrics": len(metrics),
            "split": family_split(agreement["tau"]["tau"], families), "families": families,
            "reversed_pairs": reversed_pairs(agreement["tau"]),
            "top_model": top_model, "baseline": baseline, "alpha": alpha, "window": window, "region": region}


def baseline_statement(result: dict, *, metric: str = "linear_cka") -> str:
    """What the raw score of a biased metric measures at the top model's peak layer (Markdown).

    Uses ``metric`` when the grid has it, else the metric with the highest null mean. The raw score
    is called mostly baseline when the null mean is at least half of it.
    """
    table = result["baseline"].set_index("metric")
    if metric not in table.index:
        metric = str(table["null_mean"].idxmax())
    score, null = float(table.loc[metric, "score"]), float(table.loc[metric, "null_mean"])
    text = (f"For `{result['top_model']}`, `{metric}` is {score:.3f} while its permutation-null mean is "
            f"{'already ' if null >= 0.5 * score else ''}{null:.3f}")
    if null >= 0.5 * score:
        return text + (": the raw number mostly measures sentence length and dimensionality, not alignment. "
                       "Everything below uses the excess.")
    return text + ": here the raw score is not dominated by its baseline, but for comparability everything below uses the excess."


def statement(result: dict) -> str:
    """The finding-1 verdict (Markdown), decided from :func:`rank_dependence`'s numbers.

    No aligned model → no ranking to compare; a family split (exact test, within > across,
    p < alpha) → the ranking splits by family; W above its permutation null → the metrics agree;
    otherwise, when some pair of metrics ranks the models in reliably opposite order (the bootstrap CI
    of their τ lies below 0, ``result["reversed_pairs"]``) → the metrics disagree; else agreement is
    *not shown* -- failing to find agreement is not evidence that the metrics disagree.
    """
    split, alpha = result["split"], result["alpha"]
    by_family = split["within_by_family"]
    geo, cov = by_family.get("geometric", float("nan")), by_family.get("covariance", float("nan"))
    if result["n_aligned"] == 0:
        verdict = ("**No model aligns with the EEG here**, so there is no ranking to compare: whatever "
                   "order the metrics give is the order of null-level scores.")
    elif split["p_value"] < alpha and split["difference"] > 0:
        verdict = "**The ranking of models splits by metric family.**"
    elif result["w_perm_p"] < alpha:
        verdict = "**The metrics broadly agree** (W above its permutation null) and show no reliable family split."
    elif result.get("reversed_pairs"):
        pairs = ", ".join(f"{a} vs {b}" for a, b in result["reversed_pairs"])
        verdict = ("**The metrics disagree**: some rank the models in reliably opposite order (bootstrap CI of τ "
                   f"below 0: {pairs}), but not systematically by family.")
    else:
        verdict = ("**Agreement between the metrics is not shown** (W does not beat its permutation null), and "
                   "neither is disagreement (no pair of metrics ranks the models in reliably opposite order).")
    return (
        f"Rankings agree within a metric family with mean τ = {split['within']:.2f} (geometric "
        f"{geo:.2f}, covariance-based {cov:.2f}) and across families with mean τ = {split['across']:.2f}; "
        f"exact relabelling test over {split['n_relabelings']} family assignments: p = {split['p_value']:.3f}. "
        + verdict
    )
