"""Figures of the book (matplotlib / seaborn; MNE for scalp topographies).

Every function takes the xarray / pandas objects returned by :mod:`hearlike.findings` and returns
the matplotlib Figure; nothing here computes a statistic.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

FAMILY_COLORS = {"geometric": "#1b9e77", "covariance": "#d95f02"}


def _family_order(families: xr.DataArray) -> list[str]:
    """Metric names, geometric family first, then covariance-based (registry order within)."""
    names, fams = list(families["metric"].values), list(np.asarray(families.values).astype(str))
    return [m for m, f in zip(names, fams) if f == "geometric"] + [m for m, f in zip(names, fams) if f != "geometric"]


def _metric_labels(metrics, families) -> list[str]:
    return [f"{m}\n({f[:3]})" for m, f in zip(metrics, families)]


def rank_heatmap(scores: xr.Dataset, families: xr.DataArray) -> plt.Figure:
    """Model × metric ranks (1 = best) with each metric's score annotated; metrics grouped by family."""
    order = _family_order(families)
    rank = scores["rank"].sel(metric=order).transpose("model", "metric")
    score = scores["score"].sel(metric=order).transpose("model", "metric")
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(order), 0.6 + 0.5 * rank.sizes["model"]))
    annot = np.array([[f"{int(r)}\n{s:+.3f}" for r, s in zip(rr, ss)] for rr, ss in zip(rank.values, score.values)])
    sns.heatmap(rank.values, annot=annot, fmt="", cmap="viridis_r", cbar_kws={"label": "rank (1 = best)"},
                xticklabels=_metric_labels(order, families.sel(metric=order).values),
                yticklabels=rank["model"].values, ax=ax, annot_kws={"fontsize": 7})
    ax.set_xlabel("metric (family)")
    ax.set_ylabel("model")
    fig.tight_layout()
    return fig


def bump_chart(scores: xr.Dataset, families: xr.DataArray) -> plt.Figure:
    """Each model's rank across metrics (geometric first, then covariance-based)."""
    order = _family_order(families)
    rank = scores["rank"].sel(metric=order)
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(order), 3.2))
    palette = sns.color_palette("tab10", rank.sizes["model"])
    x = np.arange(len(order))
    for color, model in zip(palette, rank["model"].values):
        ax.plot(x, rank.sel(model=model).values, "-o", color=color, label=str(model), lw=2)
    n_geo = int((families.sel(metric=order).values == "geometric").sum())
    ax.axvspan(-0.5, n_geo - 0.5, color=FAMILY_COLORS["geometric"], alpha=0.08)
    ax.axvspan(n_geo - 0.5, len(order) - 0.5, color=FAMILY_COLORS["covariance"], alpha=0.08)
    ax.set_xticks(x, order, rotation=35, ha="right")
    ax.set_yticks(np.arange(1, rank.sizes["model"] + 1))
    ax.invert_yaxis()
    ax.set_ylabel("rank (1 = best)")
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def tau_matrix(tau: xr.Dataset, families: xr.DataArray) -> plt.Figure:
    """Pairwise Kendall tau between metric rankings, with bootstrap CIs in the cells."""
    order = _family_order(families)
    t = tau["tau"].sel(metric=order, metric_other=order)
    lo, hi = tau["low"].sel(metric=order, metric_other=order), tau["high"].sel(metric=order, metric_other=order)
    annot = np.array([[f"{v:.2f}\n[{a:.2f},{b:.2f}]" for v, a, b in zip(r, ra, rb)]
                      for r, ra, rb in zip(t.values, lo.values, hi.values)])
    fig, ax = plt.subplots(figsize=(1.2 + 0.95 * len(order), 0.8 + 0.8 * len(order)))
    sns.heatmap(t.values, annot=annot, fmt="", vmin=-1, vmax=1, cmap="RdBu_r", annot_kws={"fontsize": 6},
                xticklabels=order, yticklabels=order, cbar_kws={"label": "Kendall tau"}, ax=ax)
    fig.tight_layout()
    return fig


def depth_profiles(profile: xr.Dataset, peaks: xr.DataArray, *, title: str = "") -> plt.Figure:
    """Excess alignment vs relative depth per model (CI band; encoder ○, decoder ●; peak ★)."""
    models = list(profile["model"].values)
    fig, axes = plt.subplots(1, len(models), figsize=(3.0 * len(models), 2.8), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        p = profile.sel(model=model)
        valid = np.isfinite(p["estimate"].values)
        depth = p["relative_depth"].values[valid]
        order = np.argsort(depth)
        est, lo, hi = (p[v].values[valid][order] for v in ("estimate", "low", "high"))
        comp = p["component"].values[valid][order]
        depth = depth[order]
        ax.fill_between(depth, lo, hi, color="0.8")
        ax.plot(depth, est, color="0.3", lw=1)
        for c, marker in (("encoder", "o"), ("decoder", "s")):
            sel = comp == c
            ax.plot(depth[sel], est[sel], marker, ms=4, mfc="white" if c == "encoder" else "0.3", mec="0.3", ls="none", label=c)
        pk = peaks.sel(model=model)
        pk_val = float(p["estimate"].sel(layer=pk.item()))
        ax.plot([float(pk["relative_depth"])], [pk_val], "*", color="crimson", ms=12, label="peak")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(str(model), fontsize=9)
        ax.set_xlabel("relative depth")
    axes[0][0].set_ylabel("excess over null")
    axes[0][0].legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def window_profile(contrast: xr.Dataset, *, target: str) -> plt.Figure:
    """Excess alignment per time window at each model's peak layer (mean ± bootstrap CI over subjects)."""
    frame = contrast[["mean", "low", "high"]].to_dataframe().reset_index()
    windows = list(contrast["window"].values)
    models = list(contrast["model"].values)
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(windows), 3.0))
    width = 0.8 / len(models)
    palette = sns.color_palette("tab10", len(models))
    for i, (model, color) in enumerate(zip(models, palette)):
        rows = frame[frame["model"] == model].set_index("window").loc[windows]
        x = np.arange(len(windows)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, rows["mean"], width=width * 0.9, color=color, label=str(model))
        ax.errorbar(x, rows["mean"], yerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]],
                    fmt="none", ecolor="k", lw=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.arange(len(windows)), [f"{w} ms" + (" (N400)" if w == target else "") for w in windows])
    ax.set_ylabel("excess over null")
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def region_window_heatmap(values: xr.DataArray, *, label: str = "excess over null") -> plt.Figure:
    """Region × window map of one model's alignment (subject mean)."""
    v = values.transpose("region", "window")
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * v.sizes["window"], 0.8 + 0.4 * v.sizes["region"]))
    sns.heatmap(v.values, annot=True, fmt=".3f", cmap="mako", xticklabels=v["window"].values,
                yticklabels=v["region"].values, cbar_kws={"label": label}, ax=ax, annot_kws={"fontsize": 7})
    ax.set_xlabel("window (ms after word onset)")
    fig.tight_layout()
    return fig


def topomaps(values: xr.DataArray, info, *, label: str = "excess RSA") -> plt.Figure:
    """Scalp maps of a channel searchlight, one per window (``values`` dims (window, channel))."""
    import mne

    windows = list(values["window"].values)
    fig, axes = plt.subplots(1, len(windows), figsize=(2.3 * len(windows), 2.6), squeeze=False)
    vmax = float(np.nanmax(np.abs(values.values))) or 1.0
    for ax, window in zip(axes[0], windows):
        data = values.sel(window=window).sel(channel=info.ch_names).values
        im, _ = mne.viz.plot_topomap(data, info, axes=ax, show=False, cmap="RdBu_r", vlim=(-vmax, vmax), contours=0)
        ax.set_title(f"{window} ms", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.7, label=label)
    return fig


def prosody_forest(contrast: xr.Dataset) -> plt.Figure:
    """Per-model forest plot: negative − other prosody effect (SD units) for each metric, by family."""
    eff = contrast["effect"].transpose("model", "metric")
    fam = contrast["metric_family"].values
    models = list(eff["model"].values)
    metrics = list(eff["metric"].values)
    fig, ax = plt.subplots(figsize=(6.0, 0.6 + 0.35 * len(models) * len(metrics) / 2))
    y = 0
    ticks, labels = [], []
    for model in models:
        for metric, family in zip(metrics, fam):
            value = float(eff.sel(model=model, metric=metric))
            p = float(contrast["p_lower"].sel(model=model, metric=metric)) if value < 0 else float(
                contrast["p_higher"].sel(model=model, metric=metric))
            ax.plot([0, value], [y, y], color=FAMILY_COLORS.get(family, "0.5"), lw=2)
            ax.plot(value, y, "o", color=FAMILY_COLORS.get(family, "0.5"), mfc="white" if p >= 0.05 else None)
            ticks.append(y)
            labels.append(f"{model} · {metric}")
            y += 1
        y += 0.8
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yticks(ticks, labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("negative − other prosody (SD of sentence scores; filled: p < .05)")
    handles = [plt.Line2D([], [], color=c, lw=2, label=f) for f, c in FAMILY_COLORS.items()]
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def family_interaction(contrast: xr.Dataset) -> plt.Figure:
    """Family × prosody: mean effect of each family per model, with the interaction's p-value."""
    fe = contrast["family_effect"].to_dataframe().reset_index()
    fig, ax = plt.subplots(figsize=(1.6 + 1.0 * contrast.sizes["model"], 3.0))
    sns.barplot(data=fe, x="model", y="family_effect", hue="family", palette=FAMILY_COLORS, ax=ax)
    for i, model in enumerate(contrast["model"].values):
        p = float(contrast["p_interaction"].sel(model=model))
        ax.text(i, ax.get_ylim()[1] * 0.92, f"p={p:.3f}", ha="center", fontsize=7)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("negative − other (SD units)")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def sensitivity_heatmap(table: pd.DataFrame, *, value: str, title: str = "") -> plt.Figure:
    """A (k, theta) table from :func:`hearlike.tnc.tnc_sensitivity` as a heatmap."""
    pivot = table.pivot(index="k", columns="theta", values=value)
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    sns.heatmap(pivot, annot=True, fmt=".2f" if pivot.values.dtype.kind == "f" else "d", cmap="crest", ax=ax)
    ax.set_title(title or value, fontsize=9)
    fig.tight_layout()
    return fig


def null_baselines(frame: pd.DataFrame) -> plt.Figure:
    """Raw score vs permutation-null mean per metric (the small-n bias), from a tidy frame
    with columns metric, family, score, null_mean."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["null_mean"], width=0.4, color="0.7", label="permutation-null mean")
    ax.bar(x + 0.2, frame["score"], width=0.4, color=[FAMILY_COLORS.get(f, "0.4") for f in frame["family"]], label="observed")
    ax.set_xticks(x, frame["metric"], rotation=35, ha="right")
    ax.set_ylabel("score")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def message_figure(text: str) -> plt.Figure:
    """A small figure that states why a figure could not be drawn."""
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9)
    ax.axis("off")
    return fig
