"""hearlike.grid: agreement with a slow loop, ragged sentences, small-n bias, null calibration."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import scipy.stats as ss
import torch
import xarray as xr

from hearlike import grid as hg
from hearlike import metrics as hm

CHANNELS = [f"E{i}" for i in range(6)]
REGIONS = {"left": ["E0", "E1", "E2"], "right": ["E3", "E4"]}
WINDOWS = [("early", 0, 40), ("late", 40, 100)]


def _words(lengths, prefix="s"):
    sid, widx = [], []
    for s, n in enumerate(lengths):
        sid += [f"{prefix}{s:02d}"] * n
        widx += list(range(n))
    return sid, widx


def make_epochs(lengths, *, n_subjects=2, n_times=10, sfreq=100.0, seed=0, signal=None, snr=1.0):
    """EEG epochs (subject, word, channel, time); ``signal (word, k)`` is mixed into every channel."""
    rng = np.random.default_rng(seed)
    sid, widx = _words(lengths)
    n_words = len(sid)
    data = rng.standard_normal((n_subjects, n_words, len(CHANNELS), n_times))
    if signal is not None:
        mix = rng.standard_normal((signal.shape[1], len(CHANNELS) * n_times))
        data += snr * (signal @ mix).reshape(1, n_words, len(CHANNELS), n_times)
    return xr.DataArray(
        (data * 1e-6).astype(np.float32),
        dims=("subject", "word", "channel", "time"),
        coords={
            "subject": [f"sub-{i}" for i in range(n_subjects)],
            "word": [f"{s}:{k}" for s, k in zip(sid, widx)],
            "sentence_id": ("word", sid),
            "word_index": ("word", widx),
            "channel": CHANNELS,
            "time": np.arange(n_times) / sfreq,
        },
        attrs={"sfreq_hz": sfreq, "dataset": "test"},
    )


def make_states(lengths, n_layers, n_features, *, seed=0, latent=None, widths=None):
    """Model states (layer, word, feature); ``widths`` per layer NaN-pads like stack_layers."""
    rng = np.random.default_rng(seed)
    sid, widx = _words(lengths)
    data = rng.standard_normal((n_layers, len(sid), n_features))
    if latent is not None:
        data += latent @ rng.standard_normal((n_layers, latent.shape[1], n_features))
    if widths is not None:
        for layer, width in enumerate(widths):
            data[layer, :, width:] = np.nan
    coords = {
        "layer": [f"decoder.{i}" for i in range(n_layers)],
        "component": ("layer", ["decoder"] * n_layers),
        "relative_depth": ("layer", np.linspace(0, 1, n_layers)),
        "word": [f"{s}:{k}" for s, k in zip(sid, widx)],
        "sentence_id": ("word", sid),
        "word_index": ("word", widx),
    }
    if widths is not None:
        coords["n_features"] = ("layer", list(widths))
    return xr.DataArray(data.astype(np.float32), dims=("layer", "word", "feature"), coords=coords)


def _cell_matrix(epochs, subject, window, region):
    _, start, stop = window
    t_ms = epochs["time"].values * 1000
    sel = epochs.isel(subject=subject).sel(channel=REGIONS[region])
    sel = sel.isel(time=np.nonzero((t_ms >= start) & (t_ms < stop))[0])
    return sel.values.reshape(sel.sizes["word"], -1)


def test_grid_matches_slow_loop_with_ragged_sentences_and_exclusion(caplog):
    lengths = [4, 6, 2, 5, 4]  # sentence s02 (2 words) must be excluded
    epochs = make_epochs(lengths, seed=1)
    # model "small" has 3 layers < 8 cells (its side is permuted); "wide" has 9 NaN-padded layers
    states = {
        "small": make_states(lengths, 3, 7, seed=2),
        "wide": make_states(lengths, 9, 12, seed=3, widths=[8] * 4 + [12] * 5),
    }
    # shuffle the word order of one model: matching must go by label, not position
    order = np.random.default_rng(0).permutation(states["small"].sizes["word"])
    states["small"] = states["small"].isel(word=order)
    names = sorted(hm.METRICS)
    n_perm = 4
    with caplog.at_level(logging.INFO, logger="hearlike.grid"):
        ds = hg.compute_grid(
            states, epochs, windows=WINDOWS, regions=REGIONS, metrics=names,
            n_permutations=n_perm, seed=7, min_words=4, keep_null=True, keep_sentences=True, null_kind="shuffle",
        )
    assert ds.attrs["n_sentences_used"] == 4 and ds.attrs["n_sentences_excluded"] == 1
    assert ds.attrs["excluded_sentences"] == "s02"
    assert "1 sentence(s) have fewer than 4 words and are excluded: s02" in caplog.text
    assert ds["score"].dims == ("model", "layer", "subject", "window", "region", "metric")
    assert np.isnan(ds["score"].sel(model="small", layer="decoder.5")).all()
    assert ds.attrs["permuted_side"] == '{"small": "model", "wide": "eeg"}'

    used = [s for s, n in enumerate(lengths) if n >= 4]
    word_list = list(epochs["word"].values)
    for model, da in states.items():
        # slow reference: per cell and sentence, the one-call metric on the raw matrices (layers of
        # equal width and the permutations batched only to keep the test fast)
        groups = {}
        for layer in da["layer"].values:
            width = int(da["n_features"].sel(layer=layer)) if "n_features" in da.coords else da.sizes["feature"]
            groups.setdefault(width, []).append(str(layer))
        for width, layer_names in groups.items():
            lay = da.sel(layer=layer_names)
            for subject in range(2):
                for window in WINDOWS:
                    for region in REGIONS:
                        cell = _cell_matrix(epochs, subject, window, region)
                        scores = np.zeros((len(layer_names), len(names)))
                        nulls = np.zeros((len(layer_names), len(names), n_perm))
                        for s in used:
                            sid = f"s{s:02d}"
                            words = [f"{sid}:{k}" for k in range(lengths[s])]
                            x = torch.as_tensor(lay.sel(word=words).values[..., :width], dtype=torch.float64)
                            y = torch.as_tensor(cell[[word_list.index(w) for w in words]], dtype=torch.float64)
                            perms = hg.sentence_permutations(sid, lengths[s], n_perm, seed=7)
                            ys = torch.stack([y] + [y[p] for p in perms])
                            for k, name in enumerate(names):
                                vals = hm.METRICS[name](x[:, None], ys[None]).numpy()  # (layer, 1 + perm)
                                scores[:, k] += vals[:, 0]
                                nulls[:, k] += vals[:, 1:]
                        scores /= len(used)
                        nulls /= len(used)
                        got = ds.sel(model=model, layer=layer_names, subject=f"sub-{subject}",
                                     window=window[0], region=region)
                        np.testing.assert_allclose(got["score"].values, scores, rtol=1e-9, atol=1e-12)
                        np.testing.assert_allclose(got["null"].values, nulls, rtol=1e-9, atol=1e-12)
                        tol = 1e-9 * np.maximum(np.abs(scores), np.abs(nulls).max(-1))
                        want_p = (1 + (nulls >= (scores - tol)[..., None]).sum(-1)) / (1 + n_perm)
                        np.testing.assert_allclose(got["p_value"].values, want_p)
    # the per-sentence scores average to the score
    np.testing.assert_allclose(ds["sentence_score"].mean("sentence"), ds["score"], rtol=1e-10)
    np.testing.assert_allclose(ds["excess"], ds["score"] - ds["null"].mean("permutation"), atol=1e-12)


def test_small_n_trap_excess_is_near_zero():
    lengths = [10] * 30
    epochs = make_epochs(lengths, n_subjects=1, n_times=100, seed=4)  # 20 ch·t per region? 3·100 / 2·100
    states = {"m": make_states(lengths, 1, 2000, seed=5)}
    regions = {"all": CHANNELS}  # 6 channels × 100 samples
    ds = hg.compute_grid(
        states, epochs, windows=[("all", 0, 1000)], regions=regions,
        metrics=["linear_cka", "cka_debiased", "dcor", "procrustes"], n_permutations=30, seed=0, min_words=4,
        dtype=torch.float32, null_kind="shuffle",
    ).squeeze()
    assert float(ds["score"].sel(metric="linear_cka")) > 0.5
    assert float(ds["score"].sel(metric="dcor")) > 0.5
    for metric in ("linear_cka", "cka_debiased", "dcor", "procrustes"):
        assert abs(float(ds["excess"].sel(metric=metric))) < 0.05, metric
    assert abs(float(ds["score"].sel(metric="cka_debiased"))) < 0.05


def test_permutation_p_values_are_uniform_under_independence():
    lengths = [6, 7, 8, 6, 7, 8]
    epochs = make_epochs(lengths, n_subjects=1, n_times=5, seed=6)
    states = {"m": make_states(lengths, 80, 10, seed=7)}  # 80 independent layers
    ds = hg.compute_grid(
        states, epochs, windows=[("w", 0, 50)], regions={"r": CHANNELS}, metrics=["pearson_rsa", "linear_cka"],
        n_permutations=99, seed=1, null_kind="shuffle",
    )
    for metric in ("pearson_rsa", "linear_cka"):
        p = ds["p_value"].sel(metric=metric).values.ravel()
        assert ss.kstest(p, "uniform").pvalue > 0.01, metric


def test_planted_shared_structure_is_detected():
    lengths = [8] * 12
    latent = np.random.default_rng(8).standard_normal((sum(lengths), 3))
    epochs = make_epochs(lengths, n_subjects=1, seed=9, signal=latent, snr=1.0)
    states = {"m": make_states(lengths, 2, 16, seed=10, latent=latent)}
    names = sorted(set(hm.METRICS) - {"hsic"}) + ["hsic"]
    ds = hg.compute_grid(
        states, epochs, windows=WINDOWS, regions=REGIONS, metrics=names, n_permutations=99, seed=2, min_words=4, null_kind="shuffle",
    )
    assert (ds["p_value"] < 0.05).all(), ds["p_value"].max(["layer", "subject", "window", "region"])
    assert (ds["excess"].drop_sel(metric="hsic") > 0).all()


def test_save_load_roundtrip(tmp_path):
    lengths = [4, 5, 4]
    ds = hg.compute_grid(
        {"m": make_states(lengths, 2, 5)}, make_epochs(lengths), windows=WINDOWS, regions=REGIONS,
        metrics=["spearman_rsa", "svcca"], n_permutations=3, keep_null=True, null_kind="shuffle",
    )
    path = hg.save_grid(ds, tmp_path / "grid.nc")
    assert [p.name for p in tmp_path.iterdir()] == ["grid.nc"]  # no temp file left behind
    back = hg.load_grid(path, config_hash=ds.attrs["config_hash"])
    xr.testing.assert_allclose(back.drop_attrs(), ds.drop_attrs())
    assert back.attrs["n_sentences_used"] == 3 and back.attrs["hearlike_version"]
    with pytest.raises(FileNotFoundError, match="config_hash='other'"):
        hg.load_grid(path, config_hash="other")


def test_same_seed_same_result_and_permutations_are_per_sentence():
    a = hg.sentence_permutations("s01", 6, 5, seed=3)
    assert (a == hg.sentence_permutations("s01", 6, 5, seed=3)).all()
    assert not (a == hg.sentence_permutations("s02", 6, 5, seed=3)).all()
    assert (np.sort(a, axis=1) == np.arange(6)).all()


def test_word_permutations_are_uniform_per_sentence_and_drawn_for_all_sentences_at_once(monkeypatch):
    from hearlike.grid import cells
    from hearlike.grid.nulls import word_permutations

    ids = [f"s{i:02d}" for i in range(30)]
    both = word_permutations(ids, 7, 50, seed=3)
    assert both.shape == (50, 30, 7)
    with monkeypatch.context() as m:  # the swaps in whole-array operations (no numba): the same orders
        m.setattr(cells, "COMPILED_GATHER", False)
        assert (word_permutations(ids, 7, 50, seed=3) == both).all()
    for s in (0, 17):  # a sentence's permutations whatever is drawn with it; a longer run starts with these
        assert (both[:, s] == hg.sentence_permutations(ids[s], 7, 50, seed=3)).all()
        assert (both[:20, s] == word_permutations(ids[s:s + 1], 7, 20, seed=3)[:, 0]).all()
    # all 24 orders of 4 words equally often (a Sattolo-style off-by-one would never draw some)
    draws = hg.sentence_permutations("s01", 4, 24_000, seed=9)
    codes = (draws * np.array([64, 16, 4, 1])).sum(axis=1)
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 24 and ss.chisquare(counts).pvalue > 1e-3
    # and across sentences: the first draw of many sentences
    first = word_permutations([f"q{i}" for i in range(24_000)], 4, 1, seed=9)[0]
    counts = np.unique((first * np.array([64, 16, 4, 1])).sum(axis=1), return_counts=True)[1]
    assert len(counts) == 24 and ss.chisquare(counts).pvalue > 1e-3


def test_bad_inputs_have_clear_messages():
    lengths = [4, 4, 4]
    epochs, states = make_epochs(lengths), {"m": make_states(lengths, 1, 4)}
    kw = dict(windows=WINDOWS, regions=REGIONS, n_permutations=0, null_kind="shuffle")
    with pytest.raises(ValueError, match=r"window 'late' \(200–300 ms\) holds no sample of epochs.time \(0–90 ms\)"):
        hg.compute_grid(states, epochs, **{**kw, "windows": [("late", 200, 300)]})
    with pytest.raises(ValueError, match=r"region 'bad': channels \['Cz'\] are not in epochs.channel"):
        hg.compute_grid(states, epochs, **{**kw, "regions": {"bad": ["E0", "Cz"]}})
    with pytest.raises(ValueError, match="metric 'cka_debiased' needs sentences of >= 4 words but min_words=3"):
        hg.compute_grid(states, epochs, metrics=["cka_debiased"], min_words=3, **kw)
    with pytest.raises(ValueError, match="dims \\(layer, word, feature\\)"):
        hg.compute_grid({"m": states["m"].transpose("word", "layer", "feature")}, epochs, **kw)
    nan_states = states["m"].copy()
    nan_states[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="model 'm' layer 'decoder.0' has NaN states"):
        hg.compute_grid({"m": nan_states}, epochs, **kw)
    nan_states = states["m"].copy()
    last = nan_states.sizes["layer"] - 1
    nan_states[last, 3, 1] = np.nan  # the first NaN layer is named, whichever it is
    with pytest.raises(ValueError, match=f"model 'm' layer '{nan_states['layer'].values[last]}' has NaN states"):
        hg.compute_grid({"m": nan_states}, epochs, **kw)


def test_cyclic_null_is_rotations_and_reflections_of_the_word_order():
    perms = hg.sentence_permutations("s07", 7, 200, seed=1, null="cyclic")
    order = np.arange(7)
    allowed = {tuple((order + s) % 7) for s in range(1, 7)} | {tuple((-order + s) % 7) for s in range(7)}
    assert {tuple(p) for p in perms} <= allowed
    assert len({tuple(p) for p in perms}) == 13  # every non-identity transform drawn (2n - 1)
    # neighbours stay neighbours (on the circle)
    assert all(((np.diff(np.r_[p, p[0]]) % 7) == 1).all() or ((np.diff(np.r_[p, p[0]]) % 7) == 6).all() for p in perms)


def test_cyclic_null_absorbs_pure_serial_position_structure():
    """Both sides depend only on word position (points on a circle): the shuffle null calls it
    alignment, the cyclic null gives exactly zero excess."""
    lengths = [8] * 12
    sid, widx = _words(lengths)
    angle = 2 * np.pi * np.asarray(widx) / 8

    def ring(n_features):  # zero-mean, constant-norm patterns whose distances depend on |i - j| only
        return np.cos(angle[:, None] + 2 * np.pi * np.arange(n_features)[None, :] / n_features)

    states = make_states(lengths, 1, 5, seed=1)
    states = states.copy(data=ring(5)[None].astype(np.float32))
    epochs = make_epochs(lengths, n_subjects=1)
    epochs = epochs.copy(data=(1e-6 * ring(60)).reshape(1, -1, 6, 10).astype(np.float32))
    common = dict(windows=[("all", 0, 100)], regions={"all": CHANNELS}, metrics=["spearman_rsa", "linear_cka"],
                  n_permutations=50, seed=0)
    shuffle = hg.compute_grid({"m": states}, epochs, null_kind="shuffle", **common)
    cyclic = hg.compute_grid({"m": states}, epochs, null_kind="cyclic", **common)
    swap = hg.compute_grid({"m": states}, epochs, null_kind="swap", **common)
    assert float(shuffle["excess"].min()) > 0.3 and float(shuffle["p_value"].max()) < 0.05
    for null in (cyclic, swap):
        np.testing.assert_allclose(null["excess"].values, 0, atol=1e-6)
        assert float(null["p_value"].min()) == 1.0
    with pytest.raises(ValueError, match="null_kind must be one of"):
        hg.compute_grid({"m": states}, epochs, null_kind="circular", **common)


@pytest.mark.parametrize("n_layers", [1, 40])  # few layers: the model side is permuted; many: the EEG side
def test_per_sentence_null_means_average_to_the_grid_null(n_layers):
    lengths = [5, 7, 7, 9]
    states = make_states(lengths, n_layers, 12, seed=2)
    epochs = make_epochs(lengths, n_subjects=2, seed=3)
    g = hg.compute_grid({"m": states}, epochs, windows=WINDOWS, regions=REGIONS, metrics=["spearman_rsa", "procrustes"],
                        n_permutations=15, seed=1, keep_sentences=True, null_kind="shuffle")
    np.testing.assert_allclose(g["sentence_null_mean"].mean("sentence"), g["null_mean"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g["sentence_excess"].mean("sentence"), g["excess"], rtol=1e-10, atol=1e-12)
    assert json.loads(g.attrs["permuted_side"])["m"] == ("model" if n_layers == 1 else "eeg")


def test_rejected_epochs_drop_their_sentence_from_that_subject_only():
    lengths = [6, 6, 7, 8, 8]
    states = make_states(lengths, 3, 10, seed=4)
    epochs = make_epochs(lengths, n_subjects=2, seed=5)
    damaged = epochs.copy(data=epochs.values.copy())
    damaged[0, 7] = np.nan  # subject 0, sentence s01 (words 6..11), a rejected epoch
    common = dict(windows=WINDOWS, regions=REGIONS, metrics=["spearman_rsa", "procrustes", "linear_cka"],
                  n_permutations=10, seed=2, keep_sentences=True, null_kind="shuffle")
    g = hg.compute_grid({"m": states}, damaged, **common)
    assert g.attrs["n_cell_sentences_rejected"] == len(WINDOWS) * len(REGIONS)
    keep = epochs["sentence_id"] != "s01"
    without = hg.compute_grid({"m": states.sel(word=keep.values)}, epochs.isel(subject=[0], word=keep.values), **common)
    for var in ("score", "null_mean", "p_value"):
        np.testing.assert_allclose(g[var].isel(subject=0).values, without[var].isel(subject=0).values, rtol=1e-10)
    intact = hg.compute_grid({"m": states}, epochs, **common)
    np.testing.assert_allclose(g["score"].isel(subject=1).values, intact["score"].isel(subject=1).values, rtol=1e-10)
    assert np.isnan(g["sentence_score"].sel(sentence="s01").isel(subject=0)).all()
    assert not np.isnan(g["sentence_score"].sel(sentence="s01").isel(subject=1)).any()


def test_swap_null_absorbs_shared_position_effects_but_finds_word_correspondence():
    """Both sides drift along the same direction with word position (a serial-position effect
    shared by every sentence): the word shuffle calls it alignment, the sentence swap does not; a
    planted word-level latent on top is found by the swap null."""
    lengths = [7] * 16
    sid, widx = _words(lengths)
    first = np.asarray(widx, dtype=float)[:, None] / 6 * 3.0
    rng = np.random.default_rng(3)
    states = make_states(lengths, 1, 20, seed=5, latent=first)
    epochs = make_epochs(lengths, n_subjects=1, seed=6, signal=first, snr=3.0)
    common = dict(windows=[("all", 0, 100)], regions={"all": CHANNELS}, metrics=["spearman_rsa", "linear_cka"],
                  n_permutations=100, seed=0)
    shuffle = hg.compute_grid({"m": states}, epochs, null_kind="shuffle", **common)
    swap = hg.compute_grid({"m": states}, epochs, null_kind="swap", **common)
    assert float(shuffle["p_value"].max()) < 0.05
    assert float(swap["p_value"].min()) > 0.05 and abs(float(swap["excess"].max())) < 0.1
    latent = rng.standard_normal((len(sid), 3))
    states2 = make_states(lengths, 1, 20, seed=5, latent=first + 0 * latent[:, :1])
    states2 = states2.copy(data=states2.values + (latent @ rng.standard_normal((3, 20)))[None].astype(np.float32))
    epochs2 = make_epochs(lengths, n_subjects=1, seed=6, signal=np.hstack([first, latent]), snr=3.0)
    found = hg.compute_grid({"m": states2}, epochs2, null_kind="swap", **common)
    assert float(found["p_value"].max()) < 0.05


@pytest.mark.parametrize("n_layers", [1, 30])  # model side re-paired (fewer reps) or EEG side
def test_swap_null_matches_a_slow_loop(n_layers):
    lengths = [6, 6, 6, 8, 8, 8, 8]
    states = make_states(lengths, n_layers, 9, seed=8)
    epochs = make_epochs(lengths, n_subjects=2, seed=9)
    n_perm = 12
    g = hg.compute_grid({"m": states}, epochs, windows=WINDOWS, regions=REGIONS, metrics=["pearson_rsa", "linear_cka"],
                        n_permutations=n_perm, seed=4, null_kind="swap", keep_sentences=True, keep_null=True)
    sid = np.asarray(epochs["sentence_id"].values)
    buckets = {n: [s for s in dict.fromkeys(sid) if (sid == s).sum() == n] for n in set(lengths)}
    swaps = {n: hg.sentence_swaps(ids, n_perm, seed=4) for n, ids in buckets.items()}
    times = epochs["time"].values * 1000
    for metric in ("pearson_rsa", "linear_cka"):
        fn = hm.METRICS[metric]
        for (wname, start, stop), (rname, chans) in [(w, r) for w in WINDOWS for r in REGIONS.items()]:
            tt = (times >= start) & (times < stop)
            for subject in range(2):
                def eeg(s):
                    x = epochs.isel(subject=subject).sel(channel=chans).values[sid == s][:, :, tt]
                    return torch.as_tensor(x.reshape(x.shape[0], -1), dtype=torch.float64)
                for layer in range(0, n_layers, max(1, n_layers // 3)):
                    def model(s):
                        return torch.as_tensor(states.values[layer][sid == s], dtype=torch.float64)
                    null = np.zeros(n_perm)
                    for n, ids in buckets.items():
                        for k in range(n_perm):
                            null[k] += sum(float(fn(model(s), eeg(ids[swaps[n][k, i]]))) for i, s in enumerate(ids))
                    null /= len(set(sid))
                    got = g["null"].isel(model=0, layer=layer, subject=subject).sel(window=wname, region=rname, metric=metric)
                    np.testing.assert_allclose(got.values, null, rtol=1e-9, atol=1e-12)


def test_factor_regions_give_the_numbers_of_a_separate_grid_in_one_call():
    lengths = [5, 5, 6, 7]
    states, epochs = make_states(lengths, 2, 9, seed=1), make_epochs(lengths, seed=2)
    common = dict(windows=WINDOWS, n_permutations=6, seed=3, null_kind="cyclic", keep_null=True, keep_sentences=True)
    g = hg.compute_grid({"m": states}, epochs, regions=REGIONS, metrics=["procrustes", "pearson_rsa", "svcca"],
                        factor_regions=["right"], **common)
    assert g.attrs["factor_regions"] == "right"
    assert np.isnan(g["score"].sel(metric=["procrustes", "svcca"], region="left")).all()
    gram = hg.compute_grid({"m": states}, epochs, regions=REGIONS, metrics=["pearson_rsa"], **common)
    factor = hg.compute_grid({"m": states}, epochs, regions={"right": REGIONS["right"]}, metrics=["procrustes", "svcca"],
                             **common)
    for var in ("score", "null", "p_value", "sentence_score", "sentence_null_mean"):
        np.testing.assert_array_equal(g[var].sel(metric=["pearson_rsa"]), gram[var])
        np.testing.assert_array_equal(g[var].sel(metric=["procrustes", "svcca"], region=["right"]), factor[var])
