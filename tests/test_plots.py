"""Every figure of the book: 150 dpi when saved, no text under 9 pt at page width, annotations inside the axes."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from PIL import Image  # noqa: E402

from hearlike import plots  # noqa: E402

RNG = np.random.default_rng(0)
MODELS = ["oracle", "oracle-prosody", "tiny-qwen2-audio", "tiny-whisper", "tiny-text"]
METRICS = ["spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn", "linear_cka", "rbf_cka", "dcor", "svcca"]
FAMILIES = xr.DataArray(["geometric"] * 4 + ["covariance"] * 4, coords={"metric": METRICS}, dims="metric")
WINDOWS = ["0-250", "250-500", "500-750", "750-1000"]


def _scores():
    score = RNG.normal(size=(len(MODELS), len(METRICS)))
    rank = pd.DataFrame(-score).rank().to_numpy()
    coords = {"model": MODELS, "metric": METRICS}
    return xr.Dataset({"score": (("model", "metric"), score), "rank": (("model", "metric"), rank)}, coords=coords)


def _tau():
    tau = np.clip(RNG.normal(0.3, 0.3, (8, 8)), -1, 1)
    tau = (tau + tau.T) / 2
    np.fill_diagonal(tau, 1)
    dims, coords = ("metric", "metric_other"), {"metric": METRICS, "metric_other": METRICS}
    return xr.Dataset({"tau": (dims, tau), "low": (dims, tau - 0.2), "high": (dims, tau + 0.2)}, coords=coords)


def _profile(shift=0.0):
    n_layer = 6
    est = RNG.normal(shift, 0.01, (len(MODELS), n_layer))
    dims = ("model", "layer")
    depth = np.tile(np.linspace(0, 1, n_layer), (len(MODELS), 1))
    comp = np.tile(np.array(["encoder"] * 3 + ["decoder"] * 3), (len(MODELS), 1))
    profile = xr.Dataset({"estimate": (dims, est), "low": (dims, est - 0.01), "high": (dims, est + 0.01),
                          "relative_depth": (dims, depth), "component": (dims, comp)},
                         coords={"model": MODELS, "layer": np.arange(n_layer)})
    peaks = xr.DataArray(np.full(len(MODELS), 2), coords={"model": MODELS}, dims="model")
    peaks = peaks.assign_coords(relative_depth=("model", np.full(len(MODELS), 0.4)))
    return profile, peaks


def _contrast():
    dims = ("model", "metric")
    eff = RNG.normal(0, 0.5, (len(MODELS), len(METRICS)))
    p = RNG.uniform(0, 1, (len(MODELS), len(METRICS)))
    fam_eff = RNG.normal(0, 0.5, (len(MODELS), 2))
    return xr.Dataset({"effect": (dims, eff), "p_lower": (dims, p), "p_higher": (dims, 1 - p),
                       "family_effect": (("model", "family"), fam_eff),
                       "p_interaction": ("model", np.array([0.0, 0.0004, 0.03, 0.5, 1.0]))},
                      coords={"model": MODELS, "metric": METRICS, "family": ["geometric", "covariance"],
                              "metric_family": ("metric", FAMILIES.values)})


def _window_contrast():
    mean = RNG.normal(0, 0.01, (len(MODELS), len(WINDOWS)))
    dims = ("model", "window")
    return xr.Dataset({"mean": (dims, mean), "low": (dims, mean - 0.01), "high": (dims, mean + 0.01)},
                      coords={"model": MODELS, "window": WINDOWS})


def _info():
    import mne

    info = mne.create_info(mne.channels.make_standard_montage("biosemi64").ch_names, 128.0, "eeg")
    info.set_montage("biosemi64")
    return info


def _figures():
    info = _info()
    profile, peaks = _profile()
    table = pd.DataFrame([(k, th, RNG.normal()) for k in (3, 5, 7) for th in (0.5, 0.6, 0.7)],
                         columns=["k", "theta", "interaction"])
    baseline = pd.DataFrame({"metric": METRICS, "family": FAMILIES.values, "score": RNG.uniform(0, 1, 8),
                             "null_mean": RNG.uniform(0, 1, 8)})
    light = xr.DataArray(RNG.normal(size=(4, len(info.ch_names))), coords={"window": WINDOWS, "channel": info.ch_names},
                         dims=("window", "channel"))
    regions = xr.DataArray(RNG.normal(size=(7, 4)), dims=("region", "window"),
                           coords={"region": ["all", "frontal", "central", "parietal", "occipital", "left_temporal",
                                              "right_temporal"], "window": WINDOWS})
    return {
        "rank_heatmap": lambda: plots.rank_heatmap(_scores(), FAMILIES),
        "bump_chart": lambda: plots.bump_chart(_scores(), FAMILIES),
        "tau_matrix": lambda: plots.tau_matrix(_tau(), FAMILIES),
        "depth_profiles": lambda: plots.depth_profiles(profile, peaks),
        "compare_depth_profiles": lambda: plots.compare_depth_profiles((profile, peaks), _profile(0.05),
                                                                        titles=("demo", "demo-null")),
        "window_profile": lambda: plots.window_profile(_window_contrast(), target="250-500"),
        "region_window_heatmap": lambda: plots.region_window_heatmap(regions),
        "topomaps": lambda: plots.topomaps(light, info),
        "prosody_forest": lambda: plots.prosody_forest(_contrast()),
        "family_interaction": lambda: plots.family_interaction(_contrast()),
        "sensitivity_heatmap": lambda: plots.sensitivity_heatmap(table, value="interaction"),
        "null_baselines": lambda: plots.null_baselines(baseline),
        "message_figure": lambda: plots.message_figure("no contrast"),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_figure_dpi_width_and_fonts(name):
    fig = _figures()[name]()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    dpi = Image.open(io.BytesIO(buffer.getvalue())).info["dpi"]
    assert min(dpi) >= 149.5, f"{name} saved at {dpi} dpi"
    assert fig.dpi == plots.DPI
    assert fig.get_figwidth() <= plots.PAGE_WIDTH_IN + 1e-9, f"{name} is {fig.get_figwidth()} in wide"
    assert plots.min_font_pt(fig) >= plots.MIN_FONT_PT, f"{name}: smallest text {plots.min_font_pt(fig)} pt"
    plt.close(fig)


def test_min_font_pt_sees_small_and_scaled_text():
    fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH_IN, 2))
    ax.text(0.5, 0.5, "tiny", fontsize=6)
    assert plots.min_font_pt(fig) == 6
    wide, ax = plt.subplots(figsize=(2 * plots.PAGE_WIDTH_IN, 2))
    ax.text(0.5, 0.5, "ten", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    assert plots.min_font_pt(wide) == pytest.approx(5.0)  # a figure twice the page width is halved on the page
    plt.close("all")


def test_topomaps_have_a_colour_bar():
    fig = _figures()["topomaps"]()
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "excess RSA" in labels, labels
    plt.close(fig)


def test_interaction_p_values_sit_above_the_bars_inside_the_axes():
    fig = plots.family_interaction(_contrast())
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text().startswith("p ")]
    assert [t.get_text() for t in texts] == ["p < 0.001", "p < 0.001", "p = 0.030", "p = 0.500", "p = 1.000"]
    top = max(max(b.get_height(), 0) for b in ax.patches)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    for text in texts:
        assert text.get_position()[1] > top
        box = text.get_window_extent(renderer)
        assert axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1, f"{text.get_text()} leaves the axes"
    plt.close(fig)


def test_compared_depth_profiles_share_one_y_scale():
    fig = plots.compare_depth_profiles(_profile(), _profile(0.2), titles=("demo", "demo-null"))
    limits = {ax.get_ylim() for ax in fig.axes if ax.has_data()}
    assert len(limits) == 1, limits
    plt.close(fig)


def test_style_is_a_context():
    before = matplotlib.rcParams["figure.dpi"]
    with plots.style():
        assert matplotlib.rcParams["figure.dpi"] == plots.DPI
        assert matplotlib.rcParams["xtick.labelsize"] >= plots.MIN_FONT_PT
    assert matplotlib.rcParams["figure.dpi"] == before
