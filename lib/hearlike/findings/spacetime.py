"""Finding 2 — where in depth, time and scalp alignment peaks.

:func:`spatiotemporal` computes everything the chapter shows from a metric grid (depth profiles
with CIs, each model's peak layer and its FWE-corrected p-value, the paired test of the target
(N400) window against every other window, the region × window map of the best model);
:func:`depth_statement`, :func:`window_statement` and :func:`region_statement` decide each
section's verdict and :func:`statement` joins them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from .common import ALPHA, at_layers, check_choice, code_list, crossfit_peak_layers, group_p_values, peak_layers

logger = logging.getLogger(__name__)


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

    ``layers`` has dims (model,) or (model, subject); the latter from :func:`crossfit_peak_layers`,
    so that the layer of each subject was not chosen on that subject's own data.

    Returns
    -------
    Dataset
        ``excess`` (model, window, subject), ``mean`` (model, window), ``low``/``high`` (bootstrap
        CI over subjects), ``difference`` (model, other_window) target minus other window and its
        sign-flip ``p_value`` (one-sided, target > other; :func:`hearlike.stats.sign_flip_test`) with
        Holm correction over windows ``p_holm`` (:func:`hearlike.stats.holm`). When the grid keeps
        per-sentence scores, ``p_value`` is the larger of the test over subjects (``p_subject``) and
        the same test over sentences (``p_item``, the subject-mean per-sentence difference): as for
        the group tests, a model's RDM is the same for every subject, so with sentences fixed a chance
        match between a random model and EEG structure all subjects share repeats in every subject
        (``bench/calibration.py``: random-state models then "show" the N400 rise on the planted demo).
    """
    cell = at_layers(grid["excess"].sel(metric=metric, region=region), layers)
    ci = stats.bootstrap_ci(cell, dim="subject", seed=seed)
    others = [w for w in cell["window"].values if w != target]
    diff = (cell.sel(window=target) - cell.sel(window=others)).rename(window="other_window")
    p_subject = stats.sign_flip_test(diff, dim="subject", seed=seed)
    p, extra = p_subject, {}
    if "sentence_excess" in grid:
        # sentences are random too: the same difference per sentence (subject mean), sign-flipped over
        # sentences; a sentence missing from a window (NaN) contributes 0, which every flip leaves alone
        per_item = at_layers(grid["sentence_excess"].sel(metric=metric, region=region), layers).mean("subject")
        item_diff = (per_item.sel(window=target) - per_item.sel(window=others)).rename(window="other_window")
        p_item = stats.sign_flip_test(item_diff.fillna(0.0), dim="sentence", seed=seed)
        p = np.fmax(p_subject, p_item.drop_vars(["n_words"], errors="ignore"))
        extra = {"p_subject": p_subject, "p_item": p_item}
    holm = xr.apply_ufunc(stats.holm, p, input_core_dims=[["other_window"]], output_core_dims=[["other_window"]],
                          vectorize=True)
    return xr.Dataset({"excess": cell, "mean": ci["estimate"], "low": ci["low"], "high": ci["high"],
                       "difference": diff.mean("subject"), "p_value": p, "p_holm": holm, **extra})


def peak_table(grid: xr.Dataset, profile: xr.Dataset, peaks: xr.DataArray, *, metric: str, window: str,
               region: str = "all") -> pd.DataFrame:
    """One row per model: its peak layer, relative depth, component, excess with CI and p (FWE).

    The FWE family is layers × windows × regions of ``metric`` (:func:`group_p_values`).
    """
    p_fwe = group_p_values(grid.sel(metric=[metric]))["p_fwe"].sel(metric=metric, window=window, region=region)
    rows = []
    for model in grid["model"].values:
        layer = peaks.sel(model=model).item()
        at = dict(model=model, layer=layer)
        low, high = float(profile["low"].sel(**at)), float(profile["high"].sel(**at))
        rows.append({
            "model": model, "peak layer": layer, "relative depth": float(peaks.sel(model=model)["relative_depth"]),
            "component": str(peaks.sel(model=model)["component"].item()),
            "excess": float(profile["estimate"].sel(**at)), "95% CI": f"[{low:.3f}, {high:.3f}]",
            "p (FWE)": float(p_fwe.sel(**at)),
        })
    return pd.DataFrame(rows).set_index("model")


def window_table(contrast: xr.Dataset) -> pd.DataFrame:
    """Target minus each other window and its Holm-corrected p, one row per model."""
    return pd.concat({"target − other": contrast["difference"].to_pandas().round(4),
                      "p (Holm)": contrast["p_holm"].to_pandas().round(4)}, axis=1)


def spatiotemporal(grid: xr.Dataset, *, metric: str, target_window: str, region: str = "all", seed: int = 0,
                   alpha: float = ALPHA) -> dict:
    """Everything finding 2 shows from the metric grid (the searchlight is the pipeline's).

    Parameters
    ----------
    grid : Dataset
        From :func:`hearlike.pipeline.metric_grid`.
    metric : str
        The chapter's alignment metric.
    target_window : str
        The window tested against every other (the N400 window); a window name of the grid.
    region : str
        Region of the depth and window profiles.
    seed : int
        Seeds bootstrap CIs and random sign flips.
    alpha : float
        Significance level of the verdicts.

    Returns
    -------
    dict
        ``profile``, ``peaks``, ``peak_table``, ``best_model`` (highest peak excess) with
        ``best_layer``, ``best_depth``, ``best_excess``, ``best_p``; ``median_peak_depth``,
        ``n_significant`` (peaks with p_FWE < alpha), ``n_models``; ``contrast``
        (:func:`window_contrast` at cross-fitted layers, :func:`crossfit_peak_layers`),
        ``window_table``, ``n400_models`` (target beats every other window, Holm p < alpha); ``region_map`` (region, window) of the best model's peak layer,
        ``top_region`` and ``top_region_excess`` in the target window; ``metric``,
        ``target_window``, ``region``, ``alpha``.
    """
    check_choice(grid, "metric", metric, parameter="metric")
    check_choice(grid, "window", target_window, parameter="target_window")
    check_choice(grid, "region", region, parameter="region")
    profile = depth_profile(grid, metric=metric, window=target_window, region=region, seed=seed)
    peaks = peak_layers(grid, metric=metric, window=target_window, region=region)
    table = peak_table(grid, profile, peaks, metric=metric, window=target_window, region=region)
    best = str(table["excess"].idxmax())
    # the window test runs at layers chosen on the other half of the subjects: choosing each model's
    # peak in the target window and then testing that window on the same data would favour it
    crossfit = crossfit_peak_layers(grid, metric=metric, window=target_window, region=region)
    contrast = window_contrast(grid, metric=metric, layers=crossfit, target=target_window, region=region, seed=seed)
    n400 = [str(m) for m in contrast["model"].values if bool((contrast["p_holm"].sel(model=m) < alpha).all())]
    region_map = grid["excess"].sel(model=best, layer=peaks.sel(model=best).item(), metric=metric).mean("subject")
    in_target = region_map.sel(window=target_window).drop_sel(region="all", errors="ignore")
    top_region = str(in_target.idxmax("region").item()) if in_target.sizes["region"] else "all"
    return {
        "profile": profile, "peaks": peaks, "peak_table": table, "best_model": best,
        "best_layer": str(peaks.sel(model=best).item()), "best_depth": float(table.loc[best, "relative depth"]),
        "best_excess": float(table.loc[best, "excess"]), "best_p": float(table.loc[best, "p (FWE)"]),
        "median_peak_depth": float(table["relative depth"].median()),
        "n_significant": int((table["p (FWE)"] < alpha).sum()), "n_models": len(table),
        "contrast": contrast, "window_table": window_table(contrast), "n400_models": n400,
        "region_map": region_map, "top_region": top_region,
        "top_region_excess": float(region_map.sel(window=target_window, region=top_region)),
        "metric": metric, "target_window": target_window, "region": region, "alpha": alpha,
    }


def compare_summary(grid: xr.Dataset, *, metric: str, target_window: str, region: str = "all",
                    seed: int = 0, dataset: str = "", window_label: str | None = None, alpha: float = ALPHA
                    ) -> tuple[xr.Dataset, xr.DataArray, str]:
    """Depth profile, peaks and a one-line Markdown summary of a second grid (e.g. the null twin).

    ``window_label`` names the target window in prose (default: its name followed by "ms").

    Returns
    -------
    profile, peaks, summary
        As in :func:`spatiotemporal`; ``summary`` lists each model's peak layer, excess and p_FWE, and
        ends with the verdict: no significant peak, or the models with one (p_FWE < ``alpha``).
    """
    profile = depth_profile(grid, metric=metric, window=target_window, region=region, seed=seed)
    peaks = peak_layers(grid, metric=metric, window=target_window, region=region)
    table = peak_table(grid, profile, peaks, metric=metric, window=target_window, region=region)
    rows = [f"`{m}` {row['peak layer']}: excess {row['excess']:.3f}, p_FWE = {row['p (FWE)']:.3g}"
            for m, row in table.iterrows()]
    label = window_label or f"{target_window} ms"
    significant = [str(m) for m in table.index[table["p (FWE)"] < alpha]]
    verdict = (f" **No model's peak is significant** (FWE-corrected *p* ≥ {alpha:g})." if not significant else
               f" **Significant peak** (FWE-corrected *p* < {alpha:g}): {code_list(significant)}.")
    return profile, peaks, f"Peak layers in `{dataset}` ({label}): " + "; ".join(rows) + "." + verdict


def ceiling_statement(result: dict, grid: xr.Dataset, rdms: xr.DataArray, *, seed: int = 0) -> str:
    """Markdown: the RSA noise ceiling of the target window beside each model's peak score.

    Leave-one-subject-out bounds (:func:`hearlike.stats.noise_ceiling`, as rsatoolbox reports them)
    and the split-half Spearman-Brown ceiling (:func:`hearlike.stats.split_half_ceiling`) of the
    EEG RDMs (``rdms`` from :func:`hearlike.grid.eeg_rdms` for the window and region of ``result``);
    each model's raw subject-mean score at its peak layer is set beside the upper bound. Only RSA
    metrics have such a ceiling; for others the statement says so.
    """
    metric = result["metric"]
    method = {"spearman_rsa": "spearman", "pearson_rsa": "pearson"}.get(metric)
    if method is None:
        return f"*A noise ceiling is defined here for RSA only, not for `{metric}`.*"
    at = dict(window=result["target_window"], region=result["region"])
    nc = stats.noise_ceiling(rdms, method=method).sel(**at)
    sh = stats.split_half_ceiling(rdms, seed=seed).sel(**at)
    lower, upper = float(nc["lower"]), float(nc["upper"])
    score = at_layers(grid["score"].sel(metric=metric, **at), result["peaks"]).mean("subject")
    rows = [f"`{m}` {float(score.sel(model=m)):.3f} ({float(score.sel(model=m)) / upper:.0%} of the upper bound)"
            for m in score["model"].values]
    return (f"Noise ceiling of `{metric}` in this window: lower bound {lower:.3f}, upper bound {upper:.3f} "
            f"(leave-one-subject-out); split-half reliability {float(sh['split_half']):.3f}, Spearman-Brown "
            f"ceiling {float(sh['ceiling']):.3f}. Raw scores at each model's peak layer: " + "; ".join(rows) + ".")


def timing_table(scores: xr.Dataset, *, n_permutations: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Plain vs timing-controlled Spearman RSA per model, from :func:`hearlike.timing.timing_controlled_rsa`.

    Columns: ``plain`` and ``partial`` (mean over subjects and sentences), ``timing share`` (the part
    of the plain score that the onset-gap and duration RDMs account for, ``1 - partial / plain``;
    NaN when the plain score is not positive) and ``p (partial)``: sentences random, a sign flip of
    the subject-mean per-sentence partial scores (:func:`hearlike.stats.sign_flip_null`), one-sided.
    """
    per_item = scores["partial"].mean("subject")
    null = stats.sign_flip_null(per_item, dim="sentence", n_permutations=n_permutations, seed=seed)
    p = stats.exceedance_p(null.isel(permutation=0).values, null.values, null_includes_observed=True)
    plain = scores["plain"].mean(["subject", "sentence"]).to_pandas()
    partial = scores["partial"].mean(["subject", "sentence"]).to_pandas()
    share = (1 - partial / plain).where(plain > 0)
    return pd.DataFrame({"plain": plain, "partial": partial, "timing share": share,
                         "p (partial)": pd.Series(p, index=per_item["model"].values)})


def timing_statement(table: pd.DataFrame, *, window_label: str, alpha: float = ALPHA) -> str:
    """Markdown: how much of each model's alignment is timing, from :func:`timing_table`."""
    rows = []
    for model, row in table.iterrows():
        share = "" if not np.isfinite(row["timing share"]) else f", {row['timing share']:.0%} of it timing"
        verdict = "significant" if row["p (partial)"] < alpha else "not significant"
        rows.append(f"`{model}` {row['plain']:.3f} → {row['partial']:.3f}{share} ({verdict}, *p* = {row['p (partial)']:.3g})")
    return (f"Spearman RSA at each model's peak layer in {window_label}, plain → with the words' onset-gap and "
            f"duration RDMs partialled out of both sides (sentences random): " + "; ".join(rows) + ".")


def depth_statement(result: dict) -> str:
    """Depth verdict (Markdown): how many models' peaks are significant, and the strongest one."""
    alpha, n = result["alpha"], result["n_significant"]
    if n:
        head = f"{n} of {result['n_models']} models have a significant peak (FWE-corrected *p* < {alpha:g})."
    else:
        head = (f"**No model's peak is significant** (every FWE-corrected *p* ≥ {alpha:g}): the profiles show "
                "null-level excess, and the peak depths locate noise.")
    return (f"{head} The strongest alignment is `{result['best_model']}` at relative depth "
            f"{result['best_depth']:.2f} (excess = {result['best_excess']:.4f}, FWE-corrected *p* = "
            f"{result['best_p']:.3g}); across models the median peak depth is {result['median_peak_depth']:.2f}.")


def window_statement(result: dict, *, window_label: str | None = None) -> str:
    """Time verdict (Markdown): in which models the target window beats every other window.

    ``window_label`` names the target window in prose (default: its name followed by "ms").
    """
    label = window_label or f"{result['target_window']} ms"
    models, alpha = result["n400_models"], result["alpha"]
    test = f"(paired sign-flip tests over subjects, Holm-corrected *p* < {alpha:g})"
    if not models:
        return (f"**In none of the {result['n_models']} models does the {label} window align better than every "
                f"other window** {test}.")
    return (f"In {len(models)} of {result['n_models']} models the {label} window aligns better than *every* other "
            f"window {test}: {code_list(models)}.")


def region_statement(result: dict, *, window_label: str | None = None) -> str:
    """Scalp verdict (Markdown): the best model's best region in the target window, and whether it means anything."""
    label = window_label or f"{result['target_window']} ms"
    text = (f"In the {label} window the best-aligned region of `{result['best_model']}`'s peak layer is "
            f"`{result['top_region']}` (excess {result['top_region_excess']:.3f})")
    if result["best_p"] < result["alpha"]:
        return text + "."
    return text + "; that layer's peak is not significant, so the map locates noise."


def statement(result: dict, *, window_label: str | None = None) -> str:
    """The finding-2 verdict (Markdown): depth, time and scalp statements in order."""
    return " ".join([depth_statement(result), window_statement(result, window_label=window_label),
                     region_statement(result, window_label=window_label)])
