"""hearlike.demo: the embedded demo dataset, its planted effects and its null twin (tiny configs)."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hearlike import demo
from hearlike.demo import checks, generate, write
from hearlike.stimuli import load_stimuli

TINY = {"n_sentences": 6, "n_subjects": 2}  # demo-001..006: 2 negative-prosody sentences


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    return {
        "demo": demo.write_demo(base / "a" / "demo", seed=3, **TINY),
        "again": demo.write_demo(base / "b" / "demo", seed=3, **TINY),
        "null": demo.write_demo(base / "a" / "demo-null", null=True, seed=3, **TINY),
    }


def _hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_two_runs_are_byte_identical(roots):
    first, second = _hashes(roots["demo"]), _hashes(roots["again"])
    assert len(first) > 20
    assert first == second
    assert not roots["demo"].with_name("demo.partial").exists()


def test_layout_stimuli_and_prosody(roots):
    paths = demo.demo_paths(roots["demo"])
    for key in ("stimuli", "oracle", "ground_truth", "patterns", "bids"):
        assert paths[key].exists(), key
    table = load_stimuli(paths["stimuli"])  # validates, audio files included
    assert table.sentence_id.nunique() == 6
    sentences = demo.load_sentence_list(n_sentences=6).set_index("sentence_id")
    by_sentence = table.groupby("sentence_id").first()
    assert (by_sentence.prosody == np.where(sentences.condition == "negative", "negative", "normal")).all()
    # negative prosody is slower: longer mean word duration
    duration = (table.offset_s - table.onset_s).groupby(table.prosody).mean()
    assert duration["negative"] > 1.15 * duration["normal"]


def test_bids_tree_is_readable_with_word_events(roots):
    import mne_bids

    truth = demo.read_ground_truth(roots["demo"])
    table = load_stimuli(demo.demo_paths(roots["demo"])["stimuli"])
    bids_root = demo.demo_paths(roots["demo"])["bids"]
    assert sorted(mne_bids.get_entity_vals(bids_root, "subject")) == ["01", "02"]
    path = mne_bids.BIDSPath(root=bids_root, subject="02", task="listening", datatype="eeg",
                             suffix="eeg", extension=".vhdr")  # fmt: skip
    raw = mne_bids.read_raw_bids(path, verbose="error")
    assert raw.info["sfreq"] == 500 and len(raw.ch_names) == 64
    assert raw.ch_names[:3] == ["Fp1", "AF7", "AF3"]  # BioSemi64 order
    assert raw.get_montage() is not None
    assert list(raw.annotations.description).count("word") == len(table)
    events = pd.read_csv(path.copy().update(suffix="events", extension=".tsv").fpath, sep="\t",
                         dtype={"sentence_id": str})  # fmt: skip
    assert list(events.columns[:3]) == ["onset", "duration", "trial_type"]
    assert {"sentence_id", "word_index", "word"} <= set(events.columns)
    assert (events.trial_type == "word").all() and len(events) == len(table)
    # onsets follow the subject's sentence order, and each word's timing matches the table
    assert np.all(np.diff(events.onset) > 0)
    assert events.sentence_id.drop_duplicates().tolist() == truth["sentence_order"]["02"]
    merged = events.merge(table, on=["sentence_id", "word_index"])
    starts = merged.onset - merged.onset_s
    assert np.allclose(starts.groupby(merged.sentence_id).agg(np.ptp), 0, atol=1 / 500)
    assert np.allclose(merged.duration, merged.offset_s - merged.onset_s, atol=1e-5)
    np.testing.assert_array_equal(merged.word_x, merged.word_y)


def test_peer_reader_in_hearlike_eeg_reads_the_demo(roots):
    from hearlike.eeg.datasets import bids

    raw, words = bids.read_subject(demo.demo_paths(roots["demo"])["bids"], "01")
    assert len(words) == len(load_stimuli(demo.demo_paths(roots["demo"])["stimuli"]))
    assert raw.get_data().std() < 1e-3  # volts, not microvolts


def test_oracle_states_follow_the_contract_and_plant_the_peak(roots):
    truth = demo.read_ground_truth(roots["demo"])
    with xr.open_dataset(demo.demo_paths(roots["demo"])["oracle"], engine="h5netcdf") as ds:
        ds = ds.load()
    assert ds["encoder"].dims == ("encoder_layer", "word", "encoder_feature")
    assert ds["decoder"].dims == ("decoder_layer", "word", "decoder_feature")
    assert ds["encoder"].shape[0] + ds["decoder"].shape[0] == 12 and ds["encoder"].dtype == np.float32
    assert ds.word.values[0] == "demo-001:0" and ds.word_text.values[1] == "little"
    assert {"model_id", "config_hash", "hearlike_version", "pooling"} <= set(ds.attrs)
    assert truth["oracle"]["planted_peak_relative_depth"] == 0.6
    assert truth["oracle"]["planted_peak_layer"] == "decoder.1"
    # recover the planted meaning peak: RSA of each layer with the meaning vectors (normal words)
    from hearlike.text import embed_texts

    table = load_stimuli(demo.demo_paths(roots["demo"])["stimuli"])
    normal = table.prosody.to_numpy() == "normal"
    with xr.open_dataset(demo.demo_paths(roots["demo"])["patterns"], engine="h5netcdf") as truth:
        features = generate._zscore(truth.acoustic_features.values.astype(float))
    # the planted meaning: embeddings made orthogonal to the acoustic features within sentence
    planted = generate._meaning_vectors(table, embed_texts([w.lower() for w in ds.word_text.values]), features)
    assert np.abs(generate._residualise(planted, table, features) - planted).max() < 1e-6
    meaning = planted[normal]
    layers = [ds["encoder"].values[i] for i in range(6)] + [ds["decoder"].values[i] for i in range(6)]
    upper = np.triu_indices(normal.sum(), 1)
    target = checks._correlation_rdm(meaning.astype(float))[upper]
    scores = [np.corrcoef(checks._correlation_rdm(x[normal].astype(float))[upper], target)[0, 1] for x in layers]
    assert int(np.argmax(scores)) in (6, 7)  # relative depth 0.545 or 0.636, around the planted 0.6
    assert scores[0] < 0.5 * max(scores)


def test_planted_n400_tracks_the_meaning_projection_and_not_in_the_null(roots):
    correlations = {}
    for name in ("demo", "null"):
        epochs = demo.demo_epochs(roots[name], tmin_s=-0.2, tmax_s=0.5, channels=demo.CENTRO_PARIETAL)
        observed = epochs.mean("subject").sel(time=slice(0.35, 0.45)).mean("time").values
        with xr.open_dataset(demo.demo_paths(roots[name])["patterns"], engine="h5netcdf") as truth:
            expected = truth.meaning_pattern.sel(channel=demo.CENTRO_PARIETAL).values
        observed, expected = observed - observed.mean(0), expected - expected.mean(0)
        correlations[name] = np.corrcoef(observed.ravel(), expected.ravel())[0, 1]
    assert correlations["demo"] > 0.3
    assert abs(correlations["null"]) < 0.15


def test_negative_prosody_lowers_rsa_and_raises_covariance_measures(roots):
    def gaps(root):
        scores = demo.check_planted_effects(root, n_permutations=30)
        assert len(scores) == 6 and (scores.prosody == "negative").sum() == 2
        mean = scores.groupby("prosody").mean(numeric_only=True)
        return mean.loc["negative"] - mean.loc["normal"]

    planted, null = gaps(roots["demo"]), gaps(roots["null"])
    for metric in demo.COVARIANCE_METRICS:
        assert planted[f"{metric}_excess"] > 0.1, metric
        assert planted[f"{metric}_excess"] > 2 * abs(null[f"{metric}_excess"]), metric


def test_planted_prosody_is_invisible_to_the_oracles_rdm_but_dominates_covariance(roots):
    """The design behind the measure disagreement: the oracle carries the affective salience as an
    offset shared by all features, which leaves every sentence's correlation-distance RDM unchanged
    while it carries most of the across-word variance (what CKA/HSIC/dCor see); in the EEG, the
    late positivity carries most of the variance of the planted centro-parietal patterns."""
    paths = demo.demo_paths(roots["demo"])
    with xr.open_dataset(paths["patterns"], engine="h5netcdf") as truth:
        truth = truth.sel(channel=demo.CENTRO_PARIETAL).load()
    with xr.open_dataset(paths["oracle"], engine="h5netcdf") as ds:
        states = ds["decoder"].isel(decoder_layer=1).values.astype(float)
    weight = demo.oracle_layer_weights().loc["decoder.1", "prosody"]
    offset = weight * demo.PROSODY_OFFSET_SCALE * np.outer(truth.salience.values, np.ones(states.shape[1]))
    negative = truth.meaning_scale.values < 1
    assert negative.sum() > 10
    # salience is z-scored within sentence and orthogonal to the acoustic features there
    features = generate._zscore(truth.acoustic_features.values.astype(float))
    for sentence in np.unique(truth.sentence_id.values[negative]):
        rows = truth.sentence_id.values == sentence
        z = truth.salience.values[rows].astype(float)
        assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-5
        assert np.abs(features[rows].T @ z).max() < 1e-3 * len(z)
        np.testing.assert_allclose(checks._correlation_rdm(states[rows] - offset[rows]),
                                   checks._correlation_rdm(states[rows]), atol=1e-5)  # fmt: skip
        centred = states[rows] - states[rows].mean(0)
        shared = offset[rows] - offset[rows].mean(0)
        assert (shared**2).sum() > 0.5 * (centred**2).sum()
        eeg = (truth.meaning_scale * truth.meaning_pattern + truth.salience * truth.salience_pattern).values[rows]
        lpp = (truth.salience * truth.salience_pattern).values[rows]
        assert ((lpp - lpp.mean(0)) ** 2).sum() > 0.8 * ((eeg - eeg.mean(0)) ** 2).sum()
    assert not truth.salience.values[~negative].any()


def test_ground_truth_and_resume(roots, caplog):
    truth = demo.read_ground_truth(roots["demo"])
    assert truth["windows_ms"]["n400"] == [250, 500] and truth["n400_peak_ms"] == 400
    assert truth["negative_prosody_sentences"] == ["demo-003", "demo-006"]
    assert truth["seed"] == 3 and truth["subjects"] == ["01", "02"] and not truth["null"]
    assert demo.read_ground_truth(roots["null"])["expected"]["n400_meaning_effect"] is False
    before = _hashes(roots["demo"])
    assert demo.write_demo(roots["demo"], seed=3, **TINY) == roots["demo"]  # up to date: kept
    assert _hashes(roots["demo"]) == before
    with pytest.raises(FileExistsError, match="another configuration; pass overwrite=True"):
        demo.write_demo(roots["demo"], seed=4, **TINY)


def test_interrupted_run_resumes_to_the_same_bytes(roots, tmp_path, monkeypatch):
    calls = []
    original = write._write_subject

    def failing(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(write, "_write_subject", failing)
    with pytest.raises(KeyboardInterrupt):
        demo.write_demo(tmp_path / "demo", seed=3, **TINY)
    assert (tmp_path / "demo.partial" / ".done" / "sub-01").exists() and not (tmp_path / "demo").exists()
    monkeypatch.setattr(write, "_write_subject", original)
    spy = []
    monkeypatch.setattr(write, "_write_subject", lambda *a, **k: (spy.append(a[1]), original(*a, **k)))
    demo.write_demo(tmp_path / "demo", seed=3, **TINY)
    assert spy == ["02"]  # subject 01 was kept from the interrupted run
    assert _hashes(tmp_path / "demo") == _hashes(roots["demo"])


def test_summaries_for_the_book(roots):
    summary = demo.summarize_demo(roots["demo"])
    evoked, topo = summary["evoked"], summary["topography"]
    assert evoked.dims == ("channel", "time") and evoked.sizes["channel"] == 64
    assert topo.dims == ("channel",) and {"ch_x", "ch_y", "ch_z"} <= set(topo.coords)
    words = summary["words"]
    assert words.word.tolist()[:3] == ["The", "little", "girl"]
    assert summary["waveform"].time.min() < 0 < words.offset_s.max() < summary["waveform"].time.max()
    # the planted mean N400 is a centro-parietal negativity: Pz below the frontal pole at 400 ms
    assert float(topo.sel(channel="Pz")) < float(topo.sel(channel="Fpz"))
    import matplotlib

    matplotlib.use("Agg")
    figure = demo.plot_demo_summary(summary)
    assert len(figure.axes) >= 3


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r"n_subjects=0 is invalid; pass an integer >= 1"):
        demo.write_demo(tmp_path / "x", n_subjects=0)
    with pytest.raises(ValueError, match=r"n_sentences=999 is invalid; .* has 60 sentences"):
        demo.write_demo(tmp_path / "x", n_sentences=999)
    bad = tmp_path / "sentences.tsv"
    bad.write_text("sentence_id\ttext\tcondition\ns1\tHello there.\tsad\n")
    with pytest.raises(ValueError, match=r"line 2 has condition='sad'"):
        demo.write_demo(tmp_path / "x", sentences_path=bad)
    with pytest.raises(FileNotFoundError, match="write the demo first"):
        demo.read_ground_truth(tmp_path / "nothing")


def test_describe_demo_renders_the_generative_model_of_the_generate_module(roots):
    text = demo.describe_demo(demo.read_ground_truth(roots["demo"]))
    assert text.startswith("**Generative model of the EEG** (64 BioSemi channels, 500 Hz")
    assert "```text\n\n        eeg(t) = background_s(t)" in text and '**Reference model "oracle"**' in text
    assert "The null twin (``null=True``)" in text and ":func:`" not in text
    assert "Changes from hearlike 0.1.0" not in text  # change history lives in git, not in the book
    assert text.endswith("| seed | 3 |") and "| subjects | 2 |" in text


def test_word_locked_responses_equal_the_convolution_of_the_impulse_trains():
    """The demo adds each word's response kernels from its onset on; the same as convolving each
    kernel with the channels' impulse trains (a word near the end is cut at the recording's end)."""
    from hearlike.demo.generate import _kernels, _stimulus_locked

    rng = np.random.default_rng(1)
    n_words, n_channels, n_features, sfreq, n_times = 12, 5, 3, 100.0, 700
    patterns = {"a0": rng.standard_normal(n_channels), "features": rng.standard_normal((n_words, n_features)),
                "a_features": rng.standard_normal((n_features, n_channels)), "n0": rng.standard_normal(n_channels),
                "meaning_scale": rng.standard_normal(n_words), "meaning_pattern": rng.standard_normal((n_words, n_channels)),
                "salience": rng.standard_normal(n_words), "salience_pattern": rng.standard_normal(n_channels)}
    onsets = np.sort(rng.choice(n_times - 30, n_words, replace=False))
    onsets[-1] = n_times - 20  # its kernels (80 samples) run past the end
    got = _stimulus_locked(patterns, onsets, n_times, sfreq, gain_early=0.5, gain_n400=2.0)
    weights = [0.5 * (patterns["a0"][None] + patterns["features"] @ patterns["a_features"]),
               2.0 * (patterns["n0"][None] + patterns["meaning_scale"][:, None] * patterns["meaning_pattern"]),
               2.0 * patterns["salience"][:, None] * patterns["salience_pattern"][None]]
    expected = np.zeros((n_channels, n_times))
    for w, kernel in zip(weights, _kernels(sfreq)):
        for c in range(n_channels):
            train = np.zeros(n_times)
            train[onsets] = w[:, c]
            expected[c] += np.convolve(train, kernel)[:n_times]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.abs(got).max() > 1.0


def test_sinusoids_by_angle_addition_equal_one_sine_per_channel_and_sample():
    from hearlike.demo.generate import _sinusoids

    rng = np.random.default_rng(2)
    t = np.arange(2000) / 500.0
    amplitude, phase = rng.uniform(0.5, 1.5, 7), rng.uniform(0, 2 * np.pi, 7)
    waves = [(amplitude, 50.0, phase), (amplitude[::-1], 0.03, phase[::-1])]
    expected = sum(a[:, None] * np.sin(2 * np.pi * f * t[None] + p[:, None]) for a, f, p in waves)
    np.testing.assert_allclose(_sinusoids(waves, t), expected, rtol=0, atol=1e-12)
