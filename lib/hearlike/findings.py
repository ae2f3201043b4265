"""The analyses behind the book's three findings, on a metric grid from :mod:`hearlike.grid`.

1. Rank dependence: do the metrics rank the models alike? (:func:`model_scores`,
   :func:`rank_agreement`, :func:`family_split`)
2. Spatio-temporal alignment: depth profiles, window profiles with a paired test of the N400
   window, region × window maps (:func:`depth_profile`, :func:`peak_layers`,
   :func:`window_contrast`, :func:`group_p_values`)
3. Affective dissociation: length-matched, stratified permutation contrast of negative-prosody vs
   other sentences per metric family, and their interaction (:func:`prosody_contrast`).

All functions take and return xarray objects / DataFrames with named dimensions; nothing here
reads files.
"""

from __future__ import annotations

import itertools
import logging
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import stats

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# shared selections
# ---------------------------------------------------------------------------------------------


def peak_layers(grid: xr.Dataset, *, metric: str, window: str, region: str = "all",
                value: str = "excess") -> xr.DataArray:
    """Each model's layer with the highest subject-mean ``value`` of ``metric`` in one cell.

    Returns
    -------
    DataArray, dims (model,)
        Layer labels; coords ``relative_depth`` and ``component`` of that layer.
    """
    cell = grid[value].sel(metric=metric, window=window, region=region).mean("subject")
    labels = cell.fillna(-np.inf).idxmax("layer").reset_coords(drop=True)
    depth = [float(grid["relative_depth"].sel(model=m, layer=labels.sel(model=m).item())) for m in grid["model"].values]
    comp = [str(grid["component"].sel(model=m, layer=labels.sel(model=m).item()).item()) for m in grid["model"].values]
    return labels.assign_coords(relative_depth=("model", depth), component=("model", comp)).rename("peak_layer")


def at_layers(da: xr.DataArray, layers: xr.DataArray) -> xr.DataArray:
    """Select, for every model, the layer given by ``layers`` (dims (model,) or (model, metric))."""
    return da.sel(layer=layers).drop_vars(["layer", "relative_depth", "component"], errors="ignore")


# ---------------------------------------------------------------------------------------------
# finding 1: rank dependence
# ---------------------------------------------------------------------------------------------


def model_scores(grid: xr.Dataset, *, window: str, region: str = "all", value: str = "excess",
                 metrics: Sequence[str] | None = None) -> xr.Dataset:
    """A model's score under each metric: its best layer's subject-mean ``value`` in one cell.

    Every metric picks the model's best layer for itself (the usual "peak layer" report), so a
    metric's ranking of models is the ranking of their peaks.

    Returns
    -------
    Dataset
        ``score`` (model, metric), ``per_subject`` (model, metric, subject) at the chosen layers,
        ``layer`` (model, metric) the chosen layer labels, ``rank`` (model, metric; 1 = best).
    """
    metrics = list(metrics) if metrics is not None else list(grid["metric"].values)
    cell = grid[value].sel(window=window, region=region, metric=metrics)
    mean = cell.mean("subject")
    best = mean.fillna(-np.inf).idxmax("layer").reset_coords(drop=True)
    per_subject = at_layers(cell, best)
    score = per_subject.mean("subject")
    from scipy.stats import rankdata

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
        Null samples of W; compare with the observed W:
        ``p = (1 + #{null >= observed}) / (1 + n_permutations)``.
    """
    metrics = list(metrics) if metrics is not None else list(grid["metric"].values)
    null = grid["group_null"].sel(window=window, region=region, metric=metrics)
    best = (null - null.mean("permutation")).fillna(-np.inf).max("layer")  # (model, metric, permutation)
    return stats.kendall_w(best, item_dim="model", rater_dim="metric")["w"].rename("w_null")


def aligned_models(grid: xr.Dataset, *, window: str, region: str = "all", metrics: Sequence[str] | None = None,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Which models align with the EEG at all: each model's smallest FWE-corrected group p-value
    over layers in one window and region, per metric (see :func:`group_p_values`).

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


def family_split(tau: xr.DataArray, families: xr.DataArray) -> dict:
    """Is agreement higher within a metric family than across families?

    The statistic is mean tau within families minus mean tau across families (off-diagonal
    pairs). Its null distribution relabels the metrics' families in every distinct way that keeps
    the family sizes (an exact permutation test).

    Parameters
    ----------
    tau : DataArray, dims (metric, metric_other)
        Pairwise Kendall tau between metric rankings.
    families : DataArray, dims (metric,)
        Family of each metric (``"geometric"`` / ``"covariance"``).

    Returns
    -------
    dict
        ``within``, ``across``, ``difference``, ``p_value``, ``n_relabelings``, and per-family
        mean tau ``within_by_family``.
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
    if len(names) == 2:  # every size-preserving relabelling of two families, enumerated exactly
        for combo in itertools.combinations(range(n), int(counts[0])):
            lab = np.full(n, names[1], dtype=object)
            lab[list(combo)] = names[0]
            w_, a_ = split(lab.astype(str))
            null.append(w_ - a_)
    null = np.asarray(null)
    p = float(stats.exceedance_p(observed, null, null_includes_observed=True))  # every relabelling, itself included
    by_family = {}
    for name in names:
        idx = np.nonzero(labels == name)[0]
        pairs = [(i, j) for i in idx for j in idx if i < j]
        by_family[str(name)] = float(np.mean([matrix[i, j] for i, j in pairs])) if pairs else float("nan")
    return {"within": float(within), "across": float(across), "difference": float(observed),
            "p_value": p, "n_relabelings": int(len(null)), "within_by_family": by_family}


# ---------------------------------------------------------------------------------------------
# finding 2: spatio-temporal alignment
# ---------------------------------------------------------------------------------------------


def group_p_values(grid: xr.Dataset, *, family: Sequence[str] = ("layer", "window", "region")) -> xr.Dataset:
    """Group-level (subject-mean) permutation p-values, uncorrected and max-statistic FWE-corrected.

    Uses ``grid["group_null"]`` (the subject mean under the same permutations for every cell).

    Returns
    -------
    Dataset
        ``observed`` (subject-mean score), ``p`` and ``p_fwe`` (FWE over ``family`` within every
        model × metric), dims (model, layer, window, region, metric).

    The maximum statistic is taken over cells standardised by their own null mean and SD (max-T):
    cells differ in baseline (small-n bias, timing), and on raw scores the cell with the highest
    baseline would decide every cell's correction.
    """
    observed = grid["score"].mean("subject")
    null = grid["group_null"]
    p = stats.permutation_p_value(observed, null, dim="permutation")
    p_fwe = stats.max_statistic_fwe(observed, null, dims=list(family), perm_dim="permutation", standardize=True)
    return xr.Dataset({"observed": observed, "p": p, "p_fwe": p_fwe})


def depth_profile(grid: xr.Dataset, *, metric: str, window: str, region: str = "all",
                  n_boot: int = 1000, seed: int = 0) -> xr.Dataset:
    """Alignment (excess over the null) by layer: subject mean with a bootstrap CI over subjects.

    Returns
    -------
    Dataset
        ``estimate``, ``low``, ``high`` with dims (model, layer) and coords ``relative_depth``,
        ``component``; layers a model lacks are NaN.
    """
    cell = grid["excess"].sel(metric=metric, window=window, region=region)
    ci = stats.bootstrap_ci(cell, dim="subject", n_boot=n_boot, seed=seed)
    return ci.assign_coords(relative_depth=grid["relative_depth"], component=grid["component"])


def window_contrast(grid: xr.Dataset, *, metric: str, layers: xr.DataArray, target: str,
                    region: str = "all", seed: int = 0) -> xr.Dataset:
    """Excess alignment per window at each model's given layer; paired test of ``target`` vs each other window.

    Returns
    -------
    Dataset
        ``excess`` (model, window, subject), ``mean`` (model, window), ``low``/``high`` (bootstrap
        CI over subjects), ``difference`` (model, other_window) target minus other window and its
        sign-flip ``p_value`` (one-sided, target > other) with Holm correction over windows
        ``p_holm``.
    """
    cell = at_layers(grid["excess"].sel(metric=metric, region=region), layers)
    ci = stats.bootstrap_ci(cell, dim="subject", seed=seed)
    others = [w for w in cell["window"].values if w != target]
    diff = cell.sel(window=target) - cell.sel(window=others)
    diff = diff.rename(window="other_window")
    p = stats.sign_flip_test(diff, dim="subject", seed=seed)
    holm = xr.apply_ufunc(stats.holm, p, input_core_dims=[["other_window"]], output_core_dims=[["other_window"]], vectorize=True)
    return xr.Dataset({"excess": cell, "mean": ci["estimate"], "low": ci["low"], "high": ci["high"],
                       "difference": diff.mean("subject"), "p_value": p, "p_holm": holm})


# ---------------------------------------------------------------------------------------------
# finding 3: affective dissociation
# ---------------------------------------------------------------------------------------------


def length_strata(n_words: np.ndarray, *, bin_words: int = 2) -> np.ndarray:
    """Stratum index of each sentence: its word count in bins of ``bin_words`` words."""
    return (np.asarray(n_words) // bin_words).astype(int)


def _stratified_difference(values: np.ndarray, negative: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Weighted mean over strata of (mean negative − mean other); ``values (..., sentence)``.

    Weights n_neg·n_other/(n_neg+n_other) per stratum (Cochran–Mantel–Haenszel style), so a
    sentence length never contributes to one condition only.
    """
    total = 0.0
    weight = 0.0
    for s in np.unique(strata):
        in_s = strata == s
        neg, oth = in_s & negative, in_s & ~negative
        a, b = neg.sum(), oth.sum()
        if a == 0 or b == 0:
            continue
        w = a * b / (a + b)
        total = total + w * (values[..., neg].mean(-1) - values[..., oth].mean(-1))
        weight += w
    if weight == 0:
        raise ValueError("no sentence-length stratum holds both conditions; widen the length bins")
    return total / weight


def _permute_within(labels: np.ndarray, strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = labels.copy()
    for s in np.unique(strata):
        idx = np.nonzero(strata == s)[0]
        out[idx] = labels[rng.permutation(idx)]
    return out


def prosody_contrast(sentence_scores: xr.DataArray, negative: pd.Series, *, families: xr.DataArray,
                     bin_words: int = 2, n_permutations: int = 2000, seed: int = 0) -> xr.Dataset:
    """Length-matched contrast of negative-prosody vs other sentences, per metric and per family.

    Sentence scores are standardised per model × metric (z over sentences), so effects are in SD
    units and comparable across metric families. Sentences are stratified by length (word count in
    bins of ``bin_words``); the contrast is a stratum-weighted difference of means; its null shuffles
    the condition labels *within strata* — the same shuffles for every metric and model, so the
    family × prosody interaction (covariance-family effect minus geometric-family effect) is tested
    with the same permutations.

    Parameters
    ----------
    sentence_scores : DataArray, dims (model, metric, sentence)
        e.g. subject-mean per-sentence scores at each model's peak layer in the N400 window;
        coordinate ``n_words`` on ``sentence``.
    negative : Series of bool, index sentence_id
        True for negative-prosody sentences; sentences missing from the index (e.g. TNC
        "ambiguous") are excluded and counted.
    families : DataArray, dims (metric,)
        Metric family labels ("geometric" / "covariance").

    Returns
    -------
    Dataset
        ``effect`` (model, metric), ``p_lower`` / ``p_higher`` (one-sided: negative lower /
        higher), ``family_effect`` (model, family), ``interaction`` (model) = covariance − geometric
        family effect with ``p_interaction`` (one-sided, > 0), and pooled-over-models versions
        ``interaction_all`` / ``p_interaction_all``; attrs count sentences used and excluded.
    """
    scores = sentence_scores.transpose("model", "metric", "sentence")
    ids = np.asarray(scores["sentence"].values).astype(str)
    keep = np.isin(ids, negative.index.astype(str))
    scores = scores.isel(sentence=np.nonzero(keep)[0])
    ids = ids[keep]
    labels = negative.reindex(ids).to_numpy(dtype=bool)
    strata = length_strata(scores["n_words"].values, bin_words=bin_words)
    z = (scores - scores.mean("sentence")) / scores.std("sentence", ddof=1)
    values = z.values  # (model, metric, sentence)
    observed = _stratified_difference(values, labels, strata)
    fam = np.asarray(families.sel(metric=scores["metric"]).values).astype(str)
    cov, geo = fam == "covariance", fam == "geometric"

    def interaction(effect):  # effect (..., model, metric)
        return effect[..., cov].mean(-1) - effect[..., geo].mean(-1)

    rng = np.random.default_rng(seed)
    null = np.stack([_stratified_difference(values, _permute_within(labels, strata, rng), strata)
                     for _ in range(n_permutations)])  # (perm, model, metric)
    obs_int, null_int = interaction(observed), interaction(null)
    obs_all, null_all = obs_int.mean(), null_int.mean(-1)
    coords_mm = {"model": scores["model"].values, "metric": scores["metric"].values}
    fam_names = [f for f in ("geometric", "covariance") if (fam == f).any()]
    family_effect = np.stack([observed[:, fam == f].mean(-1) for f in fam_names], axis=-1)
    used_strata = [s for s in np.unique(strata) if labels[strata == s].any() and (~labels[strata == s]).any()]
    in_used = np.isin(strata, used_strata)
    out = xr.Dataset(
        {
            "effect": (("model", "metric"), observed),
            "p_lower": (("model", "metric"), stats.exceedance_p(observed, null, axis=0, tail="less")),
            "p_higher": (("model", "metric"), stats.exceedance_p(observed, null, axis=0)),
            "family_effect": (("model", "family"), family_effect),
            "interaction": (("model",), obs_int),
            "p_interaction": (("model",), stats.exceedance_p(obs_int, null_int, axis=0)),
            "interaction_all": ((), obs_all),
            "p_interaction_all": ((), stats.exceedance_p(obs_all, null_all)),
        },
        coords={**coords_mm, "family": fam_names, "metric_family": ("metric", fam)},
    )
    out.attrs.update(
        n_negative=int((labels & in_used).sum()), n_other=int((~labels & in_used).sum()),
        n_excluded_unlabelled=int((~keep).sum()), n_excluded_unmatched_length=int((~in_used).sum()),
        bin_words=bin_words, n_permutations=n_permutations, seed=seed,
    )
    return out


def contrast_sensitivity(sentence_scores: xr.DataArray, sensitivity: pd.DataFrame, embeddings, seeds, *,
                         families: xr.DataArray, model: str | None = None, bin_words: int = 2,
                         n_permutations: int = 500, seed: int = 0) -> pd.DataFrame:
    """The family × prosody interaction for every TNC setting of a sensitivity table.

    Parameters
    ----------
    sentence_scores, families, bin_words, seed
        As for :func:`prosody_contrast`.
    sensitivity : DataFrame
        From :func:`hearlike.tnc.tnc_sensitivity` (columns ``k``, ``theta``).
    embeddings, seeds
        The TNC views (:func:`hearlike.tnc.tnc_views`).
    model : str, optional
        Report this model's interaction (default: pooled over models).

    Returns
    -------
    DataFrame
        ``sensitivity`` with ``interaction`` and ``p_interaction`` added (NaN where a setting
        leaves fewer than two sentences in a condition or no stratum holds both).
    """
    from .tnc import tnc_labels

    rows = []
    for k, theta in sensitivity[["k", "theta"]].itertuples(index=False):
        labels = tnc_labels(embeddings, seeds, k=int(k), theta=float(theta))
        included = labels["label"].isin(["negative", "non-negative"])
        negative = labels.loc[included, "label"] == "negative"
        row = {"k": k, "theta": theta, "interaction": np.nan, "p_interaction": np.nan}
        if negative.sum() >= 2 and (~negative).sum() >= 2:
            try:
                c = prosody_contrast(sentence_scores, negative, families=families, bin_words=bin_words,
                                     n_permutations=n_permutations, seed=seed)
                if model is None:
                    row.update(interaction=float(c["interaction_all"]), p_interaction=float(c["p_interaction_all"]))
                else:
                    row.update(interaction=float(c["interaction"].sel(model=model)),
                               p_interaction=float(c["p_interaction"].sel(model=model)))
            except ValueError as err:
                logger.info("TNC setting k=%s theta=%s: %s", k, theta, err)
        rows.append(row)
    return sensitivity.merge(pd.DataFrame(rows), on=["k", "theta"], how="left")


def dissociation_verdict(contrast: xr.Dataset, *, alpha: float = 0.05) -> str:
    """The finding-3 statement, decided from the numbers (Markdown).

    Per model, the family × prosody interaction is tested one-sided (covariance-based effect >
    geometric effect) and Holm-corrected over models; a model shows the *dissociation* when that
    holds with the geometric effect below zero and the covariance-based effect above it. The
    statement also names, for each such model, the metrics that fall and rise significantly.
    """
    p_holm = stats.holm(np.asarray(contrast["p_interaction"].values, dtype=float))
    models = [str(m) for m in contrast["model"].values]
    fe = contrast["family_effect"]
    dissociated, different = [], []
    for model, p in zip(models, p_holm):
        geo, cov = float(fe.sel(model=model, family="geometric")), float(fe.sel(model=model, family="covariance"))
        if p < alpha and geo < 0 < cov:
            dissociated.append(model)
        elif p < alpha:
            different.append(model)
    parts = []
    if dissociated:
        parts.append(f"**In {len(dissociated)} of {len(models)} models negative prosody lowers geometric similarity "
                     f"but raises covariance-based dependence** (Holm-corrected interaction p < {alpha}): "
                     + ", ".join(f"`{m}`" for m in dissociated) + ".")
        for model in dissociated:
            down = [str(k) for k in contrast["metric"].values if float(contrast["p_lower"].sel(model=model, metric=k)) < alpha
                    and float(contrast["effect"].sel(model=model, metric=k)) < 0]
            up = [str(k) for k in contrast["metric"].values if float(contrast["p_higher"].sel(model=model, metric=k)) < alpha
                  and float(contrast["effect"].sel(model=model, metric=k)) > 0]
            parts.append(f"For `{model}` the metrics that fall are {', '.join(down) or 'none'}; those that rise are "
                         f"{', '.join(up) or 'none'} (one-sided p < {alpha}).")
    if different:
        parts.append(", ".join(f"`{m}`" for m in different)
                     + f" show{'s' if len(different) == 1 else ''} a family difference without opposite signs.")
    rest = len(models) - len(dissociated) - len(different)
    if rest:
        parts.append(f"{'The other' if parts else 'All'} {rest} model{'s' if rest != 1 else ''} show no reliable "
                     "family × prosody interaction.")
    return " ".join(parts)
