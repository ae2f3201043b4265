"""Figures of the book (matplotlib / seaborn; MNE for scalp topographies).

Every function takes the xarray / pandas objects returned by :mod:`hearlike.findings` and returns
the matplotlib Figure; nothing here computes a statistic. All figures share one style
(:func:`style`): :data:`DPI` dots per inch, at most :data:`PAGE_WIDTH_IN` inches wide (the book's
text width, so a figure is never shrunk on the page) and no text smaller than :data:`MIN_FONT_PT`.
"""

from __future__ import annotations

import functools

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

FAMILY_COLORS = {"geometric": "#1b9e77", "covariance": "#d95f02"}

#: resolution of every figure (dots per inch, shown and saved)
DPI = 150
#: widest figure (inches): at DPI a 6-in figure is 900 px, which the book's ~620 px text column (1280 px
#: window) shows at about 2/3, so MIN_FONT_PT text is still about 12 CSS px on screen
PAGE_WIDTH_IN = 6.0
#: smallest font (points) of any text in a figure
MIN_FONT_PT = 9.0

_RC = {
    "figure.dpi": DPI, "savefig.dpi": DPI, "savefig.bbox": "tight", "savefig.pad_inches": 0.05,
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 11,
    "axes.spines.top": False, "axes.spines.right": False, "figure.constrained_layout.use": False,
}


def style():
    """The book's matplotlib style as a context (``with plots.style(): ...``); every plot here uses it.

    Returns
    -------
    context : contextmanager
        :func:`matplotlib.rc_context` with :data:`DPI`, font sizes >= :data:`MIN_FONT_PT` and no top/right spines.
    """
    return mpl.rc_context(_RC)


def _styled(plot):
    """Draw ``plot`` under :func:`style` and stamp the figure with :data:`DPI`."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with style():
            fig = plot(*args, **kwargs)
        fig.set_dpi(DPI)
        return fig

    return wrapper


def _width(inches: float) -> float:
    """Clip a figure width to the page."""
    return min(float(inches), PAGE_WIDTH_IN)


def _p_label(p: float) -> str:
    """``p = 0.012``, or ``p < 0.001`` where the estimate rounds to zero (never ``p=0.000``)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _family_order(families: xr.DataArray) -> list[str]:
    """Metric names, geometric family first, then covariance-based (registry order within)."""
    names, fams = list(families["metric"].values), list(np.asarray(families.values).astype(str))
    return [m for m, f in zip(names, fams) if f == "geometric"] + [m for m, f in zip(names, fams) if f != "geometric"]


@_styled
def rank_heatmap(scores: xr.Dataset, families: xr.DataArray) -> plt.Figure:
    """Model × metric ranks (1 = best) with each metric's score annotated; metrics grouped by family."""
    order = _family_order(families)
    rank = scores["rank"].sel(metric=order).transpose("model", "metric")
    score = scores["score"].sel(metric=order).transpose("model", "metric")
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 2.0 + 0.55 * rank.sizes["model"]))
    annot = np.array([[f"{int(r)}\n{s:+.3f}" for r, s in zip(rr, ss)] for rr, ss in zip(rank.values, score.values)])
    # no colour bar: every cell states its rank; the room goes to the cells so the scores never touch
    sns.heatmap(rank.values, annot=annot, fmt="", cmap="viridis_r", cbar=False,
                xticklabels=[f"{m} ({f[:3]})" for m, f in zip(order, families.sel(metric=order).values)],
                yticklabels=rank["model"].values, ax=ax, annot_kws={"fontsize": MIN_FONT_PT})
    ax.set_xlabel("metric (family)")
    ax.set_ylabel("model")
    ax.tick_params(axis="x", rotation=35)
    ax.tick_params(axis="y", rotation=0)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    fig.tight_layout()
    return fig


@_styled
def bump_chart(scores: xr.Dataset, families: xr.DataArray) -> plt.Figure:
    """Each model's rank across metrics (geometric first, then covariance-based)."""
    order = _family_order(families)
    rank = scores["rank"].sel(metric=order)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.4))
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
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


@_styled
def tau_matrix(tau: xr.Dataset, families: xr.DataArray) -> plt.Figure:
    """Pairwise Kendall tau between metric rankings: matrix of tau (left) and every pair's 95 % CI (right)."""
    order = _family_order(families)
    fam = dict(zip(families["metric"].values, np.asarray(families.values).astype(str)))
    t = tau["tau"].sel(metric=order, metric_other=order)
    lo, hi = tau["low"].sel(metric=order, metric_other=order), tau["high"].sel(metric=order, metric_other=order)
    n = len(order)
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, 4.2 + 0.2 * len(pairs)))
    grid = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.2 * len(pairs) + 0.6])
    ax, ax_ci = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    mask = np.triu(np.ones((n, n), bool), k=1)
    sns.heatmap(t.values, mask=mask, annot=True, fmt=".2f", vmin=-1, vmax=1, cmap="RdBu_r",
                annot_kws={"fontsize": MIN_FONT_PT}, xticklabels=order, yticklabels=order,
                cbar_kws={"label": "Kendall τ"}, ax=ax)
    ax.tick_params(axis="x", rotation=35)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.set_title("a  Kendall τ between metric rankings", loc="left")
    y = np.arange(len(pairs))
    for k, (a, b) in enumerate(pairs):
        within = fam[a] == fam[b]
        color = FAMILY_COLORS[fam[a]] if within else "0.35"
        ax_ci.plot([float(lo.sel(metric=a, metric_other=b)), float(hi.sel(metric=a, metric_other=b))], [k, k],
                   color=color, lw=2)
        ax_ci.plot(float(t.sel(metric=a, metric_other=b)), k, "o", color=color, ms=4)
    ax_ci.set_yticks(y, [f"{a} · {b}" for a, b in pairs])
    ax_ci.invert_yaxis()
    ax_ci.set_ylim(len(pairs) - 0.5, -0.5)
    ax_ci.axvline(0, color="k", lw=0.6)
    ax_ci.set_xlim(-1.05, 1.05)
    ax_ci.set_xlabel("Kendall τ with its 95 % bootstrap CI over subjects")
    ax_ci.set_title("b  every pair of metrics", loc="left")
    handles = [plt.Line2D([], [], color=c, lw=2, label=f"within {f}") for f, c in FAMILY_COLORS.items()]
    handles.append(plt.Line2D([], [], color="0.35", lw=2, label="across families"))
    ax_ci.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def _wrap(name: str, width: int) -> str:
    """Break a long model name at its first hyphen after a few characters (panel titles never overlap)."""
    if len(name) <= width or "-" not in name[3:]:
        return name
    cut = name.index("-", 3) + 1
    return name[:cut] + "\n" + name[cut:]


def _depth_panel(ax, p: xr.Dataset, peak: xr.DataArray) -> None:
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
        ax.plot(depth[sel], est[sel], marker, ms=4, mfc="white" if c == "encoder" else "0.3", mec="0.3", ls="none",
                label=c)
    pk_val = float(p["estimate"].sel(layer=peak.item()))
    ax.plot([float(peak["relative_depth"])], [pk_val], "*", color="crimson", ms=12, label="peak")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks([0, 0.5, 1])
    ax.set_xlim(-0.05, 1.05)


def _depth_grid(rows: list[tuple[xr.Dataset, xr.DataArray, str]]) -> plt.Figure:
    models = list(rows[0][0]["model"].values)
    ncol = min(len(models), 3) if len(rows) == 1 else len(models)
    nrow_per = int(np.ceil(len(models) / ncol))
    width = PAGE_WIDTH_IN
    fig, axes = plt.subplots(nrow_per * len(rows), ncol, figsize=(width, 0.4 + 2.1 * nrow_per * len(rows)),
                             sharey=True, sharex=True, squeeze=False)
    for r, (profile, peaks, title) in enumerate(rows):
        for k, model in enumerate(models):
            ax = axes[r * nrow_per + k // ncol][k % ncol]
            if model in profile["model"].values:
                _depth_panel(ax, profile.sel(model=model), peaks.sel(model=model))
            ax.set_title(_wrap(str(model), 14), fontsize=MIN_FONT_PT)
        for k in range(len(models), nrow_per * ncol):
            axes[r * nrow_per + k // ncol][k % ncol].axis("off")
        axes[r * nrow_per][0].set_ylabel(f"{title}\nexcess over null" if title else "excess over null")
    for ax in axes[-1]:
        ax.set_xlabel("relative depth")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


@_styled
def depth_profiles(profile: xr.Dataset, peaks: xr.DataArray, *, title: str = "") -> plt.Figure:
    """Excess alignment vs relative depth per model (CI band; encoder ○, decoder ■; peak ★), shared y-scale."""
    return _depth_grid([(profile, peaks, title)])


@_styled
def compare_depth_profiles(first: tuple[xr.Dataset, xr.DataArray], second: tuple[xr.Dataset, xr.DataArray], *,
                           titles: tuple[str, str]) -> plt.Figure:
    """Two datasets' depth profiles, one row each, on one shared y-scale (e.g. the demo and its null twin)."""
    return _depth_grid([(first[0], first[1], titles[0]), (second[0], second[1], titles[1])])


@_styled
def window_profile(contrast: xr.Dataset, *, target: str) -> plt.Figure:
    """Excess alignment per time window at each model's peak layer (mean ± bootstrap CI over subjects)."""
    frame = contrast[["mean", "low", "high"]].to_dataframe().reset_index()
    windows = list(contrast["window"].values)
    models = list(contrast["model"].values)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.6))
    width = 0.8 / len(models)
    palette = sns.color_palette("tab10", len(models))
    for i, (model, color) in enumerate(zip(models, palette)):
        rows = frame[frame["model"] == model].set_index("window").loc[windows]
        x = np.arange(len(windows)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, rows["mean"], width=width * 0.9, color=color, label=str(model))
        ax.errorbar(x, rows["mean"], yerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]],
                    fmt="none", ecolor="k", lw=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.arange(len(windows)), [f"{w} ms" + ("\n(N400)" if w == target else "") for w in windows])
    ax.set_xlabel("window after word onset")
    ax.set_ylabel("excess over null")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(models), 3), frameon=False)
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(models) - 1) // 3), 1, 1))
    return fig


@_styled
def region_window_heatmap(values: xr.DataArray, *, label: str = "excess over null") -> plt.Figure:
    """Region × window map of one model's alignment (subject mean)."""
    v = values.transpose("region", "window")
    fig, ax = plt.subplots(figsize=(_width(2.2 + 1.2 * v.sizes["window"]), 0.9 + 0.4 * v.sizes["region"]))
    sns.heatmap(v.values, annot=True, fmt=".3f", cmap="mako", xticklabels=v["window"].values,
                yticklabels=v["region"].values, cbar_kws={"label": label}, ax=ax, annot_kws={"fontsize": MIN_FONT_PT})
    ax.set_xlabel("window (ms after word onset)")
    fig.tight_layout()
    return fig


@_styled
def topomaps(values: xr.DataArray, info, *, label: str = "excess RSA") -> plt.Figure:
    """Scalp maps of a channel searchlight, one per window (``values`` dims (window, channel)), one colour bar."""
    import mne

    windows = list(values["window"].values)
    fig, axes = plt.subplots(1, len(windows) + 1, figsize=(PAGE_WIDTH_IN, 2.3),
                             width_ratios=[1] * len(windows) + [0.08], squeeze=False)
    vmax = float(np.nanmax(np.abs(values.values))) or 1.0
    for ax, window in zip(axes[0], windows):
        data = values.sel(window=window).sel(channel=info.ch_names).values
        im, _ = mne.viz.plot_topomap(data, info, axes=ax, show=False, cmap="RdBu_r", vlim=(-vmax, vmax), contours=0)
        ax.set_title(f"{window} ms", fontsize=MIN_FONT_PT + 1)
    cbar = fig.colorbar(im, cax=axes[0][-1], label=label)
    cbar.ax.tick_params(labelsize=MIN_FONT_PT)
    fig.tight_layout()
    return fig


@_styled
def prosody_forest(contrast: xr.Dataset) -> plt.Figure:
    """Per-model forest plot: negative − other prosody effect (SD units) for each metric, by family."""
    eff = contrast["effect"].transpose("model", "metric")
    fam = contrast["metric_family"].values
    models = list(eff["model"].values)
    metrics = list(eff["metric"].values)
    ncol = 2 if len(models) > 1 else 1
    nrow = int(np.ceil(len(models) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(PAGE_WIDTH_IN, 0.5 + nrow * (0.5 + 0.2 * len(metrics))),
                             sharex=True, squeeze=False)
    for k, model in enumerate(models):
        ax = axes[k // ncol][k % ncol]
        for y, (metric, family) in enumerate(zip(metrics, fam)):
            value = float(eff.sel(model=model, metric=metric))
            p = float(contrast["p_lower"].sel(model=model, metric=metric)) if value < 0 else float(
                contrast["p_higher"].sel(model=model, metric=metric))
            color = FAMILY_COLORS.get(family, "0.5")
            ax.plot([0, value], [y, y], color=color, lw=2)
            ax.plot(value, y, "o", color=color, mfc="white" if p >= 0.05 else color)
        ax.set_yticks(np.arange(len(metrics)), metrics if k % ncol == 0 else [""] * len(metrics))
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(str(model), fontsize=MIN_FONT_PT + 1)
    for k in range(len(models), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("negative − other (SD)")
    handles = [plt.Line2D([], [], color=c, lw=2, label=f) for f, c in FAMILY_COLORS.items()]
    handles.append(plt.Line2D([], [], marker="o", color="0.3", ls="none", label="p < .05 (filled)"))
    fig.legend(handles=handles, frameon=False, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


@_styled
def family_interaction(contrast: xr.Dataset) -> plt.Figure:
    """Family × prosody: mean effect of each family per model, with the interaction's p-value above each pair."""
    fe = contrast["family_effect"].to_dataframe().reset_index()
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.4))
    sns.barplot(data=fe, x="model", y="family_effect", hue="family", palette=FAMILY_COLORS, ax=ax)
    low, high = ax.get_ylim()
    span = high - low
    ax.set_ylim(low, high + 0.22 * span)  # headroom: the p-values sit above every bar, never on one
    for i, model in enumerate(contrast["model"].values):
        p = float(contrast["p_interaction"].sel(model=model))
        ax.text(i, high + 0.08 * span, _p_label(p), ha="center", va="bottom", fontsize=MIN_FONT_PT)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("negative − other (SD units)")
    ax.set_xlabel("")
    ax.legend(title="family", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


@_styled
def sensitivity_heatmap(table: pd.DataFrame, *, value: str, title: str = "") -> plt.Figure:
    """A (k, theta) table from :func:`hearlike.tnc.tnc_sensitivity` as a heatmap."""
    pivot = table.pivot(index="k", columns="theta", values=value)
    fig, ax = plt.subplots(figsize=(_width(1.8 + 0.9 * pivot.shape[1]), 0.9 + 0.45 * pivot.shape[0]))
    sns.heatmap(pivot, annot=True, fmt=".2f" if pivot.values.dtype.kind == "f" else "d", cmap="crest", ax=ax,
                annot_kws={"fontsize": MIN_FONT_PT})
    ax.set_title(title or value, fontsize=MIN_FONT_PT + 1)
    fig.tight_layout()
    return fig


@_styled
def null_baselines(frame: pd.DataFrame) -> plt.Figure:
    """Raw score vs permutation-null mean per metric (the small-n bias), from a tidy frame
    with columns metric, family, score, null_mean."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.2))
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["null_mean"], width=0.4, color="0.7", label="permutation-null mean")
    ax.bar(x + 0.2, frame["score"], width=0.4, color=[FAMILY_COLORS.get(f, "0.4") for f in frame["family"]],
           label="observed")
    ax.set_xticks(x, frame["metric"], rotation=35, ha="right")
    ax.set_ylabel("score")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


@_styled
def demo_summary(summary: dict, *, montage: str, sfreq_hz: float, window_ms: tuple[float, float],
                 channel: str = "Pz") -> plt.Figure:
    """The demo EEG: evoked response at ``channel``, topography (µV, colour bar), one sentence's waveform.

    ``summary`` is :func:`hearlike.demo.summarize_demo`'s dict (``evoked``, ``topography``, ``waveform``,
    ``words``); ``window_ms`` is shaded on the evoked response.
    """
    import mne

    fig = plt.figure(figsize=(PAGE_WIDTH_IN, 5.4))
    grid = fig.add_gridspec(2, 3, width_ratios=[1.5, 1.0, 0.06], height_ratios=[1, 1])
    ax_evoked, ax_topo, ax_cbar = (fig.add_subplot(grid[0, k]) for k in range(3))
    ax_wave = fig.add_subplot(grid[1, :])
    evoked = summary["evoked"]
    ax_evoked.plot(evoked.time * 1000, evoked.sel(channel=channel) * 1e6, color="k")
    ax_evoked.axvspan(*window_ms, color="tab:blue", alpha=0.15, label="N400 window")
    ax_evoked.set(xlabel="time from word onset (ms)", ylabel=f"{channel} (µV)", title="word-evoked response")
    ax_evoked.legend(frameon=False)
    topo = summary["topography"]
    info = mne.create_info(list(topo.channel.values), sfreq_hz, "eeg")
    info.set_montage(montage)
    vmax = float(np.nanmax(np.abs(topo.values))) * 1e6 or 1.0
    im, _ = mne.viz.plot_topomap(topo.values * 1e6, info, axes=ax_topo, show=False, cmap="RdBu_r",
                                 vlim=(-vmax, vmax))
    ax_topo.set_title(f"{topo.attrs.get('time_ms', '')} ms")
    fig.colorbar(im, cax=ax_cbar, label="µV")
    wave = summary["waveform"]
    ax_wave.plot(wave.time, wave * 1e6, color="k", lw=0.7)
    for word in summary["words"].itertuples():
        ax_wave.axvline(word.onset_s, color="tab:red", lw=0.5)
        ax_wave.text(word.onset_s, 1.0, word.word, transform=ax_wave.get_xaxis_transform(), rotation=45,
                     fontsize=MIN_FONT_PT, va="bottom")
    ax_wave.set(xlabel="time from sentence onset (s)", ylabel=f"{wave.name} (µV)")
    fig.tight_layout()
    return fig


@_styled
def message_figure(text: str) -> plt.Figure:
    """A small figure that states why a figure could not be drawn."""
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=MIN_FONT_PT + 1)
    ax.axis("off")
    return fig


def min_font_pt(fig: plt.Figure) -> float:
    """Smallest visible text in ``fig`` (points), scaled as the page scales a figure wider than :data:`PAGE_WIDTH_IN`."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(mpl.text.Text) if t.get_visible() and t.get_text().strip()]
    scale = min(1.0, PAGE_WIDTH_IN / fig.get_figwidth())
    return min(sizes) * scale if sizes else float("inf")
