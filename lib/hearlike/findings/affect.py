"""Finding 3 — does negative prosody dissociate geometric from covariance-based alignment?

:func:`tnc_summary` counts the TNC labels and checks them against planted labels;
:func:`dissociation` computes the length-matched, stratified permutation contrast of
negative-prosody vs other sentences per metric and family (:func:`prosody_contrast`) at each
model's peak layer; :func:`statement` decides the verdict and :func:`sensitivity_statement` says
how it depends on the TNC parameters (:func:`contrast_sensitivity`). Every label shuffle stays
within strata of sentence length and speech rate, and every test of a difference is two-sided.

Beside the reference study: :func:`label_agreement` and :func:`circularity_statement` set the
three-view labels beside labels from prosody and text alone (the model view is circular where its
model generated the EEG, :func:`generator_models`); :func:`study_scores` computes the study's own
"TNC", a per-sentence mediation score (:mod:`hearlike.tnc.score`), and relates it to the labels
(:func:`study_score_statement`).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from .common import ALPHA, at_layers, check_choice, code_list, peak_layers, plural

logger = logging.getLogger(__name__)


def length_strata(n_words: np.ndarray, *, bin_words: int = 2) -> np.ndarray:
    """Stratum index of each sentence: its word count in bins of ``bin_words`` words."""
    return (np.asarray(n_words) // bin_words).astype(int)


def rate_strata(rate: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Split every length stratum at its median speech rate: stratum index ``2 * length_stratum + (rate > median)``.

    Sentences with NaN rate fall in the slow half. Used so that a condition spoken more slowly
    (e.g. planted negative prosody) is compared with sentences of like length *and* tempo.
    """
    rate = np.asarray(rate, dtype=float)
    fast = np.zeros(rate.shape, dtype=int)
    for s in np.unique(strata):
        in_s = (strata == s) & np.isfinite(rate)
        if in_s.sum() >= 2:
            fast[in_s] = (rate[in_s] > np.median(rate[in_s])).astype(int)
    return 2 * np.asarray(strata) + fast


def speech_rate(table: pd.DataFrame) -> pd.Series:
    """Words per second of each sentence (index ``sentence_id``), from a stimulus table's word onsets/offsets."""
    by = table.groupby("sentence_id")
    duration = by["offset_s"].max() - by["onset_s"].min()
    return (by["word"].size() / duration).rename("speech_rate")


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
                     bin_words: int = 2, n_permutations: int = 2000, seed: int = 0,
                     rate: pd.Series | None = None) -> xr.Dataset:
    """Length-matched contrast of negative-prosody vs other sentences, per metric and per family.

    Sentence scores are standardised per model × metric (z over sentences), so effects are in SD
    units and comparable across metric families. Sentences are stratified by length (word count in
    bins of ``bin_words``); the contrast is a stratum-weighted difference of means; its null shuffles
    the condition labels *within strata* — the same shuffles for every metric and model, so the
    family × prosody interaction (covariance-family effect minus geometric-family effect) is tested
    with the same permutations. Every p-value is :func:`hearlike.stats.permutation_p_value`'s.

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
    rate : Series, index sentence_id, optional
        Speech rate (words/s, :func:`speech_rate`); when given, each length stratum is split at its
        median rate (:func:`rate_strata`), so the contrast is matched for tempo too.

    Returns
    -------
    Dataset
        ``effect`` (model, metric), ``p_lower`` / ``p_higher`` (one-sided: negative lower /
        higher), ``family_effect`` (model, family), ``interaction`` (model) = covariance − geometric
        family effect with ``p_interaction`` (two-sided: the direction is read from the data), and
        pooled-over-models versions ``interaction_all`` / ``p_interaction_all`` (two-sided); attrs
        count sentences used and excluded and say whether strata include speech rate.
    """
    scores = sentence_scores.transpose("model", "metric", "sentence")
    ids = np.asarray(scores["sentence"].values).astype(str)
    keep = np.isin(ids, negative.index.astype(str))
    scores = scores.isel(sentence=np.nonzero(keep)[0])
    labels = negative.reindex(ids[keep]).to_numpy(dtype=bool)
    strata = length_strata(scores["n_words"].values, bin_words=bin_words)
    if rate is not None:
        strata = rate_strata(rate.reindex(ids[keep]).to_numpy(dtype=float), strata)
    z = (scores - scores.mean("sentence")) / scores.std("sentence", ddof=1)
    values = z.values  # (model, metric, sentence)
    fam = np.asarray(families.sel(metric=scores["metric"]).values).astype(str)
    cov, geo = fam == "covariance", fam == "geometric"
    rng = np.random.default_rng(seed)
    null = np.stack([_stratified_difference(values, _permute_within(labels, strata, rng), strata)
                     for _ in range(n_permutations)])  # (perm, model, metric)
    effect = xr.DataArray(_stratified_difference(values, labels, strata), dims=("model", "metric"))
    null = xr.DataArray(null, dims=("permutation", "model", "metric"))

    def interaction(e):  # covariance-family minus geometric-family mean effect, per model
        return e.isel(metric=np.nonzero(cov)[0]).mean("metric") - e.isel(metric=np.nonzero(geo)[0]).mean("metric")

    fam_names = [f for f in ("geometric", "covariance") if (fam == f).any()]
    family_effect = np.stack([effect.values[:, fam == f].mean(-1) for f in fam_names], axis=-1)
    used_strata = [s for s in np.unique(strata) if labels[strata == s].any() and (~labels[strata == s]).any()]
    in_used = np.isin(strata, used_strata)
    p = stats.permutation_p_value
    out = xr.Dataset(
        {
            "effect": effect,
            "p_lower": p(effect, null, tail="less"),
            "p_higher": p(effect, null),
            "family_effect": (("model", "family"), family_effect),
            "interaction": interaction(effect),
            "p_interaction": p(interaction(effect), interaction(null), tail="two-sided"),
            "interaction_all": interaction(effect).mean("model"),
            "p_interaction_all": p(interaction(effect).mean("model"), interaction(null).mean("model"),
                                   tail="two-sided"),
        },
        coords={"model": scores["model"].values, "metric": scores["metric"].values, "family": fam_names,
                "metric_family": ("metric", fam)},
    )
    out.attrs.update(
        n_negative=int((labels & in_used).sum()), n_other=int((~labels & in_used).sum()),
        n_excluded_unlabelled=int((~keep).sum()), n_excluded_unmatched_length=int((~in_used).sum()),
        bin_words=bin_words, n_permutations=n_permutations, seed=seed, rate_stratified=rate is not None,
    )
    return out


def contrast_sensitivity(sentence_scores: xr.DataArray, sensitivity: pd.DataFrame, embeddings, seeds, *,
                         families: xr.DataArray, model: str | None = None, bin_words: int = 2,
                         n_permutations: int = 500, seed: int = 0, rate: pd.Series | None = None) -> pd.DataFrame:
    """The family × prosody interaction for every TNC setting of a sensitivity table.

    Parameters
    ----------
    sentence_scores, families, bin_words, seed, rate
        As for :func:`prosody_contrast` (pass ``rate`` to stratify by speech rate as the main contrast does).
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
        leaves fewer than two sentences in a condition or no stratum holds both); attr
        ``n_permutations``.
    """
    from ..tnc import tnc_labels

    rows = []
    for k, theta in sensitivity[["k", "theta"]].itertuples(index=False):
        labels = tnc_labels(embeddings, seeds, k=int(k), theta=float(theta))
        included = labels["label"].isin(["negative", "non-negative"])
        negative = labels.loc[included, "label"] == "negative"
        row = {"k": k, "theta": theta, "interaction": np.nan, "p_interaction": np.nan}
        if negative.sum() >= 2 and (~negative).sum() >= 2:
            try:
                c = prosody_contrast(sentence_scores, negative, families=families, bin_words=bin_words,
                                     n_permutations=n_permutations, seed=seed, rate=rate)
                if model is None:
                    row.update(interaction=float(c["interaction_all"]), p_interaction=float(c["p_interaction_all"]))
                else:
                    row.update(interaction=float(c["interaction"].sel(model=model)),
                               p_interaction=float(c["p_interaction"].sel(model=model)))
            except ValueError as err:
                logger.info("TNC setting k=%s theta=%s: %s", k, theta, err)
        rows.append(row)
    out = sensitivity.merge(pd.DataFrame(rows), on=["k", "theta"], how="left")
    out.attrs["n_permutations"] = n_permutations
    return out


def tnc_summary(labels: pd.DataFrame, planted: pd.Series | None) -> dict:
    """Counts of the TNC labels and, where the stimuli carry planted labels, TNC's precision and recall.

    Parameters
    ----------
    labels : DataFrame
        From :func:`hearlike.tnc.tnc_labels` (column ``label``; attrs ``k``, ``theta``).
    planted : Series of bool or None
        Planted negative prosody per sentence (demo only).

    Returns
    -------
    dict
        ``n_negative``, ``n_non_negative``, ``n_ambiguous``, ``k``, ``theta``, ``crosstab``
        (DataFrame or None), ``precision``, ``recall`` (NaN without planted labels) and ``note``
        (Markdown).
    """
    counts = labels["label"].value_counts()
    out = {f"n_{name.replace('-', '_')}": int(counts.get(name, 0)) for name in ("negative", "non-negative", "ambiguous")}
    out.update(k=int(labels.attrs.get("k", 0)), theta=float(labels.attrs.get("theta", 0)), crosstab=None,
               precision=float("nan"), recall=float("nan"),
               note="This dataset has no planted labels to check TNC against.")
    if planted is None:
        return out
    truth = planted.reindex(labels.index)
    tnc_negative = labels["label"] == "negative"
    out["crosstab"] = pd.crosstab(labels["label"], truth.map({True: "planted negative", False: "planted other"}))
    out["precision"] = float(truth[tnc_negative].mean()) if tnc_negative.any() else float("nan")
    out["recall"] = float(tnc_negative[truth.fillna(False).astype(bool)].mean())
    out["note"] = (f"Against the demo's planted prosody labels, TNC's precision is {out['precision']:.2f} "
                   f"and its recall {out['recall']:.2f}.")
    return out


def dissociation(grid: xr.Dataset, labels: pd.DataFrame, *, metrics: Sequence[str], peak_metric: str,
                 target_window: str, region: str = "all", bin_words: int = 2, n_permutations: int = 2000,
                 seed: int = 0, alpha: float = ALPHA, rate: pd.Series | None = None,
                 sentence_grid: xr.Dataset | None = None) -> dict:
    """Everything finding 3 shows about the contrast, from the grid and the TNC labels.

    Per-sentence excess at each model's peak layer (picked by ``peak_metric`` in ``target_window``),
    averaged over subjects, for the ``metrics``; TNC-negative vs non-negative sentences compared by
    :func:`prosody_contrast` (strata of length, and of speech rate when ``rate`` is given).
    ``sentence_grid`` (optional; same models and layers) supplies the per-sentence excess instead of
    ``grid``: the book passes the grid under the within-sentence word-shuffle null
    (:func:`hearlike.pipeline.within_sentence_grid`), whose null keeps each sentence's own EEG and so
    its small-n baseline. Under the timing-preserving ``shift`` null the baseline comes from other
    stretches of the recording, and a condition that changes the EEG's own structure (a slower,
    negative prosody) then moves the biased metrics' excess for *any* model: random-state models show
    a "significant interaction" on the planted demo (``bench/calibration.py``). When no contrast can be computed (e.g. TNC labels no sentence
    negative in a length stratum that holds other sentences) the result says why.

    Returns
    -------
    dict
        ``per_sentence`` (model, metric, sentence), ``peaks`` (the layer per model), ``negative`` (bool Series), ``contrast``
        (Dataset or None), ``reason`` (str, empty when computed), ``effects`` (DataFrame: family
        effects, interaction and its p per model), ``numbers`` (scalars to glue:
        ``interaction_all``, ``p_interaction_all``, ``geo_effect``, ``cov_effect`` (SD, pooled over
        models), ``n_used_negative``, ``n_used_other``, ``n_unmatched``), ``alpha``,
        ``target_window``, ``n_permutations``.
    """
    check_choice(grid, "window", target_window, parameter="target_window")
    check_choice(grid, "metric", peak_metric, parameter="peak_metric")
    peaks = peak_layers(grid, metric=peak_metric, window=target_window, region=region)
    metrics = list(metrics)
    source = grid if sentence_grid is None else sentence_grid
    per_sentence = at_layers(source["sentence_excess"].sel(window=target_window, region=region, metric=metrics),
                             peaks).mean("subject")
    included = labels["label"].isin(["negative", "non-negative"])
    negative = labels.loc[included, "label"] == "negative"
    families = grid["family"].sel(metric=metrics)
    out = {"per_sentence": per_sentence, "negative": negative, "families": families, "contrast": None, "reason": "",
           "peaks": peaks,
           "effects": pd.DataFrame(), "alpha": alpha, "target_window": target_window, "n_permutations": n_permutations}
    numbers = dict.fromkeys(["interaction_all", "p_interaction_all", "geo_effect", "cov_effect"], float("nan"))
    try:
        contrast = prosody_contrast(per_sentence, negative, families=families, bin_words=bin_words,
                                    n_permutations=n_permutations, seed=seed, rate=rate)
    except ValueError as err:
        out["reason"] = str(err)
        numbers.update(n_used_negative=int(negative.sum()), n_used_other=int((~negative).sum()), n_unmatched=0)
        return out | {"numbers": numbers}
    effects = contrast["family_effect"].to_pandas().round(3)
    effects["interaction"] = contrast["interaction"].to_pandas().round(3)
    effects["p (interaction)"] = contrast["p_interaction"].to_pandas().round(4)
    pooled = contrast["family_effect"].mean("model")
    numbers.update(interaction_all=float(contrast["interaction_all"]),
                   p_interaction_all=float(contrast["p_interaction_all"]),
                   geo_effect=float(pooled.sel(family="geometric")) if "geometric" in pooled["family"] else np.nan,
                   cov_effect=float(pooled.sel(family="covariance")) if "covariance" in pooled["family"] else np.nan,
                   n_used_negative=int(contrast.attrs["n_negative"]), n_used_other=int(contrast.attrs["n_other"]),
                   n_unmatched=int(contrast.attrs["n_excluded_unmatched_length"]))
    return out | {"contrast": contrast, "effects": effects, "numbers": numbers}


def contrast_statement(contrast: xr.Dataset, *, alpha: float = ALPHA) -> str:
    """The verdict on a :func:`prosody_contrast` (Markdown), its direction read from the data.

    Per model, the family × prosody interaction is tested two-sided and Holm-corrected over models.
    A significant model shows the *dissociation* when its family effects have opposite signs --
    stated in the direction found (geometric down and covariance up, or the reverse) -- or else
    a family difference without opposite signs. The statement names, for each dissociating model,
    the metrics that fall and rise significantly.
    """
    p_holm = stats.holm(np.asarray(contrast["p_interaction"].values, dtype=float))
    models = [str(m) for m in contrast["model"].values]
    fe = contrast["family_effect"]
    as_expected, reversed_, different = [], [], []
    for model, p in zip(models, p_holm):
        geo, cov = float(fe.sel(model=model, family="geometric")), float(fe.sel(model=model, family="covariance"))
        if not p < alpha:
            continue
        (as_expected if geo < 0 < cov else reversed_ if cov < 0 < geo else different).append(model)
    parts = []
    for group, lower, higher in ((as_expected, "geometric similarity", "covariance-based dependence"),
                                 (reversed_, "covariance-based dependence", "geometric similarity")):
        if not group:
            continue
        parts.append(f"**In {len(group)} of {len(models)} models negative prosody lowers {lower} but raises "
                     f"{higher}** (two-sided interaction, Holm-corrected p < {alpha}): " + code_list(group) + ".")
        for model in group:
            c = contrast.sel(model=model)
            down = [str(k) for k in c["metric"].values if c["p_lower"].sel(metric=k) < alpha and c["effect"].sel(metric=k) < 0]
            up = [str(k) for k in c["metric"].values if c["p_higher"].sel(metric=k) < alpha and c["effect"].sel(metric=k) > 0]
            parts.append(f"For `{model}` the metrics that fall are {', '.join(down) or 'none'}; those that rise are "
                         f"{', '.join(up) or 'none'} (one-sided p < {alpha}).")
    if different:
        parts.append(code_list(different) + f" show{'s' if len(different) == 1 else ''} a family difference "
                     "without opposite signs.")
    rest = len(models) - len(as_expected) - len(reversed_) - len(different)
    if rest:
        parts.append(f"{'The other' if parts else 'All'} {plural(rest, 'model')} show no reliable "
                     "family × prosody interaction in either direction.")
    return " ".join(parts)


def statement(result: dict) -> str:
    """The finding-3 verdict (Markdown) from :func:`dissociation`: the contrast's, or why there is none."""
    if result["contrast"] is None:
        return f"**No contrast could be computed**: {result['reason']}."
    return contrast_statement(result["contrast"], alpha=result["alpha"])


def sensitivity_statement(table: pd.DataFrame, *, model: str, alpha: float = ALPHA) -> str:
    """How the interaction of ``model`` depends on the TNC settings (Markdown), from :func:`contrast_sensitivity`."""
    if table["p_interaction"].isna().all():
        return f"For `{model}`, no TNC setting leaves both conditions in a common length stratum, so there is no contrast to vary."
    n_sig = int((table["p_interaction"] < alpha).sum())
    n_perm = table.attrs.get("n_permutations")
    shuffles = f", {n_perm} stratified shuffles each" if n_perm else ""
    return (f"For `{model}`, the interaction is significant (*p* < {alpha:g}{shuffles}) in {n_sig} of "
            f"{len(table)} TNC settings.")


# ----------------------------------------------------------------- the labels' circularity and the study's TNC score


def generator_models(data_root) -> list[str]:
    """Models whose states generated a dataset's EEG: the demo's reference models where its EEG is planted.

    Reads ``ground_truth.json`` of the data folder (written by :mod:`hearlike.demo`); ``[]`` for the
    null twin and for real data (no such file).
    """
    import json
    from pathlib import Path

    truth = Path(data_root) / "ground_truth.json"
    if not truth.is_file():
        return []
    try:
        info = json.loads(truth.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {truth}: {err}; rewrite the demo (hearlike demo)") from err
    if not info.get("planted_in_eeg"):
        return []
    return [str(info[key]["model_id"]) for key in ("oracle", "prosody_model")
            if isinstance(info.get(key), dict) and "model_id" in info[key]]  # fmt: skip


def label_agreement(labels: pd.DataFrame, other: pd.DataFrame, *, names: tuple[str, str] = ("three views", "two views")) -> dict:
    """How two TNC labellings of the same sentences agree.

    Returns
    -------
    dict
        ``crosstab`` (DataFrame, labels × labels), ``agreement`` (share of sentences with the same
        label, 0-1), ``kappa`` (Cohen's κ over the three labels; NaN when chance agreement is 1),
        ``n_negative_both``, ``n_negative`` (per labelling, a tuple) and ``n``.
    """
    from ..tnc import LABELS

    first = labels["label"].astype(str)
    second = other["label"].astype(str).reindex(first.index)
    if second.isna().any():
        raise ValueError(f"the second labelling lacks sentence(s) {list(first.index[second.isna()][:3])}")
    crosstab = pd.crosstab(first.rename(names[0]), second.rename(names[1])).reindex(
        index=list(LABELS), columns=list(LABELS), fill_value=0)
    n = len(first)
    observed = float((first == second).mean())
    expected = float((crosstab.sum(axis=1) / n * crosstab.sum(axis=0) / n).sum())
    kappa = (observed - expected) / (1 - expected) if expected < 1 - 1e-12 else float("nan")
    return {"crosstab": crosstab, "agreement": observed, "kappa": float(kappa), "n": n,
            "n_negative_both": int(((first == "negative") & (second == "negative")).sum()),
            "n_negative": (int((first == "negative").sum()), int((second == "negative").sum()))}


def circularity_statement(model: str, generators: Sequence[str], agreement: dict) -> str:
    """Whether the TNC model view is circular on these data, and how labels without it agree (Markdown)."""
    if model in generators:
        head = (f"**The labels are partly circular here**: the model view uses `{model}`, whose states generated "
                "this dataset's EEG (the demo's reference model), so the model's vote on which sentences are "
                "negative comes from the same planted quantities as the EEG being compared.")
    else:
        head = f"The model view uses `{model}`, which did not generate this dataset's EEG."
    first, second = agreement["n_negative"]
    return (f"{head} Labels from the prosody and text views alone (the same rule without the model view) agree "
            f"with the three-view labels on {agreement['agreement']:.0%} of {agreement['n']} sentences "
            f"(Cohen's κ = {agreement['kappa']:.2f}); {first} sentences are negative with three views, {second} "
            f"with two, {agreement['n_negative_both']} with both.")


def _rank_r(ranks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pearson r of fixed ranks ``(n,)`` with 0/1 labels ``(..., n)`` (rank point-biserial)."""
    a = ranks - ranks.mean()
    b = labels - labels.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (b * a).sum(-1) / np.sqrt((a * a).sum() * (b * b).sum(-1))


def study_scores(prosody: pd.DataFrame, eeg: xr.DataArray, states: dict, labels: pd.DataFrame, *,
                 rate: pd.Series | None = None, bin_words: int = 2, n_permutations: int = 2000, seed: int = 0,
                 min_abs_r: float = 1e-6, min_items: int = 4) -> dict:
    """The reference study's TNC score per model and sentence, and how it relates to hearlike's TNC labels.

    Parameters
    ----------
    prosody : DataFrame
        Per-word prosody (:func:`hearlike.prosody.word_prosody`).
    eeg : DataArray, dims (subject, word, feature)
        :func:`hearlike.tnc.eeg_word_vectors` of the finding's window and region.
    states : dict of str to DataArray (word, feature)
        One layer per model (e.g. its peak layer).
    labels : DataFrame
        :func:`hearlike.tnc.tnc_labels` (column ``label``).
    rate, bin_words
        As for :func:`prosody_contrast`: label shuffles stay within strata of length (and speech rate).
    min_abs_r, min_items
        As for :func:`hearlike.tnc.sentence_triangulated_scores` (``min_items`` is raised to 4 if lower).

    Returns
    -------
    dict
        ``scores`` (DataFrame, one row per model × sentence: the columns of
        :func:`hearlike.tnc.sentence_triangulated_scores` plus ``label``), ``summary`` (DataFrame
        per model: ``n_defined``, the undefined counts, ``median_score``, ``median_negative``,
        ``median_other``, ``r_negative`` -- rank correlation of the score with TNC-negative
        membership among labelled sentences with a defined score -- its two-sided stratified
        permutation ``p`` and Holm-corrected ``p_holm``), ``n_sentences``, ``n_permutations``.
    """
    from ..tnc import UNDEFINED_REASONS, sentence_triangulated_scores

    rows, summary = [], []
    for model, layer in states.items():
        table = sentence_triangulated_scores(prosody, eeg, layer, min_abs_r=min_abs_r, min_items=max(4, min_items))
        table["label"] = labels["label"].reindex(table.index)
        rows.append(table.assign(model=model).reset_index())
        used = table[table["label"].isin(["negative", "non-negative"]) & table["score"].notna()]
        negative = (used["label"] == "negative").to_numpy(float)
        row = {"model": model, "n_defined": table.attrs["n_defined"],
               **{f"n_{reason.replace(' ', '_').replace('-', '_').lower()}": table.attrs["counts"][reason]
                  for reason in UNDEFINED_REASONS},
               "median_score": float(table["score"].median()),
               "median_negative": float(used["score"][negative == 1].median()),
               "median_other": float(used["score"][negative == 0].median()),
               "n_used": len(used), "r_negative": np.nan, "p": np.nan}
        if negative.sum() >= 2 and (1 - negative).sum() >= 2:
            strata = length_strata(used["n_words"].to_numpy(), bin_words=bin_words)
            if rate is not None:
                strata = rate_strata(rate.reindex(used.index).to_numpy(dtype=float), strata)
            ranks = used["score"].rank().to_numpy(float)
            rng = np.random.default_rng(seed)
            null = np.stack([_permute_within(negative, strata, rng) for _ in range(n_permutations)])
            observed = _rank_r(ranks, negative)
            row.update(r_negative=float(observed), p=float(stats.permutation_p_value(
                xr.DataArray(observed), xr.DataArray(_rank_r(ranks, null), dims="permutation"), tail="two-sided")))
        summary.append(row)
    summary = pd.DataFrame(summary).set_index("model")
    tested = summary["p"].notna()
    summary["p_holm"] = np.nan
    if tested.any():
        summary.loc[tested, "p_holm"] = stats.holm(summary.loc[tested, "p"].to_numpy(float))
    scores = pd.concat(rows, ignore_index=True).set_index(["model", "sentence_id"])
    return {"scores": scores, "summary": summary, "n_sentences": int(scores.index.get_level_values(1).nunique()),
            "n_permutations": n_permutations, "min_abs_r": min_abs_r}


def study_score_statement(result: dict, *, alpha: float = ALPHA) -> str:
    """What the study's TNC score shows and how it relates to the TNC labels (Markdown), from :func:`study_scores`."""
    summary = result["summary"]
    n = result["n_sentences"]
    defined = summary["n_defined"]
    span = f"{defined.min()}" if defined.min() == defined.max() else f"{defined.min()}–{defined.max()}"
    most = summary[["n_too_few_items", "n_no_prosody_eeg_relation", "n_constant_rdm"]].max()
    parts = [f"The study's score is defined for {span} of {n} sentences per model (undefined: too few words in "
             f"{most['n_too_few_items']}, no prosody–EEG relation to explain in up to "
             f"{most['n_no_prosody_eeg_relation']}, a constant RDM in up to {most['n_constant_rdm']})."]
    medians = summary["median_score"].dropna()
    if len(medians):
        parts.append(f"Its median over sentences runs from {medians.min():.2f} (`{medians.idxmin()}`) to "
                     f"{medians.max():.2f} (`{medians.idxmax()}`) across models.")
    tested = summary.dropna(subset=["p_holm"])
    related = tested[tested["p_holm"] < alpha]
    if tested.empty:
        parts.append("No model leaves at least two TNC-negative and two other sentences with a defined score, so "
                     "its relation to the labels cannot be tested.")
    elif related.empty:
        parts.append(f"In none of {plural(len(tested), 'model')} does it differ between TNC-negative and other "
                     f"sentences (rank correlation with TNC-negative membership between {tested['r_negative'].min():+.2f} "
                     f"and {tested['r_negative'].max():+.2f}; two-sided permutation within length and speech-rate "
                     f"strata, Holm-corrected p ≥ {alpha}): the two measures called TNC do not track each other here.")
    else:
        described = ", ".join(f"`{m}` (r = {r:+.2f}, {'higher' if r > 0 else 'lower'} for TNC-negative sentences)"
                              for m, r in related["r_negative"].items())
        parts.append(f"It differs between TNC-negative and other sentences in {len(related)} of "
                     f"{plural(len(tested), 'model')} (two-sided permutation within length and speech-rate strata, "
                     f"Holm-corrected p < {alpha}): {described}.")
    return " ".join(parts)
