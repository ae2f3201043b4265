"""Timing-preserving surrogate epochs and the ``shift`` null of the metric grid.

The planted confound: EEG that is autocorrelated noise only, sentences whose word gaps vary, and a
model whose states encode when each word was heard. The sentence-swap null calls that alignment;
the shift null (surrogate epochs at the sentence's own onset gaps) does not, and still finds a
planted stimulus-locked response.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch
import xarray as xr

from hearlike import grid as hg
from hearlike.eeg import epoch_words, recording_of, surrogate_epochs, validate_preprocessing
from hearlike.eeg.recording import bad_sample_mask, epoch_start_ok
from hearlike.eeg.surrogates import relocation_shifts
from hearlike.geometry import geometry_from_gram
from hearlike.metrics import METRICS

SFREQ = 100.0
EEG = validate_preprocessing({"tmin_s": -0.1, "tmax_s": 0.5, "baseline_s": [-0.1, 0.0],
                              "reject_peak_to_peak_v": 2e-4, "resample_hz": None})  # fmt: skip
WINDOWS = [("0-250", 0, 250), ("250-500", 250, 500)]


def _timeline(rng, n_sentences, n_words):
    """Onsets (s) of ``n_sentences`` sentences of ``n_words`` words with irregular gaps."""
    onsets, sentence_ids, t = [], [], 1.0
    for s in range(n_sentences):
        gaps = rng.uniform(0.12, 0.7, n_words - 1)
        word_onsets = t + np.concatenate([[0.0], np.cumsum(gaps)])
        onsets += word_onsets.tolist()
        sentence_ids += [f"s{s:03d}"] * n_words
        t = word_onsets[-1] + rng.uniform(1.0, 1.5)
    return np.array(onsets), np.array(sentence_ids), t + 1.5


def _raw(signal_v, ch_names):
    info = mne.create_info(list(ch_names), SFREQ, "eeg")
    return mne.io.RawArray(signal_v, info, verbose="error")


def _smooth_noise(rng, n_channels, n_samples, *, tau_s=0.25):
    """Autocorrelated (AR(1), time constant ``tau_s``) noise, volts."""
    a = np.exp(-1 / (tau_s * SFREQ))
    white = rng.standard_normal((n_channels, n_samples)) * 1e-5
    out = np.empty_like(white)
    out[:, 0] = white[:, 0]
    for t in range(1, n_samples):
        out[:, t] = a * out[:, t - 1] + np.sqrt(1 - a**2) * white[:, t]
    return out


def _study(*, planted_gain, seed=0, n_subjects=3, n_sentences=40, n_words=7, n_channels=6):
    """Epochs, recordings and two models: ``timing`` (states = when words were heard) and
    ``latent`` (a random word latent, which the EEG carries when ``planted_gain`` > 0)."""
    rng = np.random.default_rng(seed)
    onsets, sentence_ids, duration = _timeline(rng, n_sentences, n_words)
    words = [f"{s}:{i}" for s, i in zip(sentence_ids, np.tile(np.arange(n_words), n_sentences))]
    latent = rng.standard_normal((len(words), 16))
    frequencies = np.array([0.4, 0.8, 1.6, 3.2])
    timing = np.concatenate([np.cos(2 * np.pi * frequencies * onsets[:, None]),
                             np.sin(2 * np.pi * frequencies * onsets[:, None])], axis=1)  # fmt: skip
    ch_names = [f"E{i}" for i in range(n_channels)]
    projection = rng.standard_normal((16, n_channels))
    t = np.arange(int(0.5 * SFREQ)) / SFREQ
    kernel = np.exp(-((t - 0.3) ** 2) / (2 * 0.05**2))
    n_samples = int(duration * SFREQ)
    epochs, recordings = [], {}
    for subject in range(n_subjects):
        signal = _smooth_noise(rng, n_channels, n_samples)
        for w, onset in enumerate(onsets):
            start = int(round(onset * SFREQ))
            signal[:, start : start + len(kernel)] += planted_gain * 1e-5 * np.outer(latent[w] @ projection, kernel)
        raw = _raw(signal, ch_names)
        data, times, _ = epoch_words(raw, onsets, params=EEG)
        epochs.append(data)
        recordings[f"{subject + 1:02d}"] = recording_of(raw, onsets, words, params=EEG)
    epochs = xr.DataArray(
        np.stack(epochs), dims=("subject", "word", "channel", "time"),
        coords={"subject": list(recordings), "word": words, "sentence_id": ("word", sentence_ids),
                "word_index": ("word", np.tile(np.arange(n_words), n_sentences)), "channel": ch_names, "time": times},
        attrs={"sfreq_hz": SFREQ},
    )  # fmt: skip

    def states(values):
        return xr.DataArray(values[None], dims=("layer", "word", "feature"), coords={"layer": ["decoder.0"], "word": words})

    models = {"timing": states(timing + 0.05 * rng.standard_normal(timing.shape)), "latent": states(latent)}
    return epochs, recordings, models


def _grid(epochs, recordings, models, null_kind, *, n_permutations=40, metrics=("spearman_rsa",), **kw):
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=n_permutations, params=EEG, seed=0)
    return hg.compute_grid(models, epochs, windows=WINDOWS, regions={"all": list(epochs.channel.values)},
                           metrics=list(metrics), n_permutations=n_permutations, null_kind=null_kind,
                           surrogates=surrogates, min_words=4, keep_null=True, **kw)  # fmt: skip


def _group(grid, model):
    """Subject-mean excess and group p-value per window (spearman, region all)."""
    cell = dict(model=model, layer="decoder.0", region="all", metric="spearman_rsa")
    observed = grid["score"].sel(**cell).mean("subject")
    null = grid["null"].sel(**cell).mean("subject")
    p = (1 + (null >= observed).sum("permutation")) / (1 + grid.sizes["permutation"])
    return grid["excess"].sel(**cell).mean("subject"), p


def test_swap_null_calls_timing_alignment_the_shift_null_does_not():
    epochs, recordings, models = _study(planted_gain=0.0)
    swap = _group(_grid(epochs, recordings, models, "swap"), "timing")
    shift = _group(_grid(epochs, recordings, models, "shift"), "timing")
    # the confound is real and large under the swap null ...
    assert float(swap[1].min()) <= 0.05 and float(swap[0].max()) > 0.05, (swap[0].values, swap[1].values)
    # ... and gone under the shift null
    assert float(shift[1].min()) > 0.05 and abs(float(shift[0].max())) < 0.03, (shift[0].values, shift[1].values)


def test_shift_null_finds_a_planted_stimulus_locked_response():
    epochs, recordings, models = _study(planted_gain=1.0, seed=1)
    excess, p = _group(_grid(epochs, recordings, models, "shift"), "latent")
    assert float(p.sel(window="250-500")) <= 0.05 and float(excess.sel(window="250-500")) > 0.05, (excess.values, p.values)
    noise_excess, noise_p = _group(_grid(epochs, recordings, models, "shift"), "timing")
    assert float(noise_p.min()) > 0.05, noise_p.values


def test_shift_null_matches_a_slow_loop():
    """Scores and every null sample against an explicit loop over permutations and sentences."""
    epochs, recordings, models = _study(planted_gain=0.5, n_subjects=2, n_sentences=8, n_words=5, seed=2)
    metrics = ["spearman_rsa", "linear_cka", "rbf_cka", "procrustes", "svcca", "dcor_debiased", "mutual_knn"]
    n_perm = 6
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=n_perm, params=EEG, seed=0)
    grid = _grid(epochs, recordings, models, "shift", n_permutations=n_perm, metrics=metrics, keep_sentences=True)
    times_ms = epochs.time.values * 1000
    sentences = list(dict.fromkeys(epochs.sentence_id.values.tolist()))
    for name in metrics:
        fn = METRICS[name]
        for s_index, subject in enumerate(epochs.subject.values):
            for window, start, stop in WINDOWS:
                tt = (times_ms >= start - 1e-6) & (times_ms < stop - 1e-6)
                for model, states in models.items():
                    observed, null = 0.0, np.zeros(n_perm)
                    for sentence in sentences:
                        rows = np.nonzero(epochs.sentence_id.values == sentence)[0]
                        x = torch.as_tensor(states.values[0, rows], dtype=torch.float64)
                        real = epochs.values[s_index, rows][:, :, tt].reshape(len(rows), -1)
                        observed += float(fn(x, torch.as_tensor(real, dtype=torch.float64)))
                        cut = surrogates.cut(slice(0, n_perm), rows)[s_index]  # (k, word, time, channel)
                        for k in range(n_perm):
                            fake = cut[k][:, tt].transpose(0, 2, 1).reshape(len(rows), -1)
                            null[k] += float(fn(x, torch.as_tensor(fake, dtype=torch.float64)))
                    cell = dict(model=model, layer="decoder.0", subject=subject, window=window, region="all", metric=name)
                    np.testing.assert_allclose(float(grid["score"].sel(**cell)), observed / len(sentences), atol=1e-9)
                    np.testing.assert_allclose(grid["null"].sel(**cell).values, null / len(sentences), atol=2e-6)


def test_surrogates_keep_onset_gaps_and_move_to_acceptable_places():
    epochs, recordings, _ = _study(planted_gain=0.0, n_subjects=1, n_sentences=12, n_words=5)
    recording = recordings["01"]
    onset = recording["onset_sample"].values
    ok = recording["epoch_ok"].values
    ids = epochs.sentence_id.values
    shifts, n_fallback = relocation_shifts(onset, ids, ok, n_surrogates=30, span_samples=61, seed=3, key="01")
    assert n_fallback == 0
    firsts = {s: onset[ids == s].min() for s in np.unique(ids)}
    for s in np.unique(ids):
        block = shifts[:, ids == s]
        assert (block == block[:, :1]).all()  # one shift per sentence: onset gaps kept exactly
        moved_first = firsts[s] + block[:, 0]
        assert set(moved_first.tolist()) <= set(firsts.values()) - {firsts[s]}  # onto another sentence's start
        extent = onset[ids == s].max() - onset[ids == s].min() + 61
        assert (np.abs(block[:, 0]) >= extent).all()  # never overlapping the sentence's own epochs
        assert ok[onset[ids == s][None, :] + block].all()
    again, _ = relocation_shifts(onset, ids, ok, n_surrogates=30, span_samples=61, seed=3, key="01")
    np.testing.assert_array_equal(shifts, again)
    other, _ = relocation_shifts(onset, ids, ok, n_surrogates=30, span_samples=61, seed=4, key="01")
    assert not np.array_equal(shifts, other)


def test_epoch_start_ok_makes_the_same_decision_as_epoch_words():
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((4, 3000)) * 1e-5
    signal[2, 1200] = 5e-4  # an artefact: peak-to-peak rejection around sample 1200
    raw = _raw(signal, ["A", "B", "C", "D"])
    raw.set_annotations(mne.Annotations([20.0], [1.5], ["BAD_segment"]))
    onsets_s = np.arange(0, 3000) / SFREQ
    data, _, _ = epoch_words(raw, onsets_s, params=EEG)
    kept = ~np.isnan(data).any(axis=(1, 2))
    offsets = np.arange(int(round(EEG["tmin_s"] * SFREQ)), int(round(EEG["tmax_s"] * SFREQ)) + 1)
    ok = epoch_start_ok(raw.get_data(), bad_sample_mask(raw), offsets, reject_peak_to_peak_v=EEG["reject_peak_to_peak_v"])
    np.testing.assert_array_equal(ok, kept)
    assert not kept[1150] and not kept[2050] and kept[500]


def test_unshifted_surrogates_are_the_real_epochs():
    epochs, recordings, _ = _study(planted_gain=1.0, n_subjects=2, n_sentences=6, n_words=5)
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=2, params=EEG, seed=0)
    still = type(surrogates)(signals=surrogates.signals, onset_sample=surrogates.onset_sample,
                             shifts=np.zeros_like(surrogates.shifts), offsets=surrogates.offsets,
                             baseline=surrogates.baseline)  # fmt: skip
    cut = still.cut(slice(0, 1), np.arange(epochs.sizes["word"]))[:, 0]  # (subject, word, time, channel)
    np.testing.assert_allclose(cut.transpose(0, 1, 3, 2), epochs.values, rtol=0, atol=1e-10)  # float32 volts


@pytest.mark.parametrize("n_features", [3, 40])
def test_the_geometry_from_the_gram_gives_every_metric_the_same_representation(n_features):
    """The shift null prepares every metric from a cell's Gram matrix, word sums and width alone:
    the same scores as from the features. Fewer features than words (a singular Gram) and more;
    a width per region broadcast as in the per-channel (searchlight) path."""
    rng = np.random.default_rng(6)
    x = torch.as_tensor(rng.standard_normal((4, 2, 8, n_features)) + rng.standard_normal((4, 2, 8, 1)))
    y = torch.as_tensor(rng.standard_normal((4, 2, 8, 12)))
    widths = torch.full((2, 1), float(n_features), dtype=x.dtype)  # (region, 1), like the searchlight path
    for d in (n_features, widths):
        geometry = geometry_from_gram(x @ x.transpose(-1, -2), x.sum(dim=-1), d)
        for name, metric in METRICS.items():
            got = metric.compare(metric.prepare_geometry(geometry), metric.prepare(y))
            np.testing.assert_allclose(got.numpy(), metric(x, y).numpy(), atol=1e-7, err_msg=name)  # sqrt of ~0 eigenvalues


def test_shift_null_needs_surrogates_and_enough_of_them():
    epochs, recordings, models = _study(planted_gain=0.0, n_subjects=1, n_sentences=6, n_words=5)
    common = dict(windows=WINDOWS, regions={"all": list(epochs.channel.values)}, metrics=["linear_cka"], min_words=4)
    with pytest.raises(ValueError, match="needs surrogates="):
        hg.compute_grid(models, epochs, n_permutations=5, null_kind="shift", **common)
    few = surrogate_epochs(recordings, epochs, n_surrogates=3, params=EEG, seed=0)
    with pytest.raises(ValueError, match="n_permutations=5 needs as many"):
        hg.compute_grid(models, epochs, n_permutations=5, null_kind="shift", surrogates=few, **common)


def test_searchlight_regions_take_the_per_channel_path_and_agree_with_one_region_at_a_time():
    """Many overlapping regions (a channel searchlight) sum per-channel Grams; the numbers equal
    those of each region computed alone."""
    epochs, recordings, models = _study(planted_gain=0.5, n_subjects=2, n_sentences=10, n_words=5, seed=3)
    names = list(epochs.channel.values)
    regions = {c: [names[(i + d) % len(names)] for d in range(3)] for i, c in enumerate(names)}
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=8, params=EEG, seed=0)
    common = dict(windows=WINDOWS, metrics=["spearman_rsa", "linear_cka", "dcor"], n_permutations=8,
                  null_kind="shift", surrogates=surrogates, min_words=4, keep_null=True)  # fmt: skip
    together = hg.compute_grid(models, epochs, regions=regions, **common)
    for name, channels in regions.items():
        alone = hg.compute_grid(models, epochs, regions={name: channels}, **common)
        np.testing.assert_allclose(together["null"].sel(region=[name]).values, alone["null"].values, atol=1e-6)
        np.testing.assert_allclose(together["score"].sel(region=[name]).values, alone["score"].values, atol=1e-12)


def test_shift_null_with_factor_regions_matches_a_separate_grid_of_those_regions():
    epochs, recordings, models = _study(planted_gain=1.0, n_subjects=2, n_sentences=12, n_words=5)
    channels = list(epochs.channel.values)
    regions = {"all": channels, "front": channels[:3], "back": channels[2:]}
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=6, params=EEG, seed=0)
    common = dict(windows=WINDOWS, n_permutations=6, null_kind="shift", surrogates=surrogates, min_words=4,
                  keep_null=True)
    one = hg.compute_grid(models, epochs, regions=regions, metrics=["spearman_rsa", "procrustes"],
                          factor_regions=["all"], **common)
    alone = hg.compute_grid(models, epochs, regions={"all": channels}, metrics=["procrustes"], **common)
    assert np.isnan(one["score"].sel(metric="procrustes", region=["front", "back"])).all()
    np.testing.assert_array_equal(one["score"].sel(metric=["procrustes"], region=["all"]), alone["score"])
    # the factor cells' geometry is selected from the whole grid's (its channel order): the same
    # surrogate Grams up to the float32 summation order
    np.testing.assert_allclose(one["null"].sel(metric=["procrustes"], region=["all"]), alone["null"], rtol=1e-6)


def test_epochs_copied_as_blocks_equal_the_row_gather_at_the_edges_too():
    from hearlike.eeg.surrogates import _copy_epochs

    rng = np.random.default_rng(5)
    signal = rng.standard_normal((200, 3)).astype(np.float32)
    onsets = np.array([[-30, 0, 50], [180, 5, -1], [100, 190, 220]])  # inside, and past either end
    for offsets in (np.arange(-4, 12), np.array([0, 1, 3, 4]), np.array([2])):
        out = np.empty((*onsets.shape, len(offsets), 3), np.float32)
        _copy_epochs(signal, onsets, offsets, out)
        np.testing.assert_array_equal(out, np.take(signal, onsets[..., None] + offsets, axis=0, mode="clip"))


def test_compiled_epoch_copy_with_baseline_equals_the_numpy_path(monkeypatch):
    """The compiled copy removes each epoch's baseline in the same float32 operations as NumPy:
    identical numbers, epochs past either end of the signal included."""
    from hearlike.eeg import surrogates

    if not surrogates.COMPILED:
        pytest.skip("numba is not installed or HEARLIKE_COMPILED=0")
    rng = np.random.default_rng(6)
    signal = (rng.standard_normal((300, 5)) * 1e-5 + 3e-5).astype(np.float32)
    onsets = rng.integers(-20, 310, size=(4, 7))
    offsets = np.arange(-5, 15)
    for baseline in (offsets < 0, None):
        compiled = np.empty((*onsets.shape, len(offsets), 5), np.float32)
        surrogates._copy_epochs(signal, onsets, offsets, compiled, baseline=baseline)
        monkeypatch.setattr(surrogates, "COMPILED", False)
        reference = np.empty_like(compiled)
        surrogates._copy_epochs(signal, onsets, offsets, reference, baseline=baseline)
        monkeypatch.setattr(surrogates, "COMPILED", True)
        np.testing.assert_array_equal(compiled, reference)
        if baseline is not None:
            assert np.abs(compiled[..., baseline, :].mean(axis=-2)).max() < 1e-11


@pytest.mark.parametrize("compiled", [True, False])
def test_cut_block_by_block_is_the_plain_cut_rearranged(monkeypatch, compiled):
    from hearlike.eeg import surrogates as module

    if compiled and not module.COMPILED:
        pytest.skip("numba is not installed or HEARLIKE_COMPILED=0")
    monkeypatch.setattr(module, "COMPILED", compiled)
    epochs, recordings, _ = _study(planted_gain=0.5, n_subjects=2, n_sentences=8, n_words=5, seed=4)
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=3, params=EEG, seed=0)
    words = np.arange(epochs.sizes["word"])
    plain = surrogates.cut(slice(0, 3), words)  # (subject, k, word, time, channel)
    bounds = [0, 2, 3, 6]
    blocked = surrogates.cut(slice(0, 3), words, blocks=bounds)
    n_times = plain.shape[3]
    assert blocked.shape == (*plain.shape[:3], n_times * 6)
    for c0, c1 in zip(bounds[:-1], bounds[1:]):
        np.testing.assert_array_equal(blocked[..., n_times * c0 : n_times * c1],
                                      plain[..., c0:c1].reshape(*plain.shape[:3], -1))
    with pytest.raises(ValueError, match="blocks must rise from 0 to the 6 channels"):
        surrogates.cut(slice(0, 3), words, blocks=[0, 4])


def test_shift_null_of_regions_summed_from_channel_blocks_matches_a_slow_loop():
    """Disjoint regions and all channels: each cell's Gram is summed from its channel blocks' Grams
    (views of a cut laid out block by block); every null sample equals an explicit loop's."""
    epochs, recordings, models = _study(planted_gain=0.5, n_subjects=2, n_sentences=8, n_words=5, seed=2)
    names = list(epochs.channel.values)
    regions = {"all": names, "front": names[:2], "middle": names[2:3], "back": names[3:]}
    metrics, n_perm = ["spearman_rsa", "linear_cka", "dcor"], 4
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=n_perm, params=EEG, seed=0)
    grid = hg.compute_grid(models, epochs, windows=WINDOWS, regions=regions, metrics=metrics, n_permutations=n_perm,
                           null_kind="shift", surrogates=surrogates, min_words=4, keep_null=True)
    times_ms = epochs.time.values * 1000
    sentences = list(dict.fromkeys(epochs.sentence_id.values.tolist()))
    states = models["latent"]
    for name in metrics:
        for s_index, subject in enumerate(epochs.subject.values):
            for window, start, stop in WINDOWS:
                tt = (times_ms >= start - 1e-6) & (times_ms < stop - 1e-6)
                for region, channels in regions.items():
                    ch = [names.index(c) for c in channels]
                    null = np.zeros(n_perm)
                    for sentence in sentences:
                        rows = np.nonzero(epochs.sentence_id.values == sentence)[0]
                        x = torch.as_tensor(states.values[0, rows], dtype=torch.float64)
                        cut = surrogates.cut(slice(0, n_perm), rows)[s_index]  # (k, word, time, channel)
                        for k in range(n_perm):
                            fake = cut[k][:, tt][:, :, ch].reshape(len(rows), -1)
                            null[k] += float(METRICS[name](x, torch.as_tensor(fake, dtype=torch.float64)))
                    cell = dict(model="latent", layer="decoder.0", subject=subject, window=window, region=region,
                                metric=name)
                    np.testing.assert_allclose(grid["null"].sel(**cell).values, null / len(sentences), atol=2e-6)
